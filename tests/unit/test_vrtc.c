/* kernel/dev/vrtc.c: the MC146818 RTC and CMOS. Expectations from the MC146818A datasheet
 * (register formats, 12 h PM bit, status A-D, SET, UIP 244 us before the update, periodic rates
 * of table 3, alarm don't-care codes, UIE cleared by SET, half a second to the first update after
 * a divider reset) and the calendar (leap years, month and century roll-overs). */
#include <time.h>
#include "check.h"
#include "kernel/dev/vrtc.h"

#define TICK 100000ull                  /* TSC per 32.768 kHz tick */
#define HZ (RTC_HZ * TICK)              /* a 3.2768 GHz TSC: events at exact TSC values */
#define SEC HZ
#define T0 1000000ull
#define UNIX_2023 1700000000ull         /* 2023-11-14 22:13:20 UTC, a Tuesday */

static struct vrtc R;
static struct vrtc_out O;
static uint64_t now;

static void reset(uint64_t unix_time, uint64_t lo, uint64_t hi)
{
    struct vrtc_config c = { .tsc_hz = HZ, .unix_time = unix_time, .ram_below_4g = lo,
                             .ram_above_4g = hi };
    now = T0;
    vrtc_reset(&R, &c, now);
}

static uint8_t rd(unsigned reg)
{
    vrtc_write(&R, RTC_PORT_INDEX, (uint8_t)reg, now, &O);
    return vrtc_read(&R, RTC_PORT_DATA, now, &O);
}

static void wr(unsigned reg, uint8_t v)
{
    vrtc_write(&R, RTC_PORT_INDEX, (uint8_t)reg, now, &O);
    vrtc_write(&R, RTC_PORT_DATA, v, now, &O);
}

/* sec, min, hour, dow, dom, mon, year, century as the guest reads them. */
static void check_time(const uint8_t want[8])
{
    static const unsigned regs[8] = { RTC_SECONDS, RTC_MINUTES, RTC_HOURS, RTC_DAY_OF_WEEK,
                                      RTC_DAY_OF_MONTH, RTC_MONTH, RTC_YEAR, RTC_CENTURY };
    for (unsigned i = 0; i < 8; i++)
        CHECK_EQ_U64(rd(regs[i]), want[i]);
}

/* dow 0: leave the day of week register alone, as Linux's mc146818_set_time does. */
static void set_time(uint8_t s, uint8_t m, uint8_t h, uint8_t dow, uint8_t dom, uint8_t mon,
                     uint8_t y, uint8_t c)
{
    uint8_t b = rd(RTC_REG_B);
    wr(RTC_REG_B, b | RTC_B_SET);
    if (dow)
        wr(RTC_DAY_OF_WEEK, dow);
    wr(RTC_SECONDS, s), wr(RTC_MINUTES, m), wr(RTC_HOURS, h), wr(RTC_DAY_OF_MONTH, dom);
    wr(RTC_MONTH, mon), wr(RTC_YEAR, y), wr(RTC_CENTURY, c);
    wr(RTC_REG_B, b & (uint8_t)~RTC_B_SET);
}

