/* Reading guest memory by linear address, for the few exits that must look at the guest's
 * instruction or operand themselves (CR writes on SVM without decode assists). A minimal walk of
 * the guest's own page tables (paging off, 32-bit, PAE, 4-level), read-only: it sets no accessed
 * bits and checks no rights, because the guest already executed (or is executing) the access.
 * kernel/emul/gwalk.h will replace the walk; callers only see these two functions. */
#ifndef KERNEL_GUEST_MEM_H
#define KERNEL_GUEST_MEM_H

#include <stdint.h>
#include "kernel/virt/vcpu.h"

#define INSN_MAX_LEN    15

/* Copies len bytes at linear address la; 0, or -1 if a page is not present or not RAM. */
int vcpu_read_linear(struct vcpu *v, uint64_t la, void *buf, unsigned len);
/* The bytes at CS.base + RIP (len <= INSN_MAX_LEN); 0 or -1 as above. */
int vcpu_fetch_insn(struct vcpu *v, uint8_t *buf, unsigned len);

#endif
