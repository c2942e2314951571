/* Virtual machines: one per guest module, each on its own physical CPUs. */
#ifndef KERNEL_VM_H
#define KERNEL_VM_H

#include <stdbool.h>
#include "kernel/bootinfo.h"

void vm_start_all(const struct boot_module *mods, unsigned n);
unsigned vm_count_running(void);
int vm_exit_status(void);               /* 0 if every VM ended with status 0 */
bool vm_cpu_has_vcpu(void);             /* a vCPU is assigned to this CPU and can run */
void vm_cpu_run(void);                  /* runs it until it stops */

#endif
