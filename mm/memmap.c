#include "mm/memmap.h"

#include "kernel/lib/string.h"

static uint64_t end_of(const struct mem_range *r)
{
    return r->base + r->len;   /* never wraps: memmap_add clips */
}

/* Restrictiveness order used when ranges overlap. */
static unsigned rank(uint32_t type)
{
    switch (type) {
    case MEM_USABLE: return 0;
    case MEM_ACPI: return 1;
    case MEM_NVS: return 2;
    case MEM_RESERVED: return 3;
    default: return 4;   /* MEM_BAD */
    }
}

static void remove_at(struct memmap *m, unsigned i)
{
    memmove(&m->r[i], &m->r[i + 1], (m->n - i - 1) * sizeof m->r[0]);
    m->n--;
}

static bool insert_at(struct memmap *m, unsigned i, struct mem_range r)
{
    if (m->n >= MEMMAP_MAX)
        return false;
    memmove(&m->r[i + 1], &m->r[i], (m->n - i) * sizeof m->r[0]);
    m->r[i] = r;
    m->n++;
    return true;
}

/* Inserts r after position 'from', keeping the array sorted by base. */
static bool insert_sorted(struct memmap *m, unsigned from, struct mem_range r)
{
    unsigned j = from;

    while (j < m->n && m->r[j].base < r.base)
        j++;
    return insert_at(m, j, r);
}

/* Moves entry i forward after its base grew, restoring the sort order. */
static void sift_forward(struct memmap *m, unsigned i)
{
    while (i + 1 < m->n && m->r[i].base > m->r[i + 1].base) {
        struct mem_range t = m->r[i];
        m->r[i] = m->r[i + 1];
        m->r[i + 1] = t;
        i++;
    }
}

void memmap_init(struct memmap *m)
{
    memset(m, 0, sizeof *m);
}

int memmap_add(struct memmap *m, uint64_t base, uint64_t len, uint32_t type)
{
    if (m->n >= MEMMAP_MAX)
        return -1;
    if (len > UINT64_MAX - base)
        len = UINT64_MAX - base;
    if (len == 0)
        return 0;
    if (type < MEM_USABLE || type > MEM_BAD)
        type = MEM_RESERVED;
    m->r[m->n++] = (struct mem_range){ base, len, type };
    return 0;
}

enum {
    EFI_RESERVED = 0, EFI_LOADER_CODE, EFI_LOADER_DATA, EFI_BOOT_SERVICES_CODE,
    EFI_BOOT_SERVICES_DATA, EFI_RUNTIME_SERVICES_CODE, EFI_RUNTIME_SERVICES_DATA,
    EFI_CONVENTIONAL, EFI_UNUSABLE, EFI_ACPI_RECLAIM, EFI_ACPI_NVS,
};

uint32_t memmap_efi_type(uint32_t efi_type)
{
    switch (efi_type) {
    case EFI_LOADER_CODE:
    case EFI_LOADER_DATA:
    case EFI_BOOT_SERVICES_CODE:
    case EFI_BOOT_SERVICES_DATA:
    case EFI_CONVENTIONAL:
        return MEM_USABLE;
    case EFI_UNUSABLE: return MEM_BAD;
    case EFI_ACPI_RECLAIM: return MEM_ACPI;
    case EFI_ACPI_NVS: return MEM_NVS;
    default: return MEM_RESERVED;
    }
}

static void sort_by_base(struct memmap *m)
{
    for (unsigned i = 1; i < m->n; i++) {
        struct mem_range t = m->r[i];
        unsigned j = i;
        for (; j > 0 && m->r[j - 1].base > t.base; j--)
            m->r[j] = m->r[j - 1];
        m->r[j] = t;
    }
}

/* r[i+1] overlaps r[i] and does not outrank it: cut the overlap from r[i+1]. */
static void later_loses(struct memmap *m, unsigned i)
{
    uint64_t ea = end_of(&m->r[i]), eb = end_of(&m->r[i + 1]);

    if (eb <= ea) {
        remove_at(m, i + 1);
        return;
    }
    m->r[i + 1].base = ea;
    m->r[i + 1].len = eb - ea;
    sift_forward(m, i + 1);
}

