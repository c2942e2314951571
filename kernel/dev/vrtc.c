#include "kernel/dev/vrtc.h"

#define TSC_HZ_MAX      (1ull << 40)
#define SECS_PER_DAY    86400
#define KIB             1024ull
#define MIB             (1024 * KIB)
#define BASE_MEM_KIB    640
#define CHECKSUM_FIRST  0x10
#define CHECKSUM_LAST   0x2D
#define RESET_A         (RTC_A_DV_32K | 0x06)   /* 32.768 kHz, 1024 Hz periodic rate */
#define RESET_B         RTC_B_24H
#define FLAG_BITS       (RTC_C_PF | RTC_C_AF | RTC_C_UF)    /* same bits as PIE/AIE/UIE in B */
#define ALARM_NEVER     (-2)
#define ALARM_ANY       (-1)

/* --- the calendar (proleptic Gregorian, days since 1970-01-01) --- */

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static int64_t days_from_civil(int64_t y, unsigned m, int64_t d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400), yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = floor_div(z, 146097), doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int64_t secs_of(const struct vrtc_time *t)
{
    unsigned mon = t->mon < 1 ? 1 : t->mon > 12 ? 12 : t->mon;
    return days_from_civil(t->century * 100 + t->year, mon, t->dom) * SECS_PER_DAY +
           t->hour * 3600 + t->min * 60 + t->sec;
}

/* The fields `secs` after `from`, counting the day of week on from from's. */
static struct vrtc_time time_after(const struct vrtc_time *from, uint64_t secs)
{
    /* Years 0000-9999 (what the year and century registers hold), wrapping around: 10000
     * Gregorian years are a whole number of days and weeks, so nothing else jumps. */
    static const int64_t lo = -62167219200, period = 315569520000;
    int64_t s0 = secs_of(from), s = s0 + (int64_t)(secs % (uint64_t)period);
    s = lo + (s - lo) % period;
    s += s < lo ? period : 0;
    int64_t days = floor_div(s, SECS_PER_DAY), sod = s - days * SECS_PER_DAY, y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    struct vrtc_time t = {
        .sec = (uint8_t)(sod % 60), .min = (uint8_t)(sod / 60 % 60), .hour = (uint8_t)(sod / 3600),
        .dom = (uint8_t)d, .mon = (uint8_t)m, .year = (uint8_t)(y % 100),
        .century = (uint8_t)(y / 100),
    };
    int64_t dd = days - floor_div(s0, SECS_PER_DAY);
    t.dow = (uint8_t)((((from->dow + 6) % 7 + dd) % 7 + 7) % 7 + 1);
    return t;
}

/* --- the divider chain on the TSC time line --- */

static uint64_t ticks(struct vrtc *r, uint64_t now)
{
    if (now < r->last)
        now = r->last;
    r->last = now;
    if (r->stopped)
        return r->stop_ticks;
    uint64_t d = now - r->div_tsc;      /* modulo 2^64: div_tsc may lie "before" 0 */
    return d / r->tsc_hz * RTC_HZ + d % r->tsc_hz * RTC_HZ / r->tsc_hz;
}

/* TSC length of t ticks, rounded up; false if it does not fit. */
static bool ticks_len(const struct vrtc *r, uint64_t t, uint64_t *len)
{
    uint64_t part = (t % RTC_HZ * r->tsc_hz + RTC_HZ - 1) / RTC_HZ;
    return !__builtin_mul_overflow(t / RTC_HZ, r->tsc_hz, len) &&
           !__builtin_add_overflow(*len, part, len);
}

static bool frozen(const struct vrtc *r)
{
    return r->stopped || (r->cmos[RTC_REG_B] & RTC_B_SET);
}

static struct vrtc_time time_at(const struct vrtc *r, uint64_t t)
{
    uint64_t n = t / RTC_HZ;
    if (frozen(r) || n <= r->upd)
        return r->base;
    return time_after(&r->base, n - r->upd);
}

