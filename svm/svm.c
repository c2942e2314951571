/* AMD SVM backend: feature probe, per-CPU enabling, the VMCB of a vCPU, and the exit loop.
 * The exit table is in svm_exit.c, nested paging in npt.c, the entry stub in svm_entry.S. */
#include "svm/svm.h"
#include "kernel/virt/exit.h"
#include "kernel/virt/intr.h"
#include "kernel/virt/vm.h"
#include "kernel/log.h"
#include "kernel/percpu.h"
#include "kernel/spinlock.h"
#include "kernel/x86.h"
#include "mm/pmm.h"

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define IOPM_PAGES      3       /* 12 KiB: one bit per port, plus the tail for wide accesses */
#define MSRPM_PAGES     2       /* 8 KiB: two bits (read, write) per MSR in three ranges */
#define GUEST_PAT       0x0007040600070406ul    /* the power-on PAT */
#define DR6_INIT        0xFFFF0FF0ul
#define DR7_INIT        0x400ul
#define RFLAGS_FIXED    0x2ul
#define ENTRY_CS        0x08
#define ENTRY_DS        0x10
#define ENTRY_TR        0x18

_Static_assert(__builtin_offsetof(struct vcpu, gpr) == 0, "svm_entry.S expects gpr at 0");

struct svm_caps svm_caps;
static struct svm_cpu svm_cpus[MAX_CPUS];
static uint64_t iopm_pa, msrpm_pa;
static spinlock_t bitmap_lock = SPINLOCK_INIT;

static inline void vmsave(uint64_t pa) { __asm__ volatile("vmsave %%rax" :: "a"(pa) : "memory"); }

/* ---- probe and per-CPU enabling ---- */

static bool svm_probe(const char **why)
{
    struct cpuid_regs r;
    cpuid_count(0x80000000, 0, &r);
    if (r.eax < CPUID_SVM_FEATURES) {
        *why = "no SVM (CPUID has no leaf 0x8000000A)";
        return false;
    }
    cpuid_count(0x80000001, 0, &r);
    if (!(r.ecx & CPUID_8000_0001_ECX_SVM)) {
        *why = "no SVM (CPUID 0x80000001 ECX.SVM clear)";
        return false;
    }
    svm_caps.page1gb = r.edx & CPUID_8000_0001_EDX_PAGE1GB;
    /* Bochs does not implement VM_CR (reads 0); a #GP also means "not locked out". */
    uint64_t vm_cr = 0;
    if (rdmsr_safe(MSR_VM_CR, &vm_cr) && (vm_cr & VM_CR_SVMDIS)) {
        *why = "SVM disabled by firmware (VM_CR.SVMDIS)";
        return false;
    }
    cpuid_count(CPUID_SVM_FEATURES, 0, &r);
    if (!(r.edx & CPUID_8000_000A_EDX_NP)) {
        *why = "no nested paging (CPUID 0x8000000A EDX.NP clear)";
        return false;
    }
    if (r.ebx < 2) {
        *why = "no guest ASIDs (CPUID 0x8000000A EBX < 2)";
        return false;
    }
    svm_caps.nasid = r.ebx;
    svm_caps.nrips = r.edx & CPUID_8000_000A_EDX_NRIPS;
    svm_caps.flush_by_asid = r.edx & CPUID_8000_000A_EDX_FLUSHBYASID;
    svm_caps.decode_assists = r.edx & CPUID_8000_000A_EDX_DECODEASSISTS;
    svm_caps.vmcb_clean = r.edx & CPUID_8000_000A_EDX_VMCBCLEAN;
    svm_caps.tlb_flush = svm_caps.flush_by_asid ? TLB_CONTROL_FLUSH_ASID : TLB_CONTROL_FLUSH_ALL;
    svm_npt_format.leaf_1g_ok = svm_caps.page1gb;
    pr_info("svm: %u ASIDs, NRIPS %s, flush by ASID %s, decode assists %s, 1G NPT pages %s\n",
            svm_caps.nasid, svm_caps.nrips ? "yes" : "no (next RIP from instruction lengths)",
            svm_caps.flush_by_asid ? "yes" : "no", svm_caps.decode_assists ? "yes" : "no",
            svm_caps.page1gb ? "yes" : "no");
    return true;
}

