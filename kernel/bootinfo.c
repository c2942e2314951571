#include "kernel/bootinfo.h"
#include "boot/multiboot.h"
#include "kernel/lib/string.h"

#define BDA_EBDA_SEGMENT 0x40E

struct mb1_info {
    uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
    uint32_t syms[4];
    uint32_t mmap_length, mmap_addr;
} __attribute__((packed));

struct mb1_mod { uint32_t start, end, string, reserved; } __attribute__((packed));
struct mb1_mmap { uint32_t size; uint64_t base, len; uint32_t type; } __attribute__((packed));

struct mb2_tag { uint32_t type, size; } __attribute__((packed));
struct mb2_module { uint32_t type, size, start, end; char string[]; } __attribute__((packed));
struct mb2_mmap { uint32_t type, size, entry_size, entry_version; } __attribute__((packed));
struct mb2_mmap_entry { uint64_t base, len; uint32_t type, zero; } __attribute__((packed));
struct mb2_efi_mmap { uint32_t type, size, desc_size, desc_version; } __attribute__((packed));
/* UEFI spec EFI_MEMORY_DESCRIPTOR; desc_size may be larger than this (newer firmware). */
struct efi_mem_desc {
    uint32_t type, pad;
    uint64_t phys, virt, npages, attr;
} __attribute__((packed));
#define EFI_PAGE_SIZE 4096ull

static const char *str_or_empty(uint64_t p) { return p ? (const char *)p : ""; }

static void add_module(struct bootinfo *bi, uint64_t start, uint64_t end, const char *cmd)
{
    if (bi->nmods == BOOT_MAX_MODULES) {
        bi->dropped_mods++;
        return;
    }
    bi->mods[bi->nmods++] = (struct boot_module){ start, end, cmd };
}

static int parse_mb1(const struct mb1_info *mi, struct bootinfo *bi)
{
    bi->info_end = bi->info_start + sizeof *mi;
    if (mi->flags & MB1_INFO_CMDLINE)
        bi->cmdline = str_or_empty(mi->cmdline);
    if (mi->flags & MB1_INFO_MODS) {
        const struct mb1_mod *m = (const void *)(uint64_t)mi->mods_addr;
        for (uint32_t i = 0; i < mi->mods_count; i++)
            add_module(bi, m[i].start, m[i].end, str_or_empty(m[i].string));
    }
    if (mi->flags & MB1_INFO_MMAP) {
        uint64_t p = mi->mmap_addr, end = p + mi->mmap_length;
        while (p + sizeof(struct mb1_mmap) <= end) {
            const struct mb1_mmap *e = (const void *)p;
            memmap_add(&bi->mmap, e->base, e->len, e->type);
            bi->has_mmap = true;
            p += e->size + 4;
        }
    }
    return 0;
}

static void parse_efi_mmap(const struct mb2_tag *t, struct bootinfo *bi)
{
    const struct mb2_efi_mmap *em = (const void *)t;
    if (t->size < sizeof *em || em->desc_size < sizeof(struct efi_mem_desc))
        return;
    for (uint64_t off = sizeof *em; off + em->desc_size <= t->size; off += em->desc_size) {
        const struct efi_mem_desc *d = (const void *)((const char *)t + off);
        uint64_t len = d->npages > UINT64_MAX / EFI_PAGE_SIZE ? UINT64_MAX
                                                              : d->npages * EFI_PAGE_SIZE;
        uint32_t type = memmap_efi_type(d->type);
        struct memmap *m = &bi->efi_mmap;
        struct mem_range *last = m->n ? &m->r[m->n - 1] : 0;
        /* Firmware lists many small neighbouring pieces: merge them or the map overflows. */
        if (last && last->type == type && last->base + last->len == d->phys &&
            len <= UINT64_MAX - d->phys)
            last->len += len;
        else
            memmap_add(m, d->phys, len, type);
        bi->has_efi_mmap = true;
    }
}

static void parse_mb2_tag(const struct mb2_tag *t, struct bootinfo *bi)
{
    switch (t->type) {
    case MB2_TAG_CMDLINE:
        bi->cmdline = (const char *)(t + 1);
        break;
    case MB2_TAG_MODULE: {
        const struct mb2_module *m = (const void *)t;
        add_module(bi, m->start, m->end, m->string);
        break;
    }
    case MB2_TAG_MMAP: {
        const struct mb2_mmap *mm = (const void *)t;
        if (mm->entry_size < sizeof(struct mb2_mmap_entry))
            break;
        for (uint64_t off = sizeof *mm; off + mm->entry_size <= t->size; off += mm->entry_size) {
            const struct mb2_mmap_entry *e = (const void *)((const char *)t + off);
            memmap_add(&bi->mmap, e->base, e->len, e->type);
            bi->has_mmap = true;
        }
        break;
    }
    case MB2_TAG_EFI64:
    case MB2_TAG_EFI32:
        bi->uefi = true;
        if (t->size >= sizeof *t + 4)
            bi->efi_systab = t->type == MB2_TAG_EFI64 ? *(const uint64_t *)(t + 1)
                                                      : *(const uint32_t *)(t + 1);
        break;
    case MB2_TAG_EFI_MMAP:
        bi->uefi = true;
        parse_efi_mmap(t, bi);
        break;
    case MB2_TAG_ACPI_NEW:
    case MB2_TAG_ACPI_OLD:
        /* Prefer the ACPI 2.0 RSDP when both are given. */
        if (!bi->rsdp || t->type == MB2_TAG_ACPI_NEW) {
            bi->rsdp = t + 1;
            bi->rsdp_len = t->size - sizeof *t;
        }
        break;
    }
}

static int parse_mb2(uint64_t info, struct bootinfo *bi, const char **why)
{
    uint32_t total = *(const uint32_t *)info;
    if (total < 16 || total > (1u << 20)) {
        *why = "multiboot2 information has an impossible size";
        return -1;
    }
    bi->info_end = info + total;
    uint64_t p = info + 8;
    while (p + sizeof(struct mb2_tag) <= bi->info_end) {
        const struct mb2_tag *t = (const void *)p;
        if (t->type == MB2_TAG_END)
            return 0;
        if (t->size < sizeof *t || p + t->size > bi->info_end) {
            *why = "multiboot2 information has a malformed tag";
            return -1;
        }
        parse_mb2_tag(t, bi);
        p += (t->size + 7) & ~7u;
    }
    *why = "multiboot2 information has no end tag";
    return -1;
}

/* The BIOS data area exists only under a legacy BIOS: UEFI firmware may use page 0 freely. */
static void read_ebda(struct bootinfo *bi)
{
    if (!bi->uefi)
        bi->ebda = (uint64_t)*(volatile const uint16_t *)BDA_EBDA_SEGMENT << 4;
}

int bootinfo_parse(uint32_t magic, uint64_t info, struct bootinfo *bi, const char **why)
{
    memset(bi, 0, sizeof *bi);
    memmap_init(&bi->mmap);
    memmap_init(&bi->efi_mmap);
    bi->cmdline = "";
    bi->info_start = info;
    if (!info) {
        *why = "the loader passed no boot information";
        return -1;
    }
    if (magic == MB1_BOOTLOADER_MAGIC) {
        bi->version = 1;
        read_ebda(bi);
        return parse_mb1((const void *)info, bi);
    }
    if (magic == MB2_BOOTLOADER_MAGIC) {
        bi->version = 2;
        int r = parse_mb2(info, bi, why);
        read_ebda(bi);
        return r;
    }
    *why = "not started by a multiboot loader (bad magic)";
    return -1;
}
