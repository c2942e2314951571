/* Intel VMX: capability probing, VMXON on each CPU, the VMCS of each vCPU (built lazily on the
 * CPU that runs it), guest control registers and register access. The exit loop is in
 * vmx_exit.c, the EPT entry format in ept.c, the world switch in vmx_entry.S. */
#include "vmx/vmx.h"
#include "kernel/virt/exit.h"
#include "kernel/virt/vendor.h"
#include "kernel/virt/vm.h"
#include "kernel/log.h"
#include "kernel/percpu.h"
#include "kernel/smp.h"
#include "kernel/x86.h"
#include "kernel/lib/fmt.h"
#include "kernel/lib/string.h"
#include "drivers/timer.h"
#include "mm/gpa.h"
#include "mm/pmm.h"
#include "boot/boot.h"

#define CR4_OSXSAVE             (1ul << 18)
#define GUEST_PAT_DEFAULT       0x0007040600070406ul
#define AR_CODE32               0xC09Bu     /* P, S, DPL 0, execute/read accessed, D, G */
#define AR_DATA32               0xC093u     /* P, S, DPL 0, read/write accessed, D/B, G */
/* The watchdog: a guest that never exits by itself still comes back after this much guest time
 * per entry, so requests, kicks and the shell are seen even where interrupts cannot make it
 * exit (Bochs delivers no external-interrupt exit while the guest has IF=0). */
#define PREEMPT_US              2000
#define PREEMPT_DEFAULT         0x10000u    /* if the TSC rate is unknown */

struct vmx_caps vmx_caps;
struct vmx_cpu vmx_cpus[MAX_CPUS];
static uint64_t msr_bitmap_pa;              /* shared by every vCPU; read-only once built */
static spinlock_t vmx_lock = SPINLOCK_INIT;
static uint32_t preempt_value;

extern char vmx_exit_point[];               /* vmx_entry.S: HOST_RIP */

/* ---------------------------------------------------------------------------------------------
 * Capabilities */

static char why_buf[128];

/* Controls = what we want plus what the CPU insists on, minus what it cannot do; `need` must
 * survive. Capability MSR: low half = bits that must be 1, high half = bits that may be 1. */
static bool adjust(uint32_t msr, uint32_t want, uint32_t need, uint32_t *out, const char *what,
                   const char **why)
{
    uint64_t cap = rdmsr(msr);
    uint32_t v = (want | (uint32_t)cap) & (uint32_t)(cap >> 32);
    if ((v & need) != need) {
        ksnprintf(why_buf, sizeof why_buf, "VMX %s controls lack required bits %#x", what,
                  need & ~v);
        *why = why_buf;
        return false;
    }
    *out = v;
    return true;
}

/* IA32_FEATURE_CONTROL on this CPU: VMXON outside SMX must be enabled, and the MSR locked. */
static bool feature_control(const char **why)
{
    uint64_t fc;
    if (!rdmsr_safe(MSR_IA32_FEATURE_CONTROL, &fc)) {
        *why = "IA32_FEATURE_CONTROL is not readable";
        return false;
    }
    if (fc & FEATURE_CONTROL_LOCKED) {
        if (fc & FEATURE_CONTROL_VMXON_OUTSIDE_SMX)
            return true;
        *why = "VMX is disabled by the firmware (IA32_FEATURE_CONTROL is locked without "
               "VMXON outside SMX)";
        return false;
    }
    fc |= FEATURE_CONTROL_LOCKED | FEATURE_CONTROL_VMXON_OUTSIDE_SMX;
    if (!wrmsr_safe(MSR_IA32_FEATURE_CONTROL, fc) ||
        !(rdmsr(MSR_IA32_FEATURE_CONTROL) & FEATURE_CONTROL_VMXON_OUTSIDE_SMX)) {
        *why = "IA32_FEATURE_CONTROL could not be set to allow VMXON";
        return false;
    }
    return true;
}

