#include "kernel/smp.h"
#include "kernel/percpu.h"
#include "kernel/trap.h"
#include "kernel/log.h"
#include "kernel/shell/shell.h"
#include "kernel/x86.h"
#include "kernel/lib/string.h"
#include "kernel/virt/vm.h"
#include "mm/pmm.h"
#include "mm/paging.h"
#include "drivers/lapic.h"
#include "drivers/acpi.h"
#include "drivers/timer.h"
#include "boot/boot.h"

#define AP_START_TIMEOUT_US 200000
#define INIT_DELAY_US       10000   /* SDM MP init: wait 10 ms after INIT (older CPUs) */
#define SIPI_DELAY_US       200
#define CPUID_VENDOR_EBX_INTEL  0x756E6547u     /* "Genu" */
#define CPUID_VENDOR_EBX_AMD    0x68747541u     /* "Auth" */

static uint32_t init_delay_us = INIT_DELAY_US;

/* Family 6 Intel and family 0xF+ AMD CPUs need no wait after INIT (as Linux does): on a
 * machine with hundreds of CPUs the 10 ms each would add seconds to the boot. */
static void pick_init_delay(void)
{
    struct cpuid_regs v, f;
    cpuid_count(0, 0, &v);
    cpuid_count(1, 0, &f);
    unsigned family = (f.eax >> 8) & 0xF;
    if (family == 0xF)
        family += (f.eax >> 20) & 0xFF;
    if ((v.ebx == CPUID_VENDOR_EBX_INTEL && family == 6) ||
        (v.ebx == CPUID_VENDOR_EBX_AMD && family >= 0xF))
        init_delay_us = 0;
}
#define CALL_TIMEOUT_US     500000
#define IST_COUNT           4       /* #DF, NMI, #MC, #DB (kernel/trap.c) */

extern char trampoline[], trampoline_end[];
extern uint64_t boot_pml4[];
extern const char boot_gdt_ptr[];

unsigned cpus_online = 1;
static volatile bool stopping;

static void setup_ist(struct percpu *p)
{
    for (int i = 0; i < IST_COUNT; i++) {
        uint64_t s = pmm_alloc(IST_STACK_SIZE / PAGE_SIZE, 1, PMM_OWNER_KEEL);
        if (!s)
            panic("out of memory for interrupt stacks");
        p->tss.ist[i] = s + IST_STACK_SIZE;
    }
}

/* Common per-CPU bring-up once the CPU runs 64-bit C code with its stack. */
static void cpu_setup(unsigned cpu)
{
    struct percpu *p = percpu_of(cpu);
    /* Firmware and INIT leave caching off (CD/NW); Keel and its guests want it on. */
    write_cr0(read_cr0() & ~(CR0_CD | CR0_NW));
    percpu_init(cpu, p->apic_id, p->stack_top);
    gdt_load(cpu);
    idt_load();
    lapic_init_cpu();
    p->state = CPU_ONLINE;
    kprintf("cpu %u: apic %u online\n", cpu, p->apic_id);
}

void ap_main(unsigned cpu)
{
    paging_load();
    cpu_setup(cpu);
    cpu_idle_loop();
}

static bool start_ap(unsigned cpu)
{
    struct percpu *p = percpu_of(cpu);
    uint64_t stack = pmm_alloc(STACK_SIZE / PAGE_SIZE, 1, PMM_OWNER_KEEL);
    if (!stack)
        return false;
    p->stack_top = stack + STACK_SIZE;
    setup_ist(p);
    p->state = CPU_STARTING;
    char *params = (char *)(TRAMP_BASE + TRAMP_PARAMS);
    *(uint64_t *)(params + TP_CR3) = (uint64_t)boot_pml4;
    *(uint64_t *)(params + TP_STACK) = p->stack_top;
    *(uint64_t *)(params + TP_ENTRY) = (uint64_t)ap_main;
    *(uint64_t *)(params + TP_CPU) = cpu;
    memcpy(params + TP_GDT, boot_gdt_ptr, 6);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    lapic_send_init(p->apic_id);
    udelay(init_delay_us);
    for (int sipi = 0; sipi < 2 && p->state == CPU_STARTING; sipi++) {
        lapic_send_sipi(p->apic_id, TRAMP_BASE >> 12);
        udelay(SIPI_DELAY_US);
    }
    uint64_t deadline = tsc_deadline(AP_START_TIMEOUT_US);
    while (p->state == CPU_STARTING && !tsc_passed(deadline))
        cpu_relax();
    return p->state == CPU_ONLINE;
}

/* xAPIC destinations are 8 bits, and 0xFF is the broadcast: higher ids need x2APIC mode. */
#define XAPIC_MAX_ID        0xFE
#define SMP_SUMMARY_MIN     8       /* more CPUs than this: also print a one-line summary */

struct smp_count { unsigned failed, beyond, lo, hi; };

