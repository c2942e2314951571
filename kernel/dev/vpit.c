/* Virtual 8254 PIT: see vpit.h. Time is counted in PIT clock ticks; tick k is the k-th CLK
 * pulse after reset. A count written during tick k is loaded by pulse k + 1 (the datasheet's
 * "N + 1" behaviour), and j clocks later the counting element reads N - j. */
#include "kernel/dev/vpit.h"

#define NONE            UINT64_MAX
#define TSC_HZ_MAX      (1ull << 43)    /* keeps r * hz below 2^64 in the conversions */

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a + b < a ? NONE : a + b;
}

uint64_t vpit_tick(struct vpit *p, uint64_t now)
{
    uint64_t t = 0;
    if (now > p->epoch) {
        /* (a * PIT_HZ) / hz without 128-bit division: a = q * hz + r */
        uint64_t a = now - p->epoch, hz = p->clock.tsc_hz;
        t = (a / hz) * PIT_HZ + (a % hz) * PIT_HZ / hz;
    }
    if (t < p->last_tick)
        t = p->last_tick;
    p->last_tick = t;
    return t;
}

uint64_t vpit_tick_tsc(const struct vpit *p, uint64_t t)
{
    uint64_t hz = p->clock.tsc_hz, q, r;
    if (t == NONE)
        return NONE;
    /* the first TSC value whose tick is t: ceil(t * hz / PIT_HZ) */
    if (__builtin_mul_overflow(t / PIT_HZ, hz, &q))
        return NONE;
    r = ((t % PIT_HZ) * hz + PIT_HZ - 1) / PIT_HZ;
    return sat_add(p->epoch, sat_add(q, r));
}

static uint32_t modulus(const struct vpit_channel *c)
{
    return c->bcd ? 10000u : 65536u;
}

/* Clocks for a count register value: 0 is the largest count. BCD digits above 9 are taken at
 * face value (the part's behaviour there is undefined). */
static uint32_t decode(uint16_t v, bool bcd)
{
    if (!bcd)
        return v ? v : 65536u;
    uint32_t n = (v >> 12) * 1000u + ((v >> 8) & 15) * 100u + ((v >> 4) & 15) * 10u + (v & 15);
    return n ? n : 10000u;
}

static uint16_t encode(const struct vpit_channel *c, uint32_t v)
{
    v %= modulus(c);
    if (!c->bcd)
        return (uint16_t)v;
    return (uint16_t)((v / 1000) << 12 | (v / 100 % 10) << 8 | (v / 10 % 10) << 4 | (v % 10));
}

static bool periodic(const struct vpit_channel *c)
{
    return c->mode == 2 || c->mode == 3;
}

/* Clocks counted by tick k. */
static uint64_t elapsed(const struct vpit_channel *c, uint64_t k)
{
    return c->acc + (c->running && k > c->run ? k - c->run : 0);
}

static bool loaded(const struct vpit_channel *c, uint64_t k)
{
    return c->armed && k >= c->load;
}

/* The counting element at tick k, in the channel's encoding. */
static uint16_t ce_value(const struct vpit_channel *c, uint64_t k)
{
    if (!loaded(c, k))
        return c->idle_ce;
    uint64_t j = elapsed(c, k), n = c->n;
    uint32_t m = modulus(c);
    switch (c->mode) {
    case 2:
        return encode(c, (uint32_t)(n - j % n));
    case 3: {
        /* 8254 mode 3: even N counts down by 2 in each half; odd N is N, N-1, N-3, ... while
         * OUT is high ((N+1)/2 clocks) and N, N-3, N-5, ... while low ((N-1)/2 clocks). */
        uint64_t ph = j % n, h = (n + 1) / 2;
        uint64_t q = ph < h ? ph : ph - h;
        if (!(n & 1))
            return encode(c, (uint32_t)(n - 2 * q));
        if (q == 0)
            return encode(c, (uint32_t)n);
        return encode(c, (uint32_t)(ph < h ? n + 1 - 2 * q : n - 1 - 2 * q));
    }
    default:    /* modes 0, 1, 4, 5 count down and wrap */
        return encode(c, (uint32_t)((n + m - j % m) % m));
    }
}

