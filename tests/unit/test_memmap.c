#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mm/memmap.h"

#define KiB 1024ull
#define MiB (1024ull * KiB)
#define PAGE 4096ull

/* Structural invariants of a normalized map. */
static int is_normalized(const struct memmap *m)
{
    int ok = 1;

    for (unsigned i = 0; i < m->n; i++) {
        const struct mem_range *r = &m->r[i];
        ok &= CHECK(r->len > 0);
        ok &= CHECK(r->type >= MEM_USABLE && r->type <= MEM_BAD);
        ok &= CHECK(r->base + r->len >= r->base);
        if (r->type == MEM_USABLE)
            ok &= CHECK(r->base % PAGE == 0 && r->len % PAGE == 0);
        if (i + 1 < m->n) {
            const struct mem_range *s = &m->r[i + 1];
            ok &= CHECK(r->base + r->len <= s->base);
            ok &= CHECK(!(r->type == s->type && r->base + r->len == s->base));
        }
    }
    return ok;
}

static void test_basic(void)
{
    struct memmap m;

    memmap_init(&m);
    CHECK_EQ_U64(m.n, 0);
    CHECK_EQ_U64(memmap_add(&m, 0, 0x9FC00, MEM_USABLE), 0);
    CHECK_EQ_U64(memmap_add(&m, 0x9FC00, 0x400, MEM_RESERVED), 0);
    CHECK_EQ_U64(memmap_add(&m, 0xF0000, 0x10000, MEM_RESERVED), 0);
    CHECK_EQ_U64(memmap_add(&m, 0x100000, 0x7EE0000, MEM_USABLE), 0);
    CHECK_EQ_U64(memmap_add(&m, 0x7FE0000, 0x20000, MEM_RESERVED), 0);
    CHECK_EQ_U64(memmap_add(&m, 0xFFFC0000, 0x40000, MEM_RESERVED), 0);
    CHECK_EQ_U64(memmap_add(&m, 0x5000, 0, MEM_RESERVED), 0);   /* ignored */
    CHECK_EQ_U64(m.n, 6);
    memmap_normalize(&m);
    CHECK(is_normalized(&m));
    CHECK_EQ_U64(m.n, 6);
    CHECK_EQ_U64(m.r[0].base, 0);
    CHECK_EQ_U64(m.r[0].len, 0x9F000);   /* trimmed down to a page */
    CHECK_EQ_U64(m.r[1].type, MEM_RESERVED);
    CHECK_EQ_U64(memmap_usable_bytes(&m), 0x9F000 + 0x7EE0000);
    CHECK_EQ_U64(memmap_top(&m, MEM_USABLE), 0x7FE0000);
    CHECK_EQ_U64(memmap_top(&m, MEM_RESERVED), 0x100000000ull);
    CHECK_EQ_U64(memmap_top(&m, MEM_ACPI), 0);
}

