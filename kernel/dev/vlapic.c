/* The virtual local APIC of one vCPU (see vlapic.h). Section numbers are SDM vol. 3 ch. 11.
 *
 * Choices where the SDM leaves room (each is what the hardware does or the closest simple model):
 * - The xAPIC ID register is read-only here (writable ID is model specific, 11.4.6).
 * - Errors (11.5.3): an error raises the LVT error interrupt only when ESR had nothing pending,
 *   since "writing the ESR rearms the error interrupt triggering mechanism". An LVT that fires
 *   with a vector below 16 sets "receive illegal vector" at that moment (not when written).
 *   Accesses to reserved xAPIC register slots set "illegal register address".
 * - ICR (table 11-3, Pentium 4 and later): delivery modes 011b and 111b are reserved and send
 *   nothing; the self and all-including-self shorthands send only fixed IPIs; a level de-assert
 *   is sent only for INIT (the caller ignores it). ICR bit 15 is passed on as it was written.
 * - Timer: bus cycles are counted on the TSC time line; expiry k of a count started at
 *   timer_start is the first TSC at which k * ICR * divider whole bus cycles have passed, so
 *   periodic mode does not drift. A DCR write keeps the current count and changes the rate from
 *   that moment (timer_start is moved back so the elapsed part of the period is the same number
 *   of ticks at the new rate). Every register write first fires a timer expiry that is already
 *   due, so a late caller sees the order of events a CPU would.
 * - One-shot <-> periodic switches keep the count running (the new mode applies at zero);
 *   switches to or from TSC-deadline mode disarm the timer and clear the initial count. */
#include "kernel/dev/vlapic.h"

#define MSR_IA32_TSC_DEADLINE   0x6E0

/* Version register: version 14h, max LVT entry, bit 24: EOI-broadcast suppression supported. */
#define APIC_VERSION_VALUE  (0x14u | (uint32_t)(LVT_COUNT - 1) << 16 | 1u << 24)

#define ESR_SEND_ILLEGAL_VECTOR     (1u << 5)
#define ESR_RECV_ILLEGAL_VECTOR     (1u << 6)
#define ESR_ILLEGAL_REG_ADDRESS     (1u << 7)

#define VECTOR_FIRST_LEGAL  16      /* 11.5.2: vectors 0-15 are illegal */
#define APIC_LVT_POLARITY   (1u << 13)
#define APIC_SVR_FOCUS_OFF  (1u << 9)   /* not on Pentium 4 and later: ignored, never #GP */
#define SVR_WRITABLE        (0xFFu | APIC_SVR_ENABLE | APIC_SVR_DIRECTED_EOI)
#define SVR_RESET           0xFFu
#define TPR_WRITABLE        0xFFu
#define LDR_XAPIC_MASK      0xFF000000u
#define DFR_MODEL_SHIFT     28
#define DFR_ONES            0x0FFFFFFFu
#define DFR_MODEL_FLAT      0xFu
#define DFR_MODEL_CLUSTER   0x0u
#define DCR_WRITABLE        0xBu
#define ICR_HI_XAPIC_MASK   0xFF000000u
#define ICR_LO_WRITABLE     (0xFFFu | APIC_ICR_LEVEL_ASSERT | APIC_LVT_LEVEL | \
                             3u << APIC_SHORTHAND_SHIFT)
/* x2APIC ICR bits 13, 17:16 and 31:20 are reserved (#GP); bit 12 (delivery status) is ignored. */
#define X2APIC_ICR_RESERVED (1u << 13 | 3u << 16 | 0xFFF00000u)
#define X2APIC_BROADCAST    0xFFFFFFFFu
#define XAPIC_BROADCAST     0xFFu

/* IA32_APIC_BASE: bits 7:0 and 9 are reserved. */
#define APIC_BASE_RESERVED  (0xFFull | 1ull << 9)

typedef unsigned __int128 u128;

/* Writable bits of each LVT (figure 11-8). Delivery status always reads 0 (delivery is
 * immediate); remote IRR of LINT0/1 is read-only. */
