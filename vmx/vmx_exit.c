/* The VMX exit loop (kernel/virt/exit.h has the contract), event injection, and the exit table:
 * one handler per basic exit reason, either a neutral handler from kernel/virt/exit.h or a small
 * adapter here that decodes the exit qualification first. */
#include "vmx/vmx.h"
#include "kernel/virt/exit.h"
#include "kernel/virt/intr.h"
#include "kernel/virt/vm.h"
#include "kernel/log.h"
#include "kernel/percpu.h"
#include "kernel/x86.h"

#define likely(x)       __builtin_expect(!!(x), 1)
#define unlikely(x)     __builtin_expect(!!(x), 0)

#define VMX_EXIT_UNKNOWN_SLOT   VMX_EXIT_REASONS    /* counter/table slot of every other reason */
#define X86_CP                  21

typedef int (*vmx_exit_fn)(struct vcpu *v);

/* ---------------------------------------------------------------------------------------------
 * Events */

static bool pushes_error_code(unsigned vector)
{
    return vector == X86_DF || (vector >= X86_TS && vector <= X86_PF) || vector == 17 ||
           vector == X86_CP || vector == 29 || vector == 30;
}

static void set_ctl(struct vmx_vcpu *vv, uint32_t bit, bool on)
{
    uint32_t c = on ? vv->cpu_ctls | bit : vv->cpu_ctls & ~bit;
    if (c != vv->cpu_ctls) {
        vv->cpu_ctls = c;
        vmwrite(CPU_BASED_VM_EXEC_CONTROL, c);
    }
}

/* The oldest queued exception into VM_ENTRY_INTR_INFO, unless an event re-injected from
 * IDT-vectoring information is already there (VM exits clear the field). */
static void inject_event(struct vcpu *v)
{
    struct vcpu_event e;
    if ((vmread(VM_ENTRY_INTR_INFO) & INTR_INFO_VALID) || !vcpu_peek_event(v, &e))
        return;
    uint32_t info = e.vector | INTR_INFO_VALID | INTR_TYPE_HARD_EXCEPTION;
    /* Real mode delivers no error code, and VM entry insists. */
    if (e.has_error && pushes_error_code(e.vector) && (vmread(GUEST_CR0) & CR0_PE)) {
        info |= INTR_INFO_DELIVER_CODE;
        vmwrite(VM_ENTRY_EXCEPTION_ERROR_CODE, e.error);
    }
    vmwrite(VM_ENTRY_INTR_INFO, info);
    vcpu_pop_event(v);
}

/* Interrupts and NMIs: kernel/virt/intr.c decides from what the guest can take now; this only
 * injects its choice and opens the windows it asks for. */
static void deliver_intr(struct vcpu *v)
{
    struct vmx_vcpu *vv = to_vmx(v);
    uint32_t is = (uint32_t)vmread(GUEST_INTERRUPTIBILITY_INFO);
    uint32_t shadow = is & (GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS);
    bool busy = vmread(VM_ENTRY_INTR_INFO) & INTR_INFO_VALID;
    if (!(is & GUEST_INTR_STATE_NMI))
        vv->nmi_blocked = false;
    bool irq_ok = !busy && !shadow && (vmread(GUEST_RFLAGS) & RFLAGS_IF);
    bool nmi_ok = !busy && !shadow && !(is & GUEST_INTR_STATE_NMI);
    uint8_t vector;
    unsigned r = intr_next(v, irq_ok, nmi_ok, &vector);
    if (r & INTR_INJECT_NMI) {
        vmwrite(VM_ENTRY_INTR_INFO, X86_NMI | INTR_TYPE_NMI | INTR_INFO_VALID);
        vv->nmi_blocked = true;
    } else if (r & INTR_INJECT_IRQ) {
        vmwrite(VM_ENTRY_INTR_INFO, vector | INTR_TYPE_EXT_INTR | INTR_INFO_VALID);
    }
    set_ctl(vv, CPU_INTR_WINDOW_EXITING, r & INTR_WINDOW_IRQ);
    if (vmx_caps.nmi_window)
        set_ctl(vv, CPU_NMI_WINDOW_EXITING, r & INTR_WINDOW_NMI);
}

/* An exit in the middle of delivering an event (IDT-vectoring information valid) loses that
 * event unless it is injected again; it goes before anything queued (inject_event sees the
 * valid bit). Only the exits that can happen during event delivery call this. */
