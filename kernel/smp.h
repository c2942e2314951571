/* Starting the other CPUs, and talking to them afterwards. */
#ifndef KERNEL_SMP_H
#define KERNEL_SMP_H

#include <stdbool.h>

extern unsigned cpus_online;

/* INIT-SIPI-SIPI every CPU the MADT lists, at most max CPUs in all (0 = no limit but MAX_CPUS) */
void smp_boot(unsigned max);
void smp_stop_others(void);             /* NMI-free stop: used on power-off and panic */
void cpu_kick(unsigned cpu);            /* IPI so that CPU leaves its guest and looks at its work */
/* Runs fn(arg) on that CPU and waits (bounded); false if it did not answer. */
bool smp_call(unsigned cpu, void (*fn)(void *), void *arg);
void cpu_do_work(void);                 /* called by a CPU when it sees its work bits */
void cpu_idle_loop(void) __attribute__((noreturn));

#endif
