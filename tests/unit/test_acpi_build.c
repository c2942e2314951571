#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "drivers/acpi_tables.h"
#include "kernel/loader/acpi_build.h"

#define BUF_SIZE 0x20000

static uint8_t buf[BUF_SIZE];

static uint16_t r16(const uint8_t *p, size_t off) { uint16_t v; memcpy(&v, p + off, 2); return v; }
static uint32_t r32(const uint8_t *p, size_t off) { uint32_t v; memcpy(&v, p + off, 4); return v; }
static uint64_t r64(const uint8_t *p, size_t off) { uint64_t v; memcpy(&v, p + off, 8); return v; }

/* Guest address -> pointer, with the whole object inside the bytes written. */
static const uint8_t *at(uint64_t gpa, long used, uint64_t a, size_t n)
{
    if (!CHECK(a >= gpa && a - gpa + n <= (uint64_t)used))
        return NULL;
    return buf + (a - gpa);
}

/* Decodes an AML PkgLength (ACPI 6.x 20.2.4) at p; returns its value, *n = bytes it takes. */
static uint32_t pkg_len(const uint8_t *p, size_t avail, size_t *n)
{
    unsigned follow = p[0] >> 6;
    if (!CHECK(avail >= 1 + follow))
        return 0;
    *n = 1 + follow;
    if (!follow)
        return p[0] & 0x3F;
    uint32_t v = p[0] & 0x0F;
    for (unsigned i = 0; i < follow; i++)
        v |= (uint32_t)p[1 + i] << (4 + 8 * i);
    return v;
}

/* The DSDT's AML: a list of Name(NameSeg, Package) terms whose lengths must end exactly at the
 * table's end; the package elements are ZeroOp/OneOp/BytePrefix constants. */
static void check_aml(const uint8_t *t, uint32_t len)
{
    size_t off = ACPI_SDT_HDR_LEN;
    unsigned names = 0;
    while (off < len) {
        if (!CHECK(t[off] == 0x08) || !CHECK(len - off >= 6))
            return;
        off += 5;                                  /* NameOp + NameSeg */
        if (!CHECK(t[off] == 0x12))
            return;
        off++;
        size_t n;
        uint32_t pl = pkg_len(t + off, len - off, &n);
        if (!CHECK(pl >= n + 1 && pl <= len - off))
            return;
        size_t end = off + pl, e = off + n + 1;
        unsigned count = t[off + n], elems = 0;
        while (e < end) {
            if (t[e] == 0x0A)
                e += 2;
            else
                CHECK(t[e] == 0x00 || t[e] == 0x01), e++;
            elems++;
        }
        CHECK_EQ_U64(e, end);
        CHECK_EQ_U64(elems, count);
        off = end;
        names++;
    }
    CHECK_EQ_U64(off, len);
    CHECK_EQ_U64(names, 1);
    uint8_t a = 0xAA, b = 0xAA;
    CHECK_EQ_U64(acpi_find_s5(t, len, &a, &b), 0);
    CHECK_EQ_U64(a, ACPI_BUILD_S5_SLP_TYP);
    CHECK_EQ_U64(b, ACPI_BUILD_S5_SLP_TYP);
}

/* Every MADT entry by hand: each vCPU once, with the right kind of entry and flags. */
static void check_madt_entries(const uint8_t *m, uint32_t len, unsigned ncpus)
{
    static unsigned char seen[1024];
    unsigned nmi = 0, x2nmi = 0, iso = 0, cpus = 0;
    memset(seen, 0, sizeof seen);
    for (uint32_t off = 44; off < len;) {
        uint8_t type = m[off], el = m[off + 1];
        if (!CHECK(el >= 2 && off + el <= len))
            return;
        const uint8_t *e = m + off;
        switch (type) {
        case 0:
            CHECK_EQ_U64(el, 8);
            CHECK(e[3] < 255 && e[3] == e[2] && !seen[e[3]]);
            CHECK_EQ_U64(r32(e, 4), 1);
            seen[e[3]] = 1, cpus++;
            break;
        case 9:
            CHECK_EQ_U64(el, 16);
            CHECK(r32(e, 4) >= 255 && r32(e, 4) < ncpus && !seen[r32(e, 4)]);
            CHECK_EQ_U64(r32(e, 12), r32(e, 4));
            CHECK_EQ_U64(r32(e, 8), 1);
            seen[r32(e, 4) & 1023] = 1, cpus++;
            break;
        case 4:
            CHECK_EQ_U64(el, 6);
            CHECK_EQ_U64(e[2], 0xFF);
            CHECK_EQ_U64(e[5], 1);
            nmi++;
            break;
        case 10:
            CHECK_EQ_U64(el, 12);
            CHECK_EQ_U64(r32(e, 4), 0xFFFFFFFFu);
            CHECK_EQ_U64(e[8], 1);
            x2nmi++;
            break;
        case 2:
            iso++;
            break;
        }
        off += el;
    }
    CHECK_EQ_U64(cpus, ncpus);
    CHECK_EQ_U64(nmi, 1);
    CHECK_EQ_U64(x2nmi, ncpus > 255 ? 1 : 0);
    CHECK_EQ_U64(iso, 2);
}