static void rebase(struct vrtc *r, uint64_t t)
{
    r->base = time_at(r, t);
    r->upd = t / RTC_HZ;
}

static uint64_t periodic_ticks(const struct vrtc *r)
{
    unsigned rs = r->cmos[RTC_REG_A] & RTC_A_RS_MASK;
    if (rs == 0)
        return 0;
    return 1ull << (rs < 3 ? rs + 6 : rs - 1);     /* rates 1, 2 are 8, 9 at 32.768 kHz */
}

/* --- register formats and the alarm --- */

static bool binary(const struct vrtc *r)
{
    return r->cmos[RTC_REG_B] & RTC_B_DM_BINARY;
}

static uint8_t enc(const struct vrtc *r, unsigned v)
{
    return binary(r) ? (uint8_t)v : (uint8_t)((v / 10 % 10) << 4 | v % 10);
}

static unsigned dec(const struct vrtc *r, uint8_t v)
{
    return binary(r) ? v : (v >> 4) * 10u + (v & 0xFu);
}

static uint8_t enc_hour(const struct vrtc *r, unsigned h)
{
    if (r->cmos[RTC_REG_B] & RTC_B_24H)
        return enc(r, h);
    return (uint8_t)(enc(r, h % 12 ? h % 12 : 12) | (h >= 12 ? 0x80 : 0));
}

static unsigned dec_hour(const struct vrtc *r, uint8_t v)
{
    if (r->cmos[RTC_REG_B] & RTC_B_24H)
        return dec(r, v);
    return dec(r, v & 0x7F) % 12 + (v & 0x80 ? 12 : 0);
}

static int alarm_field(const struct vrtc *r, uint8_t v, bool hour, unsigned limit)
{
    if ((v & RTC_ALARM_DONT_CARE) == RTC_ALARM_DONT_CARE)
        return ALARM_ANY;
    unsigned x = hour ? dec_hour(r, v) : dec(r, v);
    if (hour && !(r->cmos[RTC_REG_B] & RTC_B_24H) && dec(r, v & 0x7F) - 1 >= 12)
        return ALARM_NEVER;                 /* 12 h mode: hours 1-12 only */
    return x < limit ? (int)x : ALARM_NEVER;
}

/* Seconds from time t to the next second (1 to 86400 later) the alarm matches, 0 if never. */
static uint32_t alarm_delta(const struct vrtc *r, const struct vrtc_time *t)
{
    int as = alarm_field(r, r->cmos[RTC_SECONDS_ALARM], false, 60);
    int am = alarm_field(r, r->cmos[RTC_MINUTES_ALARM], false, 60);
    int ah = alarm_field(r, r->cmos[RTC_HOURS_ALARM], true, 24);
    if (as == ALARM_NEVER || am == ALARM_NEVER || ah == ALARM_NEVER)
        return 0;
    int64_t secs = secs_of(t);                  /* normalizes fields written out of range */
    uint32_t sod = (uint32_t)(secs - floor_div(secs, SECS_PER_DAY) * SECS_PER_DAY);
    for (uint32_t d = 1; d <= SECS_PER_DAY;) {
        uint32_t x = (sod + d) % SECS_PER_DAY, h = x / 3600, m = x / 60 % 60, s = x % 60;
        if (ah >= 0 && h != (uint32_t)ah)
            d += 3600 - x % 3600;           /* to the next hour */
        else if (am >= 0 && m != (uint32_t)am)
            d += 60 - s;                    /* to the next minute */
        else if (as >= 0 && s != (uint32_t)as)
            d += (uint32_t)as > s ? (uint32_t)as - s : 60 - s;
        else
            return d;
    }
    return 0;
}

/* --- events --- */

