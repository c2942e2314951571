/* Guest module parsing: a multiboot1/2 ELF32/ELF64 or a.out-kludge image. */
#ifndef KEEL_GUEST_IMAGE_H
#define KEEL_GUEST_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#define MB1_HEADER_MAGIC 0x1BADB002u
#define MB1_BOOTLOADER_MAGIC 0x2BADB002u
#define MB1_SEARCH 8192
#define MB1_FLAG_PAGE_ALIGN (1u << 0)
#define MB1_FLAG_MEMORY_INFO (1u << 1)
#define MB1_FLAG_VIDEO_MODE (1u << 2)
#define MB1_FLAG_AOUT_KLUDGE (1u << 16)

#define MB2_HEADER_MAGIC 0xE85250D6u
#define MB2_BOOTLOADER_MAGIC 0x36D76289u
#define MB2_SEARCH 32768
#define MB2_ARCHITECTURE_I386 0
#define MB2_HEADER_TAG_END 0
#define MB2_HEADER_TAG_INFORMATION_REQUEST 1
#define MB2_HEADER_TAG_ADDRESS 2
#define MB2_HEADER_TAG_ENTRY_ADDRESS 3
#define MB2_HEADER_TAG_RELOCATABLE 10
#define MB2_HEADER_TAG_OPTIONAL 1

#define GUEST_MAX_SEGS 8

struct guest_segment {
    uint64_t paddr, filesz, memsz, offset;   /* copy file[offset, +filesz) to paddr, zero the rest */
};

struct guest_image {
    int mb_version;   /* 1 or 2 */
    uint64_t entry;   /* guest-physical, < 4 GiB */
    unsigned nseg;
    struct guest_segment seg[GUEST_MAX_SEGS];
    uint64_t lo, hi;  /* lowest paddr, highest paddr+memsz */
};

/* file = the module bytes. Needs a multiboot1 header (first 8 KiB, 4-byte
 * aligned, checksum; flag bits 3..15 unsupported) or a multiboot2 header
 * (first 32 KiB, 8-byte aligned, arch i386, checksum, sane tags ending in
 * an end tag); mb2 is preferred. ELF32 (EM_386) or ELF64 (EM_X86_64), LE,
 * ET_EXEC: PT_LOAD segments (memsz > 0) load at p_paddr. Entry: the mb2
 * entry-address tag, else e_entry (ELF64: must be < 4 GiB) translated from
 * the segment containing it as a virtual address (like GRUB) or taken as
 * physical. Non-ELF files need the mb1 a.out kludge (flag 16) or the mb2
 * address + entry tags. Each segment must lie in [0, ram_size) and in the
 * file, filesz <= memsz, no overlaps; the entry must be inside one.
 * Returns 0, or -1 with a one-line message in err (err may be NULL if
 * errlen is 0). */
int guest_image_parse(const void *file, size_t len, uint64_t ram_size, struct guest_image *out,
                      char *err, size_t errlen);

#endif
