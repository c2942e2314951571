#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernel/loader/mbinfo.h"

#define MiB (1ull << 20)

static uint32_t rd32(const uint8_t *p, size_t off) { uint32_t v; memcpy(&v, p + off, 4); return v; }
static uint64_t rd64(const uint8_t *p, size_t off) { uint64_t v; memcpy(&v, p + off, 8); return v; }

/* Guest-physical address -> pointer into buf, checking the whole object is inside [0, used). */
static const uint8_t *at(const uint8_t *buf, uint64_t gpa, long used, uint64_t a, size_t n)
{
    if (!CHECK(a >= gpa && a - gpa + n <= (uint64_t)used))
        return NULL;
    return buf + (a - gpa);
}

static const char *str_at(const uint8_t *buf, uint64_t gpa, long used, uint64_t a)
{
    const uint8_t *s = at(buf, gpa, used, a, 1);
    if (!s || !CHECK(memchr(s, 0, (size_t)(used - (long)(a - gpa))) != NULL))
        return "<bad>";
    return (const char *)s;
}

static struct mbinfo_params sample(int version)
{
    struct mbinfo_params p = { .version = version, .ram = 64 * MiB,
                                 .cmdline = "web extra=1", .loader_name = "Keel", .nmods = 2 };
    p.mods[0] = (struct mbinfo_mod){ 0x400000, 0x401234, "data for web" };
    p.mods[1] = (struct mbinfo_mod){ 0x402000, 0x402000, NULL };
    return p;
}

static void check_map(const uint64_t base[3], const uint64_t len[3], const uint32_t type[3],
                      unsigned n, uint64_t ram)
{
    CHECK_EQ_U64(n, 3);
    if (n != 3)
        return;
    CHECK_EQ_U64(base[0], 0);
    CHECK_EQ_U64(len[0], 0xA0000);
    CHECK_EQ_U64(type[0], 1);
    CHECK_EQ_U64(base[1], 0xA0000);
    CHECK_EQ_U64(len[1], 0x60000);
    CHECK_EQ_U64(type[1], 2);
    CHECK_EQ_U64(base[2], 0x100000);
    CHECK_EQ_U64(len[2], ram - 0x100000);
    CHECK_EQ_U64(type[2], 1);
}

/* Decodes and checks an mb1 info built from sample(1). */
static void check_mb1(const uint8_t *buf, uint64_t gpa, long used, uint64_t info_gpa,
                      const struct mbinfo_params *p)
{
    const uint8_t *mi = at(buf, gpa, used, info_gpa, 116);
    if (!mi)
        return;
    CHECK_EQ_U64(info_gpa % 8, 0);
    CHECK_EQ_U64(rd32(mi, 0), MB1_INFO_MEMORY | MB1_INFO_CMDLINE | MB1_INFO_MODS |
                              MB1_INFO_MEM_MAP | MB1_INFO_BOOT_LOADER_NAME);
    CHECK_EQ_U64(rd32(mi, 4), 640);
    CHECK_EQ_U64(rd32(mi, 8), (p->ram - MiB) / 1024);
    CHECK_EQ_STR(str_at(buf, gpa, used, rd32(mi, 16)), p->cmdline);
    CHECK_EQ_STR(str_at(buf, gpa, used, rd32(mi, 64)), "Keel");
    CHECK_EQ_U64(rd32(mi, 20), p->nmods);
    const uint8_t *mods = at(buf, gpa, used, rd32(mi, 24), p->nmods * 16);
    for (unsigned i = 0; mods && i < p->nmods; i++) {
        CHECK_EQ_U64(rd32(mods, i * 16), p->mods[i].start);
        CHECK_EQ_U64(rd32(mods, i * 16 + 4), p->mods[i].end);
        CHECK_EQ_STR(str_at(buf, gpa, used, rd32(mods, i * 16 + 8)),
                     p->mods[i].string ? p->mods[i].string : "");
    }
    uint32_t mlen = rd32(mi, 44);
    const uint8_t *mm = at(buf, gpa, used, rd32(mi, 48), mlen);
    uint64_t base[3], len[3];
    uint32_t type[3];
    unsigned n = 0;
    for (uint32_t off = 0; mm && off < mlen && n < 3; n++) {
        uint32_t size = rd32(mm, off);
        CHECK_EQ_U64(size, 20);
        base[n] = rd64(mm, off + 4);
        len[n] = rd64(mm, off + 12);
        type[n] = rd32(mm, off + 20);
        off += size + 4;
    }
    check_map(base, len, type, n, p->ram);
}

