/* Linux bzImage loading by the x86 boot protocol (Documentation/arch/x86/boot.rst), 2.12 or
 * later: the setup header checks and the zero page (struct boot_params). Pure: the caller copies
 * the bytes into guest RAM. */
#ifndef KEEL_BZIMAGE_H
#define KEEL_BZIMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BZ_ZERO_PAGE_LEN    4096
#define BZ_LOAD_ADDR        0x100000u   /* where a bzImage's protected-mode kernel goes */
#define BZ_MIN_VERSION      0x020Cu     /* 2.12: xloadflags, 64-bit entry defined */
#define BZ_E820_MAX         128         /* E820_MAX_ENTRIES_ZEROPAGE */

struct bzimage {
    uint16_t version;           /* boot protocol, 0x020F = 2.15 */
    uint32_t kernel_off;        /* the protected-mode kernel: file[kernel_off, kernel_off+len) */
    uint32_t kernel_len;
    uint64_t need_end;          /* RAM the kernel needs below this address while decompressing */
    uint32_t initrd_max;        /* an initrd must end at or below this address */
    uint32_t cmdline_max;       /* longest command line, without the NUL */
    bool entry64;               /* XLF_KERNEL_64: has the 64-bit entry at load + 0x200 */
    uint32_t hdr_end;           /* the setup header is file[0x1F1, hdr_end) */
};

struct bz_e820 {
    uint64_t base, len;
    uint32_t type;              /* 1 usable, 2 reserved, 3 ACPI reclaimable (as multiboot) */
};

struct bz_boot {
    uint32_t cmdline_gpa;
    uint32_t initrd_gpa, initrd_len;    /* 0, 0: no initrd */
    uint64_t rsdp_gpa;
    unsigned ne820;
    const struct bz_e820 *e820;
};

/* True when file has the boot protocol's "HdrS" magic, i.e. it is meant for this loader (and
 * bzimage_parse gives the reasons when it cannot be loaded). */
bool bzimage_detect(const void *file, size_t len);

/* Checks the setup header of a bzImage of len bytes for a VM with ram bytes of low RAM (from 0).
 * Returns 0, or -1 with a one-line reason in err (errlen may be 0): truncated, not a bzImage,
 * protocol too old, too big for the RAM. */
int bzimage_parse(const void *file, size_t len, uint64_t ram, struct bzimage *out, char *err,
                  size_t errlen);

/* Fills the zero page zp (BZ_ZERO_PAGE_LEN bytes) for a parsed image: the setup header from the
 * file, then what a boot loader sets (loader type, command line, initrd, e820, RSDP). Returns 0,
 * or -1 when the e820 map has more than BZ_E820_MAX entries. */
int bzimage_zero_page(uint8_t *zp, const void *file, const struct bzimage *bz,
                      const struct bz_boot *b);

#endif