static void reinject_idt_event(struct vcpu *v)
{
    uint32_t info = (uint32_t)vmread(IDT_VECTORING_INFO);
    if (!(info & INTR_INFO_VALID))
        return;
    uint32_t type = info & INTR_INFO_TYPE_MASK;
    vmwrite(VM_ENTRY_INTR_INFO, info & (INTR_INFO_VALID | INTR_INFO_DELIVER_CODE |
                                        INTR_INFO_TYPE_MASK | INTR_INFO_VECTOR_MASK));
    if (info & INTR_INFO_DELIVER_CODE)
        vmwrite(VM_ENTRY_EXCEPTION_ERROR_CODE, vmread(IDT_VECTORING_ERROR_CODE));
    if (type == INTR_TYPE_SOFT_INTR || type == INTR_TYPE_PRIV_SOFT_EXCEPTION ||
        type == INTR_TYPE_SOFT_EXCEPTION)
        vmwrite(VM_ENTRY_INSTRUCTION_LEN, vmread(VM_EXIT_INSTRUCTION_LEN));
}

static int inject_ud(struct vcpu *v)
{
    vcpu_inject_exception(v, X86_UD, false, 0);
    return EXIT_RETRY;
}

static int inject_gp(struct vcpu *v)
{
    vcpu_inject_exception(v, X86_GP, true, 0);
    return EXIT_RETRY;
}

/* ---------------------------------------------------------------------------------------------
 * Exit handlers that need VMX decoding */

/* Another vCPU's VMCS may have been made current by a cross-CPU call run meanwhile. */
static inline void keep_current(struct vcpu *v)
{
    if (unlikely(vmx_cpus[cpu_id()].current != to_vmx(v)))
        vmx_load_vmcs(v);
}

/* A kick from vmx_gpt_flush always ends up here (the IPI makes the guest exit, or the watchdog
 * does) or in before_entry (the vCPU was waiting), so flush_ept is looked at only there. */
static int vmx_exit_extint(struct vcpu *v)
{
    reinject_idt_event(v);
    int a = exit_extint(v);
    keep_current(v);
    vmx_ept_flush_pending(v);
    return a;
}

/* Reason 0: an NMI (Keel's kick: kernel/smp.c cpu_kick) or an exception in the bitmap (none
 * today). The NMI exited instead of reaching the host and leaves NMIs blocked until the next
 * IRET: INT 2 runs the host's NMI handler, whose IRET unblocks them; then it is a kick. The
 * guest itself was not blocking NMIs (Keel injects none), but Bochs saves "blocking by NMI" as
 * set after such an exit and the next entry would then block NMIs for good: every later kick
 * would stay pending. Clear it. */
static int vmx_exit_exception_nmi(struct vcpu *v)
{
    uint32_t info = (uint32_t)vmread(VM_EXIT_INTR_INFO);
    if ((info & INTR_INFO_TYPE_MASK) == INTR_TYPE_NMI) {
        __asm__ volatile("int $2" ::: "memory");
        uint32_t s = (uint32_t)vmread(GUEST_INTERRUPTIBILITY_INFO);
        if ((s & GUEST_INTR_STATE_NMI) && !to_vmx(v)->nmi_blocked)
            vmwrite(GUEST_INTERRUPTIBILITY_INFO, s & ~GUEST_INTR_STATE_NMI);
        return vmx_exit_extint(v);
    }
    reinject_idt_event(v);
    unsigned vector = info & INTR_INFO_VECTOR_MASK;
    if (unlikely(vector == X86_DB || vector == X86_BP))
        return vmx_debug_exception(v, info);    /* intercepted only while gdb is attached */
    uint32_t error = info & INTR_INFO_DELIVER_CODE ? (uint32_t)vmread(VM_EXIT_INTR_ERROR_CODE) : 0;
    return exit_exception(v, info & INTR_INFO_VECTOR_MASK, error);
}

/* The watchdog fired: same as a host interrupt (take what is pending, do this CPU's work, poll
 * the shell on CPU 0, look at requests). The timer restarts at every entry. */
static int vmx_exit_preemption_timer(struct vcpu *v)
{
    return vmx_exit_extint(v);
}

/* The guest can take an interrupt (or NMI) now: the loop injects it (intr_check is still set). */
static int vmx_exit_interrupt_window(struct vcpu *v)
{
    set_ctl(to_vmx(v), CPU_INTR_WINDOW_EXITING, false);
    v->intr_check = true;
    return EXIT_RETRY;
}