static void test_reset_state(void)
{
    reset(UNIX_2023, 0, 0);
    check_time((const uint8_t[8]){ 0x20, 0x13, 0x22, 0x03, 0x14, 0x11, 0x23, 0x20 });
    CHECK_EQ_U64(rd(RTC_REG_A), 0x26);
    CHECK_EQ_U64(rd(RTC_REG_B), 0x02);
    CHECK_EQ_U64(rd(RTC_REG_C), 0);
    CHECK_EQ_U64(rd(RTC_REG_D), RTC_D_VRT);
    CHECK(!O.irq);
    CHECK_EQ_U64(vrtc_next_event(&R, now), UINT64_MAX);
    /* 1970-01-01 00:00:00 is a Thursday (5). */
    reset(0, 0, 0);
    check_time((const uint8_t[8]){ 0x00, 0x00, 0x00, 0x05, 0x01, 0x01, 0x70, 0x19 });
    /* Port 0x70 reads 0xFF; the index keeps the NMI bit apart. */
    CHECK_EQ_U64(vrtc_read(&R, RTC_PORT_INDEX, now, &O), 0xFF);
    CHECK_EQ_U64(vrtc_read(&R, 0x72, now, &O), 0xFF);
    vrtc_write(&R, RTC_PORT_INDEX, RTC_NMI_MASK | 0x40, now, &O);
    CHECK(R.nmi_masked);
    vrtc_write(&R, RTC_PORT_DATA, 0x5A, now, &O);
    vrtc_write(&R, RTC_PORT_INDEX, 0x40, now, &O);
    CHECK(!R.nmi_masked);
    CHECK_EQ_U64(vrtc_read(&R, RTC_PORT_DATA, now, &O), 0x5A);    /* CMOS RAM */
    /* C and D are read-only. */
    wr(RTC_REG_D, 0);
    wr(RTC_REG_C, 0xFF);
    CHECK_EQ_U64(rd(RTC_REG_D), 0x80);
    CHECK_EQ_U64(rd(RTC_REG_C), 0);
}

static void test_memory_bytes(void)
{
    reset(0, 512ull << 20, 2ull << 30);
    CHECK_EQ_U64(rd(0x15) | rd(0x16) << 8, 640);
    CHECK_EQ_U64(rd(0x17) | rd(0x18) << 8, 0xFFFF);            /* capped at 64 MiB */
    CHECK_EQ_U64(rd(0x30) | rd(0x31) << 8, 0xFFFF);
    CHECK_EQ_U64(rd(0x34) | rd(0x35) << 8, (496ull << 20) >> 16);
    CHECK_EQ_U64(rd(0x5B) | rd(0x5C) << 8 | rd(0x5D) << 16, (2ull << 30) >> 16);
    unsigned sum = 0;
    for (unsigned i = 0x10; i <= 0x2D; i++)
        sum += rd(i);
    CHECK_EQ_U64(rd(0x2E) << 8 | rd(0x2F), sum);
    reset(0, 32ull << 20, 0);
    CHECK_EQ_U64(rd(0x17) | rd(0x18) << 8, 31 * 1024);
    CHECK_EQ_U64(rd(0x30) | rd(0x31) << 8, 31 * 1024);
    CHECK_EQ_U64(rd(0x34) | rd(0x35) << 8, 256);
    CHECK_EQ_U64(rd(0x5B) | rd(0x5C) << 8 | rd(0x5D) << 16, 0);
    reset(0, 512 << 10, 0);                                    /* 512 KiB */
    CHECK_EQ_U64(rd(0x15) | rd(0x16) << 8, 512);
    CHECK_EQ_U64(rd(0x17) | rd(0x18) << 8, 0);
    CHECK_EQ_U64(rd(0x34) | rd(0x35) << 8, 0);
    reset(0, 3ull << 30, 1ull << 50);
    CHECK_EQ_U64(rd(0x34) | rd(0x35) << 8, ((3ull << 30) - (16ull << 20)) >> 16);
    CHECK_EQ_U64(rd(0x5B) | rd(0x5C) << 8 | rd(0x5D) << 16, 0xFFFFFF);
}