static bool vmx_probe(const char **why)
{
    struct vmx_caps *c = &vmx_caps;
    if (!cpu_has(1, 2, CPUID_1_ECX_VMX)) {
        *why = "no VMX (CPUID.1:ECX.VMX is 0)";
        return false;
    }
    if (!feature_control(why))
        return false;
    uint64_t basic = rdmsr(MSR_IA32_VMX_BASIC);
    if (basic & VMX_BASIC_32BIT_ADDR) {
        *why = "VMX structures limited to 32-bit addresses";
        return false;
    }
    if (VMX_BASIC_MEM_TYPE(basic) != EPT_MT_WB || VMX_BASIC_REGION_SIZE(basic) > PAGE_SIZE) {
        *why = "VMCS must be write-back and fit in a page";
        return false;
    }
    c->revision = (uint32_t)(basic & VMX_BASIC_REVISION_MASK);
    bool tru = basic & VMX_BASIC_TRUE_CTLS;

    if (!adjust(tru ? MSR_IA32_VMX_TRUE_PINBASED_CTLS : MSR_IA32_VMX_PINBASED_CTLS,
                PIN_EXT_INT_EXITING | PIN_NMI_EXITING | PIN_PREEMPTION_TIMER | PIN_VIRTUAL_NMIS,
                PIN_EXT_INT_EXITING | PIN_NMI_EXITING, &c->pin, "pin-based", why))
        return false;
    /* CR3 load/store and INVLPG exiting are wanted off (EPT); with the TRUE MSRs they can be. */
    if (!adjust(tru ? MSR_IA32_VMX_TRUE_PROCBASED_CTLS : MSR_IA32_VMX_PROCBASED_CTLS,
                CPU_HLT_EXITING | CPU_UNCOND_IO_EXITING | CPU_USE_MSR_BITMAPS |
                CPU_CR8_LOAD_EXITING | CPU_CR8_STORE_EXITING | CPU_MWAIT_EXITING |
                CPU_MONITOR_EXITING | CPU_ACTIVATE_SECONDARY | CPU_NMI_WINDOW_EXITING,
                CPU_HLT_EXITING | CPU_UNCOND_IO_EXITING | CPU_USE_MSR_BITMAPS |
                CPU_CR8_LOAD_EXITING | CPU_CR8_STORE_EXITING | CPU_ACTIVATE_SECONDARY,
                &c->cpu, "primary processor-based", why))
        return false;
    if (!adjust(MSR_IA32_VMX_PROCBASED_CTLS2,
                /* Not "enable RDTSCP" nor "enable INVPCID": CPUID hides both, so they #UD. */
                SEC_ENABLE_EPT | SEC_ENABLE_VPID | SEC_UNRESTRICTED_GUEST,
                SEC_ENABLE_EPT | SEC_ENABLE_VPID | SEC_UNRESTRICTED_GUEST,
                &c->sec, "secondary processor-based (EPT, VPID, unrestricted guest)", why))
        return false;
    if (!adjust(tru ? MSR_IA32_VMX_TRUE_EXIT_CTLS : MSR_IA32_VMX_EXIT_CTLS,
                EXIT_SAVE_DEBUG_CONTROLS | EXIT_HOST_ADDR_SPACE_SIZE | EXIT_SAVE_IA32_PAT |
                EXIT_LOAD_IA32_PAT | EXIT_SAVE_IA32_EFER | EXIT_LOAD_IA32_EFER,
                EXIT_HOST_ADDR_SPACE_SIZE | EXIT_SAVE_IA32_PAT | EXIT_LOAD_IA32_PAT |
                EXIT_SAVE_IA32_EFER | EXIT_LOAD_IA32_EFER, &c->exit, "VM-exit", why))
        return false;
    c->exit &= ~EXIT_ACK_INTR_ON_EXIT;      /* the host takes the interrupt itself */
    if (!(c->pin & PIN_VIRTUAL_NMIS))       /* NMI-window exiting needs virtual NMIs */
        c->cpu &= ~CPU_NMI_WINDOW_EXITING;
    c->nmi_window = c->cpu & CPU_NMI_WINDOW_EXITING;
    c->cpu &= ~CPU_NMI_WINDOW_EXITING & ~CPU_INTR_WINDOW_EXITING;  /* opened when needed */
    if (!adjust(tru ? MSR_IA32_VMX_TRUE_ENTRY_CTLS : MSR_IA32_VMX_ENTRY_CTLS,
                ENTRY_LOAD_DEBUG_CONTROLS | ENTRY_LOAD_IA32_PAT | ENTRY_LOAD_IA32_EFER |
                ENTRY_IA32E_MODE,
                ENTRY_LOAD_IA32_PAT | ENTRY_LOAD_IA32_EFER | ENTRY_IA32E_MODE,
                &c->entry, "VM-entry", why))
        return false;
    c->entry &= ~ENTRY_IA32E_MODE;          /* set per vCPU from its EFER.LMA */

    c->ept_vpid = rdmsr(MSR_IA32_VMX_EPT_VPID_CAP);
    if (!(c->ept_vpid & VMX_EPT_PAGE_WALK_4) || !(c->ept_vpid & VMX_EPT_MT_WB)) {
        *why = "EPT lacks 4-level walks or write-back paging structures";
        return false;
    }
    c->invept_type = !(c->ept_vpid & VMX_EPT_INVEPT) ? 0 :
                     c->ept_vpid & VMX_EPT_INVEPT_SINGLE ? INVEPT_SINGLE_CONTEXT :
                     c->ept_vpid & VMX_EPT_INVEPT_ALL ? INVEPT_ALL_CONTEXT : 0;
    c->invvpid_type = !(c->ept_vpid & VMX_VPID_INVVPID) ? 0 :
                      c->ept_vpid & VMX_VPID_INVVPID_SINGLE ? INVVPID_SINGLE_CONTEXT :
                      c->ept_vpid & VMX_VPID_INVVPID_ALL ? INVVPID_ALL_CONTEXT : 0;
    if (!c->invept_type || !c->invvpid_type) {
        *why = "no usable INVEPT/INVVPID";
        return false;
    }
    vmx_ept_format.leaf_1g_ok = c->ept_vpid & VMX_EPT_1GB_PAGE;

    c->cr0_fixed0 = rdmsr(MSR_IA32_VMX_CR0_FIXED0);
    c->cr0_fixed1 = rdmsr(MSR_IA32_VMX_CR0_FIXED1);
    c->cr4_fixed0 = rdmsr(MSR_IA32_VMX_CR4_FIXED0);
    c->cr4_fixed1 = rdmsr(MSR_IA32_VMX_CR4_FIXED1);
    uint64_t misc = rdmsr(MSR_IA32_VMX_MISC);
    c->preempt_rate = misc & VMX_MISC_PREEMPT_RATE_MASK;
    pr_debug("vmx: revision %#x pin %#x cpu %#x sec %#x exit %#x entry %#x ept/vpid %#lx%s\n",
             c->revision, c->pin, c->cpu, c->sec, c->exit, c->entry, c->ept_vpid,
             c->pin & PIN_PREEMPTION_TIMER ? "" : " (no preemption timer)");
    return true;
}

