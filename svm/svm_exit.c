/* The SVM exit table: one handler per exit code, most of them neutral handlers from
 * kernel/virt/exit.h, the rest small adapters that decode EXITINFO1/2 first. Plus exit names, the
 * counter index, and the VMEXIT_INVALID diagnosis. */
#include "svm/svm.h"
#include "kernel/virt/exit.h"
#include "kernel/virt/vm.h"
#include "kernel/log.h"
#include "kernel/x86.h"
#include "kernel/lib/fmt.h"

/* ---- Adapters ---- */

/* EXITINFO1 of IOIO -> struct io_exit, built as one 64-bit word (port, size, in, string, rep in
 * bytes 0-1, 2, 3, 4, 5): IN is bit 0, STR bit 2, REP bit 3, the one-hot size (1, 2, 4) bits 4-6,
 * the port bits 16-31. */
_Static_assert(sizeof(struct io_exit) <= 8 && __builtin_offsetof(struct io_exit, size) == 2 &&
               __builtin_offsetof(struct io_exit, in) == 3 &&
               __builtin_offsetof(struct io_exit, string) == 4 &&
               __builtin_offsetof(struct io_exit, rep) == 5, "struct io_exit layout");

/* Bytes 2-5 of that word for each value of EXITINFO1 bits 0-6, so decoding is one lookup. */
#define IO_BITS(i)  ((((i) >> 4) & 7) | (((i) & 1) << 8) | ((((i) >> 2) & 1) << 16) | \
                     ((((i) >> 3) & 1) << 24))
#define IO_BITS4(i)  IO_BITS(i), IO_BITS(i + 1), IO_BITS(i + 2), IO_BITS(i + 3)
#define IO_BITS16(i) IO_BITS4(i), IO_BITS4(i + 4), IO_BITS4(i + 8), IO_BITS4(i + 12)
static const uint32_t io_bits[128] = {
    IO_BITS16(0), IO_BITS16(16), IO_BITS16(32), IO_BITS16(48),
    IO_BITS16(64), IO_BITS16(80), IO_BITS16(96), IO_BITS16(112),
};

static inline uint64_t io_exit_word(uint64_t info)
{
    return ((info >> SVM_IOIO_PORT_SHIFT) & 0xFFFF) | (uint64_t)io_bits[info & 0x7F] << 16;
}

/* EXITINFO2 holds the next RIP for IOIO intercepts, with or without NRIPS, so the adapter
 * advances RIP itself and the loop's length table never needs to know IN/OUT encodings. */
static int svm_exit_ioio(struct vcpu *v)
{
    struct vmcb *vmcb = svm_vmcb(v);
    union { struct io_exit io; uint64_t word; } u = { .word = io_exit_word(vmcb->control.exit_info_1) };
    int a = exit_io(v, &u.io);
    if (a == EXIT_NEXT) {
        vmcb->save.rip = vmcb->control.exit_info_2;
        vmcb->control.int_state = 0;
        exit_insn_done(v, vmcb->save.rflags);
        a = EXIT_RETRY;
    }
    return a;
}

/* EXITINFO1: 0 = RDMSR, 1 = WRMSR. */
static int svm_exit_msr(struct vcpu *v)
{
    return svm_vmcb(v)->control.exit_info_1 ? exit_wrmsr(v) : exit_rdmsr(v);
}

/* EXITINFO1 is a page-fault error code, EXITINFO2 the guest-physical address. */
static int svm_exit_npf(struct vcpu *v)
{
    struct vmcb *vmcb = svm_vmcb(v);
    uint64_t err = vmcb->control.exit_info_1;
    unsigned access = err & SVM_NPF_ID ? GPA_X : err & SVM_NPF_RW ? GPA_W : GPA_R;
    if (vmcb->control.exit_int_info & SVM_EVTINJ_VALID)
        access |= GPA_IN_DELIVERY;
    if (err & SVM_NPF_RSV)
        pr_err("svm: vm %s: reserved bit in a nested page table entry for gpa %#lx\n",
               v->vm->name, vmcb->control.exit_info_2);
    return exit_gpa_fault(v, vmcb->control.exit_info_2, access);
}