static int vmx_exit_nmi_window(struct vcpu *v)
{
    set_ctl(to_vmx(v), CPU_NMI_WINDOW_EXITING, false);
    v->intr_check = true;
    return EXIT_RETRY;
}


/* OUT/IN (hot: the guest's console) are packed into struct io_exit with one store. */
_Static_assert(__builtin_offsetof(struct io_exit, port) == 0 &&
               __builtin_offsetof(struct io_exit, size) == 2 &&
               __builtin_offsetof(struct io_exit, in) == 3 &&
               __builtin_offsetof(struct io_exit, string) == 4 &&
               __builtin_offsetof(struct io_exit, rep) == 5, "struct io_exit layout");

static int vmx_exit_io(struct vcpu *v)
{
    uint32_t q = (uint32_t)vmread(EXIT_QUALIFICATION);
    union { struct io_exit io; uint64_t raw; } u;
    if (likely(!(q & (IO_QUAL_STRING | IO_QUAL_REP))))
        u.raw = IO_QUAL_PORT(q) | (uint64_t)IO_QUAL_SIZE(q) << 16 |
                (uint64_t)(q & IO_QUAL_IN) << 21;       /* `in` is byte 3: bit 3 -> bit 24 */
    else
        u.io = (struct io_exit){ .port = IO_QUAL_PORT(q), .size = IO_QUAL_SIZE(q),
                                 .in = q & IO_QUAL_IN, .string = q & IO_QUAL_STRING,
                                 .rep = q & IO_QUAL_REP };
    return exit_io(v, &u.io);
}

static int vmx_exit_ept_violation(struct vcpu *v)
{
    reinject_idt_event(v);
    uint64_t q = vmread(EXIT_QUALIFICATION);
    unsigned access = q & EPT_QUAL_WRITE ? GPA_W : q & EPT_QUAL_FETCH ? GPA_X : GPA_R;
    if (vmread(IDT_VECTORING_INFO) & INTR_INFO_VALID)
        access |= GPA_IN_DELIVERY;
    return exit_gpa_fault(v, vmread(GUEST_PHYSICAL_ADDRESS), access);
}

static int vmx_exit_ept_misconfig(struct vcpu *v)
{
    vm_stop(v->vm, "EPT misconfiguration at gpa %#lx, rip=%#lx (a Keel bug)",
            vmread(GUEST_PHYSICAL_ADDRESS), vmread(GUEST_RIP));
    return EXIT_STOP;
}

static int vmx_exit_init(struct vcpu *v)
{
    return exit_init_signal(v);
}

/* Exits that need nothing done: SMIs, a SIPI outside wait-for-SIPI. */
static int vmx_exit_ignore(struct vcpu *v)
{
    return EXIT_RETRY;
}

/* Instructions with nothing to emulate: skip them (INVD keeps caches coherent by not running;
 * WBINVD and PAUSE only exit when asked to). */
static int vmx_exit_skip(struct vcpu *v)
{
    return EXIT_NEXT;
}

static int vmx_exit_invlpg(struct vcpu *v)
{
    vmx_flush_guest_tlb(v);
    return EXIT_NEXT;
}

static void entry_failed(struct vcpu *v, uint32_t reason);

/* Reasons 33, 34 and 41 come only with bit 31 set: the VM entry itself failed. */
static int vmx_exit_entry_failed(struct vcpu *v)
{
    entry_failed(v, (uint32_t)vmread(VM_EXIT_REASON));
    return EXIT_STOP;
}

static int vmx_exit_unknown(struct vcpu *v)
{
    return exit_unhandled(v, VMX_EXIT_REASON_BASIC((uint32_t)vmread(VM_EXIT_REASON)));
}

/* Control-register accesses: CR0/CR4 writes that touch a bit Keel owns (the masks), CLTS and
 * LMSW when they would, and all CR8 accesses (the guest's TPR is virtual). CR3 exits only if
 * the CPU insists on CR3 exiting. */
static uint64_t cr_source(struct vcpu *v, unsigned gpr)
{
    uint64_t val = gpr == GPR_RSP ? vmread(GUEST_RSP) : v->gpr[gpr];
    return vmread(GUEST_IA32_EFER) & EFER_LMA ? val : (uint32_t)val;
}