static void test_counting_and_formats(void)
{
    reset(UNIX_2023, 0, 0);
    now = T0 + SEC - 1;
    CHECK_EQ_U64(rd(RTC_SECONDS), 0x20);
    now = T0 + SEC;                                            /* the update */
    CHECK_EQ_U64(rd(RTC_SECONDS), 0x21);
    now = T0 + 100 * SEC;                                      /* 22:15:00 */
    check_time((const uint8_t[8]){ 0x00, 0x15, 0x22, 0x03, 0x14, 0x11, 0x23, 0x20 });
    /* Binary. */
    wr(RTC_REG_B, RTC_B_24H | RTC_B_DM_BINARY);
    check_time((const uint8_t[8]){ 0, 15, 22, 3, 14, 11, 23, 20 });
    /* 12 hours: 10 PM; binary then BCD. */
    wr(RTC_REG_B, RTC_B_DM_BINARY);
    CHECK_EQ_U64(rd(RTC_HOURS), 0x80 | 10);
    wr(RTC_REG_B, 0);
    CHECK_EQ_U64(rd(RTC_HOURS), 0x90);
    /* Midnight and noon in 12 h mode: 12 AM, 12 PM. */
    set_time(0x00, 0x00, 0x12, 0, 0x01, 0x01, 0x24, 0x20);        /* 12 AM = 00:00 */
    wr(RTC_REG_B, RTC_B_24H);
    CHECK_EQ_U64(rd(RTC_HOURS), 0x00);
    wr(RTC_REG_B, 0);
    wr(RTC_HOURS, 0x92);                                       /* 12 PM */
    CHECK_EQ_U64(rd(RTC_HOURS), 0x92);
    wr(RTC_REG_B, RTC_B_24H);
    CHECK_EQ_U64(rd(RTC_HOURS), 0x12);
    wr(RTC_REG_B, 0);
    wr(RTC_HOURS, 0x81);                                       /* 1 PM */
    wr(RTC_REG_B, RTC_B_24H);
    CHECK_EQ_U64(rd(RTC_HOURS), 0x13);
}

static void test_calendar(void)
{
    reset(UNIX_2023, 0, 0);
    /* Leap day (2024-02-28 is a Wednesday, 4). */
    set_time(0x59, 0x59, 0x23, 0x04, 0x28, 0x02, 0x24, 0x20);
    now += SEC;
    check_time((const uint8_t[8]){ 0x00, 0x00, 0x00, 0x05, 0x29, 0x02, 0x24, 0x20 });
    now += 86400 * SEC;
    check_time((const uint8_t[8]){ 0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x24, 0x20 });
    /* 2100 is not a leap year; 2000 is. */
    set_time(0x59, 0x59, 0x23, 0, 0x28, 0x02, 0x00, 0x21);
    now += SEC;
    CHECK_EQ_U64(rd(RTC_DAY_OF_MONTH), 0x01);
    CHECK_EQ_U64(rd(RTC_MONTH), 0x03);
    set_time(0x59, 0x59, 0x23, 0, 0x28, 0x02, 0x00, 0x20);
    now += SEC;
    CHECK_EQ_U64(rd(RTC_DAY_OF_MONTH), 0x29);
    /* The century. */
    set_time(0x59, 0x59, 0x23, 0x06, 0x31, 0x12, 0x99, 0x19);
    CHECK_EQ_U64(rd(RTC_YEAR), 0x99);
    now += SEC;
    check_time((const uint8_t[8]){ 0x00, 0x00, 0x00, 0x07, 0x01, 0x01, 0x00, 0x20 });
    /* The end of the registers' range wraps to year 0 (a Saturday after Friday). */
    set_time(0x59, 0x59, 0x23, 0x06, 0x31, 0x12, 0x99, 0x99);
    now += SEC;
    check_time((const uint8_t[8]){ 0x00, 0x00, 0x00, 0x07, 0x01, 0x01, 0x00, 0x00 });
    /* Fields set one by one under SET: Feb 31 reads back as written until the next update. */
    set_time(0x00, 0x00, 0x00, 0, 0x31, 0x02, 0x23, 0x20);
    CHECK_EQ_U64(rd(RTC_DAY_OF_MONTH), 0x31);
    now += SEC;
    CHECK_EQ_U64(rd(RTC_DAY_OF_MONTH), 0x03);
    CHECK_EQ_U64(rd(RTC_MONTH), 0x03);
    /* The day of week register counts days from what it held (7 above): none passed yet. */
    CHECK_EQ_U64(rd(RTC_DAY_OF_WEEK), 0x07);
    now += 86400 * SEC;
    CHECK_EQ_U64(rd(RTC_DAY_OF_WEEK), 0x01);
}

