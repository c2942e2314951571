#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "drivers/acpi_tables.h"

/* ---- builders ---- */

static void put16(uint8_t *p, size_t off, uint16_t v) { memcpy(p + off, &v, 2); }
static void put32(uint8_t *p, size_t off, uint32_t v) { memcpy(p + off, &v, 4); }
static void put64(uint8_t *p, size_t off, uint64_t v) { memcpy(p + off, &v, 8); }

static void fix_checksum(uint8_t *p, size_t len, size_t at)
{
    uint8_t sum = 0;
    p[at] = 0;
    for (size_t i = 0; i < len; i++)
        sum = (uint8_t)(sum + p[i]);
    p[at] = (uint8_t)(0 - sum);
}

static size_t make_rsdp(uint8_t *p, int rev, uint32_t rsdt, uint64_t xsdt)
{
    memset(p, 0, 36);
    memcpy(p, "RSD PTR ", 8);
    memcpy(p + 9, "KEELOE", 6);
    p[15] = (uint8_t)rev;
    put32(p, 16, rsdt);
    fix_checksum(p, 20, 8);
    if (rev < 2)
        return 20;
    put32(p, 20, 36);
    put64(p, 24, xsdt);
    fix_checksum(p, 36, 32);
    return 36;
}

static void sdt_header(uint8_t *p, const char *sig, uint32_t len, uint8_t rev)
{
    memset(p, 0, 36);
    memcpy(p, sig, 4);
    put32(p, 4, len);
    p[8] = rev;
    memcpy(p + 10, "KEELOE", 6);
    memcpy(p + 16, "KEELTBL ", 8);
}

static void finish_sdt(uint8_t *p)
{
    uint32_t len;
    memcpy(&len, p + 4, 4);
    fix_checksum(p, len, 9);
}

/* A MADT like QEMU's: 4 CPUs (one disabled), an IOAPIC, overrides, NMI entries. */
static size_t make_madt(uint8_t *p)
{
    size_t off = 44;

    sdt_header(p, "APIC", 0, 3);
    put32(p, 36, 0xFEE00000);
    put32(p, 40, 1);
    for (int i = 0; i < 4; i++) {
        uint8_t *e = p + off;
        e[0] = 0; e[1] = 8; e[2] = (uint8_t)i; e[3] = (uint8_t)i;
        put32(e, 4, i == 2 ? 0 : 1);
        off += 8;
    }
    uint8_t *io = p + off;
    io[0] = 1; io[1] = 12; io[2] = 7; io[3] = 0;
    put32(io, 4, 0xFEC00000);
    put32(io, 8, 0);
    off += 12;
    for (int i = 0; i < 2; i++) {
        uint8_t *o = p + off;
        o[0] = 2; o[1] = 10; o[2] = 0; o[3] = i ? 9 : 0;
        put32(o, 4, i ? 9 : 2);
        put16(o, 8, i ? 0xD : 0);
        off += 10;
    }
    uint8_t *nmi = p + off;   /* type 4, local APIC NMI: skipped */
    nmi[0] = 4; nmi[1] = 6; nmi[2] = 0xFF; put16(nmi, 3, 5); nmi[5] = 1;
    off += 6;
    put32(p, 4, (uint32_t)off);
    finish_sdt(p);
    return off;
}

static size_t make_fadt(uint8_t *p, uint32_t len)
{
    memset(p, 0, len);
    sdt_header(p, "FACP", len, len >= 244 ? 3 : 1);
    put32(p, 40, 0x7FE0040);         /* DSDT */
    put32(p, 48, 0xB2);              /* SMI_CMD */
    p[52] = 0xF1;                    /* ACPI_ENABLE */
    put32(p, 64, 0x604);             /* PM1a_CNT */
    put32(p, 76, 0x608);             /* PM_TMR */
    put32(p, 112, ACPI_FADT_TMR_VAL_EXT | ACPI_FADT_RESET_REG_SUP);
    if (len >= 129) {
        p[116] = ACPI_ADR_SPACE_SYSTEM_IO;
        p[117] = 8;
        put64(p, 120, 0xCF9);
        p[128] = 0x06;
    }
    finish_sdt(p);
    return len;
}