static int mov_to_cr0(struct vcpu *v, uint64_t val)
{
    uint64_t old = vmx_guest_cr0(), efer = vmread(GUEST_IA32_EFER);
    val |= CR0_ET;
    if ((val >> 32) || ((val & CR0_PG) && !(val & CR0_PE)) || ((val & CR0_NW) && !(val & CR0_CD)))
        return inject_gp(v);
    if (!(old & CR0_PG) && (val & CR0_PG)) {
        uint64_t cr4 = vmx_guest_cr4(), pdpte[4];
        if (efer & EFER_LME) {
            /* Entering long mode: PAE first, and not from a 64-bit code segment. */
            if (!(cr4 & CR4_PAE) || (vmread(GUEST_CS_AR_BYTES) & VMX_AR_L))
                return inject_gp(v);
        } else if ((cr4 & CR4_PAE) && !vmx_read_pdptes(v, vmread(GUEST_CR3), pdpte)) {
            return inject_gp(v);
        }
    }
    if ((old & CR0_PG) && !(val & CR0_PG) && (efer & EFER_LMA) &&
        (vmread(GUEST_CS_AR_BYTES) & VMX_AR_L))
        return inject_gp(v);        /* paging off from 64-bit mode */
    vmx_load_cr0(v, val);
    return EXIT_NEXT;
}

static int mov_to_cr4(struct vcpu *v, uint64_t val)
{
    uint64_t pdpte[4];
    if (val & vmx_cr4_guest_reserved())
        return inject_gp(v);
    uint64_t efer = vmread(GUEST_IA32_EFER);
    if ((efer & EFER_LMA) && !(val & CR4_PAE))
        return inject_gp(v);
    if ((vmread(GUEST_CR0) & CR0_PG) && !(efer & EFER_LMA) && (val & CR4_PAE) &&
        !vmx_read_pdptes(v, vmread(GUEST_CR3), pdpte))
        return inject_gp(v);
    vmx_load_cr4(v, val);
    return EXIT_NEXT;
}

static int vmx_exit_cr_access(struct vcpu *v)
{
    uint64_t q = vmread(EXIT_QUALIFICATION);
    unsigned cr = CR_QUAL_NUM(q), gpr = CR_QUAL_GPR(q);
    switch (CR_QUAL_TYPE(q)) {
    case CR_QUAL_TYPE_MOV_TO_CR: {
        uint64_t val = cr_source(v, gpr);
        switch (cr) {
        case 0: return mov_to_cr0(v, val);
        case 3: vmx_load_cr3(v, val); return EXIT_NEXT;
        case 4: return mov_to_cr4(v, val);
        case 8:
            if (val & ~0xFul)
                return inject_gp(v);
            vlapic_set_cr8(&v->lapic, val);
            v->intr_check = true;
            return EXIT_NEXT;
        }
        break;
    }
    case CR_QUAL_TYPE_MOV_FROM_CR: {
        uint64_t val;
        if (cr == 3)
            val = vmread(GUEST_CR3);
        else if (cr == 8)
            val = vlapic_cr8(&v->lapic);
        else
            break;
        if (gpr == GPR_RSP)
            vmwrite(GUEST_RSP, val);
        else
            v->gpr[gpr] = val;
        return EXIT_NEXT;
    }
    case CR_QUAL_TYPE_CLTS:
        return mov_to_cr0(v, vmx_guest_cr0() & ~CR0_TS);
    case CR_QUAL_TYPE_LMSW: {
        /* LMSW loads PE, MP, EM, TS; it can set PE but not clear it. */
        uint64_t cr0 = vmx_guest_cr0(), src = CR_QUAL_LMSW_DATA(q) & 0xF;
        return mov_to_cr0(v, (cr0 & ~0xEul) | src | (cr0 & CR0_PE));
    }
    }
    return exit_unhandled(v, VMX_EXIT_CR_ACCESS);
}

