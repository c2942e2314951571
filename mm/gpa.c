#include "mm/gpa.h"
#include "mm/pmm.h"
#include "kernel/virt/vendor.h"
#include "kernel/lib/string.h"

static uint64_t alloc_table(void *arg)
{
    struct gpa_space *s = arg;
    return pmm_alloc(1, 1, s->owner);
}

static void *to_virt(uint64_t p, void *arg) { (void)arg; return phys_to_virt(p); }

static void free_table(uint64_t p, void *arg)
{
    struct gpa_space *s = arg;
    pmm_free(p, 1, s->owner);
}

int gpa_init(struct gpa_space *s, unsigned owner)
{
    memset(s, 0, sizeof *s);
    s->owner = owner;
    s->pt = (struct pt_ctx){ .fmt = vendor->gpt_format, .alloc = alloc_table,
                             .to_virt = to_virt, .free = free_table, .arg = s };
    s->pt.root = alloc_table(s);
    return s->pt.root ? 0 : -1;
}

static struct gpa_region *add_region(struct gpa_space *s, uint64_t base, uint64_t size)
{
    if (s->n == GPA_MAX_REGIONS || base + size < base)
        return 0;
    for (unsigned i = 0; i < s->n; i++)
        if (base < s->r[i].base + s->r[i].size && s->r[i].base < base + size)
            return 0;
    struct gpa_region *r = &s->r[s->n++];
    *r = (struct gpa_region){ .base = base, .size = size };
    return r;
}

int gpa_add_ram(struct gpa_space *s, uint64_t base, uint64_t size, uint64_t hpa)
{
    struct gpa_region *r = add_region(s, base, size);
    if (!r)
        return -1;
    r->kind = GPA_RAM;
    r->hpa = hpa;
    return pt_map(&s->pt, base, hpa, size, vendor->gpt_leaf(GPA_RWX, GPA_MT_WB));
}

int gpa_add_mmio(struct gpa_space *s, uint64_t base, uint64_t size,
                 const struct mmio_ops *ops, void *dev)
{
    struct gpa_region *r = add_region(s, base, size);
    if (!r)
        return -1;
    r->kind = GPA_MMIO;
    r->ops = ops;
    r->dev = dev;
    return 0;
}

const struct gpa_region *gpa_find(const struct gpa_space *s, uint64_t gpa)
{
    for (unsigned i = 0; i < s->n; i++)
        if (gpa >= s->r[i].base && gpa - s->r[i].base < s->r[i].size)
            return &s->r[i];
    return 0;
}

void *gpa_host_ptr(const struct gpa_space *s, uint64_t gpa, uint64_t len)
{
    const struct gpa_region *r = gpa_find(s, gpa);
    if (!r || r->kind != GPA_RAM || len > r->size - (gpa - r->base))
        return 0;
    if (s->touch && r->base == 0)
        s->touch(s->touch_ctx, gpa, len);
    return phys_to_virt(r->hpa + (gpa - r->base));
}

bool gpa_write(const struct gpa_space *s, uint64_t gpa, const void *src, size_t len)
{
    void *p = gpa_host_ptr(s, gpa, len);
    if (p)
        memcpy(p, src, len);
    return p != 0;
}

bool gpa_read(const struct gpa_space *s, uint64_t gpa, void *dst, size_t len)
{
    const void *p = gpa_host_ptr(s, gpa, len);
    if (p)
        memcpy(dst, p, len);
    return p != 0;
}

bool gpa_walk(const struct gpa_space *s, uint64_t gpa, uint64_t *hpa, uint64_t *leaf, int *level)
{
    return pt_walk(&s->pt, gpa, hpa, leaf, level);
}

void gpa_destroy(struct gpa_space *s)
{
    if (!s->pt.root)
        return;
    pt_free_tables(&s->pt);
    pmm_free(s->pt.root, 1, s->owner);
    s->pt.root = 0;
    s->n = 0;
}
