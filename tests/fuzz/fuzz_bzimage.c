/* libFuzzer target for the Linux setup header parser and zero page builder
 * (kernel/loader/bzimage.c): the input is a guest's kernel image, so anything goes. The first
 * 8 bytes pick the VM's RAM size; the rest is the file. Invariants: a failure always says why; a
 * success describes a kernel inside the file and the RAM (version >= 2.12, syssize within the
 * file, the decompression end within RAM, the header within the file and the zero page's header
 * area), and the zero page it gives holds the file's header, Keel's loader fields and the map. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/loader/bzimage.h"

#define ASSERT(c) do { if (!(c)) { fprintf(stderr, "invariant failed: %s\n", #c); abort(); } } while (0)

static uint32_t r32(const uint8_t *p, size_t off) { uint32_t v; memcpy(&v, p + off, 4); return v; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t ram = 256ull << 20;
    if (size >= 8) {
        memcpy(&ram, data, 8);
        ram &= (1ull << 34) - 1;
        data += 8;
        size -= 8;
    }
    /* A private copy, so that a read past the end is an ASan error, not the next input byte. */
    uint8_t *file = malloc(size ? size : 1);
    memcpy(file, data, size);
    struct bzimage bz;
    char err[128];
    err[0] = 0;
    if (bzimage_parse(file, size, ram, &bz, err, sizeof err) != 0) {
        ASSERT(err[0] != 0);
        free(file);
        return 0;
    }
    ASSERT(bzimage_detect(file, size));
    ASSERT(bz.version >= BZ_MIN_VERSION);
    ASSERT(bz.kernel_off + (uint64_t)bz.kernel_len == size);
    ASSERT(bz.kernel_off + 16ull * r32(file, 0x1F4) <= size);
    ASSERT(bz.need_end <= ram && bz.need_end >= BZ_LOAD_ADDR + (uint64_t)bz.kernel_len);
    ASSERT(bz.hdr_end >= 0x264 && bz.hdr_end <= 0x290 && bz.hdr_end <= size);
    static uint8_t zp[BZ_ZERO_PAGE_LEN];
    struct bz_e820 map[2] = { { 0, 0xA0000, 1 }, { 0x100000, ram, 1 } };
    struct bz_boot b = { .cmdline_gpa = 0x11000, .initrd_gpa = 0x200000, .initrd_len = 5,
                         .rsdp_gpa = 0xE0000, .ne820 = 2, .e820 = map };
    ASSERT(bzimage_zero_page(zp, file, &bz, &b) == 0);
    ASSERT(memcmp(zp + 0x1F1, file + 0x1F1, 0x210 - 0x1F1) == 0);
    ASSERT(zp[0x210] == 0xFF && r32(zp, 0x214) == BZ_LOAD_ADDR && r32(zp, 0x228) == 0x11000);
    ASSERT(r32(zp, 0x218) == 0x200000 && r32(zp, 0x21C) == 5 && zp[0x1E8] == 2);
    ASSERT(memcmp(zp + 0x22C, file + 0x22C, bz.hdr_end - 0x22C) == 0);
    for (size_t i = bz.hdr_end; i < 0x2D0; i++)
        ASSERT(zp[i] == 0);
    free(file);
    return 0;
}
