/* gdb on SVM: #BP and #DB intercepts while gdb is attached, and single-step by RFLAGS.TF (SVM
 * has no monitor trap flag). The TF gdb sets is taken out again when the step ends, and no
 * interrupt is injected during the step (the loop skips delivery), so the guest's interrupt
 * frames never hold it; an instruction that pushes RFLAGS itself during a step (PUSHF,
 * INT n, a fault it raises) does see TF set: not hidden. */
#include "svm/svm.h"
#include "kernel/gdb/gdb.h"
#include "kernel/virt/exit.h"
#include "kernel/x86.h"

#define DB_BP_BITS  (1u << X86_DB | 1u << X86_BP)
#define SVM_INTERCEPT_INTN  (1u << 21)  /* intercept vector 3: INTn */
#define OP_INTO     0xCE
#define X86_OF_VEC  4
#define RFLAGS_OF   (1ul << 11)
#define DR6_HITS    0x400Ful        /* B0-B3, BS */
#define OP_INT3     0xCC
#define OP_INT_N    0xCD

void svm_set_debug(struct vcpu *v, unsigned flags)
{
    struct svm_vcpu *s = v->vendor;
    struct vmcb *vmcb = s->vmcb;
    /* QEMU (TCG) checks the INTn intercept, not the #BP one, for INT3: both are taken. */
    if (flags & VCPU_DBG_TRAP) {
        vmcb->control.intercept_exceptions |= DB_BP_BITS;
        vmcb->control.intercept_misc1 |= SVM_INTERCEPT_INTN;
    } else {
        vmcb->control.intercept_exceptions &= ~DB_BP_BITS;
        vmcb->control.intercept_misc1 &= ~SVM_INTERCEPT_INTN;
    }
    bool step = flags & VCPU_DBG_STEP;
    if (step && !s->tf_ours) {
        s->tf_guest = vmcb->save.rflags & RFLAGS_TF;
        vmcb->save.rflags |= RFLAGS_TF;
        s->tf_ours = true;
    } else if (!step && s->tf_ours) {
        vmcb->save.rflags = (vmcb->save.rflags & ~RFLAGS_TF) | (s->tf_guest ? RFLAGS_TF : 0);
        s->tf_ours = false;
    }
}

/* DR6 holds what the CPU recorded for this #DB. gdb's: those bits are taken back out of the
 * guest's DR6; the guest's own: delivered to it. */
int svm_exit_excp_db(struct vcpu *v)
{
    struct vmcb *vmcb = svm_vmcb(v);
    uint64_t dr6 = vmcb->save.dr6;
    if (gdb_exception(v, X86_DB, dr6 & DR6_HITS)) {
        vmcb->save.dr6 = dr6 & ~DR6_HITS;
        return EXIT_RETRY;
    }
    vcpu_inject_exception(v, X86_DB, false, 0);
    return EXIT_RETRY;
}

/* RIP is on the INT3. The guest's own is delivered as the CPU would have: a trap, so the
 * return address is the next instruction (INT3 is one byte, INT 3 two). */
int svm_exit_excp_bp(struct vcpu *v)
{
    struct vmcb *vmcb = svm_vmcb(v);
    if (gdb_exception(v, X86_BP, 0))
        return EXIT_RETRY;
    uint8_t op = OP_INT3;
    vcpu_peek_code(v, &op, 1);
    vmcb->save.rip += op == OP_INT_N ? 2 : 1;
    vmcb->control.event_inj = X86_BP | SVM_EVTINJ_TYPE_EXEPT | SVM_EVTINJ_VALID;
    return EXIT_RETRY;
}

/* INTn intercept (on while gdb is attached). INT3 goes the #BP way; INT n and INTO are carried
 * out as the CPU would: RIP past them, then the software interrupt (or #OF when OF is set). */
int svm_exit_swint(struct vcpu *v)
{
    struct vmcb *vmcb = svm_vmcb(v);
    uint8_t op[2] = { OP_INT3, 0 };
    if (vcpu_peek_code(v, op, 2) < 1 || op[0] == OP_INT3)
        return svm_exit_excp_bp(v);
    if (op[0] == OP_INTO) {
        vmcb->save.rip += 1;
        if (vmcb->save.rflags & RFLAGS_OF)
            vmcb->control.event_inj = X86_OF_VEC | SVM_EVTINJ_TYPE_EXEPT | SVM_EVTINJ_VALID;
        return EXIT_RETRY;
    }
    vmcb->save.rip += 2;            /* CD ib */
    vmcb->control.event_inj = op[1] | SVM_EVTINJ_TYPE_SOFT | SVM_EVTINJ_VALID;
    return EXIT_RETRY;
}