static const uint32_t lvt_writable[LVT_COUNT] = {
    [LVT_CMCI] = APIC_VECTOR_MASK | APIC_DM_MASK | APIC_LVT_MASKED,
    [LVT_TIMER] = APIC_VECTOR_MASK | APIC_LVT_MASKED | APIC_TIMER_MODE_MASK,
    [LVT_THERMAL] = APIC_VECTOR_MASK | APIC_DM_MASK | APIC_LVT_MASKED,
    [LVT_PERF] = APIC_VECTOR_MASK | APIC_DM_MASK | APIC_LVT_MASKED,
    [LVT_LINT0] = APIC_VECTOR_MASK | APIC_DM_MASK | APIC_LVT_POLARITY | APIC_LVT_LEVEL |
                  APIC_LVT_MASKED,
    [LVT_LINT1] = APIC_VECTOR_MASK | APIC_DM_MASK | APIC_LVT_POLARITY | APIC_LVT_LEVEL |
                  APIC_LVT_MASKED,
    [LVT_ERROR] = APIC_VECTOR_MASK | APIC_LVT_MASKED,
};

/* ---- 256-bit vector registers */

static bool vec_test(const uint32_t *r, unsigned v) { return r[v >> 5] >> (v & 31) & 1; }
static void vec_set(uint32_t *r, unsigned v) { r[v >> 5] |= 1u << (v & 31); }
static void vec_clear(uint32_t *r, unsigned v) { r[v >> 5] &= ~(1u << (v & 31)); }

static int vec_highest(const uint32_t *r)
{
    for (int i = 7; i >= 0; i--)
        if (r[i])
            return i * 32 + 31 - __builtin_clz(r[i]);
    return -1;
}

static uint32_t x2apic_ldr(uint32_t id)
{
    return (id >> 4) << 16 | 1u << (id & 0xF);
}

/* ---- arithmetic for the timer */

/* a * b / c rounded down (or up), UINT64_MAX if it does not fit. The 128/64 division is done by
 * hand: the freestanding kernel has no __udivti3. */
static uint64_t muldiv(uint64_t a, uint64_t b, uint64_t c, bool round_up)
{
    u128 p = (u128)a * b;
    uint64_t hi = (uint64_t)(p >> 64), lo = (uint64_t)p, q = 0, r;
    if (c == 0 || hi >= c)
        return UINT64_MAX;
    if (hi == 0) {
        q = lo / c;
        r = lo % c;
    } else {
        r = hi;
        for (int i = 63; i >= 0; i--) {
            uint64_t carry = r >> 63;
            r = r << 1 | (lo >> i & 1);
            q <<= 1;
            if (carry || r >= c) {
                r -= c;
                q |= 1;
            }
        }
    }
    if (round_up && r && q != UINT64_MAX)
        q++;
    return q;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a + b < a ? UINT64_MAX : a + b;
}

static unsigned timer_divide(const struct vlapic *l)
{
    unsigned code = (l->timer_dcr & 3) | (l->timer_dcr >> 1 & 4);
    return code == 7 ? 1 : 2u << code;
}

static uint32_t timer_mode(const struct vlapic *l)
{
    return l->lvt[LVT_TIMER] & APIC_TIMER_MODE_MASK;
}

static bool deadline_mode(const struct vlapic *l)
{
    return timer_mode(l) == APIC_TIMER_TSC_DEADLINE;
}

/* Bus cycles (before the divider) from timer_start to now. */
static uint64_t timer_cycles(const struct vlapic *l, uint64_t now)
{
    return muldiv(now - l->timer_start, l->clock.bus_hz, l->clock.tsc_hz, false);
}

/* TSC ticks from timer_start to the first TSC at which `ticks` divided ticks have passed. */
static uint64_t ticks_to_tsc(const struct vlapic *l, u128 ticks)
{
    ticks *= timer_divide(l);
    if (ticks >> 64)
        return UINT64_MAX;
    return muldiv((uint64_t)ticks, l->clock.tsc_hz, l->clock.bus_hz, true);
}

/* The deadline `off` TSC ticks after timer_start, given that `now` is `elapsed` after it. */
static uint64_t deadline_at(uint64_t now, uint64_t elapsed, uint64_t off)
{
    if (off == UINT64_MAX)
        return UINT64_MAX;
    return off > elapsed ? sat_add(now, off - elapsed) : now;
}

static void timer_start_count(struct vlapic *l, uint64_t now)
{
    l->timer_start = now;
    l->timer_deadline = l->timer_icr ? deadline_at(now, 0, ticks_to_tsc(l, l->timer_icr))
                                     : UINT64_MAX;
}

