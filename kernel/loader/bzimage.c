#include "kernel/loader/bzimage.h"

#include <stdarg.h>

#include "kernel/lib/fmt.h"
#include "kernel/lib/le.h"
#include "kernel/lib/string.h"

/* Setup header fields: file offsets, the same in the zero page. */
#define HDR_START           0x1F1
#define HDR_SETUP_SECTS     0x1F1
#define HDR_SYSSIZE         0x1F4
#define HDR_BOOT_FLAG       0x1FE
#define HDR_JUMP            0x200       /* short jump; its offset byte ends the header */
#define HDR_MAGIC           0x202
#define HDR_VERSION         0x206
#define HDR_TYPE_OF_LOADER  0x210
#define HDR_LOADFLAGS       0x211
#define HDR_CODE32_START    0x214
#define HDR_RAMDISK_IMAGE   0x218
#define HDR_RAMDISK_SIZE    0x21C
#define HDR_CMD_LINE_PTR    0x228
#define HDR_INITRD_ADDR_MAX 0x22C
#define HDR_KERNEL_ALIGN    0x230
#define HDR_RELOCATABLE     0x234
#define HDR_XLOADFLAGS      0x236
#define HDR_CMDLINE_SIZE    0x238
#define HDR_PREF_ADDRESS    0x258
#define HDR_INIT_SIZE       0x260
#define HDR_MIN_END         0x264       /* a 2.12 header reaches at least past init_size */
#define HDR_MAX_END         0x290       /* the zero page's setup header area ends here */

#define BOOT_FLAG           0xAA55u
#define HDRS_MAGIC          0x53726448u /* "HdrS" */
#define LOADED_HIGH         0x01u       /* loadflags: protected-mode code at 0x100000 */
#define XLF_KERNEL_64       0x01u
#define LOADER_UNDEFINED    0xFFu       /* type_of_loader for a loader without an assigned id */
#define SECTOR              512u
#define DEFAULT_SETUP_SECTS 4u

/* Zero page fields outside the setup header. */
#define ZP_ACPI_RSDP_ADDR   0x070
#define ZP_EXT_RAMDISK_IMG  0x0C0
#define ZP_EXT_RAMDISK_SIZE 0x0C4
#define ZP_EXT_CMD_LINE_PTR 0x0C8
#define ZP_E820_ENTRIES     0x1E8
#define ZP_E820_TABLE       0x2D0
#define E820_ENTRY_LEN      20
#define RSDP_ADDR_VERSION   0x020Eu     /* acpi_rsdp_addr is read from 2.14 on */

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    kvsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

bool bzimage_detect(const void *file, size_t len)
{
    return len >= HDR_MAGIC + 4 && rd32(file, HDR_MAGIC) == HDRS_MAGIC;
}

/* Where the decompressor puts itself, as head_64.S computes it for a kernel loaded at
 * BZ_LOAD_ADDR: the load address aligned up, but not below the preferred address. */
static int decompress_end(const uint8_t *p, uint64_t *end, char *err, size_t errlen)
{
    uint64_t pref = rd64(p, HDR_PREF_ADDRESS), at = BZ_LOAD_ADDR;
    if (rd8(p, HDR_RELOCATABLE)) {
        uint32_t align = rd32(p, HDR_KERNEL_ALIGN);
        if (align == 0 || (align & (align - 1)) || align > (1u << 30))
            return fail(err, errlen, "bad kernel_alignment %#x", align);
        at = (at + align - 1) & ~(uint64_t)(align - 1);
    }
    if (pref > (1ull << 32))
        return fail(err, errlen, "preferred load address %#llx above 4 GiB",
                    (unsigned long long)pref);
    if (at < pref)
        at = pref;
    *end = at + rd32(p, HDR_INIT_SIZE);
    return 0;
}

