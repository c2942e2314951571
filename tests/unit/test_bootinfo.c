/* Multiboot2 information as GRUB gives it under UEFI: EFI system table and EFI memory map tags,
 * ACPI RSDP tags, and no BIOS data area to read (only UEFI-tagged infos are built here: for a
 * BIOS boot, bootinfo_parse reads the BDA at 0x40E, which a host process cannot). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "boot/multiboot.h"
#include "kernel/bootinfo.h"

static uint8_t buf[16384] __attribute__((aligned(8)));
static size_t pos;

static void put32(size_t off, uint32_t v) { memcpy(buf + off, &v, 4); }
static void put64(size_t off, uint64_t v) { memcpy(buf + off, &v, 8); }

static size_t tag(uint32_t type, uint32_t size)
{
    size_t at = pos;
    put32(at, type);
    put32(at + 4, size);
    pos = (at + size + 7) & ~(size_t)7;
    return at;
}

static void begin(void)
{
    memset(buf, 0, sizeof buf);
    pos = 8;
}

static uint64_t finish(void)
{
    tag(MB2_TAG_END, 8);
    put32(0, (uint32_t)pos);
    return (uint64_t)(uintptr_t)buf;
}

/* EFI memory map tag with descriptors of desc_size bytes: {efi type, base, pages} */
static void efi_mmap(const uint64_t (*d)[3], unsigned n, uint32_t desc_size)
{
    size_t at = tag(MB2_TAG_EFI_MMAP, 16 + n * desc_size);
    put32(at + 8, desc_size);
    put32(at + 12, 1);
    for (unsigned i = 0; i < n; i++) {
        size_t e = at + 16 + i * desc_size;
        put32(e, (uint32_t)d[i][0]);
        put64(e + 8, d[i][1]);
        put64(e + 16, 0);
        put64(e + 24, d[i][2]);
        put64(e + 32, 0xF);                 /* attributes: UC|WC|WT|WB */
    }
}

static void test_efi_tags(void)
{
    static const uint64_t d[][3] = {
        { 7, 0, 0xA0 },                     /* conventional below 640K */
        { 0, 0xA0000, 0x60 },               /* reserved */
        { 7, 0x100000, 0x100 },             /* conventional ... */
        { 4, 0x200000, 0x200 },             /* ... boot services data: merges with it */
        { 2, 0x400000, 0x10 },              /* loader data (GRUB's): usable too */
        { 9, 0x410000, 0x4 },               /* ACPI reclaim */
        { 10, 0x414000, 0x4 },              /* ACPI NVS */
        { 6, 0x418000, 0x8 },               /* runtime services data: stays reserved */
        { 7, 0x100000000ull, 0x40000 },     /* 1 GiB above 4 GiB */
        { 11, 0xFEC00000, 1 },              /* MMIO */
    };
    struct bootinfo bi;
    const char *why = 0;

    begin();
    size_t c = tag(MB2_TAG_CMDLINE, 8 + 9);
    memcpy(buf + c + 8, "poweroff", 9);
    size_t st = tag(MB2_TAG_EFI64, 16);
    put64(st + 8, 0x7F9EC018);
    size_t r = tag(MB2_TAG_ACPI_NEW, 8 + 36);
    memcpy(buf + r + 8, "RSD PTR ", 8);
    efi_mmap(d, sizeof d / sizeof d[0], 48);          /* OVMF uses 48-byte descriptors */
    uint64_t info = finish();
    CHECK_EQ_U64(bootinfo_parse(MB2_BOOTLOADER_MAGIC, info, &bi, &why), 0);
    CHECK(bi.uefi);
    CHECK_EQ_U64(bi.efi_systab, 0x7F9EC018);
    CHECK_EQ_U64(bi.ebda, 0);                         /* no BIOS data area read */
    CHECK(!bi.has_mmap && bi.has_efi_mmap);
    CHECK_EQ_STR(bi.cmdline, "poweroff");
    CHECK(bi.rsdp == buf + r + 8 && bi.rsdp_len == 36);
    CHECK_EQ_U64(bi.efi_mmap.n, 8);                   /* 10 descriptors, 2 merged away */
    CHECK_EQ_U64(bi.efi_mmap.r[2].base, 0x100000);
    CHECK_EQ_U64(bi.efi_mmap.r[2].len, 0x310000);     /* conventional + BS data + loader data */
    CHECK_EQ_U64(bi.efi_mmap.r[2].type, MEM_USABLE);
    CHECK_EQ_U64(bi.efi_mmap.r[3].type, MEM_ACPI);
    CHECK_EQ_U64(bi.efi_mmap.r[4].type, MEM_NVS);
    CHECK_EQ_U64(bi.efi_mmap.r[5].type, MEM_RESERVED);
    CHECK_EQ_U64(bi.efi_mmap.r[6].base, 0x100000000ull);
    CHECK_EQ_U64(bi.efi_mmap.r[6].len, 1ull << 30);
    CHECK_EQ_U64(bi.efi_mmap.r[7].type, MEM_RESERVED);
    memmap_normalize(&bi.efi_mmap);
    CHECK_EQ_U64(memmap_usable_bytes(&bi.efi_mmap), 0xA0000 + 0x310000 + (1ull << 30));
}