/* Walks mb2 tags: alignment, sizes, contents. */
static void check_mb2(const uint8_t *buf, uint64_t gpa, long used, uint64_t info_gpa,
                      const struct mbinfo_params *p)
{
    const uint8_t *mi = at(buf, gpa, used, info_gpa, 8);
    if (!mi)
        return;
    CHECK_EQ_U64(info_gpa % 8, 0);
    uint32_t total = rd32(mi, 0);
    CHECK_EQ_U64(info_gpa - gpa + total, (uint64_t)used);
    unsigned seen[8] = { 0 }, nmod = 0;
    bool end = false;
    for (uint32_t off = 8; off + 8 <= total && !end;) {
        uint32_t type = rd32(mi, off), size = rd32(mi, off + 4);
        CHECK((info_gpa + off) % 8 == 0);
        if (!CHECK(size >= 8 && off + size <= total))
            return;
        const uint8_t *t = mi + off;
        if (type < 8)
            seen[type]++;
        switch (type) {
        case MB2_TAG_TYPE_CMDLINE:
            CHECK_EQ_STR((const char *)t + 8, p->cmdline);
            CHECK_EQ_U64(size, 8 + strlen(p->cmdline) + 1);
            break;
        case MB2_TAG_TYPE_BOOT_LOADER_NAME:
            CHECK_EQ_STR((const char *)t + 8, "Keel");
            break;
        case MB2_TAG_TYPE_MODULE:
            CHECK_EQ_U64(rd32(t, 8), p->mods[nmod].start);
            CHECK_EQ_U64(rd32(t, 12), p->mods[nmod].end);
            CHECK_EQ_STR((const char *)t + 16, p->mods[nmod].string ? p->mods[nmod].string : "");
            nmod++;
            break;
        case MB2_TAG_TYPE_BASIC_MEMINFO:
            CHECK_EQ_U64(size, 16);
            CHECK_EQ_U64(rd32(t, 8), 640);
            CHECK_EQ_U64(rd32(t, 12), (p->ram - MiB) / 1024);
            break;
        case MB2_TAG_TYPE_MMAP: {
            CHECK_EQ_U64(rd32(t, 8), 24);
            CHECK_EQ_U64(rd32(t, 12), 0);
            unsigned n = (size - 16) / 24;
            uint64_t base[3], len[3];
            uint32_t ty[3];
            for (unsigned i = 0; i < n && i < 3; i++) {
                base[i] = rd64(t, 16 + i * 24);
                len[i] = rd64(t, 24 + i * 24);
                ty[i] = rd32(t, 32 + i * 24);
            }
            check_map(base, len, ty, n, p->ram);
            break;
        }
        case MB2_TAG_TYPE_END:
            CHECK_EQ_U64(size, 8);
            CHECK_EQ_U64(off + 8, total);
            end = true;
            break;
        default:
            CHECK(!"unexpected tag");
        }
        off += (size + 7) & ~7u;
    }
    CHECK(end);
    CHECK_EQ_U64(nmod, p->nmods);
    CHECK(seen[1] == 1 && seen[2] == 1 && seen[4] == 1 && seen[6] == 1);
}

static void build_and_check(int version, uint64_t gpa)
{
    static uint8_t buf[4096];
    struct mbinfo_params p = sample(version);
    uint64_t info = 0;

    memset(buf, 0xEE, sizeof buf);
    long used = mbinfo_build(buf, sizeof buf, gpa, &p, &info);
    if (!CHECK(used > 0 && used < (long)sizeof buf))
        return;
    CHECK(info >= gpa && info < gpa + 8);
    CHECK_EQ_U64(buf[used], 0xEE);   /* nothing written past the reported size */
    if (version == 1)
        check_mb1(buf, gpa, used, info, &p);
    else
        check_mb2(buf, gpa, used, info, &p);
}

