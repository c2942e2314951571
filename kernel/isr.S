/* Interrupt entry stubs: every vector pushes a uniform frame (vector, error code or 0) and
 * joins trap_common, which saves the GPRs and calls trap_dispatch(struct trap_frame *). */
    .text
.macro ISR_NOERR v
    .align 16
isr_\v:
    pushq   $0
    pushq   $\v
    jmp     trap_common
.endm
.macro ISR_ERR v
    .align 16
isr_\v:
    pushq   $\v
    jmp     trap_common
.endm

/* Exceptions with an error code: 8, 10-14, 17, 21, 29, 30. */
.irp v, 0,2,3,4,5,6,7,9,15,16,18,19,20,22,23,24,25,26,27,28,31
ISR_NOERR \v
.endr

/* #DB. One that hits svm_vmrun between VMRUN and the VMLOAD of the host's state runs while GS
 * and TR are still the guest's: C code (this_cpu() through GS) and an IST stack (through TR)
 * would both use guest values. No CPU raises one there (host DR7 and TF are clear), but
 * emulators do: Bochs carries a guest's pending single-step trap across an intercepted
 * instruction's #VMEXIT into the host. Drop it right here; Keel raises the guest's #DB itself
 * (exit_insn_done). So #DB has no IST stack, unlike NMI, #DF and #MC (which GIF=0 holds off or
 * which end Keel anyway). */
    .align 16
isr_1:
    push    %rax
    push    %rcx
    mov     16(%rsp), %rax                  /* RIP of the interrupted instruction */
    lea     svm_world_switch_start(%rip), %rcx
    cmp     %rcx, %rax
    jb      2f
    lea     svm_world_switch_end(%rip), %rcx
    cmp     %rcx, %rax
    jae     2f
    pop     %rcx
    pop     %rax
    iretq
2:  pop     %rcx
    pop     %rax
1:  pushq   $0
    pushq   $1
    jmp     trap_common
.irp v, 8,10,11,12,13,14,17,21,29,30
ISR_ERR \v
.endr
/* Vectors 32-255: one 16-byte stub each, found by address arithmetic in idt_init. */
    .align 16
    .global isr_stubs_32
isr_stubs_32:
.set vec, 32
.rept 224
    .align 16
    pushq   $0
    pushq   $vec
    jmp     trap_common
.set vec, vec + 1
.endr

trap_common:
    push    %rax
    push    %rbx
    push    %rcx
    push    %rdx
    push    %rsi
    push    %rdi
    push    %rbp
    push    %r8
    push    %r9
    push    %r10
    push    %r11
    push    %r12
    push    %r13
    push    %r14
    push    %r15
    mov     %rsp, %rdi
    cld
    call    trap_dispatch
    pop     %r15
    pop     %r14
    pop     %r13
    pop     %r12
    pop     %r11
    pop     %r10
    pop     %r9
    pop     %r8
    pop     %rbp
    pop     %rdi
    pop     %rsi
    pop     %rdx
    pop     %rcx
    pop     %rbx
    pop     %rax
    add     $16, %rsp
    iretq

/* Stub addresses of the 32 exceptions, for idt_init. */
    .section .rodata
    .align 8
    .global isr_table
isr_table:
.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .quad isr_\v
.endr
