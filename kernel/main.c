/* Start-up, in order: console, boot information and options, memory, this CPU's tables, ACPI,
 * APIC and timers, the other CPUs, then the guests and the shell. */
#include "kernel/bootinfo.h"
#include "kernel/cmdline.h"
#include "kernel/gdb/gdb.h"
#include "kernel/log.h"
#include "kernel/percpu.h"
#include "kernel/power.h"
#include "kernel/shell/shell.h"
#include "kernel/smp.h"
#include "kernel/trap.h"
#include "kernel/version.h"
#include "kernel/virt/vm.h"
#include "kernel/x86.h"
#include "kernel/lib/string.h"
#include "mm/memmap.h"
#include "mm/paging.h"
#include "mm/pmm.h"
#include "drivers/acpi.h"
#include "drivers/lapic.h"
#include "drivers/pic.h"
#include "drivers/timer.h"
#include "drivers/wallclock.h"
#include "drivers/uart.h"
#include "boot/boot.h"

#define LOW_MEMORY_END  0x100000ull
#define SHELL_TICK_HZ   1000    /* 115200 baud fills the 16-byte FIFO in ~1.4 ms */

extern char _image_start[], _image_end[];
extern char boot_stack_top[];

static struct bootinfo bootinfo;
static struct keel_opts opts;

static void unknown_option(const char *w, size_t len, void *ctx)
{
    (void)ctx;
    kprintf("keel: unknown option '%.*s' ignored\n", (int)len, w);
}

static void reserve(struct memmap *mm, uint64_t base, uint64_t len, const char *what)
{
    if (len && memmap_reserve(mm, base, len))
        pr_debug("mm: reserved %#lx-%#lx (%s)\n", base, base + len, what);
}

/* Keeps everything the loader handed us out of the allocator's reach. */
static void reserve_boot_data(struct memmap *mm)
{
    uint64_t img = (uint64_t)_image_start, img_len = (uint64_t)_image_end - img;
    reserve(mm, img, img_len, "Keel");
    pr_debug("mm: boot info %#lx-%#lx\n", bootinfo.info_start, bootinfo.info_end);
    reserve(mm, bootinfo.info_start, bootinfo.info_end - bootinfo.info_start, "boot info");
    reserve(mm, (uint64_t)bootinfo.cmdline, strlen(bootinfo.cmdline) + 1, "cmdline");
    for (unsigned i = 0; i < bootinfo.nmods; i++) {
        const struct boot_module *m = &bootinfo.mods[i];
        reserve(mm, m->start, m->end - m->start, "module");
        reserve(mm, (uint64_t)m->cmdline, strlen(m->cmdline) + 1, "module cmdline");
    }
}

/* Loaders list the memory Keel was loaded into as usable; an entry of another type over the
 * image, or entries overlapping each other, mean the map is wrong. Keel runs from where it was
 * loaded, so it says so and lets the more restrictive type win for everything else. */
static void warn_image_overlaps(const struct memmap *mm)
{
    uint64_t img = (uint64_t)_image_start, end = (uint64_t)_image_end;
    for (unsigned i = 0; i < mm->n; i++) {
        const struct mem_range *r = &mm->r[i];
        if (r->type != MEM_USABLE && r->base < end && img < r->base + r->len)
            pr_warn("mm: memory map entry %#lx-%#lx (type %u) overlaps Keel's image %#lx-%#lx; "
                    "ignoring it there\n", r->base, r->base + r->len, r->type, img, end);
    }
}

/* test_corrupt=mmap_overlap: a reserved entry across the image and a usable entry that
 * overlaps its neighbours, as a broken loader might produce. */
static void corrupt_memmap(struct memmap *mm)
{
    uint64_t img = (uint64_t)_image_start;
    memmap_add(mm, img - 0x1000, 0x3000, MEM_RESERVED);
    memmap_add(mm, 0x80000, 0x200000, MEM_USABLE);
}

/* test_corrupt=madt_ghost_cpu: the MADT lists a CPU that is not there, as broken firmware
 * might; starting it must time out and be reported, not hang the boot. */
static void add_ghost_cpu(void)
{
    if (acpi_have_madt && acpi_madt.ncpus < MADT_MAX_CPUS)
        acpi_madt.apic_id[acpi_madt.ncpus++] = 0x7E;
}

/* The AP trampoline page must be RAM nobody else uses; under UEFI nothing guarantees that. */
static bool trampoline_page_free(const struct memmap *mm)
{
    for (unsigned i = 0; i < mm->n; i++)
        if (mm->r[i].type == MEM_USABLE && mm->r[i].base <= TRAMP_BASE &&
            TRAMP_BASE + PAGE_SIZE <= mm->r[i].base + mm->r[i].len)
            return true;
    return false;
}

/* The plain multiboot map if there is one, else the EFI memory map (UEFI loaders may give
 * only that). test_drop=mmap drops both, test_drop=plain_mmap only the plain one. */
static struct memmap *pick_memmap(void)
{
    bool drop = !strcmp(opts.test_drop, "mmap"), drop_plain = !strcmp(opts.test_drop, "plain_mmap");
    if (bootinfo.has_mmap && !drop && !drop_plain)
        return &bootinfo.mmap;
    if (bootinfo.has_efi_mmap && !drop) {
        pr_info("mm: using the EFI memory map (%u entries)%s\n", bootinfo.efi_mmap.n,
                drop_plain ? " (test_drop=plain_mmap)" : "");
        return &bootinfo.efi_mmap;
    }
    panic("no memory map from the loader%s; Keel cannot know which memory is free",
          drop ? " (test_drop=mmap)" : drop_plain ? " (test_drop=plain_mmap)" : "");
}

