/* libFuzzer target for the RTC/CMOS (kernel/dev/vrtc.c): index and data port accesses (biased
 * towards the clock registers and status A/B, so SET, divider resets, rates, modes and alarms
 * all happen) and time moving forwards (sometimes backwards) in small and huge steps. After each
 * step: the IRQ level is exactly (C flags & B enables), reading C clears the flags, D reads VRT,
 * UIP only in the 244 us before an update, the time after an update is a valid date, the index
 * stays in range, and vrtc_next_event() is exact: on a copy of the state IRQ 8 is still low one
 * TSC before the event and high at it (an owed periodic interrupt: high at once); periodic
 * interrupts are owed only while PIE is on, never more than half a second of them. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "kernel/dev/vrtc.h"

#define ASSERT(c) do { if (!(c)) { fprintf(stderr, "invariant failed: %s\n", #c); abort(); } } while (0)

static uint64_t take(const uint8_t **p, size_t *n, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes && *n; i++, (*p)++, (*n)--)
        v |= (uint64_t)**p << 8 * i;
    return v;
}

static void check(struct vrtc *r, uint64_t now)
{
    ASSERT(r->index < RTC_CMOS_SIZE);
    ASSERT((r->flags & ~(RTC_C_PF | RTC_C_AF | RTC_C_UF)) == 0);
    ASSERT(vrtc_irq(r) == ((r->flags & r->cmos[RTC_REG_B] & 0x70) != 0));
    ASSERT(r->seen >= r->stop_ticks || !r->stopped);
    bool frozen = r->stopped || (r->cmos[RTC_REG_B] & RTC_B_SET);
    if (!frozen && r->seen / RTC_HZ > r->upd) {
        struct vrtc_time t = vrtc_time(r, now);
        ASSERT(t.sec < 60 && t.min < 60 && t.hour < 24 && t.dom >= 1 && t.dom <= 31);
        ASSERT(t.mon >= 1 && t.mon <= 12 && t.dow >= 1 && t.dow <= 7 && t.century <= 99);
    }
    uint64_t ev = vrtc_next_event(r, now);
    static struct vrtc copy;
    copy = *r;
    if (r->pf_owed && !(r->flags & RTC_C_PF) && ev != UINT64_MAX) {
        ASSERT(ev == r->last && !vrtc_irq(r));  /* an owed periodic interrupt: due at once */
        ASSERT(vrtc_tick(&copy, now));
    } else if (ev != UINT64_MAX) {
        ASSERT(ev > now && !vrtc_irq(r));
        ASSERT(!vrtc_tick(&copy, ev - 1));
        ASSERT(vrtc_tick(&copy, ev));
    }
    /* owed interrupts: only while PIE is on, at most half a second of them */
    ASSERT(!r->pf_owed || (r->cmos[RTC_REG_B] & RTC_B_PIE));
    ASSERT(r->pf_owed <= RTC_HZ / 2 + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint64_t hz[] = { 3276800000ull, 2900000000ull, 32768, 1, 1ull << 45,
                                   1000000007ull };
    static const uint8_t regs[] = { RTC_SECONDS, RTC_SECONDS_ALARM, RTC_MINUTES,
                                    RTC_MINUTES_ALARM, RTC_HOURS, RTC_HOURS_ALARM,
                                    RTC_DAY_OF_WEEK, RTC_DAY_OF_MONTH, RTC_MONTH, RTC_YEAR,
                                    RTC_REG_A, RTC_REG_B, RTC_REG_C, RTC_REG_D, RTC_CENTURY,
                                    0x15 };
    static struct vrtc r;
    struct vrtc_out out;
    uint64_t now = take(&data, &size, 5);
    struct vrtc_config cfg = {
        .tsc_hz = hz[take(&data, &size, 1) % 6], .unix_time = take(&data, &size, 5),
        .ram_below_4g = take(&data, &size, 4) << 8, .ram_above_4g = take(&data, &size, 5) << 8,
    };
    vrtc_reset(&r, &cfg, now);
    while (size) {
        uint8_t op = (uint8_t)take(&data, &size, 1);
        switch (op & 3) {
        case 0: {                           /* select a register and write it */
            uint8_t reg = op & 4 ? regs[op >> 4] : (uint8_t)(op >> 3);
            uint8_t v = (uint8_t)take(&data, &size, 1);
            vrtc_write(&r, RTC_PORT_INDEX, (uint8_t)(reg | (op & 0x80)), now, &out);
            ASSERT(r.nmi_masked == !!(op & 0x80));
            vrtc_write(&r, RTC_PORT_DATA, v, now, &out);
            ASSERT(out.irq == vrtc_irq(&r));
            if (reg == RTC_REG_B && (v & RTC_B_SET))
                ASSERT(!(r.cmos[RTC_REG_B] & RTC_B_UIE));
            break;
        }
        case 1: {                           /* select and read */
            uint8_t reg = op & 4 ? regs[op >> 4] : (uint8_t)(op >> 3);
            vrtc_write(&r, RTC_PORT_INDEX, reg, now, &out);
            uint8_t v = vrtc_read(&r, RTC_PORT_DATA, now, &out);
            if (reg == RTC_REG_C) {
                ASSERT(r.flags == 0 && !out.irq);
                ASSERT(!!(v & RTC_C_IRQF) == ((v & r.cmos[RTC_REG_B] & 0x70) != 0));
            }
            if (reg == RTC_REG_D)
                ASSERT(v == RTC_D_VRT);
            if (reg == RTC_REG_A && (v & RTC_A_UIP))
                ASSERT(!r.stopped && r.seen % RTC_HZ >= RTC_HZ - RTC_UIP_TICKS);
            ASSERT(vrtc_read(&r, RTC_PORT_INDEX, now, &out) == 0xFF);
            break;
        }
        default: {                          /* time passes */
            uint64_t d = take(&data, &size, 1 + (op >> 2 & 7));
            now += d;
            if ((op & 3) == 3 && (op & 0x80))
                now -= d / 2 + 1;
            ASSERT(vrtc_tick(&r, now) == vrtc_irq(&r));
            break;
        }
        }
        check(&r, now);
    }
    return 0;
}
