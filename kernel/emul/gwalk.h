/* The guest page-table walker: linear address -> guest-physical address, through the guest's own
 * paging structures, as the CPU would walk them (paging off, 32-bit, PAE, 4-level), setting the
 * accessed and dirty bits the CPU would set and giving the #PF error code the CPU would give.
 *
 * Pure: guest memory is read and updated only through the callbacks, so it compiles on the host
 * for unit tests and fuzzing. */
#ifndef KERNEL_EMUL_GWALK_H
#define KERNEL_EMUL_GWALK_H

#include <stdint.h>
#include <stdbool.h>

/* Access kinds (combinable): the #PF error-code bits they correspond to. */
#define GW_WRITE    (1u << 1)   /* W/R */
#define GW_USER     (1u << 2)   /* U/S: a CPL 3 access (not an implicit supervisor access) */
#define GW_FETCH    (1u << 4)   /* I/D */

/* #PF error-code bits the walker reports. */
#define PF_P        (1u << 0)
#define PF_W        (1u << 1)
#define PF_U        (1u << 2)
#define PF_RSVD     (1u << 3)
#define PF_I        (1u << 4)
#define PF_PK       (1u << 5)

struct gwalk_mem {
    void *ctx;
    /* Reads an 8-byte (PAE/4-level) or 4-byte (32-bit) entry at a guest-physical address;
     * false when the address is not RAM (the walk then ends with a #PF: PF_RSVD set, as an
     * all-ones entry read from an empty bus would give). */
    bool (*read)(void *ctx, uint64_t gpa, uint64_t *val, unsigned size);
    /* Sets bits in an entry atomically if it still holds `old`; false if it changed (the walker
     * then starts over) or the address is not RAM. */
    bool (*set_bits)(void *ctx, uint64_t gpa, uint64_t old, uint64_t bits, unsigned size);
};

struct gwalk_cpu {
    uint64_t cr0, cr3, cr4, efer, rflags;
    uint8_t maxphyaddr;     /* physical-address width: higher bits in entries are reserved */
};

enum gwalk_result { GW_OK = 0, GW_PAGE_FAULT };

/* Translates `la` for an access of kind `acc`. GW_OK: *gpa set, A (and D for writes) bits set
 * in the entries. GW_PAGE_FAULT: *pf_error is the error code for the guest's #PF (CR2 = la).
 * With CR0.PG clear, gpa = la (truncated to 32 bits outside long mode). Checks U/S, R/W with
 * CR0.WP, NX with EFER.NXE, SMEP, SMAP (with RFLAGS.AC for explicit accesses), reserved bits
 * (including PS where it is reserved, and bits above maxphyaddr), and canonical form is the
 * caller's job. */
int gwalk(const struct gwalk_cpu *cpu, const struct gwalk_mem *mem, uint64_t la, unsigned acc,
          uint64_t *gpa, uint32_t *pf_error);

/* The largest run of bytes from `la` that lies in the same page as la (4 KiB granularity, so
 * callers split accesses safely whatever the page size). */
static inline unsigned gwalk_page_left(uint64_t la)
{
    return 4096 - (unsigned)(la & 4095);
}

#endif
