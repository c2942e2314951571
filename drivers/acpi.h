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
void acpi_power_off(void);
void acpi_reset(void);

#endif
