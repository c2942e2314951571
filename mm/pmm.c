#include "mm/pmm.h"
#include "mm/frame.h"
#include "kernel/spinlock.h"
#include "kernel/log.h"
#include "kernel/lib/string.h"

static struct frames frames;
static spinlock_t lock = SPINLOCK_INIT;
static uint64_t total_pages;
static uint64_t owner_pages[PMM_MAX_OWNERS];

/* The bitmap lives in the first usable range large enough; that range is then reserved. */
void pmm_init(struct memmap *mm)
{
    uint64_t top = memmap_top(mm, MEM_USABLE);
    uint64_t nframes = top / PAGE_SIZE;
    uint64_t bytes = (frames_bitmap_bytes(nframes) + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
    uint64_t where = 0;
    for (unsigned i = 0; i < mm->n && !where; i++)
        if (mm->r[i].type == MEM_USABLE && mm->r[i].len >= bytes)
            where = mm->r[i].base;
    if (!where)
        panic("no usable memory for the frame bitmap (%lu bytes)", bytes);
    memmap_reserve(mm, where, bytes);
    frames_init(&frames, phys_to_virt(where), nframes);
    for (unsigned i = 0; i < mm->n; i++)
        if (mm->r[i].type == MEM_USABLE)
            frames_add_free(&frames, mm->r[i].base, mm->r[i].len);
    total_pages = frames_free_count(&frames);
    pr_info("mm: %lu MiB usable, %lu MiB free for Keel and guests\n",
            memmap_usable_bytes(mm) >> 20, total_pages * PAGE_SIZE >> 20);
}

uint64_t pmm_alloc(uint64_t npages, uint64_t align_pages, unsigned owner)
{
    uint64_t f = spin_lock_irqsave(&lock);
    uint64_t p = frames_alloc(&frames, npages, align_pages ? align_pages : 1);
    if (p && owner < PMM_MAX_OWNERS)
        owner_pages[owner] += npages;
    spin_unlock_irqrestore(&lock, f);
    if (p)
        memset(phys_to_virt(p), 0, npages * PAGE_SIZE);
    return p;
}

void pmm_free(uint64_t phys, uint64_t npages, unsigned owner)
{
    uint64_t f = spin_lock_irqsave(&lock);
    int bad = frames_free(&frames, phys, npages);
    if (!bad && owner < PMM_MAX_OWNERS)
        owner_pages[owner] -= npages;
    spin_unlock_irqrestore(&lock, f);
    if (bad)
        pr_err("mm: bad free of %lu pages at %#lx\n", npages, phys);
}

uint64_t pmm_free_pages(void) { return frames_free_count(&frames); }
uint64_t pmm_total_pages(void) { return total_pages; }
uint64_t pmm_owner_pages(unsigned owner) { return owner < PMM_MAX_OWNERS ? owner_pages[owner] : 0; }
