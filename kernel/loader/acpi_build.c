/* ACPI tables for a guest. Table layouts: ACPI 6.x chapter 5.2 (RSDP 5.2.5, RSDT 5.2.7, XSDT
 * 5.2.8, FADT 5.2.9, FACS 5.2.10, DSDT 5.2.11.1, MADT 5.2.12); AML encoding: chapter 20. */
#include "kernel/loader/acpi_build.h"

#include "kernel/lib/bufwr.h"
#include "kernel/lib/string.h"

#define FOUR_GIB (1ull << 32)

#define SDT_HDR_LEN      36
#define RSDP_V1_LEN      20
#define RSDP_LEN         ACPI_RSDP_LEN
#define RSDP_REVISION    2          /* ACPI 2.0+: XSDT address and extended checksum */
#define XSDT_REVISION    1
#define RSDT_REVISION    1
#define FADT_LEN         276        /* ACPI 6.0 FADT, up to the hypervisor vendor identity */
#define FADT_REVISION    6
#define FADT_MINOR       0
#define FACS_LEN         64
#define FACS_ALIGN       64         /* FACS must be 64-byte aligned */
#define FACS_VERSION     2
#define MADT_REVISION    4
#define DSDT_REVISION    2          /* 64-bit AML integers */

#define OEM_ID           "KEEL  "
#define OEM_TABLE_ID     "KEELVM  "
#define CREATOR_ID       "KEEL"
#define OEM_REVISION     1
#define CREATOR_REVISION 1

/* MADT entries (ACPI 6.x 5.2.12.2-5.2.12.13) */
#define MADT_LAPIC          0
#define MADT_IOAPIC         1
#define MADT_ISO            2
#define MADT_LAPIC_NMI      4
#define MADT_X2APIC         9
#define MADT_X2APIC_NMI     10
#define MADT_LAPIC_LEN      8
#define MADT_IOAPIC_LEN     12
#define MADT_ISO_LEN        10
#define MADT_LAPIC_NMI_LEN  6
#define MADT_X2APIC_LEN     16
#define MADT_X2APIC_NMI_LEN 12
#define MADT_ENABLED        1u
#define MADT_PCAT_COMPAT    1u
#define MPS_POL_HIGH        1u          /* MPS INTI flags: polarity bits 1:0 */
#define MPS_POL_LOW         3u
#define MPS_TRIG_EDGE       (1u << 2)   /* trigger mode bits 3:2 */
#define MPS_TRIG_LEVEL      (3u << 2)
#define MADT_ALL_CPUS_UID   0xFF
#define MADT_ALL_X2_UID     0xFFFFFFFFu
#define XAPIC_MAX_ID        254         /* 0xFF is the xAPIC broadcast ID */
#define ISA_IRQ_PIT         0
#define GSI_PIT             2           /* the PIT is on IOAPIC pin 2 on a PC */
#define LINT1               1

/* FADT fields (ACPI 6.x table 5.9) */
#define FADT_FIRMWARE_CTRL  36
#define FADT_DSDT           40
#define FADT_PM_PROFILE     45
#define FADT_SCI_INT        46
#define FADT_PM1A_EVT_BLK   56
#define FADT_PM1A_CNT_BLK   64
#define FADT_PM_TMR_BLK     76
#define FADT_PM1_EVT_LEN    88
#define FADT_PM1_CNT_LEN    89
#define FADT_PM_TMR_LEN     91
#define FADT_P_LVL2_LAT     96
#define FADT_P_LVL3_LAT     98
#define FADT_CENTURY        108
#define FADT_IAPC_BOOT_ARCH 109
#define FADT_FLAGS          112
#define FADT_RESET_REG      116
#define FADT_RESET_VALUE    128
#define FADT_MINOR_VERSION  131
#define FADT_X_DSDT         140
#define FADT_X_PM1A_EVT_BLK 148
#define FADT_X_PM1A_CNT_BLK 172
#define FADT_X_PM_TMR_BLK   208
#define PM1_EVT_LEN         4
#define PM1_CNT_LEN         2
#define PM_TMR_LEN          4
#define P_LVL_NONE          0x0FFF      /* > 100 / > 1000 us: C2/C3 not supported */
#define FADT_WBINVD         (1u << 0)
#define FADT_PROC_C1        (1u << 2)
#define FADT_PWR_BUTTON     (1u << 4)   /* set: no fixed-feature power button */
#define FADT_SLP_BUTTON     (1u << 5)
#define FADT_RESET_REG_SUP  (1u << 10)
#define BOOT_ARCH_LEGACY_DEVICES (1u << 0)  /* ISA devices (PIT, RTC, PIC, UART); no 8042 */
#define BOOT_ARCH_VGA_NOT_PRESENT (1u << 2)
#define GAS_SYSTEM_IO       1
#define GAS_ACCESS_BYTE     1

