#include "kernel/loader/guest_load.h"
#include "kernel/loader/acpi_build.h"
#include "kernel/loader/bzimage.h"
#include "kernel/loader/guest_image.h"
#include "kernel/loader/mbinfo.h"
#include "kernel/virt/vm.h"
#include "kernel/lib/fmt.h"
#include "kernel/lib/string.h"
#include "mm/pmm.h"

/* The info structure and its strings live in low guest RAM, below the EBDA hole. */
#define INFO_GPA        0x10000ul
#define INFO_SIZE       0x10000ul
#define CMDLINE_MAX     (GUEST_NAME_MAX + GUEST_ARGS_MAX + 2)

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

static int copy_segments(struct vm *vm, const struct boot_module *m, const struct guest_image *gi,
                         char *err, size_t errlen)
{
    for (unsigned i = 0; i < gi->nseg; i++) {
        const struct guest_segment *s = &gi->seg[i];
        if (overlaps(s->paddr, s->memsz, ACPI_BUILD_GPA, ACPI_BUILD_MAX)) {
            ksnprintf(err, errlen, "segment %#lx-%#lx overlaps the ACPI tables area %#lx-%#lx",
                      s->paddr, s->paddr + s->memsz, (unsigned long)ACPI_BUILD_GPA,
                      (unsigned long)(ACPI_BUILD_GPA + ACPI_BUILD_MAX));
            return -1;
        }
        if (overlaps(s->paddr, s->memsz, INFO_GPA, INFO_SIZE)) {
            ksnprintf(err, errlen, "segment %#lx-%#lx overlaps the boot information area "
                      "%#lx-%#lx", s->paddr, s->paddr + s->memsz, INFO_GPA, INFO_GPA + INFO_SIZE);
            return -1;
        }
        uint8_t *dst = gpa_host_ptr(&vm->mem, s->paddr, s->memsz);
        if (!dst) {
            ksnprintf(err, errlen, "segment %#lx-%#lx is outside guest RAM", s->paddr,
                      s->paddr + s->memsz);
            return -1;
        }
        memcpy(dst, (const uint8_t *)m->start + s->offset, s->filesz);
        memset(dst + s->filesz, 0, s->memsz - s->filesz);
    }
    return 0;
}

/* Guest modules go at the top of RAM, page-aligned, going down. */
static int place_modules(struct vm *vm, const struct guest_image *gi, struct mbinfo_params *p,
                         char *err, size_t errlen)
{
    uint64_t top = vm->ram_size;
    for (unsigned i = 0; i < vm->nmods && i < MBINFO_MAX_MODS; i++) {
        const struct boot_module *m = vm->mods[i];
        uint64_t len = m->end - m->start;
        uint64_t at = (top - len) & ~(PAGE_SIZE - 1);
        if (len > top || at < gi->hi || at < INFO_GPA + INFO_SIZE ||
            overlaps(at, len, ACPI_BUILD_GPA, ACPI_BUILD_MAX)) {
            ksnprintf(err, errlen, "module %u (%lu bytes) does not fit in guest RAM", i + 1, len);
            return -1;
        }
        memcpy(gpa_host_ptr(&vm->mem, at, len), (const void *)m->start, len);
        p->mods[p->nmods++] = (struct mbinfo_mod){ at, at + len, vm->mod_strings[i] };
        top = at;
    }
    return 0;
}

/* The VM's ACPI tables: the RSDP at 0xE0000, where OS scanners find it, in the reserved BIOS
 * area; the tables from the next page on, listed ACPI-reclaimable in the memory map (as firmware
 * lists its tables). p gets their place and the RSDP for the mb2 ACPI tags. */