/* Two bits per MSR: read intercept, then write intercept. MSRs outside the three ranges always
 * exit. */
static void msr_pass(uint8_t *pm, uint32_t msr)
{
    uint32_t base;
    if (msr < 0x2000)
        base = 0x000;
    else if (msr - 0xC0000000u < 0x2000)
        base = 0x800, msr -= 0xC0000000u;
    else if (msr - 0xC0010000u < 0x2000)
        base = 0x1000, msr -= 0xC0010000u;
    else
        return;
    pm[base + msr / 4] &= (uint8_t)~(3u << (msr % 4 * 2));
}

/* Shared by every vCPU: every port exits; every MSR exits except those VMLOAD/VMSAVE switch,
 * which the guest may use freely. EFER, PAT and the TSC go through kernel/virt/guest_msr.c. */
static int alloc_bitmaps(void)
{
    spin_lock(&bitmap_lock);
    if (!iopm_pa) {
        uint64_t io = pmm_alloc(IOPM_PAGES, 1, PMM_OWNER_KEEL);
        uint64_t msr = pmm_alloc(MSRPM_PAGES, 1, PMM_OWNER_KEEL);
        if (io && msr) {
            uint8_t *p = phys_to_virt(io);
            for (uint64_t i = 0; i < IOPM_PAGES * PAGE_SIZE; i++)
                p[i] = 0xFF;
            p = phys_to_virt(msr);
            for (uint64_t i = 0; i < MSRPM_PAGES * PAGE_SIZE; i++)
                p[i] = 0xFF;
            static const uint32_t pass[] = {
                MSR_FS_BASE, MSR_GS_BASE, MSR_KERNEL_GS_BASE, MSR_STAR, MSR_LSTAR, MSR_CSTAR,
                MSR_SFMASK, 0x174 /* SYSENTER_CS */, 0x175 /* SYSENTER_ESP */,
                0x176 /* SYSENTER_EIP */,
            };
            for (unsigned i = 0; i < sizeof pass / sizeof pass[0]; i++)
                msr_pass(p, pass[i]);
            iopm_pa = io;
            msrpm_pa = msr;
        } else {
            if (io)
                pmm_free(io, IOPM_PAGES, PMM_OWNER_KEEL);
            if (msr)
                pmm_free(msr, MSRPM_PAGES, PMM_OWNER_KEEL);
        }
    }
    spin_unlock(&bitmap_lock);
    return iopm_pa ? 0 : -1;
}

static int svm_cpu_enable(void)
{
    struct percpu *pc = this_cpu();
    struct svm_cpu *c = &svm_cpus[pc->id];
    uint64_t vm_cr = 0;
    if (rdmsr_safe(MSR_VM_CR, &vm_cr) && (vm_cr & VM_CR_SVMDIS)) {
        pr_err("svm: cpu %u: SVM disabled by firmware (VM_CR.SVMDIS)\n", pc->id);
        return -1;
    }
    if (alloc_bitmaps() != 0)
        return -1;
    if (!c->hsave_pa) {
        c->hsave_pa = pmm_alloc(1, 1, PMM_OWNER_KEEL);
        c->host_vmcb_pa = pmm_alloc(1, 1, PMM_OWNER_KEEL);
        if (!c->hsave_pa || !c->host_vmcb_pa)
            return -1;
    }
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SVME);
    wrmsr(MSR_VM_HSAVE_PA, c->hsave_pa);
    vmsave(c->host_vmcb_pa);
    pc->vendor = c;
    return 0;
}

/* ---- vCPU setup ---- */

static void seg(struct vmcb_seg *s, uint16_t sel, uint16_t attrib, uint32_t limit)
{
    *s = (struct vmcb_seg){ .selector = sel, .attrib = attrib, .limit = limit, .base = 0 };
}

/* ASIDs: one per vCPU, from its uid. A CPU with fewer ASIDs than vCPUs (QEMU has 16, so 15
 * usable) makes uids wrap and share one. That is safe because TLB entries are per physical CPU,
 * a physical CPU runs one vCPU at a time, and vcpu_run flushes its ASID on the first entry. */
