#include "kernel/loader/guest_load.h"
#include "kernel/loader/acpi_build.h"
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

int guest_load(struct vm *vm, char *err, size_t errlen)
{
    const struct boot_module *m = vm->image;
    struct guest_image gi;
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
