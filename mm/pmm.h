/* The machine's physical frames: one allocator for all CPUs, with usage counted by owner so the
 * shell can show what each VM holds. Memory is identity-mapped, so a frame's physical address
 * is also its host virtual address. */
#ifndef MM_PMM_H
#define MM_PMM_H

#include <stdint.h>
#include "mm/memmap.h"

#define PAGE_SIZE   4096ul
#define PAGE_2M     (2ul << 20)
#define PAGE_1G     (1ul << 30)

#define PMM_OWNER_KEEL  0   /* owners 1..PMM_MAX_OWNERS-1 are VMs (vm id + 1) */
#define PMM_MAX_OWNERS  33

/* mm: usable memory with everything Keel must keep (image, boot data, low 1 MiB) reserved. */
void pmm_init(struct memmap *mm);
/* Zeroed, contiguous, aligned to align_pages; 0 when nothing fits. */
uint64_t pmm_alloc(uint64_t npages, uint64_t align_pages, unsigned owner);
void pmm_free(uint64_t phys, uint64_t npages, unsigned owner);
uint64_t pmm_free_pages(void);
uint64_t pmm_total_pages(void);
uint64_t pmm_owner_pages(unsigned owner);

static inline void *phys_to_virt(uint64_t p) { return (void *)p; }
static inline uint64_t virt_to_phys(const void *v) { return (uint64_t)v; }

#endif
