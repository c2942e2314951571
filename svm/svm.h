/* AMD SVM: the VMCB layout, intercept bits, exit codes and event-injection format, named as in
 * the AMD64 Architecture Programmer's Manual vol. 2 (chapter 15, appendix B "Layout of VMCB" and
 * appendix C "SVM Intercept Exit Codes"); plus what svm/ shares between its files. */
#ifndef SVM_SVM_H
#define SVM_SVM_H


/* Offsets the entry stub needs (checked against the structs below). */
#define VMCB_SAVE_RAX       0x5F8   /* save.rax */
#define VCPU_GPR(r)         ((r) * 8)

#ifndef __ASSEMBLY__

#include <stdint.h>
#include <stdbool.h>
#include "kernel/virt/vcpu.h"
#include "kernel/virt/vendor.h"

/* Exception vectors kernel/x86.h does not name. */
#ifndef X86_OF
#define X86_OF 4
#endif
#ifndef X86_AC
#define X86_AC 17
#endif

/* ---- CPUID and MSRs ---- */
#define CPUID_SVM_FEATURES          0x8000000Au     /* EAX rev, EBX NASID, EDX features */
#define CPUID_8000_000A_EDX_NP      (1u << 0)       /* nested paging */
#define CPUID_8000_000A_EDX_LBRV    (1u << 1)
#define CPUID_8000_000A_EDX_SVML    (1u << 2)       /* SVM lock */
#define CPUID_8000_000A_EDX_NRIPS   (1u << 3)       /* next RIP saved on #VMEXIT */
#define CPUID_8000_000A_EDX_VMCBCLEAN (1u << 5)
#define CPUID_8000_000A_EDX_FLUSHBYASID (1u << 6)
#define CPUID_8000_000A_EDX_DECODEASSISTS (1u << 7)
#define CPUID_8000_0001_EDX_PAGE1GB (1u << 26)

#define MSR_VM_CR                   0xC0010114
#define MSR_VM_HSAVE_PA             0xC0010117
#define VM_CR_SVMDIS                (1ul << 4)

/* ---- VMCB control area (offset 0x000) ---- */

/* Intercept vector 3 (offset 0x00C). */
#define SVM_INTERCEPT_INTR          (1u << 0)
#define SVM_INTERCEPT_NMI           (1u << 1)
#define SVM_INTERCEPT_SMI           (1u << 2)
#define SVM_INTERCEPT_INIT          (1u << 3)
#define SVM_INTERCEPT_VINTR         (1u << 4)
#define SVM_INTERCEPT_CR0_SEL_WRITE (1u << 5)   /* writes changing more than CR0.TS/MP, LMSW */
#define SVM_INTERCEPT_RDTSC         (1u << 14)
#define SVM_INTERCEPT_RDPMC         (1u << 15)
#define SVM_INTERCEPT_CPUID         (1u << 18)
#define SVM_INTERCEPT_INVD          (1u << 22)
#define SVM_INTERCEPT_PAUSE         (1u << 23)
#define SVM_INTERCEPT_IRET          (1u << 20)
#define SVM_INTERCEPT_HLT           (1u << 24)
#define SVM_INTERCEPT_INVLPG        (1u << 25)
#define SVM_INTERCEPT_INVLPGA       (1u << 26)
#define SVM_INTERCEPT_IOIO_PROT     (1u << 27)
#define SVM_INTERCEPT_MSR_PROT      (1u << 28)
#define SVM_INTERCEPT_TASK_SWITCH   (1u << 29)
#define SVM_INTERCEPT_FERR_FREEZE   (1u << 30)
#define SVM_INTERCEPT_SHUTDOWN      (1u << 31)

