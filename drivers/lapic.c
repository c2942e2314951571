#include "drivers/lapic.h"
#include "drivers/timer.h"
#include "kernel/x86.h"
#include "kernel/log.h"
#include "kernel/trap.h"

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

/* Counts the timer down for 1 ms of TSC time once, then runs it periodically. */
void lapic_timer_start(uint32_t hz)
{
    apic_write(APIC_TIMER_DCR, APIC_DCR_DIV16);
    if (!timer_ticks_per_ms) {
        apic_write(APIC_LVT_TIMER, APIC_LVT_MASKED);
        apic_write(APIC_TIMER_ICR, 0xFFFFFFFF);
        udelay(1000);
        timer_ticks_per_ms = 0xFFFFFFFF - apic_read(APIC_TIMER_CCR);
        if (!timer_ticks_per_ms)
            timer_ticks_per_ms = 1000;
    }
    apic_write(APIC_LVT_TIMER, APIC_TIMER_PERIODIC | VEC_TIMER);
    apic_write(APIC_TIMER_ICR, timer_ticks_per_ms * 1000 / hz);
}
