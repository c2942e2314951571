/* Linux bzImage setup header checks and the zero page (kernel/loader/bzimage.c), and the e820
 * source map (mbinfo_memory_map). Images are synthetic: a setup header as the boot protocol
 * (Documentation/arch/x86/boot.rst) lays it out, with the fields varied. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernel/loader/bzimage.h"
#include "kernel/loader/mbinfo.h"

#define MiB (1ull << 20)

static uint8_t img[64 * 1024];

static void w16(uint8_t *p, size_t off, uint16_t v) { memcpy(p + off, &v, 2); }
static void w32(uint8_t *p, size_t off, uint32_t v) { memcpy(p + off, &v, 4); }
static void w64(uint8_t *p, size_t off, uint64_t v) { memcpy(p + off, &v, 8); }
static uint32_t r32(const uint8_t *p, size_t off) { uint32_t v; memcpy(&v, p + off, 4); return v; }
static uint64_t r64(const uint8_t *p, size_t off) { uint64_t v; memcpy(&v, p + off, 8); return v; }

/* A 2.15 bzImage of len bytes: 4 setup sectors, the rest is the kernel (syssize covers it). */
static size_t make(size_t len)
{
    memset(img, 0, sizeof img);
    for (size_t i = 0x400; i < len; i++)
        img[i] = (uint8_t)(i * 7);
    img[0x1F1] = 3;                             /* setup_sects: 4 sectors in all with the boot one */
    w32(img, 0x1F4, (uint32_t)((len - 0x800) / 16));
    w16(img, 0x1FE, 0xAA55);
    img[0x200] = 0xEB;
    img[0x201] = 0x6A;                          /* header ends at 0x26C */
    w32(img, 0x202, 0x53726448);
    w16(img, 0x206, 0x020F);
    img[0x211] = 0x01;                          /* LOADED_HIGH */
    w32(img, 0x214, 0x100000);
    w32(img, 0x22C, 0x7FFFFFFF);
    w32(img, 0x230, 0x200000);
    img[0x234] = 1;
    w16(img, 0x236, 0x7F);
    w32(img, 0x238, 2047);
    w64(img, 0x258, 0x1000000);
    w32(img, 0x260, 0x3378000);
    return len;
}

static void test_good(void)
{
    size_t len = make(sizeof img);
    struct bzimage bz;
    char err[128] = "";
    CHECK(bzimage_detect(img, len));
    CHECK_EQ_U64(bzimage_parse(img, len, 256 * MiB, &bz, err, sizeof err), 0);
    CHECK_EQ_U64(bz.version, 0x020F);
    CHECK_EQ_U64(bz.kernel_off, 0x800);
    CHECK_EQ_U64(bz.kernel_len, len - 0x800);
    CHECK_EQ_U64(bz.need_end, 0x1000000 + 0x3378000);   /* preferred address + init_size */
    CHECK_EQ_U64(bz.initrd_max, 0x80000000);
    CHECK_EQ_U64(bz.cmdline_max, 2047);
    CHECK(bz.entry64);
    CHECK_EQ_U64(bz.hdr_end, 0x26C);
    /* Not relocatable: still decompressed at the preferred address. */
    img[0x234] = 0;
    CHECK_EQ_U64(bzimage_parse(img, len, 256 * MiB, &bz, err, sizeof err), 0);
    CHECK_EQ_U64(bz.need_end, 0x1000000 + 0x3378000);
    /* Relocatable with a big alignment and a low preferred address: aligned up from 1 MiB. */
    img[0x234] = 1;
    w64(img, 0x258, 0x100000);
    w32(img, 0x230, 0x4000000);
    CHECK_EQ_U64(bzimage_parse(img, len, 256 * MiB, &bz, err, sizeof err), 0);
    CHECK_EQ_U64(bz.need_end, 0x4000000 + 0x3378000);
    /* A kernel image longer than init_size needs its own length from 1 MiB. */
    w32(img, 0x260, 0x100);
    w64(img, 0x258, 0);
    w32(img, 0x230, 0x1000);
    CHECK_EQ_U64(bzimage_parse(img, len, 256 * MiB, &bz, err, sizeof err), 0);
    CHECK_EQ_U64(bz.need_end, 0x100000 + len - 0x800);
    /* setup_sects 0 means 4. */
    make(sizeof img);
    img[0x1F1] = 0;
    w32(img, 0x1F4, (uint32_t)((sizeof img - 0xA00) / 16));
    CHECK_EQ_U64(bzimage_parse(img, sizeof img, 256 * MiB, &bz, err, sizeof err), 0);
    CHECK_EQ_U64(bz.kernel_off, 0xA00);
}

