/* What CPUID tells a guest: the host's answer, minus everything Keel does not virtualize, plus
 * the hypervisor bit and Keel's leaves. Feature words are whitelists, so a new host feature is
 * hidden until someone decides it is safe. */
#include "kernel/virt/exit.h"
#include "kernel/virt/vm.h"
#include "kernel/x86.h"
#include "kernel/virt/intr.h"
#include "drivers/timer.h"
#include "kernel/virt/kvmclock.h"

#define HV_LEAF_BASE        0x40000000u
#define HV_LEAF_MAX         0x40000010u
#define HV_LEAF_TIMING      0x40000010u     /* EAX: TSC kHz, EBX: APIC timer clock kHz */
#define HV_SIG              0x6C65654Bu     /* "Keel" */
/* KVM-compatible leaves for stock guests' async PF (Linux scans 0x40000000-0x4000FF00 in steps
 * of 0x100 for "KVMKVMKVM\0\0\0"); Keel's own range stays at 0x40000000. */
#define KVM_FEATURE_ASYNC_PF        (1u << 4)
#define KVM_FEATURE_ASYNC_PF_INT    (1u << 14)
#define BASIC_LEAF_MAX      0x0000000Du
#define EXT_LEAF_BASE       0x80000000u

/* Leaf 1 ECX: SSE3, PCLMULQDQ, SSSE3, CX16, SSE4.1, SSE4.2, MOVBE, POPCNT, AES, RDRAND. */
#define L1_ECX_KEEP  ((1u << 0) | (1u << 1) | (1u << 9) | (1u << 13) | (1u << 19) | (1u << 20) | \
                      (1u << 22) | (1u << 23) | (1u << 25) | (1u << 30))
/* Leaf 1 EDX: FPU VME DE PSE TSC MSR PAE CX8 SEP PGE CMOV PAT PSE36 CLFSH MMX FXSR SSE SSE2 SS. */
#define L1_EDX_KEEP  ((1u << 0) | (1u << 1) | (1u << 2) | (1u << 3) | (1u << 4) | (1u << 5) | \
                      (1u << 6) | (1u << 8) | (1u << 11) | (1u << 13) | (1u << 15) | (1u << 16) | \
                      (1u << 17) | (1u << 19) | (1u << 23) | (1u << 24) | (1u << 25) | \
                      (1u << 26) | (1u << 27))
/* Leaf 7 EBX: FSGSBASE BMI1 SMEP BMI2 ERMS ADX SMAP CLFLUSHOPT CLWB. */
#define L7_EBX_KEEP  ((1u << 0) | (1u << 3) | (1u << 7) | (1u << 8) | (1u << 9) | (1u << 19) | \
                      (1u << 20) | (1u << 23) | (1u << 24))
/* 0x80000001 ECX: LAHF/SAHF, AltMovCr8, LZCNT, SSE4A, MisAlignSse, PREFETCHW. */
#define E1_ECX_KEEP  ((1u << 0) | (1u << 4) | (1u << 5) | (1u << 6) | (1u << 7) | (1u << 8))
/* 0x80000001 EDX: the leaf 1 bits AMD mirrors, SYSCALL, NX, MMXEXT, FFXSR, 1G pages, LM,
 * 3DNow!. */
#define E1_EDX_KEEP  ((L1_EDX_KEEP & 0x0183F3FFu) | (1u << 11) | (1u << 20) | (1u << 22) | \
                      (1u << 25) | (1u << 26) | (1u << 29) | (1u << 30) | (1u << 31))
#define E7_EDX_INVARIANT_TSC (1u << 8)

/* CR4: VME PVI TSD DE PSE PAE MCE PGE PCE OSFXSR OSXMMEXCPT always; FSGSBASE, SMEP and SMAP
 * when the host has them (leaf 7 passes them on). UMIP, LA57, VMXE, SMXE, PCIDE, OSXSAVE, PKE,
 * CET are hidden, so the bits are reserved for the guest. */
#define CR4_ALWAYS      0x7FFul
#define CR4_FSGSBASE    (1ul << 16)
#define CR4_SMEP        (1ul << 20)
#define CR4_SMAP        (1ul << 21)

uint64_t guest_cr4_allowed(void)
{
    static uint64_t allowed;
    if (!allowed) {
        struct cpuid_regs r;
        cpuid_count(7, 0, &r);
        uint32_t ebx = r.ebx & L7_EBX_KEEP;
        cpuid_count(0, 0, &r);
        if (r.eax < 7)
            ebx = 0;
        allowed = CR4_ALWAYS | (ebx & 1 ? CR4_FSGSBASE : 0) | (ebx & (1u << 7) ? CR4_SMEP : 0) |
                  (ebx & (1u << 20) ? CR4_SMAP : 0);
    }
    return allowed;
}

