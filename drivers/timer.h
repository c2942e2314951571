/* TSC calibration (PIT channel 2, else the ACPI PM timer) and TSC-based delays. */
#ifndef DRIVERS_TIMER_H
#define DRIVERS_TIMER_H

#include <stdbool.h>
#include <stdint.h>
#include "kernel/x86.h"

extern uint64_t tsc_hz;

/* port 0 = no PM timer. prefer_pm: try the PM timer first (UEFI machines may have the 8254 PIT
 * gated off; the PIT is then only the fallback). */
void tsc_calibrate(uint32_t pm_tmr_port, bool prefer_pm);
void udelay(uint64_t us);
uint64_t tsc_to_us(uint64_t ticks);
/* The TSC at which this CPU's guest timer is due (UINT64_MAX: none): the host timer (one-shot
 * local APIC timer, drivers/lapic.c) fires then as well as at the CPU's own tick. */
void host_timer_set_guest_deadline(uint64_t tsc);

/* A TSC value us microseconds from now, and whether it has passed (wrap-safe). */
static inline uint64_t tsc_deadline(uint64_t us)
{
    return rdtsc() + tsc_hz / 1000000 * us;
}

static inline bool tsc_passed(uint64_t deadline)
{
    return (int64_t)(rdtsc() - deadline) >= 0;
}

#endif