/* ---------------------------------------------------------------------------------------------
 * The exit table: every basic reason below VMX_EXIT_REASONS, plus the "unknown" slot. */

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverride-init"
static const vmx_exit_fn vmx_exit_table[VMX_EXIT_REASONS + 1] = {
    [0 ... VMX_EXIT_REASONS]            = vmx_exit_unknown,
    [VMX_EXIT_EXCEPTION_NMI]            = vmx_exit_exception_nmi,
    [VMX_EXIT_EXTERNAL_INTERRUPT]       = vmx_exit_extint,
    [VMX_EXIT_TRIPLE_FAULT]             = exit_triple_fault,
    [VMX_EXIT_INIT_SIGNAL]              = vmx_exit_init,
    [VMX_EXIT_SIPI]                     = vmx_exit_ignore,
    [VMX_EXIT_IO_SMI]                   = vmx_exit_ignore,
    [VMX_EXIT_OTHER_SMI]                = vmx_exit_ignore,
    [VMX_EXIT_INTERRUPT_WINDOW]         = vmx_exit_interrupt_window,
    [VMX_EXIT_NMI_WINDOW]               = vmx_exit_nmi_window,
    [VMX_EXIT_CPUID]                    = exit_cpuid,
    [VMX_EXIT_GETSEC]                   = inject_ud,
    [VMX_EXIT_HLT]                      = exit_hlt,    /* vmx_skip_insn ends "sti; hlt"'s shadow */
    [VMX_EXIT_INVD]                     = vmx_exit_skip,
    [VMX_EXIT_INVLPG]                   = vmx_exit_invlpg,
    [VMX_EXIT_RSM]                      = inject_ud,
    [VMX_EXIT_VMCALL]                   = exit_hypercall,
    [VMX_EXIT_VMCLEAR]                  = inject_ud,
    [VMX_EXIT_VMLAUNCH]                 = inject_ud,
    [VMX_EXIT_VMPTRLD]                  = inject_ud,
    [VMX_EXIT_VMPTRST]                  = inject_ud,
    [VMX_EXIT_VMREAD]                   = inject_ud,
    [VMX_EXIT_VMRESUME]                 = inject_ud,
    [VMX_EXIT_VMWRITE]                  = inject_ud,
    [VMX_EXIT_VMXOFF]                   = inject_ud,
    [VMX_EXIT_VMXON]                    = inject_ud,
    [VMX_EXIT_CR_ACCESS]                = vmx_exit_cr_access,
    [VMX_EXIT_IO_INSTRUCTION]           = vmx_exit_io,
    [VMX_EXIT_RDMSR]                    = exit_rdmsr,
    [VMX_EXIT_WRMSR]                    = exit_wrmsr,
    [VMX_EXIT_ENTRY_FAIL_GUEST]         = vmx_exit_entry_failed,
    [VMX_EXIT_ENTRY_FAIL_MSR]           = vmx_exit_entry_failed,
    [VMX_EXIT_ENTRY_FAIL_MC]            = vmx_exit_entry_failed,
    [VMX_EXIT_MWAIT]                    = inject_ud,       /* MONITOR/MWAIT are hidden */
    [VMX_EXIT_MONITOR]                  = inject_ud,
    [VMX_EXIT_PAUSE]                    = vmx_exit_skip,
    [VMX_EXIT_EPT_VIOLATION]            = vmx_exit_ept_violation,
    [VMX_EXIT_EPT_MISCONFIG]            = vmx_exit_ept_misconfig,
    [VMX_EXIT_INVEPT]                   = inject_ud,
    [VMX_EXIT_PREEMPTION_TIMER]         = vmx_exit_preemption_timer,
    [VMX_EXIT_MONITOR_TRAP_FLAG]        = vmx_exit_mtf,
    [VMX_EXIT_INVVPID]                  = inject_ud,
    [VMX_EXIT_WBINVD]                   = vmx_exit_skip,
    [VMX_EXIT_XSETBV]                   = inject_ud,       /* XSAVE is hidden */
    [VMX_EXIT_VMFUNC]                   = inject_ud,
    [VMX_EXIT_ENCLS]                    = inject_ud,
    [VMX_EXIT_XSAVES]                   = inject_ud,
    [VMX_EXIT_XRSTORS]                  = inject_ud,
    [VMX_EXIT_PCONFIG]                  = inject_ud,
    [VMX_EXIT_UMWAIT]                   = inject_ud,
    [VMX_EXIT_TPAUSE]                   = inject_ud,
    [VMX_EXIT_ENCLV]                    = inject_ud,
    [VMX_EXIT_SEAMCALL]                 = inject_ud,
    [VMX_EXIT_TDCALL]                   = inject_ud,
};
#pragma GCC diagnostic pop

