/* Multiboot v2 header (first 32 KiB of the file, 8-byte aligned): magic, arch 0 (i386
 * protected mode), length, checksum, then only the end tag. The loader uses the ELF headers. */
#define MB2_MAGIC 0xE85250D6
#define MB2_ARCH  0
#define MB2_LEN   24

	.section .multiboot, "a"
	.balign 8
mb2_header:
	.long	MB2_MAGIC
	.long	MB2_ARCH
	.long	MB2_LEN
	.long	-(MB2_MAGIC + MB2_ARCH + MB2_LEN)
	/* end tag: type 0, flags 0, size 8 */
	.short	0
	.short	0
	.long	8

	.section .rodata
	.balign 4
	.globl guest_mb_version
guest_mb_version:
	.long	2
