#include "mm/frame.h"

#include <stdbool.h>

static bool is_used(const struct frames *f, uint64_t i)
{
    return (f->bitmap[i / 64] >> (i % 64)) & 1;
}

static void set_used(struct frames *f, uint64_t i)
{
    f->bitmap[i / 64] |= 1ull << (i % 64);
}

static void set_free(struct frames *f, uint64_t i)
{
    f->bitmap[i / 64] &= ~(1ull << (i % 64));
}

size_t frames_bitmap_bytes(uint64_t nframes)
{
    return (size_t)(nframes / 64 + (nframes % 64 != 0)) * 8;
}

void frames_init(struct frames *f, uint64_t *bitmap, uint64_t nframes)
{
    uint64_t words = frames_bitmap_bytes(nframes) / 8;

    f->bitmap = bitmap;
    f->nframes = nframes;
    f->nfree = 0;
    f->hint = 1;
    for (uint64_t w = 0; w < words; w++)
        bitmap[w] = ~0ull;   /* bits past nframes stay set forever */
}

void frames_add_free(struct frames *f, uint64_t base, uint64_t len)
{
    uint64_t first, last;

    if (len > UINT64_MAX - base)
        len = UINT64_MAX - base;
    first = base / FRAME_SIZE + (base % FRAME_SIZE != 0);
    last = (base + len) / FRAME_SIZE;   /* exclusive */
    if (first == 0)
        first = 1;
    if (last > f->nframes)
        last = f->nframes;
    for (uint64_t i = first; i < last; i++) {
        if (is_used(f, i)) {
            set_free(f, i);
            f->nfree++;
        }
    }
    if (first < last && first < f->hint)
        f->hint = first;
}

/* First free frame >= i (nframes if none), skipping full words. */
static uint64_t next_free(const struct frames *f, uint64_t i)
{
    while (i < f->nframes) {
        uint64_t w = ~f->bitmap[i / 64] >> (i % 64);
        if (w)
            return i + (uint64_t)__builtin_ctzll(w);
        i = (i / 64 + 1) * 64;
    }
    return f->nframes;
}

/* First used frame in [i, end) (end if none), skipping empty words. */
static uint64_t next_used(const struct frames *f, uint64_t i, uint64_t end)
{
    while (i < end) {
        uint64_t w = f->bitmap[i / 64] >> (i % 64);
        if (w) {
            uint64_t j = i + (uint64_t)__builtin_ctzll(w);
            return j < end ? j : end;
        }
        i = (i / 64 + 1) * 64;
    }
    return end;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
    uint64_t r = v % a;

    return r ? (v > UINT64_MAX - (a - r) ? UINT64_MAX : v + (a - r)) : v;
}

/* Finds an aligned free run of n frames starting in [from, limit); nframes if none. */
static uint64_t find_run(const struct frames *f, uint64_t from, uint64_t limit,
                         uint64_t n, uint64_t align)
{
    uint64_t i = from;

    for (;;) {
        i = align_up(next_free(f, i), align);
        if (i >= limit || i >= f->nframes || n > f->nframes - i)
            return f->nframes;
        uint64_t u = next_used(f, i, i + n);
        if (u == i + n)
            return i;
        i = u + 1;
    }
}

uint64_t frames_alloc(struct frames *f, uint64_t npages, uint64_t align_pages)
{
    uint64_t align = align_pages ? align_pages : 1, i;

    if (npages == 0 || npages > f->nfree || align >= f->nframes)
        return 0;
    i = find_run(f, f->hint, f->nframes, npages, align);
    if (i >= f->nframes && f->hint > 1)
        i = find_run(f, 1, f->hint, npages, align);
    if (i >= f->nframes || i == 0)
        return 0;
    for (uint64_t k = i; k < i + npages; k++)
        set_used(f, k);
    f->nfree -= npages;
    f->hint = i + npages;
    return i * FRAME_SIZE;
}

int frames_free(struct frames *f, uint64_t phys, uint64_t npages)
{
    uint64_t first = phys / FRAME_SIZE;
    int ret = 0;

    if (phys % FRAME_SIZE || first == 0 || first >= f->nframes || npages > f->nframes - first)
        return -1;
    for (uint64_t i = first; i < first + npages; i++) {
        if (!is_used(f, i)) {
            ret = -1;
            continue;
        }
        set_free(f, i);
        f->nfree++;
    }
    if (npages && first < f->hint)
        f->hint = first;
    return ret;
}

uint64_t frames_free_count(const struct frames *f)
{
    return f->nfree;
}
