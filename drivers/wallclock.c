#include "drivers/wallclock.h"
#include "drivers/timer.h"
#include "kernel/x86.h"
#include "kernel/log.h"

#define CMOS_INDEX      0x70
#define CMOS_DATA       0x71
#define CMOS_NMI_OFF    0x80        /* keep NMIs masked while indexing, as firmware does */
#define RTC_SEC         0x00
#define RTC_MIN         0x02
#define RTC_HOUR        0x04
#define RTC_DAY         0x07
#define RTC_MON         0x08
#define RTC_YEAR        0x09
#define RTC_A           0x0A
#define RTC_B           0x0B
#define RTC_CENTURY     0x32
#define RTC_A_UIP       0x80
#define RTC_B_24H       0x02
#define RTC_B_BIN       0x04
#define HOUR_PM         0x80

static uint64_t base_unix, base_tsc;

static uint8_t cmos(uint8_t reg)
{
    outb(CMOS_INDEX, reg | CMOS_NMI_OFF);
    return inb(CMOS_DATA);
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void wallclock_init(void)
{
    for (unsigned spin = 0; spin < 1000000 && (cmos(RTC_A) & RTC_A_UIP); spin++)
        cpu_relax();
    uint8_t b = cmos(RTC_B), r[6] = { cmos(RTC_SEC), cmos(RTC_MIN), cmos(RTC_HOUR),
                                      cmos(RTC_DAY), cmos(RTC_MON), cmos(RTC_YEAR) };
    uint8_t century = cmos(RTC_CENTURY);
    base_tsc = rdtsc();
    bool pm = r[2] & HOUR_PM;
    r[2] &= (uint8_t)~HOUR_PM;
    if (!(b & RTC_B_BIN)) {
        for (int i = 0; i < 6; i++)
            r[i] = (uint8_t)((r[i] >> 4) * 10 + (r[i] & 0xF));
        century = (uint8_t)((century >> 4) * 10 + (century & 0xF));
    }
    if (!(b & RTC_B_24H))
        r[2] = (uint8_t)(r[2] % 12 + (pm ? 12 : 0));
    unsigned year = (century >= 19 && century <= 21 ? century : 20) * 100u + r[5];
    if (r[4] < 1 || r[4] > 12 || r[3] < 1 || r[3] > 31 || r[2] > 23 || r[1] > 59 || r[0] > 59) {
        pr_warn("wallclock: the CMOS clock reads nonsense; guests start in 2000\n");
        year = 2000, r[4] = r[3] = 1, r[2] = r[1] = r[0] = 0;
    }
    base_unix = (uint64_t)days_from_civil(year, r[4], r[3]) * 86400 + r[2] * 3600u +
                r[1] * 60u + r[0];
}

uint64_t wallclock_unix(uint64_t tsc)
{
    return base_unix + (tsc > base_tsc && tsc_hz ? (tsc - base_tsc) / tsc_hz : 0);
}