static void test_mb1(void)
{
    build_and_check(1, 0x9000);
    build_and_check(1, 0x9003);   /* unaligned buffer address */
    build_and_check(1, 0xFFFFF000);
}

static void test_mb2(void)
{
    build_and_check(2, 0x9000);
    build_and_check(2, 0x9005);
    build_and_check(2, 0x1000);
}

static void test_small_ram_and_options(void)
{
    uint8_t buf[1024];
    uint64_t info;
    struct mbinfo_params p = { .version = 1, .ram = 0x50000,
                                 .cmdline = NULL, .loader_name = NULL, .nmods = 0 };

    long used = mbinfo_build(buf, sizeof buf, 0x8000, &p, &info);
    CHECK(used > 0);
    CHECK_EQ_U64(rd32(buf, 0), MB1_INFO_MEMORY | MB1_INFO_CMDLINE | MB1_INFO_MODS | MB1_INFO_MEM_MAP);
    CHECK_EQ_U64(rd32(buf, 4), 0x50000 / 1024);
    CHECK_EQ_U64(rd32(buf, 8), 0);
    CHECK_EQ_U64(rd32(buf, 44), 24);    /* a single mmap entry */
    CHECK_EQ_U64(rd32(buf, 20), 0);
    CHECK_EQ_STR(str_at(buf, 0x8000, used, rd32(buf, 16)), "");
    p.ram = 0xC0000;
    mbinfo_build(buf, sizeof buf, 0x8000, &p, &info);
    CHECK_EQ_U64(rd32(buf, 44), 48);
    p.ram = 5ull << 32;                 /* mem_upper saturates, mmap is 64-bit */
    mbinfo_build(buf, sizeof buf, 0x8000, &p, &info);
    CHECK_EQ_U64(rd32(buf, 8), (uint32_t)(((5ull << 32) - MiB) / 1024));
    const uint8_t *mm = buf + (rd32(buf, 48) - 0x8000);
    CHECK_EQ_U64(rd64(mm, 48 + 12), (5ull << 32) - MiB);
    p.version = 2;
    used = mbinfo_build(buf, sizeof buf, 0x8000, &p, &info);
    CHECK(used > 0);
}

static void test_rejects(void)
{
    uint8_t buf[2048];
    uint64_t info;
    struct mbinfo_params p = sample(1);

    p.version = 3;
    CHECK_EQ_U64(mbinfo_build(buf, sizeof buf, 0x8000, &p, &info), -1);
    p = sample(2);
    p.nmods = MBINFO_MAX_MODS + 1;
    CHECK_EQ_U64(mbinfo_build(buf, sizeof buf, 0x8000, &p, &info), -1);
    p = sample(1);
    p.mods[0].end = 1ull << 32;
    CHECK_EQ_U64(mbinfo_build(buf, sizeof buf, 0x8000, &p, &info), -1);
    p = sample(1);
    p.mods[0].end = p.mods[0].start - 1;
    CHECK_EQ_U64(mbinfo_build(buf, sizeof buf, 0x8000, &p, &info), -1);
    p = sample(1);
    CHECK_EQ_U64(mbinfo_build(buf, sizeof buf, 0xFFFFFFC0, &p, &info), -1);   /* crosses 4 GiB */
    CHECK_EQ_U64(mbinfo_build(buf, sizeof buf, 1ull << 32, &p, &info), -1);
    p = sample(2);
    CHECK_EQ_U64(mbinfo_build(buf, sizeof buf, 0xFFFFFFC0, &p, &info), -1);
    CHECK_EQ_U64(mbinfo_build(buf, 0, 0x8000, &p, &info), -1);
}

