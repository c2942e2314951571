/* Pure ACPI table parsing over memory buffers. The kernel maps the tables
 * and passes (pointer, bytes available); nothing here reads outside that. */
#ifndef KEEL_DRIVERS_ACPI_TABLES_H
#define KEEL_DRIVERS_ACPI_TABLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ACPI_RSDP_SIG "RSD PTR "
#define ACPI_RSDP_V1_LEN 20
#define ACPI_RSDP_V2_LEN 36
#define ACPI_SDT_HDR_LEN 36

struct acpi_rsdp {
    char signature[8];
    uint8_t checksum;        /* over the first 20 bytes */
    char oem_id[6];
    uint8_t revision;        /* 0 = ACPI 1.0, 2 = ACPI 2.0+ */
    uint32_t rsdt_address;
    uint32_t length;         /* rev >= 2 from here on */
    uint64_t xsdt_address;
    uint8_t extended_checksum;
    uint8_t reserved[3];
} __attribute__((packed));

struct acpi_sdt_hdr {
    char signature[4];
    uint32_t length;         /* whole table, header included */
    uint8_t revision;
    uint8_t checksum;
    char oem_id[6];
    char oem_table_id[8];
    uint32_t oem_revision;
    uint32_t creator_id;
    uint32_t creator_revision;
} __attribute__((packed));

_Static_assert(sizeof(struct acpi_rsdp) == ACPI_RSDP_V2_LEN, "RSDP layout");
_Static_assert(sizeof(struct acpi_sdt_hdr) == ACPI_SDT_HDR_LEN, "SDT header layout");

/* MADT entry types */
#define ACPI_MADT_TYPE_LOCAL_APIC 0
#define ACPI_MADT_TYPE_IO_APIC 1
#define ACPI_MADT_TYPE_INTERRUPT_OVERRIDE 2
#define ACPI_MADT_TYPE_LOCAL_APIC_OVERRIDE 5
#define ACPI_MADT_TYPE_LOCAL_X2APIC 9
#define ACPI_MADT_ENABLED 1u
#define ACPI_MADT_ONLINE_CAPABLE 2u
#define ACPI_MADT_PCAT_COMPAT 1u

/* FADT flags and generic address space ids */
#define ACPI_FADT_TMR_VAL_EXT (1u << 8)
#define ACPI_FADT_RESET_REG_SUP (1u << 10)
#define ACPI_ADR_SPACE_SYSTEM_MEMORY 0
#define ACPI_ADR_SPACE_SYSTEM_IO 1
#define ACPI_ADR_SPACE_PCI_CONFIG 2

bool acpi_checksum_ok(const void *p, size_t len);
/* Validates an RSDP (rev 0: 20-byte checksum; rev >= 2: also length >= 36
 * and the extended checksum over 36 bytes, as Linux does; avail must then
 * be >= 36). Returns the XSDT address (*xsdt = true) if rev >= 2 and it is
 * nonzero, else the RSDT address (*xsdt = false); 0 if invalid. */
uint64_t acpi_rsdp_root(const void *rsdp, size_t avail, bool *xsdt);
/* Scans [p, p+len) at offsets that are multiples of 16 (pass a 16-byte
 * aligned p) for a valid RSDP; returns its offset or -1. */
long acpi_rsdp_scan(const void *p, size_t len);
/* Validates signature (4 chars), length (>= 36, <= avail) and checksum of
 * any SDT; returns the table length or 0. */
uint32_t acpi_sdt_valid(const void *t, size_t avail, const char *sig);
/* Entries of an RSDT (4-byte addresses) or XSDT (8-byte), which must have
 * passed acpi_sdt_valid (its length is trusted). entry returns 0 past the end. */
unsigned acpi_root_count(const void *root, bool xsdt);
uint64_t acpi_root_entry(const void *root, bool xsdt, unsigned i);

#define MADT_MAX_CPUS 1024   /* = MAX_CPUS in kernel/percpu.h */
#define MADT_MAX_IOAPICS 8
#define MADT_MAX_OVERRIDES 16

struct madt_info {
    uint64_t lapic_addr;
    unsigned ncpus;
    uint32_t apic_id[MADT_MAX_CPUS];   /* in table order; the BSP is usually first */
    unsigned nioapic;
    struct { uint32_t id, addr, gsi_base; } ioapic[MADT_MAX_IOAPICS];
    unsigned noverride;
    struct { uint8_t bus_irq; uint32_t gsi; uint16_t flags; } override[MADT_MAX_OVERRIDES];
    bool pcat_compat;
    unsigned skipped_cpus;   /* usable CPUs beyond MADT_MAX_CPUS */
};

/* madt = whole table incl. header (length from header, must be <= len);
 * validates signature "APIC" and checksum; collects enabled or
 * online-capable local APICs (type 0) and x2APICs (type 9) (duplicate ids
 * and id 0xFF/0xFFFFFFFF skipped), IOAPICs (1), overrides (2, bus 0) and the
 * LAPIC address override (5). IOAPICs/overrides beyond the array sizes are
 * ignored. An entry whose length is shorter than its type needs or runs past
 * the table ends parsing with an error. Returns 0 or -1. */
int madt_parse(const void *madt, size_t len, struct madt_info *out);

struct fadt_info {
    uint16_t pm1a_cnt, pm1b_cnt;     /* I/O ports, 0 if none */
    uint32_t pm_tmr_blk;             /* I/O port, 0 if none */
    bool tmr_32bit;
    uint64_t dsdt;                   /* X_DSDT if present and nonzero, else DSDT */
    uint8_t reset_space;             /* ACPI_ADR_SPACE_* */
    uint64_t reset_addr;
    uint8_t reset_value;
    bool reset_supported;            /* flag set and a reset register given */
    uint16_t smi_cmd;
    uint8_t acpi_enable;
};

/* SPCR (Microsoft "Serial Port Console Redirection Table"): the firmware's console UART. */
#define SPCR_MIN_LEN 80
#define SPCR_IF_16550 0x00          /* full 16550 */
#define SPCR_IF_16450 0x01          /* 16450 (16550 subset) */
#define SPCR_IF_16550_GAS 0x12      /* 16550-compatible, parameters from the GAS */

struct spcr_info {
    uint8_t interface;               /* SPCR_IF_* or another ACPI DBG2 port subtype */
    uint8_t space;                   /* ACPI_ADR_SPACE_* of the base address */
    uint64_t addr;
    uint32_t baud;                   /* 0 = "as is": leave the UART's rate alone */
};

/* spcr = whole table ("SPCR", length >= 80, checksum). Baud codes 3, 4, 6, 7 = 9600, 19200,
 * 57600, 115200; 0 = as is; any other code gives -1, as does a table too short. Returns 0 or -1.
 * Whether the port is usable (a 16550 in I/O space) is the caller's decision. */
int spcr_parse(const void *spcr, size_t len, struct spcr_info *out);

/* fadt = whole table ("FACP", length >= 116 (ACPI 1.0), checksum). Fields
 * from later revisions are used only if the table is long enough. Returns 0 or -1. */
int fadt_parse(const void *fadt, size_t len, struct fadt_info *out);

/* Finds the \_S5_ package in DSDT AML (whole table or just the AML) and
 * returns SLP_TYPa/b. Returns 0 or -1. */
int acpi_find_s5(const void *dsdt, size_t len, uint8_t *slp_typa, uint8_t *slp_typb);

#endif