static uint32_t asid_for(const struct vcpu *v)
{
    return 1 + (v->uid - 1) % (svm_caps.nasid - 1);
}

static int svm_vcpu_init(struct vcpu *v)
{
    uint64_t pa = pmm_alloc(2, 1, vm_owner(v->vm));
    if (!pa)
        return -1;
    struct vmcb *vmcb = phys_to_virt(pa);
    struct svm_vcpu *s = phys_to_virt(pa + PAGE_SIZE);
    s->vmcb = vmcb;
    s->asid = asid_for(v);
    v->vendor = s;

    struct vmcb_control *c = &vmcb->control;
    c->intercept_exceptions = 1u << X86_DF | 1u << X86_AC;    /* see svm_exit.c */
    c->intercept_cr = 1u << (16 + 0) | 1u << (16 + 3) | 1u << (16 + 4) | 1u << (16 + 8);
                                                  /* CR0/3/4/8 writes: svm_cr.c */
    c->intercept_misc1 = SVM_INTERCEPT_INTR | SVM_INTERCEPT_NMI | SVM_INTERCEPT_INIT |
                         SVM_INTERCEPT_CPUID | SVM_INTERCEPT_INVD | SVM_INTERCEPT_HLT |
                         SVM_INTERCEPT_INVLPGA | SVM_INTERCEPT_IOIO_PROT |
                         SVM_INTERCEPT_MSR_PROT | SVM_INTERCEPT_SHUTDOWN;
    c->intercept_misc2 = SVM_INTERCEPT_VMRUN | SVM_INTERCEPT_VMMCALL | SVM_INTERCEPT_VMLOAD |
                         SVM_INTERCEPT_VMSAVE | SVM_INTERCEPT_STGI | SVM_INTERCEPT_CLGI |
                         SVM_INTERCEPT_SKINIT | SVM_INTERCEPT_MONITOR | SVM_INTERCEPT_MWAIT |
                         SVM_INTERCEPT_MWAIT_COND | SVM_INTERCEPT_XSETBV | SVM_INTERCEPT_RDTSCP;
    c->iopm_base_pa = iopm_pa;
    c->msrpm_base_pa = msrpm_pa;
    c->tsc_offset = 0;
    c->asid = s->asid;
    c->tlb_control = svm_caps.tlb_flush;
    c->int_ctl = V_INTR_MASKING;
    c->np_enable = SVM_NP_ENABLE;
    c->n_cr3 = vm_gpt_root(v->vm);

    /* Multiboot entry: 32-bit protected mode, flat segments, paging off, IF=0. */
    struct vmcb_save *g = &vmcb->save;
    seg(&g->cs, ENTRY_CS, SVM_SEG_TYPE_CODE32, 0xFFFFFFFF);
    seg(&g->ds, ENTRY_DS, SVM_SEG_TYPE_DATA32, 0xFFFFFFFF);
    seg(&g->es, ENTRY_DS, SVM_SEG_TYPE_DATA32, 0xFFFFFFFF);
    seg(&g->fs, ENTRY_DS, SVM_SEG_TYPE_DATA32, 0xFFFFFFFF);
    seg(&g->gs, ENTRY_DS, SVM_SEG_TYPE_DATA32, 0xFFFFFFFF);
    seg(&g->ss, ENTRY_DS, SVM_SEG_TYPE_DATA32, 0xFFFFFFFF);
    seg(&g->tr, ENTRY_TR, SVM_SEG_TYPE_TSS32_BUSY, 0x67);
    seg(&g->ldtr, 0, SVM_SEG_TYPE_LDT, 0xFFFF);
    seg(&g->gdtr, 0, 0, 0xFFFF);
    seg(&g->idtr, 0, 0, 0xFFFF);
    g->cpl = 0;
    g->efer = EFER_SVME;
    g->cr0 = CR0_PE | CR0_ET;          /* as VMX guests see it: protected mode, nothing else */
    g->cr3 = 0;
    g->cr4 = 0;
    g->dr6 = DR6_INIT;
    g->dr7 = DR7_INIT;
    g->rflags = RFLAGS_FIXED;
    g->rip = v->entry_rip;
    g->rsp = 0;
    g->rax = v->entry_rax;
    g->g_pat = GUEST_PAT;
    if (v->entry_cr3) {     /* Linux's 64-bit entry: long mode on the loader's page tables */
        seg(&g->cs, ENTRY_CS, SVM_SEG_TYPE_CODE64, 0xFFFFFFFF);
        g->cr0 |= CR0_PG;
        g->cr3 = v->entry_cr3;
        g->cr4 = CR4_PAE;
        g->efer |= EFER_LME | EFER_LMA;
    }
    v->gpr[GPR_RAX] = v->entry_rax;
    v->gpr[GPR_RBX] = v->entry_rbx;
    s->bad_state = svm_check_state(vmcb);
    return 0;
}