/* A host NMI made the guest exit; it is taken when the stub sets GIF again. */
static int svm_exit_nmi(struct vcpu *v)
{
    return EXIT_RETRY;
}

/* The guest can take an interrupt now: close the window; the loop injects it next. */
static int svm_exit_vintr(struct vcpu *v)
{
    struct vmcb *vmcb = svm_vmcb(v);
    vmcb->control.int_ctl &= ~(V_IRQ | V_IGN_TPR);
    vmcb->control.intercept_misc1 &= ~SVM_INTERCEPT_VINTR;
    v->intr_check = true;
    return EXIT_RETRY;
}

/* The guest's NMI handler is about to return. NMIs stay blocked until that IRET has completed,
 * i.e. until the guest is seen at another RIP (svm_deliver_intr). */
static int svm_exit_iret(struct vcpu *v)
{
    struct svm_vcpu *s = v->vendor;
    s->vmcb->control.intercept_misc1 &= ~SVM_INTERCEPT_IRET;
    s->nmi_masked = false;
    s->iret_rip = s->vmcb->save.rip;
    v->intr_check = true;
    return EXIT_RETRY;
}

/* Instructions a guest without SVM (and without MONITOR/XSAVE, which CPUID hides) must not
 * execute: #UD, as on a CPU without them. EFER.SVME is really set while the guest runs, so the
 * SVM ones would otherwise work. */
static int svm_exit_ud(struct vcpu *v)
{
    vcpu_inject_exception(v, X86_UD, false, 0);
    return EXIT_RETRY;
}

/* INVD would drop dirty cache lines of memory Keel shares with the guest: treat it as a no-op,
 * like WBINVD without the write-back (which the guest may execute itself). */
static int svm_exit_invd(struct vcpu *v)
{
    return EXIT_NEXT;
}

/* #AC is intercepted only so a guest cannot wedge the CPU in an endless #AC delivery loop
 * (a CPU does not take interrupts between such deliveries); it is given straight back. */
static int svm_exit_excp_ac(struct vcpu *v)
{
    struct vmcb *vmcb = svm_vmcb(v);
    vmcb->control.event_inj = 0;        /* see svm_exit_excp_df */
    return exit_exception(v, X86_AC, (uint32_t)vmcb->control.exit_info_1);
}

/* #DF is intercepted for Bochs 2.7, which never delivers the SHUTDOWN intercept for a guest's
 * triple fault (its exception() only has the VMX triple-fault exit) and instead ends the whole
 * simulation. When the guest's IDT cannot even hold the #DF gate, delivering it must fault
 * again: that is the triple fault, reported as such. Otherwise #DF goes back to the guest (a
 * fault while delivering it is then caught by the SHUTDOWN intercept on real CPUs and QEMU). */
static int svm_exit_excp_df(struct vcpu *v)
{
    struct vmcb *vmcb = svm_vmcb(v);
    const struct vmcb_save *g = &vmcb->save;
    unsigned gate = g->efer & EFER_LMA ? 16 : 8;
    if (g->idtr.limit < (X86_DF + 1) * gate - 1)
        return exit_triple_fault(v);
    /* The event whose delivery raised the #DF (EXITINTINFO on hardware; QEMU and Bochs leave
     * it clear), which the loop has set up to be delivered again, is already folded into this
     * #DF: delivering it again would only fault into the same #DF. */
    vmcb->control.event_inj = 0;
    return exit_exception(v, X86_DF, 0);
}

static int svm_exit_unknown(struct vcpu *v)
{
    return exit_unhandled(v, (uint32_t)svm_vmcb(v)->control.exit_code);
}