static void timer_disarm(struct vlapic *l)
{
    l->timer_icr = 0;
    l->timer_deadline = UINT64_MAX;
    l->tsc_deadline = 0;
}

/* ---- errors and local interrupts */

static void set_irr(struct vlapic *l, uint8_t vector, bool level)
{
    vec_set(l->irr, vector);
    if (level)
        vec_set(l->tmr, vector);
    else
        vec_clear(l->tmr, vector);
}

/* Records an error; the LVT error interrupt fires if ESR had nothing pending (the write to ESR
 * rearms it). Returns true if IRR changed. */
static bool set_error(struct vlapic *l, uint32_t bits)
{
    bool rearmed = l->esr_pending == 0;
    uint32_t lvt = l->lvt[LVT_ERROR];
    l->esr_pending |= bits;
    if (!rearmed || (lvt & APIC_LVT_MASKED))
        return false;
    if ((lvt & APIC_VECTOR_MASK) < VECTOR_FIRST_LEGAL) {
        l->esr_pending |= ESR_RECV_ILLEGAL_VECTOR;   /* no recursion: one error at a time */
        return false;
    }
    set_irr(l, lvt & APIC_VECTOR_MASK, false);
    return true;
}

/* A fixed interrupt generated or received by this APIC; false if the vector was illegal. */
static bool accept_vector(struct vlapic *l, uint8_t vector, bool level)
{
    if (vector < VECTOR_FIRST_LEGAL) {
        set_error(l, ESR_RECV_ILLEGAL_VECTOR);
        return false;
    }
    set_irr(l, vector, level);
    return true;
}

static void fire_timer_lvt(struct vlapic *l)
{
    uint32_t lvt = l->lvt[LVT_TIMER];
    if (!(lvt & APIC_LVT_MASKED))
        accept_vector(l, lvt & APIC_VECTOR_MASK, false);
}

/* ---- reset, INIT, IA32_APIC_BASE */

void vlapic_init_signal(struct vlapic *l)
{
    l->tpr = 0;
    l->ldr = vlapic_x2apic(l) ? x2apic_ldr(l->id) : 0;
    l->dfr = 0xFFFFFFFFu;
    l->svr = SVR_RESET;
    l->esr = l->esr_pending = 0;
    l->icr_lo = l->icr_hi = 0;
    for (int i = 0; i < LVT_COUNT; i++)
        l->lvt[i] = APIC_LVT_MASKED;
    for (int i = 0; i < 8; i++)
        l->irr[i] = l->isr[i] = l->tmr[i] = 0;
    l->timer_dcr = 0;
    l->timer_start = 0;
    timer_disarm(l);
}

void vlapic_reset(struct vlapic *l, uint32_t id, bool bsp, const struct vlapic_clock *clk)
{
    l->id = id;
    l->base = APIC_DEFAULT_BASE | APIC_BASE_EN | (bsp ? APIC_BASE_BSP : 0);
    l->clock = *clk;
    /* A zero rate would divide by zero: treat it as 1 Hz. */
    if (!l->clock.tsc_hz)
        l->clock.tsc_hz = 1;
    if (!l->clock.bus_hz)
        l->clock.bus_hz = 1;
    vlapic_init_signal(l);
}

bool vlapic_set_base(struct vlapic *l, uint64_t val, unsigned maxphyaddr)
{
    if (maxphyaddr > 52)
        maxphyaddr = 52;
    if (maxphyaddr < 12)
        maxphyaddr = 12;
    uint64_t reserved = APIC_BASE_RESERVED | ~((1ull << maxphyaddr) - 1);
    bool en = val & APIC_BASE_EN, extd = val & APIC_BASE_EXTD;
    bool was_en = vlapic_hw_enabled(l), was_extd = vlapic_x2apic(l);

    if (val & reserved)
        return false;
    if (extd && !en)                    /* the invalid state */
        return false;
    if (was_extd && en && !extd)        /* x2APIC -> xAPIC only through disabled */
        return false;
    if (!was_en && extd)                /* disabled -> x2APIC only through xAPIC */
        return false;
    l->base = (val & ~APIC_BASE_BSP) | (l->base & APIC_BASE_BSP);
    if (was_en && !en)
        vlapic_init_signal(l);          /* 11.4.3: disabling loses the APIC state */
    else if (extd && !was_extd)
        l->ldr = x2apic_ldr(l->id);     /* 11.12.10.2: LDR is set on entering x2APIC mode */
    return true;
}