static const char *const exit_names[VMX_EXIT_REASONS] = {
    [VMX_EXIT_EXCEPTION_NMI] = "EXCEPTION_NMI",     [VMX_EXIT_EXTERNAL_INTERRUPT] = "EXTINT",
    [VMX_EXIT_TRIPLE_FAULT] = "TRIPLE_FAULT",       [VMX_EXIT_INIT_SIGNAL] = "INIT",
    [VMX_EXIT_SIPI] = "SIPI",                       [VMX_EXIT_IO_SMI] = "IO_SMI",
    [VMX_EXIT_OTHER_SMI] = "OTHER_SMI",             [VMX_EXIT_INTERRUPT_WINDOW] = "INTR_WINDOW",
    [VMX_EXIT_NMI_WINDOW] = "NMI_WINDOW",           [VMX_EXIT_TASK_SWITCH] = "TASK_SWITCH",
    [VMX_EXIT_CPUID] = "CPUID",                     [VMX_EXIT_GETSEC] = "GETSEC",
    [VMX_EXIT_HLT] = "HLT",                         [VMX_EXIT_INVD] = "INVD",
    [VMX_EXIT_INVLPG] = "INVLPG",                   [VMX_EXIT_RDPMC] = "RDPMC",
    [VMX_EXIT_RDTSC] = "RDTSC",                     [VMX_EXIT_RSM] = "RSM",
    [VMX_EXIT_VMCALL] = "VMCALL",                   [VMX_EXIT_VMCLEAR] = "VMCLEAR",
    [VMX_EXIT_VMLAUNCH] = "VMLAUNCH",               [VMX_EXIT_VMPTRLD] = "VMPTRLD",
    [VMX_EXIT_VMPTRST] = "VMPTRST",                 [VMX_EXIT_VMREAD] = "VMREAD",
    [VMX_EXIT_VMRESUME] = "VMRESUME",               [VMX_EXIT_VMWRITE] = "VMWRITE",
    [VMX_EXIT_VMXOFF] = "VMXOFF",                   [VMX_EXIT_VMXON] = "VMXON",
    [VMX_EXIT_CR_ACCESS] = "CR_ACCESS",             [VMX_EXIT_DR_ACCESS] = "DR_ACCESS",
    [VMX_EXIT_IO_INSTRUCTION] = "IO",               [VMX_EXIT_RDMSR] = "RDMSR",
    [VMX_EXIT_WRMSR] = "WRMSR",                   [VMX_EXIT_ENTRY_FAIL_GUEST] = "ENTRY_FAIL_GUEST",
    [VMX_EXIT_ENTRY_FAIL_MSR] = "ENTRY_FAIL_MSR",    [VMX_EXIT_MWAIT] = "MWAIT",
    [VMX_EXIT_MONITOR_TRAP_FLAG] = "MTF",           [VMX_EXIT_MONITOR] = "MONITOR",
    [VMX_EXIT_PAUSE] = "PAUSE",                     [VMX_EXIT_ENTRY_FAIL_MC] = "ENTRY_FAIL_MC",
    [VMX_EXIT_TPR_BELOW_THRESHOLD] = "TPR_BELOW_THRESHOLD",
    [VMX_EXIT_APIC_ACCESS] = "APIC_ACCESS",         [VMX_EXIT_VIRTUALIZED_EOI] = "VIRTUALIZED_EOI",
    [VMX_EXIT_GDTR_IDTR] = "GDTR_IDTR",             [VMX_EXIT_LDTR_TR] = "LDTR_TR",
    [VMX_EXIT_EPT_VIOLATION] = "EPT_VIOLATION",     [VMX_EXIT_EPT_MISCONFIG] = "EPT_MISCONFIG",
    [VMX_EXIT_INVEPT] = "INVEPT",                   [VMX_EXIT_RDTSCP] = "RDTSCP",
    [VMX_EXIT_PREEMPTION_TIMER] = "PREEMPT_TIMER",  [VMX_EXIT_INVVPID] = "INVVPID",
    [VMX_EXIT_WBINVD] = "WBINVD",                   [VMX_EXIT_XSETBV] = "XSETBV",
    [VMX_EXIT_APIC_WRITE] = "APIC_WRITE",           [VMX_EXIT_RDRAND] = "RDRAND",
    [VMX_EXIT_INVPCID] = "INVPCID",                 [VMX_EXIT_VMFUNC] = "VMFUNC",
    [VMX_EXIT_ENCLS] = "ENCLS",                     [VMX_EXIT_RDSEED] = "RDSEED",
    [VMX_EXIT_PML_FULL] = "PML_FULL",               [VMX_EXIT_XSAVES] = "XSAVES",
    [VMX_EXIT_XRSTORS] = "XRSTORS",                 [VMX_EXIT_PCONFIG] = "PCONFIG",
    [VMX_EXIT_SPP] = "SPP",                         [VMX_EXIT_UMWAIT] = "UMWAIT",
    [VMX_EXIT_TPAUSE] = "TPAUSE",                   [VMX_EXIT_LOADIWKEY] = "LOADIWKEY",
    [VMX_EXIT_ENCLV] = "ENCLV",                     [VMX_EXIT_ENQCMD_PASID] = "ENQCMD_PASID",
    [VMX_EXIT_ENQCMDS_PASID] = "ENQCMDS_PASID",     [VMX_EXIT_BUS_LOCK] = "BUS_LOCK",
    [VMX_EXIT_NOTIFY] = "NOTIFY",                   [VMX_EXIT_SEAMCALL] = "SEAMCALL",
    [VMX_EXIT_TDCALL] = "TDCALL",                   [VMX_EXIT_RDMSRLIST] = "RDMSRLIST",
    [VMX_EXIT_WRMSRLIST] = "WRMSRLIST",
};

