#include "kernel/loader/mbinfo.h"

#include <stdbool.h>

#include "kernel/lib/bufwr.h"
#include "kernel/lib/string.h"

#define LOW_END 0xA0000ull
#define HIGH_START 0x100000ull
#define FOUR_GIB (1ull << 32)
#define RSDP_V1_LEN 20
#define RSDP_V2_LEN 36

/* Guest-physical address of buffer offset off, as the 32-bit value the guest reads. */
static uint32_t gpa32(struct bufwr *w, size_t off)
{
    uint64_t a = w->gpa + off;

    if (a >= FOUR_GIB)
        w->bad = true;
    return (uint32_t)a;
}

/* Copies a NUL-terminated string; returns its offset. */
static size_t put_str(struct bufwr *w, const char *s)
{
    size_t n = strlen(s ? s : "") + 1;
    size_t at = bw_take(w, n, 1);

    if (!w->bad)
        memcpy(w->buf + at, s ? s : "", n);
    return at;
}

struct map {
    unsigned n;
    uint64_t base[MBINFO_MAX_MMAP], len[MBINFO_MAX_MMAP];
    uint32_t type[MBINFO_MAX_MMAP];
};

static void map_add(struct map *m, uint64_t base, uint64_t len, uint32_t type)
{
    if (len && m->n < MBINFO_MAX_MMAP) {
        m->base[m->n] = base;
        m->len[m->n] = len;
        m->type[m->n++] = type;
    }
}

/* [a, b) of `type`, with the ACPI tables' range cut out of it (ACPI-reclaimable) when they lie
 * there. */
static void map_range(struct map *m, const struct mbinfo_params *p, uint64_t a, uint64_t b,
                      uint32_t type)
{
    uint64_t x = p->acpi_base, y = p->acpi_base + p->acpi_len;

    if (!p->acpi_len || x < a || y > b) {
        map_add(m, a, b - a, type);
        return;
    }
    map_add(m, a, x - a, type);
    map_add(m, x, y - x, MB_MEMORY_ACPI_RECLAIMABLE);
    map_add(m, y, b - y, type);
}

static void map_usable(struct map *m, const struct mbinfo_params *p, uint64_t a, uint64_t b)
{
    map_range(m, p, a, b, MB_MEMORY_AVAILABLE);
}

/* The guest memory map of a PC: low RAM with the 640K-1M hole, RAM above 4 GiB. */
static void guest_map(const struct mbinfo_params *p, struct map *m)
{
    uint64_t ram = p->ram;

    m->n = 0;
    map_usable(m, p, 0, ram < LOW_END ? ram : LOW_END);
    if (ram > LOW_END)
        map_range(m, p, LOW_END, ram < HIGH_START ? ram : HIGH_START, MB_MEMORY_RESERVED);
    if (ram > HIGH_START)
        map_usable(m, p, HIGH_START, ram);
    if (p->ram_high)
        map_usable(m, p, MBINFO_HIGH_BASE, MBINFO_HIGH_BASE + p->ram_high);
}

unsigned mbinfo_memory_map(const struct mbinfo_params *p, uint64_t *base, uint64_t *len,
                           uint32_t *type, unsigned max)
{
    struct map m;
    guest_map(p, &m);
    for (unsigned i = 0; i < m.n && i < max; i++) {
        base[i] = m.base[i];
        len[i] = m.len[i];
        type[i] = m.type[i];
    }
    return m.n;
}

/* The ACPI range, when listed, must lie in one RAM range (usable, or the BIOS area). */
static bool acpi_ok(const struct mbinfo_params *p)
{
    uint64_t x = p->acpi_base, y = p->acpi_base + p->acpi_len;

    if (!p->acpi_len)
        return true;
    if (y < x)
        return false;
    return (y <= (p->ram < LOW_END ? p->ram : LOW_END)) ||
           (x >= LOW_END && y <= (p->ram < HIGH_START ? p->ram : HIGH_START)) ||
           (x >= HIGH_START && y <= p->ram) ||
           (x >= MBINFO_HIGH_BASE && y - MBINFO_HIGH_BASE <= p->ram_high);
}

