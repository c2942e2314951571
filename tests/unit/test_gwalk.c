/* kernel/emul/gwalk.c: the guest page-table walker. A host array stands for guest memory; tables
 * are built in it by hand for every paging mode and page size, and a table of cases checks
 * translations, accessed/dirty bits and #PF error codes. A reference model written separately
 * from the SDM's prose (bit-by-bit reserved-bit rules, per-access-kind rights) is compared with
 * the walker on random small page tables. */
#include <stdlib.h>
#include "check.h"
#include "kernel/emul/gwalk.h"

#define CR0_PE      (1ull << 0)
#define CR0_WP      (1ull << 16)
#define CR0_PG      (1ull << 31)
#define CR4_PSE     (1ull << 4)
#define CR4_PAE     (1ull << 5)
#define CR4_SMEP    (1ull << 20)
#define CR4_SMAP    (1ull << 21)
#define EFER_LME    (1ull << 8)
#define EFER_LMA    (1ull << 10)
#define EFER_NXE    (1ull << 11)
#define RFLAGS_AC   (1ull << 18)

#define P   (1ull << 0)
#define RW  (1ull << 1)
#define US  (1ull << 2)
#define A   (1ull << 5)
#define D   (1ull << 6)
#define PS  (1ull << 7)
#define XD  (1ull << 63)
#define B(n) (1ull << (n))

/* ---- fake guest memory ---- */

#define MEM_SIZE    0x10000u
static uint8_t mem[MEM_SIZE];
static uint64_t hole_lo = 1, hole_hi;  /* reads of [hole_lo, hole_hi) fail (empty when lo > hi) */
static unsigned want_size;              /* entry size the current mode must use */
static unsigned n_reads, n_sets;
static int race_in = -1;                /* set_bits call that finds the entry changed */
static uint64_t race_xor;               /* ... by this much (written by "another CPU") */
static bool sets_fail;                  /* every set_bits fails (entry never takes the update) */

static bool in_ram(uint64_t gpa, unsigned size)
{
    return gpa < MEM_SIZE && MEM_SIZE - gpa >= size && !(gpa >= hole_lo && gpa < hole_hi);
}

static bool mread(void *ctx, uint64_t gpa, uint64_t *val, unsigned size)
{
    (void)ctx;
    n_reads++;
    CHECK(size == want_size);
    CHECK(gpa % size == 0);
    if (!in_ram(gpa, size))
        return false;
    uint64_t v = 0;
    memcpy(&v, mem + gpa, size);
    *val = v;
    return true;
}

static bool mset(void *ctx, uint64_t gpa, uint64_t old, uint64_t bits, unsigned size)
{
    (void)ctx;
    uint64_t cur = 0;
    n_sets++;
    CHECK(size == want_size);
    CHECK(bits && !(bits & ~(A | D)));
    if (!in_ram(gpa, size) || sets_fail)
        return false;
    memcpy(&cur, mem + gpa, size);
    if (race_in >= 0 && race_in-- == 0) {
        cur ^= race_xor;
        memcpy(mem + gpa, &cur, size);
        return false;
    }
    if (cur != old)
        return false;
    cur |= bits;
    memcpy(mem + gpa, &cur, size);
    return true;
}

static const struct gwalk_mem gm = { 0, mread, mset };

static void reset_mem(void)
{
    memset(mem, 0, sizeof(mem));
    hole_lo = 1, hole_hi = 0;
    race_in = -1, race_xor = 0, sets_fail = false;
    n_reads = n_sets = 0;
}

static uint64_t get_ent(uint64_t at) { uint64_t v = 0; memcpy(&v, mem + at, want_size); return v; }
static void put_ent(uint64_t at, uint64_t v) { memcpy(mem + at, &v, want_size); }

/* ---- hand-built tables, one chain per mode ---- */

enum tmode { T32, T32_4M, TPAE, TPAE_2M, T4L, T4L_2M, T4L_1G, TMODES };
static const char *const tmode_name[] = { "32", "32-4M", "PAE", "PAE-2M", "4L", "4L-2M", "4L-1G" };

struct chain {
    unsigned n;             /* entries used */
    uint64_t at[4];         /* where they are */
    unsigned rights;        /* first level that carries R/W and U/S (PAE PDPTEs do not) */
    uint64_t la, gpa;
    struct gwalk_cpu cpu;
};

#define LA32    0x80403abcull       /* PDE 0x201, PTE 3 */
#define LAPAE   0xc0403abcull       /* PDPTE 3, PDE 2, PTE 3 */
#define LA4L    0x00007f8040403abcull

/* Tables at 0x1000, 0x2000, ... in memory order of the walk; the final page is outside RAM
 * (only tables are read). */
static struct chain build(enum tmode m)
{
    static const unsigned levels[] = { 2, 1, 3, 2, 4, 3, 2 };
    struct chain c = { .n = levels[m] };
    uint64_t table = 0x1000, flags = P | RW | US;
    bool pae = m == TPAE || m == TPAE_2M, l4 = m >= T4L;

    reset_mem();
    c.cpu.cr0 = CR0_PG | CR0_PE;
    c.cpu.cr3 = table;
    c.cpu.maxphyaddr = 36;
    want_size = (m == T32 || m == T32_4M) ? 4 : 8;
    if (pae || l4)
        c.cpu.cr4 = CR4_PAE;
    if (m == T32_4M)
        c.cpu.cr4 = CR4_PSE;
    if (l4)
        c.cpu.efer = EFER_LME | EFER_LMA;
    c.la = l4 ? LA4L : pae ? LAPAE : LA32;
    c.rights = pae ? 1 : 0;
    if (pae)
        c.cpu.cr3 = table + 0x20 * 3;   /* PDPT 32-byte aligned, not page aligned */