/* Intercept vector 4 (offset 0x010). */
#define SVM_INTERCEPT_VMRUN         (1u << 0)
#define SVM_INTERCEPT_VMMCALL       (1u << 1)
#define SVM_INTERCEPT_VMLOAD        (1u << 2)
#define SVM_INTERCEPT_VMSAVE        (1u << 3)
#define SVM_INTERCEPT_STGI          (1u << 4)
#define SVM_INTERCEPT_CLGI          (1u << 5)
#define SVM_INTERCEPT_SKINIT        (1u << 6)
#define SVM_INTERCEPT_RDTSCP        (1u << 7)
#define SVM_INTERCEPT_ICEBP         (1u << 8)
#define SVM_INTERCEPT_WBINVD        (1u << 9)
#define SVM_INTERCEPT_MONITOR       (1u << 10)
#define SVM_INTERCEPT_MWAIT         (1u << 11)
#define SVM_INTERCEPT_MWAIT_COND    (1u << 12)
#define SVM_INTERCEPT_XSETBV        (1u << 13)

/* TLB_CONTROL (offset 0x05C). */
#define TLB_CONTROL_DO_NOTHING      0
#define TLB_CONTROL_FLUSH_ALL       1       /* every ASID: the only value without FlushByAsid */
#define TLB_CONTROL_FLUSH_ASID      3
#define TLB_CONTROL_FLUSH_ASID_LOCAL 7

/* Virtual interrupt control (offset 0x060). */
#define V_TPR_MASK                  0xFFul
#define V_IRQ                       (1ul << 8)
#define V_INTR_PRIO_SHIFT           16
#define V_IGN_TPR                   (1ul << 20)
#define V_INTR_MASKING              (1ul << 24)
#define V_INTR_VECTOR_SHIFT         32

/* Interrupt shadow (offset 0x068). */
#define SVM_INTERRUPT_SHADOW        (1ul << 0)

/* NP_ENABLE (offset 0x090). */
#define SVM_NP_ENABLE               (1ul << 0)

/* EVENTINJ (0x0A8) and EXITINTINFO (0x088) share one format. */
#define SVM_EVTINJ_VEC_MASK         0xFFul
#define SVM_EVTINJ_TYPE_SHIFT       8
#define SVM_EVTINJ_TYPE_MASK        (7ul << 8)
#define SVM_EVTINJ_TYPE_INTR        (0ul << 8)
#define SVM_EVTINJ_TYPE_NMI         (2ul << 8)
#define SVM_EVTINJ_TYPE_EXEPT       (3ul << 8)
#define SVM_EVTINJ_TYPE_SOFT        (4ul << 8)
#define SVM_EVTINJ_VALID_ERR        (1ul << 11)
#define SVM_EVTINJ_VALID            (1ul << 31)
#define SVM_EVTINJ_ERR_SHIFT        32

/* EXITINFO1 of an IOIO intercept. */
#define SVM_IOIO_TYPE_IN            (1ul << 0)
#define SVM_IOIO_STR                (1ul << 2)
#define SVM_IOIO_REP                (1ul << 3)
#define SVM_IOIO_SIZE_SHIFT         4       /* SZ8, SZ16, SZ32: bits 4-6, one-hot = 1, 2, 4 */
#define SVM_IOIO_SIZE_MASK          (7ul << 4)
#define SVM_IOIO_PORT_SHIFT         16

/* EXITINFO1 of a nested page fault. */
#define SVM_NPF_P                   (1ul << 0)
#define SVM_NPF_RW                  (1ul << 1)
#define SVM_NPF_US                  (1ul << 2)
#define SVM_NPF_RSV                 (1ul << 3)
#define SVM_NPF_ID                  (1ul << 4)
#define SVM_NPF_GPA                 (1ul << 32)     /* fault on the final guest-physical access */
#define SVM_NPF_GPT                 (1ul << 33)     /* fault while walking the guest's tables */

