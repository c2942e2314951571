/* gdb on VMX: #BP and #DB exits while gdb is attached (exception bitmap), single-step by the
 * monitor trap flag (an exit after one guest instruction; the guest's RFLAGS is untouched), or
 * by RFLAGS.TF where the CPU has no MTF. */
#include "vmx/vmx.h"
#include "kernel/gdb/gdb.h"
#include "kernel/virt/exit.h"
#include "kernel/percpu.h"
#include "kernel/x86.h"

#define DB_BP_BITS      (1u << X86_DB | 1u << X86_BP)
#define DB_QUAL_HITS    0x400Ful    /* exit qualification of #DB: B0-B3 and BS, as in DR6 */

static bool mtf_usable(void)
{
    static int usable = -1;
    if (usable < 0)
        usable = !!((rdmsr(MSR_IA32_VMX_TRUE_PROCBASED_CTLS) >> 32) & CPU_MONITOR_TRAP_FLAG);
    return usable;
}

/* Without the monitor trap flag (Bochs's corei7_skylake_x has none), RFLAGS.TF with the #DB
 * exit, as on SVM: TF goes back to the guest's own value when the step ends. */
static void step_by_tf(struct vmx_vcpu *vv, bool step)
{
    uint64_t rflags = vmread(GUEST_RFLAGS);
    if (step && !vv->tf_ours) {
        vv->tf_guest = rflags & RFLAGS_TF;
        vmwrite(GUEST_RFLAGS, rflags | RFLAGS_TF);
        vv->tf_ours = true;
    } else if (!step && vv->tf_ours) {
        vmwrite(GUEST_RFLAGS, (rflags & ~RFLAGS_TF) | (vv->tf_guest ? RFLAGS_TF : 0));
        vv->tf_ours = false;
    }
}

void vmx_set_debug(struct vcpu *v, unsigned flags)
{
    struct vmx_vcpu *vv = to_vmx(v);
    if (vv->cpu != (int)cpu_id() || vmx_load_vmcs(v) != 0)
        return;                         /* only on its own CPU, where the VMCS is active */
    uint32_t bm = (uint32_t)vmread(EXCEPTION_BITMAP);
    vmwrite(EXCEPTION_BITMAP, flags & VCPU_DBG_TRAP ? bm | DB_BP_BITS : bm & ~DB_BP_BITS);
    bool step = flags & VCPU_DBG_STEP;
    if (!mtf_usable()) {
        step_by_tf(vv, step);
        return;
    }
    vv->cpu_ctls = step ? vv->cpu_ctls | CPU_MONITOR_TRAP_FLAG
                        : vv->cpu_ctls & ~CPU_MONITOR_TRAP_FLAG;
    vmwrite(CPU_BASED_VM_EXEC_CONTROL, vv->cpu_ctls);
}

/* A #DB or #BP exit (the bitmap has them only while gdb is attached). Not gdb's: delivered to
 * the guest as the CPU would have (#BP as the software exception INT3 raises, with its length;
 * #DB with the DR6 bits the CPU would have set, as VMX leaves DR6 to software). */
int vmx_debug_exception(struct vcpu *v, uint32_t info)
{
    unsigned vector = info & INTR_INFO_VECTOR_MASK;
    uint64_t hits = vector == X86_DB ? vmread(EXIT_QUALIFICATION) & DB_QUAL_HITS : 0;
    if (gdb_exception(v, vector, hits))
        return EXIT_RETRY;
    if (vector == X86_BP) {
        vmwrite(VM_ENTRY_INTR_INFO, X86_BP | INTR_TYPE_SOFT_EXCEPTION | INTR_INFO_VALID);
        vmwrite(VM_ENTRY_INSTRUCTION_LEN, vmread(VM_EXIT_INSTRUCTION_LEN));
        return EXIT_RETRY;
    }
    write_dr6(read_dr6() | hits);
    vcpu_inject_exception(v, X86_DB, false, 0);
    return EXIT_RETRY;
}

int vmx_exit_mtf(struct vcpu *v)
{
    if (v->debug & VCPU_DBG_STEP)
        gdb_stepped(v);
    else
        vmx_set_debug(v, v->debug);     /* a stale MTF: off */
    return EXIT_RETRY;
}