/* AML: Scope(\) { Name(_S5_, Package(4){ a, b, 0, 0 }) } with encodings chosen by kind. */
static size_t make_dsdt(uint8_t *p, int kind)
{
    size_t off = 36;

    sdt_header(p, "DSDT", 0, 2);
    /* a decoy reference to _S5_ that is not a Name() */
    const uint8_t decoy[] = { 0x14, 0x08, '_', 'P', 'T', 'S', 0x01, 0x70, '_', 'S', '5', '_', 0x60 };
    memcpy(p + off, decoy, sizeof decoy);
    off += sizeof decoy;
    p[off++] = 0x08;
    if (kind == 1)
        p[off++] = '\\';
    memcpy(p + off, "_S5_", 4);
    off += 4;
    p[off++] = 0x12;
    if (kind == 2) {                 /* 2-byte PkgLength */
        p[off++] = 0x40 | 0x0A;
        p[off++] = 0x00;
    } else {
        p[off++] = 0x0A;
    }
    p[off++] = 4;
    if (kind == 0) {
        p[off++] = 0x0A; p[off++] = 0x05;
        p[off++] = 0x0A; p[off++] = 0x07;
    } else if (kind == 1) {
        p[off++] = 0x00;
        p[off++] = 0x01;
    } else {
        p[off++] = 0x0B; p[off++] = 0x03; p[off++] = 0x00;
        p[off++] = 0xFF;
    }
    p[off++] = 0x00;
    p[off++] = 0x00;
    put32(p, 4, (uint32_t)off);
    finish_sdt(p);
    return off;
}

/* ---- tests ---- */

static void test_checksum(void)
{
    uint8_t b[4] = { 1, 2, 3, 0xFA };

    CHECK(acpi_checksum_ok(b, 4));
    CHECK(!acpi_checksum_ok(b, 3));
    CHECK(acpi_checksum_ok(b, 0));
}

static void test_rsdp(void)
{
    uint8_t p[64];
    bool x;

    make_rsdp(p, 0, 0x7FE1000, 0);
    CHECK_EQ_U64(acpi_rsdp_root(p, 20, &x), 0x7FE1000);
    CHECK(!x);
    CHECK_EQ_U64(acpi_rsdp_root(p, 19, &x), 0);
    p[9] ^= 1;
    CHECK_EQ_U64(acpi_rsdp_root(p, 20, &x), 0);

    make_rsdp(p, 2, 0x7FE1000, 0x7FE2000);
    CHECK_EQ_U64(acpi_rsdp_root(p, 36, &x), 0x7FE2000);
    CHECK(x);
    CHECK_EQ_U64(acpi_rsdp_root(p, 35, &x), 0);
    p[30] ^= 1;                              /* breaks only the extended checksum */
    CHECK_EQ_U64(acpi_rsdp_root(p, 36, &x), 0);

    make_rsdp(p, 2, 0x7FE1000, 0);           /* rev 2 without XSDT: use the RSDT */
    CHECK_EQ_U64(acpi_rsdp_root(p, 36, &x), 0x7FE1000);
    CHECK(!x);
    make_rsdp(p, 0, 0, 0);
    CHECK_EQ_U64(acpi_rsdp_root(p, 20, &x), 0);

    make_rsdp(p, 2, 1, 2);
    put32(p, 20, 20);                        /* length too small for rev 2 */
    fix_checksum(p, 36, 32);
    CHECK_EQ_U64(acpi_rsdp_root(p, 36, &x), 0);
}