struct vmcb_control {
    uint32_t intercept_cr;          /* 0x000: reads 15:0, writes 31:16 */
    uint32_t intercept_dr;          /* 0x004 */
    uint32_t intercept_exceptions;  /* 0x008 */
    uint32_t intercept_misc1;       /* 0x00C: intercept vector 3 */
    uint32_t intercept_misc2;       /* 0x010: intercept vector 4 */
    uint32_t intercept_misc3;       /* 0x014: intercept vector 5 */
    uint8_t  rsvd1[0x03C - 0x018];
    uint16_t pause_filter_thresh;   /* 0x03C */
    uint16_t pause_filter_count;    /* 0x03E */
    uint64_t iopm_base_pa;          /* 0x040 */
    uint64_t msrpm_base_pa;         /* 0x048 */
    uint64_t tsc_offset;            /* 0x050 */
    uint32_t asid;                  /* 0x058 */
    uint8_t  tlb_control;           /* 0x05C */
    uint8_t  rsvd2[3];
    uint64_t int_ctl;               /* 0x060: V_TPR, V_IRQ, V_INTR_MASKING, ... */
    uint64_t int_state;             /* 0x068: interrupt shadow */
    uint64_t exit_code;             /* 0x070 */
    uint64_t exit_info_1;           /* 0x078 */
    uint64_t exit_info_2;           /* 0x080 */
    uint64_t exit_int_info;         /* 0x088 */
    uint64_t np_enable;             /* 0x090 */
    uint64_t avic_apic_bar;         /* 0x098 */
    uint64_t ghcb_pa;               /* 0x0A0 */
    uint64_t event_inj;             /* 0x0A8 */
    uint64_t n_cr3;                 /* 0x0B0 */
    uint64_t virt_ext;              /* 0x0B8: LBR virtualization, virtual VMSAVE/VMLOAD */
    uint32_t clean;                 /* 0x0C0: VMCB clean bits */
    uint32_t rsvd3;
    uint64_t next_rip;              /* 0x0C8: nRIP (with NRIPS) */
    uint8_t  insn_len;              /* 0x0D0: bytes fetched (decode assists) */
    uint8_t  insn_bytes[15];        /* 0x0D1 */
    uint8_t  rsvd4[0x400 - 0x0E0];
} __attribute__((packed));

struct vmcb_seg {
    uint16_t selector;
    uint16_t attrib;                /* descriptor bits 40-47 in 7:0, bits 52-55 in 11:8 */
    uint32_t limit;
    uint64_t base;
} __attribute__((packed));

struct vmcb_save {
    struct vmcb_seg es, cs, ss, ds, fs, gs;     /* 0x400 */
    struct vmcb_seg gdtr, ldtr, idtr, tr;       /* 0x460 */
    uint8_t  rsvd1[0x4CB - 0x4A0];
    uint8_t  cpl;                   /* 0x4CB */
    uint32_t rsvd2;
    uint64_t efer;                  /* 0x4D0 */
    uint8_t  rsvd3[0x548 - 0x4D8];
    uint64_t cr4;                   /* 0x548 */
    uint64_t cr3;                   /* 0x550 */
    uint64_t cr0;                   /* 0x558 */
    uint64_t dr7;                   /* 0x560 */
    uint64_t dr6;                   /* 0x568 */
    uint64_t rflags;                /* 0x570 */
    uint64_t rip;                   /* 0x578 */
    uint8_t  rsvd4[0x5D8 - 0x580];
    uint64_t rsp;                   /* 0x5D8 */
    uint64_t s_cet, ssp, isst_addr; /* 0x5E0 */
    uint64_t rax;                   /* 0x5F8 */
    uint64_t star;                  /* 0x600 */
    uint64_t lstar;                 /* 0x608 */
    uint64_t cstar;                 /* 0x610 */
    uint64_t sfmask;                /* 0x618 */
    uint64_t kernel_gs_base;        /* 0x620 */
    uint64_t sysenter_cs;           /* 0x628 */
    uint64_t sysenter_esp;          /* 0x630 */
    uint64_t sysenter_eip;          /* 0x638 */
    uint64_t cr2;                   /* 0x640 */
    uint8_t  rsvd5[0x668 - 0x648];
    uint64_t g_pat;                 /* 0x668 */
    uint64_t dbgctl;                /* 0x670 */
    uint64_t br_from, br_to;        /* 0x678 */
    uint64_t last_excp_from, last_excp_to;  /* 0x688 */
} __attribute__((packed));