    for (unsigned i = 0; i < c.n; i++) {
        unsigned lvl = (want_size == 4 ? 2 : pae ? 3 : 4) - i;     /* 1 = PTE */
        unsigned shift = want_size == 4 ? (lvl == 2 ? 22 : 12) : 12 + 9 * (lvl - 1);
        uint64_t idx = want_size == 4 ? (c.la >> shift) & 1023
                     : (pae && lvl == 3) ? (c.la >> 30) & 3 : (c.la >> shift) & 511;
        uint64_t base = (pae && lvl == 3) ? c.cpu.cr3 : table;
        uint64_t e, next = (i + 2) * 0x1000ull;
        c.at[i] = base + idx * want_size;
        if (i == c.n - 1) {
            uint64_t page = m == T4L_1G ? 0x140000000ull : m == T32_4M ? 0x12400000ull
                          : (m == TPAE_2M || m == T4L_2M) ? 0x12200000ull : 0x12345000ull;
            e = page | flags | (lvl > 1 ? PS : 0);
            c.gpa = page | (c.la & ((1ull << shift) - 1));
        } else {
            e = next | ((pae && lvl == 3) ? P : flags);
        }
        put_ent(c.at[i], e);
        table = next;
    }
    if (want_size == 4) {
        /* 32-bit entries: the neighbouring word must not leak into the entry. */
        for (unsigned i = 0; i < c.n; i++)
            if (c.at[i] + 4 < MEM_SIZE && !get_ent(c.at[i] + 4))
                put_ent(c.at[i] + 4, 0xffffffff);
    }
    return c;
}

/* ---- the case table ---- */

#define M32     (B(T32) | B(T32_4M))
#define MPAE    (B(TPAE) | B(TPAE_2M))
#define M4L     (B(T4L) | B(T4L_2M) | B(T4L_1G))
#define M64     (MPAE | M4L)
#define MALL    (M32 | M64)
#define TOP     -1      /* first level with rights */
#define LEAF    -2
#define PDE4K   -3      /* the PDE of a 4-KByte chain */
#define OK      0xffffffffu

struct tcase {
    unsigned line, modes;
    int lvl;
    uint64_t set, clr;
    uint64_t cr0, cr4, efer, rflags;
    unsigned acc;
    uint32_t want;          /* OK or the error code */
    uint8_t maxphy;         /* 0: keep 36 */
    uint64_t gpa_xor;       /* expected gpa differs from the chain's by this */
};

/* C(modes, level, set, clear, cr0, cr4, efer, rflags, access, want[, maxphyaddr[, gpa_xor]]) */
#define C_(modes, lvl, set, clr, cr0, cr4, efer, rfl, acc, want, mp, gx, ...) \
    { __LINE__, modes, lvl, set, clr, cr0, cr4, efer, rfl, acc, want, mp, gx }
#define C(...)  C_(__VA_ARGS__, 0, 0)
#define U   GW_USER
#define W   GW_WRITE
#define F   GW_FETCH
#define WP  CR0_WP
#define SMEP CR4_SMEP
#define SMAP CR4_SMAP
#define NXE EFER_NXE
#define AC  RFLAGS_AC

