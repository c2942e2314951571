#include "drivers/lapic.h"
#include "drivers/timer.h"
#include "kernel/x86.h"
#include "kernel/log.h"
#include "kernel/trap.h"
#include "kernel/percpu.h"

#define MSR_X2APIC_BASE 0x800

bool lapic_x2apic;
static volatile uint32_t *mmio = (volatile uint32_t *)LAPIC_DEFAULT_BASE;
static uint32_t timer_ticks_per_ms;

static uint32_t apic_read(uint32_t reg)
{
    if (lapic_x2apic)
        return (uint32_t)rdmsr(MSR_X2APIC_BASE + reg / 16);
    return mmio[reg / 4];
}

static void apic_write(uint32_t reg, uint32_t v)
{
    if (lapic_x2apic)
        wrmsr(MSR_X2APIC_BASE + reg / 16, v);
    else
        mmio[reg / 4] = v;
}

void lapic_setup_mode(uint64_t mmio_base, bool allow_x2apic)
{
    if (mmio_base)
        mmio = (volatile uint32_t *)mmio_base;
    lapic_x2apic = allow_x2apic && cpu_has(1, 2, CPUID_1_ECX_X2APIC);
    pr_info("lapic: %s mode\n", lapic_x2apic ? "x2APIC (MSR)" : "xAPIC (MMIO)");
}

void lapic_init_cpu(void)
{
    uint64_t base = rdmsr(MSR_IA32_APIC_BASE) | APIC_BASE_EN;
    if (lapic_x2apic)
        base |= APIC_BASE_EXTD;
    wrmsr(MSR_IA32_APIC_BASE, base);
    apic_write(APIC_TPR, 0);
    apic_write(APIC_LVT_TIMER, APIC_LVT_MASKED);
    apic_write(APIC_LVT_LINT0, APIC_LVT_MASKED);
    apic_write(APIC_LVT_LINT1, APIC_LVT_MASKED);
    apic_write(APIC_LVT_ERROR, APIC_LVT_MASKED);
    apic_write(APIC_SVR, APIC_SVR_ENABLE | VEC_SPURIOUS);
    apic_write(APIC_ESR, 0);
}

uint32_t lapic_id(void)
{
    return lapic_x2apic ? apic_read(APIC_ID) : apic_read(APIC_ID) >> 24;
}

void lapic_eoi(void)
{
    apic_write(APIC_EOI, 0);
}

void lapic_send_ipi(uint32_t apic_id, uint32_t icr_lo)
{
    if (lapic_x2apic) {
        wrmsr(MSR_X2APIC_BASE + APIC_ICR_LO / 16, ((uint64_t)apic_id << 32) | icr_lo);
        return;
    }
    apic_write(APIC_ICR_HI, apic_id << 24);
    apic_write(APIC_ICR_LO, icr_lo);
    for (unsigned spin = 0; apic_read(APIC_ICR_LO) & APIC_ICR_BUSY && spin < 1000000; spin++)
        cpu_relax();
}

void lapic_send_init(uint32_t apic_id)
{
    lapic_send_ipi(apic_id, APIC_ICR_INIT | APIC_ICR_ASSERT | APIC_ICR_LEVEL);
    udelay(200);
    /* De-assert, as older APICs need. */
    if (!lapic_x2apic)
        lapic_send_ipi(apic_id, APIC_ICR_INIT | APIC_ICR_LEVEL);
}

void lapic_send_sipi(uint32_t apic_id, uint8_t page)
{
    lapic_send_ipi(apic_id, APIC_ICR_STARTUP | page);
}

/* The host timer runs one-shot towards the nearer of two deadlines: this CPU's periodic tick
 * (which bounds lost kicks and drives the shell) and the guest timer of the vCPU it runs
 * (kernel/virt/intr.c). Both live on the TSC time line in struct percpu. */
static void timer_setup_cpu(struct percpu *pc)
{
    if (pc->timer_on)
        return;
    apic_write(APIC_TIMER_DCR, APIC_DCR_DIV16);
    if (!timer_ticks_per_ms) {
        apic_write(APIC_LVT_TIMER, APIC_LVT_MASKED);
        apic_write(APIC_TIMER_ICR, 0xFFFFFFFF);
        udelay(1000);
        timer_ticks_per_ms = 0xFFFFFFFF - apic_read(APIC_TIMER_CCR);
        if (!timer_ticks_per_ms)
            timer_ticks_per_ms = 1000;
    }
    apic_write(APIC_LVT_TIMER, VEC_TIMER);     /* one-shot */
    pc->next_tick = pc->guest_deadline = UINT64_MAX;
    pc->timer_on = true;
}

static void timer_program(struct percpu *pc)
{
    uint64_t d = pc->next_tick < pc->guest_deadline ? pc->next_tick : pc->guest_deadline;
    if (d == UINT64_MAX) {
        apic_write(APIC_TIMER_ICR, 0);
        return;
    }
    uint64_t now = rdtsc(), tsc_ms = tsc_hz / 1000 ? tsc_hz / 1000 : 1;
    uint64_t delta = d > now ? d - now : 0;
    uint64_t count = delta / tsc_ms * timer_ticks_per_ms + delta % tsc_ms * timer_ticks_per_ms / tsc_ms;
    apic_write(APIC_TIMER_ICR, count == 0 ? 1 : count > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)count);
}

void lapic_timer_start(uint32_t hz)
{
    struct percpu *pc = this_cpu();
    uint64_t f = irq_save();
    timer_setup_cpu(pc);
    pc->tick_period = tsc_hz / hz;
    pc->next_tick = rdtsc() + pc->tick_period;
    timer_program(pc);
    irq_restore(f);
}

void lapic_timer_interrupt(void)
{
    struct percpu *pc = this_cpu();
    uint64_t now = rdtsc();
    /* The guest timer is due: the vCPU's loop fires it and gives the next deadline. Keeping a
     * past deadline would re-arm the one-shot timer at once, forever, before the loop runs. */
    if (now >= pc->guest_deadline)
        pc->guest_deadline = UINT64_MAX;
    if (now >= pc->next_tick) {
        pc->ticks++;
        pc->next_tick += pc->tick_period;
        if (pc->next_tick <= now)
            pc->next_tick = pc->tick_period ? now + pc->tick_period : UINT64_MAX;
    }
    timer_program(pc);
}

void host_timer_set_guest_deadline(uint64_t tsc)
{
    struct percpu *pc = this_cpu();
    uint64_t f = irq_save();
    timer_setup_cpu(pc);
    pc->guest_deadline = tsc;
    timer_program(pc);
    irq_restore(f);
}
