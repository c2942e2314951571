/* The MSRs a guest may touch. Everything not listed raises #GP, as on a CPU without it. */
#include "kernel/virt/exit.h"
#include "kernel/virt/apf.h"
#include "kernel/virt/intr.h"
#include "kernel/virt/kvmclock.h"
#include "kernel/virt/vendor.h"
#include "kernel/virt/vm.h"
#include "kernel/log.h"
#include "kernel/x86.h"

#define MSR_IA32_TSC            0x00000010
#define MSR_IA32_BIOS_SIGN_ID   0x0000008B
#define MSR_IA32_MISC_ENABLE    0x000001A0
/* AMD family 0Fh/10h "interrupt pending message" (BKDG): Linux reads it for erratum 400 on such
 * CPUs (QEMU's qemu64 is one). 0: C1E is never active, Keel's HLT does not enter it. */
#define MSR_K8_INT_PENDING_MSG  0xC0010055
#define FEATURE_CONTROL_LOCKED  1ul
#define MISC_ENABLE_FAST_STRING 1ul
#define EFER_GUEST_BITS         (EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE)

static void set_edx_eax(struct vcpu *v, uint64_t val)
{
    v->gpr[GPR_RAX] = (uint32_t)val;
    v->gpr[GPR_RDX] = val >> 32;
}

static int gp(struct vcpu *v, const char *op, uint32_t msr)
{
    pr_debug("vm %s: %s of MSR %#x -> #GP\n", v->vm->name, op, msr);
    vcpu_inject_exception(v, X86_GP, true, 0);
    return EXIT_RETRY;
}

/* Each PAT entry must be a defined memory type (0, 1, 4, 5, 6, 7). */
static bool pat_valid(uint64_t pat)
{
    for (int i = 0; i < 8; i++) {
        uint8_t t = (pat >> (i * 8)) & 0xFF;
        if (t > 7 || t == 2 || t == 3)
            return false;
    }
    return true;
}

/* The xAPIC page stays at 0xFEE00000 for every vCPU of a VM (one guest-physical map per VM):
 * moving it is refused with a message and a #GP rather than silently ignored. */
static int wrmsr_apic_base(struct vcpu *v, uint64_t val)
{
    unsigned maxphy = guest_maxphyaddr();
    uint64_t base = val & ~0xFFFul & ((1ul << maxphy) - 1);
    if ((val & APIC_BASE_EN) && base != APIC_DEFAULT_BASE) {
        pr_warn("vm %s vcpu %u: moving the local APIC to %#lx is not supported; it stays at "
                "%#llx\n", v->vm->name, v->id, base, APIC_DEFAULT_BASE);
        return gp(v, "wrmsr", MSR_IA32_APIC_BASE);
    }
    if (!vlapic_set_base(&v->lapic, val, maxphy))
        return gp(v, "wrmsr", MSR_IA32_APIC_BASE);
    v->intr_check = true;
    intr_timer_check(v);
    return EXIT_NEXT;
}

int exit_rdmsr(struct vcpu *v)
{
    uint32_t msr = (uint32_t)v->gpr[GPR_RCX];
    uint64_t val;
    switch (msr) {
    case MSR_IA32_FEATURE_CONTROL:
        val = FEATURE_CONTROL_LOCKED;
        break;
    case MSR_IA32_APIC_BASE:
        val = v->lapic.base;
        break;
    case MSR_IA32_TSC_DEADLINE:
        val = vlapic_tsc_deadline_read(&v->lapic);
        break;
    case MSR_IA32_PAT:
        val = vendor->get_reg(v, VREG_PAT);
        break;
    case MSR_EFER:
        val = vendor->get_reg(v, VREG_EFER);
        break;
    case MSR_IA32_TSC:
        val = rdtsc();
        break;
    case MSR_IA32_BIOS_SIGN_ID:
        val = 0;
        break;
    case MSR_IA32_MISC_ENABLE:
        val = MISC_ENABLE_FAST_STRING;
        break;
    case MSR_K8_INT_PENDING_MSG:
        if (vendor != &svm_vendor)
            return gp(v, "rdmsr", msr);
        val = 0;
        break;
    default:
        if (msr - MSR_X2APIC_FIRST <= MSR_X2APIC_LAST - MSR_X2APIC_FIRST &&
            vlapic_msr_read(&v->lapic, msr, &val, rdtsc()))
            break;
        if (kvmclock_rdmsr(v, msr, &val) || apf_rdmsr(v, msr, &val) == 0)
            break;
        return gp(v, "rdmsr", msr);
    }
    set_edx_eax(v, val);
    return EXIT_NEXT;
}

int exit_wrmsr(struct vcpu *v)
{
    uint32_t msr = (uint32_t)v->gpr[GPR_RCX];
    uint64_t val = (uint32_t)v->gpr[GPR_RAX] | (v->gpr[GPR_RDX] << 32);
    switch (msr) {
    case MSR_IA32_PAT:
        if (!pat_valid(val))
            return gp(v, "wrmsr", msr);
        vendor->set_reg(v, VREG_PAT, val);
        return EXIT_NEXT;
    case MSR_EFER:
        /* LME may only change while paging is off (SDM: IA32_EFER, "IA-32e mode"). */
        if (val & ~EFER_GUEST_BITS ||
            ((val ^ vendor->get_reg(v, VREG_EFER)) & EFER_LME &&
             vendor->get_reg(v, VREG_CR0) & CR0_PG))
            return gp(v, "wrmsr", msr);
        vendor->set_reg(v, VREG_EFER, val);
        return EXIT_NEXT;
    case MSR_IA32_BIOS_SIGN_ID:
    case MSR_IA32_TSC:
        return EXIT_NEXT;   /* accepted and ignored: microcode probes, TSC sync attempts */
    case MSR_IA32_APIC_BASE:
        return wrmsr_apic_base(v, val);
    case MSR_IA32_TSC_DEADLINE: {
        struct vlapic_out out = { .eoi_vector = -1 };
        vlapic_tsc_deadline_write(&v->lapic, val, rdtsc(), &out);
        intr_apic_out(v, &out);
        return EXIT_NEXT;
    }
    default:
        if (msr - MSR_X2APIC_FIRST <= MSR_X2APIC_LAST - MSR_X2APIC_FIRST) {
            struct vlapic_out out = { .eoi_vector = -1 };
            if (!vlapic_msr_write(&v->lapic, msr, val, rdtsc(), &out))
                return gp(v, "wrmsr", msr);
            intr_apic_out(v, &out);
            if (msr == MSR_X2APIC_FIRST + APIC_LVT_LINT0 / 16 ||
                msr == MSR_X2APIC_FIRST + APIC_SVR / 16)
                v->intr_check = true;       /* may open LINT0 to the PIC's INTR */
            return EXIT_NEXT;
        }
        if (kvmclock_wrmsr(v, msr, val) || apf_wrmsr(v, msr, val) == 0)
            return EXIT_NEXT;
        return gp(v, "wrmsr", msr);
    }
}