static const struct tcase cases[] = {
    /* Plain accesses that work everywhere. */
    C(MALL, LEAF, 0, 0, 0, 0, 0, 0, 0, OK, 0),
    C(MALL, LEAF, 0, 0, 0, 0, 0, 0, U, OK, 0),
    C(MALL, LEAF, 0, 0, 0, 0, 0, 0, U | W, OK, 0),
    C(MALL, LEAF, 0, 0, 0, 0, 0, 0, W, OK, 0),
    C(MALL, LEAF, 0, 0, 0, 0, 0, 0, F, OK, 0),
    C(MALL, LEAF, 0, 0, 0, 0, 0, 0, U | F, OK, 0),
    C(MALL, LEAF, 0, 0, WP, SMEP, NXE, 0, U | F, OK, 0),
    C(MALL, LEAF, B(11) | B(10) | B(9), 0, 0, 0, 0, 0, W, OK, 0),   /* ignored bits */
    C(MALL, LEAF, A | D, 0, 0, 0, 0, 0, W, OK, 0),                   /* already set */
    /* Not present: P clear, W/U/I from the access. */
    C(MALL, LEAF, 0, P, 0, 0, 0, 0, 0, 0, 0),
    C(MALL, LEAF, 0, P, 0, 0, 0, 0, W, PF_W, 0),
    C(MALL, LEAF, 0, P, 0, 0, 0, 0, U | W, PF_W | PF_U, 0),
    C(MALL, LEAF, 0, P, 0, 0, 0, 0, F, 0, 0),
    C(MALL, LEAF, 0, P, 0, SMEP, 0, 0, F, PF_I, 0),
    C(MALL, LEAF, 0, P, 0, SMEP, 0, 0, U | F, PF_U | PF_I, 0),
    C(MALL, 0, 0, P, 0, 0, 0, 0, U, PF_U, 0),
    C(MALL, 0, 0, P | RW | US, 0, 0, 0, 0, U, PF_U, 0),
    C(MALL, TOP, 0, P, 0, 0, 0, 0, W, PF_W, 0),
    /* U/S and R/W on every level. */
    C(MALL, TOP, 0, US, 0, 0, 0, 0, U, PF_P | PF_U, 0),
    C(MALL, LEAF, 0, US, 0, 0, 0, 0, U, PF_P | PF_U, 0),
    C(MALL, TOP, 0, US, 0, 0, 0, 0, U | W, PF_P | PF_W | PF_U, 0),
    C(MALL, TOP, 0, US, 0, 0, 0, 0, 0, OK, 0),
    C(MALL, LEAF, 0, RW, 0, 0, 0, 0, U | W, PF_P | PF_W | PF_U, 0),
    C(MALL, TOP, 0, RW, 0, 0, 0, 0, U | W, PF_P | PF_W | PF_U, 0),
    C(MALL, TOP, 0, RW, 0, 0, 0, 0, U, OK, 0),
    C(MALL, TOP, 0, RW, 0, 0, 0, 0, U | F, OK, 0),
    C(MALL, LEAF, 0, RW, 0, 0, 0, 0, W, OK, 0),                     /* WP=0 */
    C(MALL, LEAF, 0, RW | US, 0, 0, 0, 0, W, OK, 0),
    C(MALL, LEAF, 0, RW, WP, 0, 0, 0, W, PF_P | PF_W, 0),
    C(MALL, TOP, 0, RW, WP, 0, 0, 0, W, PF_P | PF_W, 0),
    C(MALL, TOP, 0, RW | US, WP, 0, 0, 0, W, PF_P | PF_W, 0),
    C(MALL, LEAF, 0, RW, WP, 0, 0, 0, 0, OK, 0),
    C(MALL, LEAF, 0, RW, WP, 0, 0, 0, F, OK, 0),
    C(MALL, LEAF, 0, RW, WP, 0, 0, 0, F | W, OK, 0),                /* a fetch is not a write */
    C(MALL, LEAF, 0, P, 0, 0, 0, 0, F | W, 0, 0),
    /* SMAP: supervisor data accesses to user pages, unless RFLAGS.AC. */
    C(MALL, LEAF, 0, 0, 0, SMAP, 0, 0, 0, PF_P, 0),
    C(MALL, LEAF, 0, 0, 0, SMAP, 0, 0, W, PF_P | PF_W, 0),
    C(MALL, LEAF, 0, 0, WP, SMAP, 0, 0, W, PF_P | PF_W, 0),
    C(MALL, LEAF, 0, 0, 0, SMAP, 0, AC, 0, OK, 0),
    C(MALL, LEAF, 0, 0, 0, SMAP, 0, AC, W, OK, 0),
    C(MALL, LEAF, 0, RW, 0, SMAP, 0, AC, W, OK, 0),
    C(MALL, LEAF, 0, RW, WP, SMAP, 0, AC, W, PF_P | PF_W, 0),
    C(MALL, LEAF, 0, 0, 0, SMAP, 0, 0, U, OK, 0),
    C(MALL, LEAF, 0, 0, 0, SMAP, 0, 0, U | W, OK, 0),
    C(MALL, TOP, 0, US, 0, SMAP, 0, 0, W, OK, 0),
    C(MALL, LEAF, 0, US, 0, SMAP, 0, 0, 0, OK, 0),
    C(MALL, LEAF, 0, 0, 0, SMAP, 0, 0, F, OK, 0),
    C(MALL, LEAF, 0, 0, 0, 0, 0, AC, 0, OK, 0),
    /* SMEP: supervisor fetches from user pages. */
    C(MALL, LEAF, 0, 0, 0, SMEP, 0, 0, F, PF_P | PF_I, 0),
    C(MALL, LEAF, 0, 0, 0, SMEP, 0, AC, F, PF_P | PF_I, 0),
    C(MALL, LEAF, 0, US, 0, SMEP, 0, 0, F, OK, 0),
    C(MALL, TOP, 0, US, 0, SMEP, 0, 0, F, OK, 0),
    C(MALL, LEAF, 0, 0, 0, SMEP, 0, 0, 0, OK, 0),
    C(MALL, LEAF, 0, 0, 0, SMEP, 0, 0, W, OK, 0),
    C(MALL, LEAF, 0, 0, 0, SMEP | SMAP, 0, 0, U | F, OK, 0),
    C(MALL, LEAF, 0, US, 0, 0, 0, 0, U | F, PF_P | PF_U, 0),
    C(MALL, LEAF, 0, US, 0, SMEP, 0, 0, U | F, PF_P | PF_U | PF_I, 0),
    /* 32-bit paging has no XD: NXE changes nothing, I only with SMEP. */
    C(M32, LEAF, 0, US, 0, 0, NXE, 0, U | F, PF_P | PF_U, 0),
    C(M32, LEAF, 0, P, 0, 0, NXE, 0, F, 0, 0),
    /* PAE and 4-level: XD with NXE, reserved without. */
    C(M64, LEAF, 0, US, 0, 0, NXE, 0, U | F, PF_P | PF_U | PF_I, 0),
    C(M64, LEAF, 0, P, 0, 0, NXE, 0, F, PF_I, 0),
    C(M64, LEAF, 0, P, 0, 0, NXE, 0, U | F, PF_U | PF_I, 0),
    C(M64, LEAF, XD, 0, 0, 0, NXE, 0, F, PF_P | PF_I, 0),
    C(M64, TOP, XD, 0, 0, 0, NXE, 0, F, PF_P | PF_I, 0),
    C(M64, TOP, XD, 0, 0, 0, NXE, 0, U | F, PF_P | PF_U | PF_I, 0),
    C(M64, LEAF, XD, 0, 0, SMEP, NXE, 0, U | F, PF_P | PF_U | PF_I, 0),
    C(M64, LEAF, XD, 0, 0, 0, NXE, 0, 0, OK, 0),
    C(M64, LEAF, XD, 0, 0, 0, NXE, 0, U | W, OK, 0),
    C(M64, TOP, XD, 0, 0, 0, NXE, 0, W, OK, 0),
    C(M64, LEAF, XD, 0, 0, 0, 0, 0, 0, PF_P | PF_RSVD, 0),
    C(M64, TOP, XD, 0, 0, 0, 0, 0, W, PF_P | PF_W | PF_RSVD, 0),
    C(M64, LEAF, XD, 0, 0, 0, 0, 0, F, PF_P | PF_RSVD, 0),
    C(M64, LEAF, XD, 0, 0, SMEP, 0, 0, F, PF_P | PF_RSVD | PF_I, 0),
    C(M64, TOP, XD, P, 0, 0, 0, 0, U, PF_U, 0),          /* not present: no reserved check */
    /* Address bits above MAXPHYADDR (36) are reserved, on every level. */
    C(M64, LEAF, B(36), 0, 0, 0, 0, 0, 0, PF_P | PF_RSVD, 0),
    C(M64, LEAF, B(36), 0, 0, 0, 0, 0, 0, OK, 40, B(36)),
    C(M64, LEAF, B(39), 0, 0, 0, 0, 0, U, PF_P | PF_U | PF_RSVD, 39),
    C(M64, LEAF, B(38), 0, 0, 0, 0, 0, U, OK, 39, B(38)),
    C(M64, TOP, B(36), 0, 0, 0, 0, 0, U | W, PF_P | PF_W | PF_U | PF_RSVD, 0),
    C(M64, 0, B(36), 0, 0, 0, 0, 0, 0, PF_P | PF_RSVD, 0),
    C(M64, LEAF, B(51), 0, 0, 0, 0, 0, 0, PF_P | PF_RSVD, 0),
    C(M4L, LEAF, B(51), 0, 0, 0, 0, 0, 0, OK, 52, B(51)),
    C(M4L, LEAF, B(51), 0, 0, 0, 0, 0, 0, OK, 200, B(51)),        /* clamped to 52 */
    C(M4L, LEAF, B(35), 0, 0, 0, 0, 0, 0, PF_P | PF_RSVD, 20),         /* clamped to 32 */
    /* Bits 62:52: ignored in 4-level paging (protection keys not modelled), reserved in PAE. */
    C(M4L, LEAF, B(62) | B(59) | B(52), 0, 0, 0, 0, 0, W, OK, 0),
    C(M4L, TOP, B(58) | B(52), 0, 0, 0, 0, 0, U, OK, 0),
    C(MPAE, LEAF, B(62), 0, 0, 0, 0, 0, 0, PF_P | PF_RSVD, 0),
    C(MPAE, LEAF, B(52), 0, 0, 0, 0, 0, 0, PF_P | PF_RSVD, 52),
    C(MPAE, TOP, B(52), 0, 0, 0, NXE, 0, 0, PF_P | PF_RSVD, 0),
    /* PAE PDPTEs: bits 2:1 and 63:M reserved (XD too, even with NXE); 11:9, 8:5 (an AMD CPU
     * sets A there under nested paging) and 4:3 free. */
    C(MPAE, 0, RW, 0, 0, 0, 0, 0, 0, PF_P | PF_RSVD, 0),
    C(MPAE, 0, US, 0, 0, 0, 0, 0, U, PF_P | PF_U | PF_RSVD, 0),
    C(MPAE, 0, A, 0, 0, 0, 0, 0, 0, OK, 0),
    C(MPAE, 0, D, 0, 0, 0, 0, 0, 0, OK, 0),
    C(MPAE, 0, PS, 0, 0, 0, 0, 0, 0, OK, 0),
    C(MPAE, 0, B(8), 0, 0, 0, 0, 0, W, OK, 0),
    C(MPAE, 0, XD, 0, 0, 0, NXE, 0, 0, PF_P | PF_RSVD, 0),
    C(MPAE, 0, B(62), 0, 0, 0, NXE, 0, 0, PF_P | PF_RSVD, 52),
    C(MPAE, 0, B(36), 0, 0, 0, 0, 0, 0, PF_P | PF_RSVD, 0),
    C(MPAE, 0, B(11) | B(10) | B(9) | B(4) | B(3), 0, 0, 0, 0, 0, U | W, OK, 0),
    C(MPAE, 0, RW | A, P, 0, 0, 0, 0, 0, 0, 0),         /* not present: no reserved check */
    /* Large-page reserved bits; bit 12 (PAT) is free. */
    C(B(TPAE_2M) | B(T4L_2M), LEAF, B(13), 0, 0, 0, 0, 0, 0, PF_P | PF_RSVD, 0),
    C(B(TPAE_2M) | B(T4L_2M), LEAF, B(20), 0, 0, 0, 0, 0, 0, PF_P | PF_RSVD, 0),
    C(B(TPAE_2M) | B(T4L_2M), LEAF, B(12), 0, 0, 0, 0, 0, 0, OK, 0),
    C(B(TPAE_2M) | B(T4L_2M), LEAF, B(22), 0, 0, 0, 0, 0, 0, OK, 0, B(22)),
    C(B(T4L_1G), LEAF, B(13), 0, 0, 0, 0, 0, 0, PF_P | PF_RSVD, 0),
    C(B(T4L_1G), LEAF, B(29), 0, 0, 0, 0, 0, 0, PF_P | PF_RSVD, 0),
    C(B(T4L_1G), LEAF, B(21), 0, 0, 0, 0, 0, 0, PF_P | PF_RSVD, 0),
    C(B(T4L_1G), LEAF, B(12), 0, 0, 0, 0, 0, 0, OK, 0),
    C(B(T4L_1G), LEAF, B(31), 0, 0, 0, 0, 0, 0, OK, 0, B(31)),
    /* 4-level: PS reserved in the PML4E only (bits 8 and 6 ignored there). */
    C(M4L, 0, PS, 0, 0, 0, 0, 0, 0, PF_P | PF_RSVD, 0),
    C(M4L, 0, PS, 0, 0, 0, 0, 0, U | W, PF_P | PF_W | PF_U | PF_RSVD, 0),
    C(M4L, 0, B(8) | B(6), 0, 0, 0, 0, 0, 0, OK, 0),
    C(B(T4L) | B(T4L_2M), 1, B(8) | B(6), 0, 0, 0, 0, 0, 0, OK, 0),
    C(B(T4L), 2, D, 0, 0, 0, 0, 0, W, OK, 0),            /* D of a non-leaf PDE: ignored */
    /* PS in a PDE pointing at 0x4000: a 2-MByte page whose bit 14 is reserved. */
    C(B(T4L) | B(TPAE), PDE4K, PS, 0, 0, 0, 0, 0, 0, PF_P | PF_RSVD, 0),
    /* 32-bit paging: no reserved bits in 4-KByte entries; PS ignored without CR4.PSE. */
    C(B(T32), 0, PS, 0, 0, 0, 0, 0, 0, OK, 0),
    C(B(T32), LEAF, PS | B(8), 0, 0, 0, 0, 0, U | W, OK, 0),
    C(B(T32), 0, D | B(8), 0, 0, 0, 0, 0, 0, OK, 0),
    /* PSE-36: PDE bits 20:13 are address bits 39:32 up to MAXPHYADDR (max 40), bit 21 and the
     * bits above MAXPHYADDR reserved. */
    C(B(T32_4M), LEAF, B(21), 0, 0, 0, 0, 0, 0, PF_P | PF_RSVD, 0),
    C(B(T32_4M), LEAF, B(21), 0, 0, 0, 0, 0, 0, PF_P | PF_RSVD, 40),
    C(B(T32_4M), LEAF, B(17), 0, 0, 0, 0, 0, U, PF_P | PF_U | PF_RSVD, 0),
    C(B(T32_4M), LEAF, B(13), 0, 0, 0, 0, 0, 0, OK, 0, B(32)),
    C(B(T32_4M), LEAF, B(16), 0, 0, 0, 0, 0, 0, OK, 0, B(35)),
    C(B(T32_4M), LEAF, B(17), 0, 0, 0, 0, 0, 0, OK, 40, B(36)),
    C(B(T32_4M), LEAF, B(20), 0, 0, 0, 0, 0, 0, OK, 40, B(39)),
    C(B(T32_4M), LEAF, B(20), 0, 0, 0, 0, 0, 0, OK, 52, B(39)),
    C(B(T32_4M), LEAF, B(13), 0, 0, 0, 0, 0, 0, PF_P | PF_RSVD, 32),
    C(B(T32_4M), LEAF, B(12), 0, 0, 0, 0, 0, 0, OK, 32),        /* PAT */
};

