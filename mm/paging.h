/* Host page tables: identity map of RAM and device space, NX everywhere but Keel's text, no
 * page both writable and executable, page 0 unmapped to catch NULL. */
#ifndef MM_PAGING_H
#define MM_PAGING_H

#include <stdint.h>
#include "mm/memmap.h"

#define HPTE_P      (1ul << 0)
#define HPTE_W      (1ul << 1)
#define HPTE_PWT    (1ul << 3)
#define HPTE_PCD    (1ul << 4)
#define HPTE_G      (1ul << 8)
#define HPTE_NX     (1ul << 63)

extern uint64_t host_cr3;

void paging_init(const struct memmap *mm);  /* BSP: builds the tables and switches to them */
void paging_load(void);                      /* APs: switch to them */
/* Host translation for the shell: true with rights when va is mapped. */
bool paging_lookup(uint64_t va, uint64_t *pa, uint64_t *entry);

#endif