static bool out_level(const struct vpit_channel *c, uint64_t k)
{
    if (!c->armed || k < c->load)
        return c->mode != 0;    /* mode 0: low from the control word until terminal count */
    uint64_t j = elapsed(c, k), n = c->n;
    switch (c->mode) {
    case 0:
    case 1:
        return j >= n;
    case 2:
        return !c->gate || j % n != n - 1;
    case 3:
        return !c->gate || j % n < (n + 1) / 2;
    default:    /* 4, 5: low for the one clock at terminal count */
        return j != n;
    }
}

/* The tick of the one-shot rising edge (modes 0, 1: at terminal count; 4, 5: one clock after),
 * NONE if counting stopped or it already happened. */
static uint64_t oneshot_edge(const struct vpit_channel *c)
{
    uint64_t x = c->n + (c->mode >= 4 ? 1 : 0);
    if (!c->armed || !c->running || c->acc >= x)
        return NONE;
    return sat_add(c->run, x - c->acc);
}

/* Rising edges of OUT in ticks (a, b]. Periodic modes rise at run + m * n, m >= 1. */
static uint64_t count_edges(const struct vpit_channel *c, uint64_t a, uint64_t b)
{
    if (b <= a || !c->armed || !c->running)
        return 0;
    if (!periodic(c)) {
        uint64_t e = oneshot_edge(c);
        return e != NONE && e > a && e <= b;
    }
    if (c->n < 2)
        return 0;   /* illegal count 1: OUT never toggles */
    uint64_t fa = a > c->run ? (a - c->run) / c->n : 0;
    uint64_t fb = b > c->run ? (b - c->run) / c->n : 0;
    return fb - fa;
}

/* The first rising edge after tick k, NONE if none is coming. */
static uint64_t next_edge(const struct vpit_channel *c, uint64_t k)
{
    if (!c->armed || !c->running)
        return NONE;
    if (!periodic(c)) {
        uint64_t e = oneshot_edge(c);
        return e > k ? e : NONE;
    }
    if (c->n < 2)
        return NONE;
    if (k < c->run)
        return sat_add(c->run, c->n);
    uint64_t m = (k - c->run) / c->n + 1;
    uint64_t off;
    if (__builtin_mul_overflow(m, (uint64_t)c->n, &off))
        return NONE;
    return sat_add(c->run, off);
}

static void start(struct vpit_channel *c, uint64_t at, uint32_t n, bool running)
{
    c->armed = true;
    c->n = n;
    c->load = at;
    c->run = at;
    c->acc = 0;
    c->running = running;
    c->queued = false;
}

/* Brings the state up to tick k: a queued mode 2/3 count takes over at its period boundary
 * (channel 0's edges up to there are counted with the old count first). */
static void sync(struct vpit *p, uint64_t k)
{
    for (unsigned i = 0; i < 3; i++) {
        struct vpit_channel *c = &p->ch[i];
        if (!c->queued || k < c->q_at)
            continue;
        if (i == 0 && c->q_at > p->irq0_seen) {
            p->irq0_pending += count_edges(c, p->irq0_seen, c->q_at);
            p->irq0_seen = c->q_at;
        }
        start(c, c->q_at, c->q_n, c->running);
    }
    if (k > p->irq0_seen) {
        p->irq0_pending += count_edges(&p->ch[0], p->irq0_seen, k);
        p->irq0_seen = k;
    }
}

static uint64_t now_tick(struct vpit *p, uint64_t now)
{
    uint64_t k = vpit_tick(p, now);
    sync(p, k);
    return k;
}

/* Counting stops where it is: the element keeps its value. */
static void stop(struct vpit_channel *c, uint64_t k)
{
    c->idle_ce = ce_value(c, k);
    c->armed = false;
    c->running = false;
    c->queued = false;
}

