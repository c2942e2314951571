#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "mm/frame.h"

#define PG FRAME_SIZE

static uint64_t count_free_bits(const struct frames *f)
{
    uint64_t n = 0;
    for (uint64_t i = 0; i < f->nframes; i++)
        n += !((f->bitmap[i / 64] >> (i % 64)) & 1);
    return n;
}

static void test_sizes(void)
{
    CHECK_EQ_U64(frames_bitmap_bytes(0), 0);
    CHECK_EQ_U64(frames_bitmap_bytes(1), 8);
    CHECK_EQ_U64(frames_bitmap_bytes(64), 8);
    CHECK_EQ_U64(frames_bitmap_bytes(65), 16);
    CHECK_EQ_U64(frames_bitmap_bytes(1ull << 20), 128 * 1024);
    CHECK_EQ_U64(frames_bitmap_bytes(UINT64_MAX), (UINT64_MAX / 64 + 1) * 8);
}

static void test_basic(void)
{
    uint64_t bm[4];
    struct frames f;

    frames_init(&f, bm, 200);
    CHECK_EQ_U64(frames_free_count(&f), 0);
    CHECK_EQ_U64(frames_alloc(&f, 1, 1), 0);
    frames_add_free(&f, 0, 200 * PG);
    CHECK_EQ_U64(frames_free_count(&f), 199);   /* frame 0 stays used */
    CHECK_EQ_U64(count_free_bits(&f), 199);
    frames_add_free(&f, 0, 200 * PG);            /* idempotent */
    CHECK_EQ_U64(frames_free_count(&f), 199);
    uint64_t a = frames_alloc(&f, 1, 0);
    CHECK_EQ_U64(a, PG);
    uint64_t b = frames_alloc(&f, 3, 4);
    CHECK_EQ_U64(b, 4 * PG);
    CHECK_EQ_U64(frames_free_count(&f), 195);
    CHECK_EQ_U64(frames_free(&f, b, 3), 0);
    CHECK_EQ_U64(frames_free(&f, b, 3), -1);     /* double free */
    CHECK_EQ_U64(frames_free_count(&f), 198);
    CHECK_EQ_U64(frames_free(&f, a, 1), 0);
    CHECK_EQ_U64(frames_free_count(&f), 199);
    CHECK_EQ_U64(count_free_bits(&f), 199);
    /* all of it, then nothing more */
    uint64_t all = frames_alloc(&f, 199, 1);
    CHECK_EQ_U64(all, PG);
    CHECK_EQ_U64(frames_alloc(&f, 1, 1), 0);
    CHECK_EQ_U64(frames_free(&f, all, 199), 0);
    CHECK_EQ_U64(frames_alloc(&f, 200, 1), 0);
    CHECK_EQ_U64(frames_alloc(&f, 0, 1), 0);
}

static void test_partial_ranges(void)
{
    uint64_t bm[2];
    struct frames f;

    frames_init(&f, bm, 100);
    frames_add_free(&f, 0x1800, 0x2000);         /* only frame 2 is whole */
    CHECK_EQ_U64(frames_free_count(&f), 1);
    frames_add_free(&f, 0x10000, 0xFFF);         /* no whole frame */
    CHECK_EQ_U64(frames_free_count(&f), 1);
    frames_add_free(&f, 98 * PG, 10 * PG);       /* clipped at nframes */
    CHECK_EQ_U64(frames_free_count(&f), 3);
    frames_add_free(&f, UINT64_MAX - PG, 100 * PG);   /* wraps: clipped, outside */
    CHECK_EQ_U64(frames_free_count(&f), 3);
    frames_add_free(&f, 5 * PG, 0);
    CHECK_EQ_U64(frames_free_count(&f), 3);
    CHECK_EQ_U64(frames_alloc(&f, 2, 1), 98 * PG);
    CHECK_EQ_U64(frames_alloc(&f, 1, 1), 2 * PG);
    CHECK_EQ_U64(count_free_bits(&f), 0);
}

static void test_free_errors(void)
{
    uint64_t bm[2];
    struct frames f;

    frames_init(&f, bm, 128);
    frames_add_free(&f, 0, 128 * PG);
    uint64_t a = frames_alloc(&f, 8, 8);
    CHECK_EQ_U64(a, 8 * PG);
    uint64_t before = frames_free_count(&f);
    CHECK_EQ_U64(frames_free(&f, a + 1, 1), -1);        /* unaligned */
    CHECK_EQ_U64(frames_free(&f, 0, 1), -1);            /* frame 0 */
    CHECK_EQ_U64(frames_free(&f, 128 * PG, 1), -1);     /* past the end */
    CHECK_EQ_U64(frames_free(&f, 120 * PG, 9), -1);     /* straddles the end */
    CHECK_EQ_U64(frames_free(&f, PG, UINT64_MAX), -1);  /* overflow */
    CHECK_EQ_U64(frames_free(&f, UINT64_MAX & ~(PG - 1), 1), -1);
    CHECK_EQ_U64(frames_free_count(&f), before);        /* nothing changed */
    CHECK_EQ_U64(frames_free(&f, a, 0), 0);
    /* half double-free: the used half is still freed */
    CHECK_EQ_U64(frames_free(&f, a, 4), 0);
    CHECK_EQ_U64(frames_free(&f, a, 8), -1);
    CHECK_EQ_U64(frames_free_count(&f), 127);
    CHECK_EQ_U64(count_free_bits(&f), 127);
}