static void advance(struct vrtc *r, uint64_t now)
{
    uint64_t t = ticks(r, now), s = r->seen, p = periodic_ticks(r);
    if (t <= s)
        return;
    if (p && t / p != s / p) {
        /* Periods that find PF still set would be lost: owed while PIE is on, up to half a
         * second of them (QEMU's "slew" policy for the RTC, bounded). */
        /* A PF raised for an owed period stands for the first new one: the backlog drains
         * even when the guest is slow, so owed interrupts cannot keep it busy for good. */
        uint64_t lost = t / p - s / p - (!(r->flags & RTC_C_PF) || r->pf_is_owed);
        uint64_t max = RTC_HZ / 2 / p + 1;
        r->pf_is_owed = false;
        if (r->cmos[RTC_REG_B] & RTC_B_PIE)
            r->pf_owed = r->pf_owed + lost > max ? max : r->pf_owed + lost;
        r->flags |= RTC_C_PF;
    }
    uint64_t n = t / RTC_HZ - s / RTC_HZ;
    if (n && !frozen(r)) {
        r->flags |= RTC_C_UF;
        struct vrtc_time at = time_at(r, s);
        uint32_t d = alarm_delta(r, &at);
        if (d && d <= n)
            r->flags |= RTC_C_AF;
    }
    r->seen = t;
}

bool vrtc_irq(const struct vrtc *r)
{
    return r->flags & r->cmos[RTC_REG_B] & FLAG_BITS;
}

bool vrtc_tick(struct vrtc *r, uint64_t now)
{
    advance(r, now);
    if (r->pf_owed && !(r->flags & RTC_C_PF)) {    /* C was read: the next owed one */
        r->flags |= RTC_C_PF;
        r->pf_is_owed = true;
        r->pf_owed--;
    }
    return vrtc_irq(r);
}

/* Tick n * unit, or UINT64_MAX where the tick count ends (a TSC near 2^64). */
static uint64_t tick_of(uint64_t n, uint64_t unit)
{
    uint64_t t;
    return __builtin_mul_overflow(n, unit, &t) ? UINT64_MAX : t;
}

uint64_t vrtc_next_event(struct vrtc *r, uint64_t now)
{
    advance(r, now);
    uint8_t b = r->cmos[RTC_REG_B];
    if (vrtc_irq(r) || r->stopped)
        return UINT64_MAX;
    if (r->pf_owed && !(r->flags & RTC_C_PF))
        return r->last;                         /* vrtc_tick() raises it at once */
    uint64_t s = r->seen, best = UINT64_MAX, p = periodic_ticks(r);
    if ((b & RTC_B_PIE) && p)
        best = tick_of(s / p + 1, p);
    if (!(b & RTC_B_SET)) {
        uint64_t upd = tick_of(s / RTC_HZ + 1, RTC_HZ);
        if ((b & RTC_B_UIE) && upd < best)
            best = upd;
        if (b & RTC_B_AIE) {
            struct vrtc_time at = time_at(r, s);
            uint32_t d = alarm_delta(r, &at);
            if (d && tick_of(s / RTC_HZ + d, RTC_HZ) < best)
                best = tick_of(s / RTC_HZ + d, RTC_HZ);
        }
    }
    uint64_t len;
    if (best == UINT64_MAX || !ticks_len(r, best, &len))
        return UINT64_MAX;
    uint64_t ev = r->div_tsc + len;
    return ev > r->last ? ev : UINT64_MAX;      /* not before now: past the end of the TSC */
}

/* --- reset and registers --- */

static void put16(uint8_t *c, unsigned at, uint64_t v, uint64_t max)
{
    v = v > max ? max : v;
    c[at] = (uint8_t)v;
    c[at + 1] = (uint8_t)(v >> 8);
}

