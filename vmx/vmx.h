/* Intel VMX backend: private state and the VMX instruction wrappers shared by the files in
 * vmx/. Nothing outside vmx/ includes this file; common code sees only `vmx_vendor`
 * (kernel/virt/vendor.h). */
#ifndef VMX_VMX_H
#define VMX_VMX_H

#include <stdint.h>
#include <stdbool.h>
#include "kernel/virt/vcpu.h"
#include "kernel/virt/vendor.h"
#include "vmx/vmcs.h"

struct vm;

/* What probe() learned from the capability MSRs (the same on every CPU). */
struct vmx_caps {
    uint32_t revision;
    uint32_t pin, cpu, sec, exit, entry;    /* controls we run with, adjusted to the CPU */
    uint64_t cr0_fixed0, cr0_fixed1, cr4_fixed0, cr4_fixed1;
    uint64_t ept_vpid;                      /* IA32_VMX_EPT_VPID_CAP */
    unsigned preempt_rate;                  /* timer counts TSC >> rate */
    int invept_type, invvpid_type;          /* 0 when not available */
    bool nmi_window;                        /* virtual NMIs with NMI-window exiting */
};
extern struct vmx_caps vmx_caps;

/* Per physical CPU (percpu->vendor). */
struct vmx_cpu {
    uint64_t vmxon_pa;              /* VMXON region */
    struct vmx_vcpu *current;       /* whose VMCS is current on this CPU, if any */
    bool on;
};

/* The guest-visible state kept in software while the VMCS is not loaded anywhere (before the
 * first run, after the vCPU stopped): get_reg/set_reg use it then. */
struct vmx_soft_regs {
    uint64_t r[VREG_COUNT];
};

/* Per vCPU (vcpu->vendor). One 4 KiB page; the VMCS is the page after it. */
struct vmx_vcpu {
    uint64_t vmcs_pa;
    uint64_t host_rsp;              /* HOST_RSP last written (vmx_entry.S skips equal writes) */
    bool launched;                  /* VMLAUNCH done since the last VMCLEAR (set by vmx_entry.S) */
    bool setup;                     /* the VMCS holds a full state (else: soft regs are it) */
    volatile bool flush_ept;        /* gpt_flush from another CPU: INVEPT before entering */
    int cpu;                        /* CPU where the VMCS is active, -1 if clear */
    uint32_t cpu_ctls;              /* primary controls as last written (interrupt window) */
    uint32_t soft_dirty;            /* VREG bits set while clear: written at the next load */
    uint64_t cr0_mask, cr4_mask;    /* guest/host masks: bits Keel owns */
    bool nmi_blocked;               /* an injected NMI's handler has not returned yet */
    bool tf_ours, tf_guest;         /* gdb's step set RFLAGS.TF (no MTF); the guest's own TF */
    struct vmx_soft_regs soft;
};

/* vmx_entry.S knows these offsets. */
_Static_assert(__builtin_offsetof(struct vmx_vcpu, host_rsp) == 0x08, "VV_HOST_RSP");
_Static_assert(__builtin_offsetof(struct vmx_vcpu, launched) == 0x10, "VV_LAUNCHED");
_Static_assert(__builtin_offsetof(struct vcpu, gpr) == 0, "vcpu.gpr");

/* VMX instructions. The VMCS ones assume a current VMCS; failures are caught where they can
 * happen (VMPTRLD, VMLAUNCH/VMRESUME), not on every field access. */
static inline uint64_t vmread(enum vmcs_field f)
{
    uint64_t v;
    __asm__ volatile("vmread %1, %0" : "=r"(v) : "r"((uint64_t)f) : "cc");
    return v;
}

static inline void vmwrite(enum vmcs_field f, uint64_t v)
{
    __asm__ volatile("vmwrite %1, %0" :: "r"((uint64_t)f), "rm"(v) : "cc", "memory");
}

static inline bool vmxon(uint64_t pa)
{
    bool bad;
    __asm__ volatile("vmxon %1; setbe %0" : "=q"(bad) : "m"(pa) : "cc", "memory");
    return !bad;
}