/* ---- priorities (11.8.3.1) */

uint32_t vlapic_ppr(const struct vlapic *l)
{
    int isrv = vec_highest(l->isr);
    uint32_t isr_class = isrv < 0 ? 0 : (uint32_t)isrv & 0xF0;
    return (l->tpr & 0xF0) >= isr_class ? l->tpr : isr_class;
}

/* Arbitration priority (11.6.2.4 figure 11-15). */
static uint32_t apic_apr(const struct vlapic *l)
{
    int irrv = vec_highest(l->irr), isrv = vec_highest(l->isr);
    uint32_t tpr_class = l->tpr & 0xF0;
    uint32_t irr_class = irrv < 0 ? 0 : (uint32_t)irrv & 0xF0;
    uint32_t isr_class = isrv < 0 ? 0 : (uint32_t)isrv & 0xF0;
    if (tpr_class >= irr_class && tpr_class > isr_class)
        return l->tpr;
    uint32_t m = tpr_class > irr_class ? tpr_class : irr_class;
    return m > isr_class ? m : isr_class;
}

int vlapic_pending(const struct vlapic *l)
{
    int v = vec_highest(l->irr);
    if (v < 0 || ((uint32_t)v & 0xF0) <= (vlapic_ppr(l) & 0xF0))
        return -1;
    return v;
}

void vlapic_ack(struct vlapic *l, uint8_t vector)
{
    if (!vec_test(l->irr, vector))
        return;
    vec_clear(l->irr, vector);
    vec_set(l->isr, vector);
}

void vlapic_set_cr8(struct vlapic *l, uint64_t cr8)
{
    l->tpr = (uint32_t)(cr8 & 0xF) << 4;
}

uint64_t vlapic_cr8(const struct vlapic *l)
{
    return l->tpr >> 4 & 0xF;
}

static void do_eoi(struct vlapic *l, struct vlapic_out *out)
{
    int v = vec_highest(l->isr);
    if (v < 0)
        return;
    vec_clear(l->isr, (unsigned)v);
    if (!vec_test(l->tmr, (unsigned)v))
        return;
    for (int i = LVT_LINT0; i <= LVT_LINT1; i++)
        if ((l->lvt[i] & APIC_VECTOR_MASK) == (uint32_t)v)
            l->lvt[i] &= ~APIC_LVT_REMOTE_IRR;
    if (!(l->svr & APIC_SVR_DIRECTED_EOI))
        out->eoi_vector = v;
}

/* ---- delivery into this APIC */

bool vlapic_accept(struct vlapic *l, uint8_t vector, bool level)
{
    if (!vlapic_hw_enabled(l) || !vlapic_sw_enabled(l))
        return false;
    if (vector < VECTOR_FIRST_LEGAL)
        return set_error(l, ESR_RECV_ILLEGAL_VECTOR);   /* true only if the error IRQ went in */
    set_irr(l, vector, level);
    return true;
}

bool vlapic_match_dest(const struct vlapic *l, uint32_t dest, bool logical)
{
    if (!vlapic_hw_enabled(l))
        return false;
    if (vlapic_x2apic(l)) {
        if (dest == X2APIC_BROADCAST)
            return true;
        if (!logical)
            return dest == l->id;
        return dest >> 16 == l->ldr >> 16 && (dest & l->ldr & 0xFFFF) != 0;
    }
    dest &= 0xFF;
    if (!logical)
        return dest == XAPIC_BROADCAST || dest == (l->id & 0xFF);
    uint32_t ldr = l->ldr >> 24;
    switch (l->dfr >> DFR_MODEL_SHIFT) {
    case DFR_MODEL_FLAT:
        return (ldr & dest) != 0;
    case DFR_MODEL_CLUSTER:
        return (dest >> 4 == 0xF || dest >> 4 == ldr >> 4) && (dest & ldr & 0xF) != 0;
    default:
        return false;
    }
}