int bzimage_parse(const void *file, size_t len, uint64_t ram, struct bzimage *out, char *err,
                  size_t errlen)
{
    const uint8_t *p = file;
    if (!bzimage_detect(file, len) || len < HDR_MIN_END)
        return fail(err, errlen, "not a bzImage (no Linux setup header)");
    if (rd16(p, HDR_BOOT_FLAG) != BOOT_FLAG)
        return fail(err, errlen, "not a bzImage (boot flag %#x)", rd16(p, HDR_BOOT_FLAG));
    uint16_t ver = rd16(p, HDR_VERSION);
    if (ver < BZ_MIN_VERSION)
        return fail(err, errlen, "Linux boot protocol %u.%02u is too old (2.12 or later needed)",
                    ver >> 8, ver & 0xFF);
    if (!(rd8(p, HDR_LOADFLAGS) & LOADED_HIGH))
        return fail(err, errlen, "a zImage, not a bzImage (loads below 1 MiB)");
    uint32_t hdr_end = HDR_JUMP + 2 + rd8(p, HDR_JUMP + 1);
    if (rd8(p, HDR_JUMP) != 0xEB || hdr_end < HDR_MIN_END || hdr_end > HDR_MAX_END)
        return fail(err, errlen, "bad setup header length %#x", hdr_end - HDR_START);
    uint32_t sects = rd8(p, HDR_SETUP_SECTS) ? rd8(p, HDR_SETUP_SECTS) : DEFAULT_SETUP_SECTS;
    uint64_t koff = (uint64_t)(sects + 1) * SECTOR;
    uint64_t want = koff + (uint64_t)rd32(p, HDR_SYSSIZE) * 16;
    if (rd32(p, HDR_SYSSIZE) == 0 || want > len)
        return fail(err, errlen, "truncated: %zu bytes, the setup header says %llu", len,
                    (unsigned long long)want);
    uint64_t need = 0;
    if (decompress_end(p, &need, err, errlen) != 0)
        return -1;
    if (need < BZ_LOAD_ADDR + (len - koff))
        need = BZ_LOAD_ADDR + (len - koff);
    if (need > ram)
        return fail(err, errlen, "the kernel needs %llu MiB of RAM below 3 GiB, the VM has %llu",
                    (unsigned long long)((need + (1 << 20) - 1) >> 20),
                    (unsigned long long)(ram >> 20));
    uint32_t imax = rd32(p, HDR_INITRD_ADDR_MAX);
    *out = (struct bzimage){
        .version = ver, .kernel_off = (uint32_t)koff, .kernel_len = (uint32_t)(len - koff),
        .need_end = need, .initrd_max = imax == UINT32_MAX ? imax : imax + 1,
        .cmdline_max = rd32(p, HDR_CMDLINE_SIZE),
        .entry64 = rd16(p, HDR_XLOADFLAGS) & XLF_KERNEL_64, .hdr_end = hdr_end,
    };
    return 0;
}

static void wr32(uint8_t *p, size_t off, uint32_t v) { memcpy(p + off, &v, 4); }
static void wr64(uint8_t *p, size_t off, uint64_t v) { memcpy(p + off, &v, 8); }

int bzimage_zero_page(uint8_t *zp, const void *file, const struct bzimage *bz,
                      const struct bz_boot *b)
{
    if (b->ne820 > BZ_E820_MAX)
        return -1;
    memset(zp, 0, BZ_ZERO_PAGE_LEN);
    memcpy(zp + HDR_START, (const uint8_t *)file + HDR_START, bz->hdr_end - HDR_START);
    zp[HDR_TYPE_OF_LOADER] = LOADER_UNDEFINED;
    wr32(zp, HDR_CODE32_START, BZ_LOAD_ADDR);
    wr32(zp, HDR_CMD_LINE_PTR, b->cmdline_gpa);
    wr32(zp, HDR_RAMDISK_IMAGE, b->initrd_gpa);
    wr32(zp, HDR_RAMDISK_SIZE, b->initrd_len);
    wr32(zp, ZP_EXT_RAMDISK_IMG, 0);
    wr32(zp, ZP_EXT_RAMDISK_SIZE, 0);
    wr32(zp, ZP_EXT_CMD_LINE_PTR, 0);
    if (bz->version >= RSDP_ADDR_VERSION)
        wr64(zp, ZP_ACPI_RSDP_ADDR, b->rsdp_gpa);
    zp[ZP_E820_ENTRIES] = (uint8_t)b->ne820;
    for (unsigned i = 0; i < b->ne820; i++) {
        uint8_t *e = zp + ZP_E820_TABLE + i * E820_ENTRY_LEN;
        wr64(e, 0, b->e820[i].base);
        wr64(e, 8, b->e820[i].len);
        wr32(e, 16, b->e820[i].type);
    }
    return 0;
}