/* Codes beyond the table: VMEXIT_INVALID (VMRUN refused the VMCB), VMEXIT_BUSY, ... QEMU
 * stores VMEXIT_INVALID as 0xFFFFFFFF (a 32-bit -1), hardware and Bochs as a 64-bit -1. */
int svm_exit_other(struct vcpu *v)
{
    const struct svm_vcpu *s = v->vendor;
    uint32_t code = (uint32_t)s->vmcb->control.exit_code;
    if (code == SVM_EXIT32_INVALID) {
        vm_stop(v->vm, "VMRUN refused the guest state (VMEXIT_INVALID): %s",
                s->bad_state ? s->bad_state : "no failed consistency check known to svm/");
        return EXIT_STOP;
    }
    return exit_unhandled(v, code);
}

/* ---- The table ---- */

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverride-init"
const svm_exit_fn svm_exit_table[SVM_EXIT_TABLE_SIZE] = {
    [0 ... SVM_EXIT_TABLE_SIZE - 1] = svm_exit_unknown,
    [SVM_EXIT_EXCP_BASE + X86_DF]   = svm_exit_excp_df,
    [SVM_EXIT_EXCP_BASE + X86_AC]   = svm_exit_excp_ac,
    [SVM_EXIT_EXCP_BASE + X86_DB]   = svm_exit_excp_db,
    [SVM_EXIT_EXCP_BASE + X86_BP]   = svm_exit_excp_bp,
    [SVM_EXIT_SWINT]                = svm_exit_swint,
    [SVM_EXIT_WRITE_CR0]            = svm_exit_cr_write,
    [SVM_EXIT_WRITE_CR0 + 3]        = svm_exit_cr_write,
    [SVM_EXIT_WRITE_CR0 + 8]        = svm_exit_cr_write,
    [SVM_EXIT_WRITE_CR0 + 4]        = svm_exit_cr_write,
    [SVM_EXIT_INTR]                 = exit_extint,
    [SVM_EXIT_NMI]                  = svm_exit_nmi,
    [SVM_EXIT_INIT]                 = exit_init_signal,
    [SVM_EXIT_VINTR]                = svm_exit_vintr,
    [SVM_EXIT_IRET]                 = svm_exit_iret,
    [SVM_EXIT_CPUID]                = exit_cpuid,
    [SVM_EXIT_INVD]                 = svm_exit_invd,
    [SVM_EXIT_HLT]                  = exit_hlt,
    [SVM_EXIT_INVLPGA]              = svm_exit_ud,
    [SVM_EXIT_IOIO]                 = svm_exit_ioio,
    [SVM_EXIT_MSR]                  = svm_exit_msr,
    [SVM_EXIT_SHUTDOWN]             = exit_triple_fault,
    [SVM_EXIT_VMRUN]                = svm_exit_ud,
    [SVM_EXIT_VMMCALL]              = exit_hypercall,
    [SVM_EXIT_VMLOAD]               = svm_exit_ud,
    [SVM_EXIT_VMSAVE]               = svm_exit_ud,
    [SVM_EXIT_STGI]                 = svm_exit_ud,
    [SVM_EXIT_CLGI]                 = svm_exit_ud,
    [SVM_EXIT_SKINIT]               = svm_exit_ud,
    [SVM_EXIT_MONITOR]              = svm_exit_ud,
    [SVM_EXIT_MWAIT]                = svm_exit_ud,
    [SVM_EXIT_MWAIT_COND]           = svm_exit_ud,
    [SVM_EXIT_XSETBV]               = svm_exit_ud,
    [SVM_EXIT_RDTSCP]               = svm_exit_ud,     /* CPUID hides it */
    [SVM_EXIT_NPF]                  = svm_exit_npf,
};
#pragma GCC diagnostic pop

