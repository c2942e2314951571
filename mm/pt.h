/* A 4-level x86-style page-table builder shared by the host page tables, EPT and NPT. The entry
 * format is described by a few masks; memory comes from a callback, so this file has no
 * dependency on the kernel and is unit-tested on the host. */
#ifndef MM_PT_H
#define MM_PT_H

#include <stdint.h>
#include <stdbool.h>

#define PT_LEVELS       4
#define PT_ENTRIES      512
#define PT_ADDR_MASK    0x000FFFFFFFFFF000ul
#define PT_LARGE        (1ul << 7)     /* PS in host/NPT entries, "large page" in EPT entries */

#define PT_4K           0x1000ul
#define PT_2M           0x200000ul
#define PT_1G           0x40000000ul

struct pt_format {
    uint64_t present;       /* an entry with any of these bits set is present */
    uint64_t table_flags;   /* flags of an entry that points to a lower table */
    uint64_t leaf_1g_ok;    /* nonzero when 1 GiB leaves may be used */
};

struct pt_ctx {
    const struct pt_format *fmt;
    uint64_t root;                              /* physical address of the top table */
    uint64_t (*alloc)(void *arg);               /* zeroed 4 KiB table, 0 when out of memory */
    void *(*to_virt)(uint64_t phys, void *arg);
    void (*free)(uint64_t phys, void *arg);     /* gives back tables a larger leaf replaced */
    void *arg;
};

/* Maps [va, va+size) to [pa, pa+size) with leaf flags `flags` (without the large bit), using the
 * largest leaves alignment allows; existing large leaves in the way are split. All of va, pa,
 * size are 4 KiB aligned. Returns 0, or -1 when out of memory. */
int pt_map(struct pt_ctx *c, uint64_t va, uint64_t pa, uint64_t size, uint64_t flags);

/* Clears the mappings of [va, va+size) (splitting large leaves at the edges). Returns 0/-1. */
int pt_unmap(struct pt_ctx *c, uint64_t va, uint64_t size);

/* Translates va. Returns true with the physical address, the leaf entry and its level
 * (1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB) when mapped. */
bool pt_walk(const struct pt_ctx *c, uint64_t va, uint64_t *pa, uint64_t *entry, int *level);

/* Frees every table below the root (not the root) through c->free. */
void pt_free_tables(struct pt_ctx *c);

#endif
