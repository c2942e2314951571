/* The MSRs a guest may touch. Everything not listed raises #GP, as on a CPU without it. */
#include "kernel/virt/exit.h"
#include "kernel/virt/vendor.h"
#include "kernel/virt/vm.h"
#include "kernel/log.h"
#include "kernel/x86.h"

#define MSR_IA32_TSC            0x00000010
#define MSR_IA32_BIOS_SIGN_ID   0x0000008B
#define MSR_IA32_MISC_ENABLE    0x000001A0
#define FEATURE_CONTROL_LOCKED  1ul
#define MISC_ENABLE_FAST_STRING 1ul
#define APIC_BASE_DEFAULT       0xFEE00000ul
#define APIC_BASE_ENABLE        (1ul << 11)
#define APIC_BASE_BSP           (1ul << 8)
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

int exit_rdmsr(struct vcpu *v)
{
    uint32_t msr = (uint32_t)v->gpr[GPR_RCX];
    uint64_t val;
    switch (msr) {
    case MSR_IA32_FEATURE_CONTROL:
        val = FEATURE_CONTROL_LOCKED;
        break;
    case MSR_IA32_APIC_BASE:
        val = APIC_BASE_DEFAULT | APIC_BASE_ENABLE | (v->id == 0 ? APIC_BASE_BSP : 0);
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
    default:
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
    default:
        return gp(v, "wrmsr", msr);
    }
}
