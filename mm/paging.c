#include "mm/paging.h"
#include "mm/pmm.h"
#include "mm/pt.h"
#include "kernel/log.h"
#include "kernel/x86.h"

extern char _image_start[], _text_end[], _rodata_end[], _image_end[];

uint64_t host_cr3;

static const struct pt_format host_fmt = { .present = HPTE_P, .table_flags = HPTE_P | HPTE_W };

static uint64_t alloc_table(void *arg) { (void)arg; return pmm_alloc(1, 1, PMM_OWNER_KEEL); }
static void *to_virt(uint64_t p, void *arg) { (void)arg; return phys_to_virt(p); }

static struct pt_ctx ctx = { .fmt = &host_fmt, .alloc = alloc_table, .to_virt = to_virt };

static void map(uint64_t va, uint64_t size, uint64_t flags)
{
    if (pt_map(&ctx, va, va, size, flags | HPTE_P) != 0)
        panic("out of memory building host page tables");
}

static bool is_ram(const struct memmap *mm, uint64_t base, uint64_t len)
{
    for (unsigned i = 0; i < mm->n; i++)
        if (mm->r[i].type != MEM_BAD && base < mm->r[i].base + mm->r[i].len &&
            mm->r[i].base < base + len)
            return true;
    return false;
}

void paging_init(const struct memmap *mm)
{
    ctx.root = pmm_alloc(1, 1, PMM_OWNER_KEEL);
    if (!ctx.root)
        panic("out of memory building host page tables");
    uint64_t top = memmap_top(mm, MEM_USABLE);
    for (unsigned i = 0; i < mm->n; i++)
        if (mm->r[i].base + mm->r[i].len > top)
            top = mm->r[i].base + mm->r[i].len;
    if (top < (4ull << 30))
        top = 4ull << 30;              /* device space below 4 GiB: LAPIC, IOAPIC, PCI */
    top = (top + PT_2M - 1) & ~(PT_2M - 1);
    /* Data and devices: RW, NX; cacheability from whether firmware calls it memory. */
    for (uint64_t a = PT_2M; a < top; a += PT_2M)
        map(a, PT_2M, HPTE_W | HPTE_NX | (is_ram(mm, a, PT_2M) ? 0 : HPTE_PCD | HPTE_PWT));
    map(PT_4K, PT_2M - PT_4K, HPTE_W | HPTE_NX);
    /* Keel's image last, with 4 KiB rights (splits the 2 MiB leaves it falls in). */
    uint64_t text = (uint64_t)_image_start, rodata = (uint64_t)_text_end;
    uint64_t data = (uint64_t)_rodata_end, end = (uint64_t)_image_end;
    map(text, rodata - text, 0);
    map(rodata, data - rodata, HPTE_NX);
    map(data, end - data, HPTE_W | HPTE_NX);
    host_cr3 = ctx.root;
    paging_load();
}

void paging_load(void)
{
    write_cr4(read_cr4() | CR4_PGE);
    write_cr0(read_cr0() | CR0_WP);
    write_cr3(host_cr3);
}

bool paging_lookup(uint64_t va, uint64_t *pa, uint64_t *entry)
{
    return pt_walk(&ctx, va, pa, entry, 0);
}