static void test_rsdp_scan(void)
{
    static uint8_t area[0x20000];
    uint8_t r[36];

    memset(area, 0, sizeof area);
    CHECK_EQ_U64(acpi_rsdp_scan(area, sizeof area), -1);
    memcpy(area + 0x100, "RSD PTR ", 8);     /* signature only: bad checksum */
    memcpy(area + 0x208, "RSD PTR ", 8);     /* misaligned */
    make_rsdp(r, 2, 0xE1000, 0);
    memcpy(area + 0xF6A0, r, 36);
    CHECK_EQ_U64(acpi_rsdp_scan(area, sizeof area), 0xF6A0);
    memcpy(area + 0x1FFF0, r, 16);           /* truncated at the end */
    CHECK_EQ_U64(acpi_rsdp_scan(area + 0x1FF00, 0x100), -1);
    CHECK_EQ_U64(acpi_rsdp_scan(area, 0), -1);
    CHECK_EQ_U64(acpi_rsdp_scan(area, 19), -1);
    make_rsdp(r, 0, 0x1234, 0);              /* v1 ending exactly at the end */
    memcpy(area + 0x1FFE0, r, 20);
    CHECK_EQ_U64(acpi_rsdp_scan(area + 0x1FF00, 0xF4), 0xE0);
    CHECK_EQ_U64(acpi_rsdp_scan(area + 0x1FF00, 0xF3), -1);
}

static void test_root_and_sdt(void)
{
    uint8_t t[64];

    sdt_header(t, "XSDT", 36 + 16, 1);
    put64(t, 36, 0x7FE3000);
    put64(t, 44, 0x1FFFE4000ull);
    finish_sdt(t);
    CHECK_EQ_U64(acpi_sdt_valid(t, 52, "XSDT"), 52);
    CHECK_EQ_U64(acpi_sdt_valid(t, 51, "XSDT"), 0);
    CHECK_EQ_U64(acpi_sdt_valid(t, 52, "RSDT"), 0);
    CHECK_EQ_U64(acpi_root_count(t, true), 2);
    CHECK_EQ_U64(acpi_root_entry(t, true, 1), 0x1FFFE4000ull);
    CHECK_EQ_U64(acpi_root_entry(t, true, 2), 0);
    CHECK_EQ_U64(acpi_root_count(t, false), 4);
    CHECK_EQ_U64(acpi_root_entry(t, false, 0), 0x7FE3000);
    put32(t, 4, 20);
    CHECK_EQ_U64(acpi_sdt_valid(t, 64, "XSDT"), 0);
    CHECK_EQ_U64(acpi_root_count(t, true), 0);
}

static void test_madt(void)
{
    uint8_t t[512];
    struct madt_info mi;
    size_t n = make_madt(t);

    CHECK_EQ_U64(madt_parse(t, n, &mi), 0);
    CHECK_EQ_U64(mi.lapic_addr, 0xFEE00000);
    CHECK(mi.pcat_compat);
    CHECK_EQ_U64(mi.ncpus, 3);
    CHECK_EQ_U64(mi.apic_id[0], 0);
    CHECK_EQ_U64(mi.apic_id[1], 1);
    CHECK_EQ_U64(mi.apic_id[2], 3);
    CHECK_EQ_U64(mi.nioapic, 1);
    CHECK_EQ_U64(mi.ioapic[0].id, 7);
    CHECK_EQ_U64(mi.ioapic[0].addr, 0xFEC00000);
    CHECK_EQ_U64(mi.noverride, 2);
    CHECK_EQ_U64(mi.override[0].bus_irq, 0);
    CHECK_EQ_U64(mi.override[0].gsi, 2);
    CHECK_EQ_U64(mi.override[1].bus_irq, 9);
    CHECK_EQ_U64(mi.override[1].flags, 0xD);
    CHECK_EQ_U64(mi.skipped_cpus, 0);
    CHECK_EQ_U64(madt_parse(t, n - 1, &mi), -1);     /* length beyond the buffer */
    t[50] ^= 0x40;
    CHECK_EQ_U64(madt_parse(t, n, &mi), -1);         /* checksum */
}