int vlapic_lint(struct vlapic *l, unsigned pin, uint8_t *vector)
{
    if (pin > 1)
        return -1;
    if (!vlapic_hw_enabled(l))          /* no APIC: LINT0 is INTR, LINT1 is NMI */
        return pin ? APIC_DM_NMI : APIC_DM_EXTINT;
    uint32_t *lvt = &l->lvt[LVT_LINT0 + pin];
    if (*lvt & APIC_LVT_MASKED)
        return -1;
    switch ((*lvt & APIC_DM_MASK) >> APIC_DM_SHIFT) {
    case APIC_DM_FIXED: {
        bool level = pin == 0 && (*lvt & APIC_LVT_LEVEL);   /* LINT1 is edge only (11.5.1) */
        uint8_t v = *lvt & APIC_VECTOR_MASK;
        if (level && (*lvt & APIC_LVT_REMOTE_IRR))
            return -1;                  /* still in service: the level is not re-sent */
        if (!accept_vector(l, v, level))
            return -1;
        if (level)
            *lvt |= APIC_LVT_REMOTE_IRR;
        if (vector)
            *vector = v;
        return APIC_DM_FIXED;
    }
    case APIC_DM_NMI:
        return APIC_DM_NMI;
    case APIC_DM_EXTINT:
        return APIC_DM_EXTINT;
    default:                            /* SMI, INIT and reserved modes are not modelled */
        return -1;
    }
}

/* ---- timer */

uint64_t vlapic_timer_deadline(const struct vlapic *l)
{
    if (deadline_mode(l))
        return l->tsc_deadline ? l->tsc_deadline : UINT64_MAX;
    return l->timer_deadline;
}

bool vlapic_timer_tick(struct vlapic *l, uint64_t now)
{
    if (deadline_mode(l)) {
        if (!l->tsc_deadline || now < l->tsc_deadline)
            return false;
        l->tsc_deadline = 0;
        fire_timer_lvt(l);
        return true;
    }
    if (l->timer_deadline == UINT64_MAX || now < l->timer_deadline)
        return false;
    fire_timer_lvt(l);
    if (timer_mode(l) == APIC_TIMER_PERIODIC && l->timer_icr) {
        /* The next period boundary after now: missed periods are skipped, not queued. */
        uint64_t elapsed = now - l->timer_start;
        uint64_t period = (uint64_t)l->timer_icr * timer_divide(l);
        u128 k = (u128)(timer_cycles(l, now) / period) + 1;     /* no wrap if cycles saturated */
        l->timer_deadline = deadline_at(now, elapsed, ticks_to_tsc(l, k * l->timer_icr));
    } else {
        l->timer_deadline = UINT64_MAX;
    }
    return true;
}

uint32_t vlapic_timer_ccr(const struct vlapic *l, uint64_t now)
{
    if (deadline_mode(l) || !l->timer_icr || l->timer_deadline == UINT64_MAX)
        return 0;
    if (timer_mode(l) != APIC_TIMER_PERIODIC && now >= l->timer_deadline)
        return 0;
    uint64_t ticks = timer_cycles(l, now) / timer_divide(l);
    return l->timer_icr - (uint32_t)(ticks % l->timer_icr);
}

static void dcr_write(struct vlapic *l, uint32_t val, uint64_t now)
{
    if (deadline_mode(l) || l->timer_deadline == UINT64_MAX || !l->timer_icr) {
        l->timer_dcr = val & DCR_WRITABLE;
        return;
    }
    /* Keep the count: restart the period as far back as its elapsed ticks take at the new rate. */
    uint32_t done = l->timer_icr - vlapic_timer_ccr(l, now);
    l->timer_dcr = val & DCR_WRITABLE;
    uint64_t back = ticks_to_tsc(l, done);
    if (back == UINT64_MAX)
        back = 0;
    l->timer_start = now - back;
    l->timer_deadline = deadline_at(now, back, ticks_to_tsc(l, l->timer_icr));
}

uint64_t vlapic_tsc_deadline_read(const struct vlapic *l)
{
    return deadline_mode(l) ? l->tsc_deadline : 0;
}

/* ---- register access shared by MMIO and MSRs */

static int lvt_index(uint32_t off)
{
    if (off == APIC_LVT_CMCI)
        return LVT_CMCI;
    if (off >= APIC_LVT_TIMER && off <= APIC_LVT_ERROR)
        return LVT_TIMER + (int)(off - APIC_LVT_TIMER) / 16;
    return -1;
}

/* Register at 16-byte-aligned `off` in the current mode; false: not readable (reserved, or
 * write-only or absent in x2APIC mode). */