static void svm_vcpu_free(struct vcpu *v)
{
    struct svm_vcpu *s = v->vendor;
    if (!s)
        return;
    v->vendor = 0;
    pmm_free(virt_to_phys(s->vmcb), 2, vm_owner(v->vm));
}

/* ---- registers ---- */

/* CS attributes are exchanged in the descriptor's layout (bits 40-55 shifted down: type, S,
 * DPL, P in 7:0; AVL, L, D/B, G in 15:12), the same as VMX access rights; the VMCB keeps them
 * compressed into 12 bits. */
static uint64_t svm_get_reg(struct vcpu *v, enum vreg r)
{
    const struct vmcb_save *g = &svm_vmcb(v)->save;
    switch (r) {
    case VREG_RIP:      return g->rip;
    case VREG_RSP:      return g->rsp;
    case VREG_RFLAGS:   return g->rflags;
    case VREG_CR0:      return g->cr0;
    case VREG_CR2:      return g->cr2;
    case VREG_CR3:      return g->cr3;
    case VREG_CR4:      return g->cr4;
    case VREG_EFER:     return g->efer & ~EFER_SVME;        /* the guest has no SVM */
    case VREG_CS_SEL:   return g->cs.selector;
    case VREG_CS_BASE:  return g->cs.base;
    case VREG_CS_ATTR:  return (g->cs.attrib & 0xFF) | ((uint64_t)(g->cs.attrib & 0xF00) << 4);
    case VREG_PAT:      return g->g_pat;
    case VREG_CPL:      return g->cpl;
    case VREG_DR6:      return g->dr6;
    case VREG_DR7:      return g->dr7;
    default:            return 0;
    }
}

static void svm_set_reg(struct vcpu *v, enum vreg r, uint64_t val)
{
    struct vmcb_save *g = &svm_vmcb(v)->save;
    switch (r) {
    case VREG_RIP:      g->rip = val; break;
    case VREG_RSP:      g->rsp = val; break;
    case VREG_RFLAGS:   g->rflags = val | RFLAGS_FIXED; break;
    case VREG_CR0:      g->cr0 = val; break;
    case VREG_CR2:      g->cr2 = val; break;
    case VREG_CR3:      g->cr3 = val; break;
    case VREG_CR4:      g->cr4 = val; break;
    /* VMRUN requires SVME; LMA is the CPU's to set (it follows LME and CR0.PG). */
    case VREG_EFER:     g->efer = (val & ~EFER_LMA) | (g->efer & EFER_LMA) | EFER_SVME; break;
    case VREG_CS_SEL:   g->cs.selector = (uint16_t)val; break;
    case VREG_CS_BASE:  g->cs.base = val; break;
    case VREG_CS_ATTR:  g->cs.attrib = (uint16_t)((val & 0xFF) | ((val >> 4) & 0xF00)); break;
    case VREG_PAT:      g->g_pat = val; break;
    case VREG_DR6:      g->dr6 = (uint32_t)val; break;
    case VREG_DR7:      g->dr7 = (uint32_t)val; break;
    default:            break;
    }
    if (r == VREG_RIP || r == VREG_RSP || r == VREG_RFLAGS || r == VREG_CR2)
        return;                                 /* no consistency check looks at these */
    struct svm_vcpu *s = v->vendor;
    s->bad_state = svm_check_state(s->vmcb);     /* for a VMEXIT_INVALID message */
}

