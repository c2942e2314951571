/* Internal to kernel/gdb: the debugged VM (gdb_target.c) as the protocol side (gdb_stub.c)
 * sees it. Everything here runs on CPU 0 with the VM's vCPUs paused, unless noted. */
#ifndef KERNEL_GDB_TARGET_H
#define KERNEL_GDB_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "kernel/virt/vcpu.h"

struct vm;

enum gdb_stop_kind { STOP_NONE, STOP_SIGINT, STOP_STEP, STOP_SWBREAK, STOP_HWBREAK, STOP_WATCH,
                     STOP_AWATCH };

void tgt_attach(struct vm *vm);
/* Breakpoints out, debug registers and intercepts off; the VM runs on if it was stopped. */
void tgt_detach(void);
/* Pauses every vCPU (reason: a vCPU's report, or Ctrl-C); false if one did not stop. */
bool tgt_stop_all(void);
/* A vCPU reported a stop since the last resume: its id and why. */
bool tgt_reported(int *vcpu, unsigned *kind, uint64_t *addr);
/* Runs the VM again; the vCPUs in step_mask execute one instruction and report. */
void tgt_resume(uint32_t step_mask);
bool tgt_wide(void);                    /* 64-bit register layout (EFER.LMA of vCPU 0) */

/* Registers in gdb's numbering for tgt_wide() (amd64) or not (i386). Returns the register's
 * size in bytes, 0 if it exists but is not available, -1 if there is no such register. */
int tgt_get_reg(struct vcpu *v, unsigned n, uint64_t *val);
int tgt_set_reg(struct vcpu *v, unsigned n, uint64_t val);
unsigned tgt_nregs(void);               /* registers in a g packet */

/* Guest memory by linear address through v's page tables (physical with paging off).
 * Reads return how many bytes were readable from la on (0: none). Writes go to RAM even where
 * the guest's tables forbid writing (code pages): 0, or -1 if a page is not RAM. */
size_t tgt_read_mem(struct vcpu *v, uint64_t la, uint8_t *buf, size_t len);
int tgt_write_mem(struct vcpu *v, uint64_t la, const uint8_t *buf, size_t len);

/* Z/z type 0-4. 0 done, -1 error, 1 not supported (the stub answers with an empty packet). */
int tgt_breakpoint(struct vcpu *v, bool insert, unsigned type, uint64_t addr, uint64_t kind);

#endif