static void test_set_and_uip(void)
{
    reset(UNIX_2023, 0, 0);
    wr(RTC_REG_A, RTC_A_DV_32K);                               /* no periodic flags */
    /* UIP: the last 8 ticks (244 us) before each update. */
    now = T0 + (RTC_HZ - RTC_UIP_TICKS) * TICK - 1;
    CHECK_EQ_U64(rd(RTC_REG_A), 0x20);
    now++;
    CHECK_EQ_U64(rd(RTC_REG_A), 0xA0);
    CHECK_EQ_U64(rd(RTC_SECONDS), 0x20);
    now = T0 + SEC;
    CHECK_EQ_U64(rd(RTC_REG_A), 0x20);
    CHECK_EQ_U64(rd(RTC_SECONDS), 0x21);
    rd(RTC_REG_C);
    wr(RTC_REG_A, 0xA0);                                       /* UIP is read-only */
    CHECK_EQ_U64(R.cmos[RTC_REG_A], 0x20);
    /* SET freezes the clock, clears UIE and UIP; no update interrupt while set. */
    wr(RTC_REG_B, RTC_B_24H | RTC_B_UIE);
    wr(RTC_REG_B, RTC_B_24H | RTC_B_UIE | RTC_B_SET);
    CHECK_EQ_U64(rd(RTC_REG_B), RTC_B_24H | RTC_B_SET);
    now += 5 * SEC - 4 * TICK;
    CHECK_EQ_U64(rd(RTC_SECONDS), 0x21);
    CHECK_EQ_U64(rd(RTC_REG_A), 0x20);
    CHECK_EQ_U64(rd(RTC_REG_C), 0);
    wr(RTC_SECONDS, 0x40);
    wr(RTC_REG_B, RTC_B_24H);
    CHECK_EQ_U64(rd(RTC_SECONDS), 0x40);
    now += 4 * TICK;                                           /* the divider's next second */
    CHECK_EQ_U64(rd(RTC_SECONDS), 0x41);
    /* A write with SET clear sets the time too and keeps the phase. */
    wr(RTC_MINUTES, 0x59);
    CHECK_EQ_U64(rd(RTC_MINUTES), 0x59);
    now += SEC - 1;
    CHECK_EQ_U64(rd(RTC_SECONDS), 0x41);
    now += 1;
    CHECK_EQ_U64(rd(RTC_SECONDS), 0x42);
    /* Divider reset stops everything; leaving it, the first update comes 0.5 s later. */
    wr(RTC_REG_A, 0x70);
    rd(RTC_REG_C);
    uint8_t s = rd(RTC_SECONDS);
    now += 10 * SEC;
    CHECK_EQ_U64(rd(RTC_SECONDS), s);
    CHECK_EQ_U64(rd(RTC_REG_C), 0);
    wr(RTC_REG_B, RTC_B_24H | RTC_B_UIE);
    CHECK_EQ_U64(vrtc_next_event(&R, now), UINT64_MAX);
    wr(RTC_REG_A, 0x20);
    CHECK_EQ_U64(vrtc_next_event(&R, now), now + SEC / 2);
    now += SEC / 2 - 1;
    CHECK_EQ_U64(rd(RTC_SECONDS), s);
    now += 1;
    CHECK(vrtc_tick(&R, now));
    CHECK_EQ_U64(rd(RTC_SECONDS), s + 1);
    CHECK_EQ_U64(rd(RTC_REG_C), RTC_C_IRQF | RTC_C_UF);
}