static void test_madt_entries(void)
{
    static uint8_t t[4096];
    struct madt_info mi;
    size_t off = 44;

    sdt_header(t, "APIC", 0, 5);
    put32(t, 36, 0xFEE00000);
    /* x2APIC CPUs, one duplicating an xAPIC entry, one online-capable, one invalid id */
    for (uint32_t i = 0; i < 70; i++) {
        uint8_t *e = t + off;
        memset(e, 0, 16);
        e[0] = 9; e[1] = 16;
        put32(e, 4, i == 69 ? 0xFFFFFFFFu : 0x100 + i);
        put32(e, 8, i == 5 ? ACPI_MADT_ONLINE_CAPABLE : ACPI_MADT_ENABLED);
        off += 16;
    }
    uint8_t *dup = t + off;
    dup[0] = 0; dup[1] = 8; dup[2] = 0; dup[3] = 0xFF;   /* xAPIC id 0xFF is invalid */
    put32(dup, 4, 1);
    off += 8;
    uint8_t *ov = t + off;   /* 64-bit LAPIC address override */
    memset(ov, 0, 12);
    ov[0] = 5; ov[1] = 12;
    put64(ov, 4, 0xFEE10000);
    off += 12;
    for (int i = 0; i < 10; i++) {   /* more IOAPICs than fit */
        uint8_t *io = t + off;
        memset(io, 0, 12);
        io[0] = 1; io[1] = 12; io[2] = (uint8_t)i;
        put32(io, 4, 0xFEC00000 + 0x1000 * i);
        put32(io, 8, 24 * i);
        off += 12;
    }
    uint8_t *big = t + off;   /* a longer-than-known entry of a known type is fine */
    memset(big, 0, 20);
    big[0] = 2; big[1] = 20; big[3] = 4;
    put32(big, 4, 4);
    off += 20;
    put32(t, 4, (uint32_t)off);
    finish_sdt(t);
    CHECK_EQ_U64(madt_parse(t, off, &mi), 0);
    CHECK_EQ_U64(mi.ncpus, 69);                      /* 70 x2APIC entries, one invalid id */
    CHECK_EQ_U64(mi.skipped_cpus, 0);
    CHECK_EQ_U64(mi.apic_id[5], 0x105);
    CHECK_EQ_U64(mi.lapic_addr, 0xFEE10000);
    CHECK_EQ_U64(mi.nioapic, MADT_MAX_IOAPICS);
    CHECK_EQ_U64(mi.ioapic[7].gsi_base, 24 * 7);
    CHECK_EQ_U64(mi.noverride, 1);
    CHECK(!mi.pcat_compat);

    /* entry lengths that must be rejected */
    const uint8_t bad_lens[][2] = { { 0, 7 }, { 9, 15 }, { 1, 11 }, { 2, 9 }, { 5, 11 }, { 77, 0 }, { 77, 1 } };
    for (size_t k = 0; k < sizeof bad_lens / sizeof bad_lens[0]; k++) {
        uint8_t s[128];
        sdt_header(s, "APIC", 44 + 16, 1);
        memset(s + 44, 0, 16);
        s[44] = bad_lens[k][0];
        s[45] = bad_lens[k][1];
        s[44 + 8] = 0x0;   /* padding entry start if the first were accepted */
        finish_sdt(s);
        CHECK_EQ_U64(madt_parse(s, 60, &mi), -1);
    }
    /* an entry running past the table end */
    uint8_t s[64];
    sdt_header(s, "APIC", 44 + 8, 1);
    memset(s + 44, 0, 8);
    s[44] = 0; s[45] = 16;
    finish_sdt(s);
    CHECK_EQ_U64(madt_parse(s, sizeof s, &mi), -1);
    /* one trailing byte */
    sdt_header(s, "APIC", 45, 1);
    s[44] = 0;
    finish_sdt(s);
    CHECK_EQ_U64(madt_parse(s, sizeof s, &mi), -1);
    /* empty MADT is fine */
    sdt_header(s, "APIC", 44, 1);
    put32(s, 36, 0xFEE00000);
    finish_sdt(s);
    CHECK_EQ_U64(madt_parse(s, 44, &mi), 0);
    CHECK_EQ_U64(mi.ncpus, 0);
    /* too short for the MADT fields */
    sdt_header(s, "APIC", 40, 1);
    finish_sdt(s);
    CHECK_EQ_U64(madt_parse(s, sizeof s, &mi), -1);
}