/* Level a case's lvl names, in this chain. */
static unsigned case_level(const struct tcase *t, const struct chain *c, enum tmode m)
{
    if (t->lvl == TOP)
        return c->rights;
    if (t->lvl == LEAF)
        return c->n - 1;
    if (t->lvl == PDE4K)
        return m == T4L ? 2 : 1;
    return (unsigned)t->lvl;
}

static void run_case(const struct tcase *t, enum tmode m)
{
    struct chain c = build(m);
    unsigned lvl = case_level(t, &c, m);
    uint64_t gpa = 0xdead, before[4];
    uint32_t pf = 0xdead;
    uint8_t snap[MEM_SIZE];

    put_ent(c.at[lvl], (get_ent(c.at[lvl]) | t->set) & ~t->clr);
    c.cpu.cr0 |= t->cr0;
    c.cpu.cr4 |= t->cr4;
    c.cpu.efer |= t->efer;
    c.cpu.rflags = t->rflags | 2;
    if (t->maxphy)
        c.cpu.maxphyaddr = t->maxphy;
    for (unsigned i = 0; i < c.n; i++)
        before[i] = get_ent(c.at[i]);
    memcpy(snap, mem, MEM_SIZE);

    int r = gwalk(&c.cpu, &gm, c.la, t->acc, &gpa, &pf);
    bool ok = t->want == OK;
    bool good = ok ? r == GW_OK && gpa == (c.gpa ^ t->gpa_xor)
                   : r == GW_PAGE_FAULT && pf == t->want;
    if (!CHECK(good) && check_failed <= CHECK_REPORT_MAX)
        fprintf(stderr, "    case at line %u, mode %s: r=%d gpa=%#llx pf=%#x\n", t->line,
                tmode_name[m], r, (unsigned long long)gpa, pf);
    if (ok && r == GW_OK) {
        bool write = (t->acc & W) && !(t->acc & F);
        for (unsigned i = 0; i < c.n; i++) {
            bool pdpte = (m == TPAE || m == TPAE_2M) && i == 0;
            uint64_t want = before[i] | (pdpte ? 0 : A) | (i == c.n - 1 && write ? D : 0);
            CHECK_EQ_U64(get_ent(c.at[i]), want);
            put_ent(c.at[i], before[i]);
        }
    }
    CHECK(memcmp(snap, mem, MEM_SIZE) == 0);    /* only A/D written, and only on success */
}


