/* Builds the multiboot1/2 boot information a guest receives. */
#ifndef KEEL_MBINFO_H
#define KEEL_MBINFO_H

#include <stddef.h>
#include <stdint.h>

#define MBINFO_MAX_MODS 8

/* mb1 info flags */
#define MB1_INFO_MEMORY (1u << 0)
#define MB1_INFO_CMDLINE (1u << 2)
#define MB1_INFO_MODS (1u << 3)
#define MB1_INFO_MEM_MAP (1u << 6)
#define MB1_INFO_BOOT_LOADER_NAME (1u << 9)
#define MB1_INFO_LEN 116
#define MB1_MMAP_ENTRY_LEN 24   /* incl. the 4-byte size field */
#define MB1_MOD_LEN 16

/* mb2 info tag types */
#define MB2_TAG_TYPE_END 0
#define MB2_TAG_TYPE_CMDLINE 1
#define MB2_TAG_TYPE_BOOT_LOADER_NAME 2
#define MB2_TAG_TYPE_MODULE 3
#define MB2_TAG_TYPE_BASIC_MEMINFO 4
#define MB2_TAG_TYPE_MMAP 6
#define MB2_TAG_TYPE_ACPI_OLD 14   /* copy of an RSDP v1 (20 bytes) */
#define MB2_TAG_TYPE_ACPI_NEW 15   /* copy of an RSDP v2 (36 bytes) */
#define MB2_MMAP_ENTRY_LEN 24

#define MB_MEMORY_AVAILABLE 1
#define MB_MEMORY_RESERVED 2
#define MB_MEMORY_ACPI_RECLAIMABLE 3
#define MBINFO_MAX_MMAP 8
#define MBINFO_BIOS_START 0xA0000ull    /* the reserved 640K-1M area */
#define MBINFO_BIOS_END 0x100000ull
#define MBINFO_HIGH_BASE (1ull << 32)   /* where RAM above the hole below 4 GiB resumes */

struct mbinfo_mod {
    uint64_t start, end;   /* guest-physical, end exclusive; < 4 GiB */
    const char *string;    /* NULL = "" */
};

struct mbinfo_params {
    int version;              /* 1 or 2 */
    uint64_t ram;             /* low guest RAM: bytes from 0 (below the hole under 4 GiB) */
    const char *cmdline;      /* NULL = "" */
    const char *loader_name;  /* NULL = no loader-name field/tag */
    unsigned nmods;
    struct mbinfo_mod mods[MBINFO_MAX_MODS];
    uint64_t ram_high;        /* RAM from 4 GiB up, 0 = none */
    /* ACPI tables: their range is listed ACPI-reclaimable, cut out of the RAM range or the
     * reserved BIOS area [0xA0000, 0x100000) it lies in; acpi_len 0 = nothing to list. */
    uint64_t acpi_base, acpi_len;
    /* mb2 only: the RSDP to copy into the ACPI tags; rsdp_len 20 gives the old tag, 36 both. */
    const void *rsdp;
    size_t rsdp_len;
};

/* Writes the mb1 info (struct + mmap + mods array + strings) or mb2 info
 * (tags cmdline, loader name, modules, basic meminfo, mmap, ACPI old/new, end;
 * 8-byte aligned) into buf, which the guest sees at buf_gpa. Guest memory map:
 * [0,0xA0000) usable, [0xA0000,0x100000) reserved, [0x100000,ram) usable,
 * [4 GiB, 4 GiB + ram_high) usable, the ACPI range cut out of them as above.
 * mem_lower = 640, mem_upper = (ram - 1 MiB) / 1 KiB. If buf_gpa is not
 * 8-byte aligned the info starts at the next 8-byte boundary.
 * Returns the bytes used from buf's start, or -1 if it does not fit in
 * bufsize, an address would not fit in 32 bits, or the params are invalid
 * (ram above 4 GiB with ram_high, an ACPI range outside RAM, rsdp_len not
 * 20 or 36).
 * Sets *info_gpa to the info structure's address (the guest's EBX). */
long mbinfo_build(void *buf, size_t bufsize, uint64_t buf_gpa, const struct mbinfo_params *p,
                  uint64_t *info_gpa);

/* The same guest memory map for other boot protocols (a Linux e820 map): writes up to max
 * ranges (types MB_MEMORY_*) and returns how many the map has. */
unsigned mbinfo_memory_map(const struct mbinfo_params *p, uint64_t *base, uint64_t *len,
                           uint32_t *type, unsigned max);

#endif