/* Real-mode segment attributes after INIT (compressed VMCB layout). */
#define SVM_SEG_REAL_CODE   0x09B
#define SVM_SEG_REAL_DATA   0x093
#define CR0_INIT            (CR0_CD | CR0_NW | CR0_ET)

/* INIT (APM vol. 2 table 14-1), then the SIPI: real mode at vector:0000. */
static void svm_reset(struct vcpu *v, uint8_t vector)
{
    struct svm_vcpu *s = v->vendor;
    struct vmcb *vmcb = s->vmcb;
    struct vmcb_save *g = &vmcb->save;
    seg(&g->cs, (uint16_t)(vector << 8), SVM_SEG_REAL_CODE, 0xFFFF);
    g->cs.base = (uint64_t)vector << 12;
    seg(&g->ds, 0, SVM_SEG_REAL_DATA, 0xFFFF);
    seg(&g->es, 0, SVM_SEG_REAL_DATA, 0xFFFF);
    seg(&g->fs, 0, SVM_SEG_REAL_DATA, 0xFFFF);
    seg(&g->gs, 0, SVM_SEG_REAL_DATA, 0xFFFF);
    seg(&g->ss, 0, SVM_SEG_REAL_DATA, 0xFFFF);
    seg(&g->tr, 0, SVM_SEG_TYPE_TSS32_BUSY, 0xFFFF);
    seg(&g->ldtr, 0, SVM_SEG_TYPE_LDT, 0xFFFF);
    seg(&g->gdtr, 0, 0, 0xFFFF);
    seg(&g->idtr, 0, 0, 0xFFFF);
    g->cpl = 0;
    g->efer = EFER_SVME;
    g->cr0 = CR0_INIT;
    g->cr2 = g->cr3 = g->cr4 = 0;
    g->dr6 = DR6_INIT;
    g->dr7 = DR7_INIT;
    g->rflags = RFLAGS_FIXED;
    g->rip = g->rsp = g->rax = 0;
    struct vmcb_control *c = &vmcb->control;
    c->event_inj = 0;
    c->int_state = 0;
    c->int_ctl &= ~(V_IRQ | V_IGN_TPR | V_TPR_MASK);
    c->intercept_misc1 &= ~(SVM_INTERCEPT_VINTR | SVM_INTERCEPT_IRET);
    c->tlb_control = svm_caps.tlb_flush;
    s->nmi_masked = false;
    s->iret_rip = 0;
    s->vtpr = 0;
    struct cpuid_regs id;
    cpuid_count(1, 0, &id);
    for (unsigned i = 0; i < GPR_COUNT; i++)
        v->gpr[i] = 0;
    v->gpr[GPR_RDX] = id.eax;           /* the processor signature */
    s->bad_state = svm_check_state(vmcb);
}

static void svm_get_state(struct vcpu *v, struct vcpu_snapshot *st)
{
    const struct vmcb_save *g = &svm_vmcb(v)->save;
    st->rip = g->rip;
    st->rsp = g->rsp;
    st->rflags = g->rflags;
    st->cr0 = g->cr0;
    st->cr3 = g->cr3;
    st->cr4 = g->cr4;
    st->efer = g->efer & ~EFER_SVME;
    const struct vmcb_seg *segs[6] = { &g->es, &g->cs, &g->ss, &g->ds, &g->fs, &g->gs };
    for (int i = 0; i < 6; i++)
        st->seg_base[i] = segs[i]->base;
    st->cs_attr = (g->cs.attrib & 0xFF) | ((uint32_t)(g->cs.attrib & 0xF00) << 4);
    st->cpl = g->cpl;
}

/* ---- events ---- */