static void test_table(void)
{
    unsigned runs = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        for (int m = 0; m < TMODES; m++)
            if (cases[i].modes & B(m)) {
                run_case(&cases[i], (enum tmode)m);
                runs++;
            }
    CHECK(runs > 500);
}

/* Paging off: the linear address is the physical one, 32 bits outside long mode; no reads. */
static void test_paging_off(void)
{
    struct gwalk_cpu cpu = { .cr0 = CR0_PE | CR0_WP, .cr4 = CR4_PAE | CR4_SMEP | CR4_SMAP,
                             .maxphyaddr = 36 };
    uint64_t gpa = 0;
    uint32_t pf = 0;
    reset_mem();
    CHECK_EQ_U64(gwalk(&cpu, &gm, 0x123456789abcdefull, U | W, &gpa, &pf), GW_OK);
    CHECK_EQ_U64(gpa, 0x89abcdefull);
    CHECK_EQ_U64(gwalk(&cpu, &gm, 0xfffff000, F, &gpa, &pf), GW_OK);
    CHECK_EQ_U64(gpa, 0xfffff000);
    cpu.efer = EFER_LMA;        /* as the interface says; a real CPU clears LMA with PG */
    CHECK_EQ_U64(gwalk(&cpu, &gm, 0x123456789abcdefull, 0, &gpa, &pf), GW_OK);
    CHECK_EQ_U64(gpa, 0x123456789abcdefull);
    CHECK_EQ_U64(n_reads, 0);
    CHECK_EQ_U64(n_sets, 0);
}

