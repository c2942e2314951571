/* mm/pt.c: the page-table builder shared by the host tables, EPT and NPT. Host pointers stand in
 * for physical addresses; a reference model checks random map/unmap sequences page by page. */
#include <stdlib.h>
#include "check.h"
#include "mm/pt.h"

#define P 0x1ul     /* present bit of the test format */
#define W 0x2ul

static const struct pt_format fmt = { .present = P, .table_flags = P | W, .leaf_1g_ok = 1 };
static const struct pt_format fmt_no1g = { .present = P, .table_flags = P | W };

static long live_tables;
static long fail_after = -1;

static uint64_t alloc_table(void *arg)
{
    (void)arg;
    if (fail_after == 0)
        return 0;
    if (fail_after > 0)
        fail_after--;
    void *p = aligned_alloc(4096, 4096);
    memset(p, 0, 4096);
    live_tables++;
    return (uint64_t)p;
}

static void *to_virt(uint64_t p, void *arg) { (void)arg; return (void *)p; }
static void free_table(uint64_t p, void *arg) { (void)arg; free((void *)p); live_tables--; }

static struct pt_ctx new_ctx(const struct pt_format *f)
{
    struct pt_ctx c = { .fmt = f, .alloc = alloc_table, .to_virt = to_virt, .free = free_table };
    c.root = alloc_table(0);
    return c;
}

static void destroy(struct pt_ctx *c)
{
    pt_free_tables(c);
    free_table(c->root, 0);
}

static void check_map(struct pt_ctx *c, uint64_t va, uint64_t want_pa, int want_level)
{
    uint64_t pa = 0, e = 0;
    int level = 0;
    CHECK(pt_walk(c, va, &pa, &e, &level));
    CHECK_EQ_U64(pa, want_pa);
    CHECK_EQ_U64(level, want_level);
}

static void test_leaf_sizes(void)
{
    struct pt_ctx c = new_ctx(&fmt);
    CHECK_EQ_U64(pt_map(&c, 0x1000, 0x5000, 0x1000, P | W), 0);
    check_map(&c, 0x1234, 0x5234, 1);
    CHECK_EQ_U64(pt_map(&c, PT_2M * 3, PT_2M * 7, PT_2M, P), 0);
    check_map(&c, PT_2M * 3 + 0x12345, PT_2M * 7 + 0x12345, 2);
    CHECK_EQ_U64(pt_map(&c, PT_1G * 2, PT_1G * 5, PT_1G, P), 0);
    check_map(&c, PT_1G * 2 + 0x123456, PT_1G * 5 + 0x123456, 3);
    CHECK(!pt_walk(&c, 0x3000, 0, 0, 0));
    destroy(&c);

    struct pt_ctx d = new_ctx(&fmt_no1g);
    CHECK_EQ_U64(pt_map(&d, PT_1G, PT_1G, PT_1G, P), 0);
    check_map(&d, PT_1G + PT_2M * 100 + 5, PT_1G + PT_2M * 100 + 5, 2);
    destroy(&d);
    CHECK_EQ_U64(live_tables, 0);
}

/* An unaligned start uses 4 KiB leaves up to the first 2 MiB boundary, then 2 MiB leaves. */
static void test_mixed_alignment(void)
{
    struct pt_ctx c = new_ctx(&fmt);
    CHECK_EQ_U64(pt_map(&c, PT_2M - 0x2000, 0x40000000 - 0x2000, PT_2M + 0x2000, P), 0);
    check_map(&c, PT_2M - 0x2000, 0x40000000 - 0x2000, 1);
    check_map(&c, PT_2M - 0x1000, 0x40000000 - 0x1000, 1);
    check_map(&c, PT_2M, 0x40000000, 2);
    destroy(&c);
}