/* A big machine as firmware describes it: xAPIC entries (type 0) for ids 0-254, x2APIC entries
 * (type 9) for ids 255 and up (ids above 255 need x2APIC mode), some CPUs listed twice
 * (both types), disabled and online-capable ones, and more CPUs than MADT_MAX_CPUS. */
static size_t big_madt(uint8_t *t, unsigned nx2)
{
    size_t off = 44;

    sdt_header(t, "APIC", 0, 5);
    put32(t, 36, 0xFEE00000);
    for (unsigned i = 0; i < 255; i++) {
        uint8_t *e = t + off;
        e[0] = 0; e[1] = 8; e[2] = (uint8_t)i; e[3] = (uint8_t)i;
        put32(e, 4, i == 17 ? 0 : ACPI_MADT_ENABLED);          /* apic 17 disabled */
        off += 8;
    }
    for (unsigned i = 0; i < nx2; i++) {
        uint8_t *e = t + off;
        memset(e, 0, 16);
        e[0] = 9; e[1] = 16;
        uint32_t id = i < 3 ? i : 255 + i;     /* ids 0-2 again (dup of type 0), then 258.. */
        put32(e, 4, id);
        put32(e, 8, i == 100 ? ACPI_MADT_ONLINE_CAPABLE : ACPI_MADT_ENABLED);
        put32(e, 12, 1000 + i);                /* ACPI processor UID */
        off += 16;
    }
    put32(t, 4, (uint32_t)off);
    finish_sdt(t);
    return off;
}

static void test_madt_x2apic_big(void)
{
    static uint8_t t[64 * 1024];
    static struct madt_info mi;

    /* 254 enabled xAPIC + 3 duplicates + 97 new x2APIC ids (258..354) */
    size_t n = big_madt(t, 100);
    CHECK_EQ_U64(madt_parse(t, n, &mi), 0);
    CHECK_EQ_U64(mi.ncpus, 254 + 97);
    CHECK_EQ_U64(mi.skipped_cpus, 0);
    CHECK_EQ_U64(mi.apic_id[0], 0);
    CHECK_EQ_U64(mi.apic_id[17], 18);                    /* 17 disabled: not listed */
    CHECK_EQ_U64(mi.apic_id[253], 254);
    CHECK_EQ_U64(mi.apic_id[254], 258);                  /* first x2APIC-only id, > 255 */
    CHECK_EQ_U64(mi.apic_id[254 + 96], 354);
    unsigned above = 0;
    for (unsigned i = 0; i < mi.ncpus; i++) {
        above += mi.apic_id[i] > 255;
        for (unsigned j = 0; j < i; j++)
            CHECK(mi.apic_id[i] != mi.apic_id[j]);
    }
    CHECK_EQ_U64(above, 97);

    /* more CPUs than Keel tracks: the rest are counted, not dropped silently */
    unsigned nx2 = MADT_MAX_CPUS + 50;
    n = big_madt(t, nx2);
    CHECK(n <= sizeof t);
    CHECK_EQ_U64(madt_parse(t, n, &mi), 0);
    CHECK_EQ_U64(mi.ncpus, MADT_MAX_CPUS);
    CHECK_EQ_U64(mi.ncpus + mi.skipped_cpus, 254 + nx2 - 3);
    CHECK_EQ_U64(mi.apic_id[MADT_MAX_CPUS - 1], 255 + 3 + (MADT_MAX_CPUS - 254) - 1);
}

