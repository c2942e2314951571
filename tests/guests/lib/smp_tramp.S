/* AP trampoline, copied by smp_init() to SMP_TRAMPOLINE (below 1 MiB) and entered there by a
 * SIPI in real mode at CS = SMP_TRAMPOLINE >> 4, IP = 0. It only ever runs from that copy, so
 * every absolute address is TR(label). The data block at the end (GDT, IDTR, CR3, stacks, C entry)
 * is filled in by smp_init(). Selectors match entry.S: 0x08 code32, 0x10 data, 0x18 code64.
 * Built with -m32 (ends in 32-bit protected mode) or -m64 (continues to long mode). */
#include "smp.h"

#define TR(x)      (SMP_TRAMPOLINE + ((x) - smp_tramp_start))
#define SEL_CODE32 0x08
#define SEL_DATA   0x10
#define SEL_CODE64 0x18
#define CR0_PE     0x00000001
#define CR0_NW_CD  0x60000000
#define CR0_PG     0x80000000
#define CR4_PAE    0x00000020
#define MSR_EFER   0xC0000080
#define EFER_LME   0x00000100

	.section .rodata.smp_tramp, "a"
	.balign 16
	.globl smp_tramp_start, smp_tramp_end
	.globl smp_tr_idtr, smp_tr_cr3, smp_tr_stacks, smp_tr_entry, smp_tr_bad

	.code16
smp_tramp_start:
	cli
	cld
	movw	%cs, %ax
	movw	%ax, %ds
	lgdtl	(smp_tr_gdt_desc - smp_tramp_start)
	movl	%cr0, %eax
	andl	$~CR0_NW_CD, %eax	/* INIT leaves CD/NW as they were; run cached */
	orl	$CR0_PE, %eax
	movl	%eax, %cr0
	ljmpl	$SEL_CODE32, $TR(tr_pm32)

	.code32
tr_pm32:
	movw	$SEL_DATA, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %fs
	movw	%ax, %gs
	movw	%ax, %ss
	/* slot = initial APIC ID (CPUID.1:EBX[31:24]); stack top = stacks + (slot + 1) * size */
	movl	$1, %eax
	cpuid
	shrl	$24, %ebx
	cmpl	$SMP_MAX_CPUS, %ebx
	jae	tr_bad32
	leal	1(%ebx), %eax
	imull	$SMP_STACK_SIZE, %eax
	addl	TR(smp_tr_stacks), %eax
	movl	%eax, %esp
#ifndef __x86_64__
	lidt	TR(smp_tr_idtr)
	pushl	%ebx			/* smp_ap_main(slot) */
	call	*TR(smp_tr_entry)
	addl	$4, %esp
tr_park32:
	cli
	hlt
	jmp	tr_park32
#else
	movl	%cr4, %eax
	orl	$CR4_PAE, %eax
	movl	%eax, %cr4
	movl	TR(smp_tr_cr3), %eax	/* the BSP's page tables (identity 0-4 GiB) */
	movl	%eax, %cr3
	movl	$MSR_EFER, %ecx
	rdmsr
	orl	$EFER_LME, %eax
	wrmsr
	movl	%cr0, %eax
	orl	$CR0_PG, %eax
	movl	%eax, %cr0
	ljmpl	$SEL_CODE64, $TR(tr_lm64)

	.code64
tr_lm64:
	movl	%esp, %esp		/* zero-extends: RSP[63:32] are undefined here */
	lidt	TR(smp_tr_idtr)
	movl	%ebx, %edi		/* smp_ap_main(slot) */
	movq	TR(smp_tr_entry), %rax
	call	*%rax
tr_park64:
	cli
	hlt
	jmp	tr_park64
	.code32
#endif

tr_bad32:
	lock incl TR(smp_tr_bad)
1:	cli
	hlt
	jmp	1b

	/* ---- data, filled in by smp_init() ---- */
	.balign 16
smp_tr_gdt:
	.quad	0
	.quad	0x00CF9A000000FFFF	/* 0x08: 32-bit code, flat */
	.quad	0x00CF92000000FFFF	/* 0x10: data, flat */
	.quad	0x00AF9A000000FFFF	/* 0x18: 64-bit code */
smp_tr_gdt_end:
	.balign 8
	.word	0, 0, 0
smp_tr_gdt_desc:			/* limit, 32-bit base (lgdtl in real mode) */
	.word	smp_tr_gdt_end - smp_tr_gdt - 1
	.long	TR(smp_tr_gdt)
	.balign 16
smp_tr_idtr:				/* sidt image of the BSP: 6 or 10 bytes */
	.skip	16
smp_tr_cr3:
	.long	0
smp_tr_stacks:
	.long	0
smp_tr_bad:
	.long	0
	.balign 8
smp_tr_entry:
	.quad	0
smp_tramp_end:
