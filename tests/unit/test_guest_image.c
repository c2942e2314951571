#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernel/loader/guest_image.h"

#define RAM (16ull << 20)
#define IMG_LEN 0x2400

static void put16(uint8_t *p, size_t off, uint16_t v) { memcpy(p + off, &v, 2); }
static void put32(uint8_t *p, size_t off, uint32_t v) { memcpy(p + off, &v, 4); }
static void put64(uint8_t *p, size_t off, uint64_t v) { memcpy(p + off, &v, 8); }

/* What to build. */
struct spec {
    int cls;            /* 32 or 64 */
    bool mb1, mb2;
    bool mb2_entry;     /* add an entry-address tag */
    uint64_t vshift;    /* vaddr = paddr + vshift (higher-half images) */
    uint64_t entry;     /* e_entry */
    uint32_t tag_entry;
};

static const struct { uint64_t paddr, off, filesz, memsz; } segs[2] = {
    { 0x100000, 0x1000, 0x800, 0x1000 },
    { 0x200000, 0x2000, 0x400, 0x3000 },
};

static void put_mb1(uint8_t *b, size_t off, uint32_t flags)
{
    put32(b, off, MB1_HEADER_MAGIC);
    put32(b, off + 4, flags);
    put32(b, off + 8, 0u - MB1_HEADER_MAGIC - flags);
}

/* mb2 header with optional entry tag; returns its length. */
static size_t put_mb2(uint8_t *b, size_t off, bool entry, uint32_t entry_addr)
{
    size_t t = off + 16;

    if (entry) {
        put16(b, t, MB2_HEADER_TAG_ENTRY_ADDRESS);
        put16(b, t + 2, 0);
        put32(b, t + 4, 12);
        put32(b, t + 8, entry_addr);
        t += 16;   /* 12 rounded up to 8 */
    }
    put16(b, t, MB2_HEADER_TAG_END);
    put16(b, t + 2, 0);
    put32(b, t + 4, 8);
    t += 8;
    uint32_t hlen = (uint32_t)(t - off);
    put32(b, off, MB2_HEADER_MAGIC);
    put32(b, off + 4, MB2_ARCHITECTURE_I386);
    put32(b, off + 8, hlen);
    put32(b, off + 12, 0u - MB2_HEADER_MAGIC - hlen);
    return hlen;
}

static void put_phdr(uint8_t *b, int cls, unsigned i, uint64_t type, uint64_t off, uint64_t vaddr,
                     uint64_t paddr, uint64_t filesz, uint64_t memsz)
{
    if (cls == 32) {
        uint8_t *p = b + 52 + i * 32;
        put32(p, 0, (uint32_t)type); put32(p, 4, (uint32_t)off); put32(p, 8, (uint32_t)vaddr);
        put32(p, 12, (uint32_t)paddr); put32(p, 16, (uint32_t)filesz); put32(p, 20, (uint32_t)memsz);
        put32(p, 24, 7); put32(p, 28, 0x1000);
    } else {
        uint8_t *p = b + 64 + i * 56;
        put32(p, 0, (uint32_t)type); put32(p, 4, 7); put64(p, 8, off); put64(p, 16, vaddr);
        put64(p, 24, paddr); put64(p, 32, filesz); put64(p, 40, memsz); put64(p, 48, 0x1000);
    }
}

/* ELF with two PT_LOAD segments and a PT_NOTE; returns the length (IMG_LEN). */
static size_t build_elf(uint8_t *b, const struct spec *s)
{
    bool is64 = s->cls == 64;

    memset(b, 0, IMG_LEN);
    for (size_t i = 0x1000; i < IMG_LEN; i++)
        b[i] = (uint8_t)(i * 7);
    memcpy(b, "\177ELF", 4);
    b[4] = is64 ? 2 : 1;
    b[5] = 1;
    b[6] = 1;
    put16(b, 16, 2);
    put16(b, 18, is64 ? 62 : 3);
    put32(b, 20, 1);
    if (is64) {
        put64(b, 24, s->entry);
        put64(b, 32, 64);
        put16(b, 52, 64);
        put16(b, 54, 56);
        put16(b, 56, 3);
    } else {
        put32(b, 24, (uint32_t)s->entry);
        put32(b, 28, 52);
        put16(b, 40, 52);
        put16(b, 42, 32);
        put16(b, 44, 3);
    }
    for (unsigned i = 0; i < 2; i++)
        put_phdr(b, s->cls, i, 1, segs[i].off, segs[i].paddr + s->vshift, segs[i].paddr,
                 segs[i].filesz, segs[i].memsz);
    put_phdr(b, s->cls, 2, 4, 0x300, 0, 0, 0x10, 0x10);   /* PT_NOTE: ignored */
    if (s->mb1)
        put_mb1(b, 0x200, MB1_FLAG_PAGE_ALIGN | MB1_FLAG_MEMORY_INFO);
    if (s->mb2)
        put_mb2(b, 0x400, s->mb2_entry, s->tag_entry);
    return IMG_LEN;
}

static const struct spec elf32_mb1 = { 32, true, false, false, 0, 0x100010, 0 };

static int parse(const uint8_t *b, size_t len, struct guest_image *g, char *err)
{
    return guest_image_parse(b, len, RAM, g, err, 160);
}

static void expect_err(const uint8_t *b, size_t len, const char *want)
{
    struct guest_image g;
    char err[160];

    if (!CHECK(parse(b, len, &g, err) == -1))
        return;
    if (!CHECK(strstr(err, want) != NULL))
        fprintf(stderr, "    want \"%s\", got \"%s\"\n", want, err);
    CHECK(strchr(err, '\n') == NULL);
}

static void test_elf32_mb1(void)
{
    static uint8_t b[IMG_LEN];
    struct guest_image g;
    char err[160];
    size_t n = build_elf(b, &elf32_mb1);

    CHECK_EQ_U64(parse(b, n, &g, err), 0);
    CHECK_EQ_STR(err, "");
    CHECK_EQ_U64(g.mb_version, 1);
    CHECK_EQ_U64(g.entry, 0x100010);
    CHECK_EQ_U64(g.nseg, 2);
    for (unsigned i = 0; i < 2; i++) {
        CHECK_EQ_U64(g.seg[i].paddr, segs[i].paddr);
        CHECK_EQ_U64(g.seg[i].offset, segs[i].off);
        CHECK_EQ_U64(g.seg[i].filesz, segs[i].filesz);
        CHECK_EQ_U64(g.seg[i].memsz, segs[i].memsz);
    }
    CHECK_EQ_U64(g.lo, 0x100000);
    CHECK_EQ_U64(g.hi, 0x203000);
    /* exactly enough RAM, and one byte too little */
    CHECK_EQ_U64(guest_image_parse(b, n, 0x203000, &g, err, sizeof err), 0);
    CHECK_EQ_U64(guest_image_parse(b, n, 0x202FFF, &g, err, sizeof err), -1);
    CHECK(strstr(err, "segment 0x200000 - 0x203000 outside guest RAM") != NULL);
    CHECK_EQ_U64(guest_image_parse(b, n, 0x200000, &g, NULL, 0), -1);
}

static void test_elf64_mb2(void)
{
    static uint8_t b[IMG_LEN];
    struct guest_image g;
    char err[160];
    struct spec s = { 64, false, true, true, 0, 0x100020, 0x200100 };

    build_elf(b, &s);
    CHECK_EQ_U64(parse(b, IMG_LEN, &g, err), 0);
    CHECK_EQ_U64(g.mb_version, 2);
    CHECK_EQ_U64(g.entry, 0x200100);   /* the tag wins over e_entry */
    s.mb2_entry = false;
    build_elf(b, &s);
    CHECK_EQ_U64(parse(b, IMG_LEN, &g, err), 0);
    CHECK_EQ_U64(g.entry, 0x100020);
    s.mb1 = true;                      /* both: mb2 preferred */
    build_elf(b, &s);
    CHECK_EQ_U64(parse(b, IMG_LEN, &g, err), 0);
    CHECK_EQ_U64(g.mb_version, 2);
    /* higher-half: e_entry virtual, translated through its segment */
    s.vshift = 0xFFFFFFFF80000000ull;
    s.entry = 0xFFFFFFFF80000000ull + 0x100020;
    build_elf(b, &s);
    expect_err(b, IMG_LEN, "above 4 GiB");
    s.cls = 32;
    s.vshift = 0xC0000000;
    s.entry = 0xC0100020;
    build_elf(b, &s);
    CHECK_EQ_U64(parse(b, IMG_LEN, &g, err), 0);
    CHECK_EQ_U64(g.entry, 0x100020);
    /* the mb2 entry tag is physical and must be inside a segment */
    s.mb2_entry = true;
    s.tag_entry = 0xC0100020;
    s.mb1 = false;
    build_elf(b, &s);
    expect_err(b, IMG_LEN, "entry point 0xc0100020 not in a loaded segment");
}

static void test_header_errors(void)
{
    static uint8_t b[0x10000];
    struct spec s = elf32_mb1;

    build_elf(b, &s);
    b[0x208] ^= 1;   /* checksum */
    expect_err(b, IMG_LEN, "no multiboot header in the first 8 KiB/32 KiB");
    build_elf(b, &s);
    put32(b, 0x200, 0);
    put_mb1(b, 0x201, 3);   /* misaligned */
    expect_err(b, IMG_LEN, "no multiboot header");
    build_elf(b, &s);
    put32(b, 0x200, 0);
    put_mb1(b, 0x2000, 3);   /* past 8 KiB */
    expect_err(b, IMG_LEN, "no multiboot header");
    put_mb1(b, 0x1FF4, 3);   /* last slot that fits in 8 KiB */
    CHECK_EQ_U64(parse(b, IMG_LEN, &(struct guest_image){ 0 }, (char[160]){ 0 }), 0);
    build_elf(b, &s);
    put_mb1(b, 0x200, 1u << 5);   /* unknown required flag */
    expect_err(b, IMG_LEN, "unsupported multiboot flags");

    /* mb2 beyond 32 KiB, bad arch, bad length, tags */
    s.mb1 = false;
    s.mb2 = true;
    memset(b, 0, sizeof b);
    build_elf(b, &s);
    put32(b, 0x400, 0);
    put_mb2(b, 0x8000, false, 0);
    expect_err(b, sizeof b, "no multiboot header");
    put_mb2(b, 0x7FE8, false, 0);   /* ends exactly at 32 KiB */
    CHECK_EQ_U64(parse(b, sizeof b, &(struct guest_image){ 0 }, (char[160]){ 0 }), 0);
    build_elf(b, &s);
    put32(b, 0x404, 4);   /* MIPS */
    put32(b, 0x40C, 0u - MB2_HEADER_MAGIC - 4 - 24);
    expect_err(b, IMG_LEN, "architecture 4");
    build_elf(b, &s);
    put32(b, 0x408, 16);
    put32(b, 0x40C, 0u - MB2_HEADER_MAGIC - 16);
    expect_err(b, IMG_LEN, "header length");
    build_elf(b, &s);
    put32(b, 0x414, 7);   /* end tag size < 8 */
    expect_err(b, IMG_LEN, "bad multiboot2 header tag");
    build_elf(b, &s);
    put16(b, 0x410, 42);   /* unknown required tag, and then no end tag */
    expect_err(b, IMG_LEN, "unsupported multiboot2 header tag 42");
    put16(b, 0x412, MB2_HEADER_TAG_OPTIONAL);
    expect_err(b, IMG_LEN, "no end tag");
    build_elf(b, &s);
    put32(b, 0x414, 16);   /* end tag overrunning the header length */
    expect_err(b, IMG_LEN, "bad multiboot2 header tag");
    s.mb2_entry = true;
    build_elf(b, &s);
    put32(b, 0x414, 8);   /* entry tag too short */
    expect_err(b, IMG_LEN, "entry address tag too short");
    CHECK_EQ_U64(guest_image_parse(NULL, 0, RAM, &(struct guest_image){ 0 }, NULL, 0), -1);
    expect_err(b, 0, "no multiboot header");
}

static void test_elf_errors(void)
{
    static uint8_t b[IMG_LEN];

    build_elf(b, &elf32_mb1);
    b[4] = 3;
    expect_err(b, IMG_LEN, "ELF class");
    build_elf(b, &elf32_mb1);
    b[5] = 2;
    expect_err(b, IMG_LEN, "little-endian");
    build_elf(b, &elf32_mb1);
    put16(b, 16, 3);
    expect_err(b, IMG_LEN, "not an executable");
    build_elf(b, &elf32_mb1);
    put16(b, 18, 62);
    expect_err(b, IMG_LEN, "machine 62");
    build_elf(b, &elf32_mb1);
    put16(b, 42, 31);
    expect_err(b, IMG_LEN, "program header size");
    build_elf(b, &elf32_mb1);
    put32(b, 28, IMG_LEN - 64);
    expect_err(b, IMG_LEN, "program headers extend past end of file");
    build_elf(b, &elf32_mb1);
    put16(b, 44, 0xFFFF);
    expect_err(b, IMG_LEN, "program headers extend past end of file");
    build_elf(b, &elf32_mb1);
    put16(b, 44, 0);
    expect_err(b, IMG_LEN, "no loadable segments");
    build_elf(b, &elf32_mb1);
    expect_err(b, 0x2300, "segment extends past end of file");
    build_elf(b, &elf32_mb1);
    put_phdr(b, 32, 1, 1, 0xFFFFFF00, 0x200000, 0x200000, 0x200, 0x3000);
    expect_err(b, IMG_LEN, "past end of file");
    build_elf(b, &elf32_mb1);
    put_phdr(b, 32, 1, 1, 0x2000, 0x200000, 0x200000, 0x4000, 0x3000);
    expect_err(b, IMG_LEN, "exceeds memory size");
    build_elf(b, &elf32_mb1);
    put_phdr(b, 32, 1, 1, 0x2000, 0x100800, 0x100800, 0x400, 0x3000);
    expect_err(b, IMG_LEN, "overlap");
    build_elf(b, &elf32_mb1);
    put_phdr(b, 32, 1, 1, 0x2000, 0xFFFFF000, 0xFFFFF000, 0x400, 0x3000);   /* wraps */
    expect_err(b, IMG_LEN, "outside guest RAM (16 MiB)");
    build_elf(b, &elf32_mb1);
    put32(b, 24, 0x101000);   /* just past segment 0's memsz */
    expect_err(b, IMG_LEN, "entry point 0x101000 not in a loaded segment");
    build_elf(b, &elf32_mb1);
    expect_err(b, 40, "no multiboot header");   /* header cut too */
    /* too many segments */
    static uint8_t m[0x4000];
    struct spec s = elf32_mb1;
    build_elf(m, &s);
    put16(m, 44, 9);
    for (unsigned i = 0; i < 9; i++)
        put_phdr(m, 32, i, 1, 0x1000, 0x100000 + i * 0x1000, 0x100000 + i * 0x1000, 0x10, 0x1000);
    expect_err(m, IMG_LEN, "more than 8 loadable segments");
    put16(m, 44, 8);
    CHECK_EQ_U64(parse(m, IMG_LEN, &(struct guest_image){ 0 }, (char[160]){ 0 }), 0);
    /* memsz-0 segments are skipped, even beyond RAM */
    build_elf(m, &s);
    put_phdr(m, 32, 2, 1, 0, 0x7FFFFFFF, 0x7FFFFFFF, 0, 0);
    CHECK_EQ_U64(parse(m, IMG_LEN, &(struct guest_image){ 0 }, (char[160]){ 0 }), 0);
}

/* mb1 a.out kludge image at 1 MiB: header at 0x40 of a non-ELF blob. */
static size_t build_aout(uint8_t *b, size_t len, uint32_t load_end, uint32_t bss_end, uint32_t entry)
{
    for (size_t i = 0; i < len; i++)
        b[i] = (uint8_t)(0x90 + i);
    uint32_t flags = MB1_FLAG_AOUT_KLUDGE | MB1_FLAG_PAGE_ALIGN;
    put_mb1(b, 0x40, flags);
    put32(b, 0x4C, 0x100040);
    put32(b, 0x50, 0x100000);
    put32(b, 0x54, load_end);
    put32(b, 0x58, bss_end);
    put32(b, 0x5C, entry);
    return len;
}

static void test_aout(void)
{
    static uint8_t b[0x3000];
    struct guest_image g;
    char err[160];

    build_aout(b, sizeof b, 0x102000, 0x105000, 0x100080);
    CHECK_EQ_U64(parse(b, sizeof b, &g, err), 0);
    CHECK_EQ_U64(g.mb_version, 1);
    CHECK_EQ_U64(g.nseg, 1);
    CHECK_EQ_U64(g.seg[0].paddr, 0x100000);
    CHECK_EQ_U64(g.seg[0].offset, 0);
    CHECK_EQ_U64(g.seg[0].filesz, 0x2000);
    CHECK_EQ_U64(g.seg[0].memsz, 0x5000);
    CHECK_EQ_U64(g.entry, 0x100080);
    CHECK_EQ_U64(g.hi, 0x105000);
    build_aout(b, sizeof b, 0, 0, 0x100080);   /* load to end of file, no bss */
    CHECK_EQ_U64(parse(b, sizeof b, &g, err), 0);
    CHECK_EQ_U64(g.seg[0].filesz, sizeof b);
    CHECK_EQ_U64(g.seg[0].memsz, sizeof b);
    build_aout(b, sizeof b, 0x104000, 0, 0x100080);
    expect_err(b, sizeof b, "past end of file");
    build_aout(b, sizeof b, 0x0FF000, 0, 0x100080);
    expect_err(b, sizeof b, "load end below load address");
    build_aout(b, sizeof b, 0x102000, 0x101000, 0x100080);
    expect_err(b, sizeof b, "bss end below load end");
    build_aout(b, sizeof b, 0x102000, 0, 0x200000);
    expect_err(b, sizeof b, "entry point 0x200000 not in a loaded segment");
    build_aout(b, sizeof b, 0, 0, 0x100080);
    put32(b, 0x50, 0x0F0000);   /* load_addr far below header_addr: before the file start */
    expect_err(b, sizeof b, "does not match header address");
    build_aout(b, sizeof b, 0, 0, 0x100080);
    put32(b, 0x50, 0x100041);   /* load_addr above header_addr */
    expect_err(b, sizeof b, "does not match header address");
    build_aout(b, sizeof b, 0, 0, 0xFFFFF080);
    put32(b, 0x4C, 0xFFFFF040);
    put32(b, 0x50, 0xFFFFF000);
    expect_err(b, sizeof b, "outside guest RAM (16 MiB)");
    /* without the kludge flag a non-ELF file is refused */
    build_aout(b, sizeof b, 0, 0, 0x100080);
    put_mb1(b, 0x40, MB1_FLAG_PAGE_ALIGN);
    expect_err(b, sizeof b, "not an ELF or multiboot a.out image");
    /* kludge header cut by the end of the file */
    build_aout(b, 0x60, 0, 0, 0x100080);
    expect_err(b, 0x58, "multiboot header truncated");
    /* an ELF with the kludge flag still loads as ELF */
    static uint8_t e[IMG_LEN];
    build_elf(e, &elf32_mb1);
    put_mb1(e, 0x200, MB1_FLAG_AOUT_KLUDGE);
    CHECK_EQ_U64(parse(e, IMG_LEN, &g, err), 0);
    CHECK_EQ_U64(g.nseg, 2);
}

/* mb2 a.out: address tag + entry tag. */
static size_t build_aout2(uint8_t *b, size_t len, uint32_t load_addr, bool entry)
{
    memset(b, 0xCC, len);
    size_t off = 0x20, t = off + 16;
    put16(b, t, MB2_HEADER_TAG_ADDRESS); put16(b, t + 2, 0); put32(b, t + 4, 24);
    put32(b, t + 8, 0x300020); put32(b, t + 12, load_addr); put32(b, t + 16, 0);
    put32(b, t + 20, 0x301000 + (uint32_t)len);
    t += 24;
    if (entry) {
        put16(b, t, MB2_HEADER_TAG_ENTRY_ADDRESS); put16(b, t + 2, 0); put32(b, t + 4, 12);
        put32(b, t + 8, 0x300100);
        t += 16;
    }
    put16(b, t, 0); put16(b, t + 2, 0); put32(b, t + 4, 8);
    t += 8;
    uint32_t hlen = (uint32_t)(t - off);
    put32(b, off, MB2_HEADER_MAGIC);
    put32(b, off + 4, 0);
    put32(b, off + 8, hlen);
    put32(b, off + 12, 0u - MB2_HEADER_MAGIC - hlen);
    return len;
}

static void test_aout_mb2(void)
{
    static uint8_t b[0x1000];
    struct guest_image g;
    char err[160];

    build_aout2(b, sizeof b, 0x300000, true);
    CHECK_EQ_U64(parse(b, sizeof b, &g, err), 0);
    CHECK_EQ_U64(g.mb_version, 2);
    CHECK_EQ_U64(g.seg[0].paddr, 0x300000);
    CHECK_EQ_U64(g.seg[0].offset, 0);
    CHECK_EQ_U64(g.seg[0].filesz, sizeof b);
    CHECK_EQ_U64(g.seg[0].memsz, 0x2000);
    CHECK_EQ_U64(g.entry, 0x300100);
    build_aout2(b, sizeof b, 0xFFFFFFFF, true);   /* -1: from the start of the file */
    CHECK_EQ_U64(parse(b, sizeof b, &g, err), 0);
    CHECK_EQ_U64(g.seg[0].paddr, 0x300000);
    build_aout2(b, sizeof b, 0x300000, false);
    expect_err(b, sizeof b, "without an entry address tag");
}

/* Every accepted image must satisfy the documented guarantees. */
static void check_accepted(const struct guest_image *g, size_t len, uint64_t ram)
{
    CHECK(g->mb_version == 1 || g->mb_version == 2);
    CHECK(g->nseg >= 1 && g->nseg <= GUEST_MAX_SEGS);
    CHECK(g->entry < (1ull << 32));
    bool in_seg = false;
    for (unsigned i = 0; i < g->nseg; i++) {
        const struct guest_segment *s = &g->seg[i];
        CHECK(s->filesz <= s->memsz && s->memsz > 0);
        CHECK(s->offset <= len && s->filesz <= len - s->offset);
        CHECK(s->paddr < ram && s->memsz <= ram - s->paddr);
        CHECK(g->lo <= s->paddr && s->paddr + s->memsz <= g->hi);
        in_seg |= g->entry >= s->paddr && g->entry < s->paddr + s->memsz;
        for (unsigned j = 0; j < i; j++)
            CHECK(s->paddr >= g->seg[j].paddr + g->seg[j].memsz ||
                  g->seg[j].paddr >= s->paddr + s->memsz);
    }
    CHECK(in_seg);
}

static void fuzz_image(const uint8_t *src, size_t n, unsigned *accepted)
{
    size_t len = rng_below(3) ? n : rng_below(n + 1);
    uint8_t *c = malloc(len ? len : 1);
    uint64_t ram = rng_below(4) ? RAM : rng_next() >> rng_below(64);
    struct guest_image g;
    char err[96];

    memcpy(c, src, len);
    rng_mutate(c, len);
    if (rng_below(2))
        rng_mutate(c, len < 0x600 ? len : 0x600);   /* headers are where it matters */
    if (guest_image_parse(c, len, ram, &g, err, sizeof err) == 0) {
        (*accepted)++;
        check_accepted(&g, len, ram);
    } else {
        CHECK(err[0] != 0 && strlen(err) < sizeof err && !strchr(err, '\n'));
    }
    free(c);
}

static void test_fuzz(void)
{
    static uint8_t imgs[6][IMG_LEN];
    size_t lens[6];
    struct spec s64 = { 64, true, true, true, 0, 0x100020, 0x200100 };
    struct spec s32hh = { 32, false, true, false, 0xC0000000, 0xC0100020, 0 };
    unsigned accepted = 0;

    lens[0] = build_elf(imgs[0], &elf32_mb1);
    lens[1] = build_elf(imgs[1], &s64);
    lens[2] = build_elf(imgs[2], &s32hh);
    lens[3] = build_aout(imgs[3], 0x2000, 0x101800, 0x104000, 0x100080);
    lens[4] = build_aout2(imgs[4], 0x1000, 0x300000, true);
    rng_seed(31);
    rng_fill(imgs[5], IMG_LEN);
    lens[5] = IMG_LEN;
    for (int it = 0; it < 30000; it++) {
        unsigned k = (unsigned)rng_below(6);
        fuzz_image(imgs[k], lens[k], &accepted);
    }
    CHECK(accepted > 3000);   /* mutations that keep an image valid do occur */
}

int main(void)
{
    RUN(test_elf32_mb1);
    RUN(test_elf64_mb2);
    RUN(test_header_errors);
    RUN(test_elf_errors);
    RUN(test_aout);
    RUN(test_aout_mb2);
    RUN(test_fuzz);
    return check_summary("test_guest_image");
}