static void test_alignment(void)
{
    static uint64_t bm[64];
    struct frames f;

    frames_init(&f, bm, 4096);
    frames_add_free(&f, 0, 4096 * PG);
    uint64_t a = frames_alloc(&f, 1, 512);       /* 2 MiB aligned */
    CHECK_EQ_U64(a, 512 * PG);
    uint64_t b = frames_alloc(&f, 512, 512);
    CHECK_EQ_U64(b, 1024 * PG);
    uint64_t c = frames_alloc(&f, 3, 3);         /* not a power of two */
    CHECK(c && (c / PG) % 3 == 0);
    CHECK_EQ_U64(frames_alloc(&f, 1, 4096), 0);  /* only frame 0 qualifies */
    CHECK_EQ_U64(frames_alloc(&f, 1, UINT64_MAX), 0);
    CHECK_EQ_U64(frames_alloc(&f, UINT64_MAX, 1), 0);
    /* the search resumes at the lowest freed frame, then wraps to the gaps below */
    CHECK_EQ_U64(frames_free(&f, a, 1), 0);
    CHECK_EQ_U64(frames_alloc(&f, 1, 1), a);
    uint64_t top = frames_alloc(&f, 4096 - 1536 - 8, 1);   /* everything above b, roughly */
    CHECK(top >= 1536 * PG);
    while (frames_alloc(&f, 1, 1) >= 1536 * PG)
        ;
    CHECK_EQ_U64(frames_alloc(&f, 1, 1), 2 * PG);   /* PG went to the loop's last call */
}

/* Random alloc/free against a shadow ownership array. */
static void test_random(void)
{
    enum { N = 3000, SLOTS = 200 };
    static uint64_t bm[(N + 63) / 64];
    static uint8_t owner[N];
    struct { uint64_t phys, n; } live[SLOTS];
    struct frames f;

    memset(live, 0, sizeof live);
    memset(owner, 1, sizeof owner);
    frames_init(&f, bm, N);
    rng_seed(13);
    /* free memory with holes, like a real memory map */
    for (int i = 0; i < 20; i++) {
        uint64_t b = rng_below(N * PG), l = rng_below(400 * PG);
        frames_add_free(&f, b, l);
        for (uint64_t k = (b + PG - 1) / PG; k < (b + l) / PG && k < N; k++)
            owner[k] = k == 0;
    }
    for (int it = 0; it < 30000; it++) {
        unsigned s = (unsigned)rng_below(SLOTS);
        if (live[s].phys) {
            CHECK_EQ_U64(frames_free(&f, live[s].phys, live[s].n), 0);
            for (uint64_t k = 0; k < live[s].n; k++)
                owner[live[s].phys / PG + k] = 0;
            live[s].phys = 0;
            continue;
        }
        uint64_t n = 1 + rng_below(rng_below(4) ? 4 : 64), al = 1ull << rng_below(7);
        uint64_t p = frames_alloc(&f, n, al);
        if (!p)
            continue;
        if (!CHECK(p % PG == 0 && (p / PG) % al == 0 && p / PG + n <= N))
            break;
        for (uint64_t k = 0; k < n; k++) {
            if (!CHECK(owner[p / PG + k] == 0))
                break;
            owner[p / PG + k] = 2;
        }
        live[s].phys = p;
        live[s].n = n;
    }
    uint64_t shadow_free = 0;
    for (int k = 0; k < N; k++)
        shadow_free += owner[k] == 0;
    CHECK_EQ_U64(frames_free_count(&f), shadow_free);
    CHECK_EQ_U64(count_free_bits(&f), shadow_free);
}

/* 4 GiB of frames, badly fragmented: single-frame allocation must stay fast. */
static void test_speed(void)
{
    enum { N = 1 << 20 };
    static uint64_t bm[N / 64];
    struct frames f;
    clock_t t0 = clock();

    frames_init(&f, bm, N);
    frames_add_free(&f, 0, (uint64_t)N * PG);
    CHECK_EQ_U64(frames_alloc(&f, N - 2, 1), PG);    /* leave only the last frame */
    for (int i = 0; i < 2000; i++) {
        uint64_t p = frames_alloc(&f, 1, 1);
        CHECK_EQ_U64(p, (uint64_t)(N - 1) * PG);
        CHECK_EQ_U64(frames_free(&f, p, 1), 0);
    }
    CHECK_EQ_U64(frames_alloc(&f, 2, 1), 0);          /* full scan, fails */
    CHECK_EQ_U64(frames_alloc(&f, 1, 512), 0);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    CHECK(secs < 2.0);
}

int main(void)
{
    RUN(test_sizes);
    RUN(test_basic);
    RUN(test_partial_ranges);
    RUN(test_free_errors);
    RUN(test_alignment);
    RUN(test_random);
    RUN(test_speed);
    return check_summary("test_frame");
}
