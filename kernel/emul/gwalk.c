/* The guest page-table walker (SDM vol. 3A ch. 4): paging off, 32-bit (with PSE and PSE-36), PAE
 * and 4-level paging.
 *
 * Choices where the SDM leaves room or the interface is silent:
 * - PAE PDPTEs are read from CR3[31:5] at every walk, as a CPU that loads them at use (AMD with
 *   nested paging) does; Intel CPUs load them at MOV CR3 and #GP there on reserved bits. Here a
 *   reserved bit (2:1, 8:5, 63:M) gives #PF with P|RSVD and a clear P gives #PF with P clear.
 * - Accessed/dirty bits are set only when the whole translation succeeds (the SDM lets a CPU set
 *   A bits on a walk that then faults, but does not require it). If set_bits reports that an
 *   entry changed, the walk starts over; after GW_MAX_RESTARTS restarts (an entry that never
 *   takes the update, e.g. not RAM) the last translation is used as is, as a CPU whose locked
 *   update went nowhere would still complete the access.
 * - Protection keys (CR4.PKE/PKS) are not modelled: bits 62:59 are ignored like other ignored
 *   bits and PF_PK is never reported. LA57 is not modelled (4-level only); 1-GByte pages are
 *   always supported; PSE-36 is always supported.
 * - Every access without GW_USER is an explicit supervisor access (SMAP honours RFLAGS.AC).
 *   GW_FETCH wins over GW_WRITE if both are given (a fetch is never a write).
 * - maxphyaddr is clamped to 32..52 (the architectural range the formats can express). */
#include "kernel/emul/gwalk.h"

#define CR0_WP      (1ull << 16)
#define CR0_PG      (1ull << 31)
#define CR4_PSE     (1ull << 4)
#define CR4_PAE     (1ull << 5)
#define CR4_SMEP    (1ull << 20)
#define CR4_SMAP    (1ull << 21)
#define EFER_LMA    (1ull << 10)
#define EFER_NXE    (1ull << 11)
#define RFLAGS_AC   (1ull << 18)

#define PTE_P       (1ull << 0)
#define PTE_RW      (1ull << 1)
#define PTE_US      (1ull << 2)
#define PTE_A       (1ull << 5)
#define PTE_D       (1ull << 6)
#define PTE_PS      (1ull << 7)
#define PTE_XD      (1ull << 63)

#define GW_MAX_LEVELS   4
#define GW_MAX_RESTARTS 64

/* Bits hi..lo set (hi >= lo, both < 64). */
#define BITS(hi, lo)    ((~0ull >> (63 - (hi))) & ~((1ull << (lo)) - 1))

enum mode { MODE_32, MODE_PAE, MODE_4LVL };

/* One walk: the entries read and where, and what to set in each on success. */
struct walk {
    uint64_t ent[GW_MAX_LEVELS], where[GW_MAX_LEVELS], set[GW_MAX_LEVELS];
    unsigned n, size;
    uint64_t gpa;
    uint32_t pf;            /* error code when the walk faulted, else 0 */
    bool fault;
};

struct params {
    enum mode mode;
    unsigned m;             /* effective MAXPHYADDR */
    bool nxe, pse;
};

/* Reserved bits of a present entry at level `shift` (the address bit its index starts at;
 * 39 = PML4E, 30 = PDPTE, 22/21 = PDE, 12 = PTE), given whether it maps a page. */
static uint64_t reserved(const struct params *p, unsigned shift, bool leaf)
{
    uint64_t r = 0;

    if (p->mode == MODE_32) {
        /* Only a 4-MByte PDE has reserved bits: 21:(M-19), M = min(MAXPHYADDR, 40) (PSE-36). */
        if (leaf && shift == 22) {
            unsigned m = p->m < 40 ? p->m : 40;
            r = BITS(21, m - 19);
        }
        return r;
    }
    if (p->mode == MODE_PAE) {
        /* PDPTE: 2:1 and 63:M (no XD, no R/W, no U/S). Bits 8:5 are reserved to Intel, but an
         * AMD CPU walking them under nested paging sets A (bit 5) itself: leave them be. */
        if (shift == 30)
            return BITS(2, 1) | BITS(63, p->m);
        r = BITS(62, p->m);
    } else {
        r = p->m < 52 ? BITS(51, p->m) : 0;
        if (shift == 39)
            r |= PTE_PS;            /* PS is reserved in a PML4E (bits 8 and 6 are ignored) */
    }
    if (!p->nxe)
        r |= PTE_XD;
    if (leaf && shift > 12)         /* large page: bits between PAT (12) and the base address */
        r |= BITS(shift - 1, 13);
    return r;
}

static void walk_fault(struct walk *w, uint32_t code)
{
    w->fault = true;
    w->pf |= code;
}