static void test_overlaps(void)
{
    struct memmap m;

    /* reserved punched into the middle of usable, unsorted input */
    memmap_init(&m);
    memmap_add(&m, 0x200000, 0x1000, MEM_ACPI);
    memmap_add(&m, 0x100000, 0x300000, MEM_USABLE);
    memmap_add(&m, 0x180000, 0x10000, MEM_NVS);
    memmap_normalize(&m);
    CHECK(is_normalized(&m));
    CHECK_EQ_U64(m.n, 5);
    CHECK_EQ_U64(m.r[0].base, 0x100000);
    CHECK_EQ_U64(m.r[0].len, 0x80000);
    CHECK_EQ_U64(m.r[1].type, MEM_NVS);
    CHECK_EQ_U64(m.r[2].base, 0x190000);
    CHECK_EQ_U64(m.r[2].len, 0x70000);
    CHECK_EQ_U64(m.r[3].type, MEM_ACPI);
    CHECK_EQ_U64(m.r[4].base, 0x201000);
    CHECK_EQ_U64(m.r[4].len, 0x1FF000);

    /* identical duplicates and adjacency merge */
    memmap_init(&m);
    memmap_add(&m, 0x1000, 0x1000, MEM_USABLE);
    memmap_add(&m, 0x1000, 0x1000, MEM_USABLE);
    memmap_add(&m, 0x2000, 0x3000, MEM_USABLE);
    memmap_add(&m, 0x1800, 0x100, MEM_USABLE);
    memmap_normalize(&m);
    CHECK_EQ_U64(m.n, 1);
    CHECK_EQ_U64(m.r[0].base, 0x1000);
    CHECK_EQ_U64(m.r[0].len, 0x4000);

    /* bad beats reserved beats nvs beats acpi beats usable, same extent */
    memmap_init(&m);
    memmap_add(&m, 0x10000, 0x1000, MEM_USABLE);
    memmap_add(&m, 0x10000, 0x1000, MEM_ACPI);
    memmap_add(&m, 0x10000, 0x1000, MEM_BAD);
    memmap_add(&m, 0x10000, 0x1000, MEM_NVS);
    memmap_add(&m, 0x10000, 0x1000, MEM_RESERVED);
    memmap_normalize(&m);
    CHECK_EQ_U64(m.n, 1);
    CHECK_EQ_U64(m.r[0].type, MEM_BAD);

    /* unaligned usable pieces merge first, then trim; less than a page vanishes */
    memmap_init(&m);
    memmap_add(&m, 0x1001, 0xFFE, MEM_USABLE);
    memmap_add(&m, 0x1800, 0x1000, MEM_USABLE);
    memmap_normalize(&m);
    CHECK_EQ_U64(m.n, 0);
    memmap_add(&m, 0x1001, 0xFFF, MEM_USABLE);
    memmap_add(&m, 0x2000, 0x1800, MEM_USABLE);
    memmap_add(&m, 0x3800, 0x7FF, MEM_USABLE);
    memmap_normalize(&m);
    CHECK_EQ_U64(m.n, 1);
    CHECK_EQ_U64(m.r[0].base, 0x2000);
    CHECK_EQ_U64(m.r[0].len, 0x1000);
}

static void test_edges(void)
{
    struct memmap m;

    memmap_init(&m);
    /* wrap-around is clipped at the top of the address space */
    CHECK_EQ_U64(memmap_add(&m, UINT64_MAX - 0x1FFF, 0x10000, MEM_USABLE), 0);
    CHECK_EQ_U64(m.r[0].len, 0x1FFF);
    CHECK_EQ_U64(memmap_add(&m, UINT64_MAX, 5, MEM_USABLE), 0);   /* nothing left: ignored */
    CHECK_EQ_U64(m.n, 1);
    CHECK_EQ_U64(memmap_add(&m, 0, UINT64_MAX, MEM_RESERVED), 0);
    CHECK_EQ_U64(memmap_add(&m, 0x1000, 0x1000, 17), 0);   /* unknown type */
    CHECK_EQ_U64(m.r[2].type, MEM_RESERVED);
    CHECK_EQ_U64(memmap_add(&m, 0x1000, 0x1000, 0), 0);
    CHECK_EQ_U64(m.r[3].type, MEM_RESERVED);
    memmap_normalize(&m);
    CHECK(is_normalized(&m));
    CHECK_EQ_U64(m.n, 1);
    CHECK_EQ_U64(m.r[0].len, UINT64_MAX);
    CHECK_EQ_U64(memmap_top(&m, MEM_RESERVED), UINT64_MAX);

    /* usable at the very top trims sanely */
    memmap_init(&m);
    memmap_add(&m, UINT64_MAX - 0x2FFF, 0x3000, MEM_USABLE);
    memmap_normalize(&m);
    CHECK(is_normalized(&m));
    CHECK_EQ_U64(m.n, 1);
    CHECK_EQ_U64(m.r[0].base, UINT64_MAX - 0x2FFF);
    CHECK_EQ_U64(m.r[0].len, 0x2000);

    /* full map */
    memmap_init(&m);
    for (unsigned i = 0; i < MEMMAP_MAX; i++)
        CHECK_EQ_U64(memmap_add(&m, i * 0x2000ull, 0x1000, MEM_USABLE), 0);
    CHECK_EQ_U64(memmap_add(&m, 0x1000000, 0x1000, MEM_USABLE), -1);
    memmap_normalize(&m);
    CHECK_EQ_U64(m.n, MEMMAP_MAX);
    CHECK_EQ_U64(memmap_usable_bytes(&m), MEMMAP_MAX * 0x1000ull);

    /* empty map */
    memmap_init(&m);
    memmap_normalize(&m);
    CHECK_EQ_U64(m.n, 0);
    CHECK_EQ_U64(memmap_usable_bytes(&m), 0);
    CHECK(!memmap_reserve(&m, 0, UINT64_MAX));
}

