/* What the loader told us, in one form for multiboot1 and multiboot2. */
#ifndef KERNEL_BOOTINFO_H
#define KERNEL_BOOTINFO_H

#include <stdint.h>
#include "mm/memmap.h"

#define BOOT_MAX_MODULES 16

struct boot_module {
    uint64_t start, end;
    const char *cmdline;        /* never NULL */
};

struct bootinfo {
    int version;                /* 1 or 2 */
    uint64_t info_start, info_end;
    const char *cmdline;        /* never NULL */
    struct memmap mmap;         /* raw, not yet normalized */
    bool has_mmap;
    unsigned nmods;
    struct boot_module mods[BOOT_MAX_MODULES];
    unsigned dropped_mods;
    uint64_t ebda;              /* from the BIOS data area, read before page 0 is unmapped */
    const void *rsdp;           /* copy inside the mb2 info, or NULL */
    uint32_t rsdp_len;
};

/* Returns 0, or -1 with a reason in *why (unknown magic, truncated info). The info is read
 * through the identity map; pointers returned point into loader memory. */
int bootinfo_parse(uint32_t magic, uint64_t info, struct bootinfo *bi, const char **why);

#endif
