/* Vendor-neutral exit handlers. vmx/ and svm/ decode their exit information and call these from
 * their exit tables; the return value says what the vendor loop does next. */
#ifndef KERNEL_EXIT_H
#define KERNEL_EXIT_H

#include <stdint.h>
#include <stdbool.h>
#include "kernel/virt/vcpu.h"

enum exit_action {
    EXIT_NEXT,      /* done: advance RIP past the exiting instruction and re-enter */
    EXIT_RETRY,     /* re-enter at the same RIP (e.g. an exception was queued instead) */
    EXIT_BLOCK,     /* the vCPU is halted: wait for an event or a request, then re-enter */
    EXIT_STOP,      /* the vCPU must not run again (its VM ended or was stopped) */
    EXIT_EMULATED,  /* common code carried out the instruction and moved RIP itself: re-enter,
                     * ending an STI/MOV SS interrupt shadow as a completed instruction does */
};

struct io_exit {
    uint16_t port;
    uint8_t size;       /* 1, 2 or 4 */
    bool in, string, rep;
};

/* The one decision point after an exit completed the guest's instruction (RIP already past it,
 * interrupt shadow ended): with RFLAGS.TF set at the start of the instruction the CPU would
 * have raised a single-step #DB right after it, so Keel does (DR6.BS, #DB queued). Vendors call
 * this on every EXIT_NEXT with the guest's RFLAGS. */
void exit_single_step(struct vcpu *v);
static inline void exit_insn_done(struct vcpu *v, uint64_t rflags)
{
    if (__builtin_expect(!!((rflags & (1ul << 8)) | (v->debug & VCPU_DBG_STEP)), 0))  /* TF */
        exit_single_step(v);
}

int exit_cpuid(struct vcpu *v);
/* The CR4 bits a guest may set: those whose features CPUID shows it (kernel/virt/guest_cpuid.c);
 * setting any other bit raises #GP, as on a CPU without the feature. */
uint64_t guest_cr4_allowed(void);
int exit_io(struct vcpu *v, const struct io_exit *io);
int exit_rdmsr(struct vcpu *v);
int exit_wrmsr(struct vcpu *v);
int exit_hlt(struct vcpu *v);
int exit_hypercall(struct vcpu *v);
/* access: GPA_R, GPA_W or GPA_X (kernel/virt/vendor.h) */
int exit_gpa_fault(struct vcpu *v, uint64_t gpa, unsigned access);
int exit_exception(struct vcpu *v, unsigned vector, uint32_t error);
int exit_triple_fault(struct vcpu *v);
/* kernel/virt/mmio.c: a guest access to a non-RAM gpa in an emulated region; the instruction
 * at RIP carried out by the emulator (EXIT_EMULATED, EXIT_RETRY with an exception, EXIT_STOP);
 * the local APIC page of a VM. */
int mmio_exit(struct vcpu *v, uint64_t gpa, unsigned access);
int emulate_insn(struct vcpu *v);
/* The first n (<= 15) bytes at the guest's RIP; returns n, or -1 if they cannot be read. */
int vcpu_peek_code(struct vcpu *v, uint8_t *buf, unsigned n);
/* gwalk's read callback over a VM's memory (arg: its struct gpa_space): a page-table entry of
 * `size` bytes at gpa, false where no RAM is. */
bool guest_pt_read(void *arg, uint64_t gpa, uint64_t *val, unsigned size);
/* Guest memory by linear address through the guest's page tables, for exits that must read the
 * instruction or an operand themselves (SVM CR writes without decode assists): 0, or -1 when a
 * page is not present or not RAM. vcpu_fetch_insn reads at CS.base + RIP (len <= 15). */
int vcpu_read_linear(struct vcpu *v, uint64_t la, void *buf, unsigned len);
int vcpu_fetch_insn(struct vcpu *v, uint8_t *buf, unsigned len);
/* The length of the instruction at RIP, or -1 with the fault (#PF) queued for the guest. */
int vcpu_insn_length(struct vcpu *v);
struct vm;
int mmio_add_apic(struct vm *vm);
void mmio_count_hole(struct vm *vm, uint64_t gpa, bool write);
/* kernel/virt/guest_io.c: one port access (size 1, 2, 4); false when the VM has ended. */
bool guest_port_read(struct vcpu *v, uint16_t port, unsigned size, uint32_t *val);
bool guest_port_write(struct vcpu *v, uint16_t port, unsigned size, uint32_t val);
int exit_init_signal(struct vcpu *v);
int exit_extint(struct vcpu *v);        /* a host interrupt made the guest exit */
int exit_unhandled(struct vcpu *v, uint32_t code);
unsigned guest_maxphyaddr(void);        /* physical-address width guests see (CPUID 0x80000008) */
/* Before each entry when v->requests or this CPU's work is set: EXIT_STOP ends the loop,
 * EXIT_BLOCK waits, EXIT_RETRY enters. */
int exit_check_requests(struct vcpu *v);
/* After EXIT_BLOCK: sleeps with interrupts on until an event/request arrives; returns the next
 * action the same way as exit_check_requests. */
int exit_wait(struct vcpu *v);

#endif