/* ---------------------------------------------------------------------------------------------
 * Per-CPU enabling */

static void build_msr_bitmap(void)
{
    /* 1 = exit. Read bitmap for 0..0x1FFF at 0, for 0xC0000000..0xC0001FFF at 1024; the write
     * bitmaps follow at 2048 and 3072. */
    static const struct { uint32_t msr; bool read, write; } pass[] = {
        { MSR_IA32_TSC, true, false },          /* RDMSR TSC like RDTSC; writes intercepted */
        { MSR_IA32_SYSENTER_CS, true, true },   /* switched by the VMCS */
        { MSR_IA32_SYSENTER_ESP, true, true },
        { MSR_IA32_SYSENTER_EIP, true, true },
        { MSR_IA32_PAT, true, false },          /* loaded/saved by the VMCS; writes checked */
        { MSR_EFER, true, false },
        { MSR_FS_BASE, true, true },            /* switched by the VMCS */
        { MSR_GS_BASE, true, true },
        { MSR_KERNEL_GS_BASE, true, true },     /* not used by Keel */
        { MSR_STAR, true, true },
        { MSR_LSTAR, true, true },
        { MSR_CSTAR, true, true },
        { MSR_SFMASK, true, true },
    };
    uint8_t *bm = phys_to_virt(msr_bitmap_pa);
    memset(bm, 0xFF, PAGE_SIZE);
    for (unsigned i = 0; i < sizeof pass / sizeof pass[0]; i++) {
        uint32_t msr = pass[i].msr, idx, base;
        if (msr <= 0x1FFF) {
            base = 0;
            idx = msr;
        } else {
            base = 1024;
            idx = msr - 0xC0000000u;
        }
        if (pass[i].read)
            bm[base + idx / 8] &= ~(1u << (idx % 8));
        if (pass[i].write)
            bm[2048 + base + idx / 8] &= ~(1u << (idx % 8));
    }
}