/* Gives the next logical index to apic id; false when the index limit or memory ran out. */
static bool bring_up(unsigned cpu, uint32_t id, struct smp_count *c)
{
    if (!percpu_alloc(cpu)) {
        pr_warn("cpu: out of memory for per-CPU data at cpu %u (apic %u)\n", cpu, id);
        return false;
    }
    struct percpu *p = percpu_of(cpu);
    p->id = cpu;
    p->apic_id = id;
    if (!lapic_x2apic && id > XAPIC_MAX_ID) {
        p->state = CPU_FAILED;
        c->failed++;
        kprintf("cpu %u: apic %u needs x2APIC mode; skipped\n", cpu, id);
    } else if (start_ap(cpu)) {
        cpus_online++;
    } else {
        p->state = CPU_FAILED;
        c->failed++;
        kprintf("cpu %u: apic %u did not start; skipped\n", cpu, id);
    }
    return true;
}

static void summary(unsigned listed, const struct smp_count *c, uint64_t t0)
{
    kprintf("smp: %u cpus in the MADT: %u online, %u failed, %u beyond the limit; "
            "apic ids %u-%u; %lu ms\n", listed, cpus_online, c->failed, c->beyond,
            c->lo, c->hi, tsc_to_us(rdtsc() - t0) / 1000);
}

void smp_boot(unsigned max)
{
    struct percpu *bsp = percpu_of(0);
    uint64_t t0 = rdtsc();
    lapic_init_cpu();           /* x2APIC mode must be on before lapic_id() reads it */
    bsp->apic_id = lapic_id();
    setup_ist(bsp);
    cpu_setup(0);
    if (!acpi_have_madt)
        goto done;
    memcpy((void *)TRAMP_BASE, trampoline, (size_t)(trampoline_end - trampoline));
    pick_init_delay();
    struct smp_count c = { 0, acpi_madt.skipped_cpus, bsp->apic_id, bsp->apic_id };
    unsigned next = 1, limit = max && max < MAX_CPUS ? max : MAX_CPUS;
    for (unsigned i = 0; i < acpi_madt.ncpus; i++) {
        uint32_t id = acpi_madt.apic_id[i];
        c.lo = id < c.lo ? id : c.lo;
        c.hi = id > c.hi ? id : c.hi;
        if (id == bsp->apic_id)
            continue;
        if (next == limit || !bring_up(next, id, &c)) {
            c.beyond += acpi_madt.ncpus - i;
            break;
        }
        next++;
    }
    ncpus = next;
    if (c.beyond)
        pr_warn("cpu: %u cpu(s) listed by the MADT stay offline: limit of %u cpus reached\n",
                c.beyond, next);
    if (acpi_madt.ncpus + acpi_madt.skipped_cpus > SMP_SUMMARY_MIN)
        summary(acpi_madt.ncpus + acpi_madt.skipped_cpus, &c, t0);
done:
    kprintf("keel: %u cpus online\n", cpus_online);
}

/* An NMI, not a fixed vector: some CPUs (Bochs' SVM) never let a maskable interrupt make a guest
 * exit while the guest runs with IF=0, but an intercepted NMI always does. The host's NMI
 * handler ignores it; the CPU then looks at its work and its vCPU's requests. */
void cpu_kick(unsigned cpu)
{
    if (cpu != cpu_id())
        lapic_send_ipi(percpu_of(cpu)->apic_id, APIC_ICR_NMI);
}

bool smp_call(unsigned cpu, void (*fn)(void *), void *arg)
{
    struct percpu *p = percpu_of(cpu);
    if (cpu == cpu_id()) {
        fn(arg);
        return true;
    }
    if (p->state != CPU_ONLINE)
        return false;
    p->call_fn = fn;
    p->call_arg = arg;
    p->call_done = false;
    __atomic_or_fetch(&p->work, CPU_WORK_CALL, __ATOMIC_SEQ_CST);
    cpu_kick(cpu);
    uint64_t deadline = tsc_deadline(CALL_TIMEOUT_US);
    while (!p->call_done && !tsc_passed(deadline))
        cpu_relax();
    return p->call_done;
}

void cpu_do_work(void)
{
    struct percpu *p = this_cpu();
    uint32_t w = __atomic_exchange_n(&p->work, 0, __ATOMIC_SEQ_CST);
    if (w & CPU_WORK_CALL) {
        p->call_fn(p->call_arg);
        __atomic_store_n(&p->call_done, true, __ATOMIC_RELEASE);
    }
    if (stopping) {
        p->state = CPU_STOPPED;
        irq_disable();
        for (;;)
            halt();
    }
}

void smp_stop_others(void)
{
    stopping = true;
    for (unsigned c = 0; c < ncpus; c++)
        if (c != cpu_id() && percpu_of(c)->state == CPU_ONLINE)
            cpu_kick(c);
}

/* What a CPU does when it has nothing to run: wait for a vCPU to be given to it or for work. */
void cpu_idle_loop(void)
{
    for (;;) {
        irq_disable();
        cpu_do_work();
        if (this_cpu()->id == 0)
            shell_poll();
        if (vm_cpu_has_vcpu())
            vm_cpu_run();       /* returns when that vCPU ends */
        safe_halt();
    }
}