/* The intercepted instructions a handler may complete (EXIT_NEXT), with their lengths for CPUs
 * without NRIPS (QEMU TCG). Prefixed encodings are not expected from guests. IOIO is not here:
 * its adapter takes the next RIP from EXITINFO2. */
const uint8_t svm_insn_len[SVM_EXIT_TABLE_SIZE] = {
    [SVM_EXIT_CPUID]   = 2,     /* 0f a2 */
    [SVM_EXIT_INVD]    = 2,     /* 0f 08 */
    [SVM_EXIT_HLT]     = 1,     /* f4 */
    [SVM_EXIT_MSR]     = 2,     /* 0f 32 / 0f 30 */
    [SVM_EXIT_VMMCALL] = 3,     /* 0f 01 d9 */
};

/* Their first two opcode bytes (one for HLT), to check the instruction at RIP against. */
const uint8_t svm_insn_start[SVM_EXIT_TABLE_SIZE][2] = {
    [SVM_EXIT_CPUID]   = { 0x0F, 0xA2 },
    [SVM_EXIT_INVD]    = { 0x0F, 0x08 },
    [SVM_EXIT_HLT]     = { 0xF4 },
    [SVM_EXIT_MSR]     = { 0x0F, 0x32 },     /* WRMSR is 0f 30: see svm_len_known */
    [SVM_EXIT_VMMCALL] = { 0x0F, 0x01 },
};

/* ---- Names and counter indexes ---- */

#define N16(b, p, s) \
    [b + 0] = p "0" s, [b + 1] = p "1" s, [b + 2] = p "2" s, [b + 3] = p "3" s, \
    [b + 4] = p "4" s, [b + 5] = p "5" s, [b + 6] = p "6" s, [b + 7] = p "7" s, \
    [b + 8] = p "8" s, [b + 9] = p "9" s, [b + 10] = p "10" s, [b + 11] = p "11" s, \
    [b + 12] = p "12" s, [b + 13] = p "13" s, [b + 14] = p "14" s, [b + 15] = p "15" s

