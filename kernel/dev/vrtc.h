/* The MC146818 real-time clock and CMOS RAM of a PC (Motorola MC146818A datasheet; the
 * DS12887 describes the same registers), at ports 0x70 (index, bit 7 masks NMI) and 0x71 (data):
 * time and date in BCD or binary, 12- or 24-hour, status registers A-D, the update-in-progress
 * bit, periodic, alarm (with "don't care" values 0xC0-0xFF) and update-ended interrupts on
 * IRQ 8, the century at 0x32 (the FADT's CENTURY field) and the memory-size bytes a BIOS leaves:
 * 0x15-0x16 base KiB, 0x17-0x18 and 0x30-0x31 KiB above 1 MiB (at most 0xFFFF), 0x34-0x35 64 KiB
 * units above 16 MiB below 4 GiB, 0x5B-0x5D 64 KiB units above 4 GiB, and the standard checksum
 * of 0x10-0x2D at 0x2E-0x2F.
 *
 * Pure and tickless: the 32.768 kHz divider chain runs on the guest's TSC time line and every
 * value is computed from `now` (a TSC value; time that seems to run backwards is taken as not
 * moving). The caller arms a timer for vrtc_next_event() and then calls vrtc_tick(); IRQ 8 is
 * asserted while IRQF is set, i.e. until the guest reads register C (or clears the enable).
 *
 * Modelling choices:
 * - The time is kept as the register values of the last write or update plus the updates since;
 *   each update normalizes it, so a guest can set the fields one by one under SET (Feb 31 is
 *   March 2 or 3 after the next update). Values that are not valid BCD decode digit by digit.
 * - Day of week counts with the date from whatever the guest wrote (1 = Sunday at reset).
 * - Switching between BCD and binary, or 12 and 24 hours, shows the same time in the new format
 *   (the part would show the old bytes until they are rewritten). DSE (daylight saving) is
 *   stored but not applied.
 * - Divider values other than 010 (32.768 kHz) and 11x (chain reset) run as 010. Leaving the
 *   reset gives the first update half a second later, as the datasheet says.
 * - A late caller sees one interrupt for any number of missed update events (the flags are
 *   levels); an alarm that matched at any of the missed updates still sets AF. Periodic
 *   interrupts that found PF still set (the caller was late, or the guest slow to read C) are
 *   owed while PIE stays on and the rate unchanged, at most half a second of them: each read
 *   of C lets vrtc_tick() set PF again for the next one, so a guest counting them gets them. A
 *   new period that finds such an owed PF pending is merged with it: the backlog drains.
 * - Reading port 0x70 gives 0xFF (write-only on a PC).
 * - After 9999-12-31 23:59:59 comes 0000-01-01 (the registers hold no more). */
#ifndef KERNEL_DEV_VRTC_H
#define KERNEL_DEV_VRTC_H

#include <stdint.h>
#include <stdbool.h>

#define RTC_PORT_INDEX      0x70
#define RTC_PORT_DATA       0x71
#define RTC_NMI_MASK        0x80        /* port 0x70 bit 7: NMI disabled */
#define RTC_HZ              32768u
#define RTC_UIP_TICKS       8u          /* 244 us of the 32.768 kHz time base */
#define RTC_CMOS_SIZE       128

/* Register indices. */
#define RTC_SECONDS         0x00
#define RTC_SECONDS_ALARM   0x01
#define RTC_MINUTES         0x02
#define RTC_MINUTES_ALARM   0x03
#define RTC_HOURS           0x04
#define RTC_HOURS_ALARM     0x05
#define RTC_DAY_OF_WEEK     0x06
#define RTC_DAY_OF_MONTH    0x07
#define RTC_MONTH           0x08
#define RTC_YEAR            0x09
#define RTC_REG_A           0x0A
#define RTC_REG_B           0x0B
#define RTC_REG_C           0x0C
#define RTC_REG_D           0x0D
#define RTC_CENTURY         0x32
#define CMOS_BASE_MEM_LO    0x15
#define CMOS_EXT_MEM_LO     0x17
#define CMOS_CHECKSUM_HI    0x2E
#define CMOS_EXT_MEM2_LO    0x30
#define CMOS_MEM_16M_LO     0x34
#define CMOS_MEM_4G_LO      0x5B

