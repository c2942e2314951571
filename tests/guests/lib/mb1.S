/* Multiboot v1 header (must lie in the first 8 KiB of the file, 4-byte aligned).
 * flags: bit 0 = page-align modules, bit 1 = provide memory info. No a.out kludge: the
 * loader uses the ELF program headers. */
#define MB1_MAGIC 0x1BADB002
#define MB1_FLAGS 0x00000003

	.section .multiboot, "a"
	.balign 4
mb1_header:
	.long	MB1_MAGIC
	.long	MB1_FLAGS
	.long	-(MB1_MAGIC + MB1_FLAGS)

	.section .rodata
	.balign 4
	.globl guest_mb_version
guest_mb_version:
	.long	1
