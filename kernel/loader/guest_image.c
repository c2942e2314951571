#include "kernel/loader/guest_image.h"
#include "kernel/lib/le.h"

#include <stdarg.h>
#include <stdbool.h>

#include "kernel/lib/fmt.h"
#include "kernel/lib/string.h"

#define ELF_CLASS32 1
#define ELF_CLASS64 2
#define ELF_DATA_LSB 1
#define ELF_ET_EXEC 2
#define ELF_EM_386 3
#define ELF_EM_X86_64 62
#define ELF_PT_LOAD 1
#define ELF32_EHDR_LEN 52
#define ELF64_EHDR_LEN 64
#define ELF32_PHDR_LEN 32
#define ELF64_PHDR_LEN 56
#define FOUR_GIB (1ull << 32)

/* What the multiboot header says about how to load the image. */
struct mb_hdr {
    int version;
    size_t off;                 /* file offset of the header */
    bool has_entry, has_addr;
    uint32_t entry;
    uint32_t header_addr, load_addr, load_end_addr, bss_end_addr;
};

/* Parser state: the input, the output, and the per-segment vaddrs. */
struct ctx {
    const uint8_t *p;
    size_t len;
    uint64_t ram;
    struct guest_image *out;
    uint64_t vaddr[GUEST_MAX_SEGS];
    char *err;
    size_t errlen;
};

