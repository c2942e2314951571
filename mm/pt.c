#include "mm/pt.h"

static inline unsigned idx(uint64_t va, int level) { return (va >> (12 + 9 * (level - 1))) & 511; }
static inline uint64_t level_size(int level) { return 1ull << (12 + 9 * (level - 1)); }

static uint64_t *table(const struct pt_ctx *c, uint64_t phys)
{
    return c->to_virt(phys & PT_ADDR_MASK, c->arg);
}

static bool present(const struct pt_ctx *c, uint64_t e) { return e & c->fmt->present; }
static bool is_leaf(int level, uint64_t e) { return level == 1 || (e & PT_LARGE); }

/* Replaces a large leaf by a table of 512 smaller leaves with the same rights. */
static int split(struct pt_ctx *c, uint64_t *slot, int level)
{
    uint64_t t = c->alloc(c->arg);
    if (!t)
        return -1;
    uint64_t *lower = table(c, t);
    uint64_t e = *slot, base = e & PT_ADDR_MASK & ~(level_size(level) - 1);
    uint64_t flags = e & ~PT_ADDR_MASK & ~PT_LARGE;
    for (unsigned i = 0; i < PT_ENTRIES; i++)
        lower[i] = (base + i * level_size(level - 1)) | flags | (level - 1 > 1 ? PT_LARGE : 0);
    *slot = t | c->fmt->table_flags;
    return 0;
}

/* Returns the slot at `target` level for va, creating or splitting tables on the way. */
static uint64_t *slot_for(struct pt_ctx *c, uint64_t va, int target)
{
    uint64_t *t = table(c, c->root);
    for (int level = PT_LEVELS; level > target; level--) {
        uint64_t *s = &t[idx(va, level)];
        if (!present(c, *s)) {
            uint64_t n = c->alloc(c->arg);
            if (!n)
                return 0;
            *s = n | c->fmt->table_flags;
        } else if (is_leaf(level, *s) && split(c, s, level) != 0) {
            return 0;
        }
        t = table(c, *s);
    }
    return &t[idx(va, target)];
}

static int best_level(const struct pt_ctx *c, uint64_t va, uint64_t pa, uint64_t left)
{
    if (c->fmt->leaf_1g_ok && !((va | pa) & (PT_1G - 1)) && left >= PT_1G)
        return 3;
    if (!((va | pa) & (PT_2M - 1)) && left >= PT_2M)
        return 2;
    return 1;
}

static void free_level(struct pt_ctx *c, uint64_t phys, int level)
{
    uint64_t *t = table(c, phys);
    for (unsigned i = 0; i < PT_ENTRIES && level > 1; i++)
        if (present(c, t[i]) && !is_leaf(level, t[i]))
            free_level(c, t[i] & PT_ADDR_MASK, level - 1);
    c->free(phys, c->arg);
}

/* Empties a slot; a lower table it pointed to (and everything below) goes back. */
static void clear_slot(struct pt_ctx *c, uint64_t *s, int level)
{
    uint64_t e = *s;
    *s = 0;
    if (present(c, e) && !is_leaf(level, e) && c->free)
        free_level(c, e & PT_ADDR_MASK, level - 1);
}

int pt_map(struct pt_ctx *c, uint64_t va, uint64_t pa, uint64_t size, uint64_t flags)
{
    while (size) {
        int level = best_level(c, va, pa, size);
        uint64_t *s = slot_for(c, va, level);
        if (!s)
            return -1;
        clear_slot(c, s, level);
        *s = pa | flags | (level > 1 ? PT_LARGE : 0);
        uint64_t step = level_size(level);
        va += step;
        pa += step;
        size -= step;
    }
    return 0;
}

int pt_unmap(struct pt_ctx *c, uint64_t va, uint64_t size)
{
    while (size) {
        int level = best_level(c, va, va, size);
        /* Walk without creating: absent ranges need no work. */
        uint64_t *t = table(c, c->root);
        int l = PT_LEVELS;
        for (; l > level; l--) {
            uint64_t *s = &t[idx(va, l)];
            if (!present(c, *s))
                break;
            if (is_leaf(l, *s) && split(c, s, l) != 0)
                return -1;
            t = table(c, *s);
        }
        if (l == level)
            clear_slot(c, &t[idx(va, level)], level);
        uint64_t step = level_size(l);
        uint64_t skip = step - (va & (step - 1));
        if (skip > size)
            skip = size;
        va += skip;
        size -= skip;
    }
    return 0;
}

bool pt_walk(const struct pt_ctx *c, uint64_t va, uint64_t *pa, uint64_t *entry, int *level)
{
    uint64_t *t = table(c, c->root);
    for (int l = PT_LEVELS; l >= 1; l--) {
        uint64_t e = t[idx(va, l)];
        if (!present(c, e))
            return false;
        if (is_leaf(l, e)) {
            uint64_t mask = level_size(l) - 1;
            if (pa)
                *pa = (e & PT_ADDR_MASK & ~mask) | (va & mask);
            if (entry)
                *entry = e;
            if (level)
                *level = l;
            return true;
        }
        t = table(c, e);
    }
    return false;
}

void pt_free_tables(struct pt_ctx *c)
{
    uint64_t *t = table(c, c->root);
    for (unsigned i = 0; i < PT_ENTRIES; i++)
        clear_slot(c, &t[i], PT_LEVELS);
}