struct vmcb {
    struct vmcb_control control;
    struct vmcb_save save;
} __attribute__((packed, aligned(4096)));

_Static_assert(__builtin_offsetof(struct vmcb, control.exit_code) == 0x070, "VMCB layout");
_Static_assert(__builtin_offsetof(struct vmcb, control.event_inj) == 0x0A8, "VMCB layout");
_Static_assert(__builtin_offsetof(struct vmcb, control.next_rip) == 0x0C8, "VMCB layout");
_Static_assert(__builtin_offsetof(struct vmcb, save.tr) == 0x490, "VMCB layout");
_Static_assert(__builtin_offsetof(struct vmcb, save.cpl) == 0x4CB, "VMCB layout");
_Static_assert(__builtin_offsetof(struct vmcb, save.efer) == 0x4D0, "VMCB layout");
_Static_assert(__builtin_offsetof(struct vmcb, save.cr4) == 0x548, "VMCB layout");
_Static_assert(__builtin_offsetof(struct vmcb, save.rip) == 0x578, "VMCB layout");
_Static_assert(__builtin_offsetof(struct vmcb, save.rsp) == 0x5D8, "VMCB layout");
_Static_assert(__builtin_offsetof(struct vmcb, save.rax) == VMCB_SAVE_RAX, "VMCB layout");
_Static_assert(__builtin_offsetof(struct vmcb, save.cr2) == 0x640, "VMCB layout");
_Static_assert(__builtin_offsetof(struct vmcb, save.g_pat) == 0x668, "VMCB layout");

/* Segment attributes in the VMCB's compressed form. */
#define SVM_SEG_TYPE_CODE32         0xC9B   /* G, D, P, S, execute/read, accessed */
#define SVM_SEG_TYPE_CODE64         0xA9B   /* G, L, P, S, execute/read, accessed */
#define SVM_SEG_TYPE_DATA32         0xC93   /* G, B, P, S, read/write, accessed */
#define SVM_SEG_TYPE_TSS32_BUSY     0x08B
#define SVM_SEG_TYPE_LDT            0x082
#define SVM_SEG_L                   (1u << 9)
#define SVM_SEG_DB                  (1u << 10)

