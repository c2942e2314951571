/* The loader's physical memory map, normalized. */
#ifndef KEEL_MM_MEMMAP_H
#define KEEL_MM_MEMMAP_H

#include <stdbool.h>
#include <stdint.h>

enum mem_type { MEM_USABLE = 1, MEM_RESERVED = 2, MEM_ACPI = 3, MEM_NVS = 4, MEM_BAD = 5 };

struct mem_range {
    uint64_t base, len;
    uint32_t type;
};

#define MEMMAP_MAX 128
#define MEMMAP_PAGE 4096ull

struct memmap {
    struct mem_range r[MEMMAP_MAX];
    unsigned n;
};

void memmap_init(struct memmap *m);
/* Appends a range. Returns -1 if the map is full, else 0. len 0 is ignored;
 * a range running past 2^64 is clipped to end at UINT64_MAX; unknown types
 * (E820 7, 12, ...) are stored as MEM_RESERVED. */
int memmap_add(struct memmap *m, uint64_t base, uint64_t len, uint32_t type);
/* The memory type of an EFI memory descriptor type (UEFI spec, EFI_MEMORY_TYPE) once boot
 * services have exited: loader and boot-services memory and conventional memory are usable
 * (what the loader still needs, Keel reserves itself), ACPI reclaim/NVS keep their meaning,
 * unusable memory is bad, everything else (runtime services, MMIO, reserved, persistent,
 * unknown types) is reserved. */
uint32_t memmap_efi_type(uint32_t efi_type);
/* Sorts; where ranges overlap the more restrictive type wins
 * (BAD > RESERVED > NVS > ACPI > USABLE); merges adjacent equal types; trims
 * usable ranges inward to 4 KiB boundaries. Afterwards ranges are sorted and
 * disjoint. If splitting needs more than MEMMAP_MAX entries, pieces of usable
 * memory are dropped (or overlapping non-usable types merged), never the reverse. */
void memmap_normalize(struct memmap *m);
/* Removes [base, base+len), widened to 4 KiB pages, from usable memory.
 * Returns true if it overlapped usable memory. Keeps a sorted map sorted. */
bool memmap_reserve(struct memmap *m, uint64_t base, uint64_t len);
uint64_t memmap_usable_bytes(const struct memmap *m);
/* Highest end (base+len) of a range of that type, 0 if none. */
uint64_t memmap_top(const struct memmap *m, uint32_t type);

#endif