static void memory_bytes(uint8_t *c, const struct vrtc_config *cfg)
{
    uint64_t lo = cfg->ram_below_4g, hi = cfg->ram_above_4g / (64 * KIB);
    put16(c, CMOS_BASE_MEM_LO, lo / KIB, BASE_MEM_KIB);
    put16(c, CMOS_EXT_MEM_LO, lo > MIB ? (lo - MIB) / KIB : 0, 0xFFFF);
    put16(c, CMOS_EXT_MEM2_LO, lo > MIB ? (lo - MIB) / KIB : 0, 0xFFFF);
    put16(c, CMOS_MEM_16M_LO, lo > 16 * MIB ? (lo - 16 * MIB) / (64 * KIB) : 0, 0xFFFF);
    hi = hi > 0xFFFFFF ? 0xFFFFFF : hi;
    c[CMOS_MEM_4G_LO] = (uint8_t)hi;
    c[CMOS_MEM_4G_LO + 1] = (uint8_t)(hi >> 8);
    c[CMOS_MEM_4G_LO + 2] = (uint8_t)(hi >> 16);
    unsigned sum = 0;
    for (unsigned i = CHECKSUM_FIRST; i <= CHECKSUM_LAST; i++)
        sum += c[i];
    c[CMOS_CHECKSUM_HI] = (uint8_t)(sum >> 8);      /* big-endian, as the AT BIOS keeps it */
    c[CMOS_CHECKSUM_HI + 1] = (uint8_t)sum;
}

void vrtc_reset(struct vrtc *r, const struct vrtc_config *cfg, uint64_t now)
{
    r->tsc_hz = cfg->tsc_hz < RTC_HZ ? RTC_HZ : cfg->tsc_hz > TSC_HZ_MAX ? TSC_HZ_MAX : cfg->tsc_hz;
    r->index = 0;
    r->nmi_masked = false;
    for (unsigned i = 0; i < RTC_CMOS_SIZE; i++)
        r->cmos[i] = 0;
    r->cmos[RTC_REG_A] = RESET_A;
    r->cmos[RTC_REG_B] = RESET_B;
    memory_bytes(r->cmos, cfg);
    r->flags = 0;
    r->pf_owed = 0;
    r->pf_is_owed = false;
    r->div_tsc = now;
    r->last = now;
    r->stopped = false;
    r->stop_ticks = r->seen = r->upd = 0;
    /* 1970-01-01 was a Thursday: day of week 5. */
    static const struct vrtc_time epoch = { .dow = 5, .dom = 1, .mon = 1, .year = 70,
                                            .century = 19 };
    r->base = time_after(&epoch, cfg->unix_time);
}

struct vrtc_time vrtc_time(struct vrtc *r, uint64_t now)
{
    advance(r, now);
    return time_at(r, r->seen);
}

static uint8_t read_reg(struct vrtc *r, unsigned i, struct vrtc_out *out)
{
    struct vrtc_time t = time_at(r, r->seen);
    switch (i) {
    case RTC_SECONDS:       return enc(r, t.sec);
    case RTC_MINUTES:       return enc(r, t.min);
    case RTC_HOURS:         return enc_hour(r, t.hour);
    case RTC_DAY_OF_WEEK:   return enc(r, t.dow);
    case RTC_DAY_OF_MONTH:  return enc(r, t.dom);
    case RTC_MONTH:         return enc(r, t.mon);
    case RTC_YEAR:          return enc(r, t.year);
    case RTC_CENTURY:       return enc(r, t.century);
    case RTC_REG_A: {
        bool uip = !frozen(r) && r->seen % RTC_HZ >= RTC_HZ - RTC_UIP_TICKS;
        return (uint8_t)(r->cmos[RTC_REG_A] | (uip ? RTC_A_UIP : 0));
    }
    case RTC_REG_C: {
        uint8_t v = (uint8_t)(r->flags | (vrtc_irq(r) ? RTC_C_IRQF : 0));
        r->flags = 0;
        out->timer_changed = true;
        return v;
    }
    case RTC_REG_D:         return RTC_D_VRT;
    default:                return r->cmos[i];
    }
}