/* AML (ACPI 6.x 20.2) */
#define AML_NAME_OP         0x08
#define AML_PACKAGE_OP      0x12
#define AML_ZERO_OP         0x00

static uint8_t sum8(const uint8_t *p, size_t n)
{
    uint8_t s = 0;

    for (size_t i = 0; i < n; i++)
        s = (uint8_t)(s + p[i]);
    return s;
}

/* Checksum byte at cks so that bytes [at, at+len) sum to zero. */
static void fix_sum(struct bufwr *w, size_t at, size_t len, size_t cks)
{
    if (w->bad)
        return;
    w->buf[cks] = 0;
    w->buf[cks] = (uint8_t)-sum8(w->buf + at, len);
}

/* Starts a table with the standard header; the length and checksum come in sdt_end(). */
static size_t sdt_begin(struct bufwr *w, const char *sig, uint8_t rev, size_t align)
{
    size_t at = bw_take(w, SDT_HDR_LEN, align);

    bw_put(w, at, sig, 4);
    bw_put8(w, at + 8, rev);
    bw_put(w, at + 10, OEM_ID, 6);
    bw_put(w, at + 16, OEM_TABLE_ID, 8);
    bw_put32(w, at + 24, OEM_REVISION);
    bw_put(w, at + 28, CREATOR_ID, 4);
    bw_put32(w, at + 32, CREATOR_REVISION);
    return at;
}

static void sdt_end(struct bufwr *w, size_t at)
{
    bw_put32(w, at + 4, (uint32_t)(w->pos - at));
    fix_sum(w, at, w->pos - at, at + 9);
}

/* Generic Address Structure (ACPI 6.x 5.2.3.2) in system I/O space. */
static void put_gas_io(struct bufwr *w, size_t off, uint16_t port, unsigned bytes, uint8_t access)
{
    bw_put8(w, off, GAS_SYSTEM_IO);
    bw_put8(w, off + 1, (uint8_t)(bytes * 8));
    bw_put8(w, off + 2, 0);
    bw_put8(w, off + 3, access);
    bw_put64(w, off + 4, port);
}

static size_t build_facs(struct bufwr *w)
{
    size_t at = bw_take(w, FACS_LEN, FACS_ALIGN);

    bw_put(w, at, "FACS", 4);
    bw_put32(w, at + 4, FACS_LEN);
    bw_put8(w, at + 32, FACS_VERSION);   /* hardware signature, waking vectors, lock: all 0 */
    return at;
}

/* DefinitionBlock with Name(_S5_, Package(){0, 0, 0, 0}): SLP_TYPa, SLP_TYPb, reserved x2. */
static size_t build_dsdt(struct bufwr *w)
{
    static const uint8_t aml[] = {
        AML_NAME_OP, '_', 'S', '5', '_',
        AML_PACKAGE_OP, 6 /* PkgLength: itself + NumElements + 4 elements */, 4,
        ACPI_BUILD_S5_SLP_TYP, ACPI_BUILD_S5_SLP_TYP, AML_ZERO_OP, AML_ZERO_OP,
    };
    size_t at = sdt_begin(w, "DSDT", DSDT_REVISION, 16);
    size_t body = bw_take(w, sizeof aml, 1);

    bw_put(w, body, (const char *)aml, sizeof aml);
    sdt_end(w, at);
    return at;
}