/* An entry outside RAM reads as all ones: #PF with P and RSVD, at every level. */
static void test_not_ram(void)
{
    for (int m = 0; m < TMODES; m++) {
        for (unsigned lvl = 0; lvl < 4; lvl++) {
            struct chain c = build((enum tmode)m);
            if (lvl >= c.n)
                break;
            hole_lo = c.at[lvl] & ~0xfffull;
            hole_hi = hole_lo + 0x1000;
            uint64_t gpa = 0;
            uint32_t pf = 0;
            static const unsigned accs[] = { 0, W, U | W, U | F };
            unsigned acc = accs[lvl];
            c.cpu.cr4 |= CR4_SMEP;
            CHECK_EQ_U64(gwalk(&c.cpu, &gm, c.la, acc, &gpa, &pf), GW_PAGE_FAULT);
            CHECK_EQ_U64(pf, PF_P | PF_RSVD | (acc & (W | U | F)));
            CHECK_EQ_U64(n_sets, 0);
            CHECK_EQ_U64(n_reads, lvl + 1);
        }
        /* A table pointer beyond RAM: the next read fails the same way. */
        struct chain c = build((enum tmode)m);
        if (c.n > 1) {
            put_ent(c.at[c.n - 2], get_ent(c.at[c.n - 2]) + 0x100000);
            uint64_t gpa = 0;
            uint32_t pf = 0;
            CHECK_EQ_U64(gwalk(&c.cpu, &gm, c.la, U, &gpa, &pf), GW_PAGE_FAULT);
            CHECK_EQ_U64(pf, PF_P | PF_RSVD | PF_U);
        }
    }
}

/* Bits of the linear address above 31 (outside long mode) or 47 (4-level) take no part;
 * CR3's cache-control bits and, outside long mode, its bits above 31 neither. */
static void test_address_bits(void)
{
    for (int m = 0; m < TMODES; m++) {
        struct chain c = build((enum tmode)m);
        uint64_t hi = m >= T4L ? 0xffff000000000000ull : 0xffffffff00000000ull, gpa = 0;
        uint32_t pf = 0;
        c.cpu.cr3 |= 0x18;          /* PWT, PCD */
        if (m < T4L)
            c.cpu.cr3 |= 0x500000000ull;
        CHECK_EQ_U64(gwalk(&c.cpu, &gm, c.la | hi, 0, &gpa, &pf), GW_OK);
        CHECK_EQ_U64(gpa, c.gpa);
        CHECK_EQ_U64(gwalk(&c.cpu, &gm, (c.la | hi) + 0xfff - (c.la & 0xfff), 0, &gpa, &pf),
                     GW_OK);
        CHECK_EQ_U64(gpa, (c.gpa | 0xfff));
    }
    /* PAE: the four PDPTEs sit at CR3[31:5]; index from la bits 31:30. */
    struct chain c = build(TPAE);
    uint64_t gpa = 0;
    uint32_t pf = 0;
    put_ent(c.cpu.cr3 + 8, P | 0x2000);     /* PDPTE 1 shares the page directory */
    CHECK_EQ_U64(gwalk(&c.cpu, &gm, c.la - 0x80000000ull, 0, &gpa, &pf), GW_OK);
    CHECK_EQ_U64(gpa, c.gpa);
    CHECK_EQ_U64(gwalk(&c.cpu, &gm, c.la - 0x40000000ull, 0, &gpa, &pf), GW_PAGE_FAULT);
    CHECK_EQ_U64(pf, 0);                     /* PDPTE 2 is empty */
}

/* A and D: only the missing bits are set, and set_bits is not called when none is missing;
 * a lost race restarts the walk, which then sees the new entries. */
static void test_accessed_dirty(void)
{
    for (int m = 0; m < TMODES; m++) {
        struct chain c = build((enum tmode)m);
        uint64_t gpa = 0;
        uint32_t pf = 0;
        bool pae = m == TPAE || m == TPAE_2M;
        CHECK_EQ_U64(gwalk(&c.cpu, &gm, c.la, 0, &gpa, &pf), GW_OK);
        CHECK_EQ_U64(n_sets, c.n - pae);
        CHECK(!(get_ent(c.at[c.n - 1]) & D));
        n_sets = 0;
        CHECK_EQ_U64(gwalk(&c.cpu, &gm, c.la, U, &gpa, &pf), GW_OK);
        CHECK_EQ_U64(n_sets, 0);
        CHECK_EQ_U64(gwalk(&c.cpu, &gm, c.la, W, &gpa, &pf), GW_OK);
        CHECK_EQ_U64(n_sets, 1);                /* D on the leaf only */
        CHECK(get_ent(c.at[c.n - 1]) & D);
        for (unsigned i = 0; i + 1 < c.n; i++)
            CHECK(!(get_ent(c.at[i]) & D));

        /* The entry changes under us, but harmlessly: restart, then success. */
        c = build((enum tmode)m);
        race_in = 0, race_xor = B(9);
        CHECK_EQ_U64(gwalk(&c.cpu, &gm, c.la, W, &gpa, &pf), GW_OK);
        CHECK_EQ_U64(gpa, c.gpa);
        CHECK_EQ_U64(n_reads, 2 * c.n);
        CHECK(get_ent(c.at[c.n - 1]) & D);

        /* The leaf loses R/W while we set A: the restarted walk gives the protection fault. */
        c = build((enum tmode)m);
        race_in = (int)(c.n - 1 - pae), race_xor = RW;
        CHECK_EQ_U64(gwalk(&c.cpu, &gm, c.la, U | W, &gpa, &pf), GW_PAGE_FAULT);
        CHECK_EQ_U64(pf, PF_P | PF_W | PF_U);
        CHECK(!(get_ent(c.at[c.n - 1]) & (A | D)));

        /* ... or becomes not present. */
        c = build((enum tmode)m);
        race_in = 0, race_xor = P;
        CHECK_EQ_U64(gwalk(&c.cpu, &gm, c.la, 0, &gpa, &pf), GW_PAGE_FAULT);
        CHECK_EQ_U64(pf, 0);

        /* Entries that never take the update: the walk still ends, with the translation. */
        c = build((enum tmode)m);
        sets_fail = true;
        CHECK_EQ_U64(gwalk(&c.cpu, &gm, c.la, W, &gpa, &pf), GW_OK);
        CHECK_EQ_U64(gpa, c.gpa);
        CHECK(n_reads > c.n && n_reads <= 100 * c.n);
        CHECK(!(get_ent(c.at[c.n - 1]) & (A | D)));
    }
}