static void hv_leaf(uint32_t leaf, struct cpuid_regs *r)
{
    *r = (struct cpuid_regs){ 0 };
    if (leaf == HV_LEAF_BASE)
        *r = (struct cpuid_regs){ HV_LEAF_MAX, HV_SIG, HV_SIG, HV_SIG };
    else if (leaf == KVM_CPUID_SIGNATURE)
        *r = (struct cpuid_regs){ KVM_CPUID_FEATURES, KVM_SIG_EBX, KVM_SIG_ECX, KVM_SIG_EDX };
    else if (leaf == KVM_CPUID_FEATURES)
        *r = (struct cpuid_regs){ KVMCLOCK_FEATURES | KVM_FEATURE_ASYNC_PF |
                                  KVM_FEATURE_ASYNC_PF_INT, 0, 0, 0 };
    else if (leaf == HV_LEAF_TIMING)
        *r = (struct cpuid_regs){ (uint32_t)(tsc_hz / 1000), (uint32_t)(APIC_BUS_HZ / 1000), 0, 0 };
}

static void basic_leaf(const struct vcpu *v, uint32_t leaf, struct cpuid_regs *r)
{
    switch (leaf) {
    case 0:
        if (r->eax > BASIC_LEAF_MAX)
            r->eax = BASIC_LEAF_MAX;
        break;
    case 1:
        /* Initial APIC id and logical processor count describe this VM, not the host. */
        r->ebx = (r->ebx & 0xFFFF) | (v->id << 24) | (v->vm->nvcpus << 16);
        /* x2APIC and the TSC-deadline timer are the vLAPIC's, whatever the host has. */
        r->ecx = (r->ecx & L1_ECX_KEEP) | CPUID_1_ECX_HYPERVISOR | CPUID_1_ECX_X2APIC |
                 CPUID_1_ECX_TSC_DEADLINE;
        /* The APIC flag follows IA32_APIC_BASE.EN, as on hardware. */
        r->edx = (r->edx & L1_EDX_KEEP) | (vlapic_hw_enabled(&v->lapic) ? CPUID_1_EDX_APIC : 0);
        break;
    case 2: case 4:
        break;      /* cache descriptions */
    case 7:
        if ((uint32_t)v->gpr[GPR_RCX] == 0) {
            r->eax = 0;     /* no further subleaves */
            r->ebx &= L7_EBX_KEEP;
            r->ecx = r->edx = 0;
        } else {
            *r = (struct cpuid_regs){ 0 };
        }
        break;
    default:
        *r = (struct cpuid_regs){ 0 };  /* MONITOR, power, perfmon, topology, XSAVE, ... */
        break;
    }
}

static void ext_leaf(uint32_t leaf, struct cpuid_regs *r)
{
    switch (leaf) {
    case EXT_LEAF_BASE:
    case EXT_LEAF_BASE + 2: case EXT_LEAF_BASE + 3: case EXT_LEAF_BASE + 4:  /* brand string */
    case EXT_LEAF_BASE + 5: case EXT_LEAF_BASE + 6:                          /* caches */
        break;
    case EXT_LEAF_BASE + 1:
        r->ecx &= E1_ECX_KEEP;
        r->edx &= E1_EDX_KEEP;
        break;
    case EXT_LEAF_BASE + 7:
        r->eax = r->ebx = r->ecx = 0;
        r->edx &= E7_EDX_INVARIANT_TSC;
        break;
    case EXT_LEAF_BASE + 8:
        r->ebx = 0;     /* speculation-control features Keel does not virtualize */
        break;
    default:
        *r = (struct cpuid_regs){ 0 };
        break;
    }
}

unsigned guest_maxphyaddr(void)
{
    static unsigned width;
    if (!width) {
        struct cpuid_regs r;
        cpuid_count(EXT_LEAF_BASE, 0, &r);
        if (r.eax >= EXT_LEAF_BASE + 8) {
            cpuid_count(EXT_LEAF_BASE + 8, 0, &r);
            width = r.eax & 0xFF;
        }
        if (width < 32 || width > 52)
            width = 36;
    }
    return width;
}

int exit_cpuid(struct vcpu *v)
{
    uint32_t leaf = (uint32_t)v->gpr[GPR_RAX];
    struct cpuid_regs r;
    if ((leaf & 0xF0000000u) == HV_LEAF_BASE) {
        hv_leaf(leaf, &r);
    } else {
        cpuid_count(leaf, (uint32_t)v->gpr[GPR_RCX], &r);
        if (leaf < EXT_LEAF_BASE)
            basic_leaf(v, leaf, &r);
        else
            ext_leaf(leaf, &r);
    }
    v->gpr[GPR_RAX] = r.eax;
    v->gpr[GPR_RBX] = r.ebx;
    v->gpr[GPR_RCX] = r.ecx;
    v->gpr[GPR_RDX] = r.edx;
    return EXIT_NEXT;
}