static void test_periodic(void)
{
    reset(UNIX_2023, 0, 0);
    /* Flags without enables: PF sets, no IRQ. */
    now += 32 * TICK;
    CHECK_EQ_U64(rd(RTC_REG_C), RTC_C_PF);
    CHECK(!O.irq);
    /* Rate 6 = 1024 Hz = 32 ticks; rate 3 = 8192 Hz; 15 = 2 Hz; 1 = 256 Hz; 0 = none. */
    const struct { uint8_t rs; uint64_t ticks; } rates[] = {
        { 6, 32 }, { 3, 4 }, { 15, 16384 }, { 1, 128 }, { 2, 256 }, { 7, 64 },
    };
    wr(RTC_REG_B, RTC_B_24H | RTC_B_PIE);
    for (unsigned i = 0; i < sizeof rates / sizeof rates[0]; i++) {
        wr(RTC_REG_A, RTC_A_DV_32K | rates[i].rs);
        rd(RTC_REG_C);
        uint64_t t = (now - T0) / TICK, next = (t / rates[i].ticks + 1) * rates[i].ticks;
        uint64_t ev = vrtc_next_event(&R, now);
        CHECK_EQ_U64(ev, T0 + next * TICK);
        CHECK(!vrtc_tick(&R, ev - 1));
        CHECK(vrtc_tick(&R, ev));
        CHECK_EQ_U64(vrtc_next_event(&R, ev), UINT64_MAX);      /* asserted until C is read */
        now = ev + 1;
        uint8_t c = rd(RTC_REG_C);
        CHECK(c & RTC_C_IRQF && c & RTC_C_PF);
        CHECK(!O.irq);
    }
    wr(RTC_REG_A, RTC_A_DV_32K);
    rd(RTC_REG_C);
    CHECK_EQ_U64(vrtc_next_event(&R, now), UINT64_MAX);
    now += 3 * SEC;
    CHECK_EQ_U64(rd(RTC_REG_C), RTC_C_UF);
    /* Enabling PIE with PF already set raises IRQ 8 at once; clearing PIE drops it. */
    wr(RTC_REG_B, RTC_B_24H);
    wr(RTC_REG_A, 0x26);
    now += 32 * TICK;
    wr(RTC_REG_B, RTC_B_24H | RTC_B_PIE);
    CHECK(O.irq);
    wr(RTC_REG_B, RTC_B_24H);
    CHECK(!O.irq);
}

/* Periods lost to a set PF are owed while PIE is on: each C read lets the next one rise at once;
 * at most half a second of them; none after PIE is cleared or the rate changes. */
static void test_periodic_owed(void)
{
    reset(UNIX_2023, 0, 0);
    wr(RTC_REG_A, RTC_A_DV_32K | 6);                           /* 1024 Hz: 32 ticks */
    wr(RTC_REG_B, RTC_B_24H | RTC_B_PIE);
    rd(RTC_REG_C);
    now += 10 * 32 * TICK + TICK;                               /* ten periods, nobody looked */
    CHECK(vrtc_tick(&R, now));
    CHECK_EQ_U64(R.pf_owed, 9);
    /* each read of C lets the next owed one rise at once */
    for (int i = 0; i < 9; i++) {
        uint8_t c = rd(RTC_REG_C);
        CHECK(c & RTC_C_PF);
        CHECK(!O.irq && O.timer_changed);                       /* the read drops IRQ 8 */
        CHECK_EQ_U64(vrtc_next_event(&R, now), now);
        CHECK(vrtc_tick(&R, now));
    }
    CHECK_EQ_U64(R.pf_owed, 0);
    rd(RTC_REG_C);
    CHECK(!vrtc_tick(&R, now));
    CHECK(vrtc_next_event(&R, now) > now);
    /* a new period that finds an owed PF pending is merged with it: the backlog drains */
    now += 3 * 32 * TICK;
    CHECK(vrtc_tick(&R, now));
    CHECK_EQ_U64(R.pf_owed, 2);
    rd(RTC_REG_C);
    CHECK(vrtc_tick(&R, now));                                  /* owed: 1 left */
    now += 32 * TICK;                                           /* a new period: merged */
    CHECK(vrtc_tick(&R, now));
    CHECK_EQ_U64(R.pf_owed, 1);
    rd(RTC_REG_C);
    CHECK(vrtc_tick(&R, now));
    CHECK_EQ_U64(R.pf_owed, 0);
    rd(RTC_REG_C);
    /* a long stall owes at most half a second */
    now += 5 * SEC;
    CHECK(vrtc_tick(&R, now));
    CHECK_EQ_U64(R.pf_owed, 513);
    /* clearing PIE forgets what is owed */
    wr(RTC_REG_B, RTC_B_24H);
    CHECK_EQ_U64(R.pf_owed, 0);
    rd(RTC_REG_C);
    wr(RTC_REG_B, RTC_B_24H | RTC_B_PIE);
    now += 16 * TICK;
    CHECK(!vrtc_tick(&R, now));
    /* so does a new rate */
    now += 32 * 32 * TICK;
    CHECK(vrtc_tick(&R, now));
    CHECK(R.pf_owed > 0);
    wr(RTC_REG_A, RTC_A_DV_32K | 7);
    CHECK_EQ_U64(R.pf_owed, 0);
}