/* Every buffer size below the needed one fails without writing past it. */
static void test_exact_sizes(void)
{
    for (int v = 1; v <= 2; v++) {
        struct mbinfo_params p = sample(v);
        p.nmods = MBINFO_MAX_MODS;
        for (unsigned i = 0; i < MBINFO_MAX_MODS; i++)
            p.mods[i] = (struct mbinfo_mod){ 0x400000 + i * 0x1000, 0x400800 + i * 0x1000,
                                             i % 2 ? "module args here" : "" };
        uint8_t big[4096];
        uint64_t info;
        for (uint64_t gpa = 0x7000; gpa < 0x7008; gpa++) {
            long need = mbinfo_build(big, sizeof big, gpa, &p, &info);
            if (!CHECK(need > 0))
                continue;
            for (long sz = 0; sz <= need; sz++) {
                uint8_t *b = malloc(sz ? (size_t)sz : 1);   /* exact size: ASan catches overruns */
                long r = mbinfo_build(b, (size_t)sz, gpa, &p, &info);
                CHECK(sz == need ? r == need : r == -1);
                if (sz == need && v == 2)
                    check_mb2(b, gpa, r, info, &p);
                free(b);
            }
        }
    }
}

/* Random parameters: either -1 or a well-formed structure. */
static void test_random(void)
{
    static char strs[4][300];
    int built = 0;

    rng_seed(17);
    for (int i = 0; i < 4; i++) {
        size_t n = rng_below(sizeof strs[i]);
        for (size_t k = 0; k < n; k++)
            strs[i][k] = (char)(1 + rng_below(255));
        strs[i][n] = 0;
    }
    for (int it = 0; it < 3000; it++) {
        struct mbinfo_params p = sample(1 + (int)rng_below(2));
        p.ram = (2 + rng_below(4000)) * MiB;
        p.cmdline = strs[rng_below(4)];
        p.nmods = (unsigned)rng_below(MBINFO_MAX_MODS + 1);
        for (unsigned i = 0; i < p.nmods; i++) {
            uint64_t s = rng_below(1ull << 32);
            p.mods[i] = (struct mbinfo_mod){ s, s + rng_below((1ull << 32) - s), strs[rng_below(4)] };
        }
        size_t sz = rng_below(3000);
        uint8_t *b = malloc(sz ? sz : 1);
        uint64_t gpa = rng_below(2) ? rng_below(0xA0000) : rng_below(1ull << 33), info;
        long r = mbinfo_build(b, sz, gpa, &p, &info);
        built += r >= 0;
        if (r >= 0) {
            CHECK((size_t)r <= sz && gpa + (uint64_t)r <= (1ull << 32));
            if (p.version == 1)
                check_mb1(b, gpa, r, info, &p);
            else
                check_mb2(b, gpa, r, info, &p);
        }
        free(b);
    }
    CHECK(built > 300);
}

/* ---- PC layout: RAM above 4 GiB, the ACPI-reclaim range, the mb2 ACPI tags ---- */

struct ent { uint64_t base, len; uint32_t type; };

/* Reads the map back from an mb1 or mb2 info; returns the entry count (at most max). For mb2
 * also copies the ACPI tags' payloads (lengths in len[0] (old) and len[1] (new), 0 if absent). */
static unsigned read_map(const uint8_t *buf, uint64_t gpa, long used, uint64_t info, int version,
                         struct ent *e, unsigned max, uint8_t rsdp[2][36], size_t len[2])
{
    unsigned n = 0;
    len[0] = len[1] = 0;
    if (version == 1) {
        const uint8_t *mi = at(buf, gpa, used, info, 116);
        const uint8_t *mm = mi ? at(buf, gpa, used, rd32(mi, 48), rd32(mi, 44)) : NULL;
        for (uint32_t off = 0; mm && off < rd32(mi, 44) && n < max; off += 24, n++)
            e[n] = (struct ent){ rd64(mm, off + 4), rd64(mm, off + 12), rd32(mm, off + 20) };
        return n;
    }
    const uint8_t *mi = at(buf, gpa, used, info, 8);
    uint32_t total = mi ? rd32(mi, 0) : 0;
    for (uint32_t off = 8; off + 8 <= total;) {
        uint32_t type = rd32(mi, off), size = rd32(mi, off + 4);
        if (!CHECK(size >= 8 && off + size <= total) || type == MB2_TAG_TYPE_END)
            break;
        if (type == MB2_TAG_TYPE_MMAP)
            for (uint32_t k = 16; k + 24 <= size && n < max; k += 24, n++)
                e[n] = (struct ent){ rd64(mi, off + k), rd64(mi, off + k + 8),
                                     rd32(mi, off + k + 16) };
        if ((type == MB2_TAG_TYPE_ACPI_OLD || type == MB2_TAG_TYPE_ACPI_NEW) &&
            CHECK(size - 8 <= 36)) {
            unsigned i = type == MB2_TAG_TYPE_ACPI_NEW;
            CHECK_EQ_U64(len[i], 0);
            len[i] = size - 8;
            memcpy(rsdp[i], mi + off + 8, size - 8);
        }
        off += (size + 7) & ~7u;
    }
    return n;
}

