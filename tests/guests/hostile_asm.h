/* hostile: the assembly half (included once by hostile.c): 256 interrupt stubs, the common entry
 * that either resumes (#DB of a single-step probe) or recovers, run_action(), the user-mode
 * snippets copied to the user page, and the single-step and prefixed-instruction probes. */
#ifndef HOSTILE_ASM_H
#define HOSTILE_ASM_H

__asm__(
"	.text\n"
/* 256 stubs of 16 bytes: push a dummy error code where the CPU pushes none, push the vector. */
"	.balign 16\n"
"	.globl hs_stubs\n"
"hs_stubs:\n"
"	.set v, 0\n"
"	.rept 256\n"
"	.balign 16\n"
"	.if (v == 8) || (v >= 10 && v <= 14) || (v == 17) || (v == 21) || (v == 29) || (v == 30)\n"
"	pushq $v\n"
"	.else\n"
"	pushq $0\n"
"	pushq $v\n"
"	.endif\n"
"	jmp hs_common\n"
"	.set v, v + 1\n"
"	.endr\n"
"hs_common:\n"
"	pushq %rax; pushq %rbx; pushq %rcx; pushq %rdx; pushq %rsi; pushq %rdi; pushq %rbp\n"
"	pushq %r8; pushq %r9; pushq %r10; pushq %r11; pushq %r12; pushq %r13; pushq %r14; pushq %r15\n"
"	cld\n"
"	movq %rsp, %rdi\n"
"	call hs_exc\n"
"	testl %eax, %eax\n"
"	jnz 1f\n"
"	popq %r15; popq %r14; popq %r13; popq %r12; popq %r11; popq %r10; popq %r9; popq %r8\n"
"	popq %rbp; popq %rdi; popq %rsi; popq %rdx; popq %rcx; popq %rbx; popq %rax\n"
"	addq $16, %rsp\n"
"	iretq\n"
/* Recover: back on run_action's stack with sane data segments; the gate cleared IF and TF. */
"1:	movl $0x10, %eax\n"
"	movl %eax, %ds; movl %eax, %es; movl %eax, %ss; movl %eax, %fs; movl %eax, %gs\n"
"	movq hs_recover_rsp(%rip), %rsp\n"
"	movl hs_fault_vec(%rip), %eax\n"
"	incl %eax\n"
"	jmp 2f\n"
/* int run_action(void (*fn)(void)): 0, or the vector + 1 of what stopped fn. */
"	.globl run_action\n"
"run_action:\n"
"	pushq %rbx; pushq %rbp; pushq %r12; pushq %r13; pushq %r14; pushq %r15\n"
"	movq %rsp, hs_recover_rsp(%rip)\n"
"	call *%rdi\n"
"	xorl %eax, %eax\n"
"2:	popq %r15; popq %r14; popq %r13; popq %r12; popq %rbp; popq %rbx\n"
"	ret\n"

/* User-mode snippets (position independent, copied to the user page). Each ends in INT 0x80,
 * which comes back to the kernel side through hs_exc. */
"	.globl u_begin, u_vmcall, u_vmmcall, u_cpuid, u_rdmsr, u_in, u_out, u_hlt, u_cli, u_movcr\n"
"	.globl u_wbinvd, u_end\n"
"u_begin:\n"
"u_vmcall:	vmcall; int $0x80\n"
"u_vmmcall:	vmmcall; int $0x80\n"
"u_cpuid:	cpuid; int $0x80\n"
"u_rdmsr:	rdmsr; int $0x80\n"
"u_in:		inb $0x80, %al; int $0x80\n"
"u_out:		outb %al, $0x80; int $0x80\n"
"u_hlt:		hlt; int $0x80\n"
"u_cli:		cli; int $0x80\n"
"u_movcr:	movq %cr0, %rax; int $0x80\n"
"u_wbinvd:	wbinvd; int $0x80\n"
"u_end:\n"

/* Single-step probes: TF goes on with POPF, so the first instruction traced is the one after
 * it; hs_exc records the RIP of the first #DB, clears TF in the frame and resumes. Each probe
 * publishes the RIP the #DB must report in ss_expect. Clobbers RAX, RCX, RDX, RBX (saved). */
"	.macro SS_ON\n	pushfq; orq $0x100, (%rsp); popfq\n	.endm\n"
"	.macro SS_OFF\n	pushfq; andq $~0x100, (%rsp); popfq\n	.endm\n"
"	.globl ss_cpuid, ss_rdmsr, ss_wrmsr, ss_in, ss_out, ss_vmcall, ss_vmmcall, ss_movss_cpuid\n"
"	.globl ss_movss_rdmsr, ss_movss_badmsr\n"
"ss_cpuid:\n"
"	pushq %rbx; leaq 1f(%rip), %rax; movq %rax, ss_expect(%rip); xorl %eax, %eax; xorl %ecx, %ecx\n"
"	SS_ON; cpuid\n"
"1:	SS_OFF; popq %rbx; ret\n"
"ss_rdmsr:\n"
"	leaq 1f(%rip), %rax; movq %rax, ss_expect(%rip); movl $0x1a0, %ecx\n"
"	SS_ON; rdmsr\n"
"1:	SS_OFF; ret\n"
"ss_wrmsr:\n"
"	leaq 1f(%rip), %rax; movq %rax, ss_expect(%rip); movl $0x8b, %ecx; xorl %eax, %eax; xorl %edx, %edx\n"
"	SS_ON; wrmsr\n"
"1:	SS_OFF; ret\n"
"ss_in:\n"
"	leaq 1f(%rip), %rax; movq %rax, ss_expect(%rip)\n"
"	SS_ON; inb $0x80, %al\n"
"1:	SS_OFF; ret\n"
"ss_out:\n"
"	leaq 1f(%rip), %rax; movq %rax, ss_expect(%rip)\n"
"	SS_ON; outb %al, $0x80\n"
"1:	SS_OFF; ret\n"
"ss_vmcall:\n"
"	pushq %rbx; leaq 1f(%rip), %rax; movq %rax, ss_expect(%rip); xorl %eax, %eax\n"
"	SS_ON; vmcall\n"
"1:	SS_OFF; popq %rbx; ret\n"
"ss_vmmcall:\n"
"	pushq %rbx; leaq 1f(%rip), %rax; movq %rax, ss_expect(%rip); xorl %eax, %eax\n"
"	SS_ON; vmmcall\n"
"1:	SS_OFF; popq %rbx; ret\n"
/* MOV SS holds the single-step trap of itself until after the next instruction. */
"ss_movss_cpuid:\n"
"	pushq %rbx; leaq 1f(%rip), %rax; movq %rax, ss_expect(%rip); xorl %ecx, %ecx\n"
"	movl %ss, %ebx; xorl %eax, %eax\n"
"	SS_ON; movl %ebx, %ss; cpuid\n"
"1:	SS_OFF; popq %rbx; ret\n"
"ss_movss_rdmsr:\n"
"	pushq %rbx; leaq 1f(%rip), %rax; movq %rax, ss_expect(%rip); movl $0x1a0, %ecx\n"
"	movl %ss, %ebx\n"
"	SS_ON; movl %ebx, %ss; rdmsr\n"
"1:	SS_OFF; popq %rbx; ret\n"

/* A faulting RDMSR under a MOV SS shadow: #GP, no #DB (the fault ends the shadow). */
"ss_movss_badmsr:\n"
"	pushq %rbx; leaq 1f(%rip), %rax; movq %rax, ss_expect(%rip); movl $0x3a, %ecx; xorl %eax, %eax\n"
"	movl %ss, %ebx\n"
"	SS_ON; movl %ebx, %ss; wrmsr\n"
"1:	SS_OFF; popq %rbx; ret\n"

/* Prefixed intercepted instructions: R8 = 1 only if execution went on right after them. */
"	.globl px_cpuid, px_rdmsr, px_vmcall, px_vmmcall\n"
"px_cpuid:\n"
"	pushq %rbx; xorl %r8d, %r8d; xorl %eax, %eax; xorl %ecx, %ecx\n"
"	.byte 0x3e, 0x0f, 0xa2\n"
"	movl $1, %r8d; popq %rbx; movl %r8d, px_done(%rip); ret\n"
"px_rdmsr:\n"
"	xorl %r8d, %r8d; movl $0x1a0, %ecx\n"
"	.byte 0x3e, 0x0f, 0x32\n"
"	movl $1, %r8d; movl %r8d, px_done(%rip); ret\n"
"px_vmcall:\n"
"	pushq %rbx; xorl %r8d, %r8d; xorl %eax, %eax\n"
"	.byte 0x3e, 0x3e, 0x0f, 0x01, 0xc1\n"
"	movl $1, %r8d; popq %rbx; movl %r8d, px_done(%rip); ret\n"
"px_vmmcall:\n"
"	pushq %rbx; xorl %r8d, %r8d; xorl %eax, %eax\n"
"	.byte 0x3e, 0x3e, 0x0f, 0x01, 0xd9\n"
"	movl $1, %r8d; popq %rbx; movl %r8d, px_done(%rip); ret\n"
);

extern char hs_stubs[];
extern char u_begin[], u_vmcall[], u_vmmcall[], u_cpuid[], u_rdmsr[], u_in[], u_out[], u_hlt[];
extern char u_cli[], u_movcr[], u_wbinvd[], u_end[];
void ss_cpuid(void), ss_rdmsr(void), ss_wrmsr(void), ss_in(void), ss_out(void);
void ss_vmcall(void), ss_vmmcall(void), ss_movss_cpuid(void), ss_movss_rdmsr(void);
void ss_movss_badmsr(void);
void px_cpuid(void), px_rdmsr(void), px_vmcall(void), px_vmmcall(void);
int run_action(void (*fn)(void));

#endif