static void check_fadt(const uint8_t *f, uint32_t len, uint64_t gpa, long used)
{
    struct fadt_info fi;
    CHECK_EQ_U64(len, 276);
    CHECK_EQ_U64(f[8], 6);
    if (!CHECK(fadt_parse(f, len, &fi) == 0))
        return;
    CHECK_EQ_U64(fi.pm1a_cnt, 0x604);
    CHECK_EQ_U64(fi.pm1b_cnt, 0);
    CHECK_EQ_U64(fi.pm_tmr_blk, 0x608);
    CHECK(!fi.tmr_32bit);
    CHECK_EQ_U64(fi.reset_space, ACPI_ADR_SPACE_SYSTEM_IO);
    CHECK_EQ_U64(fi.reset_addr, 0xCF9);
    CHECK_EQ_U64(fi.reset_value, 6);
    CHECK(fi.reset_supported);
    CHECK_EQ_U64(fi.smi_cmd, 0);
    CHECK_EQ_U64(r16(f, 46), 9);                      /* SCI_INT */
    CHECK_EQ_U64(r32(f, 56), 0x600);                  /* PM1a_EVT_BLK */
    CHECK_EQ_U64(f[88], 4);
    CHECK_EQ_U64(f[89], 2);
    CHECK_EQ_U64(f[91], 4);
    CHECK_EQ_U64(f[108], 0x32);                       /* CENTURY */
    CHECK((r32(f, 112) & ACPI_FADT_RESET_REG_SUP) != 0);
    CHECK_EQ_U64(r32(f, 112) & ACPI_FADT_TMR_VAL_EXT, 0);
    CHECK_EQ_U64(f[148], 1);                          /* X_PM1a_EVT_BLK: I/O, 32 bits */
    CHECK_EQ_U64(f[149], 32);
    CHECK_EQ_U64(r64(f, 152), 0x600);
    CHECK_EQ_U64(f[173], 16);                         /* X_PM1a_CNT_BLK */
    CHECK_EQ_U64(r64(f, 176), 0x604);
    CHECK_EQ_U64(f[209], 32);                         /* X_PM_TMR_BLK */
    CHECK_EQ_U64(r64(f, 212), 0x608);
    /* FACS: 64-byte aligned, 64 bytes, no X_FIRMWARE_CTRL alongside FIRMWARE_CTRL */
    uint32_t facs = r32(f, 36);
    CHECK_EQ_U64(facs % 64, 0);
    CHECK_EQ_U64(r64(f, 132), 0);
    const uint8_t *fa = at(gpa, used, facs, 64);
    if (fa) {
        CHECK(!memcmp(fa, "FACS", 4));
        CHECK_EQ_U64(r32(fa, 4), 64);
    }
    /* DSDT: both pointers agree */
    CHECK_EQ_U64(r32(f, 40), fi.dsdt);
    const uint8_t *d = at(gpa, used, fi.dsdt, ACPI_SDT_HDR_LEN);
    uint32_t dlen = d ? acpi_sdt_valid(d, (size_t)used - (fi.dsdt - gpa), "DSDT") : 0;
    if (CHECK(dlen > ACPI_SDT_HDR_LEN))
        check_aml(d, dlen);
}

