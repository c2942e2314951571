/* libFuzzer target for the virtual local APIC (kernel/dev/vlapic.c). The first bytes pick the
 * clock and the APIC ID; the rest is a sequence of operations a guest and the hypervisor could
 * perform: MMIO and MSR reads and writes (register offsets biased towards real registers),
 * IA32_APIC_BASE writes, interrupt delivery, the CPU taking and ending interrupts, LINT pins,
 * INIT, CR8, and timer ticks at increasing TSC values. After every operation the model's
 * invariants are checked (priorities, vector ranges, register masks, timer consistency, the
 * side-effect report, "a refused write changes nothing"); ASan/UBSan catch the rest. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/dev/vlapic.h"

#define ASSERT(c) do { if (!(c)) { fprintf(stderr, "invariant failed: %s\n", #c); abort(); } } while (0)

#define TSC_DEADLINE_MSR 0x6E0
#define ESR_BITS 0xE0u

struct in {
    const uint8_t *p;
    size_t n;
};

static uint64_t take(struct in *in, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; i++) {
        v |= (uint64_t)(in->n ? *in->p : 0) << 8 * i;
        if (in->n) {
            in->p++;
            in->n--;
        }
    }
    return v;
}

static const uint32_t regs[] = {
    APIC_ID, APIC_VERSION, APIC_TPR, APIC_APR, APIC_PPR, APIC_EOI, APIC_RRD, APIC_LDR, APIC_DFR,
    APIC_SVR, APIC_ISR, APIC_ISR + 0x70, APIC_TMR + 0x20, APIC_IRR + 0x30, APIC_ESR,
    APIC_LVT_CMCI, APIC_ICR_LO, APIC_ICR_HI, APIC_LVT_TIMER, APIC_LVT_THERMAL, APIC_LVT_PERF,
    APIC_LVT_LINT0, APIC_LVT_LINT1, APIC_LVT_ERROR, APIC_TIMER_ICR, APIC_TIMER_CCR,
    APIC_TIMER_DCR, APIC_SELF_IPI, 0x040, 0x3A0,
};
#define NREGS (sizeof regs / sizeof regs[0])

static const struct vlapic_clock clocks[] = {
    { 3000000000ull, 100000000ull }, { 1000000000ull, 300000000ull }, { 1000000ull, 1000000000ull },
    { 7, 3 }, { 1, 1 }, { 0, 0 },
};

/* Values that reach interesting cases more often than random ones. */
static uint64_t pick_value(struct in *in)
{
    switch (take(in, 1) & 7) {
    case 0: return take(in, 1);
    case 1: return take(in, 2);
    case 2: return take(in, 1) | (take(in, 1) & 7) << 8 | (take(in, 1) & 0xF) << 12 |
                   (take(in, 1) & 0xF) << 16;               /* LVT/ICR-shaped */
    case 3: return APIC_LVT_MASKED | take(in, 1);
    case 4: return (take(in, 1) & 3) << 17 | take(in, 1);   /* timer modes */
    case 5: return take(in, 8);
    case 6: return 0;
    default: return take(in, 4);
    }
}

static uint32_t lvt_allowed(int i)
{
    static const uint32_t w[LVT_COUNT] = {
        [LVT_CMCI] = 0x107FF, [LVT_TIMER] = 0x700FF, [LVT_THERMAL] = 0x107FF,
        [LVT_PERF] = 0x107FF, [LVT_LINT0] = 0x1E7FF, [LVT_LINT1] = 0x1E7FF, [LVT_ERROR] = 0x100FF,
    };
    return w[i];
}

static int highest(const uint32_t *r)
{
    for (int i = 7; i >= 0; i--)
        if (r[i])
            return i * 32 + 31 - __builtin_clz(r[i]);
    return -1;
}