static void expect_map(const struct mbinfo_params *p, const struct ent *want, unsigned nwant)
{
    static uint8_t buf[4096];
    for (int v = 1; v <= 2; v++) {
        struct mbinfo_params q = *p;
        q.version = v;
        uint64_t info;
        long used = mbinfo_build(buf, sizeof buf, 0x10000, &q, &info);
        if (!CHECK(used > 0))
            continue;
        struct ent got[12];
        uint8_t rsdp[2][36];
        size_t rl[2];
        unsigned n = read_map(buf, 0x10000, used, info, v, got, 12, rsdp, rl);
        CHECK_EQ_U64(n, nwant);
        for (unsigned i = 0; i < n && i < nwant; i++) {
            CHECK_EQ_U64(got[i].base, want[i].base);
            CHECK_EQ_U64(got[i].len, want[i].len);
            CHECK_EQ_U64(got[i].type, want[i].type);
        }
        /* mem_upper: the contiguous KiB above 1 MiB */
        uint64_t upper = v == 1 ? rd32(buf + (info - 0x10000), 8) : 0;
        if (v == 1)
            CHECK_EQ_U64(upper, (p->ram - MiB) / 1024);
        if (v == 2 && p->rsdp) {
            CHECK_EQ_U64(rl[0], 20);
            CHECK(!memcmp(rsdp[0], p->rsdp, 20));
            CHECK_EQ_U64(rl[1], p->rsdp_len == 36 ? 36 : 0);
            if (rl[1] == 36)
                CHECK(!memcmp(rsdp[1], p->rsdp, 36));
        } else {
            CHECK(rl[0] == 0 && rl[1] == 0);
        }
    }
}