static uint32_t mem_lower_kb(uint64_t ram)
{
    return (uint32_t)((ram < LOW_END ? ram : LOW_END) >> 10);
}

static uint32_t mem_upper_kb(uint64_t ram)
{
    uint64_t kb = ram > HIGH_START ? (ram - HIGH_START) >> 10 : 0;

    return kb > UINT32_MAX ? UINT32_MAX : (uint32_t)kb;
}

static bool mods_ok(const struct mbinfo_params *p)
{
    for (unsigned i = 0; i < p->nmods; i++)
        if (p->mods[i].start >= FOUR_GIB || p->mods[i].end >= FOUR_GIB ||
            p->mods[i].end < p->mods[i].start)
            return false;
    return true;
}

/* ---- multiboot1 ---- */

static void mb1_mmap(struct bufwr *w, size_t info, const struct mbinfo_params *p)
{
    struct map m;
    guest_map(p, &m);
    size_t at = bw_take(w, m.n * MB1_MMAP_ENTRY_LEN, 1);

    for (unsigned i = 0; i < m.n; i++) {
        size_t e = at + i * MB1_MMAP_ENTRY_LEN;
        bw_put32(w, e, MB1_MMAP_ENTRY_LEN - 4);   /* size excludes itself */
        bw_put64(w, e + 4, m.base[i]);
        bw_put64(w, e + 12, m.len[i]);
        bw_put32(w, e + 20, m.type[i]);
    }
    bw_put32(w, info + 44, m.n * MB1_MMAP_ENTRY_LEN);
    bw_put32(w, info + 48, gpa32(w, at));
}

static void mb1_mods(struct bufwr *w, size_t info, const struct mbinfo_params *p)
{
    size_t at = bw_take(w, p->nmods * MB1_MOD_LEN, 1);

    bw_put32(w, info + 20, p->nmods);
    bw_put32(w, info + 24, gpa32(w, at));
    for (unsigned i = 0; i < p->nmods; i++) {
        size_t e = at + i * MB1_MOD_LEN;
        size_t s = put_str(w, p->mods[i].string);
        bw_put32(w, e, (uint32_t)p->mods[i].start);
        bw_put32(w, e + 4, (uint32_t)p->mods[i].end);
        bw_put32(w, e + 8, gpa32(w, s));
        bw_put32(w, e + 12, 0);
    }
}

static void build_mb1(struct bufwr *w, const struct mbinfo_params *p)
{
    uint32_t flags = MB1_INFO_MEMORY | MB1_INFO_CMDLINE | MB1_INFO_MODS | MB1_INFO_MEM_MAP;
    size_t info = bw_take(w, (MB1_INFO_LEN + 7) & ~7u, 1);

    if (!w->bad)
        memset(w->buf + info, 0, (MB1_INFO_LEN + 7) & ~7u);
    bw_put32(w, info + 4, mem_lower_kb(p->ram));
    bw_put32(w, info + 8, mem_upper_kb(p->ram));
    bw_put32(w, info + 12, 0xFFFFFFFFu);   /* boot_device: none (flag not set anyway) */
    mb1_mmap(w, info, p);
    mb1_mods(w, info, p);
    bw_put32(w, info + 16, gpa32(w, put_str(w, p->cmdline)));
    if (p->loader_name) {
        flags |= MB1_INFO_BOOT_LOADER_NAME;
        bw_put32(w, info + 64, gpa32(w, put_str(w, p->loader_name)));
    }
    bw_put32(w, info, flags);
}

/* ---- multiboot2 ---- */

/* Starts a tag of the given fixed size; returns its offset. */
static size_t tag_begin(struct bufwr *w, uint32_t type, size_t fixed)
{
    bw_take(w, 0, 8);
    size_t at = bw_take(w, fixed, 1);
    bw_put32(w, at, type);
    return at;
}

static void tag_end(struct bufwr *w, size_t at)
{
    bw_put32(w, at + 4, (uint32_t)(w->pos - at));
}

static void tag_string(struct bufwr *w, uint32_t type, const char *s)
{
    size_t at = tag_begin(w, type, 8);
    put_str(w, s);
    tag_end(w, at);
}