static void fadt_fields(struct bufwr *w, size_t at, const struct acpi_build_cfg *c,
                        uint32_t facs, uint32_t dsdt)
{
    /* FIRMWARE_CTRL only: X_FIRMWARE_CTRL must be zero when it is set (5.2.9). */
    bw_put32(w, at + FADT_FIRMWARE_CTRL, facs);
    bw_put32(w, at + FADT_DSDT, dsdt);
    bw_put8(w, at + FADT_PM_PROFILE, 0);             /* unspecified */
    bw_put16(w, at + FADT_SCI_INT, c->sci);
    /* SMI_CMD 0: the VM is always in ACPI mode (SCI_EN reads 1) */
    bw_put32(w, at + FADT_PM1A_EVT_BLK, c->pm1a_evt);
    bw_put32(w, at + FADT_PM1A_CNT_BLK, c->pm1a_cnt);
    bw_put32(w, at + FADT_PM_TMR_BLK, c->pm_tmr);
    bw_put8(w, at + FADT_PM1_EVT_LEN, PM1_EVT_LEN);
    bw_put8(w, at + FADT_PM1_CNT_LEN, PM1_CNT_LEN);
    bw_put8(w, at + FADT_PM_TMR_LEN, PM_TMR_LEN);
    bw_put16(w, at + FADT_P_LVL2_LAT, P_LVL_NONE);
    bw_put16(w, at + FADT_P_LVL3_LAT, P_LVL_NONE);
    bw_put8(w, at + FADT_CENTURY, c->century);
    bw_put16(w, at + FADT_IAPC_BOOT_ARCH, BOOT_ARCH_LEGACY_DEVICES | BOOT_ARCH_VGA_NOT_PRESENT);
    /* TMR_VAL_EXT clear: the PM timer is 24 bits */
    bw_put32(w, at + FADT_FLAGS, FADT_WBINVD | FADT_PROC_C1 | FADT_PWR_BUTTON | FADT_SLP_BUTTON |
                              FADT_RESET_REG_SUP);
    put_gas_io(w, at + FADT_RESET_REG, c->reset_port, 1, GAS_ACCESS_BYTE);
    bw_put8(w, at + FADT_RESET_VALUE, c->reset_value);
    bw_put8(w, at + FADT_MINOR_VERSION, FADT_MINOR);
    bw_put64(w, at + FADT_X_DSDT, dsdt);
    put_gas_io(w, at + FADT_X_PM1A_EVT_BLK, c->pm1a_evt, PM1_EVT_LEN, 0);
    put_gas_io(w, at + FADT_X_PM1A_CNT_BLK, c->pm1a_cnt, PM1_CNT_LEN, 0);
    put_gas_io(w, at + FADT_X_PM_TMR_BLK, c->pm_tmr, PM_TMR_LEN, 0);
}

static size_t build_fadt(struct bufwr *w, const struct acpi_build_cfg *c, uint32_t facs,
                         uint32_t dsdt)
{
    size_t at = sdt_begin(w, "FACP", FADT_REVISION, 16);

    bw_take(w, FADT_LEN - SDT_HDR_LEN, 1);
    fadt_fields(w, at, c, facs, dsdt);
    sdt_end(w, at);
    return at;
}

static void madt_iso(struct bufwr *w, uint8_t irq, uint32_t gsi, uint16_t flags)
{
    size_t e = bw_take(w, MADT_ISO_LEN, 1);

    bw_put8(w, e, MADT_ISO);
    bw_put8(w, e + 1, MADT_ISO_LEN);
    bw_put8(w, e + 2, 0);            /* bus: ISA */
    bw_put8(w, e + 3, irq);
    bw_put32(w, e + 4, gsi);
    bw_put16(w, e + 8, flags);
}

static void madt_cpus(struct bufwr *w, const struct acpi_build_cfg *c)
{
    for (unsigned i = 0; i < c->ncpus; i++) {
        size_t e;
        if (i <= XAPIC_MAX_ID) {
            e = bw_take(w, MADT_LAPIC_LEN, 1);
            bw_put8(w, e, MADT_LAPIC);
            bw_put8(w, e + 1, MADT_LAPIC_LEN);
            bw_put8(w, e + 2, (uint8_t)i);       /* ACPI processor UID */
            bw_put8(w, e + 3, (uint8_t)i);       /* APIC ID */
            bw_put32(w, e + 4, MADT_ENABLED);
        } else {
            e = bw_take(w, MADT_X2APIC_LEN, 1);
            bw_put8(w, e, MADT_X2APIC);
            bw_put8(w, e + 1, MADT_X2APIC_LEN);
            bw_put32(w, e + 4, i);               /* x2APIC ID */
            bw_put32(w, e + 8, MADT_ENABLED);
            bw_put32(w, e + 12, i);              /* ACPI processor UID */
        }
    }
}

/* LINT1 is the NMI pin on every processor, as on a PC. */
static void madt_nmi(struct bufwr *w, const struct acpi_build_cfg *c)
{
    size_t e = bw_take(w, MADT_LAPIC_NMI_LEN, 1);

    bw_put8(w, e, MADT_LAPIC_NMI);
    bw_put8(w, e + 1, MADT_LAPIC_NMI_LEN);
    bw_put8(w, e + 2, MADT_ALL_CPUS_UID);
    bw_put16(w, e + 3, MPS_POL_HIGH | MPS_TRIG_EDGE);
    bw_put8(w, e + 5, LINT1);
    if (c->ncpus <= XAPIC_MAX_ID + 1)
        return;
    /* processors listed as x2APICs take their NMI entry from type 10 */
    e = bw_take(w, MADT_X2APIC_NMI_LEN, 1);
    bw_put8(w, e, MADT_X2APIC_NMI);
    bw_put8(w, e + 1, MADT_X2APIC_NMI_LEN);
    bw_put16(w, e + 2, MPS_POL_HIGH | MPS_TRIG_EDGE);
    bw_put32(w, e + 4, MADT_ALL_X2_UID);
    bw_put8(w, e + 8, LINT1);
}

