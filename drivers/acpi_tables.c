#include "drivers/acpi_tables.h"
#include "kernel/lib/le.h"

#include "kernel/lib/string.h"

bool acpi_checksum_ok(const void *p, size_t len)
{
    const uint8_t *b = p;
    uint8_t sum = 0;

    for (size_t i = 0; i < len; i++)
        sum = (uint8_t)(sum + b[i]);
    return sum == 0;
}

uint64_t acpi_rsdp_root(const void *rsdp, size_t avail, bool *xsdt)
{
    const uint8_t *p = rsdp;

    *xsdt = false;
    if (avail < ACPI_RSDP_V1_LEN || memcmp(p, ACPI_RSDP_SIG, 8) != 0 ||
        !acpi_checksum_ok(p, ACPI_RSDP_V1_LEN))
        return 0;
    if (rd8(p, 15) >= 2) {
        if (avail < ACPI_RSDP_V2_LEN || rd32(p, 20) < ACPI_RSDP_V2_LEN ||
            !acpi_checksum_ok(p, ACPI_RSDP_V2_LEN))
            return 0;
        if (rd64(p, 24)) {
            *xsdt = true;
            return rd64(p, 24);
        }
    }
    return rd32(p, 16);
}

long acpi_rsdp_scan(const void *p, size_t len)
{
    const uint8_t *b = p;
    bool x;

    for (size_t off = 0; len >= ACPI_RSDP_V1_LEN && off <= len - ACPI_RSDP_V1_LEN; off += 16)
        if (acpi_rsdp_root(b + off, len - off, &x))
            return (long)off;
    return -1;
}

uint32_t acpi_sdt_valid(const void *t, size_t avail, const char *sig)
{
    const uint8_t *p = t;
    uint32_t len;

    if (avail < ACPI_SDT_HDR_LEN || memcmp(p, sig, 4) != 0)
        return 0;
    len = rd32(p, 4);
    if (len < ACPI_SDT_HDR_LEN || len > avail || !acpi_checksum_ok(p, len))
        return 0;
    return len;
}

unsigned acpi_root_count(const void *root, bool xsdt)
{
    uint32_t len = rd32(root, 4);

    return len < ACPI_SDT_HDR_LEN ? 0 : (len - ACPI_SDT_HDR_LEN) / (xsdt ? 8 : 4);
}

uint64_t acpi_root_entry(const void *root, bool xsdt, unsigned i)
{
    if (i >= acpi_root_count(root, xsdt))
        return 0;
    if (xsdt)
        return rd64(root, ACPI_SDT_HDR_LEN + (size_t)i * 8);
    return rd32(root, ACPI_SDT_HDR_LEN + (size_t)i * 4);
}

/* ---- MADT ---- */

#define MADT_ENTRIES_OFF 44

static void madt_add_cpu(struct madt_info *o, uint32_t id, uint32_t flags, uint32_t invalid)
{
    if (!(flags & (ACPI_MADT_ENABLED | ACPI_MADT_ONLINE_CAPABLE)) || id == invalid)
        return;
    for (unsigned i = 0; i < o->ncpus; i++)
        if (o->apic_id[i] == id)
            return;   /* firmware may list a CPU as both xAPIC and x2APIC */
    if (o->ncpus < MADT_MAX_CPUS)
        o->apic_id[o->ncpus++] = id;
    else
        o->skipped_cpus++;
}

static void madt_add_ioapic(struct madt_info *o, const uint8_t *e)
{
    if (o->nioapic >= MADT_MAX_IOAPICS)
        return;
    o->ioapic[o->nioapic].id = rd8(e, 2);
    o->ioapic[o->nioapic].addr = rd32(e, 4);
    o->ioapic[o->nioapic].gsi_base = rd32(e, 8);
    o->nioapic++;
}

static void madt_add_override(struct madt_info *o, const uint8_t *e)
{
    if (o->noverride >= MADT_MAX_OVERRIDES || rd8(e, 2) != 0)
        return;   /* only ISA (bus 0) overrides exist in practice */
    o->override[o->noverride].bus_irq = rd8(e, 3);
    o->override[o->noverride].gsi = rd32(e, 4);
    o->override[o->noverride].flags = rd16(e, 8);
    o->noverride++;
}

/* Minimum entry length per type; 2 for types we skip. */
static unsigned madt_min_len(uint8_t type)
{
    switch (type) {
    case ACPI_MADT_TYPE_LOCAL_APIC: return 8;
    case ACPI_MADT_TYPE_IO_APIC: return 12;
    case ACPI_MADT_TYPE_INTERRUPT_OVERRIDE: return 10;
    case ACPI_MADT_TYPE_LOCAL_APIC_OVERRIDE: return 12;
    case ACPI_MADT_TYPE_LOCAL_X2APIC: return 16;
    default: return 2;
    }
}

