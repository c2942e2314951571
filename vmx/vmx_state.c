/* The architectural states a vCPU is put in or read out of its VMCS as a whole: the INIT state a
 * SIPI starts from, and the snapshot instruction emulation needs. The VMCS is current. */
#include "vmx/vmx.h"
#include "kernel/x86.h"

/* Real-mode segment rights after INIT: present, accessed, read/write data or execute/read code. */
#define AR_REAL_CODE    0x009Bu
#define AR_REAL_DATA    0x0093u
#define AR_LDT          0x0082u
#define AR_CODE64       0xA09Bu     /* P, S, DPL 0, execute/read accessed, L, G */
#define CR0_INIT        (CR0_CD | CR0_NW | CR0_ET)

/* INIT (SDM vol. 3 table 10-1), then the SIPI: real mode at vector:0000. The VMCS is current. */
void vmx_reset(struct vcpu *v, uint8_t vector)
{
    vmx_write_seg(SEG_CS, (uint16_t)(vector << 8), (uint64_t)vector << 12, 0xFFFF, AR_REAL_CODE);
    vmx_write_seg(SEG_ES, 0, 0, 0xFFFF, AR_REAL_DATA);
    vmx_write_seg(SEG_SS, 0, 0, 0xFFFF, AR_REAL_DATA);
    vmx_write_seg(SEG_DS, 0, 0, 0xFFFF, AR_REAL_DATA);
    vmx_write_seg(SEG_FS, 0, 0, 0xFFFF, AR_REAL_DATA);
    vmx_write_seg(SEG_GS, 0, 0, 0xFFFF, AR_REAL_DATA);
    vmx_write_seg(SEG_LDTR, 0, 0, 0xFFFF, AR_LDT);
    vmx_write_seg(SEG_TR, 0, 0, 0xFFFF, AR_TSS_BUSY);
    vmwrite(GUEST_GDTR_BASE, 0);
    vmwrite(GUEST_GDTR_LIMIT, 0xFFFF);
    vmwrite(GUEST_IDTR_BASE, 0);
    vmwrite(GUEST_IDTR_LIMIT, 0xFFFF);
    vmwrite(GUEST_DR7, GUEST_DR7_DEFAULT);
    vmwrite(GUEST_IA32_DEBUGCTL, 0);
    vmwrite(GUEST_SYSENTER_CS, 0);
    vmwrite(GUEST_SYSENTER_ESP, 0);
    vmwrite(GUEST_SYSENTER_EIP, 0);
    vmwrite(GUEST_INTERRUPTIBILITY_INFO, 0);
    vmwrite(GUEST_ACTIVITY_STATE, GUEST_ACTIVITY_ACTIVE);
    vmwrite(GUEST_PENDING_DBG_EXCEPTIONS, 0);
    vmwrite(VM_ENTRY_INTR_INFO, 0);
    for (int i = 0; i < 4; i++)
        vmwrite(GUEST_PDPTE0 + 2 * i, 0);
    vmwrite(GUEST_RIP, 0);
    vmwrite(GUEST_RSP, 0);
    vmwrite(GUEST_RFLAGS, RFLAGS_FIXED);
    vmx_set_efer(v, 0);
    vmx_load_cr3(v, 0);
    vmx_load_cr4(v, 0);
    vmx_load_cr0(v, CR0_INIT);
    write_cr2(0);
    struct vmx_vcpu *vv = to_vmx(v);
    vv->nmi_blocked = false;
    vv->cpu_ctls &= ~(CPU_INTR_WINDOW_EXITING | CPU_NMI_WINDOW_EXITING);
    vmwrite(CPU_BASED_VM_EXEC_CONTROL, vv->cpu_ctls);
    struct cpuid_regs id;
    cpuid_count(1, 0, &id);
    for (unsigned i = 0; i < GPR_COUNT; i++)
        v->gpr[i] = 0;
    v->gpr[GPR_RDX] = id.eax;           /* the processor signature */
    vmx_flush_guest_tlb(v);
}

/* Linux's 64-bit entry (boot protocol): long mode, paging on the loader's page tables, a 64-bit
 * code segment; r is the soft register file vmx_vcpu_init fills before the first load. */
void vmx_entry_long_mode(struct vcpu *v, uint64_t *r)
{
    r[VREG_CR0] |= CR0_PG;
    r[VREG_CR3] = v->entry_cr3;
    r[VREG_CR4] = CR4_PAE;
    r[VREG_EFER] = EFER_LME | EFER_LMA;
    r[VREG_CS_ATTR] = AR_CODE64;
}

void vmx_get_state(struct vcpu *v, struct vcpu_snapshot *st)
{
    struct vmx_vcpu *vv = to_vmx(v);
    st->rip = vmread(GUEST_RIP);
    st->rsp = vmread(GUEST_RSP);
    st->rflags = vmread(GUEST_RFLAGS);
    st->cr0 = (vmread(GUEST_CR0) & ~vv->cr0_mask) | (vmread(CR0_READ_SHADOW) & vv->cr0_mask);
    st->cr3 = vmread(GUEST_CR3);
    st->cr4 = (vmread(GUEST_CR4) & ~vv->cr4_mask) | (vmread(CR4_READ_SHADOW) & vv->cr4_mask);
    st->efer = vmread(GUEST_IA32_EFER);
    for (int i = SEG_ES; i <= SEG_GS; i++)
        st->seg_base[i] = vmread(GUEST_ES_BASE + 2 * i);
    st->cs_attr = (uint32_t)vmread(GUEST_CS_AR_BYTES);
    st->cpl = (vmread(GUEST_SS_AR_BYTES) >> VMX_AR_DPL_SHIFT) & 3;
}