static bool reg_read(const struct vlapic *l, uint32_t off, uint64_t now, uint32_t *v)
{
    bool x2 = vlapic_x2apic(l);
    int lvt = lvt_index(off);
    *v = 0;
    if (lvt >= 0) {
        *v = l->lvt[lvt];
        return true;
    }
    if (off >= APIC_ISR && off < APIC_ESR) {
        const uint32_t *r = off < APIC_TMR ? l->isr : off < APIC_IRR ? l->tmr : l->irr;
        *v = r[(off >> 4) & 7];
        return true;
    }
    switch (off) {
    case APIC_ID:           *v = x2 ? l->id : l->id << 24; return true;
    case APIC_VERSION:      *v = APIC_VERSION_VALUE; return true;
    case APIC_TPR:          *v = l->tpr; return true;
    case APIC_PPR:          *v = vlapic_ppr(l); return true;
    case APIC_LDR:          *v = l->ldr; return true;
    case APIC_SVR:          *v = l->svr; return true;
    case APIC_ESR:          *v = l->esr; return true;
    case APIC_ICR_LO:       *v = l->icr_lo; return true;
    case APIC_TIMER_ICR:    *v = l->timer_icr; return true;
    case APIC_TIMER_CCR:    *v = vlapic_timer_ccr(l, now); return true;
    case APIC_TIMER_DCR:    *v = l->timer_dcr; return true;
    /* xAPIC only: APR, the remote read register, DFR, ICR high; EOI reads 0 there. */
    case APIC_APR:          *v = apic_apr(l); return !x2;
    case APIC_RRD:          return !x2;
    case APIC_DFR:          *v = l->dfr; return !x2;
    case APIC_ICR_HI:       *v = l->icr_hi; return !x2;
    case APIC_EOI:          return !x2;
    default:                return false;
    }
}

static void lvt_write(struct vlapic *l, int i, uint32_t v)
{
    uint32_t old = l->lvt[i];
    uint32_t nv = (v & lvt_writable[i]) | (old & APIC_LVT_REMOTE_IRR);
    if (!vlapic_sw_enabled(l))
        nv |= APIC_LVT_MASKED;          /* 11.4.7.2: cannot be unmasked while disabled */
    l->lvt[i] = nv;
    if (i == LVT_TIMER && ((old & APIC_TIMER_MODE_MASK) == APIC_TIMER_TSC_DEADLINE) !=
                          ((nv & APIC_TIMER_MODE_MASK) == APIC_TIMER_TSC_DEADLINE))
        timer_disarm(l);
}

static void send_ipi(struct vlapic *l, const struct vlapic_ipi *ipi, struct vlapic_out *out)
{
    switch (ipi->mode) {
    case 3: case 7:
        return;                                 /* reserved delivery modes */
    case APIC_DM_FIXED: case APIC_DM_LOWEST:
        if (ipi->vector < VECTOR_FIRST_LEGAL) {
            set_error(l, ESR_SEND_ILLEGAL_VECTOR);
            return;
        }
        break;
    }
    if ((ipi->shorthand == APIC_SH_SELF || ipi->shorthand == APIC_SH_ALL) &&
        ipi->mode != APIC_DM_FIXED)
        return;
    if (ipi->level_trigger && !ipi->level_assert && ipi->mode != APIC_DM_INIT)
        return;
    out->ipi_valid = true;
    out->ipi = *ipi;
}

static void send_icr(struct vlapic *l, struct vlapic_out *out)
{
    uint32_t lo = l->icr_lo;
    struct vlapic_ipi ipi = {
        .dest = vlapic_x2apic(l) ? l->icr_hi : l->icr_hi >> 24,
        .vector = lo & APIC_VECTOR_MASK,
        .mode = (lo & APIC_DM_MASK) >> APIC_DM_SHIFT,
        .shorthand = (lo >> APIC_SHORTHAND_SHIFT) & 3,
        .logical = lo & APIC_DEST_LOGICAL,
        .level_assert = lo & APIC_ICR_LEVEL_ASSERT,
        .level_trigger = lo & APIC_LVT_LEVEL,
    };
    send_ipi(l, &ipi, out);
}

/* A write to a register that exists and is writable in the current mode (x2APIC reserved bits
 * already checked). Writes to read-only xAPIC registers land here and are ignored. */