static inline unsigned exit_slot(uint32_t code)
{
    return code < VMX_EXIT_REASONS ? code : VMX_EXIT_UNKNOWN_SLOT;
}

unsigned vmx_exit_index(uint32_t code)
{
    return exit_slot(code);
}

uint32_t vmx_exit_code(unsigned index)
{
    return index < VMX_EXIT_REASONS ? index : 0xFFFF;
}

const char *vmx_exit_name(uint32_t code)
{
    code = VMX_EXIT_REASON_BASIC(code);
    return code < VMX_EXIT_REASONS && exit_names[code] ? exit_names[code] : "UNKNOWN";
}

/* ---------------------------------------------------------------------------------------------
 * VM-entry failures: Keel bugs or a guest state Keel let through. The VM stops with the reason;
 * the details go to the log. */

static const char *insn_error_name(uint32_t e)
{
    switch (e) {
    case VMXERR_VMLAUNCH_NONCLEAR:          return "VMLAUNCH with non-clear VMCS";
    case VMXERR_VMRESUME_NONLAUNCHED:       return "VMRESUME with non-launched VMCS";
    case VMXERR_ENTRY_INVALID_CONTROL:      return "invalid control fields";
    case VMXERR_ENTRY_INVALID_HOST_STATE:   return "invalid host-state fields";
    default:                                return "see SDM 31.4";
    }
}

static void dump_guest_state(struct vcpu *v)
{
    pr_err("vmx: %s vcpu %u: rip=%#lx rsp=%#lx rflags=%#lx cr0=%#lx/%#lx cr3=%#lx cr4=%#lx/%#lx "
           "efer=%#lx\n", v->vm->name, v->id, vmread(GUEST_RIP), vmread(GUEST_RSP),
           vmread(GUEST_RFLAGS), vmread(GUEST_CR0), vmread(CR0_READ_SHADOW), vmread(GUEST_CR3),
           vmread(GUEST_CR4), vmread(CR4_READ_SHADOW), vmread(GUEST_IA32_EFER));
    pr_err("vmx:   cs=%#lx/%#lx ss=%#lx/%#lx tr=%#lx/%#lx ldtr ar=%#lx intr=%#lx activity=%#lx "
           "entry ctls=%#lx entry intr=%#lx\n", vmread(GUEST_CS_SELECTOR),
           vmread(GUEST_CS_AR_BYTES), vmread(GUEST_SS_SELECTOR), vmread(GUEST_SS_AR_BYTES),
           vmread(GUEST_TR_SELECTOR), vmread(GUEST_TR_AR_BYTES), vmread(GUEST_LDTR_AR_BYTES),
           vmread(GUEST_INTERRUPTIBILITY_INFO), vmread(GUEST_ACTIVITY_STATE),
           vmread(VM_ENTRY_CONTROLS), vmread(VM_ENTRY_INTR_INFO));
}

static void entry_insn_failed(struct vcpu *v, int fail, bool launched)
{
    if (fail == 1) {
        uint32_t e = (uint32_t)vmread(VM_INSTRUCTION_ERROR);
        vm_stop(v->vm, "%s failed: VM-instruction error %u (%s)",
                launched ? "VMRESUME" : "VMLAUNCH", e, insn_error_name(e));
        dump_guest_state(v);
    } else {
        vm_stop(v->vm, "%s failed: no current VMCS", launched ? "VMRESUME" : "VMLAUNCH");
    }
}

