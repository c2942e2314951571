/* libFuzzer target for the guest page-table walker (kernel/emul/gwalk.c). The input chooses
 * CR0/CR3/CR4/EFER/RFLAGS.AC, MAXPHYADDR, the linear address and the access kind, and the
 * contents of a 32 KiB fake guest memory (optionally pre-filled with random page-table entries
 * from a seed, then overwritten by records), with one page that is "not RAM".
 *
 * Layout: [0] CR0.PG|CR0.WP|CR4.PSE|CR4.PAE|CR4.SMEP|CR4.SMAP|EFER.NXE|EFER.LMA (bits 0..7)
 *         [1] bit 0 RFLAGS.AC, bit 1 random fill, bit 2 hole on, bits 4..6 hole page
 *         [2] maxphyaddr  [3] access  [4..11] CR3  [12..19] la  [20..27] fill seed
 *         [28] racing set_bits call  [29] bit its entry gets flipped by
 *         then records of 10 bytes: 2-byte offset, 8-byte value written there.
 *
 * Invariants: every read/update is an aligned entry of the mode's size; results have the shape
 * the SDM gives (OK: gpa below 2^MAXPHYADDR, same page offset; #PF: W/U/I from the access, RSVD
 * only with P, P clear exactly when the walk ended at a not-present entry); a faulting walk
 * writes nothing, a successful one only sets A/D bits; the same input gives the same result and
 * memory; a second walk over the updated memory gives the same result and writes nothing (not
 * in PAE, where A/D writes can land in a PDPTE read at use); entries that never take updates, or
 * that change under the walker, still end the walk. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/emul/gwalk.h"

#define ASSERT(c) \
    do { if (!(c)) { fprintf(stderr, "invariant failed: %s\n", #c); abort(); } } while (0)

#define MEM_SIZE    0x8000u
#define HDR         30
#define A_D         0x60ull
#define MAX_READS   (4 * 70)

static uint8_t ram[MEM_SIZE], orig[MEM_SIZE], after[MEM_SIZE];
static uint64_t hole_lo = 1, hole_hi;
static unsigned esize, reads, sets;
static bool set_failed, always_fail;
static int race_in;
static uint64_t race_xor;
/* The current attempt's reads: how many, whether the last one was RAM and what it held. */
static unsigned attempt_reads;
static bool last_ok;
static uint64_t last_val;

static bool in_ram(uint64_t gpa, unsigned size)
{
    return gpa < MEM_SIZE && MEM_SIZE - gpa >= size && !(gpa >= hole_lo && gpa < hole_hi);
}

static bool fread_ent(void *ctx, uint64_t gpa, uint64_t *val, unsigned size)
{
    (void)ctx;
    ASSERT(size == esize);
    ASSERT(gpa % size == 0);
    ASSERT(++reads <= MAX_READS);
    /* Nothing is read after a not-present entry within one attempt. */
    ASSERT(attempt_reads == 0 || (last_ok && (last_val & 1)));
    ASSERT(++attempt_reads <= 4);
    last_ok = in_ram(gpa, size);
    if (!last_ok)
        return false;
    uint64_t v = 0;
    memcpy(&v, ram + gpa, size);
    *val = last_val = v;
    return true;
}

static bool fset_bits(void *ctx, uint64_t gpa, uint64_t old, uint64_t bits, unsigned size)
{
    uint64_t cur = 0;
    (void)ctx;
    ASSERT(size == esize);
    ASSERT(gpa % size == 0);
    ASSERT(bits && !(bits & ~A_D));
    ASSERT(++sets <= MAX_READS);
    attempt_reads = 0;          /* whatever comes next is a new attempt */
    if (!in_ram(gpa, size) || always_fail) {
        set_failed = true;
        return false;
    }
    memcpy(&cur, ram + gpa, size);
    if (race_in >= 0 && race_in-- == 0) {
        cur ^= race_xor;
        memcpy(ram + gpa, &cur, size);
        set_failed = true;
        return false;
    }
    if (cur != old) {
        set_failed = true;
        return false;
    }
    cur |= bits;
    memcpy(ram + gpa, &cur, size);
    return true;
}

static const struct gwalk_mem gm = { 0, fread_ent, fset_bits };

struct outcome {
    int r;
    uint64_t gpa;
    uint32_t pf;
};

static struct outcome walk(const struct gwalk_cpu *cpu, uint64_t la, unsigned acc)
{
    struct outcome o = { -1, 0, 0 };
    reads = sets = attempt_reads = 0;
    set_failed = false;
    last_ok = true;
    last_val = 1;
    o.r = gwalk(cpu, &gm, la, acc, &o.gpa, &o.pf);
    ASSERT(o.r == GW_OK || o.r == GW_PAGE_FAULT);
    if (o.r == GW_OK)
        o.pf = 0;
    else
        o.gpa = 0;
    return o;
}