static void write_count(struct vpit_channel *c, uint16_t v, uint64_t k)
{
    uint32_t n = decode(v, c->bcd);
    c->cr = v;
    c->have_count = true;
    switch (c->mode) {
    case 1:
    case 5:     /* used at the next trigger; null count until then */
        c->null_until = NONE;
        break;
    case 2:
    case 3:
        if (c->armed && c->running && k >= c->load) {
            /* "does not affect the current counting sequence": loaded at the period's end */
            uint64_t m = (k - c->run) / c->n + 1, off;
            if (__builtin_mul_overflow(m, (uint64_t)c->n, &off))
                off = NONE;
            c->queued = true;
            c->q_n = n;
            c->q_at = sat_add(c->run, off);
            c->null_until = c->q_at;
            break;
        }
        if (c->armed && k < c->load) {
            c->n = n;           /* not loaded yet: the new value is what gets loaded */
            c->null_until = c->load;
            break;
        }
        start(c, k + 1, n, c->gate);
        c->null_until = c->load;
        break;
    default:    /* 0, 4: (re)start on the next clock */
        start(c, k + 1, n, c->gate);
        c->null_until = c->load;
        break;
    }
}

static void gate(struct vpit_channel *c, bool level, uint64_t k)
{
    bool rise = level && !c->gate, fall = !level && c->gate;
    c->gate = level;
    if (rise) {
        switch (c->mode) {
        case 0:
        case 4:     /* counting resumes */
            if (c->armed && !c->running) {
                c->run = k > c->load ? k : c->load;
                c->running = true;
            }
            break;
        default:    /* 1, 2, 3, 5: a trigger reloads the count on the next clock */
            if (c->have_count) {
                start(c, k + 1, decode(c->cr, c->bcd), true);
                if (c->null_until > k + 1)
                    c->null_until = k + 1;
            }
            break;
        }
    } else if (fall && c->mode != 1 && c->mode != 5 && c->running) {
        c->acc = elapsed(c, k);
        c->running = false;
        if (c->queued) {            /* the period never ends: the trigger will load it */
            c->queued = false;
            c->null_until = NONE;
        }
    }
}

static uint8_t status_byte(const struct vpit_channel *c, uint64_t k)
{
    return (uint8_t)((out_level(c, k) ? PIT_ST_OUT : 0) | (k < c->null_until ? PIT_ST_NULL : 0) |
                     c->rw << PIT_CW_RW_SHIFT | c->mode_bits << PIT_CW_MODE_SHIFT |
                     (c->bcd ? PIT_CW_BCD : 0));
}

static void latch_count(struct vpit_channel *c, uint64_t k)
{
    if (!c->count_latched) {    /* a second latch before the read is ignored */
        c->latch = ce_value(c, k);
        c->count_latched = true;
    }
}

static void control_word(struct vpit *p, uint8_t val, uint64_t k)
{
    unsigned sc = val >> PIT_CW_SC_SHIFT;
    if (sc == PIT_CW_READBACK) {
        for (unsigned i = 0; i < 3; i++) {
            struct vpit_channel *c = &p->ch[i];
            if (!(val & (2u << i)))
                continue;
            if (!(val & PIT_RB_NO_COUNT))
                latch_count(c, k);
            if (!(val & PIT_RB_NO_STATUS) && !c->status_latched) {
                c->status = status_byte(c, k);
                c->status_latched = true;
            }
        }
        return;
    }
    struct vpit_channel *c = &p->ch[sc];
    unsigned rw = (val >> PIT_CW_RW_SHIFT) & 3;
    if (rw == PIT_RW_LATCH) {
        latch_count(c, k);
        return;
    }
    stop(c, k);
    c->rw = (uint8_t)rw;
    c->mode_bits = (val >> PIT_CW_MODE_SHIFT) & 7;
    c->mode = c->mode_bits > 5 ? c->mode_bits - 4 : c->mode_bits;
    c->bcd = val & PIT_CW_BCD;
    c->write_msb = false;
    c->read_msb = false;
    c->have_count = false;
    c->null_until = NONE;
}