static void check_state(const struct vlapic *l, uint64_t now)
{
    uint32_t ppr = vlapic_ppr(l);
    int isrv = highest(l->isr);
    ASSERT(ppr <= 0xFF && l->tpr <= 0xFF);
    ASSERT((ppr & 0xF0) >= (l->tpr & 0xF0));
    ASSERT(isrv < 0 || (ppr & 0xF0) >= ((uint32_t)isrv & 0xF0));
    ASSERT(ppr == l->tpr || ppr == ((uint32_t)isrv & 0xF0));
    int p = vlapic_pending(l);
    if (p >= 0) {
        ASSERT(p == highest(l->irr));
        ASSERT(((uint32_t)p >> 4) > (ppr >> 4));
        ASSERT(l->irr[p / 32] >> (p % 32) & 1);
    } else {
        int h = highest(l->irr);
        ASSERT(h < 0 || ((uint32_t)h >> 4) <= (ppr >> 4));
    }
    ASSERT((l->irr[0] & 0xFFFF) == 0 && (l->isr[0] & 0xFFFF) == 0 && (l->tmr[0] & 0xFFFF) == 0);
    ASSERT((l->esr & ~ESR_BITS) == 0 && (l->esr_pending & ~ESR_BITS) == 0);
    ASSERT((l->svr & ~0x11FFu) == 0);
    ASSERT((l->dfr & 0x0FFFFFFF) == 0x0FFFFFFF);
    ASSERT((l->timer_dcr & ~0xBu) == 0);
    for (int i = 0; i < LVT_COUNT; i++) {
        ASSERT((l->lvt[i] & ~lvt_allowed(i)) == 0);
        ASSERT(vlapic_sw_enabled(l) || (l->lvt[i] & APIC_LVT_MASKED));
    }
    /* IA32_APIC_BASE: never the invalid state, never reserved bits. */
    ASSERT(!(l->base & APIC_BASE_EXTD) || (l->base & APIC_BASE_EN));
    ASSERT((l->base & (0xFFull | 1ull << 9)) == 0);
    if (vlapic_x2apic(l))
        ASSERT(l->ldr == ((l->id >> 4) << 16 | 1u << (l->id & 0xF)));
    else
        ASSERT((l->ldr & 0x00FFFFFF) == 0);
    if (!vlapic_hw_enabled(l)) {        /* disabled: everything as after INIT */
        ASSERT(highest(l->irr) < 0 && highest(l->isr) < 0 && l->svr == 0xFF);
        ASSERT(vlapic_timer_deadline(l) == UINT64_MAX);
        ASSERT(!vlapic_match_dest(l, 0xFFFFFFFF, false));
    }
    /* Timer. */
    uint32_t mode = l->lvt[LVT_TIMER] & APIC_TIMER_MODE_MASK;
    uint32_t ccr = vlapic_timer_ccr(l, now);
    ASSERT(ccr <= l->timer_icr);
    if (mode == APIC_TIMER_TSC_DEADLINE) {
        ASSERT(ccr == 0 && l->timer_deadline == UINT64_MAX);
    } else {
        ASSERT(vlapic_tsc_deadline_read(l) == 0);
        ASSERT(l->timer_deadline == UINT64_MAX || l->timer_icr != 0);
    }
    /* Registers read back through the interface agree with the state. */
    uint64_t v;
    if (vlapic_x2apic(l)) {
        ASSERT(vlapic_msr_read((struct vlapic *)l, 0x80A, &v, now) && v == ppr);
        ASSERT(vlapic_msr_read((struct vlapic *)l, 0x802, &v, now) && v == l->id);
    } else if (vlapic_hw_enabled(l)) {
        uint64_t v2;
        ASSERT(!vlapic_msr_read((struct vlapic *)l, 0x808, &v, now));
        vlapic_mmio_read((struct vlapic *)l, APIC_PPR, 4, &v, now);
        ASSERT(v == ppr);
        vlapic_mmio_read((struct vlapic *)l, APIC_TIMER_CCR, 4, &v, now);
        vlapic_mmio_read((struct vlapic *)l, APIC_TIMER_CCR, 4, &v2, now);
        ASSERT(v == v2 && v == ccr);
    }
}