/* The oldest queued exception into EVENTINJ, unless an interrupted delivery is already there. */
static __attribute__((noinline)) void svm_inject_event(struct vcpu *v, struct vmcb *vmcb)
{
    struct vcpu_event e;
    if ((vmcb->control.event_inj & SVM_EVTINJ_VALID) || !vcpu_peek_event(v, &e))
        return;
    uint64_t ev = e.vector | ((uint64_t)e.type << SVM_EVTINJ_TYPE_SHIFT) | SVM_EVTINJ_VALID;
    if (e.has_error)
        ev |= SVM_EVTINJ_VALID_ERR | ((uint64_t)e.error << SVM_EVTINJ_ERR_SHIFT);
    vmcb->control.event_inj = ev;
    vcpu_pop_event(v);
    ((struct svm_vcpu *)v->vendor)->bad_state = svm_check_state(vmcb);
}

/* Interrupts and NMIs: kernel/virt/intr.c decides from what the guest can take now; this only
 * injects its choice and opens windows: a virtual interrupt (V_IRQ, ignoring V_TPR) with the
 * VINTR intercept exits as soon as the guest could take an interrupt; for NMIs, the IRET
 * intercept says when the guest's NMI handler returns. */
static __attribute__((noinline)) void svm_deliver_intr(struct vcpu *v, struct svm_vcpu *s,
                                                       struct vmcb *vmcb)
{
    struct vmcb_control *c = &vmcb->control;
    bool busy = c->event_inj & SVM_EVTINJ_VALID;
    bool shadow = c->int_state & SVM_INTERRUPT_SHADOW;
    if (s->iret_rip && vmcb->save.rip != s->iret_rip)
        s->iret_rip = 0;                /* the IRET has completed */
    bool irq_ok = !busy && !shadow && (vmcb->save.rflags & RFLAGS_IF);
    bool nmi_ok = !busy && !shadow && !s->nmi_masked && !s->iret_rip;
    uint8_t vector;
    unsigned r = intr_next(v, irq_ok, nmi_ok, &vector);
    if (r & INTR_INJECT_NMI) {
        c->event_inj = X86_NMI | SVM_EVTINJ_TYPE_NMI | SVM_EVTINJ_VALID;
        s->nmi_masked = true;
        c->intercept_misc1 |= SVM_INTERCEPT_IRET;
    } else if (r & INTR_INJECT_IRQ) {
        c->event_inj = vector | SVM_EVTINJ_TYPE_INTR | SVM_EVTINJ_VALID;
    }
    if (r & INTR_WINDOW_IRQ) {
        c->int_ctl |= V_IRQ | V_IGN_TPR;
        c->intercept_misc1 |= SVM_INTERCEPT_VINTR;
    } else if (c->intercept_misc1 & SVM_INTERCEPT_VINTR) {
        c->int_ctl &= ~(V_IRQ | V_IGN_TPR);
        c->intercept_misc1 &= ~SVM_INTERCEPT_VINTR;
    }
    s->vtpr = (uint8_t)vlapic_cr8(&v->lapic);
    c->int_ctl = (c->int_ctl & ~V_TPR_MASK) | s->vtpr;
}

/* The exit interrupted the delivery of an event (e.g. an NPF on the IDT or stack): deliver it
 * again on the next entry. Software interrupts and INT3/INTO are not re-injected but re-executed
 * (RIP still points at the instruction), which needs no next-RIP knowledge. */
static __attribute__((noinline)) void svm_redeliver(struct vmcb *vmcb)
{
    uint64_t info = vmcb->control.exit_int_info;
    uint64_t type = info & SVM_EVTINJ_TYPE_MASK;
    unsigned vec = info & SVM_EVTINJ_VEC_MASK;
    if (type == SVM_EVTINJ_TYPE_SOFT ||
        (type == SVM_EVTINJ_TYPE_EXEPT && (vec == X86_BP || vec == X86_OF)))
        return;
    vmcb->control.event_inj = info;
}

/* ---- the loop ---- */

/* The guest wrote CR8 (V_TPR): the vLAPIC's TPR follows, which may unmask an interrupt. */
static __attribute__((noinline)) void svm_tpr_changed(struct vcpu *v, struct svm_vcpu *s,
                                                      struct vmcb *vmcb)
{
    s->vtpr = (uint8_t)(vmcb->control.int_ctl & V_TPR_MASK);
    vlapic_set_cr8(&v->lapic, s->vtpr);
    v->intr_check = true;
}