static void write_time(struct vrtc *r, unsigned i, uint8_t v)
{
    rebase(r, r->seen);
    struct vrtc_time *t = &r->base;
    switch (i) {
    case RTC_SECONDS:       t->sec = (uint8_t)dec(r, v); break;
    case RTC_MINUTES:       t->min = (uint8_t)dec(r, v); break;
    case RTC_HOURS:         t->hour = (uint8_t)dec_hour(r, v); break;
    case RTC_DAY_OF_WEEK:   t->dow = (uint8_t)dec(r, v); break;
    case RTC_DAY_OF_MONTH:  t->dom = (uint8_t)dec(r, v); break;
    case RTC_MONTH:         t->mon = (uint8_t)dec(r, v); break;
    case RTC_YEAR:          t->year = (uint8_t)dec(r, v); break;
    default:                t->century = (uint8_t)dec(r, v); break;
    }
}

static void write_a(struct vrtc *r, uint8_t v)
{
    bool stop = (v & RTC_A_DV_RESET) == RTC_A_DV_RESET;
    if (stop && !r->stopped) {
        rebase(r, r->seen);
        r->stop_ticks = r->seen;
        r->stopped = true;
    } else if (!stop && r->stopped) {
        /* The first update comes half a second after the chain leaves reset. */
        uint64_t t = (r->stop_ticks / RTC_HZ + 1) * RTC_HZ + RTC_HZ / 2, len;
        r->stopped = false;
        r->seen = t;
        r->upd = t / RTC_HZ;
        if (ticks_len(r, t, &len))
            r->div_tsc = r->last - len;
    }
    if ((v ^ r->cmos[RTC_REG_A]) & RTC_A_RS_MASK)
        r->pf_owed = 0;                         /* a new rate: old periods are not owed */
    r->cmos[RTC_REG_A] = v & (uint8_t)~RTC_A_UIP;
}

static void write_reg(struct vrtc *r, unsigned i, uint8_t v, struct vrtc_out *out)
{
    switch (i) {
    case RTC_SECONDS: case RTC_MINUTES: case RTC_HOURS: case RTC_DAY_OF_WEEK:
    case RTC_DAY_OF_MONTH: case RTC_MONTH: case RTC_YEAR: case RTC_CENTURY:
        write_time(r, i, v);
        break;
    case RTC_REG_A:
        write_a(r, v);
        break;
    case RTC_REG_B:
        if ((v & RTC_B_SET) && !(r->cmos[RTC_REG_B] & RTC_B_SET))
            rebase(r, r->seen);             /* freeze the time as it is now */
        else if (!(v & RTC_B_SET) && (r->cmos[RTC_REG_B] & RTC_B_SET))
            r->upd = r->seen / RTC_HZ;      /* count on from the next update */
        r->cmos[RTC_REG_B] = v & RTC_B_SET ? v & (uint8_t)~RTC_B_UIE : v;   /* SET clears UIE */
        if (!(v & RTC_B_PIE))
            r->pf_owed = 0;                 /* periodic interrupts off: nothing owed */
        break;
    case RTC_REG_C: case RTC_REG_D:
        return;                             /* read-only */
    default:
        r->cmos[i] = v;
        if (i != RTC_SECONDS_ALARM && i != RTC_MINUTES_ALARM && i != RTC_HOURS_ALARM)
            return;
        break;
    }
    out->timer_changed = true;
}

uint8_t vrtc_read(struct vrtc *r, uint16_t port, uint64_t now, struct vrtc_out *out)
{
    uint8_t v = 0xFF;
    out->timer_changed = false;
    advance(r, now);
    if (port == RTC_PORT_DATA)
        v = read_reg(r, r->index, out);
    out->irq = vrtc_irq(r);
    return v;
}

void vrtc_write(struct vrtc *r, uint16_t port, uint8_t val, uint64_t now, struct vrtc_out *out)
{
    out->timer_changed = false;
    advance(r, now);
    if (port == RTC_PORT_INDEX) {
        r->index = val & (RTC_CMOS_SIZE - 1);
        r->nmi_masked = val & RTC_NMI_MASK;
    } else if (port == RTC_PORT_DATA) {
        write_reg(r, r->index, val, out);
    }
    out->irq = vrtc_irq(r);
}
