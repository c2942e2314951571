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
    uint64_t ebda;              /* from the BIOS data area (0 under UEFI: there is none) */
    bool uefi;                  /* started from UEFI firmware: EFI system table tag given */
    uint64_t efi_systab;        /* EFI system table's physical address, 0 if none */
    struct memmap efi_mmap;     /* EFI memory map (tag 17) as Keel's types, raw */
    bool has_efi_mmap;
    const void *rsdp;           /* copy inside the mb2 info, or NULL */
    uint32_t rsdp_len;
};

/* Returns 0, or -1 with a reason in *why (unknown magic, truncated info). The info is read
 * through the identity map; pointers returned point into loader memory. */
int bootinfo_parse(uint32_t magic, uint64_t info, struct bootinfo *bi, const char **why);

#endif
