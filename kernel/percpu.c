#include "kernel/percpu.h"
#include "kernel/x86.h"

struct percpu percpu_area[MAX_CPUS];
unsigned ncpus = 1;

void percpu_init(unsigned cpu, uint32_t apic_id, uint64_t stack_top)
{
    struct percpu *p = &percpu_area[cpu];
    p->self = p;
    p->id = cpu;
    p->apic_id = apic_id;
    p->stack_top = stack_top;
    wrmsr(MSR_GS_BASE, (uint64_t)p);
}