static void mb2_mmap(struct bufwr *w, const struct mbinfo_params *p)
{
    struct map m;
    guest_map(p, &m);
    size_t at = tag_begin(w, MB2_TAG_TYPE_MMAP, 16);
    size_t e = bw_take(w, m.n * MB2_MMAP_ENTRY_LEN, 1);

    bw_put32(w, at + 8, MB2_MMAP_ENTRY_LEN);
    bw_put32(w, at + 12, 0);   /* entry_version */
    for (unsigned i = 0; i < m.n; i++, e += MB2_MMAP_ENTRY_LEN) {
        bw_put64(w, e, m.base[i]);
        bw_put64(w, e + 8, m.len[i]);
        bw_put32(w, e + 16, m.type[i]);
        bw_put32(w, e + 20, 0);
    }
    tag_end(w, at);
}

/* The RSDP copies GRUB passes: the old tag holds its v1 part, the new one all of it. */
static void mb2_acpi(struct bufwr *w, const struct mbinfo_params *p)
{
    static const struct { uint32_t type; size_t len; } tags[] = {
        { MB2_TAG_TYPE_ACPI_OLD, RSDP_V1_LEN }, { MB2_TAG_TYPE_ACPI_NEW, RSDP_V2_LEN },
    };

    for (unsigned i = 0; p->rsdp && i < 2 && tags[i].len <= p->rsdp_len; i++) {
        size_t at = tag_begin(w, tags[i].type, 8);
        size_t d = bw_take(w, tags[i].len, 1);
        if (!w->bad)
            memcpy(w->buf + d, p->rsdp, tags[i].len);
        tag_end(w, at);
    }
}

static void build_mb2(struct bufwr *w, const struct mbinfo_params *p)
{
    size_t info = bw_take(w, 8, 1);

    tag_string(w, MB2_TAG_TYPE_CMDLINE, p->cmdline);
    if (p->loader_name)
        tag_string(w, MB2_TAG_TYPE_BOOT_LOADER_NAME, p->loader_name);
    for (unsigned i = 0; i < p->nmods; i++) {
        size_t at = tag_begin(w, MB2_TAG_TYPE_MODULE, 16);
        bw_put32(w, at + 8, (uint32_t)p->mods[i].start);
        bw_put32(w, at + 12, (uint32_t)p->mods[i].end);
        put_str(w, p->mods[i].string);
        tag_end(w, at);
    }
    size_t mi = tag_begin(w, MB2_TAG_TYPE_BASIC_MEMINFO, 16);
    bw_put32(w, mi + 4, 16);
    bw_put32(w, mi + 8, mem_lower_kb(p->ram));
    bw_put32(w, mi + 12, mem_upper_kb(p->ram));
    mb2_mmap(w, p);
    mb2_acpi(w, p);
    size_t end = tag_begin(w, MB2_TAG_TYPE_END, 8);
    bw_put32(w, end + 4, 8);
    bw_put32(w, info, (uint32_t)(w->pos - info));   /* total_size */
    bw_put32(w, info + 4, 0);
}

long mbinfo_build(void *buf, size_t bufsize, uint64_t buf_gpa, const struct mbinfo_params *p,
                  uint64_t *info_gpa)
{
    struct bufwr w = { buf, bufsize, 0, buf_gpa, false };

    if ((p->version != 1 && p->version != 2) || p->nmods > MBINFO_MAX_MODS || !mods_ok(p) ||
        buf_gpa >= FOUR_GIB || (p->ram_high && p->ram > MBINFO_HIGH_BASE) ||
        p->ram_high > UINT64_MAX - MBINFO_HIGH_BASE || !acpi_ok(p) ||
        (p->rsdp && p->rsdp_len != RSDP_V1_LEN && p->rsdp_len != RSDP_V2_LEN))
        return -1;
    bw_take(&w, 0, 8);
    *info_gpa = buf_gpa + w.pos;
    if (p->version == 1)
        build_mb1(&w, p);
    else
        build_mb2(&w, p);
    if (w.bad || w.gpa + w.pos > FOUR_GIB)
        return -1;
    return (long)w.pos;
}