/* Walks once; fills w (entries, bits to set, gpa or fault). */
static void walk_once(const struct params *p, const struct gwalk_cpu *cpu,
                      const struct gwalk_mem *mem, uint64_t la, unsigned acc, struct walk *w)
{
    static const unsigned shifts32[] = { 22, 12 }, shifts_pae[] = { 30, 21, 12 },
                          shifts_4l[] = { 39, 30, 21, 12 };
    const unsigned *shifts;
    uint64_t addr_mask = BITS(p->m - 1, 12), table;
    bool fetch = acc & GW_FETCH, write = !fetch && (acc & GW_WRITE), user = acc & GW_USER;
    bool all_user = true, all_rw = true, any_xd = false;

    w->n = 0;
    w->fault = false;
    w->pf = (write ? PF_W : 0) | (user ? PF_U : 0);
    if (fetch && ((cpu->cr4 & CR4_SMEP) || (p->mode != MODE_32 && p->nxe)))
        w->pf |= PF_I;

    if (p->mode == MODE_32) {
        shifts = shifts32;
        w->size = 4;
        table = cpu->cr3 & BITS(31, 12);
    } else if (p->mode == MODE_PAE) {
        shifts = shifts_pae;
        w->size = 8;
        table = cpu->cr3 & BITS(31, 5);
    } else {
        shifts = shifts_4l;
        w->size = 8;
        table = cpu->cr3 & addr_mask;
    }

    for (unsigned i = 0;; i++) {
        unsigned shift = shifts[i];
        unsigned idx_bits = (p->mode == MODE_32) ? 10 : (p->mode == MODE_PAE && i == 0) ? 2 : 9;
        uint64_t where = table + ((la >> shift) & ((1ull << idx_bits) - 1)) * w->size;
        uint64_t e = 0;
        bool pdpte = p->mode == MODE_PAE && shift == 30;

        if (!mem->read(mem->ctx, where, &e, w->size)) {
            walk_fault(w, PF_P | PF_RSVD);  /* an empty bus reads as all ones */
            return;
        }
        if (w->size == 4)
            e = (uint32_t)e;
        w->ent[i] = e;
        w->where[i] = where;
        w->set[i] = pdpte ? 0 : PTE_A;
        w->n = i + 1;
        if (!(e & PTE_P)) {
            walk_fault(w, 0);
            return;
        }
        bool leaf = shift == 12 || (!pdpte && (e & PTE_PS) &&
                    (p->mode == MODE_4LVL ? shift != 39 : p->mode == MODE_PAE || p->pse));
        if (e & reserved(p, shift, leaf)) {
            walk_fault(w, PF_P | PF_RSVD);
            return;
        }
        if (!pdpte) {
            all_user = all_user && (e & PTE_US);
            all_rw = all_rw && (e & PTE_RW);
            any_xd = any_xd || (p->mode != MODE_32 && (e & PTE_XD));
        }
        if (leaf) {
            uint64_t off = (1ull << shift) - 1;
            if (p->mode == MODE_32 && shift == 22) {
                unsigned m = p->m < 40 ? p->m : 40;   /* PSE-36: bits 39:32 from PDE 20:13 */
                w->gpa = (e & BITS(31, 22)) | (((e >> 13) & ((1ull << (m - 32)) - 1)) << 32);
            } else {
                w->gpa = e & (p->mode == MODE_32 ? BITS(31, 12) : addr_mask) & ~off;
            }
            w->gpa |= la & off;
            if (write)
                w->set[i] |= PTE_D;
            break;
        }
        table = e & (p->mode == MODE_32 ? BITS(31, 12) : addr_mask);
    }

    /* SDM 4.6: access rights, from the combined U/S, R/W and XD of every level. */
    bool ok;
    if (user)
        ok = all_user && (!write || all_rw) && !(fetch && any_xd);
    else if (fetch)
        ok = !any_xd && !((cpu->cr4 & CR4_SMEP) && all_user);
    else
        ok = !((cpu->cr4 & CR4_SMAP) && !(cpu->rflags & RFLAGS_AC) && all_user) &&
             !(write && (cpu->cr0 & CR0_WP) && !all_rw);
    if (!ok)
        walk_fault(w, PF_P);
}

int gwalk(const struct gwalk_cpu *cpu, const struct gwalk_mem *mem, uint64_t la, unsigned acc,
          uint64_t *gpa, uint32_t *pf_error)
{
    bool long_mode = cpu->efer & EFER_LMA;
    struct params p;
    struct walk w;

    if (!(cpu->cr0 & CR0_PG)) {
        *gpa = long_mode ? la : (uint32_t)la;
        return GW_OK;
    }
    p.m = cpu->maxphyaddr < 32 ? 32 : cpu->maxphyaddr > 52 ? 52 : cpu->maxphyaddr;
    p.mode = long_mode ? MODE_4LVL : (cpu->cr4 & CR4_PAE) ? MODE_PAE : MODE_32;
    p.nxe = p.mode != MODE_32 && (cpu->efer & EFER_NXE);
    p.pse = cpu->cr4 & CR4_PSE;
    if (!long_mode)
        la = (uint32_t)la;          /* linear addresses are 32 bits outside IA-32e mode */

    for (unsigned attempt = 0;; attempt++) {
        walk_once(&p, cpu, mem, la, acc, &w);
        if (w.fault) {
            *pf_error = w.pf;
            return GW_PAGE_FAULT;
        }
        if (attempt == GW_MAX_RESTARTS)
            break;
        /* Top-down, as the CPU does; a lost race means the entries may say something else now. */
        bool changed = false;
        for (unsigned i = 0; i < w.n && !changed; i++)
            if ((w.ent[i] & w.set[i]) != w.set[i])
                changed = !mem->set_bits(mem->ctx, w.where[i], w.ent[i], w.set[i], w.size);
        if (!changed)
            break;
    }
    *gpa = w.gpa;
    return GW_OK;
}
