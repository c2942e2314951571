#include "kernel/percpu.h"
#include "kernel/x86.h"
#include "mm/pmm.h"

static struct percpu bsp_percpu;
struct percpu *percpu_ptr[MAX_CPUS] = { &bsp_percpu };
unsigned ncpus = 1;

#define PERCPU_PAGES ((sizeof(struct percpu) + PAGE_SIZE - 1) / PAGE_SIZE)

bool percpu_alloc(unsigned cpu)
{
    if (cpu == 0 || cpu >= MAX_CPUS)
        return cpu == 0;
    if (percpu_ptr[cpu])
        return true;
    uint64_t p = pmm_alloc(PERCPU_PAGES, 1, PMM_OWNER_KEEL);
    percpu_ptr[cpu] = p ? phys_to_virt(p) : 0;
    return p != 0;
}

void percpu_init(unsigned cpu, uint32_t apic_id, uint64_t stack_top)
{
    struct percpu *p = percpu_ptr[cpu];
    p->self = p;
    p->id = cpu;
    p->apic_id = apic_id;
    p->stack_top = stack_top;
    wrmsr(MSR_GS_BASE, (uint64_t)p);
}