static size_t build_madt(struct bufwr *w, const struct acpi_build_cfg *c)
{
    size_t at = sdt_begin(w, "APIC", MADT_REVISION, 16);
    size_t f = bw_take(w, 8, 1);

    bw_put32(w, f, c->lapic_addr);
    bw_put32(w, f + 4, MADT_PCAT_COMPAT);        /* the VM has a pair of 8259s */
    madt_cpus(w, c);
    size_t e = bw_take(w, MADT_IOAPIC_LEN, 1);
    bw_put8(w, e, MADT_IOAPIC);
    bw_put8(w, e + 1, MADT_IOAPIC_LEN);
    bw_put8(w, e + 2, c->ioapic_id);
    bw_put32(w, e + 4, c->ioapic_addr);
    bw_put32(w, e + 8, 0);                       /* GSI base */
    madt_iso(w, ISA_IRQ_PIT, GSI_PIT, MPS_POL_HIGH | MPS_TRIG_EDGE);
    madt_iso(w, c->sci, c->sci, MPS_POL_LOW | MPS_TRIG_LEVEL);
    madt_nmi(w, c);
    sdt_end(w, at);
    return at;
}

void acpi_build_defaults(struct acpi_build_cfg *c, unsigned ncpus)
{
    memset(c, 0, sizeof *c);
    c->ncpus = ncpus;
    c->x2apic = true;
    c->lapic_addr = 0xFEE00000u;
    c->ioapic_id = 0;
    c->ioapic_addr = 0xFEC00000u;
    c->pm1a_evt = 0x600;
    c->pm1a_cnt = 0x604;
    c->pm_tmr = 0x608;
    c->sci = 9;
    c->reset_port = 0xCF9;
    c->reset_value = 0x06;    /* PIIX reset control: SYS_RST | RST_CPU, a hard reset */
    c->century = 0x32;
    c->gpa = ACPI_BUILD_GPA;
}

long acpi_build(void *buf, size_t cap, const struct acpi_build_cfg *c, uint64_t *rsdp_gpa)
{
    struct bufwr w = { .buf = buf, .cap = cap };

    if (c->ncpus == 0 || (c->ncpus > XAPIC_MAX_ID + 1 && !c->x2apic) || c->gpa % 16 ||
        c->gpa >= FOUR_GIB || cap > FOUR_GIB - c->gpa)
        return -1;
    size_t rsdp = bw_take(&w, RSDP_LEN, 16);
    size_t xsdt = sdt_begin(&w, "XSDT", XSDT_REVISION, 16);
    size_t xent = bw_take(&w, 2 * 8, 1);
    sdt_end(&w, xsdt);      /* checksums again once the entries are known */
    size_t rsdt = sdt_begin(&w, "RSDT", RSDT_REVISION, 16);
    size_t rent = bw_take(&w, 2 * 4, 1);
    sdt_end(&w, rsdt);
    size_t facs = build_facs(&w);
    size_t dsdt = build_dsdt(&w);
    size_t fadt = build_fadt(&w, c, (uint32_t)(c->gpa + facs), (uint32_t)(c->gpa + dsdt));
    size_t madt = build_madt(&w, c);
    if (w.bad)
        return -1;
    bw_put64(&w, xent, c->gpa + fadt);
    bw_put64(&w, xent + 8, c->gpa + madt);
    fix_sum(&w, xsdt, SDT_HDR_LEN + 2 * 8, xsdt + 9);
    bw_put32(&w, rent, (uint32_t)(c->gpa + fadt));
    bw_put32(&w, rent + 4, (uint32_t)(c->gpa + madt));
    fix_sum(&w, rsdt, SDT_HDR_LEN + 2 * 4, rsdt + 9);

    bw_put(&w, rsdp, "RSD PTR ", 8);
    bw_put(&w, rsdp + 9, OEM_ID, 6);
    bw_put8(&w, rsdp + 15, RSDP_REVISION);
    bw_put32(&w, rsdp + 16, (uint32_t)(c->gpa + rsdt));
    bw_put32(&w, rsdp + 20, RSDP_LEN);
    bw_put64(&w, rsdp + 24, c->gpa + xsdt);
    fix_sum(&w, rsdp, RSDP_V1_LEN, rsdp + 8);
    fix_sum(&w, rsdp, RSDP_LEN, rsdp + 32);
    *rsdp_gpa = c->gpa + rsdp;
    return (long)w.pos;
}