static void check_out(const struct vlapic *before, const struct vlapic *l,
                      const struct vlapic_out *o, uint64_t deadline_before)
{
    ASSERT(o->timer_changed == (vlapic_timer_deadline(l) != deadline_before));
    bool irq = l->tpr != before->tpr || memcmp(l->irr, before->irr, sizeof l->irr) ||
               memcmp(l->isr, before->isr, sizeof l->isr);
    ASSERT(o->irq_changed == irq);
    ASSERT(o->eoi_vector == -1 || (o->eoi_vector >= 16 && o->eoi_vector <= 255));
    if (o->eoi_vector >= 0) {
        ASSERT(before->isr[o->eoi_vector / 32] >> (o->eoi_vector % 32) & 1);
        ASSERT(!(l->isr[o->eoi_vector / 32] >> (o->eoi_vector % 32) & 1));
        ASSERT(!(l->svr & APIC_SVR_DIRECTED_EOI));
    }
    if (o->ipi_valid) {
        const struct vlapic_ipi *m = &o->ipi;
        ASSERT(m->mode != 3 && m->mode != 7);
        ASSERT(m->shorthand <= 3);
        if (m->mode == APIC_DM_FIXED || m->mode == APIC_DM_LOWEST)
            ASSERT(m->vector >= 16);
        if (m->shorthand == APIC_SH_SELF || m->shorthand == APIC_SH_ALL)
            ASSERT(m->mode == APIC_DM_FIXED);
        if (!vlapic_x2apic(l))
            ASSERT(m->dest <= 0xFF);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct in in = { data, size };
    struct vlapic l, before;
    struct vlapic_out o;
    uint64_t v;
    unsigned c = take(&in, 1);
    struct vlapic_clock clk = clocks[c % (sizeof clocks / sizeof clocks[0])];
    if (c >= 0xF0) {                    /* raw clock rates */
        clk.tsc_hz = take(&in, 8);
        clk.bus_hz = take(&in, 8);
    }
    uint32_t id = (uint32_t)take(&in, 1);
    if (id & 0x80)
        id = (uint32_t)take(&in, 4);
    uint64_t now = take(&in, 2);
    vlapic_reset(&l, id, id & 1, &clk);
    check_state(&l, now);

    while (in.n) {
        unsigned op = (unsigned)take(&in, 1);
        uint64_t deadline = vlapic_timer_deadline(&l);
        now += op & 0x80 ? take(&in, 2) : 0;
        op &= 0x7F;
        switch (op % 16) {
        case 0: {                       /* MMIO read */
            uint32_t off = op & 0x40 ? (uint32_t)take(&in, 2) & 0xFFF : regs[take(&in, 1) % NREGS];
            static const unsigned sizes[] = { 4, 1, 2, 8 };
            unsigned sz = sizes[take(&in, 1) & 3];
            vlapic_mmio_read(&l, off, sz, &v, now);
            if (!vlapic_hw_enabled(&l) || vlapic_x2apic(&l))
                ASSERT(v == (sz == 8 ? UINT64_MAX : (1ull << 8 * sz) - 1));
            else
                ASSERT(sz == 8 || v >> 8 * sz == 0);
            break;
        }
        case 1: case 2: {               /* MMIO write (mostly aligned 32-bit) */
            uint32_t off = regs[take(&in, 1) % NREGS];
            unsigned sz = 4;
            if (op & 0x40) {
                off += (uint32_t)take(&in, 1) & 0xF;
                sz = 1u << (take(&in, 1) & 3);
            }
            uint64_t val = pick_value(&in);
            before = l;
            vlapic_mmio_write(&l, off, sz, val, now, &o);
            check_out(&before, &l, &o, deadline);
            break;
        }
        case 3: {                       /* MSR read */
            uint32_t msr = op & 0x40 ? TSC_DEADLINE_MSR : MSR_X2APIC_FIRST + (uint32_t)take(&in, 1);
            bool ok = vlapic_msr_read(&l, msr, &v, now);
            if (msr != TSC_DEADLINE_MSR && !vlapic_x2apic(&l))
                ASSERT(!ok);
            if (ok && msr != TSC_DEADLINE_MSR && msr != 0x830)
                ASSERT(v >> 32 == 0);
            break;
        }
        case 4: case 5: {               /* MSR write */
            uint32_t msr = MSR_X2APIC_FIRST + regs[take(&in, 1) % NREGS] / 16;
            if (op & 0x40)
                msr = op & 0x20 ? TSC_DEADLINE_MSR : MSR_X2APIC_FIRST + (uint32_t)take(&in, 1);
            uint64_t val = pick_value(&in);
            vlapic_timer_tick(&l, now); /* so that a refused write must change nothing */
            deadline = vlapic_timer_deadline(&l);
            before = l;
            bool ok = vlapic_msr_write(&l, msr, val, now, &o);
            check_out(&before, &l, &o, deadline);
            if (!ok)
                ASSERT(memcmp(&l, &before, sizeof l) == 0 && !o.ipi_valid);
            if (msr != TSC_DEADLINE_MSR && !vlapic_x2apic(&before))
                ASSERT(!ok);
            break;
        }
        case 6: {                       /* IA32_APIC_BASE */
            static const uint64_t shapes[] = {
                APIC_DEFAULT_BASE | APIC_BASE_EN, APIC_DEFAULT_BASE | APIC_BASE_EN | APIC_BASE_EXTD,
                APIC_DEFAULT_BASE, APIC_DEFAULT_BASE | APIC_BASE_EXTD,
            };
            uint64_t val = shapes[take(&in, 1) & 3];
            if (op & 0x40)
                val ^= 1ull << (take(&in, 1) & 63);
            before = l;
            bool ok = vlapic_set_base(&l, val, 36 + (unsigned)(take(&in, 1) & 31));
            if (!ok)
                ASSERT(memcmp(&l, &before, sizeof l) == 0);
            else
                ASSERT((l.base & APIC_BASE_BSP) == (before.base & APIC_BASE_BSP));
            break;
        }
        case 7: {                       /* a message arrives */
            uint8_t vec = (uint8_t)take(&in, 1);
            bool level = op & 0x40;
            before = l;
            bool ok = vlapic_accept(&l, vec, level);
            if (ok && vec >= 16)
                ASSERT(l.irr[vec / 32] >> (vec % 32) & 1);
            if (!vlapic_hw_enabled(&l) || !vlapic_sw_enabled(&l))
                ASSERT(!ok && memcmp(&l, &before, sizeof l) == 0);
            break;
        }
        case 8: {                       /* the CPU takes the pending interrupt */
            int p = vlapic_pending(&l);
            if (p >= 0) {
                vlapic_ack(&l, (uint8_t)p);
                ASSERT(l.isr[p / 32] >> (p % 32) & 1);
                ASSERT(!(l.irr[p / 32] >> (p % 32) & 1));
                ASSERT((vlapic_ppr(&l) & 0xF0) == ((uint32_t)p & 0xF0));
            }
            break;
        }
        case 9:                         /* ack of any vector */
            vlapic_ack(&l, (uint8_t)take(&in, 1));
            break;
        case 10: {                      /* timer tick; sometimes exactly at the deadline */
            if ((op & 0x40) && deadline != UINT64_MAX && deadline > now && deadline - now < 1u << 30)
                now = deadline;
            bool fired = vlapic_timer_tick(&l, now);
            ASSERT(fired == (deadline <= now));
            ASSERT(vlapic_timer_deadline(&l) > now);
            ASSERT(!vlapic_timer_tick(&l, now));
            break;
        }
        case 11: {                      /* LINT pins */
            uint8_t vec = 0;
            int m = vlapic_lint(&l, (unsigned)take(&in, 1) & 3, &vec);
            ASSERT(m == -1 || m == APIC_DM_FIXED || m == APIC_DM_NMI || m == APIC_DM_EXTINT);
            if (m == APIC_DM_FIXED)
                ASSERT(vec >= 16 && (l.irr[vec / 32] >> (vec % 32) & 1));
            break;
        }
        case 12:
            vlapic_init_signal(&l);
            ASSERT(vlapic_pending(&l) == -1);
            break;
        case 13: {                      /* TSC-deadline writes near now */
            uint64_t val = op & 0x40 ? now + take(&in, 2) - 0x100 : take(&in, 8);
            before = l;
            vlapic_tsc_deadline_write(&l, val, now, &o);
            check_out(&before, &l, &o, deadline);
            break;
        }
        case 14: {
            vlapic_set_cr8(&l, take(&in, 1));
            ASSERT(vlapic_cr8(&l) == l.tpr >> 4 && (l.tpr & 0xF) == 0);
            break;
        }
        default: {
            uint32_t dest = op & 0x40 ? (uint32_t)take(&in, 4) : (uint32_t)take(&in, 1);
            bool logical = take(&in, 1) & 1;
            bool hit = vlapic_match_dest(&l, dest, logical);
            if (vlapic_hw_enabled(&l) && !logical && !vlapic_x2apic(&l))
                ASSERT(hit == ((dest & 0xFF) == 0xFF || (dest & 0xFF) == (l.id & 0xFF)));
            if (vlapic_x2apic(&l) && !logical)
                ASSERT(hit == (dest == 0xFFFFFFFF || dest == l.id));
            break;
        }
        }
        check_state(&l, now);
    }
    return 0;
}