__attribute__((format(printf, 2, 3)))
static int fail(struct ctx *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    kvsnprintf(c->err, c->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- multiboot headers ---- */

static int mb2_tag(struct ctx *c, struct mb_hdr *h, size_t pos, uint16_t type, uint32_t size)
{
    uint16_t flags = rd16(c->p, pos + 2);

    if (type == MB2_HEADER_TAG_ENTRY_ADDRESS) {
        if (size < 12)
            return fail(c, "multiboot2 entry address tag too short");
        h->has_entry = true;
        h->entry = rd32(c->p, pos + 8);
    } else if (type == MB2_HEADER_TAG_ADDRESS) {
        if (size < 24)
            return fail(c, "multiboot2 address tag too short");
        h->has_addr = true;
        h->header_addr = rd32(c->p, pos + 8);
        h->load_addr = rd32(c->p, pos + 12);
        h->load_end_addr = rd32(c->p, pos + 16);
        h->bss_end_addr = rd32(c->p, pos + 20);
    } else if (type > MB2_HEADER_TAG_RELOCATABLE && !(flags & MB2_HEADER_TAG_OPTIONAL)) {
        return fail(c, "unsupported multiboot2 header tag %u", type);
    }
    return 0;   /* other known tags (framebuffer, EFI, ...) are requests we may ignore */
}

/* Walks the tags of the mb2 header at h->off whose total length is hlen. */
static int mb2_tags(struct ctx *c, struct mb_hdr *h, size_t hlen)
{
    size_t pos = h->off + 16, end = h->off + hlen;

    while (end - pos >= 8) {
        uint16_t type = rd16(c->p, pos);
        uint32_t size = rd32(c->p, pos + 4);
        if (size < 8 || size > end - pos)
            return fail(c, "bad multiboot2 header tag (type %u, size %u)", type, size);
        if (type == MB2_HEADER_TAG_END)
            return 0;
        if (mb2_tag(c, h, pos, type, size) < 0)
            return -1;
        pos += (size + 7) & ~7u;
        if (pos > end)
            break;
    }
    return fail(c, "multiboot2 header has no end tag");
}

/* 1 if found (h filled), 0 if none, -1 on a broken header. */
static int find_mb2(struct ctx *c, struct mb_hdr *h)
{
    size_t limit = c->len < MB2_SEARCH ? c->len : MB2_SEARCH;

    for (size_t off = 0; off + 16 <= limit; off += 8) {
        uint32_t magic = rd32(c->p, off), arch = rd32(c->p, off + 4);
        uint32_t hlen = rd32(c->p, off + 8), sum = rd32(c->p, off + 12);
        if (magic != MB2_HEADER_MAGIC || (uint32_t)(magic + arch + hlen + sum) != 0)
            continue;
        if (arch != MB2_ARCHITECTURE_I386)
            return fail(c, "multiboot2 header for architecture %u, not i386", arch);
        if (hlen < 24 || hlen > limit - off)
            return fail(c, "bad multiboot2 header length %u", hlen);
        *h = (struct mb_hdr){ .version = 2, .off = off };
        return mb2_tags(c, h, hlen) < 0 ? -1 : 1;
    }
    return 0;
}

static int find_mb1(struct ctx *c, struct mb_hdr *h)
{
    size_t limit = c->len < MB1_SEARCH ? c->len : MB1_SEARCH;

    for (size_t off = 0; off + 12 <= limit; off += 4) {
        uint32_t magic = rd32(c->p, off), flags = rd32(c->p, off + 4);
        if (magic != MB1_HEADER_MAGIC || (uint32_t)(magic + flags + rd32(c->p, off + 8)) != 0)
            continue;
        if (flags & 0xFFF8u)
            return fail(c, "unsupported multiboot flags 0x%x", flags);
        *h = (struct mb_hdr){ .version = 1, .off = off };
        if (flags & MB1_FLAG_AOUT_KLUDGE) {
            if (limit - off < 32)
                return fail(c, "multiboot header truncated");
            h->has_addr = h->has_entry = true;
            h->header_addr = rd32(c->p, off + 12);
            h->load_addr = rd32(c->p, off + 16);
            h->load_end_addr = rd32(c->p, off + 20);
            h->bss_end_addr = rd32(c->p, off + 24);
            h->entry = rd32(c->p, off + 28);
        }
        return 1;
    }
    return 0;
}

static int find_header(struct ctx *c, struct mb_hdr *h)
{
    int r = find_mb2(c, h);

    if (r == 0)
        r = find_mb1(c, h);
    if (r == 0 && (c->len < 4 || memcmp(c->p, "\177ELF", 4) != 0))
        return fail(c, "not an ELF image and no multiboot header in the first 8 KiB/32 KiB");
    if (r == 0)
        return fail(c, "no multiboot header in the first 8 KiB/32 KiB");
    return r < 0 ? -1 : 0;
}

/* ---- segments ---- */

static void ram_desc(uint64_t ram, char *buf, size_t n)
{
    if (ram % (1u << 20) == 0)
        ksnprintf(buf, n, "%llu MiB", (unsigned long long)(ram >> 20));
    else
        ksnprintf(buf, n, "%llu KiB", (unsigned long long)(ram >> 10));
}

/* Checks one segment against the file, guest RAM and the others; appends it. */
static int add_segment(struct ctx *c, uint64_t paddr, uint64_t vaddr, uint64_t off,
                       uint64_t filesz, uint64_t memsz)
{
    struct guest_image *g = c->out;
    char ram[32];

    if (filesz > memsz)
        return fail(c, "segment file size 0x%llx exceeds memory size 0x%llx",
                    (unsigned long long)filesz, (unsigned long long)memsz);
    if (off > c->len || filesz > c->len - off)
        return fail(c, "segment extends past end of file");
    if (paddr >= c->ram || memsz > c->ram - paddr) {
        ram_desc(c->ram, ram, sizeof ram);
        return fail(c, "segment 0x%llx - 0x%llx outside guest RAM (%s)", (unsigned long long)paddr,
                    (unsigned long long)(paddr + memsz), ram);
    }
    for (unsigned i = 0; i < g->nseg; i++) {
        const struct guest_segment *s = &g->seg[i];
        if (paddr < s->paddr + s->memsz && s->paddr < paddr + memsz)
            return fail(c, "segments at 0x%llx and 0x%llx overlap",
                        (unsigned long long)s->paddr, (unsigned long long)paddr);
    }
    if (g->nseg >= GUEST_MAX_SEGS)
        return fail(c, "more than %d loadable segments", GUEST_MAX_SEGS);
    c->vaddr[g->nseg] = vaddr;
    g->seg[g->nseg++] = (struct guest_segment){ paddr, filesz, memsz, off };
    return 0;
}

/* Physical entry for e: inside a segment's virtual range (translated) or physical range. */
static bool entry_phys(const struct ctx *c, uint64_t e, bool try_virtual, uint64_t *phys)
{
    const struct guest_image *g = c->out;

    for (unsigned i = 0; try_virtual && i < g->nseg; i++) {
        if (e >= c->vaddr[i] && e - c->vaddr[i] < g->seg[i].memsz) {
            *phys = g->seg[i].paddr + (e - c->vaddr[i]);
            return true;
        }
    }
    for (unsigned i = 0; i < g->nseg; i++) {
        if (e >= g->seg[i].paddr && e - g->seg[i].paddr < g->seg[i].memsz) {
            *phys = e;
            return true;
        }
    }
    return false;
}

static int set_entry(struct ctx *c, uint64_t e, bool try_virtual)
{
    uint64_t phys;

    if (!entry_phys(c, e, try_virtual, &phys))
        return fail(c, "entry point 0x%llx not in a loaded segment", (unsigned long long)e);
    if (phys >= FOUR_GIB)
        return fail(c, "entry point 0x%llx above 4 GiB", (unsigned long long)phys);
    c->out->entry = phys;
    return 0;
}

/* ---- ELF ---- */

struct elf_hdr {
    bool is64;
    uint64_t entry, phoff;
    uint16_t phentsize, phnum;
};

static int elf_header(struct ctx *c, struct elf_hdr *e)
{
    const uint8_t *p = c->p;

    if (c->len < ELF32_EHDR_LEN)
        return fail(c, "truncated ELF header");
    if (p[4] != ELF_CLASS32 && p[4] != ELF_CLASS64)
        return fail(c, "unsupported ELF class %u", p[4]);
    e->is64 = p[4] == ELF_CLASS64;
    if (e->is64 && c->len < ELF64_EHDR_LEN)
        return fail(c, "truncated ELF header");
    if (p[5] != ELF_DATA_LSB)
        return fail(c, "ELF image is not little-endian");
    if (rd16(p, 16) != ELF_ET_EXEC)
        return fail(c, "ELF image is not an executable (type %u)", rd16(p, 16));
    if (rd16(p, 18) != (e->is64 ? ELF_EM_X86_64 : ELF_EM_386))
        return fail(c, "ELF machine %u is not %s", rd16(p, 18), e->is64 ? "x86-64" : "i386");
    e->entry = e->is64 ? rd64(p, 24) : rd32(p, 24);
    e->phoff = e->is64 ? rd64(p, 32) : rd32(p, 28);
    e->phentsize = rd16(p, e->is64 ? 54 : 42);
    e->phnum = rd16(p, e->is64 ? 56 : 44);
    if (e->phentsize < (e->is64 ? ELF64_PHDR_LEN : ELF32_PHDR_LEN))
        return fail(c, "bad ELF program header size %u", e->phentsize);
    if (e->phoff > c->len || (uint64_t)e->phnum * e->phentsize > c->len - e->phoff)
        return fail(c, "ELF program headers extend past end of file");
    return 0;
}

static int elf_phdr(struct ctx *c, const struct elf_hdr *e, unsigned i)
{
    const uint8_t *ph = c->p + e->phoff + (size_t)i * e->phentsize;
    uint64_t off, vaddr, paddr, filesz, memsz;

    if (rd32(ph, 0) != ELF_PT_LOAD)
        return 0;
    if (e->is64) {
        off = rd64(ph, 8); vaddr = rd64(ph, 16); paddr = rd64(ph, 24);
        filesz = rd64(ph, 32); memsz = rd64(ph, 40);
    } else {
        off = rd32(ph, 4); vaddr = rd32(ph, 8); paddr = rd32(ph, 12);
        filesz = rd32(ph, 16); memsz = rd32(ph, 20);
    }
    if (memsz == 0 && filesz == 0)
        return 0;
    return add_segment(c, paddr, vaddr, off, filesz, memsz);
}

static int load_elf(struct ctx *c, const struct mb_hdr *h)
{
    struct elf_hdr e = { 0 };

    if (elf_header(c, &e) < 0)
        return -1;
    for (unsigned i = 0; i < e.phnum; i++)
        if (elf_phdr(c, &e, i) < 0)
            return -1;
    if (c->out->nseg == 0)
        return fail(c, "no loadable segments");
    if (h->version == 2 && h->has_entry)
        return set_entry(c, h->entry, false);
    if (e.is64 && e.entry >= FOUR_GIB)
        return fail(c, "entry point 0x%llx above 4 GiB", (unsigned long long)e.entry);
    return set_entry(c, e.entry, true);
}

/* ---- a.out kludge ---- */

static int load_aout(struct ctx *c, const struct mb_hdr *h)
{
    uint64_t load = h->load_addr, hdr = h->header_addr, foff, filesz, memsz;

    if (!h->has_entry)
        return fail(c, "multiboot2 a.out image without an entry address tag");
    if (h->version == 2 && h->load_addr == 0xFFFFFFFFu) {
        if (hdr < h->off)   /* -1: load from the start of the file */
            return fail(c, "a.out kludge: header address 0x%llx too low", (unsigned long long)hdr);
        load = hdr - h->off;
    }
    if (load > hdr || hdr - load > h->off)
        return fail(c, "a.out kludge: load address 0x%llx does not match header address 0x%llx",
                    (unsigned long long)load, (unsigned long long)hdr);
    foff = h->off - (hdr - load);
    if (h->load_end_addr == 0)
        filesz = c->len - foff;
    else if (h->load_end_addr < load)
        return fail(c, "a.out kludge: load end below load address");
    else
        filesz = h->load_end_addr - load;
    memsz = filesz;
    if (h->bss_end_addr) {
        if (h->bss_end_addr < load + filesz)
            return fail(c, "a.out kludge: bss end below load end");
        memsz = h->bss_end_addr - load;
    }
    if (memsz == 0)
        return fail(c, "no loadable segments");
    if (add_segment(c, load, load, foff, filesz, memsz) < 0)
        return -1;
    return set_entry(c, h->entry, false);
}

static void bounds(struct guest_image *g)
{
    g->lo = UINT64_MAX;
    g->hi = 0;
    for (unsigned i = 0; i < g->nseg; i++) {
        if (g->seg[i].paddr < g->lo)
            g->lo = g->seg[i].paddr;
        if (g->seg[i].paddr + g->seg[i].memsz > g->hi)
            g->hi = g->seg[i].paddr + g->seg[i].memsz;
    }
}

int guest_image_parse(const void *file, size_t len, uint64_t ram_size, struct guest_image *out,
                      char *err, size_t errlen)
{
    struct ctx c = { .p = file, .len = len, .ram = ram_size, .out = out,
                     .err = err, .errlen = err ? errlen : 0 };
    struct mb_hdr h = { 0 };
    int r;

    memset(out, 0, sizeof *out);
    if (errlen && err)
        err[0] = 0;
    if (!file)
        return fail(&c, "empty module");
    if (find_header(&c, &h) < 0)
        return -1;
    out->mb_version = h.version;
    if (len >= 4 && memcmp(file, "\177ELF", 4) == 0)
        r = load_elf(&c, &h);
    else if (h.has_addr)
        r = load_aout(&c, &h);
    else
        r = fail(&c, "not an ELF or multiboot a.out image");
    if (r < 0)
        return -1;
    bounds(out);
    return 0;
}