static bool setup_memory(void)
{
    struct memmap *mm = pick_memmap();
    if (!strcmp(opts.test_corrupt, "mmap_overlap"))
        corrupt_memmap(mm);
    warn_image_overlaps(mm);
    memmap_normalize(mm);
    for (unsigned i = 0; i < mm->n; i++)
        pr_debug("mm: %#lx-%#lx type %u\n", mm->r[i].base, mm->r[i].base + mm->r[i].len,
                 mm->r[i].type);
    reserve_boot_data(mm);
    /* After the loader's data is reserved: a module in that page would be overwritten. */
    bool tramp_ok = trampoline_page_free(mm);
    if (!tramp_ok)
        pr_warn("smp: page %#x for starting the other CPUs is not free RAM; only the boot CPU "
                "will run\n", TRAMP_BASE);
    /* Firmware leftovers (real-mode IVT, EBDA) and the trampoline: never handed out. */
    reserve(mm, 0, LOW_MEMORY_END, "low 1 MiB, trampoline");
    memmap_normalize(mm);
    pmm_init(mm);
    paging_init(mm);
    return tramp_ok;
}

/* console= first, else the firmware's SPCR UART, else COM1; nothing if no UART answers. */
static void console_setup(bool have_bootinfo)
{
    int port = opts.console;
    uint32_t baud = opts.console_baud ? opts.console_baud : UART_CLOCK_BAUD;
    const char *from = "console=";
    struct spcr_info sp;
    bool spcr = false;
    if (port == CONSOLE_AUTO && have_bootinfo && acpi_early_spcr(&bootinfo, &sp)) {
        spcr = true;
        if (sp.space == ACPI_ADR_SPACE_SYSTEM_IO && sp.addr && sp.addr <= UINT16_MAX &&
            (sp.interface == SPCR_IF_16550 || sp.interface == SPCR_IF_16450 ||
             sp.interface == SPCR_IF_16550_GAS)) {
            port = (int)sp.addr;
            baud = sp.baud;
            from = "ACPI SPCR";
        }
    }
    if (port == CONSOLE_AUTO) {
        port = COM1_BASE;
        from = spcr ? "default; the SPCR UART is not a 16550 in I/O space" : "default";
    }
    if (!uart_init((uint16_t)port, baud))
        return;
    kprintf("\nKeel %s x86-64 microhypervisor\n", KEEL_VERSION);
    if (baud)
        pr_info("console: 16550 at %#x, %u baud (%s)\n", port, baud, from);
    else
        pr_info("console: 16550 at %#x, rate as set by firmware (%s)\n", port, from);
}

void kmain(uint32_t magic, uint64_t info)
{
    percpu_init(0, 0, (uint64_t)boot_stack_top);
    gdt_load(0);
    idt_init();
    idt_load();
    pic_mask_all();

    /* The console is chosen from the options and ACPI: read them quietly first. */
    const char *why = 0;
    bool parsed = bootinfo_parse(magic, info, &bootinfo, &why) == 0;
    cmdline_parse_keel(parsed ? bootinfo.cmdline : 0, &opts, 0, 0);
    log_level = opts.loglevel;
    console_setup(parsed);
    if (!parsed)
        panic("%s", why);
    cmdline_parse_keel(bootinfo.cmdline, &opts, unknown_option, 0);
    power_off_when_done = opts.poweroff;
    pr_info("keel: multiboot%d, cmdline '%s', %u module(s)\n", bootinfo.version, bootinfo.cmdline,
            bootinfo.nmods);
    if (bootinfo.uefi)
        pr_info("keel: UEFI firmware (system table %#lx); no BIOS areas used\n",
                bootinfo.efi_systab);
    if (bootinfo.dropped_mods)
        pr_warn("keel: %u module(s) beyond the first %d ignored\n", bootinfo.dropped_mods,
                BOOT_MAX_MODULES);

    bool tramp_ok = setup_memory();
    acpi_init(&bootinfo, !strcmp(opts.test_drop, "madt"));
    if (!strcmp(opts.test_corrupt, "madt_ghost_cpu"))
        add_ghost_cpu();
    lapic_setup_mode(acpi_have_madt ? acpi_madt.lapic_addr : 0, !opts.nox2apic);
    tsc_calibrate(acpi_have_fadt ? acpi_fadt.pm_tmr_blk : 0, bootinfo.uefi);
    wallclock_init();
    smp_boot(tramp_ok ? opts.maxcpus : 1);
    vm_start_all(bootinfo.mods, bootinfo.nmods);
    if (opts.gdb[0] && !gdb_setup(opts.gdb))
        pr_warn("keel: gdb=%s: expected gdb=com2 or gdb=com2:<vm>\n", opts.gdb);
    if (power_off_when_done && vm_count_running() == 0)
        power_off(vm_exit_status());
    if (!opts.noshell) {
        /* CPU 0's tick: it wakes (or leaves its guest) regularly, so the shell always answers. */
        lapic_timer_start(SHELL_TICK_HZ);
        shell_init();
    }
    cpu_idle_loop();
}