/* ---- reference model: SDM 4.3-4.7 written out independently of the walker ---- */

enum rmode { R32, RPAE, R4L };

/* Is bit `b` reserved in a present entry at `level` (1 = PTE ... 4 = PML4E)? */
static bool ref_reserved(enum rmode m, int level, bool large, unsigned b, unsigned maxphy,
                         bool nxe)
{
    switch (m) {
    case R32: {
        unsigned m40 = maxphy > 40 ? 40 : maxphy;
        return level == 2 && large && b <= 21 && b >= m40 - 19;
    }
    case RPAE:
        if (level == 3)
            return b == 1 || b == 2 || b >= maxphy;     /* 8:5: AMD sets A there */
        if (b == 63)
            return !nxe;
        if (b >= maxphy)
            return true;
        return level == 2 && large && b >= 13 && b <= 20;
    case R4L:
        if (b == 63)
            return !nxe;
        if (b >= maxphy && b <= 51)
            return true;
        if (level == 4)
            return b == 7;
        if (large && level == 3)
            return b >= 13 && b <= 29;
        if (large && level == 2)
            return b >= 13 && b <= 20;
        return false;
    }
    return false;
}

struct ref_result {
    bool ok;
    uint64_t gpa;
    uint32_t pf;
    unsigned n;
    uint64_t at[4], bits[4];
};

static struct ref_result ref_walk(const struct gwalk_cpu *cpu, uint64_t la, unsigned acc,
                                  const uint8_t *ram)
{
    struct ref_result res = { 0 };
    bool fetch = acc & GW_FETCH, write = (acc & GW_WRITE) && !fetch, user = acc & GW_USER;
    unsigned maxphy = cpu->maxphyaddr;
    if (maxphy < 32)
        maxphy = 32;
    if (maxphy > 52)
        maxphy = 52;

    if (!(cpu->cr0 & CR0_PG)) {
        res.ok = true;
        res.gpa = (cpu->efer & EFER_LMA) ? la : la & 0xffffffffull;
        return res;
    }
    enum rmode m = (cpu->efer & EFER_LMA) ? R4L : (cpu->cr4 & CR4_PAE) ? RPAE : R32;
    bool nxe = m != R32 && (cpu->efer & EFER_NXE);
    bool smep = cpu->cr4 & CR4_SMEP, smap = cpu->cr4 & CR4_SMAP;
    int top = m == R4L ? 4 : m == RPAE ? 3 : 2;
    unsigned esize = m == R32 ? 4 : 8;
    uint64_t base;
    if (m != R4L)
        la &= 0xffffffffull;
    if (m == R32)
        base = cpu->cr3 & 0xfffff000ull;
    else if (m == RPAE)
        base = cpu->cr3 & 0xffffffe0ull;
    else
        base = cpu->cr3 & ((1ull << maxphy) - 1) & ~0xfffull;

    res.pf = (write ? PF_W : 0) | (user ? PF_U : 0) |
             (fetch && (smep || nxe) ? PF_I : 0);
    bool user_page = true, writable = true, xd = false;
    for (int level = top; level >= 1; level--) {
        uint64_t index;
        if (m == R32)
            index = level == 2 ? la >> 22 : (la >> 12) & 0x3ff;
        else if (m == RPAE && level == 3)
            index = la >> 30;
        else
            index = (la >> (12 + 9 * (level - 1))) & 0x1ff;
        uint64_t at = base + index * esize, e = 0;
        if (at + esize > MEM_SIZE || (at >= hole_lo && at < hole_hi)) {
            res.pf |= PF_P | PF_RSVD;
            return res;
        }
        for (unsigned k = 0; k < esize; k++)
            e |= (uint64_t)ram[at + k] << (8 * k);
        res.at[res.n] = at;
        res.bits[res.n] = (m == RPAE && level == 3) ? 0 : A;
        res.n++;
        if (!(e & 1))
            return res;
        bool large = false;
        if (m == R32)
            large = level == 2 && (e & PS) && (cpu->cr4 & CR4_PSE);
        else if (m == RPAE)
            large = level == 2 && (e & PS);
        else
            large = (level == 2 || level == 3) && (e & PS);
        for (unsigned b = 0; b < esize * 8; b++) {
            if (((e >> b) & 1) && ref_reserved(m, level, large, b, maxphy, nxe)) {
                res.pf |= PF_P | PF_RSVD;
                return res;
            }
        }
        if (!(m == RPAE && level == 3)) {
            user_page &= !!(e & US);
            writable &= !!(e & RW);
            if (nxe && (e >> 63))
                xd = true;
        }
        if (level == 1 || large) {
            uint64_t page_size = level == 1 ? 0x1000 : level == 2 ? (m == R32 ? 0x400000 : 0x200000)
                                                                  : 0x40000000;
            uint64_t frame;
            if (m == R32 && large) {
                unsigned m40 = maxphy > 40 ? 40 : maxphy;
                frame = (e & 0xffc00000ull);
                for (unsigned b = 32; b < m40; b++)
                    if ((e >> (b - 19)) & 1)
                        frame |= 1ull << b;
            } else if (m == R32) {
                frame = e & 0xfffff000ull;
            } else {
                frame = e & ((1ull << maxphy) - 1) & ~(page_size - 1);
            }
            res.gpa = frame + (la % page_size);
            if (write)
                res.bits[res.n - 1] |= D;
            break;
        }
        if (m == R32)
            base = e & 0xfffff000ull;
        else
            base = e & ((1ull << maxphy) - 1) & ~0xfffull;
    }

    /* SDM 4.6.1, case by case. */
    bool allowed;
    if (!user && !fetch && !write)
        allowed = !(smap && user_page && !(cpu->rflags & RFLAGS_AC));
    else if (!user && write)
        allowed = !(smap && user_page && !(cpu->rflags & RFLAGS_AC)) &&
                  (writable || !(cpu->cr0 & CR0_WP));
    else if (!user && fetch)
        allowed = !(smep && user_page) && !xd;
    else if (user && write)
        allowed = user_page && writable;
    else if (user && fetch)
        allowed = user_page && !xd;
    else
        allowed = user_page;
    if (!allowed) {
        res.pf |= PF_P;
        return res;
    }
    res.ok = true;
    return res;
}