static void expect_fail(size_t len, uint64_t ram, const char *want)
{
    struct bzimage bz;
    char err[128] = "";
    CHECK_EQ_U64(bzimage_parse(img, len, ram, &bz, err, sizeof err), (uint64_t)-1);
    if (!CHECK(strstr(err, want) != NULL))
        fprintf(stderr, "    error was '%s', wanted '%s'\n", err, want);
}

static void test_rejects(void)
{
    size_t len = make(sizeof img);
    expect_fail(0x200, 256 * MiB, "not a bzImage");
    w32(img, 0x202, 0x53726449);
    CHECK(!bzimage_detect(img, len));
    expect_fail(len, 256 * MiB, "not a bzImage");
    make(len);
    w16(img, 0x1FE, 0x1234);
    expect_fail(len, 256 * MiB, "boot flag");
    make(len);
    w16(img, 0x206, 0x020B);
    expect_fail(len, 256 * MiB, "protocol 2.11 is too old");
    make(len);
    img[0x211] = 0;
    expect_fail(len, 256 * MiB, "a zImage");
    make(len);
    img[0x201] = 0x10;                              /* header too short for 2.12 */
    expect_fail(len, 256 * MiB, "bad setup header length");
    img[0x201] = 0xA0;                              /* past the zero page's header area */
    expect_fail(len, 256 * MiB, "bad setup header length");
    make(len);
    img[0x200] = 0x90;
    expect_fail(len, 256 * MiB, "bad setup header length");
    make(len);
    expect_fail(len - 16, 256 * MiB, "truncated");
    expect_fail(0x900, 256 * MiB, "truncated");
    w32(img, 0x1F4, 0);
    expect_fail(len, 256 * MiB, "truncated");
    make(len);
    expect_fail(len, 64 * MiB, "needs 68 MiB of RAM below 3 GiB, the VM has 64");
    w32(img, 0x230, 0x300000);
    expect_fail(len, 256 * MiB, "bad kernel_alignment");
    make(len);
    w64(img, 0x258, 1ull << 40);
    expect_fail(len, 256 * MiB, "preferred load address");
    /* A zero errlen is allowed. */
    struct bzimage bz;
    CHECK_EQ_U64(bzimage_parse(img, len, 256 * MiB, &bz, NULL, 0), (uint64_t)-1);
}

static void test_zero_page(void)
{
    size_t len = make(sizeof img);
    struct bzimage bz;
    uint8_t zp[BZ_ZERO_PAGE_LEN];
    struct bz_e820 map[3] = { { 0, 0xA0000, 1 }, { 0xA0000, 0x60000, 2 },
                              { 0x100000, 255 * MiB, 1 } };
    struct bz_boot b = { .cmdline_gpa = 0x11000, .initrd_gpa = 0xFF00000, .initrd_len = 0x1234,
                         .rsdp_gpa = 0xE0000, .ne820 = 3, .e820 = map };
    CHECK_EQ_U64(bzimage_parse(img, len, 256 * MiB, &bz, NULL, 0), 0);
    memset(zp, 0xCC, sizeof zp);
    CHECK_EQ_U64(bzimage_zero_page(zp, img, &bz, &b), 0);
    CHECK(memcmp(zp + 0x1F1, img + 0x1F1, 0x210 - 0x1F1) == 0);     /* header up to the loader */
    CHECK_EQ_U64(zp[0x210], 0xFF);                  /* type_of_loader: undefined */
    CHECK_EQ_U64(zp[0x211], 0x01);
    CHECK_EQ_U64(r32(zp, 0x214), 0x100000);
    CHECK_EQ_U64(r32(zp, 0x218), 0xFF00000);
    CHECK_EQ_U64(r32(zp, 0x21C), 0x1234);
    CHECK_EQ_U64(r32(zp, 0x228), 0x11000);
    CHECK(memcmp(zp + 0x22C, img + 0x22C, 0x26C - 0x22C) == 0);
    CHECK_EQ_U64(zp[0x26C], 0);                     /* beyond the header: zero */
    CHECK_EQ_U64(r64(zp, 0x70), 0xE0000);           /* acpi_rsdp_addr */
    CHECK_EQ_U64(zp[0x1E8], 3);
    CHECK_EQ_U64(zp[0x1EF], 0);                     /* sentinel */
    for (unsigned i = 0; i < 3; i++) {
        CHECK_EQ_U64(r64(zp, 0x2D0 + 20 * i), map[i].base);
        CHECK_EQ_U64(r64(zp, 0x2D0 + 20 * i + 8), map[i].len);
        CHECK_EQ_U64(r32(zp, 0x2D0 + 20 * i + 16), map[i].type);
    }
    CHECK_EQ_U64(zp[0x2D0 + 60], 0);
    CHECK_EQ_U64(zp[0], 0);
    CHECK_EQ_U64(zp[BZ_ZERO_PAGE_LEN - 1], 0);
    /* 2.12 has no acpi_rsdp_addr. */
    w16(img, 0x206, 0x020C);
    CHECK_EQ_U64(bzimage_parse(img, len, 256 * MiB, &bz, NULL, 0), 0);
    CHECK_EQ_U64(bzimage_zero_page(zp, img, &bz, &b), 0);
    CHECK_EQ_U64(r64(zp, 0x70), 0);
    b.ne820 = BZ_E820_MAX + 1;
    CHECK_EQ_U64(bzimage_zero_page(zp, img, &bz, &b), (uint64_t)-1);
}