static size_t make_spcr(uint8_t *t, uint8_t iface, uint8_t space, uint64_t addr, uint8_t baud)
{
    sdt_header(t, "SPCR", 80, 2);
    memset(t + 36, 0, 44);
    t[36] = iface;
    t[40] = space; t[41] = 8; t[42] = 0; t[43] = 1;
    put64(t, 44, addr);
    t[52] = 1; t[53] = 3;                   /* PC-AT IRQ 3 */
    t[58] = baud;
    finish_sdt(t);
    return 80;
}

static void test_spcr(void)
{
    uint8_t t[96];
    struct spcr_info si;

    CHECK_EQ_U64(spcr_parse(t, make_spcr(t, SPCR_IF_16550, ACPI_ADR_SPACE_SYSTEM_IO, 0x2F8, 7),
                            &si), 0);
    CHECK_EQ_U64(si.interface, SPCR_IF_16550);
    CHECK_EQ_U64(si.space, ACPI_ADR_SPACE_SYSTEM_IO);
    CHECK_EQ_U64(si.addr, 0x2F8);
    CHECK_EQ_U64(si.baud, 115200);
    const uint8_t codes[] = { 0, 3, 4, 6 };
    const uint32_t want[] = { 0, 9600, 19200, 57600 };
    for (int i = 0; i < 4; i++) {
        make_spcr(t, SPCR_IF_16450, ACPI_ADR_SPACE_SYSTEM_IO, 0x3F8, codes[i]);
        CHECK_EQ_U64(spcr_parse(t, 80, &si), 0);
        CHECK_EQ_U64(si.baud, want[i]);
    }
    /* MMIO UART: parsed, the kernel decides it cannot use it */
    make_spcr(t, SPCR_IF_16550_GAS, ACPI_ADR_SPACE_SYSTEM_MEMORY, 0xFEDC9000, 7);
    CHECK_EQ_U64(spcr_parse(t, 80, &si), 0);
    CHECK_EQ_U64(si.space, ACPI_ADR_SPACE_SYSTEM_MEMORY);
    CHECK_EQ_U64(si.addr, 0xFEDC9000);
    /* bad baud codes, truncation, checksum, signature, short table */
    const uint8_t bad[] = { 1, 2, 5, 8, 0xFF };
    for (int i = 0; i < 5; i++) {
        make_spcr(t, 0, ACPI_ADR_SPACE_SYSTEM_IO, 0x3F8, bad[i]);
        CHECK_EQ_U64(spcr_parse(t, 80, &si), -1);
    }
    make_spcr(t, 0, ACPI_ADR_SPACE_SYSTEM_IO, 0x3F8, 7);
    CHECK_EQ_U64(spcr_parse(t, 79, &si), -1);
    t[45] ^= 1;
    CHECK_EQ_U64(spcr_parse(t, 80, &si), -1);
    make_spcr(t, 0, ACPI_ADR_SPACE_SYSTEM_IO, 0x3F8, 7);
    memcpy(t, "SPCX", 4);
    finish_sdt(t);
    CHECK_EQ_U64(spcr_parse(t, 80, &si), -1);
    sdt_header(t, "SPCR", 60, 1);
    finish_sdt(t);
    CHECK_EQ_U64(spcr_parse(t, 96, &si), -1);
}