static void madt_entry(struct madt_info *o, const uint8_t *e)
{
    switch (e[0]) {
    case ACPI_MADT_TYPE_LOCAL_APIC:
        madt_add_cpu(o, rd8(e, 3), rd32(e, 4), 0xFF);
        break;
    case ACPI_MADT_TYPE_LOCAL_X2APIC:
        madt_add_cpu(o, rd32(e, 4), rd32(e, 8), 0xFFFFFFFF);
        break;
    case ACPI_MADT_TYPE_IO_APIC:
        madt_add_ioapic(o, e);
        break;
    case ACPI_MADT_TYPE_INTERRUPT_OVERRIDE:
        madt_add_override(o, e);
        break;
    case ACPI_MADT_TYPE_LOCAL_APIC_OVERRIDE:
        o->lapic_addr = rd64(e, 4);
        break;
    }
}

int madt_parse(const void *madt, size_t len, struct madt_info *out)
{
    const uint8_t *p = madt;
    uint32_t tlen = acpi_sdt_valid(madt, len, "APIC");

    memset(out, 0, sizeof *out);
    if (tlen < MADT_ENTRIES_OFF)
        return -1;
    out->lapic_addr = rd32(p, 36);
    out->pcat_compat = rd32(p, 40) & ACPI_MADT_PCAT_COMPAT;
    for (uint32_t off = MADT_ENTRIES_OFF; off < tlen;) {
        if (tlen - off < 2)
            return -1;
        uint8_t elen = p[off + 1];
        if (elen < madt_min_len(p[off]) || elen > tlen - off)
            return -1;
        madt_entry(out, p + off);
        off += elen;
    }
    return 0;
}

/* ---- FADT ---- */

#define FADT_V1_LEN 116
#define FADT_OFF_DSDT 40
#define FADT_OFF_SMI_CMD 48
#define FADT_OFF_ACPI_ENABLE 52
#define FADT_OFF_PM1A_CNT 64
#define FADT_OFF_PM1B_CNT 68
#define FADT_OFF_PM_TMR 76
#define FADT_OFF_FLAGS 112
#define FADT_OFF_RESET_REG 116
#define FADT_OFF_RESET_VALUE 128
#define FADT_OFF_X_DSDT 140
#define FADT_OFF_X_PM1A_CNT 172
#define FADT_OFF_X_PM1B_CNT 184
#define FADT_OFF_X_PM_TMR 208
#define GAS_LEN 12

/* Legacy 32-bit port field, or the ACPI 2.0 GAS if that one is empty and in I/O space. */
static uint32_t fadt_port(const uint8_t *p, uint32_t tlen, size_t off, size_t xoff)
{
    uint32_t v = rd32(p, off);

    if (!v && tlen >= xoff + GAS_LEN && rd8(p, xoff) == ACPI_ADR_SPACE_SYSTEM_IO)
        v = (uint32_t)rd64(p, xoff + 4);
    return v;
}

static void fadt_reset(const uint8_t *p, uint32_t tlen, uint32_t flags, struct fadt_info *o)
{
    if (tlen < FADT_OFF_RESET_VALUE + 1)
        return;
    o->reset_space = rd8(p, FADT_OFF_RESET_REG);
    o->reset_addr = rd64(p, FADT_OFF_RESET_REG + 4);
    o->reset_value = rd8(p, FADT_OFF_RESET_VALUE);
    o->reset_supported = (flags & ACPI_FADT_RESET_REG_SUP) && o->reset_addr != 0;
}

int fadt_parse(const void *fadt, size_t len, struct fadt_info *out)
{
    const uint8_t *p = fadt;
    uint32_t tlen = acpi_sdt_valid(fadt, len, "FACP");

    memset(out, 0, sizeof *out);
    if (tlen < FADT_V1_LEN)
        return -1;
    uint32_t flags = rd32(p, FADT_OFF_FLAGS);
    out->pm1a_cnt = (uint16_t)fadt_port(p, tlen, FADT_OFF_PM1A_CNT, FADT_OFF_X_PM1A_CNT);
    out->pm1b_cnt = (uint16_t)fadt_port(p, tlen, FADT_OFF_PM1B_CNT, FADT_OFF_X_PM1B_CNT);
    out->pm_tmr_blk = fadt_port(p, tlen, FADT_OFF_PM_TMR, FADT_OFF_X_PM_TMR);
    out->tmr_32bit = flags & ACPI_FADT_TMR_VAL_EXT;
    out->dsdt = rd32(p, FADT_OFF_DSDT);
    if (tlen >= FADT_OFF_X_DSDT + 8 && rd64(p, FADT_OFF_X_DSDT))
        out->dsdt = rd64(p, FADT_OFF_X_DSDT);
    out->smi_cmd = (uint16_t)rd32(p, FADT_OFF_SMI_CMD);
    out->acpi_enable = rd8(p, FADT_OFF_ACPI_ENABLE);
    fadt_reset(p, tlen, flags, out);
    return 0;
}