static const char *const names[0x100] = {
    N16(SVM_EXIT_READ_CR0, "CR", "_READ"),
    N16(SVM_EXIT_WRITE_CR0, "CR", "_WRITE"),
    N16(SVM_EXIT_READ_DR0, "DR", "_READ"),
    N16(SVM_EXIT_WRITE_DR0, "DR", "_WRITE"),
    N16(SVM_EXIT_CR0_WRITE_TRAP, "CR", "_WRITE_TRAP"),
    [0x40] = "EXCP_DE", "EXCP_DB", "EXCP_NMI", "EXCP_BP", "EXCP_OF", "EXCP_BR", "EXCP_UD",
    "EXCP_NM", "EXCP_DF", "EXCP_9", "EXCP_TS", "EXCP_NP", "EXCP_SS", "EXCP_GP", "EXCP_PF",
    "EXCP_15", "EXCP_MF", "EXCP_AC", "EXCP_MC", "EXCP_XF", "EXCP_20", "EXCP_CP", "EXCP_22",
    "EXCP_23", "EXCP_24", "EXCP_25", "EXCP_26", "EXCP_27", "EXCP_HV", "EXCP_VC", "EXCP_SX",
    "EXCP_31",
    [SVM_EXIT_INTR] = "INTR", [SVM_EXIT_NMI] = "NMI", [SVM_EXIT_SMI] = "SMI",
    [SVM_EXIT_INIT] = "INIT", [SVM_EXIT_VINTR] = "VINTR", [SVM_EXIT_CR0_SEL_WRITE] = "CR0_SEL_WRITE",
    [SVM_EXIT_IDTR_READ] = "IDTR_READ", [SVM_EXIT_GDTR_READ] = "GDTR_READ",
    [SVM_EXIT_LDTR_READ] = "LDTR_READ", [SVM_EXIT_TR_READ] = "TR_READ",
    [SVM_EXIT_IDTR_WRITE] = "IDTR_WRITE", [SVM_EXIT_GDTR_WRITE] = "GDTR_WRITE",
    [SVM_EXIT_LDTR_WRITE] = "LDTR_WRITE", [SVM_EXIT_TR_WRITE] = "TR_WRITE",
    [SVM_EXIT_RDTSC] = "RDTSC", [SVM_EXIT_RDPMC] = "RDPMC", [SVM_EXIT_PUSHF] = "PUSHF",
    [SVM_EXIT_POPF] = "POPF", [SVM_EXIT_CPUID] = "CPUID", [SVM_EXIT_RSM] = "RSM",
    [SVM_EXIT_IRET] = "IRET", [SVM_EXIT_SWINT] = "SWINT", [SVM_EXIT_INVD] = "INVD",
    [SVM_EXIT_PAUSE] = "PAUSE", [SVM_EXIT_HLT] = "HLT", [SVM_EXIT_INVLPG] = "INVLPG",
    [SVM_EXIT_INVLPGA] = "INVLPGA", [SVM_EXIT_IOIO] = "IOIO", [SVM_EXIT_MSR] = "MSR",
    [SVM_EXIT_TASK_SWITCH] = "TASK_SWITCH", [SVM_EXIT_FERR_FREEZE] = "FERR_FREEZE",
    [SVM_EXIT_SHUTDOWN] = "SHUTDOWN", [SVM_EXIT_VMRUN] = "VMRUN", [SVM_EXIT_VMMCALL] = "VMMCALL",
    [SVM_EXIT_VMLOAD] = "VMLOAD", [SVM_EXIT_VMSAVE] = "VMSAVE", [SVM_EXIT_STGI] = "STGI",
    [SVM_EXIT_CLGI] = "CLGI", [SVM_EXIT_SKINIT] = "SKINIT", [SVM_EXIT_RDTSCP] = "RDTSCP",
    [SVM_EXIT_ICEBP] = "ICEBP", [SVM_EXIT_WBINVD] = "WBINVD", [SVM_EXIT_MONITOR] = "MONITOR",
    [SVM_EXIT_MWAIT] = "MWAIT", [SVM_EXIT_MWAIT_COND] = "MWAIT_COND", [SVM_EXIT_XSETBV] = "XSETBV",
    [SVM_EXIT_RDPRU] = "RDPRU", [SVM_EXIT_EFER_WRITE_TRAP] = "EFER_WRITE_TRAP",
    [SVM_EXIT_INVLPGB] = "INVLPGB", [SVM_EXIT_INVLPGB_ILLEGAL] = "INVLPGB_ILLEGAL",
    [SVM_EXIT_INVPCID] = "INVPCID", [SVM_EXIT_MCOMMIT] = "MCOMMIT", [SVM_EXIT_TLBSYNC] = "TLBSYNC",
    [SVM_EXIT_BUSLOCK] = "BUSLOCK", [SVM_EXIT_IDLE_HLT] = "IDLE_HLT",
};

const char *svm_exit_name(uint32_t code)
{
    if (code < 0x100)
        return names[code] ? names[code] : "UNKNOWN";
    switch (code) {
    case SVM_EXIT_NPF:                  return "NPF";
    case SVM_EXIT_AVIC_INCOMPLETE_IPI:  return "AVIC_INCOMPLETE_IPI";
    case SVM_EXIT_AVIC_NOACCEL:         return "AVIC_NOACCEL";
    case SVM_EXIT_VMGEXIT:              return "VMGEXIT";
    case SVM_EXIT32_INVALID:            return "INVALID";
    case SVM_EXIT32_BUSY:               return "BUSY";
    default:                            return "UNKNOWN";
    }
}

unsigned svm_exit_index_op(uint32_t code)
{
    return svm_exit_index(code);
}

/* The last slot collects everything else; it is listed under VMEXIT_INVALID, the one such
 * code that happens in practice. */