/* Requests, blocking, and TLB flushes asked for by svm_npt_flush(). */
static __attribute__((noinline)) int svm_requests(struct vcpu *v, struct svm_vcpu *s)
{
    int a = exit_check_requests(v);
    if (a == EXIT_BLOCK)
        a = exit_wait(v);
    if (__atomic_exchange_n(&s->flush_pending, false, __ATOMIC_SEQ_CST))
        s->vmcb->control.tlb_control = svm_caps.tlb_flush;
    return a;
}

/* Exit codes from 0x100 up: counted, and their handler picked. svm_exit_other (codes beyond
 * the table) never returns EXIT_NEXT or EXIT_BLOCK, so svm_skip only sees table codes. */
static __attribute__((noinline)) svm_exit_fn svm_exit_high(struct vcpu *v, uint64_t code)
{
    v->exits[svm_exit_index((uint32_t)code)]++;
    return code < SVM_EXIT_TABLE_SIZE ? svm_exit_table[code] : svm_exit_other;
}

static __attribute__((noinline, cold)) int svm_no_length(struct vcpu *v, struct vmcb *vmcb,
                                                         uint64_t code)
{
    vm_stop(v->vm, "exit %s at rip=%#lx completed, but svm/ knows no next RIP for it",
            svm_exit_name((uint32_t)code), vmcb->save.rip);
    return EXIT_STOP;
}

/* The two bytes at RIP: straight from guest RAM while paging is off (multiboot guests, the
 * benchmark), else through the guest's page tables. */
static inline int svm_peek_code(struct vcpu *v, const struct vmcb *vmcb, uint8_t b[2])
{
    if (likely(!(vmcb->save.cr0 & CR0_PG))) {
        uint32_t la = (uint32_t)(vmcb->save.cs.base + vmcb->save.rip);
        const struct vm *vm = v->vm;
        if (la > vm->ram_size - 2)          /* low RAM is one block from 0 */
            return -1;
        const uint8_t *p = phys_to_virt(vm->ram_hpa + la);
        b[0] = p[0];
        b[1] = p[1];
        return 2;
    }
    return vcpu_peek_code(v, b, 2);
}

/* Without NRIPS the table's length holds for the plain encoding; the instruction at RIP is
 * checked against it, and anything else (prefixes: `ds cpuid`, `rep vmmcall`) is decoded. */
static inline bool svm_len_known(struct vcpu *v, struct vmcb *vmcb, uint64_t code, unsigned *len)
{
    uint8_t b[2];
    const uint8_t *want = svm_insn_start[code];
    int n = svm_peek_code(v, vmcb, b);
    /* RDMSR (0f 32) and WRMSR (0f 30) share an exit code: bit 1 of the second byte differs. */
    uint8_t mask = code == SVM_EXIT_MSR ? 0xFD : 0xFF;
    if (likely(n == 2 && b[0] == want[0] && (*len == 1 || (b[1] & mask) == (want[1] & mask))))
        return true;
    int l = vcpu_insn_length(v);
    if (l < 0)
        return false;
    *len = (unsigned)l;
    return true;
}

/* EXIT_NEXT: RIP goes past the exiting instruction, to nRIP when the CPU saves it, else by the
 * instruction's length. svm_insn_len lists the exits EXIT_NEXT is valid for (instruction
 * intercepts) in both cases, since nRIP means nothing after other exits; a handler completing
 * something else (a future MMIO emulator on an NPF) sets RIP itself and returns EXIT_RETRY.
 * `code` is below SVM_EXIT_TABLE_SIZE: svm_exit_other never returns EXIT_NEXT. */
static inline int svm_skip(struct vcpu *v, struct vmcb *vmcb, uint64_t code)
{
    unsigned len = svm_insn_len[code];
    if (unlikely(!len))
        return svm_no_length(v, vmcb, code);
    if (likely(svm_caps.nrips))
        vmcb->save.rip = vmcb->control.next_rip;
    else if (!svm_len_known(v, vmcb, code, &len))
        return EXIT_RETRY;                  /* the fetch faulted: the guest gets the #PF */
    else
        vmcb->save.rip += len;
    vmcb->control.int_state = 0;        /* completing an instruction ends an STI/MOV SS shadow */
    exit_insn_done(v, vmcb->save.rflags);
    return EXIT_RETRY;
}