static void reg_write(struct vlapic *l, uint32_t off, uint32_t v, uint64_t now,
                      struct vlapic_out *out)
{
    int lvt = lvt_index(off);
    if (lvt >= 0) {
        lvt_write(l, lvt, v);
        return;
    }
    switch (off) {
    case APIC_TPR:
        l->tpr = v & TPR_WRITABLE;
        break;
    case APIC_EOI:
        do_eoi(l, out);
        break;
    case APIC_LDR:
        l->ldr = v & LDR_XAPIC_MASK;
        break;
    case APIC_DFR:
        l->dfr = v | DFR_ONES;
        break;
    case APIC_SVR:
        l->svr = v & SVR_WRITABLE;
        if (!vlapic_sw_enabled(l))
            for (int i = 0; i < LVT_COUNT; i++)
                l->lvt[i] |= APIC_LVT_MASKED;
        break;
    case APIC_ESR:              /* latch the errors seen since the last write */
        l->esr = l->esr_pending;
        l->esr_pending = 0;
        break;
    case APIC_ICR_LO:
        l->icr_lo = v & ICR_LO_WRITABLE;
        send_icr(l, out);
        break;
    case APIC_ICR_HI:
        l->icr_hi = v & ICR_HI_XAPIC_MASK;
        break;
    case APIC_TIMER_ICR:
        if (!deadline_mode(l)) {        /* ignored in TSC-deadline mode */
            l->timer_icr = v;
            timer_start_count(l, now);
        }
        break;
    case APIC_TIMER_DCR:
        dcr_write(l, v, now);
        break;
    default:                            /* ID, version, PPR, APR, ISR/TMR/IRR, CCR, RRD */
        break;
    }
}

/* What a write can change, to fill in vlapic_out afterwards. */
struct snapshot {
    uint64_t deadline;
    uint32_t tpr, irr[8], isr[8];
};

static void out_begin(struct vlapic *l, struct vlapic_out *out, struct snapshot *s, uint64_t now)
{
    *out = (struct vlapic_out){ .eoi_vector = -1 };
    s->deadline = vlapic_timer_deadline(l);
    s->tpr = l->tpr;
    for (int i = 0; i < 8; i++) {
        s->irr[i] = l->irr[i];
        s->isr[i] = l->isr[i];
    }
    vlapic_timer_tick(l, now);          /* an expiry already due happened before this write */
}

static void out_end(const struct vlapic *l, struct vlapic_out *out, const struct snapshot *s)
{
    out->timer_changed = vlapic_timer_deadline(l) != s->deadline;
    bool changed = l->tpr != s->tpr;
    for (int i = 0; i < 8; i++)
        changed |= l->irr[i] != s->irr[i] || l->isr[i] != s->isr[i];
    out->irq_changed = changed;
}

/* ---- xAPIC MMIO */

/* Does the 16-byte slot at `off` hold a register in xAPIC mode? */
static bool xapic_reg_exists(const struct vlapic *l, uint32_t off)
{
    uint32_t v;
    return reg_read(l, off, 0, &v);
}

void vlapic_mmio_read(struct vlapic *l, uint32_t off, unsigned size, uint64_t *val, uint64_t now)
{
    if (size > 8)
        size = 8;
    if (!vlapic_hw_enabled(l) || vlapic_x2apic(l)) {
        *val = size >= 8 ? UINT64_MAX : (1ull << (size * 8)) - 1;
        return;
    }
    /* Byte by byte: each byte comes from the 16-byte slot holding it; only bytes 0-3 of a slot
     * are register bytes. */
    uint64_t v = 0;
    uint32_t slot = UINT32_MAX, reg = 0;
    for (unsigned i = 0; i < size; i++) {
        uint32_t a = off + i;
        if (a >= APIC_PAGE_SIZE || a < off)
            break;
        if ((a & ~0xFu) != slot) {
            slot = a & ~0xFu;
            if (!reg_read(l, slot, now, &reg))
                set_error(l, ESR_ILLEGAL_REG_ADDRESS);
        }
        if ((a & 0xF) < 4)
            v |= (uint64_t)(reg >> (a & 3) * 8 & 0xFF) << i * 8;
    }
    *val = v;
}