static uint8_t read_counter(struct vpit_channel *c, uint64_t k)
{
    if (c->status_latched) {
        c->status_latched = false;
        return c->status;
    }
    uint16_t v = c->count_latched ? c->latch : ce_value(c, k);
    bool msb;
    if (c->rw == PIT_RW_LOHI) {
        msb = c->read_msb;
        c->read_msb = !c->read_msb;
    } else {
        msb = c->rw == PIT_RW_MSB;
    }
    if (c->count_latched && (c->rw != PIT_RW_LOHI || msb))
        c->count_latched = false;
    return msb ? (uint8_t)(v >> 8) : (uint8_t)v;
}

static void write_counter(struct vpit_channel *c, uint8_t val, uint64_t k)
{
    switch (c->rw) {
    case PIT_RW_LSB:
        write_count(c, val, k);
        break;
    case PIT_RW_MSB:
        write_count(c, (uint16_t)(val << 8), k);
        break;
    default:
        if (!c->write_msb) {
            c->write_lsb = val;
            c->write_msb = true;
            if (c->mode == 0)
                stop(c, k);     /* mode 0: the first byte stops counting, OUT goes low */
        } else {
            c->write_msb = false;
            write_count(c, (uint16_t)(c->write_lsb | val << 8), k);
        }
        break;
    }
}

void vpit_reset(struct vpit *p, const struct vpit_clock *clk, uint64_t now)
{
    *p = (struct vpit){ 0 };
    p->clock = *clk;
    if (p->clock.tsc_hz < PIT_HZ)
        p->clock.tsc_hz = PIT_HZ;
    if (p->clock.tsc_hz > TSC_HZ_MAX)
        p->clock.tsc_hz = TSC_HZ_MAX;
    p->epoch = now;
    for (unsigned i = 0; i < 3; i++) {
        struct vpit_channel *c = &p->ch[i];
        c->mode = c->mode_bits = 3;
        c->rw = PIT_RW_LOHI;
        c->gate = i != 2;
        c->have_count = true;
        start(c, 1, 65536, c->gate);
        c->null_until = 0;
    }
}

bool vpit_port(uint16_t port)
{
    return (port >= PIT_CH0_PORT && port <= PIT_MODE_PORT) || port == PIT_PORT61;
}

uint8_t vpit_read(struct vpit *p, uint16_t port, uint64_t now)
{
    if (!vpit_port(port) || port == PIT_MODE_PORT)
        return 0xFF;
    uint64_t k = now_tick(p, now);
    if (port == PIT_PORT61)
        return (uint8_t)((p->port61 & P61_RW_MASK) |
                         ((k / PIT_REFRESH_TICKS) & 1 ? P61_REFRESH : 0) |
                         (out_level(&p->ch[2], k) ? P61_OUT2 : 0));
    return read_counter(&p->ch[port - PIT_CH0_PORT], k);
}

void vpit_write(struct vpit *p, uint16_t port, uint8_t val, uint64_t now)
{
    if (!vpit_port(port))
        return;
    uint64_t k = now_tick(p, now);
    if (port == PIT_PORT61) {
        p->port61 = val & P61_RW_MASK;
        gate(&p->ch[2], val & P61_GATE2, k);
    } else if (port == PIT_MODE_PORT) {
        control_word(p, val, k);
    } else {
        write_counter(&p->ch[port - PIT_CH0_PORT], val, k);
    }
}

void vpit_set_gate(struct vpit *p, unsigned ch, bool level, uint64_t now)
{
    if (ch > 2)
        return;
    uint64_t k = now_tick(p, now);
    gate(&p->ch[ch], level, k);
    if (ch == 2)
        p->port61 = (uint8_t)((p->port61 & ~P61_GATE2) | (level ? P61_GATE2 : 0));
}

bool vpit_out(struct vpit *p, unsigned ch, uint64_t now)
{
    if (ch > 2)
        return false;
    return out_level(&p->ch[ch], now_tick(p, now));
}

uint64_t vpit_next_irq0(struct vpit *p, uint64_t now)
{
    uint64_t k = now_tick(p, now);
    if (p->irq0_pending)
        return now;
    return vpit_tick_tsc(p, next_edge(&p->ch[0], k));
}

uint64_t vpit_irq0_edges(struct vpit *p, uint64_t now)
{
    now_tick(p, now);
    uint64_t r = p->irq0_pending;
    p->irq0_pending = 0;
    return r;
}
