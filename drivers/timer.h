/* TSC calibration (PIT channel 2, else the ACPI PM timer) and TSC-based delays. */
#ifndef DRIVERS_TIMER_H
#define DRIVERS_TIMER_H

#include <stdint.h>

extern uint64_t tsc_hz;

void tsc_calibrate(uint32_t pm_tmr_port);   /* port 0 = no PM timer */
void udelay(uint64_t us);
uint64_t tsc_to_us(uint64_t ticks);

#endif