static void test_alarm(void)
{
    reset(UNIX_2023, 0, 0);                                    /* 22:13:20 */
    wr(RTC_REG_A, RTC_A_DV_32K);                               /* no periodic flags */
    wr(RTC_HOURS_ALARM, 0x22);
    wr(RTC_MINUTES_ALARM, 0x13);
    wr(RTC_SECONDS_ALARM, 0x23);
    CHECK(O.timer_changed);
    wr(RTC_REG_B, RTC_B_24H | RTC_B_AIE);
    uint64_t ev = vrtc_next_event(&R, now);
    CHECK_EQ_U64(ev, T0 + 3 * SEC);
    now = ev - 1;
    CHECK_EQ_U64(rd(RTC_REG_C), RTC_C_UF);                     /* updates at +1 s and +2 s */
    CHECK(vrtc_tick(&R, ev));
    now = ev;
    CHECK_EQ_U64(rd(RTC_SECONDS), 0x23);
    CHECK_EQ_U64(rd(RTC_REG_C), RTC_C_IRQF | RTC_C_AF | RTC_C_UF);
    /* Fully specified: next match is one day later. */
    CHECK_EQ_U64(vrtc_next_event(&R, now), ev + 86400 * SEC);
    /* Don't care hours and minutes: every minute at :00. */
    wr(RTC_HOURS_ALARM, 0xC0);
    wr(RTC_MINUTES_ALARM, 0xFF);
    wr(RTC_SECONDS_ALARM, 0x00);
    CHECK_EQ_U64(vrtc_next_event(&R, now), ev + 37 * SEC);     /* 22:14:00 */
    /* Don't care hours, minute 15, second 0: 22:15:00. */
    wr(RTC_MINUTES_ALARM, 0x15);
    CHECK_EQ_U64(vrtc_next_event(&R, now), ev + 97 * SEC);
    wr(RTC_MINUTES_ALARM, 0xFF);
    /* All don't care: every second. */
    wr(RTC_SECONDS_ALARM, 0xC5);
    CHECK_EQ_U64(vrtc_next_event(&R, now), ev + SEC);
    /* 12 h mode, binary: 10 PM = 0x8A; minute 14. */
    wr(RTC_REG_B, RTC_B_AIE | RTC_B_DM_BINARY);
    wr(RTC_HOURS_ALARM, 0x8A);
    wr(RTC_MINUTES_ALARM, 14);
    wr(RTC_SECONDS_ALARM, 30);
    CHECK_EQ_U64(vrtc_next_event(&R, now), ev + 67 * SEC);
    wr(RTC_HOURS_ALARM, 0x0A);                                 /* 10 AM: tomorrow */
    CHECK_EQ_U64(vrtc_next_event(&R, now), ev + (86400 - 12 * 3600 + 67) * SEC);
    wr(RTC_HOURS_ALARM, 0x8D);                                 /* 13 PM never matches */
    CHECK_EQ_U64(vrtc_next_event(&R, now), UINT64_MAX);
    wr(RTC_HOURS_ALARM, 24);
    wr(RTC_REG_B, RTC_B_AIE | RTC_B_DM_BINARY | RTC_B_24H);
    CHECK_EQ_U64(vrtc_next_event(&R, now), UINT64_MAX);
    /* A late caller still gets AF for an alarm that matched in between. */
    wr(RTC_HOURS_ALARM, 22);
    now += 3600 * SEC;
    CHECK(vrtc_tick(&R, now));
    CHECK_EQ_U64(rd(RTC_REG_C), RTC_C_IRQF | RTC_C_AF | RTC_C_UF);
}

