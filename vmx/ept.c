/* EPT: the entry format mm/pt.c builds a VM's guest-physical tables with, the EPT pointer, and
 * invalidation on every CPU that runs the VM. */
#include "vmx/vmx.h"
#include "kernel/virt/vm.h"
#include "kernel/percpu.h"
#include "kernel/smp.h"

/* An entry is present when any of R/W/X is set; tables grant everything and leaves decide.
 * 1 GiB leaves are allowed once probe() has seen IA32_VMX_EPT_VPID_CAP say so. */
struct pt_format vmx_ept_format = {
    .present = EPT_RWX,
    .table_flags = EPT_RWX,
};

/* GPA_R/W/X are EPT's R/W/X bits. Write without read is a misconfiguration in EPT: a writable
 * mapping is always readable. Write-back leaves let the guest's PAT refine the type; UC ones
 * ignore it. */
uint64_t vmx_gpt_leaf(unsigned rights, enum gpa_mem_type mt)
{
    uint64_t f = rights & EPT_RWX;
    if (f & EPT_W)
        f |= EPT_R;
    if (mt == GPA_MT_UC)
        return f | (EPT_MT_UC << EPT_MT_SHIFT) | EPT_IGNORE_PAT;
    return f | (EPT_MT_WB << EPT_MT_SHIFT);
}

unsigned vmx_gpt_rights(uint64_t leaf)
{
    return (unsigned)(leaf & EPT_RWX);
}

/* Write-back paging structures, 4-level walk, accessed/dirty flags off. */
uint64_t vmx_eptp(struct vm *vm)
{
    return vm_gpt_root(vm) | EPTP_WALK_4 | EPTP_MT_WB;
}

void vmx_ept_flush_pending(struct vcpu *v)
{
    struct vmx_vcpu *vv = to_vmx(v);
    if (__atomic_exchange_n(&vv->flush_ept, false, __ATOMIC_SEQ_CST))
        invept(vmx_caps.invept_type, vmx_eptp(v->vm));
}

/* INVEPT acts on the CPU that executes it: this CPU does it now, the CPUs of the VM's other
 * vCPUs before their next entry, asked with a flag and a kick (the kick makes their guest exit
 * through vmx_exit_extint or the preemption timer, or wakes exit_wait; both paths look at the
 * flag). A vCPU whose VMCS is not loaded anywhere flushes when it is loaded. The flush is not
 * waited for. */
void vmx_gpt_flush(struct vm *vm)
{
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        struct vcpu *v = vm->vcpus[i];
        struct vmx_vcpu *vv = v ? to_vmx(v) : 0;
        if (!vv)
            continue;
        int cpu = __atomic_load_n(&vv->cpu, __ATOMIC_SEQ_CST);
        if (cpu < 0 || cpu == (int)cpu_id())
            continue;
        __atomic_store_n(&vv->flush_ept, true, __ATOMIC_SEQ_CST);
        cpu_kick((unsigned)cpu);
    }
    if (vmx_cpus[cpu_id()].on)
        invept(vmx_caps.invept_type, vmx_eptp(vm));
}