/* A random entry: mostly present, pointing into the 16 pages of RAM or just past them, with
 * random rights, PS, XD, and now and then a random extra bit (often a reserved one). */
static uint64_t random_entry(bool wide)
{
    uint64_t e = rng_below(20) << 12;
    if (rng_below(8))
        e |= P;
    e |= rng_next() & (RW | US | A | D);
    if (rng_below(4) == 0)
        e |= PS;
    if (wide && rng_below(6) == 0)
        e |= XD;
    if (rng_below(5) == 0)
        e |= 1ull << rng_below(wide ? 64 : 32);
    if (rng_below(5) == 0)
        e |= (rng_next() & 0x3ff) << 12;    /* large-page bits */
    return wide ? e : (uint32_t)e;
}

static void test_reference_model(void)
{
    static uint8_t ref_mem[MEM_SIZE];
    static const uint8_t maxphys[] = { 36, 36, 39, 40, 46, 52, 32, 0, 63, 41 };
    unsigned oks = 0, faults = 0, rsvd = 0, np = 0, prot = 0;
    rng_seed(0x6777616c6b);

    for (unsigned table = 0; table < 400; table++) {
        struct gwalk_cpu cpu = { 0 };
        reset_mem();
        unsigned kind = (unsigned)rng_below(3);
        bool wide = kind != 0;
        want_size = wide ? 8 : 4;
        for (unsigned at = 0; at < MEM_SIZE; at += want_size)
            put_ent(at, random_entry(wide));
        if (rng_below(4) == 0) {
            hole_lo = rng_below(16) << 12;
            hole_hi = hole_lo + 0x1000;
        }
        for (unsigned k = 0; k < 200; k++) {
            cpu.cr0 = CR0_PE | (rng_below(32) ? CR0_PG : 0) | (rng_next() & CR0_WP);
            cpu.cr4 = rng_next() & (CR4_PSE | CR4_SMEP | CR4_SMAP);
            cpu.efer = rng_next() & EFER_NXE;
            if (kind >= 1)
                cpu.cr4 |= CR4_PAE;
            if (kind == 2)
                cpu.efer |= EFER_LMA | EFER_LME;
            cpu.rflags = 2 | (rng_next() & RFLAGS_AC);
            cpu.maxphyaddr = maxphys[rng_below(sizeof(maxphys))];
            cpu.cr3 = (rng_below(17) << 12) | (rng_below(128) << 5);
            if (rng_below(8) == 0)
                cpu.cr3 |= 1ull << (32 + rng_below(20));
            uint64_t la = rng_next();
            unsigned acc = (unsigned)rng_below(32) & (GW_WRITE | GW_USER | GW_FETCH);

            memcpy(ref_mem, mem, MEM_SIZE);
            struct ref_result want = ref_walk(&cpu, la, acc, ref_mem);
            if (want.ok)
                for (unsigned i = 0; i < want.n; i++)
                    for (unsigned b = 0; b < 8; b++)
                        if (want.bits[i] & (1ull << b))
                            ref_mem[want.at[i]] |= (uint8_t)(1u << b);

            uint64_t gpa = 0;
            uint32_t pf = 0;
            int r = gwalk(&cpu, &gm, la, acc, &gpa, &pf);
            bool same = want.ok ? r == GW_OK && gpa == want.gpa
                                : r == GW_PAGE_FAULT && pf == want.pf;
            if (!CHECK(same) && check_failed <= CHECK_REPORT_MAX)
                fprintf(stderr, "    cr0=%#llx cr3=%#llx cr4=%#llx efer=%#llx M=%u la=%#llx "
                        "acc=%#x: got r=%d gpa=%#llx pf=%#x, want ok=%d gpa=%#llx pf=%#x\n",
                        (unsigned long long)cpu.cr0, (unsigned long long)cpu.cr3,
                        (unsigned long long)cpu.cr4, (unsigned long long)cpu.efer,
                        cpu.maxphyaddr, (unsigned long long)la, acc, r,
                        (unsigned long long)gpa, pf, want.ok, (unsigned long long)want.gpa,
                        want.pf);
            CHECK(memcmp(ref_mem, mem, MEM_SIZE) == 0);
            if (want.ok)
                oks++;
            else if (want.pf & PF_RSVD)
                rsvd++;
            else if (want.pf & PF_P)
                prot++;
            else
                np++;
            faults += !want.ok;
        }
    }
    printf("    reference model: %u translations, %u not present, %u reserved, %u protection\n",
           oks, np, rsvd, prot);
    /* The random tables must exercise every outcome, or the comparison proves little. */
    CHECK(oks > 5000 && np > 5000 && rsvd > 5000 && prot > 2000);
}

int main(void)
{
    RUN(test_table);
    RUN(test_paging_off);
    RUN(test_not_ram);
    RUN(test_address_bits);
    RUN(test_accessed_dirty);
    RUN(test_reference_model);
    return check_summary("gwalk");
}