/* ---- Exit codes (appendix C) ---- */
#define SVM_EXIT_READ_CR0           0x000   /* 0x000-0x00F: CRn reads */
#define SVM_EXIT_WRITE_CR0          0x010   /* 0x010-0x01F: CRn writes */
#define SVM_EXIT_READ_DR0           0x020   /* 0x020-0x02F */
#define SVM_EXIT_WRITE_DR0          0x030   /* 0x030-0x03F */
#define SVM_EXIT_EXCP_BASE          0x040   /* 0x040-0x05F: exception vector n */
#define SVM_EXIT_INTR               0x060
#define SVM_EXIT_NMI                0x061
#define SVM_EXIT_SMI                0x062
#define SVM_EXIT_INIT               0x063
#define SVM_EXIT_VINTR              0x064
#define SVM_EXIT_CR0_SEL_WRITE      0x065
#define SVM_EXIT_IDTR_READ          0x066
#define SVM_EXIT_GDTR_READ          0x067
#define SVM_EXIT_LDTR_READ          0x068
#define SVM_EXIT_TR_READ            0x069
#define SVM_EXIT_IDTR_WRITE         0x06A
#define SVM_EXIT_GDTR_WRITE         0x06B
#define SVM_EXIT_LDTR_WRITE         0x06C
#define SVM_EXIT_TR_WRITE           0x06D
#define SVM_EXIT_RDTSC              0x06E
#define SVM_EXIT_RDPMC              0x06F
#define SVM_EXIT_PUSHF              0x070
#define SVM_EXIT_POPF               0x071
#define SVM_EXIT_CPUID              0x072
#define SVM_EXIT_RSM                0x073
#define SVM_EXIT_IRET               0x074
#define SVM_EXIT_SWINT              0x075
#define SVM_EXIT_INVD               0x076
#define SVM_EXIT_PAUSE              0x077
#define SVM_EXIT_HLT                0x078
#define SVM_EXIT_INVLPG             0x079
#define SVM_EXIT_INVLPGA            0x07A
#define SVM_EXIT_IOIO               0x07B
#define SVM_EXIT_MSR                0x07C
#define SVM_EXIT_TASK_SWITCH        0x07D
#define SVM_EXIT_FERR_FREEZE        0x07E
#define SVM_EXIT_SHUTDOWN           0x07F
#define SVM_EXIT_VMRUN              0x080
#define SVM_EXIT_VMMCALL            0x081
#define SVM_EXIT_VMLOAD             0x082
#define SVM_EXIT_VMSAVE             0x083
#define SVM_EXIT_STGI               0x084
#define SVM_EXIT_CLGI               0x085
#define SVM_EXIT_SKINIT             0x086
#define SVM_EXIT_RDTSCP             0x087
#define SVM_EXIT_ICEBP              0x088
#define SVM_EXIT_WBINVD             0x089
#define SVM_EXIT_MONITOR            0x08A
#define SVM_EXIT_MWAIT              0x08B
#define SVM_EXIT_MWAIT_COND         0x08C
#define SVM_EXIT_XSETBV             0x08D
#define SVM_EXIT_RDPRU              0x08E
#define SVM_EXIT_EFER_WRITE_TRAP    0x08F
#define SVM_EXIT_CR0_WRITE_TRAP     0x090   /* 0x090-0x09F */
#define SVM_EXIT_INVLPGB            0x0A0
#define SVM_EXIT_INVLPGB_ILLEGAL    0x0A1
#define SVM_EXIT_INVPCID            0x0A2
#define SVM_EXIT_MCOMMIT            0x0A3
#define SVM_EXIT_TLBSYNC            0x0A4
#define SVM_EXIT_BUSLOCK            0x0A5
#define SVM_EXIT_IDLE_HLT           0x0A6
#define SVM_EXIT_NPF                0x400
#define SVM_EXIT_AVIC_INCOMPLETE_IPI 0x401
#define SVM_EXIT_AVIC_NOACCEL       0x402
#define SVM_EXIT_VMGEXIT            0x403
#define SVM_EXIT_INVALID            ((uint64_t)-1)  /* VMEXIT_INVALID: VMRUN refused the VMCB */
#define SVM_EXIT_BUSY               ((uint64_t)-2)

/* Exit codes as the 32-bit values the counters and traces use. */
#define SVM_EXIT32_INVALID          0xFFFFFFFFu
#define SVM_EXIT32_BUSY             0xFFFFFFFEu

/* Compact counter index: codes 0x000-0x0FF as themselves, 0x400-0x43E at 0x100-0x13E, everything
 * else (VMEXIT_INVALID included) in the last slot. */
#define SVM_IDX_HIGH_BASE           0x100
#define SVM_IDX_OTHER               (EXIT_SLOTS - 1)

static inline unsigned svm_exit_index(uint32_t code)
{
    if (__builtin_expect(code < 0x100, 1))
        return code;
    if (code - SVM_EXIT_NPF < SVM_IDX_OTHER - SVM_IDX_HIGH_BASE)
        return SVM_IDX_HIGH_BASE + (code - SVM_EXIT_NPF);
    return SVM_IDX_OTHER;
}

/* ---- svm/ internals ---- */