static void test_reserve(void)
{
    struct memmap m;

    memmap_init(&m);
    memmap_add(&m, 0x100000, 0x1000000, MEM_USABLE);
    memmap_add(&m, 0x2000000, 0x100000, MEM_RESERVED);
    memmap_normalize(&m);
    /* middle, unaligned: widened to pages */
    CHECK(memmap_reserve(&m, 0x200010, 0x1000));
    CHECK(is_normalized(&m));
    CHECK_EQ_U64(m.n, 3);
    CHECK_EQ_U64(m.r[0].len, 0x100000);
    CHECK_EQ_U64(m.r[1].base, 0x202000);
    CHECK_EQ_U64(memmap_usable_bytes(&m), 0x1000000 - 0x2000);
    /* already removed / outside usable */
    CHECK(!memmap_reserve(&m, 0x200000, 0x2000));
    CHECK(!memmap_reserve(&m, 0x2000000, 0x1000));
    CHECK(!memmap_reserve(&m, 0, 0x100000));
    CHECK(!memmap_reserve(&m, 0x100000, 0));
    /* head and tail */
    CHECK(memmap_reserve(&m, 0, 0x101000));
    CHECK_EQ_U64(m.r[0].base, 0x101000);
    CHECK(memmap_reserve(&m, 0x10FF000, UINT64_MAX));   /* runs to the top */
    CHECK_EQ_U64(memmap_top(&m, MEM_USABLE), 0x10FF000);
    CHECK_EQ_U64(memmap_top(&m, MEM_RESERVED), 0x2100000);
    /* everything */
    CHECK(memmap_reserve(&m, 0, UINT64_MAX));
    CHECK_EQ_U64(memmap_usable_bytes(&m), 0);
    CHECK_EQ_U64(m.n, 1);

    /* split with a full map keeps the larger piece */
    memmap_init(&m);
    for (unsigned i = 0; i < MEMMAP_MAX; i++)
        memmap_add(&m, i * 0x100000ull, 0x10000, MEM_USABLE);
    CHECK(memmap_reserve(&m, 0x1000, 0x1000));
    CHECK_EQ_U64(m.n, MEMMAP_MAX);
    CHECK_EQ_U64(m.r[0].base, 0x2000);
    CHECK_EQ_U64(m.r[0].len, 0xE000);
}

/* ---- randomized comparison against a per-KiB reference model ---- */

#define UNITS 512
#define UNIT KiB

static unsigned rank_of(uint32_t t)
{
    static const unsigned r[] = { 0, 1, 4, 2, 3, 5 };   /* index = type, 0 = uncovered */
    return r[t];
}

