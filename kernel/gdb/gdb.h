/* A gdb remote stub for guests: one session at a time, on COM2 (Keel option gdb=com2[:<vm>])
 * or on the console (shell command `gdb <vm>`); each vCPU of the VM is a thread. */
#ifndef KERNEL_GDB_H
#define KERNEL_GDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "kernel/virt/vcpu.h"

struct vm;

/* Keel option gdb=<value>: com2 (the first VM) or com2:<vm>. False if the value is bad. */
bool gdb_setup(const char *value);
/* `gdb <vm>`: the console line belongs to the stub until gdb detaches or kills. */
int gdb_console_start(struct vm *vm, char *err, size_t errlen);
bool gdb_console_active(void);
/* CPU 0, from the shell's poll (also with noshell): serial input, stop reports. */
void gdb_poll(void);

/* From the vendors' exit handlers, on the vCPU's own CPU. dr6: the B0-B3 and BS bits of the
 * #DB. True when the #BP/#DB was gdb's (the vCPU stops); false: it is the guest's own. */
bool gdb_exception(struct vcpu *v, unsigned vector, uint64_t dr6);
/* The instruction gdb single-stepped has completed (MTF exit, #DB, or an emulated one). */
void gdb_stepped(struct vcpu *v);

#endif