static void entry_failed(struct vcpu *v, uint32_t reason)
{
    uint32_t basic = VMX_EXIT_REASON_BASIC(reason);
    vm_stop(v->vm, "VM entry failed: %s (reason %u, qualification %lu) at rip=%#lx",
            basic == VMX_EXIT_ENTRY_FAIL_GUEST ? "invalid guest state" :
            basic == VMX_EXIT_ENTRY_FAIL_MSR ? "MSR loading" : "machine check",
            basic, vmread(EXIT_QUALIFICATION), vmread(GUEST_RIP));
    dump_guest_state(v);
}

/* ---------------------------------------------------------------------------------------------
 * The loop */

/* EXIT_NEXT: past the exiting instruction. Completing it ends an STI or MOV SS shadow, and
 * with it any single-step trap the CPU held pending for the shadow (Keel raises it instead,
 * through exit_insn_done, right after the instruction). */
static inline void insn_completed(void)
{
    uint32_t s = (uint32_t)vmread(GUEST_INTERRUPTIBILITY_INFO);
    if (unlikely(s & (GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS))) {
        vmwrite(GUEST_INTERRUPTIBILITY_INFO, s & ~(GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS));
        vmwrite(GUEST_PENDING_DBG_EXCEPTIONS, 0);
    }
}

static inline void vmx_skip_insn(struct vcpu *v)
{
    vmwrite(GUEST_RIP, vmread(GUEST_RIP) + vmread(VM_EXIT_INSTRUCTION_LEN));
    insn_completed();
    exit_insn_done(v, vmread(GUEST_RFLAGS));
}

/* Requests and this CPU's work; waits while the vCPU is blocked; pending EPT flushes. */
static int before_entry(struct vcpu *v)
{
    if (v->requests | this_cpu()->work) {
        int a = exit_check_requests(v);
        if (a == EXIT_BLOCK)
            a = exit_wait(v);
        if (a == EXIT_STOP)
            return EXIT_STOP;
        keep_current(v);
    }
    vmx_ept_flush_pending(v);
    return EXIT_RETRY;
}

/* vmx_entry.S has its own convention: every GPR but RBP/RSP is clobbered, so the compiler
 * keeps only what it needs across the switch instead of the stub saving all callee-saved
 * registers on every exit. */
static inline int world_switch(struct vcpu **v, struct vmx_vcpu **vv)
{
    int ret;
    __asm__ volatile("call vmx_enter"
                     : "=a"(ret), "+D"(*v), "+S"(*vv)
                     :
                     : "rbx", "rcx", "rdx", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
                       "cc", "memory");
    return ret;
}

static inline uint32_t this_cpu_work(void)
{
    uint32_t w;
    __asm__ volatile("movl %%gs:%c1, %0" : "=r"(w) : "i"(__builtin_offsetof(struct percpu, work)));
    return w;
}

void vmx_vcpu_run(struct vcpu *v)
{
    struct vmx_vcpu *vv = to_vmx(v);
    irq_disable();
    if (vmx_load_vmcs(v) != 0)
        return;
    for (;;) {
        if (unlikely(v->requests | this_cpu_work()) &&
            before_entry(v) == EXIT_STOP)
            break;
        if (unlikely(vcpu_has_event(v)))
            inject_event(v);
        if (unlikely(v->intr_check) && !(v->debug & VCPU_DBG_STEP))
            deliver_intr(v);

        int fail = world_switch(&v, &vv);
        if (unlikely(fail)) {
            entry_insn_failed(v, fail, vv->launched);
            break;
        }

        uint32_t code = VMX_EXIT_REASON_BASIC((uint32_t)vmread(VM_EXIT_REASON));
        unsigned slot = exit_slot(code);
        v->exits_total++;
        v->exits[slot]++;
        if (unlikely(v->trace_on))
            vcpu_trace_exit(v, code, vmread(GUEST_RIP), vmread(EXIT_QUALIFICATION));

        int a = vmx_exit_table[slot](v);
        if (unlikely(a == EXIT_BLOCK)) {
            a = exit_wait(v);       /* RETRY or STOP */
            keep_current(v);
            vmx_ept_flush_pending(v);
        }
        if (likely(a == EXIT_NEXT))
            vmx_skip_insn(v);
        else if (a == EXIT_STOP)
            break;
        else if (a == EXIT_EMULATED)
            insn_completed();           /* common code moved RIP and raised any #DB */
    }
    vmx_unload_vmcs(v);
}