void vlapic_mmio_write(struct vlapic *l, uint32_t off, unsigned size, uint64_t val, uint64_t now,
                       struct vlapic_out *out)
{
    struct snapshot s;
    out_begin(l, out, &s, now);
    if (vlapic_hw_enabled(l) && !vlapic_x2apic(l) && size == 4 && !(off & 0xF) &&
        off < APIC_PAGE_SIZE) {
        if (xapic_reg_exists(l, off))
            reg_write(l, off, (uint32_t)val, now, out);
        else
            set_error(l, ESR_ILLEGAL_REG_ADDRESS);
    }
    out_end(l, out, &s);
}

/* ---- x2APIC MSRs (11.12.1.2) */

/* The bits a WRMSR may set in the register at `off`; false: not writable (#GP). */
static bool x2apic_writable(uint32_t off, uint64_t *ok)
{
    int lvt = lvt_index(off);
    if (lvt >= 0) {
        *ok = lvt_writable[lvt] | APIC_DELIVERY_PENDING |
              (lvt == LVT_LINT0 || lvt == LVT_LINT1 ? APIC_LVT_REMOTE_IRR : 0);
        return true;
    }
    switch (off) {
    case APIC_TPR:          *ok = TPR_WRITABLE; return true;
    case APIC_EOI:          *ok = 0; return true;
    case APIC_SVR:          *ok = SVR_WRITABLE | APIC_SVR_FOCUS_OFF; return true;
    case APIC_ESR:          *ok = 0; return true;
    case APIC_ICR_LO:       *ok = 0xFFFFFFFF00000000ull | (uint32_t)~X2APIC_ICR_RESERVED;
                            return true;
    case APIC_TIMER_ICR:    *ok = 0xFFFFFFFFu; return true;
    case APIC_TIMER_DCR:    *ok = DCR_WRITABLE; return true;
    case APIC_SELF_IPI:     *ok = APIC_VECTOR_MASK; return true;
    default:                return false;
    }
}

bool vlapic_msr_read(struct vlapic *l, uint32_t msr, uint64_t *val, uint64_t now)
{
    uint32_t v;
    if (msr == MSR_IA32_TSC_DEADLINE) {
        *val = vlapic_tsc_deadline_read(l);
        return true;
    }
    if (!vlapic_x2apic(l) || msr < MSR_X2APIC_FIRST || msr > MSR_X2APIC_LAST)
        return false;
    uint32_t off = (msr - MSR_X2APIC_FIRST) << 4;
    if (off == APIC_ICR_LO) {
        *val = (uint64_t)l->icr_hi << 32 | l->icr_lo;
        return true;
    }
    if (!reg_read(l, off, now, &v))
        return false;
    *val = v;
    return true;
}

bool vlapic_msr_write(struct vlapic *l, uint32_t msr, uint64_t val, uint64_t now,
                      struct vlapic_out *out)
{
    struct snapshot s;
    uint64_t ok;
    bool done = true;
    out_begin(l, out, &s, now);
    if (msr == MSR_IA32_TSC_DEADLINE) {
        if (deadline_mode(l))           /* ignored in the other timer modes */
            l->tsc_deadline = val;
        goto end;
    }
    uint32_t off = (msr - MSR_X2APIC_FIRST) << 4;
    if (!vlapic_x2apic(l) || msr < MSR_X2APIC_FIRST || msr > MSR_X2APIC_LAST ||
        !x2apic_writable(off, &ok) || (val & ~ok)) {
        done = false;
        goto end;
    }
    if (off == APIC_LVT_TIMER && (val & APIC_TIMER_MODE_MASK) == APIC_TIMER_MODE_MASK) {
        done = false;                   /* timer mode 11b is reserved */
        goto end;
    }
    if (off == APIC_ICR_LO) {
        l->icr_hi = (uint32_t)(val >> 32);
        l->icr_lo = (uint32_t)val & ICR_LO_WRITABLE;
        send_icr(l, out);
    } else if (off == APIC_SELF_IPI) {
        struct vlapic_ipi ipi = { .dest = l->id, .vector = (uint8_t)val, .mode = APIC_DM_FIXED,
                                  .shorthand = APIC_SH_SELF, .level_assert = true };
        send_ipi(l, &ipi, out);
    } else {
        reg_write(l, off, (uint32_t)val, now, out);
    }
end:
    out_end(l, out, &s);
    return done;
}

void vlapic_tsc_deadline_write(struct vlapic *l, uint64_t val, uint64_t now, struct vlapic_out *out)
{
    vlapic_msr_write(l, MSR_IA32_TSC_DEADLINE, val, now, out);
}