static void test_fadt(void)
{
    uint8_t t[276];
    struct fadt_info fi;

    make_fadt(t, 244);
    CHECK_EQ_U64(fadt_parse(t, 244, &fi), 0);
    CHECK_EQ_U64(fi.pm1a_cnt, 0x604);
    CHECK_EQ_U64(fi.pm1b_cnt, 0);
    CHECK_EQ_U64(fi.pm_tmr_blk, 0x608);
    CHECK(fi.tmr_32bit);
    CHECK_EQ_U64(fi.dsdt, 0x7FE0040);
    CHECK(fi.reset_supported);
    CHECK_EQ_U64(fi.reset_space, ACPI_ADR_SPACE_SYSTEM_IO);
    CHECK_EQ_U64(fi.reset_addr, 0xCF9);
    CHECK_EQ_U64(fi.reset_value, 6);
    CHECK_EQ_U64(fi.smi_cmd, 0xB2);
    CHECK_EQ_U64(fi.acpi_enable, 0xF1);

    /* X_DSDT wins; X_PM1a_CNT used when the legacy field is empty */
    put64(t, 140, 0x1FFFF0000ull);
    put32(t, 64, 0);
    t[172] = ACPI_ADR_SPACE_SYSTEM_IO;
    put64(t, 176, 0x404);
    finish_sdt(t);
    CHECK_EQ_U64(fadt_parse(t, 244, &fi), 0);
    CHECK_EQ_U64(fi.dsdt, 0x1FFFF0000ull);
    CHECK_EQ_U64(fi.pm1a_cnt, 0x404);

    /* ACPI 1.0 FADT: no reset register */
    make_fadt(t, 116);
    CHECK_EQ_U64(fadt_parse(t, 116, &fi), 0);
    CHECK(!fi.reset_supported);
    CHECK_EQ_U64(fi.pm1a_cnt, 0x604);
    CHECK_EQ_U64(fadt_parse(t, 115, &fi), -1);
    make_fadt(t, 100);
    CHECK_EQ_U64(fadt_parse(t, 100, &fi), -1);
    make_fadt(t, 244);
    memcpy(t, "FACT", 4);
    CHECK_EQ_U64(fadt_parse(t, 244, &fi), -1);
    make_fadt(t, 276);
    t[200] ^= 1;
    CHECK_EQ_U64(fadt_parse(t, 276, &fi), -1);
}

static void test_s5(void)
{
    uint8_t t[256];
    uint8_t a = 0x77, b = 0x77;
    size_t n;

    n = make_dsdt(t, 0);
    CHECK_EQ_U64(acpi_find_s5(t, n, &a, &b), 0);
    CHECK_EQ_U64(a, 5);
    CHECK_EQ_U64(b, 7);
    n = make_dsdt(t, 1);
    CHECK_EQ_U64(acpi_find_s5(t, n, &a, &b), 0);
    CHECK_EQ_U64(a, 0);
    CHECK_EQ_U64(b, 1);
    n = make_dsdt(t, 2);
    CHECK_EQ_U64(acpi_find_s5(t, n, &a, &b), 0);
    CHECK_EQ_U64(a, 3);
    CHECK_EQ_U64(b, 0xFF);
    /* AML only (no header) works too */
    CHECK_EQ_U64(acpi_find_s5(t + 36, n - 36, &a, &b), 0);
    /* every truncation fails cleanly or still finds it */
    for (size_t k = 0; k < n; k++) {
        uint8_t *c = malloc(k ? k : 1);
        memcpy(c, t, k);
        a = b = 0x77;
        int r = acpi_find_s5(c, k, &a, &b);
        CHECK(r == -1 || (a == 3 && b == 0xFF));
        CHECK(r == -1 || k >= n - 5);
        free(c);
    }
    /* one-element package */
    const uint8_t one[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x04, 0x01, 0x0A, 0x02 };
    CHECK_EQ_U64(acpi_find_s5(one, sizeof one, &a, &b), 0);
    CHECK_EQ_U64(a, 2);
    CHECK_EQ_U64(b, 2);
    /* no Name() before it, or not a package */
    const uint8_t noname[] = { 0x70, '_', 'S', '5', '_', 0x12, 0x04, 0x01, 0x0A, 0x02 };
    CHECK_EQ_U64(acpi_find_s5(noname, sizeof noname, &a, &b), -1);
    const uint8_t notpkg[] = { 0x08, '_', 'S', '5', '_', 0x0A, 0x05 };
    CHECK_EQ_U64(acpi_find_s5(notpkg, sizeof notpkg, &a, &b), -1);
    const uint8_t method[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x04, 0x02, 0x72, 0x00 };
    CHECK_EQ_U64(acpi_find_s5(method, sizeof method, &a, &b), -1);
    CHECK_EQ_U64(acpi_find_s5(t, 0, &a, &b), -1);
    CHECK_EQ_U64(acpi_find_s5(t, 3, &a, &b), -1);
}