/* Reference type per unit (0 = not in the map) and per page usability. */
static void reference(const struct mem_range *in, unsigned n, uint64_t base, uint8_t ref[UNITS])
{
    memset(ref, 0, UNITS);
    for (unsigned i = 0; i < n; i++)
        for (uint64_t u = (in[i].base - base) / UNIT; u < (in[i].base - base + in[i].len) / UNIT; u++)
            if (rank_of(in[i].type) > rank_of(ref[u]))
                ref[u] = (uint8_t)in[i].type;
    /* usable survives only in pages that are usable throughout */
    for (unsigned p = 0; p < UNITS; p += PAGE / UNIT) {
        int all = 1;
        for (unsigned u = p; u < p + PAGE / UNIT; u++)
            all &= ref[u] == MEM_USABLE;
        for (unsigned u = p; u < p + PAGE / UNIT && !all; u++)
            if (ref[u] == MEM_USABLE)
                ref[u] = 0;
    }
}

static void rendered(const struct memmap *m, uint64_t base, uint8_t got[UNITS])
{
    memset(got, 0, UNITS);
    for (unsigned i = 0; i < m->n; i++) {
        const struct mem_range *r = &m->r[i];
        if (!CHECK(r->base >= base && r->base + r->len <= base + UNITS * UNIT &&
                   r->base % UNIT == 0 && r->len % UNIT == 0))
            return;
        for (uint64_t u = (r->base - base) / UNIT; u < (r->base - base + r->len) / UNIT; u++)
            got[u] = (uint8_t)r->type;
    }
}

static void random_map(uint64_t base, unsigned n, struct mem_range *in, struct memmap *m)
{
    memmap_init(m);
    for (unsigned i = 0; i < n; i++) {
        uint64_t a = rng_below(UNITS), b = rng_below(UNITS + 1);
        if (rng_below(3) == 0) {
            uint64_t k = a + 1 + rng_below(8);
            b = k < UNITS ? k : UNITS;
        }
        if (b < a) {
            uint64_t t = a;
            a = b;
            b = t;
        }
        uint32_t type = rng_below(2) ? MEM_USABLE : 1 + (uint32_t)rng_below(5);
        in[i] = (struct mem_range){ base + a * UNIT, (b - a) * UNIT, type };
        memmap_add(m, in[i].base, in[i].len, in[i].type);
    }
}

static void test_random_vs_reference(void)
{
    struct mem_range in[64];
    struct memmap m;
    uint8_t ref[UNITS], got[UNITS];

    rng_seed(3);
    for (int it = 0; it < 3000; it++) {
        uint64_t base = it % 3 == 0 ? UINT64_MAX - 2 * UNITS * UNIT + 1 - 0xFFF : 0x100000 * (uint64_t)it;
        base &= ~(PAGE - 1);
        unsigned n = (unsigned)rng_below(40);
        random_map(base, n, in, &m);
        memmap_normalize(&m);
        if (!is_normalized(&m))
            break;
        reference(in, n, base, ref);
        rendered(&m, base, got);
        if (!CHECK(memcmp(ref, got, UNITS) == 0))
            break;
        /* reserve a random piece: compare with the reference as well */
        uint64_t a = rng_below(UNITS), l = rng_below(UNITS / 4);
        bool hit = memmap_reserve(&m, base + a * UNIT, l * UNIT);
        bool want = false;
        if (l) {
            uint64_t lo = a * UNIT / PAGE * PAGE / UNIT;
            uint64_t hi = ((a + l) * UNIT + PAGE - 1) / PAGE * PAGE / UNIT;
            for (uint64_t u = lo; u < hi && u < UNITS; u++)
                if (ref[u] == MEM_USABLE) {
                    ref[u] = 0;
                    want = true;
                }
        }
        CHECK(hit == want);
        CHECK(is_normalized(&m));
        rendered(&m, base, got);
        if (!CHECK(memcmp(ref, got, UNITS) == 0))
            break;
    }
}