static void test_time_backwards_and_clocks(void)
{
    reset(UNIX_2023, 0, 0);
    now = T0 + 5 * SEC;
    CHECK_EQ_U64(rd(RTC_SECONDS), 0x25);
    now = T0;                                                  /* backwards: no movement */
    CHECK_EQ_U64(rd(RTC_SECONDS), 0x25);
    CHECK_EQ_U64(rd(RTC_REG_C), RTC_C_PF | RTC_C_UF);
    /* A real TSC rate: 2.9 GHz, one day later. */
    struct vrtc_config c = { .tsc_hz = 2900000000ull, .unix_time = UNIX_2023 };
    vrtc_reset(&R, &c, 7);
    now = 7 + 86400ull * 2900000000ull;
    CHECK_EQ_U64(rd(RTC_DAY_OF_MONTH), 0x15);
    CHECK_EQ_U64(rd(RTC_SECONDS), 0x20);
    now--;
    struct vrtc_time t = vrtc_time(&R, now);
    CHECK_EQ_U64(t.sec, 20);
    c.tsc_hz = 1;
    vrtc_reset(&R, &c, 0);
    CHECK_EQ_U64(R.tsc_hz, RTC_HZ);
}

/* Random wall-clock times from 1970 to 2199 against the C library's gmtime. */
static void test_against_gmtime(void)
{
    rng_seed(146818);
    for (int i = 0; i < 2000; i++) {
        uint64_t u = rng_below(7258118400ull);
        time_t tt = (time_t)u;
        struct tm tm;
        gmtime_r(&tt, &tm);
        reset(u, 0, 0);
        wr(RTC_REG_B, RTC_B_24H | RTC_B_DM_BINARY);
        CHECK_EQ_U64(rd(RTC_SECONDS), tm.tm_sec);
        CHECK_EQ_U64(rd(RTC_MINUTES), tm.tm_min);
        CHECK_EQ_U64(rd(RTC_HOURS), tm.tm_hour);
        CHECK_EQ_U64(rd(RTC_DAY_OF_WEEK), tm.tm_wday + 1);
        CHECK_EQ_U64(rd(RTC_DAY_OF_MONTH), tm.tm_mday);
        CHECK_EQ_U64(rd(RTC_MONTH), tm.tm_mon + 1);
        CHECK_EQ_U64(rd(RTC_YEAR) + 100 * rd(RTC_CENTURY), tm.tm_year + 1900);
        /* And some seconds later, counted by updates. */
        uint64_t d = rng_below(40000000);
        now += d * SEC;
        tt = (time_t)(u + d);
        gmtime_r(&tt, &tm);
        CHECK_EQ_U64(rd(RTC_SECONDS) + 60 * rd(RTC_MINUTES) + 3600 * rd(RTC_HOURS),
                     tm.tm_sec + 60 * tm.tm_min + 3600 * tm.tm_hour);
        CHECK_EQ_U64(rd(RTC_DAY_OF_WEEK), tm.tm_wday + 1);
        CHECK_EQ_U64(rd(RTC_DAY_OF_MONTH), tm.tm_mday);
        CHECK_EQ_U64(rd(RTC_MONTH), tm.tm_mon + 1);
        CHECK_EQ_U64(rd(RTC_YEAR) + 100 * rd(RTC_CENTURY), tm.tm_year + 1900);
    }
}

int main(void)
{
    RUN(test_reset_state);
    RUN(test_memory_bytes);
    RUN(test_counting_and_formats);
    RUN(test_calendar);
    RUN(test_set_and_uip);
    RUN(test_periodic);
    RUN(test_periodic_owed);
    RUN(test_alarm);
    RUN(test_time_backwards_and_clocks);
    RUN(test_against_gmtime);
    return check_summary("vrtc");
}