/* Random headers: a parse either fails or describes an image that fits the file and the RAM. */
static void test_random(void)
{
    rng_seed(10);
    for (unsigned n = 0; n < 20000; n++) {
        size_t len = make(0x800 + rng_below(0x4000));
        unsigned flips = 1 + rng_below(6);
        for (unsigned i = 0; i < flips; i++)
            img[0x1F0 + rng_below(0x80)] = (uint8_t)rng_next();
        if (rng_below(4) == 0)
            len = rng_below(len + 1);
        uint64_t ram = rng_below(4) ? (rng_below(3072) + 1) * MiB : rng_next();
        struct bzimage bz;
        char err[96];
        if (bzimage_parse(img, len, ram, &bz, err, sizeof err) != 0) {
            CHECK(err[0] != 0);
            continue;
        }
        CHECK(bz.version >= BZ_MIN_VERSION);
        CHECK(bz.kernel_off + (uint64_t)bz.kernel_len == len);
        CHECK((uint64_t)bz.kernel_off + r32(img, 0x1F4) * 16ull <= len);
        CHECK(bz.need_end <= ram && bz.need_end >= BZ_LOAD_ADDR + bz.kernel_len);
        CHECK(bz.hdr_end >= 0x264 && bz.hdr_end <= 0x290 && bz.hdr_end <= len);
    }
}

/* The e820 map Linux gets is the multiboot map: PC layout with high RAM. */
static void test_memory_map(void)
{
    struct mbinfo_params p = { .ram = 3072 * MiB, .ram_high = 1024 * MiB,
                               .acpi_base = 0xE0000, .acpi_len = 0x1000 };
    uint64_t base[8], len[8];
    uint32_t type[8];
    CHECK_EQ_U64(mbinfo_memory_map(&p, base, len, type, 8), 6);
    CHECK_EQ_U64(base[0], 0);
    CHECK_EQ_U64(len[0], 0xA0000);
    CHECK_EQ_U64(type[0], 1);
    CHECK_EQ_U64(base[1], 0xA0000);                 /* the BIOS area, reserved ... */
    CHECK_EQ_U64(type[1], 2);
    CHECK_EQ_U64(base[2], 0xE0000);                 /* ... but for the ACPI tables in it */
    CHECK_EQ_U64(len[2], 0x1000);
    CHECK_EQ_U64(type[2], 3);
    CHECK_EQ_U64(base[3] + len[3], 0x100000);
    CHECK_EQ_U64(type[3], 2);
    CHECK_EQ_U64(base[4], 0x100000);
    CHECK_EQ_U64(base[4] + len[4], 3072 * MiB);
    CHECK_EQ_U64(base[5], 4096 * MiB);
    CHECK_EQ_U64(len[5], 1024 * MiB);
    CHECK_EQ_U64(type[5], 1);
    /* Tables at the top of low RAM are listed ACPI-reclaimable; max bounds what is written. */
    p.acpi_base = 64 * MiB - 0x2000;
    p.acpi_len = 0x2000;
    p.ram = 64 * MiB;
    p.ram_high = 0;
    CHECK_EQ_U64(mbinfo_memory_map(&p, base, len, type, 2), 4);
    CHECK_EQ_U64(mbinfo_memory_map(&p, base, len, type, 8), 4);
    CHECK_EQ_U64(base[3], 64 * MiB - 0x2000);
    CHECK_EQ_U64(type[3], 3);
}

int main(void)
{
    RUN(test_good);
    RUN(test_rejects);
    RUN(test_zero_page);
    RUN(test_random);
    RUN(test_memory_map);
    return check_summary("test_bzimage");
}