static void test_efi_mmap_edge_cases(void)
{
    struct bootinfo bi;
    const char *why = 0;

    /* 40-byte descriptors (the spec's size), a plain map too, an EFI32 system table */
    static const uint64_t d[][3] = { { 7, 0x100000, 0x10 }, { 3, 0x200000, 0x10 } };
    begin();
    size_t st = tag(MB2_TAG_EFI32, 12);
    put32(st + 8, 0x7F000000);
    size_t m = tag(MB2_TAG_MMAP, 16 + 24);
    put32(m + 8, 24);
    put64(m + 16, 0x100000);
    put64(m + 24, 0x100000);
    put32(m + 32, 1);
    efi_mmap(d, 2, 40);
    CHECK_EQ_U64(bootinfo_parse(MB2_BOOTLOADER_MAGIC, finish(), &bi, &why), 0);
    CHECK(bi.uefi && bi.has_mmap && bi.has_efi_mmap);
    CHECK_EQ_U64(bi.efi_systab, 0x7F000000);
    CHECK_EQ_U64(bi.efi_mmap.n, 2);                   /* not adjacent: not merged */

    /* descriptors smaller than the spec's: ignored, not misread */
    begin();
    tag(MB2_TAG_EFI64, 16);
    efi_mmap(d, 2, 40);
    put32(8 + 16 + 8, 32);                            /* desc_size field of the mmap tag */
    CHECK_EQ_U64(bootinfo_parse(MB2_BOOTLOADER_MAGIC, finish(), &bi, &why), 0);
    CHECK(!bi.has_efi_mmap);

    /* a tag running past the total size is an error */
    begin();
    tag(MB2_TAG_EFI64, 16);
    size_t at = pos;
    efi_mmap(d, 2, 48);
    put32(at + 4, 4000);
    CHECK_EQ_U64(bootinfo_parse(MB2_BOOTLOADER_MAGIC, finish(), &bi, &why), -1);
    CHECK(why != 0);

    /* more descriptors than the map holds: the rest is dropped (never reserved memory
     * turned usable), the map stays within its bounds */
    static uint64_t many[400][3];
    for (unsigned i = 0; i < 400; i++) {
        many[i][0] = i % 2 ? 7 : 0;
        many[i][1] = 0x100000 + i * 0x2000ull;
        many[i][2] = 1;
    }
    begin();
    tag(MB2_TAG_EFI64, 16);
    efi_mmap(many, 300, 48);
    CHECK_EQ_U64(bootinfo_parse(MB2_BOOTLOADER_MAGIC, finish(), &bi, &why), 0);
    CHECK_EQ_U64(bi.efi_mmap.n, MEMMAP_MAX);
}

int main(void)
{
    RUN(test_efi_tags);
    RUN(test_efi_mmap_edge_cases);
    return check_summary("test_bootinfo");
}
