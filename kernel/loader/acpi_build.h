/* Builds the ACPI tables a VM's guest finds: RSDP, XSDT, RSDT, FADT, FACS, DSDT and MADT, laid
 * out in one buffer the guest sees at a fixed guest-physical address. Pure: no Keel state. */
#ifndef KEEL_ACPI_BUILD_H
#define KEEL_ACPI_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where a Keel VM keeps its tables: the RSDP must sit on a 16-byte boundary in
 * 0xE0000-0xFFFFF, where OS scanners look for it (ACPI 6.x 5.2.5.1). */
#define ACPI_BUILD_GPA      0xE0000ull
#define ACPI_BUILD_MAX      0x20000ull
#define ACPI_RSDP_LEN       36          /* the RSDP acpi_build writes: revision 2 */

/* SLP_TYP value of \_S5 in the DSDT: writing it with SLP_EN to PM1a_CNT powers the VM off. */
#define ACPI_BUILD_S5_SLP_TYP 0

struct acpi_build_cfg {
    unsigned ncpus;         /* vCPUs, APIC IDs 0..ncpus-1, processor UIDs the same */
    bool x2apic;            /* IDs > 254 as x2APIC entries; without it ncpus must be <= 255 */
    uint32_t lapic_addr;    /* 0xFEE00000 */
    uint8_t ioapic_id;
    uint32_t ioapic_addr;   /* GSI base 0 */
    uint16_t pm1a_evt;      /* 4-byte PM1a event block (status + enable) */
    uint16_t pm1a_cnt;      /* 2-byte PM1a control block */
    uint16_t pm_tmr;        /* 4-byte PM timer, 24 bits */
    uint8_t sci;            /* ISA IRQ of the SCI (level, active low) */
    uint16_t reset_port;    /* I/O reset register */
    uint8_t reset_value;
    uint8_t century;        /* CMOS index of the century byte, 0 = none */
    uint64_t gpa;           /* guest-physical address of buf[0], 16-byte aligned, < 4 GiB */
};

/* Keel's platform (doc: PLATFORM8): the values every VM gets, for ncpus vCPUs. */
void acpi_build_defaults(struct acpi_build_cfg *c, unsigned ncpus);

/* Writes the tables into buf (cap bytes), RSDP first at buf[0]. Returns the bytes used and sets
 * *rsdp_gpa, or -1 if the config is invalid (no vCPU, IDs > 254 without x2apic, gpa not
 * 16-byte aligned or the tables would reach 4 GiB) or they do not fit in cap. */
long acpi_build(void *buf, size_t cap, const struct acpi_build_cfg *c, uint64_t *rsdp_gpa);

#endif