/* Mutated and random tables, each in an exactly-sized heap block so ASan sees any overread. */
static unsigned fuzz_madt_ok, fuzz_fadt_ok, fuzz_s5_ok, fuzz_spcr_ok;

static void fuzz_one(const uint8_t *src, size_t n)
{
    size_t len = rng_below(4) ? n : rng_below(n + 8);
    uint8_t *c = malloc(len ? len : 1);
    struct madt_info mi;
    struct fadt_info fi;
    uint8_t a, b;
    bool x;

    for (size_t i = 0; i < len; i++)
        c[i] = i < n ? src[i] : (uint8_t)rng_next();
    rng_mutate(c, len);
    if (rng_below(2) && len >= 10)
        fix_checksum(c, len, 9);   /* let mutations past the checksum */
    if (madt_parse(c, len, &mi) == 0) {
        fuzz_madt_ok++;
        CHECK(mi.ncpus <= MADT_MAX_CPUS && mi.nioapic <= MADT_MAX_IOAPICS &&
              mi.noverride <= MADT_MAX_OVERRIDES);
    }
    fuzz_fadt_ok += fadt_parse(c, len, &fi) == 0;
    struct spcr_info si;
    if (spcr_parse(c, len, &si) == 0) {
        fuzz_spcr_ok++;
        CHECK(si.baud == 0 || si.baud == 9600 || si.baud == 19200 || si.baud == 57600 ||
              si.baud == 115200);
    }
    fuzz_s5_ok += acpi_find_s5(c, len, &a, &b) == 0;
    acpi_rsdp_root(c, len, &x);
    acpi_rsdp_scan(c, len);
    if (acpi_sdt_valid(c, len, "XSDT") || acpi_sdt_valid(c, len, "APIC")) {
        unsigned cnt = acpi_root_count(c, true);
        for (unsigned i = 0; i <= cnt; i++)
            acpi_root_entry(c, true, i);
    }
    free(c);
}

static void test_fuzz(void)
{
    static uint8_t madt[4096], fadt[276], dsdt[256], rsdp[64], junk[512], spcr[80];
    size_t nm = make_madt(madt), nf = make_fadt(fadt, 276), nd = make_dsdt(dsdt, 2);
    size_t ns = make_spcr(spcr, SPCR_IF_16550, ACPI_ADR_SPACE_SYSTEM_IO, 0x2F8, 7);
    size_t nr = make_rsdp(rsdp, 2, 0x1000, 0x2000);

    rng_seed(21);
    for (int it = 0; it < 100000; it++) {
        switch (it % 6) {
        case 4: fuzz_one(spcr, ns); break;
        case 0: fuzz_one(madt, nm); break;
        case 1: fuzz_one(fadt, nf); break;
        case 2: fuzz_one(dsdt, nd); break;
        case 3: fuzz_one(rsdp, nr); break;
        default:
            rng_fill(junk, sizeof junk);
            memcpy(junk, it & 8 ? "APIC" : "FACP", 4);
            put32(junk, 4, (uint32_t)rng_below(600));
            fuzz_one(junk, rng_below(sizeof junk));
            break;
        }
    }
    /* the mutations must not all be rejected up front */
    CHECK(fuzz_madt_ok > 1000 && fuzz_fadt_ok > 1000 && fuzz_s5_ok > 1000 &&
          fuzz_spcr_ok > 1000);
}

int main(void)
{
    RUN(test_checksum);
    RUN(test_rsdp);
    RUN(test_rsdp_scan);
    RUN(test_root_and_sdt);
    RUN(test_madt);
    RUN(test_madt_entries);
    RUN(test_madt_x2apic_big);
    RUN(test_spcr);
    RUN(test_fadt);
    RUN(test_s5);
    RUN(test_fuzz);
    return check_summary("test_acpi_tables");
}
