/* The VMX world switch.
 *
 *   vmx_enter: in  RDI = struct vcpu *v, RSI = struct vmx_vcpu *vv (v->vendor)
 *              out EAX = 0 after a VM exit (vv->launched now set), 1 on VMfailValid
 *                        (VM_INSTRUCTION_ERROR says why), 2 on VMfailInvalid; RDI = v, RSI = vv
 *              clobbers every other GPR except RBP and RSP (called from inline asm in
 *              vmx_exit.c, which tells the compiler so: no callee-saved pushes per exit)
 *
 * Loads every guest GPR from v->gpr[] (enum gpr order; RSP lives in the VMCS) and runs
 * VMLAUNCH (first entry after a VMCLEAR) or VMRESUME. A VM exit lands at vmx_exit_point
 * (HOST_RIP) with RSP = HOST_RSP, the stack as it was just before the entry: the guest GPRs go
 * back to v->gpr[]. HOST_RSP is written only when it differs from vv->host_rsp, which is reset
 * whenever the VMCS is loaded on a CPU. */

#define GPR_RAX 0x00
#define GPR_RCX 0x08
#define GPR_RDX 0x10
#define GPR_RBX 0x18
#define GPR_RBP 0x28
#define GPR_RSI 0x30
#define GPR_RDI 0x38
#define GPR_R8  0x40
#define GPR_R9  0x48
#define GPR_R10 0x50
#define GPR_R11 0x58
#define GPR_R12 0x60
#define GPR_R13 0x68
#define GPR_R14 0x70
#define GPR_R15 0x78
#define VMCS_HOST_RSP 0x6C14            /* HOST_RSP in vmx/vmcs.h */
#define VV_HOST_RSP   0x08              /* struct vmx_vcpu (vmx/vmx.h asserts these) */
#define VV_LAUNCHED   0x10

    .text
    .globl  vmx_enter
    .type   vmx_enter, @function
vmx_enter:
    push    %rbp
    push    %rdi                        /* v and vv, for the exit path */
    push    %rsi
    cmp     %rsp, VV_HOST_RSP(%rsi)
    je      1f
    mov     %rsp, VV_HOST_RSP(%rsi)
    mov     $VMCS_HOST_RSP, %eax
    vmwrite %rsp, %rax
1:  cmpb    $0, VV_LAUNCHED(%rsi)       /* ZF: not launched yet; the movs keep the flags */
    mov     GPR_RAX(%rdi), %rax
    mov     GPR_RCX(%rdi), %rcx
    mov     GPR_RDX(%rdi), %rdx
    mov     GPR_RBX(%rdi), %rbx
    mov     GPR_RBP(%rdi), %rbp
    mov     GPR_RSI(%rdi), %rsi
    mov     GPR_R8(%rdi), %r8
    mov     GPR_R9(%rdi), %r9
    mov     GPR_R10(%rdi), %r10
    mov     GPR_R11(%rdi), %r11
    mov     GPR_R12(%rdi), %r12
    mov     GPR_R13(%rdi), %r13
    mov     GPR_R14(%rdi), %r14
    mov     GPR_R15(%rdi), %r15
    mov     GPR_RDI(%rdi), %rdi
    jnz     2f
    vmlaunch
    jmp     3f
2:  vmresume
    /* Still here: the entry instruction failed. CF = VMfailInvalid, ZF = VMfailValid. */
3:  mov     $1, %eax
    jnc     4f
    mov     $2, %eax
4:  pop     %rsi
    pop     %rdi
    pop     %rbp
    ret
    .size   vmx_enter, . - vmx_enter

    .globl  vmx_exit_point
    .type   vmx_exit_point, @function
vmx_exit_point:
    push    %rdi                        /* guest RDI; vv and v are just above it */
    mov     16(%rsp), %rdi
    mov     %rax, GPR_RAX(%rdi)
    mov     %rcx, GPR_RCX(%rdi)
    mov     %rdx, GPR_RDX(%rdi)
    mov     %rbx, GPR_RBX(%rdi)
    mov     %rbp, GPR_RBP(%rdi)
    mov     %rsi, GPR_RSI(%rdi)
    mov     %r8, GPR_R8(%rdi)
    mov     %r9, GPR_R9(%rdi)
    mov     %r10, GPR_R10(%rdi)
    mov     %r11, GPR_R11(%rdi)
    mov     %r12, GPR_R12(%rdi)
    mov     %r13, GPR_R13(%rdi)
    mov     %r14, GPR_R14(%rdi)
    mov     %r15, GPR_R15(%rdi)
    popq    GPR_RDI(%rdi)
    pop     %rsi
    movb    $1, VV_LAUNCHED(%rsi)
    pop     %rdi
    pop     %rbp
    xor     %eax, %eax
    ret
    .size   vmx_exit_point, . - vmx_exit_point

    .section .note.GNU-stack, "", @progbits
