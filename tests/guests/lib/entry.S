/* Guest entry stub and exception stubs. Built with -m32 (32-bit guest) or -m64 (ELF64 guest).
 * Both variants are entered by the loader in 32-bit protected mode, paging off, with
 * EAX = multiboot magic and EBX = info address. The 64-bit variant builds identity page
 * tables for the first 4 GiB (2 MiB pages), enables PAE + EFER.LME + paging and far-jumps
 * to 64-bit code before calling rt_start(). */

#define SEL_CODE32 0x08
#define SEL_DATA   0x10
#define SEL_CODE64 0x18

	.section .text.entry, "ax"
	.code32
	.globl _start
	.type _start, @function
_start:
	/* record the entry state before touching anything (DS is flat per the multiboot spec) */
	movl	%eax, boot_magic
	movl	%ebx, boot_info
	movl	$__stack_top, %esp
	pushfl
	popl	boot_eflags
	movl	%cr0, %eax
	movl	%eax, boot_cr0
	cli
	cld
	/* our own GDT: the loader's GDTR may point anywhere */
	lgdt	gdt_desc
	ljmp	$SEL_CODE32, $1f
1:	movw	$SEL_DATA, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %fs
	movw	%ax, %gs
	movw	%ax, %ss
	movl	$__stack_top, %esp

#ifndef __x86_64__
	call	rt_start
2:	pause
	jmp	2b
#else
	/* 4 page directories mapping 0..4 GiB with 2 MiB pages */
	movl	$pt_pd, %edi
	xorl	%ecx, %ecx
2:	movl	%ecx, %eax
	shll	$21, %eax
	orl	$0x83, %eax		/* present, writable, 2M page */
	movl	%eax, (%edi,%ecx,8)
	movl	$0, 4(%edi,%ecx,8)
	incl	%ecx
	cmpl	$2048, %ecx
	jb	2b
	/* PDPT: 4 entries, rest zero */
	movl	$pt_pdpt, %edi
	xorl	%ecx, %ecx
3:	xorl	%eax, %eax
	cmpl	$4, %ecx
	jae	4f
	movl	%ecx, %eax
	shll	$12, %eax
	addl	$(pt_pd + 3), %eax
4:	movl	%eax, (%edi,%ecx,8)
	movl	$0, 4(%edi,%ecx,8)
	incl	%ecx
	cmpl	$512, %ecx
	jb	3b
	/* PML4: entry 0 only */
	movl	$pt_pml4, %edi
	xorl	%ecx, %ecx
5:	movl	$0, (%edi,%ecx,8)
	movl	$0, 4(%edi,%ecx,8)
	incl	%ecx
	cmpl	$512, %ecx
	jb	5b
	movl	$(pt_pdpt + 3), (%edi)

	movl	%cr4, %eax
	orl	$0x20, %eax		/* PAE */
	movl	%eax, %cr4
	movl	$pt_pml4, %eax
	movl	%eax, %cr3
	movl	$0xC0000080, %ecx	/* EFER */
	rdmsr
	orl	$0x100, %eax		/* LME */
	wrmsr
	movl	%cr0, %eax
	orl	$0x80000000, %eax	/* PG */
	movl	%eax, %cr0
	ljmp	$SEL_CODE64, $long_entry

	.code64
long_entry:
	movw	$SEL_DATA, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %fs
	movw	%ax, %gs
	movw	%ax, %ss
	movq	$__stack_top, %rsp
	call	rt_start
6:	pause
	jmp	6b
#endif

/* ---------------------------------------------------------------- exception stubs */
	.text
#define HAS_ERR(n) ((n) == 8 || (n) == 10 || (n) == 11 || (n) == 12 || (n) == 13 || (n) == 14 || (n) == 17 || (n) == 21 || (n) == 29 || (n) == 30)

	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
isr\n:
	.if !HAS_ERR(\n)
	push	$0
	.endif
	push	$\n
	jmp	isr_common
	.endr

	.globl isr_common
isr_common:
#ifndef __x86_64__
	pushal
	cld
	pushl	%esp
	call	exc_entry_c
	addl	$4, %esp
	popal
	addl	$8, %esp
	iretl
#else
	pushq	%rax
	pushq	%rbx
	pushq	%rcx
	pushq	%rdx
	pushq	%rsi
	pushq	%rdi
	pushq	%rbp
	pushq	%r8
	pushq	%r9
	pushq	%r10
	pushq	%r11
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	cld
	movq	%rsp, %rdi
	call	exc_entry_c
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rbp
	popq	%rdi
	popq	%rsi
	popq	%rdx
	popq	%rcx
	popq	%rbx
	popq	%rax
	addq	$16, %rsp
	iretq
#endif

	.section .rodata
	.balign 8
	.globl isr_table
isr_table:
	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
#ifdef __x86_64__
	.quad	isr\n
#else
	.long	isr\n
#endif
	.endr

/* ---------------------------------------------------------------- GDT */
	.data
	.balign 8
gdt:
	.quad	0
	.quad	0x00CF9A000000FFFF	/* 0x08: 32-bit code, flat */
	.quad	0x00CF92000000FFFF	/* 0x10: data, flat */
	.quad	0x00AF9A000000FFFF	/* 0x18: 64-bit code */
gdt_end:
	.balign 4
	.word	0
gdt_desc:
	.word	gdt_end - gdt - 1
	.long	gdt
	.long	0

/* ---------------------------------------------------------------- stack, page tables */
	.section .stack, "aw", @nobits
	.balign 16
	.globl __stack_bottom, __stack_top
__stack_bottom:
	.skip	16384
__stack_top:

#ifdef __x86_64__
	.section .pgtables, "aw", @nobits
	.balign 4096
pt_pml4:
	.skip	4096
pt_pdpt:
	.skip	4096
pt_pd:
	.skip	4 * 4096
#endif
