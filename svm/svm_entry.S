/* One guest entry and exit: svm_vmrun, called only from svm_enter() in svm.h through an inline
 * `call` that declares every GPR clobbered except RBX, R12 and RBP (and RSP), the three it
 * saves, so the loop can keep v and the VMCB there and no other callee-saved register is
 * pushed and popped here on every exit.
 *   in:  RDI = struct vcpu *v, RAX = guest VMCB (physical), RDX = host VMCB (physical)
 *   out: RDI as it came in
 *
 * VMRUN itself saves and restores (through VM_HSAVE_PA) the host's RSP, RIP, RFLAGS, RAX, CR0/3/4,
 * EFER, GDTR, IDTR and CS/SS/DS/ES; everything else is ours:
 * - GPRs: the guest's come from v->gpr[] (RAX through the VMCB, the only place VMRUN takes it
 *   from) and go back there after the exit, so common code sees one array. RSP lives in the
 *   VMCB only.
 * - FS, GS, TR, LDTR (with their hidden parts), KernelGSBase, STAR/LSTAR/CSTAR/SFMASK and
 *   SYSENTER_*: the guest's are in its VMCB, the host's in the per-CPU host VMCB. VMLOAD guest /
 *   VMRUN / VMSAVE guest / VMLOAD host is the cheapest correct order: VMRUN leaves them alone,
 *   and the host's GS base (the per-CPU pointer behind this_cpu()) and TR (IST stacks for NMI,
 *   #DF, #MC) must be back before any C code or interrupt runs. All of it happens with GIF=0,
 *   so no interrupt or NMI can see the guest's GS or TR. An exception cannot be held off that
 *   way: the one that happens there in practice, a guest's single-step #DB that an emulator
 *   (Bochs) carries over the #VMEXIT, is recognised by its RIP between svm_world_switch_start and
 *   _end and dropped in kernel/isr.S, without an IST stack (TR!) and without C code (GS!).
 * - Interrupts: the loop runs with IF=0. CLGI; STI; VMRUN: with V_INTR_MASKING the host's IF is
 *   what lets a physical interrupt make the guest exit (QEMU also needs IF=1 here); after the
 *   exit GIF is still 0, so CLI; STGI leaves the interrupt pending for exit_extint().
 * x87/SSE/AVX state is not switched: Keel never touches it (-mgeneral-regs-only) and one
 * vCPU owns a CPU at a time, so the guest's stays in the registers.
 */
#include "svm/svm.h"

    .text
    .global svm_vmrun
    .type svm_vmrun, @function
svm_vmrun:
    push    %rbp
    push    %rbx
    push    %r12
    push    %rdx                            /* host VMCB */
    push    %rdi                            /* v; swapped with the guest's RDI after the exit */

    mov     VCPU_GPR(0)(%rdi), %rcx
    mov     %rcx, VMCB_SAVE_RAX(%rax)
    mov     VCPU_GPR(1)(%rdi), %rcx
    mov     VCPU_GPR(2)(%rdi), %rdx
    mov     VCPU_GPR(3)(%rdi), %rbx
    mov     VCPU_GPR(5)(%rdi), %rbp
    mov     VCPU_GPR(6)(%rdi), %rsi
    mov     VCPU_GPR(8)(%rdi), %r8
    mov     VCPU_GPR(9)(%rdi), %r9
    mov     VCPU_GPR(10)(%rdi), %r10
    mov     VCPU_GPR(11)(%rdi), %r11
    mov     VCPU_GPR(12)(%rdi), %r12
    mov     VCPU_GPR(13)(%rdi), %r13
    mov     VCPU_GPR(14)(%rdi), %r14
    mov     VCPU_GPR(15)(%rdi), %r15
    mov     VCPU_GPR(7)(%rdi), %rdi

    clgi
    sti
    vmload  %rax
    vmrun   %rax
    .global svm_world_switch_start, svm_world_switch_end
svm_world_switch_start:                     /* to the VMLOAD below: GS and TR are the guest's */
    vmsave  %rax

    xchg    %rdi, (%rsp)                    /* RDI = v, guest RDI on the stack */
    mov     %rcx, VCPU_GPR(1)(%rdi)
    mov     %rdx, VCPU_GPR(2)(%rdi)
    mov     %rbx, VCPU_GPR(3)(%rdi)
    mov     %rbp, VCPU_GPR(5)(%rdi)
    mov     %rsi, VCPU_GPR(6)(%rdi)
    popq    VCPU_GPR(7)(%rdi)
    mov     %r8, VCPU_GPR(8)(%rdi)
    mov     %r9, VCPU_GPR(9)(%rdi)
    mov     %r10, VCPU_GPR(10)(%rdi)
    mov     %r11, VCPU_GPR(11)(%rdi)
    mov     %r12, VCPU_GPR(12)(%rdi)
    mov     %r13, VCPU_GPR(13)(%rdi)
    mov     %r14, VCPU_GPR(14)(%rdi)
    mov     %r15, VCPU_GPR(15)(%rdi)
    mov     VMCB_SAVE_RAX(%rax), %rcx
    mov     %rcx, VCPU_GPR(0)(%rdi)

    pop     %rax                            /* host VMCB */
    vmload  %rax
svm_world_switch_end:
    cli
    stgi
    pop     %r12
    pop     %rbx
    pop     %rbp
    ret
    .size svm_vmrun, . - svm_vmrun