/* Common code completed the instruction and moved RIP: that ends an interrupt shadow too. */
static inline int svm_emulated(struct vmcb *vmcb)
{
    vmcb->control.int_state = 0;
    return EXIT_RETRY;
}

static void svm_vcpu_run(struct vcpu *v)
{
    struct svm_vcpu *s = v->vendor;
    struct vmcb *vmcb = s->vmcb;
    struct percpu *pc = this_cpu();
    struct svm_cpu *cpu = pc->vendor;
    uint64_t vmcb_pa = virt_to_phys(vmcb), host_pa = cpu->host_vmcb_pa;

    vmsave(host_pa);                    /* the host's FS/GS/TR/... as they are now */
    s->bad_state = svm_check_state(vmcb);
    vmcb->control.tlb_control = svm_caps.tlb_flush;     /* this ASID may have run here before */
    for (;;) {
        if (unlikely(v->requests | pc->work | s->flush_pending) && svm_requests(v, s) == EXIT_STOP)
            return;
        if (unlikely(vcpu_has_event(v)))
            svm_inject_event(v, vmcb);
        if (unlikely(v->intr_check) && !(v->debug & VCPU_DBG_STEP))
            svm_deliver_intr(v, s, vmcb);

        /* VMRUN loads CR2 from the VMCB and #VMEXIT leaves the guest's in the register; Bochs
         * takes it from the register instead, so the register gets the VMCB's value first (an
         * injected #PF's CR2, e.g. an async PF token). */
        uint64_t cr2;
        __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
        if (unlikely(cr2 != vmcb->save.cr2))
            __asm__ volatile("mov %0, %%cr2" :: "r"(vmcb->save.cr2) : "memory");
        svm_enter(v, vmcb_pa, host_pa);

        /* VMRUN cleared EVENTINJ.V itself; an undelivered event is in EXITINTINFO. */
        uint64_t code = vmcb->control.exit_code;
        vmcb->control.tlb_control = TLB_CONTROL_DO_NOTHING;
        if (unlikely((uint8_t)(vmcb->control.int_ctl & V_TPR_MASK) != s->vtpr))
            svm_tpr_changed(v, s, vmcb);
        svm_exit_fn fn;
        v->exits_total++;
        if (likely(code < 0x100)) {     /* all but NPF and VMEXIT_INVALID: own counter index */
            v->exits[code]++;
            fn = svm_exit_table[code];
        } else {
            fn = svm_exit_high(v, code);
        }
        if (unlikely(vmcb->control.exit_int_info & SVM_EVTINJ_VALID))
            svm_redeliver(vmcb);
        if (unlikely(v->trace_on))
            vcpu_trace_exit(v, (uint32_t)code, vmcb->save.rip, vmcb->control.exit_info_1);

        int a = fn(v);
        if (likely(a == EXIT_NEXT))
            a = svm_skip(v, vmcb, code);
        else if (a == EXIT_EMULATED)
            a = svm_emulated(vmcb);
        if (unlikely(a == EXIT_BLOCK)) {
            a = exit_wait(v);
            if (a == EXIT_NEXT)
                a = svm_skip(v, vmcb, code);
        }
        if (unlikely(a == EXIT_STOP))
            return;
    }
}

const struct vcpu_vendor svm_vendor = {
    .name = "svm",
    .probe = svm_probe,
    .cpu_enable = svm_cpu_enable,
    .vcpu_init = svm_vcpu_init,
    .vcpu_run = svm_vcpu_run,
    .get_reg = svm_get_reg,
    .set_reg = svm_set_reg,
    .vcpu_free = svm_vcpu_free,
    .get_state = svm_get_state,
    .reset = svm_reset,
    .set_debug = svm_set_debug,
    .gpt_format = &svm_npt_format,
    .gpt_leaf = svm_npt_leaf,
    .gpt_rights = svm_npt_rights,
    .gpt_flush = svm_npt_flush,
    .exit_index = svm_exit_index_op,
    .exit_name = svm_exit_name,
    .exit_code = svm_exit_code,
};
