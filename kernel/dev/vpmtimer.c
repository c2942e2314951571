#include "kernel/dev/vpmtimer.h"

#define TSC_HZ_MAX      (1ull << 40)
#define TMR_MASK        ((1u << PM_TMR_BITS) - 1)
#define TMR_STS_SHIFT   (PM_TMR_BITS - 1)   /* TMR_STS on every toggle of bit 23 */
#define CNT_RW          (PM1_CNT_SCI_EN | PM1_CNT_BM_RLD | PM1_CNT_GBL_RLS | PM1_CNT_SLP_TYP_MASK)
#define STS_W1C         (PM1_EVT_BITS | PM1_STS_WAK)

void vpm_reset(struct vpm *pm, uint64_t tsc_hz, uint64_t now)
{
    pm->tsc_hz = tsc_hz < PM_TMR_HZ ? PM_TMR_HZ : tsc_hz > TSC_HZ_MAX ? TSC_HZ_MAX : tsc_hz;
    pm->epoch = now;
    pm->last = now;
    pm->wraps_seen = 0;
    pm->sts = 0;
    pm->en = 0;
    pm->cnt = PM1_CNT_SCI_EN;
}

uint64_t vpm_ticks(struct vpm *pm, uint64_t now)
{
    if (now < pm->last)
        now = pm->last;
    pm->last = now;
    /* floor(d * PM_TMR_HZ / hz) without 128-bit division (r * PM_TMR_HZ < 2^62). */
    uint64_t d = now - pm->epoch;
    return d / pm->tsc_hz * PM_TMR_HZ + d % pm->tsc_hz * PM_TMR_HZ / pm->tsc_hz;
}

bool vpm_sci(const struct vpm *pm)
{
    return (pm->cnt & PM1_CNT_SCI_EN) && (pm->sts & pm->en & PM1_EVT_BITS);
}

bool vpm_tick(struct vpm *pm, uint64_t now)
{
    uint64_t wraps = vpm_ticks(pm, now) >> TMR_STS_SHIFT;
    if (wraps != pm->wraps_seen) {
        pm->wraps_seen = wraps;
        pm->sts |= PM1_TMR;
    }
    return vpm_sci(pm);
}

uint64_t vpm_next_event(struct vpm *pm, uint64_t now)
{
    vpm_tick(pm, now);
    if (!(pm->cnt & PM1_CNT_SCI_EN) || !(pm->en & PM1_TMR) || (pm->sts & PM1_TMR))
        return UINT64_MAX;
    /* First TSC whose tick count reaches the next toggle: ceil(t * hz / PM_TMR_HZ). */
    if (pm->wraps_seen + 1 > UINT64_MAX >> TMR_STS_SHIFT)
        return UINT64_MAX;
    uint64_t t = (pm->wraps_seen + 1) << TMR_STS_SHIFT;
    uint64_t r = t % PM_TMR_HZ, ev;
    if (__builtin_mul_overflow(t / PM_TMR_HZ, pm->tsc_hz, &ev) ||
        __builtin_add_overflow(ev, (r * pm->tsc_hz + PM_TMR_HZ - 1) / PM_TMR_HZ, &ev) ||
        __builtin_add_overflow(ev, pm->epoch, &ev))
        return UINT64_MAX;      /* beyond the end of the TSC */
    return ev;
}

static uint8_t read8(struct vpm *pm, unsigned off, uint64_t now)
{
    switch (off) {
    case VPM_PM1_STS: case VPM_PM1_STS + 1:
        return (uint8_t)(pm->sts >> 8 * (off & 1));
    case VPM_PM1_EN: case VPM_PM1_EN + 1:
        return (uint8_t)(pm->en >> 8 * (off & 1));
    case VPM_PM1_CNT: case VPM_PM1_CNT + 1:
        return (uint8_t)(pm->cnt >> 8 * (off & 1));
    case VPM_PM_TMR: case VPM_PM_TMR + 1: case VPM_PM_TMR + 2:
        return (uint8_t)((vpm_ticks(pm, now) & TMR_MASK) >> 8 * (off - VPM_PM_TMR));
    case VPM_PM_TMR + 3:
        return 0;               /* TMR_VAL_EXT = 0: bits 31:24 read 0 */
    default:
        return 0xFF;
    }
}

uint32_t vpm_read(struct vpm *pm, unsigned off, unsigned size, uint64_t now)
{
    uint32_t v = 0;
    vpm_tick(pm, now);
    /* One timer sample for a multi-byte read, so the bytes of PM_TMR belong together. */
    uint64_t t = vpm_ticks(pm, now);
    for (unsigned i = 0; i < size && i < 4; i++) {
        unsigned o = off + i;
        uint8_t b = o >= VPM_PM_TMR && o < VPM_PM_TMR + 3 ?
                    (uint8_t)((t & TMR_MASK) >> 8 * (o - VPM_PM_TMR)) : read8(pm, o, now);
        v |= (uint32_t)b << 8 * i;
    }
    return v;
}

static void write8(struct vpm *pm, unsigned off, uint8_t b, struct vpm_out *out)
{
    unsigned sh = 8 * (off & 1);
    switch (off) {
    case VPM_PM1_STS: case VPM_PM1_STS + 1:
        pm->sts &= (uint16_t)~((unsigned)b << sh & STS_W1C);
        break;
    case VPM_PM1_EN: case VPM_PM1_EN + 1:
        pm->en = (uint16_t)((pm->en & ~(0xFFu << sh)) | ((unsigned)b << sh & PM1_EVT_BITS));
        break;
    case VPM_PM1_CNT: case VPM_PM1_CNT + 1: {
        uint16_t v = (uint16_t)((pm->cnt & ~(0xFFu << sh)) | (unsigned)b << sh);
        pm->cnt = v & CNT_RW;
        unsigned typ = (v & PM1_CNT_SLP_TYP_MASK) >> PM1_CNT_SLP_TYP_SHIFT;
        if ((v & PM1_CNT_SLP_EN) && typ == VPM_SLP_TYP_S5)
            out->poweroff = true;
        break;
    }
    default:
        break;                  /* PM_TMR is read-only */
    }
}

void vpm_write(struct vpm *pm, unsigned off, unsigned size, uint32_t val, uint64_t now,
               struct vpm_out *out)
{
    out->poweroff = false;
    vpm_tick(pm, now);
    for (unsigned i = 0; i < size && i < 4; i++)
        write8(pm, off + i, (uint8_t)(val >> 8 * i), out);
    out->sci = vpm_sci(pm);
}

void vpm_power_button(struct vpm *pm, uint64_t now, struct vpm_out *out)
{
    vpm_tick(pm, now);
    pm->sts |= PM1_PWRBTN;
    out->poweroff = false;
    out->sci = vpm_sci(pm);
}
