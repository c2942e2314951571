/* One page-aligned structure per physical CPU, reached through %gs (GS base points at it and
 * its first word points at itself). Another CPU's structure is reached only through
 * percpu_of(), so cross-CPU accesses stand out. The boot CPU's is static (it is needed before
 * memory is known); the others are allocated for the CPUs the MADT lists, so a small machine
 * does not pay for a big one. MAX_CPUS bounds only small index arrays (pointers, flags). */
#ifndef KERNEL_PERCPU_H
#define KERNEL_PERCPU_H

#include <stdint.h>
#include <stdbool.h>

#define MAX_CPUS        1024    /* x2APIC machines with hundreds of threads exist */
#define STACK_SIZE      (16 * 1024)
#define IST_STACK_SIZE  (4 * 1024)

struct vcpu;

struct tss64 {
    uint32_t rsvd0;
    uint64_t rsp[3];
    uint64_t rsvd1;
    uint64_t ist[7];
    uint64_t rsvd2;
    uint16_t rsvd3;
    uint16_t iomap_base;
} __attribute__((packed));

enum cpu_state { CPU_ABSENT, CPU_STARTING, CPU_ONLINE, CPU_FAILED, CPU_STOPPED };

struct percpu {
    struct percpu *self;            /* must stay first: %gs:0 */
    unsigned id;                    /* logical index, 0 = BSP */
    uint32_t apic_id;
    volatile enum cpu_state state;
    struct vcpu *vcpu;              /* the vCPU this CPU runs, if any */
    void *vendor;                   /* VMXON region / host save area: vmx/ and svm/ only */
    uint64_t stack_top;
    volatile uint32_t work;         /* CPU_WORK_* bits set by other CPUs before a kick */
    void (*call_fn)(void *);        /* cross-CPU call (shell's rdmsr -p): see kernel/smp.c */
    void *call_arg;
    volatile bool call_done;
    volatile uint64_t ticks;        /* local timer ticks */
    bool timer_on;                  /* the one-shot host timer is set up (drivers/lapic.c) */
    uint64_t tick_period, next_tick;    /* TSC: the periodic tick, if any */
    uint64_t guest_deadline;        /* TSC: the running vCPU's timer, UINT64_MAX if none */
    uint64_t gdt[8];
    struct tss64 tss;
} __attribute__((aligned(4096)));

#define CPU_WORK_CALL   (1u << 0)   /* run call_fn */
#define CPU_WORK_VCPU   (1u << 1)   /* re-check the current vCPU's state/events */

extern struct percpu *percpu_ptr[MAX_CPUS];
extern unsigned ncpus;              /* CPUs listed by the MADT (or 1); all have a percpu */

static inline struct percpu *this_cpu(void)
{
    struct percpu *p;
    __asm__ volatile("mov %%gs:0, %0" : "=r"(p));
    return p;
}

static inline struct percpu *percpu_of(unsigned cpu) { return percpu_ptr[cpu]; }
static inline unsigned cpu_id(void) { return this_cpu()->id; }

void percpu_init(unsigned cpu, uint32_t apic_id, uint64_t stack_top);
/* Allocates (zeroed) the structure of CPU cpu > 0; false when memory is short. */
bool percpu_alloc(unsigned cpu);

#endif