/* r[i+1] outranks the overlapping r[i]: r[i] keeps its parts on either side. */
static void earlier_loses(struct memmap *m, unsigned i)
{
    struct mem_range a = m->r[i];
    uint64_t ea = end_of(&a), eb = end_of(&m->r[i + 1]);

    if (ea > eb) {
        struct mem_range tail = { eb, ea - eb, a.type };
        if (!insert_sorted(m, i + 2, tail) && a.type != MEM_USABLE) {
            /* Full: let the weaker non-usable type cover the overlap instead. */
            later_loses(m, i);
            return;
        }   /* a full map drops a usable tail: losing memory is safe */
    }
    m->r[i].len = m->r[i + 1].base - a.base;
    if (m->r[i].len == 0)
        remove_at(m, i);
}

/* Makes the sorted ranges disjoint, keeping the more restrictive type. */
static void resolve_overlaps(struct memmap *m)
{
    unsigned i = 0;

    while (i + 1 < m->n) {
        struct mem_range *a = &m->r[i], *b = &m->r[i + 1];
        if (end_of(a) <= b->base) {
            i++;
        } else if (a->type == b->type) {
            uint64_t eb = end_of(b);
            if (eb > end_of(a))
                a->len = eb - a->base;
            remove_at(m, i + 1);
        } else if (rank(a->type) >= rank(b->type)) {
            later_loses(m, i);
        } else {
            earlier_loses(m, i);
        }
    }
}

static void merge_adjacent(struct memmap *m)
{
    unsigned i = 0;

    while (i + 1 < m->n) {
        struct mem_range *a = &m->r[i], *b = &m->r[i + 1];
        if (a->type == b->type && end_of(a) == b->base) {
            a->len += b->len;
            remove_at(m, i + 1);
        } else {
            i++;
        }
    }
}

static void trim_usable(struct memmap *m)
{
    unsigned i = 0;

    while (i < m->n) {
        struct mem_range *r = &m->r[i];
        uint64_t lo = r->base, hi = end_of(r) & ~(MEMMAP_PAGE - 1);
        if (r->type == MEM_USABLE) {
            lo = lo > UINT64_MAX - (MEMMAP_PAGE - 1) ? UINT64_MAX : (lo + MEMMAP_PAGE - 1) & ~(MEMMAP_PAGE - 1);
            if (lo >= hi) {
                remove_at(m, i);
                continue;
            }
            r->base = lo;
            r->len = hi - lo;
        }
        i++;
    }
}

void memmap_normalize(struct memmap *m)
{
    sort_by_base(m);
    resolve_overlaps(m);
    merge_adjacent(m);
    trim_usable(m);
}

/* Cuts [lo, hi) out of usable range i; returns how many entries to step over. */
static unsigned cut_range(struct memmap *m, unsigned i, uint64_t lo, uint64_t hi)
{
    struct mem_range *r = &m->r[i];
    uint64_t rb = r->base, re = end_of(r);

    if (lo <= rb && hi >= re) {
        remove_at(m, i);
        return 0;
    }
    if (lo <= rb) {
        r->base = hi;
        r->len = re - hi;
        return 1;
    }
    r->len = lo - rb;
    if (hi >= re)
        return 1;
    struct mem_range tail = { hi, re - hi, MEM_USABLE };
    if (insert_at(m, i + 1, tail))
        return 2;
    if (tail.len > r->len)   /* full: keep the larger piece */
        *r = tail;
    return 1;
}

bool memmap_reserve(struct memmap *m, uint64_t base, uint64_t len)
{
    uint64_t lo = base & ~(MEMMAP_PAGE - 1), hi;
    bool hit = false;

    if (len == 0)
        return false;
    hi = len > UINT64_MAX - base ? UINT64_MAX : base + len;
    if (hi > UINT64_MAX - (MEMMAP_PAGE - 1))
        hi = UINT64_MAX;   /* up to the very top: nothing above can be usable */
    else
        hi = (hi + MEMMAP_PAGE - 1) & ~(MEMMAP_PAGE - 1);
    for (unsigned i = 0; i < m->n;) {
        struct mem_range *r = &m->r[i];
        if (r->type != MEM_USABLE || end_of(r) <= lo || r->base >= hi) {
            i++;
            continue;
        }
        hit = true;
        i += cut_range(m, i, lo, hi);
    }
    return hit;
}

uint64_t memmap_usable_bytes(const struct memmap *m)
{
    uint64_t sum = 0;

    for (unsigned i = 0; i < m->n; i++)
        if (m->r[i].type == MEM_USABLE)
            sum += m->r[i].len;
    return sum;
}

uint64_t memmap_top(const struct memmap *m, uint32_t type)
{
    uint64_t top = 0;

    for (unsigned i = 0; i < m->n; i++)
        if (m->r[i].type == type && end_of(&m->r[i]) > top)
            top = end_of(&m->r[i]);
    return top;
}