/* ---- SPCR ---- */

#define SPCR_OFF_INTERFACE 36
#define SPCR_OFF_BASE 40            /* generic address structure */
#define SPCR_OFF_BAUD 58

int spcr_parse(const void *spcr, size_t len, struct spcr_info *out)
{
    static const uint32_t bauds[8] = { 0, 0, 0, 9600, 19200, 0, 57600, 115200 };
    const uint8_t *p = spcr;
    uint32_t tlen = acpi_sdt_valid(spcr, len, "SPCR");

    memset(out, 0, sizeof *out);
    if (tlen < SPCR_MIN_LEN)
        return -1;
    uint8_t code = rd8(p, SPCR_OFF_BAUD);
    if (code >= 8 || (code != 0 && bauds[code] == 0))
        return -1;
    out->interface = rd8(p, SPCR_OFF_INTERFACE);
    out->space = rd8(p, SPCR_OFF_BASE);
    out->addr = rd64(p, SPCR_OFF_BASE + 4);
    out->baud = bauds[code];
    return 0;
}

/* ---- \_S5_ ---- */

#define AML_NAME_OP 0x08
#define AML_PACKAGE_OP 0x12
#define AML_ZERO_OP 0x00
#define AML_ONE_OP 0x01
#define AML_ONES_OP 0xFF
#define AML_BYTE_PREFIX 0x0A
#define AML_WORD_PREFIX 0x0B
#define AML_DWORD_PREFIX 0x0C

/* Reads one small integer element at *off; false if it is not one. */
static bool aml_small_int(const uint8_t *p, size_t len, size_t *off, uint8_t *v)
{
    size_t need;

    if (*off >= len)
        return false;
    switch (p[*off]) {
    case AML_ZERO_OP: *v = 0; need = 1; break;
    case AML_ONE_OP: *v = 1; need = 1; break;
    case AML_ONES_OP: *v = 0xFF; need = 1; break;
    case AML_BYTE_PREFIX: need = 2; break;
    case AML_WORD_PREFIX: need = 3; break;
    case AML_DWORD_PREFIX: need = 5; break;
    default: return false;
    }
    if (len - *off < need)
        return false;
    if (need > 1)
        *v = p[*off + 1];   /* SLP_TYP is 3 bits: the low byte is all that matters */
    *off += need;
    return true;
}

/* Parses "Name(_S5_, Package(){a, b, ...})" given the offset of "_S5_". */
static bool s5_at(const uint8_t *p, size_t len, size_t i, uint8_t *a, uint8_t *b)
{
    bool named = (i >= 1 && p[i - 1] == AML_NAME_OP) ||
                 (i >= 2 && p[i - 2] == AML_NAME_OP && p[i - 1] == '\\');
    size_t off = i + 4;

    if (!named || off >= len || p[off] != AML_PACKAGE_OP)
        return false;
    off++;
    if (off >= len)
        return false;
    off += 1 + (p[off] >> 6);   /* PkgLength: lead byte + 0..3 follow-on bytes */
    if (off >= len)
        return false;
    uint8_t count = p[off++];
    if (count == 0 || !aml_small_int(p, len, &off, a))
        return false;
    if (count == 1) {
        *b = *a;   /* a one-element package: use SLP_TYPa for both */
        return true;
    }
    return aml_small_int(p, len, &off, b);
}

int acpi_find_s5(const void *dsdt, size_t len, uint8_t *slp_typa, uint8_t *slp_typb)
{
    const uint8_t *p = dsdt;

    for (size_t i = 0; len >= 4 && i <= len - 4; i++) {
        if (memcmp(p + i, "_S5_", 4) != 0)
            continue;
        uint8_t a, b;
        if (s5_at(p, len, i, &a, &b)) {
            *slp_typa = a;
            *slp_typb = b;
            return 0;
        }
    }
    return -1;
}
