/* For bad_nomb.elf: a valid ELF with no multiboot header at all. */
	.section .rodata
	.balign 4
	.globl guest_mb_version
guest_mb_version:
	.long	0
