/* The date and time, from the machine's CMOS RTC read once at boot and the TSC since. */
#ifndef DRIVERS_WALLCLOCK_H
#define DRIVERS_WALLCLOCK_H

#include <stdint.h>

void wallclock_init(void);
uint64_t wallclock_unix(uint64_t tsc);      /* seconds since 1970-01-01 UTC at that TSC */

#endif