uint32_t svm_exit_code(unsigned index)
{
    if (index < SVM_IDX_HIGH_BASE)
        return index;
    if (index < SVM_IDX_OTHER)
        return SVM_EXIT_NPF + (index - SVM_IDX_HIGH_BASE);
    return SVM_EXIT32_INVALID;
}

/* ---- VMEXIT_INVALID: the consistency checks of APM vol. 2 15.5.1 ----
 * Only state Keel writes can fail them (vcpu_init, set_reg, event injection): a guest's own bad
 * CR/EFER writes fault inside the guest. And the state cannot be examined after the failure:
 * QEMU and Bochs overwrite the save area with the host's state when they refuse a VMRUN. So
 * svm.c checks at the points where it writes such state and keeps the verdict for the exit. */

#define EFER_VALID_BITS (EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE | EFER_SVME | (1ul << 13) | \
                         (1ul << 14) | (1ul << 15))

static bool pat_ok(uint64_t pat)
{
    for (int i = 0; i < 8; i++) {
        uint8_t t = (pat >> (i * 8)) & 0xFF;
        if (t > 7 || t == 2 || t == 3)
            return false;
    }
    return true;
}

static bool event_ok(uint64_t ev)
{
    if (!(ev & SVM_EVTINJ_VALID))
        return true;
    uint64_t type = ev & SVM_EVTINJ_TYPE_MASK;
    unsigned vec = ev & SVM_EVTINJ_VEC_MASK;
    if (type != SVM_EVTINJ_TYPE_INTR && type != SVM_EVTINJ_TYPE_NMI &&
        type != SVM_EVTINJ_TYPE_EXEPT && type != SVM_EVTINJ_TYPE_SOFT)
        return false;
    return !(type == SVM_EVTINJ_TYPE_EXEPT && (vec == X86_NMI || vec > 31));
}

const char *svm_check_state(const struct vmcb *vmcb)
{
    const struct vmcb_control *c = &vmcb->control;
    const struct vmcb_save *s = &vmcb->save;
    bool lm_paging = (s->efer & EFER_LME) && (s->cr0 & CR0_PG);

    if (!(s->efer & EFER_SVME))
        return "EFER.SVME clear";
    if ((s->cr0 & CR0_CD) == 0 && (s->cr0 & CR0_NW))
        return "CR0.NW set with CR0.CD clear";
    if (s->cr0 >> 32)
        return "CR0 bits 63:32 set";
    if (s->cr3 >> 52)
        return "CR3 bits 63:52 set";
    if (s->cr4 >> 32)
        return "CR4 bits 63:32 set";
    if (s->dr6 >> 32)
        return "DR6 bits 63:32 set";
    if (s->dr7 >> 32)
        return "DR7 bits 63:32 set";
    if (s->efer & ~EFER_VALID_BITS)
        return "EFER reserved bits set";
    if (lm_paging && !(s->cr4 & CR4_PAE))
        return "EFER.LME and CR0.PG set with CR4.PAE clear";
    if (lm_paging && !(s->cr0 & CR0_PE))
        return "EFER.LME and CR0.PG set with CR0.PE clear";
    if (lm_paging && (s->cs.attrib & SVM_SEG_L) && (s->cs.attrib & SVM_SEG_DB))
        return "long mode with both CS.L and CS.D set";
    if (!(c->intercept_misc2 & SVM_INTERCEPT_VMRUN))
        return "VMRUN intercept clear";
    if (c->asid == 0)
        return "ASID 0";
    if (!event_ok(c->event_inj))
        return "illegal EVENTINJ";
    if ((c->np_enable & SVM_NP_ENABLE) && !pat_ok(s->g_pat))
        return "invalid guest PAT (G_PAT)";
    if ((c->np_enable & SVM_NP_ENABLE) && (c->n_cr3 >> 52))
        return "nCR3 bits 63:52 set";
    return 0;
}