static bool same(struct outcome a, struct outcome b)
{
    return a.r == b.r && a.gpa == b.gpa && a.pf == b.pf;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Page-table-like entries pointing into (or just past) the fake memory. */
static void fill(uint64_t seed)
{
    seed |= 1;
    for (unsigned at = 0; at < MEM_SIZE; at += 8) {
        uint64_t r = rnd(&seed), e = ((r % 10) << 12) | (r >> 8 & 0x67) | (r >> 16 & 0x80);
        if ((r >> 24 & 7) == 0)
            e |= 1ull << (r >> 32 & 63);
        if (esize == 4)
            e = (e & 0xffffffff) | ((((r >> 40) % 10) << 12 | (r >> 56 & 0x67)) << 32);
        memcpy(ram + at, &e, 8);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < HDR)
        return 0;
    struct gwalk_cpu cpu = { 0 };
    uint8_t f = data[0];
    cpu.cr0 = 1 | (f & 1 ? 1ull << 31 : 0) | (f & 2 ? 1ull << 16 : 0);
    cpu.cr4 = (f & 4 ? 1ull << 4 : 0) | (f & 8 ? 1ull << 5 : 0) | (f & 16 ? 1ull << 20 : 0) |
              (f & 32 ? 1ull << 21 : 0);
    cpu.efer = (f & 64 ? 1ull << 11 : 0) | (f & 128 ? (1ull << 10) | (1ull << 8) : 0);
    cpu.rflags = 2 | (data[1] & 1 ? 1ull << 18 : 0);
    cpu.maxphyaddr = data[2];
    unsigned acc = data[3];
    cpu.cr3 = get64(data + 4);
    uint64_t la = get64(data + 12);

    bool paging = f & 1, lma = f & 128, pae = !lma && (f & 8), nxe = f & 64;
    esize = (lma || pae) ? 8 : 4;
    unsigned m = data[2] < 32 ? 32 : data[2] > 52 ? 52 : data[2];

    memset(ram, 0, sizeof(ram));
    if (data[1] & 2)
        fill(get64(data + 20));
    for (size_t i = HDR; i + 10 <= size; i += 10) {
        unsigned at = (data[i] | data[i + 1] << 8) & (MEM_SIZE - 8) & ~7u;
        memcpy(ram + at, data + i + 2, 8);
    }
    hole_lo = 1, hole_hi = 0;
    if (data[1] & 4) {
        hole_lo = (uint64_t)(data[1] >> 4 & 7) << 12;
        hole_hi = hole_lo + 0x1000;
    }
    memcpy(orig, ram, MEM_SIZE);
    race_in = -1;
    always_fail = false;

    /* 1: the walk itself, and the shape of its result. */
    struct outcome o = walk(&cpu, la, acc);
    bool restarted = set_failed;
    bool fetch = acc & GW_FETCH, write = (acc & GW_WRITE) && !fetch, user = acc & GW_USER;
    if (!paging) {
        ASSERT(o.r == GW_OK && reads == 0 && sets == 0);
        ASSERT(o.gpa == (lma ? la : (uint32_t)la));
    } else if (o.r == GW_OK) {
        ASSERT(o.gpa < (1ull << m));
        ASSERT((o.gpa & 0xfff) == (la & 0xfff));
        ASSERT(reads >= 1);
    } else {
        bool i_on = (cpu.cr4 & (1ull << 20)) || (esize == 8 && nxe);
        ASSERT(!(o.pf & ~(uint32_t)(PF_P | PF_W | PF_U | PF_RSVD | PF_I)));
        ASSERT(!(o.pf & PF_RSVD) || (o.pf & PF_P));
        ASSERT(!!(o.pf & PF_W) == write);
        ASSERT(!!(o.pf & PF_U) == user);
        ASSERT(!!(o.pf & PF_I) == (fetch && i_on));
        /* P clear exactly when the walk stopped at a not-present entry. */
        ASSERT(!(o.pf & PF_P) == (last_ok && !(last_val & 1)));
        if (!last_ok)
            ASSERT(o.pf & PF_RSVD);
        if (!restarted)
            ASSERT(memcmp(ram, orig, MEM_SIZE) == 0);
    }
    /* Only A/D bits are ever set, in entry-aligned words. */
    bool changed = memcmp(ram, orig, MEM_SIZE) != 0;
    for (unsigned i = 0; changed && i < MEM_SIZE; i++) {
        if (ram[i] == orig[i])
            continue;
        ASSERT(i % esize == 0);
        ASSERT((ram[i] & ~orig[i] & ~A_D) == 0 && (orig[i] & ~ram[i]) == 0);
    }
    memcpy(after, ram, MEM_SIZE);

    /* 2: the same input gives the same result and the same memory. */
    memcpy(ram, orig, MEM_SIZE);
    ASSERT(same(walk(&cpu, la, acc), o));
    ASSERT(memcmp(ram, after, MEM_SIZE) == 0);

    /* 3: again over the updated memory: A/D bits change nothing in the walk, so same result and
     * nothing more to write (PAE excluded: a PDPTE can alias an entry that got A/D). */
    if (!pae || !paging) {
        ASSERT(same(walk(&cpu, la, acc), o));
        ASSERT(memcmp(ram, after, MEM_SIZE) == 0);
        ASSERT(o.r != GW_OK || sets == 0);
    }

    /* 4: entries that never take the update: the walk ends, with the first attempt's result. */
    memcpy(ram, orig, MEM_SIZE);
    always_fail = true;
    struct outcome o4 = walk(&cpu, la, acc);
    ASSERT(memcmp(ram, orig, MEM_SIZE) == 0);
    if (!restarted)
        ASSERT(same(o4, o));
    always_fail = false;

    /* 5: an entry changed by someone else while A/D are set: the walk still ends sanely. */
    memcpy(ram, orig, MEM_SIZE);
    race_in = data[28] & 7;
    race_xor = 1ull << (data[29] & 63);
    struct outcome o5 = walk(&cpu, la, acc);
    if (o5.r == GW_OK && paging)
        ASSERT((o5.gpa & 0xfff) == (la & 0xfff) && o5.gpa < (1ull << m));
    if (o5.r == GW_PAGE_FAULT)
        ASSERT(!(o5.pf & PF_RSVD) || (o5.pf & PF_P));
    race_in = -1;
    return 0;
}