static inline bool vmclear(uint64_t pa)
{
    bool bad;
    __asm__ volatile("vmclear %1; setbe %0" : "=q"(bad) : "m"(pa) : "cc", "memory");
    return !bad;
}

static inline bool vmptrld(uint64_t pa)
{
    bool bad;
    __asm__ volatile("vmptrld %1; setbe %0" : "=q"(bad) : "m"(pa) : "cc", "memory");
    return !bad;
}

static inline void invept(int type, uint64_t eptp)
{
    struct { uint64_t eptp, zero; } d = { eptp, 0 };
    __asm__ volatile("invept %0, %1" :: "m"(d), "r"((uint64_t)type) : "cc", "memory");
}

static inline void invvpid(int type, uint16_t vpid)
{
    struct { uint64_t vpid, addr; } d = { vpid, 0 };
    __asm__ volatile("invvpid %0, %1" :: "m"(d), "r"((uint64_t)type) : "cc", "memory");
}

static inline struct vmx_vcpu *to_vmx(struct vcpu *v) { return v->vendor; }

/* vmx.c: VMCS life cycle and guest registers (the current VMCS is v's) */
extern struct vmx_cpu vmx_cpus[];
int vmx_load_vmcs(struct vcpu *v);                      /* make v's VMCS current here; 0 or -1 */
void vmx_unload_vmcs(struct vcpu *v);                   /* VMCLEAR; state kept in soft regs */
uint64_t vmx_get_reg(struct vcpu *v, enum vreg r);
void vmx_set_reg(struct vcpu *v, enum vreg r, uint64_t val);
uint64_t vmx_guest_cr0(void);                           /* as the guest sees it */
uint64_t vmx_guest_cr4(void);
uint64_t vmx_cr4_guest_reserved(void);                  /* CR4 bits a guest may not set */
void vmx_load_cr0(struct vcpu *v, uint64_t val);        /* guest view in, real + shadow out */
void vmx_load_cr3(struct vcpu *v, uint64_t val);
void vmx_load_cr4(struct vcpu *v, uint64_t val);
void vmx_set_efer(struct vcpu *v, uint64_t efer);       /* LMA and IA-32e mode follow CR0.PG */
bool vmx_read_pdptes(struct vcpu *v, uint64_t cr3, uint64_t pdpte[4]);
void vmx_flush_guest_tlb(struct vcpu *v);               /* this vCPU's VPID-tagged entries */

#define GUEST_DR7_DEFAULT       0x400ul
#define RFLAGS_FIXED            0x2ul
#define AR_TSS_BUSY             0x008Bu     /* P, busy 32/64-bit TSS */

/* Segment fields are laid out ES, CS, SS, DS, FS, GS, LDTR, TR, two apart in each group. */
enum vmx_seg { SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS, SEG_LDTR, SEG_TR };
void vmx_write_seg(enum vmx_seg s, uint16_t sel, uint64_t base, uint32_t limit, uint32_t ar);
/* vmx/vmx_state.c */
void vmx_reset(struct vcpu *v, uint8_t vector);
void vmx_entry_long_mode(struct vcpu *v, uint64_t *r);     /* vmx_state.c */
void vmx_get_state(struct vcpu *v, struct vcpu_snapshot *st);

/* vmx_debug.c: gdb's intercepts and single-step (monitor trap flag) */
void vmx_set_debug(struct vcpu *v, unsigned flags);
int vmx_debug_exception(struct vcpu *v, uint32_t intr_info);
int vmx_exit_mtf(struct vcpu *v);

/* ept.c */
extern struct pt_format vmx_ept_format;
uint64_t vmx_eptp(struct vm *vm);
uint64_t vmx_gpt_leaf(unsigned rights, enum gpa_mem_type mt);
unsigned vmx_gpt_rights(uint64_t leaf);
void vmx_gpt_flush(struct vm *vm);
void vmx_ept_flush_pending(struct vcpu *v);             /* before entry, if flush_ept */

/* vmx_exit.c */
void vmx_vcpu_run(struct vcpu *v);
unsigned vmx_exit_index(uint32_t code);
const char *vmx_exit_name(uint32_t code);
uint32_t vmx_exit_code(unsigned index);

#endif