/* Remapping one page inside a large leaf splits it; the other pages keep address and rights. */
static void test_split_keeps_neighbours(void)
{
    struct pt_ctx c = new_ctx(&fmt);
    CHECK_EQ_U64(pt_map(&c, 0, 0, PT_1G, P | W), 0);
    CHECK_EQ_U64(pt_map(&c, PT_2M + 0x5000, 0x7777000, 0x1000, P), 0);
    check_map(&c, PT_2M + 0x5000, 0x7777000, 1);
    uint64_t pa, e;
    int level;
    CHECK(pt_walk(&c, PT_2M + 0x6000, &pa, &e, &level));
    CHECK_EQ_U64(pa, PT_2M + 0x6000);
    CHECK_EQ_U64(e & W, W);
    CHECK_EQ_U64(level, 1);
    check_map(&c, PT_2M * 2, PT_2M * 2, 2);     /* the rest of the 1 GiB leaf became 2 MiB */
    CHECK_EQ_U64(pt_unmap(&c, PT_2M + 0x5000, 0x1000), 0);
    CHECK(!pt_walk(&c, PT_2M + 0x5000, 0, 0, 0));
    check_map(&c, PT_2M + 0x4000, PT_2M + 0x4000, 1);
    destroy(&c);
}

static void test_out_of_memory(void)
{
    struct pt_ctx c = new_ctx(&fmt);
    fail_after = 1;
    CHECK_EQ_U64(pt_map(&c, 0x1000, 0x1000, 0x1000, P), (uint64_t)-1);
    fail_after = -1;
    CHECK_EQ_U64(pt_map(&c, 0x1000, 0x1000, 0x1000, P), 0);
    check_map(&c, 0x1000, 0x1000, 1);
    destroy(&c);
    CHECK_EQ_U64(live_tables, 0);
}

/* Random map/unmap in a 64 MiB window against a per-page model. */
#define WIN_PAGES 16384
static uint64_t model[WIN_PAGES];   /* 0 = unmapped, else pa | 1 */

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void random_op(struct pt_ctx *c, uint64_t *seed)
{
    uint64_t npages = rnd(seed) % 3 == 0 ? (rnd(seed) % 4 + 1) * 512 : rnd(seed) % 700 + 1;
    uint64_t first = rnd(seed) % WIN_PAGES;
    if (rnd(seed) % 2)
        first &= ~511ul;     /* often 2 MiB aligned, to get large leaves */
    if (first + npages > WIN_PAGES)
        npages = WIN_PAGES - first;
    if (rnd(seed) % 3) {
        uint64_t pa = (rnd(seed) % 64) * PT_2M + (rnd(seed) % 2 ? 0 : (first % 512) * 0x1000);
        CHECK_EQ_U64(pt_map(c, first * 0x1000, pa, npages * 0x1000, P), 0);
        for (uint64_t i = 0; i < npages; i++)
            model[first + i] = (pa + i * 0x1000) | 1;
    } else {
        CHECK_EQ_U64(pt_unmap(c, first * 0x1000, npages * 0x1000), 0);
        for (uint64_t i = 0; i < npages; i++)
            model[first + i] = 0;
    }
}

static void test_random_against_model(void)
{
    uint64_t seed = 0x9E3779B97F4A7C15ul;
    struct pt_ctx c = new_ctx(&fmt);
    memset(model, 0, sizeof model);
    for (int round = 0; round < 300; round++) {
        random_op(&c, &seed);
        if (round % 30 != 29)
            continue;
        for (uint64_t i = 0; i < WIN_PAGES; i++) {
            uint64_t pa;
            bool mapped = pt_walk(&c, i * 0x1000, &pa, 0, 0);
            CHECK_EQ_U64(mapped, model[i] != 0);
            if (mapped && model[i])
                CHECK_EQ_U64(pa, model[i] & ~1ul);
        }
    }
    destroy(&c);
    CHECK_EQ_U64(live_tables, 0);
}

int main(void)
{
    RUN(test_leaf_sizes);
    RUN(test_mixed_alignment);
    RUN(test_split_keeps_neighbours);
    RUN(test_out_of_memory);
    RUN(test_random_against_model);
    return check_summary("pt");
}