/* Per physical CPU (percpu->vendor). */
struct svm_cpu {
    uint64_t hsave_pa;              /* VM_HSAVE_PA: where VMRUN keeps host state */
    uint64_t host_vmcb_pa;          /* host FS/GS/TR/LDTR/syscall MSRs, by VMSAVE/VMLOAD */
};

/* Per vCPU (vcpu->vendor); the VMCB is the page before it. */
struct svm_vcpu {
    struct vmcb *vmcb;              /* identity-mapped: also its physical address */
    uint32_t asid;
    volatile bool flush_pending;    /* gpt_flush: flush the ASID at the next VMRUN */
    const char *bad_state;          /* a failed VMRUN consistency check, found before entry */
    bool nmi_masked;                /* an injected NMI's handler has not returned (IRET) yet */
    uint64_t iret_rip;              /* NMIs unblock once the guest has left the IRET here */
    uint8_t vtpr;                   /* V_TPR as last written: a change is a guest MOV CR8 */
    bool tf_ours, tf_guest;         /* gdb's single-step set RFLAGS.TF; the guest's own TF */
};

static inline struct vmcb *svm_vmcb(const struct vcpu *v)
{
    return ((const struct svm_vcpu *)v->vendor)->vmcb;
}

/* CPU features found by probe(). */
struct svm_caps {
    bool nrips, flush_by_asid, decode_assists, vmcb_clean, page1gb;
    uint32_t nasid;
    uint8_t tlb_flush;              /* TLB_CONTROL value that flushes one ASID */
};
extern struct svm_caps svm_caps;

typedef int (*svm_exit_fn)(struct vcpu *v);
#define SVM_EXIT_TABLE_SIZE         (SVM_EXIT_VMGEXIT + 1)
extern const svm_exit_fn svm_exit_table[SVM_EXIT_TABLE_SIZE];
int svm_exit_cr_write(struct vcpu *v);     /* svm_cr.c: CR0 (selective), CR3, CR4 writes */
extern const uint8_t svm_insn_len[SVM_EXIT_TABLE_SIZE];
extern const uint8_t svm_insn_start[SVM_EXIT_TABLE_SIZE][2];
int svm_exit_other(struct vcpu *v);             /* codes beyond the table (VMEXIT_INVALID) */

/* svm_entry.S: loads the guest GPRs from v->gpr (RAX through the VMCB), runs the guest with
 * VMLOAD/VMRUN/VMSAVE, stores them back and restores the host's VMSAVE state. Keeps RBX, R12,
 * RBP and RDI, clobbers the other GPRs: call it only through svm_enter(). */
void svm_vmrun(void);

static inline __attribute__((always_inline)) void svm_enter(struct vcpu *v, uint64_t vmcb_pa,
                                                            uint64_t host_vmcb_pa)
{
    __asm__ volatile("call svm_vmrun"
                     : "+a"(vmcb_pa), "+d"(host_vmcb_pa)
                     : "D"(v)
                     : "rcx", "rsi", "r8", "r9", "r10", "r11", "r13", "r14", "r15", "memory", "cc");
}

/* svm_debug.c: gdb's intercepts and single-step */
void svm_set_debug(struct vcpu *v, unsigned flags);
int svm_exit_excp_db(struct vcpu *v);
int svm_exit_excp_bp(struct vcpu *v);
int svm_exit_swint(struct vcpu *v);

/* svm_exit.c */
unsigned svm_exit_index_op(uint32_t code);
const char *svm_exit_name(uint32_t code);
uint32_t svm_exit_code(unsigned index);
const char *svm_check_state(const struct vmcb *vmcb);  /* NULL if VMRUN would accept it */

/* npt.c */
extern struct pt_format svm_npt_format;
uint64_t svm_npt_leaf(unsigned rights, enum gpa_mem_type mt);
unsigned svm_npt_rights(uint64_t leaf);
void svm_npt_flush(struct vm *vm);

#endif /* __ASSEMBLY__ */
#endif