static void test_pc_layout(void)
{
    static const uint64_t G = 1ull << 30;
    uint8_t rsdp[36];
    for (int i = 0; i < 36; i++)
        rsdp[i] = (uint8_t)(0x40 + i);
    struct mbinfo_params p = { .version = 1, .ram = 3 * G,
                                 .cmdline = "x", .loader_name = "Keel", .nmods = 0 };
    p.ram_high = 5 * G;                 /* mem=8G */
    p.acpi_base = 0xE1000;              /* in the BIOS area: cut out of the reserved range */
    p.acpi_len = 0x1000;
    p.rsdp = rsdp;
    p.rsdp_len = 36;
    const struct ent pc[] = {
        { 0, 0xA0000, 1 }, { 0xA0000, 0x41000, 2 }, { 0xE1000, 0x1000, 3 },
        { 0xE2000, 0x1E000, 2 }, { MiB, 3 * G - MiB, 1 }, { 4 * G, 5 * G, 1 },
    };
    expect_map(&p, pc, 6);
    p.rsdp_len = 20;
    expect_map(&p, pc, 6);
    p.rsdp = NULL;
    expect_map(&p, pc, 6);
    /* at the start of the BIOS area */
    p.acpi_base = 0xA0000;
    const struct ent bios0[] = {
        { 0, 0xA0000, 1 }, { 0xA0000, 0x1000, 3 }, { 0xA1000, 0x5F000, 2 }, { MiB, 3 * G - MiB, 1 },
        { 4 * G, 5 * G, 1 },
    };
    expect_map(&p, bios0, 5);

    /* tables at the top of low RAM: ACPI-reclaimable, cut out of the usable range */
    p.acpi_base = 3 * G - 0x10000;
    p.acpi_len = 0x10000;
    const struct ent top[] = {
        { 0, 0xA0000, 1 }, { 0xA0000, 0x60000, 2 }, { MiB, 3 * G - MiB - 0x10000, 1 },
        { 3 * G - 0x10000, 0x10000, 3 }, { 4 * G, 5 * G, 1 },
    };
    expect_map(&p, top, 5);
    /* in the middle of high RAM and in the first 640K */
    p.acpi_base = 5 * G;
    const struct ent high[] = {
        { 0, 0xA0000, 1 }, { 0xA0000, 0x60000, 2 }, { MiB, 3 * G - MiB, 1 },
        { 4 * G, G, 1 }, { 5 * G, 0x10000, 3 }, { 5 * G + 0x10000, 4 * G - 0x10000, 1 },
    };
    expect_map(&p, high, 6);
    p.acpi_base = 0;
    const struct ent low[] = {
        { 0, 0x10000, 3 }, { 0x10000, 0x90000, 1 }, { 0xA0000, 0x60000, 2 },
        { MiB, 3 * G - MiB, 1 }, { 4 * G, 5 * G, 1 },
    };
    expect_map(&p, low, 5);

    /* a small VM: no high RAM, the usual three entries */
    struct mbinfo_params s = { .version = 1, .ram = 16 * MiB,
                                 .cmdline = "x", .loader_name = "Keel", .nmods = 0 };
    s.acpi_base = 0xE1000;
    s.acpi_len = 0x1000;
    const struct ent small[] = { { 0, 0xA0000, 1 }, { 0xA0000, 0x41000, 2 }, { 0xE1000, 0x1000, 3 },
                                 { 0xE2000, 0x1E000, 2 }, { MiB, 15 * MiB, 1 } };
    expect_map(&s, small, 5);
}

static void test_pc_rejects(void)
{
    static const uint64_t G = 1ull << 30;
    uint8_t buf[2048], rsdp[36] = { 0 };
    uint64_t info;
    struct mbinfo_params p = { .version = 2, .ram = 3 * G,
                                 .cmdline = "x", .loader_name = "Keel", .nmods = 0 };
    p.ram_high = G;
    CHECK(mbinfo_build(buf, sizeof buf, 0x8000, &p, &info) > 0);
    p.ram = 5 * G;                                  /* low RAM overlapping the high block */
    CHECK_EQ_U64(mbinfo_build(buf, sizeof buf, 0x8000, &p, &info), -1);
    p.ram = 3 * G;
    p.ram_high = UINT64_MAX - G;
    CHECK_EQ_U64(mbinfo_build(buf, sizeof buf, 0x8000, &p, &info), -1);
    p.ram_high = G;
    static const uint64_t bad[][2] = {
        { 0x9F000, 0x2000 },            /* straddles 640K */
        { 0xFF000, 0x2000 },            /* straddles 1 MiB */
        { 3 * G - 0x1000, 0x2000 },     /* runs past low RAM */
        { 3 * G, 0x1000 },              /* in the hole */
        { 5 * G - 0x1000, 0x2000 },     /* past high RAM */
        { UINT64_MAX - 0xFFF, 0x2000 }, /* wraps */
    };
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p.acpi_base = bad[i][0];
        p.acpi_len = bad[i][1];
        CHECK_EQ_U64(mbinfo_build(buf, sizeof buf, 0x8000, &p, &info), -1);
    }
    p.acpi_len = 0;
    p.rsdp = rsdp;
    p.rsdp_len = 24;
    CHECK_EQ_U64(mbinfo_build(buf, sizeof buf, 0x8000, &p, &info), -1);
    p.rsdp_len = 36;
    CHECK(mbinfo_build(buf, sizeof buf, 0x8000, &p, &info) > 0);
}

int main(void)
{
    RUN(test_mb1);
    RUN(test_mb2);
    RUN(test_small_ram_and_options);
    RUN(test_rejects);
    RUN(test_exact_sizes);
    RUN(test_random);
    RUN(test_pc_layout);
    RUN(test_pc_rejects);
    return check_summary("test_mbinfo");
}
