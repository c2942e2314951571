/* libFuzzer target for the ACPI PM block (kernel/dev/vpmtimer.c): reads and writes of any size
 * at any offset, power-button presses and ticks at TSC values that mostly advance. Invariants:
 * the SCI level is exactly SCI_EN && (STS & EN), reserved bits stay clear, the full tick count
 * never goes backwards and PM_TMR is its low 24 bits, next_event is in the future, power-off only
 * from a write carrying SLP_EN with the S5 type. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "kernel/dev/vpmtimer.h"

#define ASSERT(c) do { if (!(c)) { fprintf(stderr, "invariant failed: %s\n", #c); abort(); } } while (0)

static uint64_t take(const uint8_t **p, size_t *n, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes && *n; i++, (*p)++, (*n)--)
        v |= (uint64_t)**p << 8 * i;
    return v;
}

static void check(struct vpm *pm, uint64_t now)
{
    ASSERT((pm->sts & ~(PM1_EVT_BITS | PM1_STS_WAK)) == 0);
    ASSERT((pm->en & ~PM1_EVT_BITS) == 0);
    ASSERT((pm->cnt & PM1_CNT_SLP_EN) == 0);
    ASSERT(vpm_sci(pm) == ((pm->cnt & PM1_CNT_SCI_EN) && (pm->sts & pm->en)));
    uint64_t ev = vpm_next_event(pm, now);
    ASSERT(ev == UINT64_MAX || ev > now);
    if (ev != UINT64_MAX) {
        ASSERT(!vpm_tick(pm, ev - 1) || vpm_sci(pm));
        ASSERT(pm->en & PM1_TMR);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint64_t hz[] = { 3000000000ull, 1000000000ull, 3579545ull, 1, 0, UINT64_MAX };
    struct vpm pm;
    struct vpm_out out;
    uint64_t now = take(&data, &size, 4);
    vpm_reset(&pm, hz[take(&data, &size, 1) % 6], now);
    uint64_t last_ticks = 0;
    while (size) {
        uint8_t op = (uint8_t)take(&data, &size, 1);
        unsigned off = op >> 4 & 0xF, sz = 1u << (op >> 2 & 3);
        switch (op & 3) {
        case 0: {
            uint32_t v = vpm_read(&pm, off, sz, now);
            if (off == VPM_PM_TMR && sz == 4)
                ASSERT(v == (vpm_ticks(&pm, now) & 0xFFFFFF));
            if (off >= VPM_BLOCK_LEN)
                ASSERT(v == (sz >= 4 ? 0xFFFFFFFFu : (1u << 8 * sz) - 1));
            break;
        }
        case 1: {
            uint32_t v = (uint32_t)take(&data, &size, sz > 4 ? 4 : sz);
            uint16_t cnt = pm.cnt;
            vpm_write(&pm, off, sz, v, now, &out);
            ASSERT(out.sci == vpm_sci(&pm));
            if (out.poweroff) {
                /* The SLP_EN byte must have been written with the S5 type in it. */
                unsigned hi = VPM_PM1_CNT + 1;
                ASSERT(off <= hi && hi < off + (sz > 4 ? 4 : sz));
                uint8_t b = (uint8_t)(v >> 8 * (hi - off));
                ASSERT(b & PM1_CNT_SLP_EN >> 8);
                ASSERT(((b << 8 & PM1_CNT_SLP_TYP_MASK) >> PM1_CNT_SLP_TYP_SHIFT) ==
                       VPM_SLP_TYP_S5);
            }
            (void)cnt;
            break;
        }
        case 2:
            vpm_power_button(&pm, now, &out);
            ASSERT(pm.sts & PM1_PWRBTN);
            break;
        default: {
            uint64_t d = take(&data, &size, 1 + (op >> 4 & 7));
            now += d;
            if (op & 0x80)
                now -= d / 2 + (op & 4);        /* sometimes back in time */
            ASSERT(vpm_tick(&pm, now) == vpm_sci(&pm));
            break;
        }
        }
        uint64_t t = vpm_ticks(&pm, now);
        ASSERT(t >= last_ticks);
        last_ticks = t;
        check(&pm, now);
    }
    return 0;
}
