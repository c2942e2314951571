/* Nested page tables: NPT entries are ordinary long-mode page-table entries, walked by the CPU
 * as user-mode accesses (so U/S must be set at every level), with the host's EFER.NXE deciding
 * whether bit 63 is NX or reserved, and the host's PAT giving PCD/PWT their meaning. */
#include "svm/svm.h"
#include "kernel/virt/vm.h"
#include "kernel/percpu.h"
#include "kernel/x86.h"

#define NPT_P       (1ul << 0)
#define NPT_RW      (1ul << 1)
#define NPT_US      (1ul << 2)
#define NPT_PWT     (1ul << 3)
#define NPT_PCD     (1ul << 4)
#define NPT_A       (1ul << 5)
#define NPT_D       (1ul << 6)
#define NPT_NX      (1ul << 63)

/* leaf_1g_ok is filled in by probe() from CPUID 0x80000001 EDX.Page1GB. */
struct pt_format svm_npt_format = {
    .present = NPT_P,
    .table_flags = NPT_P | NPT_RW | NPT_US | NPT_A,
};

static bool host_nx(void)
{
    return rdmsr(MSR_EFER) & EFER_NXE;
}

/* Accessed and dirty are preset so the CPU never has to write them back. Host PAT entry 3
 * (PCD|PWT) is UC in the power-on PAT, which Keel keeps. */
uint64_t svm_npt_leaf(unsigned rights, enum gpa_mem_type mt)
{
    uint64_t e = NPT_P | NPT_US | NPT_A | NPT_D;
    if (rights & GPA_W)
        e |= NPT_RW;
    if (!(rights & GPA_X) && host_nx())
        e |= NPT_NX;
    if (mt == GPA_MT_UC)
        e |= NPT_PCD | NPT_PWT;
    return e;
}

/* NPT cannot express write- or execute-only: a present entry is always readable. */
unsigned svm_npt_rights(uint64_t leaf)
{
    if (!(leaf & NPT_P))
        return 0;
    unsigned r = GPA_R;
    if (leaf & NPT_RW)
        r |= GPA_W;
    if (!(leaf & NPT_NX))
        r |= GPA_X;
    return r;
}

/* The VM's vCPUs flush their ASID on their next VMRUN. A vCPU on another CPU is kicked out of
 * the guest (the request makes its loop look at flush_pending before re-entering); the calling
 * vCPU itself only needs the request bit, which its loop checks before every entry. */
void svm_npt_flush(struct vm *vm)
{
    struct vcpu *self = this_cpu()->vcpu;
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        struct vcpu *v = vm->vcpus[i];
        struct svm_vcpu *s = v->vendor;
        if (!s)
            continue;
        __atomic_store_n(&s->flush_pending, true, __ATOMIC_SEQ_CST);
        if (v == self)
            __atomic_or_fetch(&v->requests, VCPU_REQ_EVENT, __ATOMIC_SEQ_CST);
        else
            vcpu_request(v, VCPU_REQ_EVENT);
    }
}