#define RTC_A_UIP           0x80
#define RTC_A_DV_MASK       0x70
#define RTC_A_DV_32K        0x20
#define RTC_A_DV_RESET      0x60        /* DV2 and DV1 set: chain held in reset */
#define RTC_A_RS_MASK       0x0F
#define RTC_B_SET           0x80
#define RTC_B_PIE           0x40
#define RTC_B_AIE           0x20
#define RTC_B_UIE           0x10
#define RTC_B_SQWE          0x08
#define RTC_B_DM_BINARY     0x04
#define RTC_B_24H           0x02
#define RTC_B_DSE           0x01
#define RTC_C_IRQF          0x80
#define RTC_C_PF            0x40
#define RTC_C_AF            0x20
#define RTC_C_UF            0x10
#define RTC_D_VRT           0x80
#define RTC_ALARM_DONT_CARE 0xC0        /* bits 7:6 both set */

struct vrtc_config {
    uint64_t tsc_hz;                /* the guest's TSC rate; clamped to [RTC_HZ, 2^40] */
    uint64_t unix_time;             /* wall clock at reset, seconds since 1970-01-01 UTC */
    uint64_t ram_below_4g;          /* bytes of RAM from 0 (the 640K-1M hole included) */
    uint64_t ram_above_4g;          /* bytes of RAM from 4 GiB */
};

struct vrtc_out {
    bool irq;                       /* IRQ 8 level after the access */
    bool timer_changed;             /* re-read vrtc_next_event() */
};

/* Time fields as binary numbers, hours 0-23. */
struct vrtc_time {
    uint8_t sec, min, hour, dow, dom, mon, year, century;
};

struct vrtc {
    uint64_t tsc_hz;
    uint8_t index;
    bool nmi_masked;                /* port 0x70 bit 7, for the caller */
    uint8_t cmos[RTC_CMOS_SIZE];    /* RAM, alarms, A (bits 6:0), B */
    uint8_t flags;                  /* C: PF, AF, UF */
    uint32_t pf_owed;               /* periodic interrupts lost to a set PF, to re-raise */
    bool pf_is_owed;                /* PF was raised for an owed period */
    uint64_t div_tsc;               /* TSC of divider tick 0 (modulo 2^64) */
    uint64_t last;                  /* latest `now` seen */
    bool stopped;                   /* divider chain in reset */
    uint64_t stop_ticks;            /* divider ticks while stopped */
    uint64_t seen;                  /* divider ticks whose events are in `flags` */
    struct vrtc_time base;          /* the time at update number `upd` */
    uint64_t upd;
};

void vrtc_reset(struct vrtc *r, const struct vrtc_config *cfg, uint64_t now);
/* Byte accesses to 0x70 and 0x71; other ports read 0xFF and ignore writes. */
uint8_t vrtc_read(struct vrtc *r, uint16_t port, uint64_t now, struct vrtc_out *out);
void vrtc_write(struct vrtc *r, uint16_t port, uint8_t val, uint64_t now, struct vrtc_out *out);
/* TSC of the next IRQ 8 rising edge, UINT64_MAX if none (also while IRQ 8 is asserted). */
uint64_t vrtc_next_event(struct vrtc *r, uint64_t now);
/* Accounts events up to now; returns the IRQ 8 level. */
bool vrtc_tick(struct vrtc *r, uint64_t now);
bool vrtc_irq(const struct vrtc *r);
/* The current time (binary, 24 h), for the caller and tests. */
struct vrtc_time vrtc_time(struct vrtc *r, uint64_t now);

#endif