/* More pieces than MEMMAP_MAX: memory may be lost, never gained. */
static void test_overflow_is_safe(void)
{
    struct mem_range in[MEMMAP_MAX];
    struct memmap m;
    uint8_t ref[UNITS], got[UNITS];
    int lossy = 0;

    rng_seed(5);
    for (int it = 0; it < 300; it++) {
        bool usable_base = it % 2;   /* else ACPI split by stronger types */
        memmap_init(&m);
        unsigned n = 0;
        in[n++] = (struct mem_range){ 0, UNITS * UNIT, usable_base ? MEM_USABLE : MEM_ACPI };
        memmap_add(&m, in[0].base, in[0].len, in[0].type);
        while (n < MEMMAP_MAX) {
            uint64_t u = 1 + rng_below(UNITS - 2);
            uint32_t t = usable_base ? 2 + (uint32_t)rng_below(4)
                                     : (rng_below(2) ? MEM_RESERVED : MEM_NVS);
            in[n] = (struct mem_range){ u * UNIT, UNIT, t };
            memmap_add(&m, in[n].base, in[n].len, in[n].type);
            n++;
        }
        memmap_normalize(&m);
        if (!is_normalized(&m))
            break;
        reference(in, n, 0, ref);
        rendered(&m, 0, got);
        lossy += memcmp(ref, got, UNITS) != 0;
        for (unsigned u = 0; u < UNITS; u++) {
            if (got[u] == MEM_USABLE && !CHECK(ref[u] == MEM_USABLE))
                break;
            if (ref[u] && ref[u] != MEM_USABLE && !CHECK(got[u] != MEM_USABLE))
                break;
        }
    }
    CHECK(lossy > 100);   /* the fallback paths really ran */
}

/* Arbitrary 64-bit garbage: invariants only. */
static void test_random_garbage(void)
{
    struct memmap m;

    rng_seed(9);
    for (int it = 0; it < 3000; it++) {
        memmap_init(&m);
        unsigned n = (unsigned)rng_below(MEMMAP_MAX + 10);
        for (unsigned i = 0; i < n; i++) {
            uint64_t b = rng_next() >> rng_below(64), l = rng_next() >> rng_below(64);
            memmap_add(&m, b, l, (uint32_t)rng_below(8));
        }
        memmap_normalize(&m);
        if (!is_normalized(&m))
            break;
        uint64_t before = memmap_usable_bytes(&m);
        memmap_reserve(&m, rng_next() >> rng_below(64), rng_next() >> rng_below(64));
        CHECK(memmap_usable_bytes(&m) <= before);
        if (!is_normalized(&m))
            break;
    }
}

static void test_efi_types(void)
{
    /* EfiLoaderCode..EfiBootServicesData and EfiConventionalMemory are free after ExitBootServices */
    const uint32_t usable[] = { 1, 2, 3, 4, 7 };
    for (int i = 0; i < 5; i++)
        CHECK_EQ_U64(memmap_efi_type(usable[i]), MEM_USABLE);
    CHECK_EQ_U64(memmap_efi_type(0), MEM_RESERVED);     /* EfiReservedMemoryType */
    CHECK_EQ_U64(memmap_efi_type(5), MEM_RESERVED);     /* runtime services code */
    CHECK_EQ_U64(memmap_efi_type(6), MEM_RESERVED);     /* runtime services data */
    CHECK_EQ_U64(memmap_efi_type(8), MEM_BAD);          /* EfiUnusableMemory */
    CHECK_EQ_U64(memmap_efi_type(9), MEM_ACPI);
    CHECK_EQ_U64(memmap_efi_type(10), MEM_NVS);
    for (uint32_t t = 11; t < 20; t++)                  /* MMIO, port space, PAL, persistent */
        CHECK_EQ_U64(memmap_efi_type(t), MEM_RESERVED);
    CHECK_EQ_U64(memmap_efi_type(0x80000000u), MEM_RESERVED);   /* OEM range */
}

int main(void)
{
    RUN(test_efi_types);
    RUN(test_basic);
    RUN(test_overlaps);
    RUN(test_edges);
    RUN(test_reserve);
    RUN(test_random_vs_reference);
    RUN(test_overflow_is_safe);
    RUN(test_random_garbage);
    return check_summary("test_memmap");
}