static int vmx_cpu_enable(void)
{
    struct vmx_cpu *c = &vmx_cpus[cpu_id()];
    const char *why = "";
    if (c->on)
        return 0;
    if (!feature_control(&why)) {
        pr_err("cpu %u: vmx: %s\n", cpu_id(), why);
        return -1;
    }
    uint64_t f = spin_lock_irqsave(&vmx_lock);
    if (!msr_bitmap_pa && (msr_bitmap_pa = pmm_alloc(1, 1, PMM_OWNER_KEEL)))
        build_msr_bitmap();
    if (!preempt_value) {
        uint64_t t = tsc_hz ? (tsc_hz / 1000000 * PREEMPT_US) >> vmx_caps.preempt_rate : 0;
        preempt_value = t ? (t > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)t) : PREEMPT_DEFAULT;
    }
    spin_unlock_irqrestore(&vmx_lock, f);
    if (!c->vmxon_pa)
        c->vmxon_pa = pmm_alloc(1, 1, PMM_OWNER_KEEL);
    if (!c->vmxon_pa || !msr_bitmap_pa) {
        pr_err("cpu %u: vmx: out of memory\n", cpu_id());
        return -1;
    }
    *(uint32_t *)phys_to_virt(c->vmxon_pa) = vmx_caps.revision;
    /* CR0/CR4 as VMX operation requires (CR0.PE/NE/PG, CR4.VMXE): Keel runs with them. */
    write_cr0((read_cr0() | vmx_caps.cr0_fixed0) & vmx_caps.cr0_fixed1);
    write_cr4((read_cr4() | vmx_caps.cr4_fixed0 | CR4_VMXE) & vmx_caps.cr4_fixed1);
    if (!vmxon(c->vmxon_pa)) {
        pr_err("cpu %u: vmx: VMXON failed\n", cpu_id());
        write_cr4(read_cr4() & ~CR4_VMXE);
        return -1;
    }
    c->on = true;
    c->current = 0;
    this_cpu()->vendor = c;
    /* Nothing from before VMXON (another OS, a previous Keel) may linger in the TLBs. */
    if (vmx_caps.ept_vpid & VMX_EPT_INVEPT_ALL)
        invept(INVEPT_ALL_CONTEXT, 0);
    if (vmx_caps.ept_vpid & VMX_VPID_INVVPID_ALL)
        invvpid(INVVPID_ALL_CONTEXT, 0);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Guest control registers. CR0.NE and CR4.VMXE must be 1 in VMX operation: they are forced in
 * the real value and hidden behind the guest/host masks and read shadows. CR0.PG is owned too,
 * so every paging switch exits and EFER.LMA / the "IA-32e mode guest" entry control follow it.
 * CR0.CD/NW are owned and kept 0 in the real value: VM entry need not load them (the guest
 * would see the host's), so the guest sees the values it wrote. With unrestricted guest,
 * CR0.PE and PG may be 0. */

static uint64_t cr0_force_on(void)
{
    return vmx_caps.cr0_fixed0 & ~(CR0_PE | CR0_PG);
}

static uint64_t cr0_owned(void)
{
    return (cr0_force_on() | ~vmx_caps.cr0_fixed1 | CR0_PG | CR0_CD | CR0_NW) & 0xFFFFFFFFul;
}

static uint64_t cr0_real(uint64_t guest)
{
    return ((guest & ~(CR0_CD | CR0_NW)) | cr0_force_on()) & vmx_caps.cr0_fixed1;
}

static uint64_t cr4_owned(void)
{
    /* And every bit whose feature CPUID hides (OSXSAVE, PCIDE, UMIP, ...): setting it is a #GP,
     * even where the host has the feature. */
    return (vmx_caps.cr4_fixed0 | ~vmx_caps.cr4_fixed1 | ~guest_cr4_allowed()) & 0xFFFFFFFFul;
}

uint64_t vmx_cr4_guest_reserved(void)
{
    return cr4_owned() | ~0xFFFFFFFFul;
}

uint64_t vmx_guest_cr0(void)
{
    uint64_t m = vmread(CR0_GUEST_HOST_MASK);
    return (vmread(GUEST_CR0) & ~m) | (vmread(CR0_READ_SHADOW) & m);
}

uint64_t vmx_guest_cr4(void)
{
    uint64_t m = vmread(CR4_GUEST_HOST_MASK);
    return (vmread(GUEST_CR4) & ~m) | (vmread(CR4_READ_SHADOW) & m);
}

/* EFER.LMA = CR0.PG && EFER.LME, whatever the caller passed; the "IA-32e mode guest" entry
 * control must equal it at every entry. */
void vmx_set_efer(struct vcpu *v, uint64_t efer)
{
    (void)v;
    bool lma = (vmread(GUEST_CR0) & CR0_PG) && (efer & EFER_LME);
    efer = lma ? efer | EFER_LMA : efer & ~EFER_LMA;
    vmwrite(GUEST_IA32_EFER, efer);
    uint32_t e = (uint32_t)vmread(VM_ENTRY_CONTROLS);
    uint32_t want = lma ? e | ENTRY_IA32E_MODE : e & ~ENTRY_IA32E_MODE;
    if (want != e)
        vmwrite(VM_ENTRY_CONTROLS, want);
}

/* PAE paging outside long mode: the PDPTEs live in the VMCS while the guest runs; the CPU loads
 * them itself on the guest's own MOV to CR0/CR3/CR4, but not for writes Keel emulates. */
static bool pae_paging(void)
{
    return (vmread(GUEST_CR0) & CR0_PG) && (vmread(GUEST_CR4) & CR4_PAE) &&
           !(vmread(GUEST_IA32_EFER) & EFER_LMA);
}

/* The four PDPTEs the guest's CR3 points at; false if one is present with reserved bits. */
bool vmx_read_pdptes(struct vcpu *v, uint64_t cr3, uint64_t pdpte[4])
{
    memset(pdpte, 0, 4 * sizeof *pdpte);
    gpa_read(&v->vm->mem, cr3 & 0xFFFFFFE0ul, pdpte, 4 * sizeof *pdpte);
    for (int i = 0; i < 4; i++)
        if ((pdpte[i] & 1) && (pdpte[i] & 0x1E6))
            return false;
    return true;
}

static void load_pdptes(struct vcpu *v)
{
    uint64_t p[4];
    if (!pae_paging())
        return;
    vmx_read_pdptes(v, vmread(GUEST_CR3), p);
    for (int i = 0; i < 4; i++)
        vmwrite(GUEST_PDPTE0 + 2 * i, p[i]);
}

/* Sets CR0 as the guest sees it (validity is the caller's business). */
void vmx_load_cr0(struct vcpu *v, uint64_t val)
{
    uint64_t old = vmread(GUEST_CR0);
    uint64_t real = cr0_real(val);
    vmwrite(GUEST_CR0, real);
    vmwrite(CR0_READ_SHADOW, val);
    if ((old ^ real) & CR0_PG) {
        vmx_set_efer(v, vmread(GUEST_IA32_EFER));
        vmx_flush_guest_tlb(v);
    }
    load_pdptes(v);
}

void vmx_load_cr4(struct vcpu *v, uint64_t val)
{
    uint64_t old = vmread(GUEST_CR4);
    uint64_t real = (val | vmx_caps.cr4_fixed0 | CR4_VMXE) & vmx_caps.cr4_fixed1;
    vmwrite(GUEST_CR4, real);
    vmwrite(CR4_READ_SHADOW, val);
    if ((old ^ real) & (CR4_PAE | CR4_PGE))
        vmx_flush_guest_tlb(v);
    load_pdptes(v);
}

void vmx_load_cr3(struct vcpu *v, uint64_t val)
{
    vmwrite(GUEST_CR3, val);
    load_pdptes(v);
    vmx_flush_guest_tlb(v);
}

void vmx_flush_guest_tlb(struct vcpu *v)
{
    invvpid(vmx_caps.invvpid_type, (uint16_t)v->uid);
}

/* ---------------------------------------------------------------------------------------------
 * The VMCS */

struct desc_ptr { uint16_t limit; uint64_t base; } __attribute__((packed));

static uint16_t host_sel(uint16_t s) { return s & ~7; }   /* RPL 0, TI 0 */

/* Host state for this CPU: what a VM exit loads. */
static void write_host_state(void)
{
    struct percpu *pc = this_cpu();
    struct desc_ptr gdt, idt;
    uint16_t ds, es, fs, gs, ss, tr;
    __asm__ volatile("sgdt %0" : "=m"(gdt));
    __asm__ volatile("sidt %0" : "=m"(idt));
    __asm__ volatile("mov %%ds, %0" : "=r"(ds));
    __asm__ volatile("mov %%es, %0" : "=r"(es));
    __asm__ volatile("mov %%fs, %0" : "=r"(fs));
    __asm__ volatile("mov %%gs, %0" : "=r"(gs));
    __asm__ volatile("mov %%ss, %0" : "=r"(ss));
    __asm__ volatile("str %0" : "=r"(tr));
    vmwrite(HOST_CR0, read_cr0());
    vmwrite(HOST_CR3, read_cr3());
    vmwrite(HOST_CR4, read_cr4());
    vmwrite(HOST_CS_SELECTOR, BOOT_CS64);
    vmwrite(HOST_SS_SELECTOR, host_sel(ss));
    vmwrite(HOST_DS_SELECTOR, host_sel(ds));
    vmwrite(HOST_ES_SELECTOR, host_sel(es));
    vmwrite(HOST_FS_SELECTOR, host_sel(fs));
    vmwrite(HOST_GS_SELECTOR, host_sel(gs));
    vmwrite(HOST_TR_SELECTOR, host_sel(tr));
    vmwrite(HOST_FS_BASE, rdmsr(MSR_FS_BASE));
    vmwrite(HOST_GS_BASE, rdmsr(MSR_GS_BASE));
    vmwrite(HOST_TR_BASE, (uint64_t)&pc->tss);
    vmwrite(HOST_GDTR_BASE, gdt.base);
    vmwrite(HOST_IDTR_BASE, idt.base);
    vmwrite(HOST_IA32_SYSENTER_CS, 0);
    vmwrite(HOST_IA32_SYSENTER_ESP, 0);
    vmwrite(HOST_IA32_SYSENTER_EIP, 0);
    vmwrite(HOST_IA32_EFER, rdmsr(MSR_EFER));
    vmwrite(HOST_IA32_PAT, rdmsr(MSR_IA32_PAT));
    vmwrite(HOST_RIP, (uint64_t)vmx_exit_point);
}

static void write_controls(struct vcpu *v)
{
    struct vmx_vcpu *vv = to_vmx(v);
    const struct vmx_caps *c = &vmx_caps;
    vmwrite(PIN_BASED_VM_EXEC_CONTROL, c->pin);
    vv->cpu_ctls = c->cpu;
    vmwrite(CPU_BASED_VM_EXEC_CONTROL, c->cpu);
    vmwrite(SECONDARY_VM_EXEC_CONTROL, c->sec);
    vmwrite(VM_EXIT_CONTROLS, c->exit);
    vmwrite(VM_ENTRY_CONTROLS, c->entry);
    vmwrite(EXCEPTION_BITMAP, 0);
    vmwrite(PAGE_FAULT_ERROR_CODE_MASK, 0);
    vmwrite(PAGE_FAULT_ERROR_CODE_MATCH, 0);
    vmwrite(CR3_TARGET_COUNT, 0);
    vmwrite(VM_EXIT_MSR_STORE_COUNT, 0);
    vmwrite(VM_EXIT_MSR_LOAD_COUNT, 0);
    vmwrite(VM_ENTRY_MSR_LOAD_COUNT, 0);
    vmwrite(VM_ENTRY_INTR_INFO, 0);
    vmwrite(MSR_BITMAP, msr_bitmap_pa);
    vmwrite(TSC_OFFSET, 0);
    vmwrite(VIRTUAL_PROCESSOR_ID, v->uid);
    vmwrite(EPT_POINTER, vmx_eptp(v->vm));
    vv->cr0_mask = cr0_owned();
    vv->cr4_mask = cr4_owned();
    vmwrite(CR0_GUEST_HOST_MASK, vv->cr0_mask);
    vmwrite(CR4_GUEST_HOST_MASK, vv->cr4_mask);
    if (c->pin & PIN_PREEMPTION_TIMER)
        vmwrite(VMX_PREEMPTION_TIMER_VALUE, preempt_value);
}

void vmx_write_seg(enum vmx_seg s, uint16_t sel, uint64_t base, uint32_t limit, uint32_t ar)
{
    vmwrite(GUEST_ES_SELECTOR + 2 * s, sel);
    vmwrite(GUEST_ES_BASE + 2 * s, base);
    vmwrite(GUEST_ES_LIMIT + 2 * s, limit);
    vmwrite(GUEST_ES_AR_BYTES + 2 * s, ar);
}

/* Multiboot entry state (doc/CONTRACT.md) with the registers the soft copy holds. */
static void write_guest_state(struct vcpu *v)
{
    const uint64_t *r = to_vmx(v)->soft.r;
    uint32_t cs_limit = r[VREG_CR0] & CR0_PE ? 0xFFFFFFFFu : 0xFFFFu;
    vmx_write_seg(SEG_CS, (uint16_t)r[VREG_CS_SEL], r[VREG_CS_BASE], cs_limit,
              (uint32_t)r[VREG_CS_ATTR]);
    vmx_write_seg(SEG_ES, BOOT_DS, 0, 0xFFFFFFFFu, AR_DATA32);
    vmx_write_seg(SEG_SS, BOOT_DS, 0, 0xFFFFFFFFu, AR_DATA32);
    vmx_write_seg(SEG_DS, BOOT_DS, 0, 0xFFFFFFFFu, AR_DATA32);
    vmx_write_seg(SEG_FS, BOOT_DS, 0, 0xFFFFFFFFu, AR_DATA32);
    vmx_write_seg(SEG_GS, BOOT_DS, 0, 0xFFFFFFFFu, AR_DATA32);
    vmx_write_seg(SEG_LDTR, 0, 0, 0, VMX_AR_UNUSABLE);
    vmx_write_seg(SEG_TR, 0, 0, 0x67, AR_TSS_BUSY);
    vmwrite(GUEST_GDTR_BASE, 0);
    vmwrite(GUEST_GDTR_LIMIT, 0);
    vmwrite(GUEST_IDTR_BASE, 0);
    vmwrite(GUEST_IDTR_LIMIT, 0);
    vmwrite(GUEST_DR7, GUEST_DR7_DEFAULT);
    vmwrite(GUEST_IA32_DEBUGCTL, 0);
    vmwrite(GUEST_SYSENTER_CS, 0);
    vmwrite(GUEST_SYSENTER_ESP, 0);
    vmwrite(GUEST_SYSENTER_EIP, 0);
    vmwrite(GUEST_IA32_PAT, r[VREG_PAT]);
    vmwrite(GUEST_INTERRUPTIBILITY_INFO, 0);
    vmwrite(GUEST_ACTIVITY_STATE, GUEST_ACTIVITY_ACTIVE);
    vmwrite(GUEST_PENDING_DBG_EXCEPTIONS, 0);
    vmwrite(VMCS_LINK_POINTER, ~0ul);
    for (int i = 0; i < 4; i++)
        vmwrite(GUEST_PDPTE0 + 2 * i, 0);
    vmwrite(GUEST_RIP, r[VREG_RIP]);
    vmwrite(GUEST_RSP, r[VREG_RSP]);
    vmwrite(GUEST_RFLAGS, r[VREG_RFLAGS] | RFLAGS_FIXED);
    /* EFER before CR0 (LMA follows both), CR3 before CR0/CR4 (PDPTEs). */
    vmwrite(GUEST_CR0, cr0_real(r[VREG_CR0]));
    vmwrite(GUEST_IA32_EFER, r[VREG_EFER]);
    vmwrite(GUEST_CR3, r[VREG_CR3]);
    vmx_load_cr4(v, r[VREG_CR4]);
    vmx_load_cr0(v, r[VREG_CR0]);
    vmx_set_efer(v, r[VREG_EFER]);
    write_cr2(r[VREG_CR2]);
}

/* ---------------------------------------------------------------------------------------------
 * Register access. The VMCS can be read only on the CPU where it is current: on v's own CPU
 * directly, from another CPU through a cross-CPU call, and while the VMCS is clear (before the
 * first run, after the vCPU stopped) from the soft copy, which the next load writes back. */

static uint64_t reg_read(struct vcpu *v, enum vreg r)
{
    struct vmx_vcpu *vv = to_vmx(v);
    switch (r) {
    case VREG_RIP:      return vmread(GUEST_RIP);
    case VREG_RSP:      return vmread(GUEST_RSP);
    case VREG_RFLAGS:   return vmread(GUEST_RFLAGS);
    case VREG_CR0:      return (vmread(GUEST_CR0) & ~vv->cr0_mask) |
                               (vmread(CR0_READ_SHADOW) & vv->cr0_mask);
    case VREG_CR2:      return read_cr2();  /* VMX does not switch CR2: it is the guest's here */
    case VREG_CR3:      return vmread(GUEST_CR3);
    case VREG_CR4:      return (vmread(GUEST_CR4) & ~vv->cr4_mask) |
                               (vmread(CR4_READ_SHADOW) & vv->cr4_mask);
    case VREG_EFER:     return vmread(GUEST_IA32_EFER);
    case VREG_CS_SEL:   return vmread(GUEST_CS_SELECTOR);
    case VREG_CS_BASE:  return vmread(GUEST_CS_BASE);
    case VREG_CS_ATTR:  return vmread(GUEST_CS_AR_BYTES);
    case VREG_PAT:      return vmread(GUEST_IA32_PAT);
    case VREG_CPL:      return (vmread(GUEST_SS_AR_BYTES) >> 5) & 3;   /* CPL = SS.DPL */
    case VREG_DR6:      return read_dr6();  /* VMX does not switch DR6 either */
    case VREG_DR7:      return vmread(GUEST_DR7);
    default:            return 0;
    }
}

static void reg_write(struct vcpu *v, enum vreg r, uint64_t val)
{
    switch (r) {
    case VREG_RIP:      vmwrite(GUEST_RIP, val); break;
    case VREG_RSP:      vmwrite(GUEST_RSP, val); break;
    case VREG_RFLAGS:   vmwrite(GUEST_RFLAGS, val | RFLAGS_FIXED); break;
    case VREG_CR0:      vmx_load_cr0(v, val); break;
    case VREG_CR2:      write_cr2(val); break;
    case VREG_CR3:      vmx_load_cr3(v, val); break;
    case VREG_CR4:      vmx_load_cr4(v, val); break;
    case VREG_EFER:     vmx_set_efer(v, val); break;
    case VREG_CS_SEL:   vmwrite(GUEST_CS_SELECTOR, val); break;
    case VREG_CS_BASE:  vmwrite(GUEST_CS_BASE, val); break;
    case VREG_CS_ATTR:  vmwrite(GUEST_CS_AR_BYTES, val); break;
    case VREG_PAT:      vmwrite(GUEST_IA32_PAT, val); break;
    case VREG_DR6:      write_dr6(val); break;
    case VREG_DR7:      vmwrite(GUEST_DR7, val); break;
    default:            break;
    }
}

static inline struct vmx_cpu *my_vmx_cpu(void) { return &vmx_cpus[cpu_id()]; }

/* Makes v's (active) VMCS current on this CPU. */
static void make_current(struct vmx_vcpu *vv)
{
    struct vmx_cpu *c = my_vmx_cpu();
    if (c->current != vv) {
        vmptrld(vv->vmcs_pa);
        c->current = vv;
    }
}

struct reg_op {
    struct vcpu *v;
    enum vreg r;
    uint64_t val;
    bool write, done;
};

static void reg_op_here(void *arg)
{
    struct reg_op *op = arg;
    struct vmx_vcpu *vv = to_vmx(op->v);
    if (vv->cpu != (int)cpu_id())
        return;                         /* moved or cleared meanwhile: the caller retries */
    make_current(vv);
    if (op->write)
        reg_write(op->v, op->r, op->val);
    else
        op->val = reg_read(op->v, op->r);
    op->done = true;
}

static void reg_op(struct reg_op *op)
{
    struct vmx_vcpu *vv = to_vmx(op->v);
    for (int tries = 0; tries < 3 && !op->done; tries++) {
        uint64_t f = irq_save();
        int cpu = vv->cpu;
        if (cpu == (int)cpu_id()) {
            reg_op_here(op);
        } else if (cpu < 0) {
            /* Clear: the soft copy is the state. */
            if (op->write) {
                vv->soft.r[op->r] = op->val;
                vv->soft_dirty |= 1u << op->r;
            } else {
                op->val = vv->soft.r[op->r];
            }
            op->done = true;
        }
        irq_restore(f);
        if (!op->done && cpu >= 0 && cpu != (int)cpu_id())
            smp_call((unsigned)cpu, reg_op_here, op);
    }
    if (!op->done) {
        pr_warn("vmx: vcpu %u of %s: register %d not reachable on cpu %d\n", op->v->id,
                op->v->vm->name, op->r, vv->cpu);
        if (!op->write)
            op->val = vv->soft.r[op->r];
    }
}

uint64_t vmx_get_reg(struct vcpu *v, enum vreg r)
{
    struct vmx_vcpu *vv = to_vmx(v);
    if ((unsigned)r >= VREG_COUNT)
        return 0;
    /* Fast path: from v's own exit handlers. */
    if (vv->cpu == (int)cpu_id() && my_vmx_cpu()->current == vv)
        return reg_read(v, r);
    struct reg_op op = { .v = v, .r = r };
    reg_op(&op);
    return op.val;
}

void vmx_set_reg(struct vcpu *v, enum vreg r, uint64_t val)
{
    struct vmx_vcpu *vv = to_vmx(v);
    if ((unsigned)r >= VREG_COUNT)
        return;
    if (vv->cpu == (int)cpu_id() && my_vmx_cpu()->current == vv) {
        reg_write(v, r, val);
        return;
    }
    struct reg_op op = { .v = v, .r = r, .val = val, .write = true };
    reg_op(&op);
}

/* ---------------------------------------------------------------------------------------------
 * VMCS life cycle: built on the first run on the vCPU's CPU, cleared when the loop ends (so it
 * may be loaded on any CPU afterwards), freed with the vCPU. */

int vmx_load_vmcs(struct vcpu *v)
{
    struct vmx_vcpu *vv = to_vmx(v);
    struct vmx_cpu *c = my_vmx_cpu();
    if (!c->on) {
        vm_stop(v->vm, "vmx: VMX is not enabled on cpu %u", cpu_id());
        return -1;
    }
    if (vv->cpu >= 0 && vv->cpu != (int)cpu_id()) {
        vm_stop(v->vm, "vmx: VMCS of vcpu %u still active on cpu %d", v->id, vv->cpu);
        return -1;
    }
    if (vv->cpu == (int)cpu_id()) {
        make_current(vv);
        return 0;
    }
    if (!vmclear(vv->vmcs_pa) || !vmptrld(vv->vmcs_pa)) {
        vm_stop(v->vm, "vmx: VMPTRLD of vcpu %u failed", v->id);
        return -1;
    }
    c->current = vv;
    vv->launched = false;
    vv->host_rsp = 0;
    __atomic_store_n(&vv->cpu, (int)cpu_id(), __ATOMIC_SEQ_CST);
    write_host_state();
    if (!vv->setup) {
        if (!(vv->soft_dirty & (1u << VREG_RIP)))
            vv->soft.r[VREG_RIP] = v->entry_rip;    /* the loader may set it after vcpu_init */
        write_controls(v);
        write_guest_state(v);
        vv->setup = true;
    } else {
        for (unsigned r = 0; r < VREG_COUNT; r++)
            if (vv->soft_dirty & (1u << r))
                reg_write(v, (enum vreg)r, vv->soft.r[r]);
    }
    vv->soft_dirty = 0;
    vv->flush_ept = false;
    /* Tables and VPID may have been used by someone else since this CPU last saw them. */
    invept(vmx_caps.invept_type, vmx_eptp(v->vm));
    vmx_flush_guest_tlb(v);
    return 0;
}

void vmx_unload_vmcs(struct vcpu *v)
{
    struct vmx_vcpu *vv = to_vmx(v);
    struct vmx_cpu *c = my_vmx_cpu();
    if (vv->cpu != (int)cpu_id())
        return;
    make_current(vv);
    for (unsigned r = 0; r < VREG_COUNT; r++)
        vv->soft.r[r] = reg_read(v, (enum vreg)r);
    vmclear(vv->vmcs_pa);
    c->current = 0;
    vv->launched = false;
    __atomic_store_n(&vv->cpu, -1, __ATOMIC_SEQ_CST);
}

static void unload_here(void *arg)
{
    uint64_t f = irq_save();
    vmx_unload_vmcs(arg);
    irq_restore(f);
}

/* Off its CPU, wherever that is. */
static void unload_anywhere(struct vcpu *v)
{
    int cpu = to_vmx(v)->cpu;
    if (cpu == (int)cpu_id())
        unload_here(v);
    else if (cpu >= 0 && !smp_call((unsigned)cpu, unload_here, v))
        pr_warn("vmx: cpu %d did not release the VMCS of vcpu %u\n", cpu, v->id);
}

static int vmx_vcpu_init(struct vcpu *v)
{
    struct vmx_vcpu *vv = to_vmx(v);
    if (!vv) {
        uint64_t pa = pmm_alloc(2, 1, vm_owner(v->vm));
        if (!pa)
            return -1;
        vv = phys_to_virt(pa);
        v->vendor = vv;
        vv->vmcs_pa = pa + PAGE_SIZE;
        vv->cpu = -1;
    } else {
        unload_anywhere(v);
        if (vv->cpu >= 0)
            return -1;
    }
    uint64_t vmcs = vv->vmcs_pa;
    memset(vv, 0, sizeof *vv);
    vv->vmcs_pa = vmcs;
    vv->cpu = -1;
    memset(phys_to_virt(vmcs), 0, PAGE_SIZE);
    *(uint32_t *)phys_to_virt(vmcs) = vmx_caps.revision;

    uint64_t *r = vv->soft.r;
    r[VREG_RIP] = v->entry_rip;
    r[VREG_RSP] = v->gpr[GPR_RSP];
    r[VREG_RFLAGS] = RFLAGS_FIXED;
    r[VREG_CR0] = CR0_PE | CR0_ET;
    r[VREG_CS_SEL] = BOOT_CS64;     /* 0x08: a flat 32-bit code selector for the guest */
    r[VREG_CS_BASE] = 0;
    r[VREG_CS_ATTR] = AR_CODE32;
    r[VREG_PAT] = GUEST_PAT_DEFAULT;
    if (v->entry_cr3)
        vmx_entry_long_mode(v, r);
    v->gpr[GPR_RAX] = v->entry_rax;
    v->gpr[GPR_RBX] = v->entry_rbx;
    if (v->uid == 0 || v->uid > 0xFFFF) {
        pr_err("vmx: vcpu uid %u is not a usable VPID\n", v->uid);
        return -1;
    }
    return 0;
}

static void vmx_vcpu_free(struct vcpu *v)
{
    struct vmx_vcpu *vv = to_vmx(v);
    if (!vv)
        return;
    unload_anywhere(v);
    if (vv->cpu >= 0)
        return;                 /* still in use somewhere: leak rather than corrupt */
    pmm_free(virt_to_phys(vv), 2, vm_owner(v->vm));
    v->vendor = 0;
}

const struct vcpu_vendor vmx_vendor = {
    .name = "vmx",
    .probe = vmx_probe,
    .cpu_enable = vmx_cpu_enable,
    .vcpu_init = vmx_vcpu_init,
    .vcpu_run = vmx_vcpu_run,
    .get_reg = vmx_get_reg,
    .set_reg = vmx_set_reg,
    .vcpu_free = vmx_vcpu_free,
    .get_state = vmx_get_state,
    .reset = vmx_reset,
    .set_debug = vmx_set_debug,
    .gpt_format = &vmx_ept_format,
    .gpt_leaf = vmx_gpt_leaf,
    .gpt_rights = vmx_gpt_rights,
    .gpt_flush = vmx_gpt_flush,
    .exit_index = vmx_exit_index,
    .exit_name = vmx_exit_name,
    .exit_code = vmx_exit_code,
};