static void check_tables(unsigned ncpus, uint64_t gpa)
{
    struct acpi_build_cfg c;
    uint64_t rsdp;
    acpi_build_defaults(&c, ncpus);
    c.gpa = gpa;
    memset(buf, 0xCC, sizeof buf);
    long used = acpi_build(buf, sizeof buf, &c, &rsdp);
    if (!CHECK(used > 0))
        return;
    CHECK_EQ_U64(rsdp, gpa);
    CHECK_EQ_U64(rsdp % 16, 0);
    /* Keel's own scan finds it, as a guest OS scanning 0xE0000-0xFFFFF would */
    CHECK_EQ_U64(acpi_rsdp_scan(buf, (size_t)used), 0);
    bool x;
    uint64_t xsdt = acpi_rsdp_root(buf, (size_t)used, &x);
    CHECK(x);
    CHECK(acpi_checksum_ok(buf, 20));
    CHECK(acpi_checksum_ok(buf, 36));
    CHECK_EQ_U64(buf[15], 2);
    uint64_t rsdt_a = r32(buf, 16);
    const uint8_t *roots[2] = { at(gpa, used, xsdt, 36), at(gpa, used, rsdt_a, 36) };
    uint64_t found[2][2] = { { 0 } };
    for (int k = 0; k < 2; k++) {
        if (!roots[k])
            return;
        size_t avail = (size_t)used - (size_t)(roots[k] - buf);
        if (!CHECK(acpi_sdt_valid(roots[k], avail, k ? "RSDT" : "XSDT")))
            return;
        CHECK_EQ_U64(acpi_root_count(roots[k], !k), 2);
        for (unsigned i = 0; i < 2; i++)
            found[k][i] = acpi_root_entry(roots[k], !k, i);
    }
    CHECK_EQ_U64(found[0][0], found[1][0]);
    CHECK_EQ_U64(found[0][1], found[1][1]);
    unsigned fadts = 0, madts = 0;
    for (unsigned i = 0; i < 2; i++) {
        const uint8_t *t = at(gpa, used, found[0][i], 36);
        if (!t)
            continue;
        size_t avail = (size_t)used - (size_t)(t - buf);
        uint32_t len = r32(t, 4);
        CHECK(len <= avail && acpi_checksum_ok(t, len));
        if (!memcmp(t, "FACP", 4)) {
            fadts++;
            check_fadt(t, len, gpa, used);
        } else if (!memcmp(t, "APIC", 4)) {
            madts++;
            struct madt_info mi;
            if (!CHECK(madt_parse(t, avail, &mi) == 0))
                continue;
            CHECK_EQ_U64(mi.lapic_addr, 0xFEE00000u);
            CHECK(mi.pcat_compat);
            CHECK_EQ_U64(mi.ncpus + mi.skipped_cpus, ncpus);
            for (unsigned k = 0; k < mi.ncpus; k++)
                CHECK_EQ_U64(mi.apic_id[k], k);
            CHECK_EQ_U64(mi.nioapic, 1);
            CHECK_EQ_U64(mi.ioapic[0].addr, 0xFEC00000u);
            CHECK_EQ_U64(mi.ioapic[0].id, 0);
            CHECK_EQ_U64(mi.ioapic[0].gsi_base, 0);
            CHECK_EQ_U64(mi.noverride, 2);
            CHECK_EQ_U64(mi.override[0].bus_irq, 0);
            CHECK_EQ_U64(mi.override[0].gsi, 2);
            CHECK_EQ_U64(mi.override[0].flags, 0x5);     /* edge, active high */
            CHECK_EQ_U64(mi.override[1].bus_irq, 9);
            CHECK_EQ_U64(mi.override[1].gsi, 9);
            CHECK_EQ_U64(mi.override[1].flags, 0xF);     /* level, active low */
            check_madt_entries(t, len, ncpus);
        }
    }
    CHECK_EQ_U64(fadts, 1);
    CHECK_EQ_U64(madts, 1);
    /* nothing past what it says it used was touched */
    for (size_t i = (size_t)used; i < sizeof buf; i++)
        if (buf[i] != 0xCC) {
            CHECK(!"byte written past the returned size");
            break;
        }
}

static void test_sizes(void)
{
    static const unsigned n[] = { 1, 4, 16, 64, 65, 254, 255, 256, 300 };
    for (unsigned i = 0; i < sizeof n / sizeof n[0]; i++) {
        check_tables(n[i], ACPI_BUILD_GPA);
        check_tables(n[i], 0x7FFF0000);
    }
}

/* A few hundred bytes for a small VM: it fits the BIOS area with room to spare. */
static void test_fits_bios_area(void)
{
    struct acpi_build_cfg c;
    uint64_t rsdp;
    acpi_build_defaults(&c, 64);
    long used = acpi_build(buf, sizeof buf, &c, &rsdp);
    CHECK(used > 0 && used < 2048);
    CHECK(ACPI_BUILD_GPA + (uint64_t)used <= 0x100000);
}

static void test_rejects(void)
{
    struct acpi_build_cfg c;
    uint64_t rsdp;
    acpi_build_defaults(&c, 0);
    CHECK_EQ_U64(acpi_build(buf, sizeof buf, &c, &rsdp), -1);
    acpi_build_defaults(&c, 256);
    c.x2apic = false;
    CHECK_EQ_U64(acpi_build(buf, sizeof buf, &c, &rsdp), -1);
    c.ncpus = 255;
    CHECK(acpi_build(buf, sizeof buf, &c, &rsdp) > 0);
    acpi_build_defaults(&c, 1);
    c.gpa = 0xE0008;
    CHECK_EQ_U64(acpi_build(buf, sizeof buf, &c, &rsdp), -1);
    c.gpa = 0xFFFFF000;
    CHECK_EQ_U64(acpi_build(buf, sizeof buf, &c, &rsdp), -1);
    CHECK(acpi_build(buf, 0x1000, &c, &rsdp) > 0);
    /* every size short of the need fails cleanly, without writing past cap */
    acpi_build_defaults(&c, 4);
    long need = acpi_build(buf, sizeof buf, &c, &rsdp);
    for (long cap = 0; cap < need; cap++) {
        uint8_t *small = malloc((size_t)cap + 1);
        CHECK_EQ_U64(acpi_build(small, (size_t)cap, &c, &rsdp), -1);
        free(small);
    }
}

int main(void)
{
    RUN(test_sizes);
    RUN(test_fits_bios_area);
    RUN(test_rejects);
    return check_summary("test_acpi_build");
}
