/* ACPI discovery on the host: RSDP, MADT (CPUs, IOAPICs), FADT (PM timer, S5, reset). */
#ifndef DRIVERS_ACPI_H
#define DRIVERS_ACPI_H

#include <stdbool.h>
#include "drivers/acpi_tables.h"

struct bootinfo;

extern struct madt_info acpi_madt;
extern bool acpi_have_madt;
extern struct fadt_info acpi_fadt;
extern bool acpi_have_fadt;

/* drop_madt: behave as if the firmware had no MADT (test hook). */
void acpi_init(const struct bootinfo *bi, bool drop_madt);
/* The firmware's console UART from the SPCR table, looked up before memory is set up (only
 * tables below 4 GiB); false if there is none or it is malformed. */
bool acpi_early_spcr(const struct bootinfo *bi, struct spcr_info *out);
void acpi_power_off(void);
void acpi_reset(void);

#endif
