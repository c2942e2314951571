#include "drivers/acpi.h"
#include "kernel/bootinfo.h"
#include "kernel/log.h"
#include "kernel/x86.h"
#include "kernel/lib/string.h"

#define BIOS_AREA_START     0xE0000
#define BIOS_AREA_LEN       0x20000
#define EBDA_SCAN_LEN       1024
#define SDT_HDR_LEN         36
#define PM1_SLP_TYP_SHIFT   10
#define PM1_SLP_EN          (1u << 13)
#define PM1_SCI_EN          1u
#define ACPI_GAS_IO         1

struct madt_info acpi_madt;
bool acpi_have_madt;
struct fadt_info acpi_fadt;
bool acpi_have_fadt;
static uint8_t s5_typa, s5_typb;
static bool have_s5;

static uint32_t sdt_len(uint64_t p) { return *(const uint32_t *)(p + 4); }

static uint64_t find_rsdp(const struct bootinfo *bi, bool *xsdt)
{
    if (bi->rsdp) {
        uint64_t root = acpi_rsdp_root(bi->rsdp, bi->rsdp_len, xsdt);
        if (root)
            return root;
    }
    if (bi->uefi)
        return 0;   /* no EBDA or BIOS ROM area to scan: the loader's ACPI tag is the way */
    uint64_t ebda = bi->ebda;
    long off;
    if (ebda >= 0x80000 && ebda < 0xA0000 &&
        (off = acpi_rsdp_scan((const void *)ebda, EBDA_SCAN_LEN)) >= 0)
        return acpi_rsdp_root((const void *)(ebda + off), EBDA_SCAN_LEN - off, xsdt);
    off = acpi_rsdp_scan((const void *)BIOS_AREA_START, BIOS_AREA_LEN);
    if (off >= 0)
        return acpi_rsdp_root((const void *)(BIOS_AREA_START + off), BIOS_AREA_LEN - off, xsdt);
    return 0;
}

/* Whether [p, p + len) lies below limit (what is mapped so far); limit 0 = no limit. */
static bool below(uint64_t p, uint64_t len, uint64_t limit)
{
    return !limit || (p < limit && len <= limit - p);
}

/* Returns the physical address of the first valid table with this signature, or 0. Tables
 * not entirely below limit (0 = no limit) are not looked at. */
static uint64_t find_table_below(uint64_t root, bool xsdt, const char *sig, uint64_t limit)
{
    if (!below(root, SDT_HDR_LEN, limit))
        return 0;
    uint32_t len = sdt_len(root);
    unsigned esz = xsdt ? 8 : 4;
    if (len < SDT_HDR_LEN || len > (1u << 20) || !below(root, len, limit) ||
        !acpi_checksum_ok((const void *)root, len))
        return 0;
    for (uint32_t off = SDT_HDR_LEN; off + esz <= len; off += esz) {
        uint64_t t = xsdt ? *(const uint64_t *)(root + off) : *(const uint32_t *)(root + off);
        if (!t || !below(t, SDT_HDR_LEN, limit) || memcmp((const void *)t, sig, 4) != 0)
            continue;
        if (!below(t, sdt_len(t), limit))
            continue;
        if (sdt_len(t) >= SDT_HDR_LEN && acpi_checksum_ok((const void *)t, sdt_len(t)))
            return t;
        pr_warn("acpi: %s table at %#lx has a bad checksum; ignored\n", sig, t);
    }
    return 0;
}

static uint64_t find_table(uint64_t root, bool xsdt, const char *sig)
{
    return find_table_below(root, xsdt, sig, 0);
}

/* Before paging_init only the low 4 GiB are mapped (boot/entry.S). */
#define EARLY_MAPPED_LIMIT  (4ull << 30)

bool acpi_early_spcr(const struct bootinfo *bi, struct spcr_info *out)
{
    bool xsdt = false;
    uint64_t root = find_rsdp(bi, &xsdt);
    uint64_t t = root ? find_table_below(root, xsdt, "SPCR", EARLY_MAPPED_LIMIT) : 0;
    return t && spcr_parse((const void *)t, sdt_len(t), out) == 0;
}

static void parse_fadt(uint64_t fadt)
{
    if (fadt_parse((const void *)fadt, sdt_len(fadt), &acpi_fadt) != 0) {
        pr_warn("acpi: FADT is malformed; ignored\n");
        return;
    }
    acpi_have_fadt = true;
    uint64_t dsdt = acpi_fadt.dsdt;
    if (dsdt && sdt_len(dsdt) >= SDT_HDR_LEN && sdt_len(dsdt) < (16u << 20) &&
        acpi_find_s5((const void *)dsdt, sdt_len(dsdt), &s5_typa, &s5_typb) == 0)
        have_s5 = true;
}

void acpi_init(const struct bootinfo *bi, bool drop_madt)
{
    bool xsdt = false;
    uint64_t root = find_rsdp(bi, &xsdt);
    if (!root) {
        pr_warn("acpi: no RSDP found%s; no MADT, so only the boot CPU will run\n",
                bi->uefi ? " (UEFI: the loader gave no ACPI tag)" : "");
        return;
    }
    uint64_t madt = drop_madt ? 0 : find_table(root, xsdt, "APIC");
    if (!madt)
        pr_warn("acpi: no MADT%s; only the boot CPU will run\n", drop_madt ? " (test_drop=madt)" : "");
    else if (madt_parse((const void *)madt, sdt_len(madt), &acpi_madt) != 0)
        pr_warn("acpi: MADT is malformed (no MADT used); only the boot CPU will run\n");
    else
        acpi_have_madt = true;
    if (acpi_have_madt && acpi_madt.skipped_cpus)
        pr_warn("acpi: MADT lists %u cpu(s) beyond the %d Keel can track; they stay offline\n",
                acpi_madt.skipped_cpus, MADT_MAX_CPUS);
    uint64_t fadt = find_table(root, xsdt, "FACP");
    if (fadt)
        parse_fadt(fadt);
    pr_debug("acpi: root %#lx (%s), madt %#lx, fadt %#lx, S5 %s\n", root, xsdt ? "XSDT" : "RSDT",
             madt, fadt, have_s5 ? "found" : "not found");
}

void acpi_power_off(void)
{
    if (!acpi_have_fadt || !have_s5 || !acpi_fadt.pm1a_cnt)
        return;
    if (!(inw(acpi_fadt.pm1a_cnt) & PM1_SCI_EN) && acpi_fadt.smi_cmd && acpi_fadt.acpi_enable) {
        outb(acpi_fadt.smi_cmd, acpi_fadt.acpi_enable);
        for (unsigned spin = 0; spin < 1000000 && !(inw(acpi_fadt.pm1a_cnt) & PM1_SCI_EN); spin++)
            cpu_relax();
    }
    outw(acpi_fadt.pm1a_cnt, (uint16_t)(s5_typa << PM1_SLP_TYP_SHIFT | PM1_SLP_EN));
    if (acpi_fadt.pm1b_cnt)
        outw(acpi_fadt.pm1b_cnt, (uint16_t)(s5_typb << PM1_SLP_TYP_SHIFT | PM1_SLP_EN));
}

void acpi_reset(void)
{
    if (!acpi_have_fadt || !acpi_fadt.reset_supported)
        return;
    if (acpi_fadt.reset_space == ACPI_GAS_IO)
        outb((uint16_t)acpi_fadt.reset_addr, acpi_fadt.reset_value);
    else if (acpi_fadt.reset_addr)
        *(volatile uint8_t *)acpi_fadt.reset_addr = acpi_fadt.reset_value;
}