static int load_acpi(struct vm *vm, struct mbinfo_params *p, char *err, size_t errlen)
{
    const uint64_t tables = ACPI_BUILD_GPA + PAGE_SIZE;
    struct acpi_build_cfg c;
    uint64_t rsdp;
    uint8_t *at = gpa_host_ptr(&vm->mem, ACPI_BUILD_GPA, ACPI_BUILD_MAX);
    acpi_build_defaults(&c, vm->nvcpus);
    c.gpa = tables;
    long used = at ? acpi_build(at + PAGE_SIZE, ACPI_BUILD_MAX - PAGE_SIZE, &c, &rsdp) : -1;
    if (used < 0) {
        ksnprintf(err, errlen, "cannot build the ACPI tables for %u vcpu(s)", vm->nvcpus);
        return -1;
    }
    memcpy(at, at + PAGE_SIZE + (rsdp - tables), ACPI_RSDP_LEN);
    p->acpi_base = tables;
    p->acpi_len = ((uint64_t)used + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
    p->rsdp = at;
    p->rsdp_len = ACPI_RSDP_LEN;
    return 0;
}

int guest_load_check(const struct boot_module *m, uint64_t mem, char *err, size_t errlen)
{
    const void *file = (const void *)m->start;
    size_t len = m->end - m->start;
    struct bzimage bz;
    struct guest_image gi;
    if (bzimage_detect(file, len))
        return bzimage_parse(file, len, mem < VM_LOW_RAM_MAX ? mem : VM_LOW_RAM_MAX, &bz, err,
                             errlen);
    return guest_image_parse(file, len, mem, &gi, err, errlen);
}

/* The VM's modules, one after the other (each 4-byte aligned, as GRUB's `initrd a b` does: Linux
 * unpacks concatenated cpio archives), page-aligned at the top of low RAM below max. */
static int load_initrd(struct vm *vm, const struct bzimage *bz, struct bz_boot *b, char *err,
                       size_t errlen)
{
    uint64_t total = 0, top = vm->ram_size < bz->initrd_max ? vm->ram_size : bz->initrd_max;
    for (unsigned i = 0; i < vm->nmods; i++)
        total = ((total + 3) & ~3ul) + (vm->mods[i]->end - vm->mods[i]->start);
    if (!total)
        return 0;
    uint64_t at = (top - total) & ~(PAGE_SIZE - 1);
    if (total > top || at < bz->need_end) {
        ksnprintf(err, errlen, "initrd of %lu bytes does not fit between the kernel (up to %#lx) "
                  "and %#lx", total, bz->need_end, top);
        return -1;
    }
    uint8_t *dst = gpa_host_ptr(&vm->mem, at, total);
    uint64_t off = 0;
    for (unsigned i = 0; i < vm->nmods; i++) {
        uint64_t len = vm->mods[i]->end - vm->mods[i]->start, pad = ((off + 3) & ~3ul) - off;
        memset(dst + off, 0, pad);
        memcpy(dst + off + pad, (const void *)vm->mods[i]->start, len);
        off += pad + len;
    }
    b->initrd_gpa = (uint32_t)at;
    b->initrd_len = (uint32_t)total;
    return 0;
}

#define BZ_CMDLINE_GPA  (INFO_GPA + BZ_ZERO_PAGE_LEN)
#define BZ_CMDLINE_MAX  0x1000ul
#define BZ_PT_GPA       (BZ_CMDLINE_GPA + BZ_CMDLINE_MAX)  /* PML4, PDPT, 4 page directories */
#define BZ_PT_PAGES     6
#define BZ_ENTRY64      0x200       /* startup_64 is 512 bytes into the protected-mode kernel */
#define PTE_P_RW        0x3ull
#define PDE_PS          0x80ull     /* a 2 MiB page */

/* For the 64-bit entry: the low 4 GiB identity-mapped with 2 MiB pages, which covers what the
 * boot protocol asks for (the kernel and its init_size, the zero page, the command line). */
static void identity_map(struct vm *vm)
{
    uint64_t *t = gpa_host_ptr(&vm->mem, BZ_PT_GPA, BZ_PT_PAGES * PAGE_SIZE);
    memset(t, 0, BZ_PT_PAGES * PAGE_SIZE);
    t[0] = (BZ_PT_GPA + PAGE_SIZE) | PTE_P_RW;
    for (uint64_t i = 0; i < 4; i++)
        t[512 + i] = (BZ_PT_GPA + (2 + i) * PAGE_SIZE) | PTE_P_RW;
    for (uint64_t i = 0; i < 4 * 512; i++)
        t[1024 + i] = i << 21 | PTE_P_RW | PDE_PS;
}

/* A Linux bzImage: kernel at 1 MiB, zero page and command line where the multiboot info would
 * be, the initrd at the top of low RAM. vCPU 0 starts at the 64-bit entry when the kernel has one
 * (XLF_KERNEL_64), else at the 32-bit one; RSI = the zero page either way. */
static int load_linux(struct vm *vm, char *err, size_t errlen)
{
    const uint8_t *file = (const void *)vm->image->start;
    const char *args = vm->cfg.args;
    size_t clen = strlen(args);
    struct bzimage bz;
    if (bzimage_parse(file, vm->image->end - vm->image->start, vm->ram_size, &bz, err,
                      errlen) != 0)
        return -1;
    if (clen > bz.cmdline_max || clen >= BZ_CMDLINE_MAX) {
        ksnprintf(err, errlen, "command line of %zu bytes is longer than the kernel takes (%u)",
                  clen, bz.cmdline_max);
        return -1;
    }
    memcpy(gpa_host_ptr(&vm->mem, BZ_LOAD_ADDR, bz.kernel_len), file + bz.kernel_off,
           bz.kernel_len);
    memcpy(gpa_host_ptr(&vm->mem, BZ_CMDLINE_GPA, clen + 1), args, clen + 1);
    struct mbinfo_params p = { .ram = vm->ram_size, .ram_high = vm->high_size };
    struct bz_boot b = { .cmdline_gpa = BZ_CMDLINE_GPA };
    if (load_acpi(vm, &p, err, errlen) != 0 || load_initrd(vm, &bz, &b, err, errlen) != 0)
        return -1;
    b.rsdp_gpa = ACPI_BUILD_GPA + ((const uint8_t *)p.rsdp -
                                   (const uint8_t *)gpa_host_ptr(&vm->mem, ACPI_BUILD_GPA, 1));
    static struct bz_e820 map[BZ_E820_MAX];     /* only CPU 0 loads guests */
    uint64_t base[BZ_E820_MAX], len[BZ_E820_MAX];
    uint32_t type[BZ_E820_MAX];
    b.ne820 = mbinfo_memory_map(&p, base, len, type, BZ_E820_MAX);
    for (unsigned i = 0; i < b.ne820 && i < BZ_E820_MAX; i++)
        map[i] = (struct bz_e820){ base[i], len[i], type[i] };
    b.e820 = map;
    if (bzimage_zero_page(gpa_host_ptr(&vm->mem, INFO_GPA, BZ_ZERO_PAGE_LEN), file, &bz,
                          &b) != 0) {
        ksnprintf(err, errlen, "more than %d e820 entries", BZ_E820_MAX);
        return -1;
    }
    struct vcpu *v = vm->vcpus[0];
    v->entry_rip = BZ_LOAD_ADDR;
    v->entry_cr3 = 0;
    if (bz.entry64) {
        identity_map(vm);
        v->entry_rip = BZ_LOAD_ADDR + BZ_ENTRY64;
        v->entry_cr3 = BZ_PT_GPA;
    }
    v->entry_rax = v->entry_rbx = 0;
    v->gpr[GPR_RSI] = INFO_GPA;
    return 0;
}

int guest_load(struct vm *vm, char *err, size_t errlen)
{
    const struct boot_module *m = vm->image;
    struct guest_image gi;
    if (bzimage_detect((const void *)m->start, m->end - m->start))
        return load_linux(vm, err, errlen);
    if (guest_image_parse((const void *)m->start, m->end - m->start, vm->ram_size, &gi, err,
                          errlen) != 0)
        return -1;
    if (copy_segments(vm, m, &gi, err, errlen) != 0)
        return -1;
    static char cmdline[VM_MAX][CMDLINE_MAX];
    char *cmd = cmdline[vm->id];
    ksnprintf(cmd, CMDLINE_MAX, "%s%s%s", vm->name, vm->cfg.args[0] ? " " : "", vm->cfg.args);
    struct mbinfo_params p = { .version = gi.mb_version, .ram = vm->ram_size, .cmdline = cmd,
                               .loader_name = "Keel", .ram_high = vm->high_size };
    if (load_acpi(vm, &p, err, errlen) != 0 || place_modules(vm, &gi, &p, err, errlen) != 0)
        return -1;
    uint64_t info_gpa;
    if (mbinfo_build(gpa_host_ptr(&vm->mem, INFO_GPA, INFO_SIZE), INFO_SIZE, INFO_GPA, &p,
                     &info_gpa) < 0) {
        ksnprintf(err, errlen, "multiboot information does not fit in %lu bytes", INFO_SIZE);
        return -1;
    }
    struct vcpu *v = vm->vcpus[0];
    v->entry_rip = gi.entry;
    v->entry_rax = gi.mb_version == 2 ? MB2_BOOTLOADER_MAGIC : MB1_BOOTLOADER_MAGIC;
    v->entry_rbx = info_gpa;
    v->gpr[GPR_RAX] = v->entry_rax;
    v->gpr[GPR_RBX] = v->entry_rbx;
    return 0;
}
