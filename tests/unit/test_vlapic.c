/* kernel/dev/vlapic.c: the virtual local APIC. Register reset values and access rules in xAPIC
 * and x2APIC mode, IA32_APIC_BASE transitions, errors, ICR messages, destination matching,
 * priorities and EOI, LINT pins, and the timer's expiry times (exact TSC values, checked against
 * a 128-bit reference computed here). */
#include "check.h"
#include "kernel/dev/vlapic.h"

#define TSC_DEADLINE_MSR 0x6E0
#define MAXPHY 46
#define BASE_EN (APIC_DEFAULT_BASE | APIC_BASE_EN)
#define BASE_X2 (APIC_DEFAULT_BASE | APIC_BASE_EN | APIC_BASE_EXTD)
#define ESR_SEND_ILLEGAL 0x20u
#define ESR_RECV_ILLEGAL 0x40u
#define ESR_ILLEGAL_REG 0x80u
#define LVT_RESET APIC_LVT_MASKED

static const struct vlapic_clock clk_3g = { .tsc_hz = 3000000000ull, .bus_hz = 100000000ull };
static struct vlapic L;
static struct vlapic_out O;
static uint64_t now;

static const uint32_t lvt_off[LVT_COUNT] = {
    [LVT_CMCI] = APIC_LVT_CMCI, [LVT_TIMER] = APIC_LVT_TIMER, [LVT_THERMAL] = APIC_LVT_THERMAL,
    [LVT_PERF] = APIC_LVT_PERF, [LVT_LINT0] = APIC_LVT_LINT0, [LVT_LINT1] = APIC_LVT_LINT1,
    [LVT_ERROR] = APIC_LVT_ERROR,
};

static void setup_clk(uint32_t id, bool x2, const struct vlapic_clock *c)
{
    now = 1000;
    vlapic_reset(&L, id, true, c);
    if (x2)
        CHECK(vlapic_set_base(&L, BASE_X2 | APIC_BASE_BSP, MAXPHY));
}
static void setup(uint32_t id, bool x2) { setup_clk(id, x2, &clk_3g); }

static uint32_t rd(uint32_t off)
{
    uint64_t v = 0xDEAD;
    vlapic_mmio_read(&L, off, 4, &v, now);
    return (uint32_t)v;
}
static void wr(uint32_t off, uint32_t v) { vlapic_mmio_write(&L, off, 4, v, now, &O); }
static uint64_t mrd(uint32_t msr)
{
    uint64_t v = 0xDEAD;
    CHECK(vlapic_msr_read(&L, msr, &v, now));
    return v;
}
static bool mrd_gp(uint32_t msr)
{
    uint64_t v;
    return !vlapic_msr_read(&L, msr, &v, now);
}
static bool mwr(uint32_t msr, uint64_t v) { return vlapic_msr_write(&L, msr, v, now, &O); }
static uint32_t x2msr(uint32_t off) { return MSR_X2APIC_FIRST + off / 16; }

/* Writes a register in whichever mode the APIC is in. */
static void wreg(uint32_t off, uint32_t v)
{
    if (vlapic_x2apic(&L))
        CHECK(mwr(x2msr(off), v));
    else
        wr(off, v);
}
static uint32_t rreg(uint32_t off) { return vlapic_x2apic(&L) ? (uint32_t)mrd(x2msr(off)) : rd(off); }
static void sw_enable(void) { wreg(APIC_SVR, 0x1FF); }
static uint32_t esr(void) { wreg(APIC_ESR, 0); return rreg(APIC_ESR); }

static bool irr(unsigned v) { return L.irr[v / 32] >> (v % 32) & 1; }
static bool isr(unsigned v) { return L.isr[v / 32] >> (v % 32) & 1; }

/* ---- reset values */

static void check_common_reset(void)
{
    CHECK_EQ_U64(rreg(APIC_VERSION), 0x01060014);
    CHECK_EQ_U64(rreg(APIC_TPR), 0);
    CHECK_EQ_U64(rreg(APIC_PPR), 0);
    CHECK_EQ_U64(rreg(APIC_SVR), 0xFF);
    for (int i = 0; i < 8; i++) {
        CHECK_EQ_U64(rreg(APIC_ISR + 16 * i), 0);
        CHECK_EQ_U64(rreg(APIC_TMR + 16 * i), 0);
        CHECK_EQ_U64(rreg(APIC_IRR + 16 * i), 0);
    }
    CHECK_EQ_U64(rreg(APIC_ESR), 0);
    for (int i = 0; i < LVT_COUNT; i++)
        CHECK_EQ_U64(rreg(lvt_off[i]), LVT_RESET);
    CHECK_EQ_U64(rreg(APIC_TIMER_ICR), 0);
    CHECK_EQ_U64(rreg(APIC_TIMER_CCR), 0);
    CHECK_EQ_U64(rreg(APIC_TIMER_DCR), 0);
    CHECK_EQ_U64(vlapic_timer_deadline(&L), UINT64_MAX);
    CHECK_EQ_U64(vlapic_tsc_deadline_read(&L), 0);
}

static void test_reset_xapic(void)
{
    setup(5, false);
    CHECK_EQ_U64(L.base, APIC_DEFAULT_BASE | APIC_BASE_EN | APIC_BASE_BSP);
    CHECK_EQ_U64(vlapic_mmio_base(&L), APIC_DEFAULT_BASE);
    CHECK_EQ_U64(rd(APIC_ID), 5u << 24);
    check_common_reset();
    CHECK_EQ_U64(rd(APIC_APR), 0);
    CHECK_EQ_U64(rd(APIC_EOI), 0);
    CHECK_EQ_U64(rd(APIC_RRD), 0);
    CHECK_EQ_U64(rd(APIC_LDR), 0);
    CHECK_EQ_U64(rd(APIC_DFR), 0xFFFFFFFF);
    CHECK_EQ_U64(rd(APIC_ICR_LO), 0);
    CHECK_EQ_U64(rd(APIC_ICR_HI), 0);
    CHECK_EQ_U64(esr(), 0);             /* none of those reads was an illegal address */
    vlapic_reset(&L, 7, false, &clk_3g);
    CHECK_EQ_U64(L.base, APIC_DEFAULT_BASE | APIC_BASE_EN);
    uint64_t v;
    CHECK(!vlapic_msr_read(&L, 0x802, &v, now));   /* x2APIC MSRs #GP in xAPIC mode */
    CHECK(!vlapic_msr_write(&L, 0x808, 0, now, &O));
}

static void test_reset_x2apic(void)
{
    setup(0x123, true);
    CHECK_EQ_U64(mrd(0x802), 0x123);
    CHECK_EQ_U64(mrd(0x80D), (0x12u << 16) | 1u << 3);
    check_common_reset();
    CHECK_EQ_U64(mrd(0x830), 0);
    /* Absent in x2APIC mode, write-only, or reserved: #GP. */
    static const uint32_t gp_read[] = { 0x800, 0x801, 0x804, 0x807, 0x809, 0x80B, 0x80C, 0x80E,
                                        0x829, 0x82E, 0x831, 0x83A, 0x83D, 0x83F, 0x840, 0x8FF };
    for (unsigned i = 0; i < sizeof gp_read / sizeof gp_read[0]; i++)
        CHECK(mrd_gp(gp_read[i]));
    /* Read-only or absent: WRMSR #GP, even of the value it holds. */
    static const uint32_t gp_write[] = { 0x802, 0x803, 0x809, 0x80A, 0x80C, 0x80D, 0x80E, 0x810,
                                         0x817, 0x818, 0x81F, 0x820, 0x827, 0x831, 0x839, 0x840 };
    for (unsigned i = 0; i < sizeof gp_write / sizeof gp_write[0]; i++)
        CHECK(!mwr(gp_write[i], 0));
    CHECK(!mwr(0x802, 0x123));
    /* MMIO reads all-ones in x2APIC mode, writes do nothing. */
    uint64_t v;
    vlapic_mmio_read(&L, APIC_VERSION, 4, &v, now);
    CHECK_EQ_U64(v, 0xFFFFFFFF);
    wr(APIC_TPR, 0x20);
    CHECK_EQ_U64(mrd(0x808), 0);
    /* IDs at the 16-bit cluster edges. */
    setup(0xFFFF0, true);
    CHECK_EQ_U64(mrd(0x80D), 0xFFFF0001u);
    setup(0x2F, true);
    CHECK_EQ_U64(mrd(0x80D), 0x28000u);
}

/* ---- MMIO access shapes */

static void test_mmio_shapes(void)
{
    uint64_t v;
    setup(0xA5, false);
    vlapic_mmio_read(&L, APIC_ID + 3, 1, &v, now);
    CHECK_EQ_U64(v, 0xA5);
    vlapic_mmio_read(&L, APIC_VERSION + 2, 2, &v, now);
    CHECK_EQ_U64(v, 0x0106);
    vlapic_mmio_read(&L, APIC_VERSION, 8, &v, now);
    CHECK_EQ_U64(v, 0x01060014);                    /* bytes 4-7 of the slot read 0 */
    vlapic_mmio_read(&L, APIC_VERSION + 4, 4, &v, now);
    CHECK_EQ_U64(v, 0);
    vlapic_mmio_read(&L, APIC_VERSION + 12, 8, &v, now);
    CHECK_EQ_U64(v, 0);                             /* 0x3C-0x43: slot tail, then reserved 0x40 */
    vlapic_mmio_read(&L, APIC_ID + 14, 4, &v, now);
    CHECK_EQ_U64(v, 0x00140000);                    /* last 2 bytes of slot 0x20, then 0x30 */
    CHECK_EQ_U64(esr(), ESR_ILLEGAL_REG);           /* the read above touched slot 0x40 */
    CHECK_EQ_U64(esr(), 0);
    /* Only aligned 32-bit stores write. */
    vlapic_mmio_write(&L, APIC_TPR, 1, 0x30, now, &O);
    vlapic_mmio_write(&L, APIC_TPR, 2, 0x30, now, &O);
    vlapic_mmio_write(&L, APIC_TPR, 8, 0x30, now, &O);
    vlapic_mmio_write(&L, APIC_TPR + 1, 4, 0x30, now, &O);
    vlapic_mmio_write(&L, APIC_TPR + 4, 4, 0x30, now, &O);
    CHECK_EQ_U64(rd(APIC_TPR), 0);
    wr(APIC_TPR, 0x30);
    CHECK_EQ_U64(rd(APIC_TPR), 0x30);
    /* Reserved slots read 0 and flag an illegal register address; so do writes. */
    static const uint32_t reserved[] = { 0x000, 0x010, 0x040, 0x070, 0x290, 0x2E0, 0x3A0, 0x3D0,
                                         0x3F0, 0x400, 0xFF0 };
    for (unsigned i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
        CHECK_EQ_U64(rd(reserved[i]), 0);
        CHECK_EQ_U64(esr(), ESR_ILLEGAL_REG);
        wr(reserved[i], 0xFFFFFFFF);
        CHECK_EQ_U64(esr(), ESR_ILLEGAL_REG);
    }
    vlapic_mmio_read(&L, 0xFFE, 4, &v, now);       /* runs off the page: the rest reads 0 */
    CHECK_EQ_U64(v, 0);
    /* Hardware-disabled: reads all-ones. */
    CHECK(vlapic_set_base(&L, APIC_DEFAULT_BASE, MAXPHY));
    vlapic_mmio_read(&L, APIC_VERSION, 2, &v, now);
    CHECK_EQ_U64(v, 0xFFFF);
    vlapic_mmio_read(&L, APIC_VERSION, 8, &v, now);
    CHECK_EQ_U64(v, UINT64_MAX);
}

/* ---- read-only, write-only, reserved bits */

static void test_xapic_register_bits(void)
{
    setup(3, false);
    /* Read-only registers ignore writes. */
    static const uint32_t ro[] = { APIC_ID, APIC_VERSION, APIC_APR, APIC_PPR, APIC_RRD, APIC_ISR,
                                   APIC_TMR + 0x70, APIC_IRR + 0x30, APIC_TIMER_CCR };
    for (unsigned i = 0; i < sizeof ro / sizeof ro[0]; i++) {
        uint32_t before = rd(ro[i]);
        wr(ro[i], 0xFFFFFFFF);
        CHECK_EQ_U64(rd(ro[i]), before);
    }
    CHECK_EQ_U64(esr(), 0);
    wr(APIC_TPR, 0xFFFFFFFF);
    CHECK_EQ_U64(rd(APIC_TPR), 0xFF);
    wr(APIC_TPR, 0);
    wr(APIC_LDR, 0xFFFFFFFF);
    CHECK_EQ_U64(rd(APIC_LDR), 0xFF000000);
    wr(APIC_DFR, 0);
    CHECK_EQ_U64(rd(APIC_DFR), 0x0FFFFFFF);
    wr(APIC_DFR, 0x12345678);
    CHECK_EQ_U64(rd(APIC_DFR), 0x1FFFFFFF);
    wr(APIC_SVR, 0xFFFFFFFF);
    CHECK_EQ_U64(rd(APIC_SVR), 0x11FF);
    wr(APIC_ICR_HI, 0xFFFFFFFF);
    CHECK_EQ_U64(rd(APIC_ICR_HI), 0xFF000000);
    wr(APIC_TIMER_DCR, 0xFFFFFFFF);
    CHECK_EQ_U64(rd(APIC_TIMER_DCR), 0xB);
    wr(APIC_ICR_HI, 0);
    wr(APIC_ICR_LO, 0xFFFFFFFF);                    /* reserved mode 7: nothing is sent */
    CHECK(!O.ipi_valid);
    CHECK_EQ_U64(rd(APIC_ICR_LO), 0xCCFFF);         /* delivery status reads 0 */
    /* Each LVT's writable bits (the APIC is software-enabled, so the mask bit is writable). */
    static const uint32_t lvt_bits[LVT_COUNT] = {
        [LVT_CMCI] = 0x107FF, [LVT_TIMER] = 0x700FF, [LVT_THERMAL] = 0x107FF,
        [LVT_PERF] = 0x107FF, [LVT_LINT0] = 0x1A7FF, [LVT_LINT1] = 0x1A7FF, [LVT_ERROR] = 0x100FF,
    };
    for (int i = 0; i < LVT_COUNT; i++) {
        wr(lvt_off[i], 0xFFFFFFFF);
        CHECK_EQ_U64(rd(lvt_off[i]), lvt_bits[i]);
        wr(lvt_off[i], 0);
        CHECK_EQ_U64(rd(lvt_off[i]), 0);
    }
    CHECK_EQ_U64(esr(), 0);
}

static void test_x2apic_reserved_bits(void)
{
    setup(1, true);
    sw_enable();
    CHECK(!mwr(0x808, 0x100));
    CHECK(!mwr(0x808, 1ull << 32));
    CHECK(mwr(0x808, 0xFF));
    CHECK_EQ_U64(mrd(0x808), 0xFF);
    CHECK(mwr(0x808, 0));
    CHECK(!mwr(0x80F, 1u << 13));
    CHECK(!mwr(0x80F, 1u << 10));
    CHECK(mwr(0x80F, 0x11FF));
    CHECK_EQ_U64(mrd(0x80F), 0x11FF);
    CHECK(mwr(0x80F, 0x3FF));                       /* focus bit: accepted, not kept */
    CHECK_EQ_U64(mrd(0x80F), 0x1FF);
    CHECK(!mwr(0x80B, 1));                          /* EOI: only 0 */
    CHECK(mwr(0x80B, 0));
    CHECK(!mwr(0x828, 1));                          /* ESR: only 0 */
    CHECK(mwr(0x828, 0));
    CHECK(!mwr(0x832, 3u << 17));                   /* timer mode 11b */
    CHECK(!mwr(0x832, 1u << 8));
    CHECK(mwr(0x832, 0x1000 | 0x40));               /* delivery status is read-only: ignored */
    CHECK_EQ_U64(mrd(0x832), 0x40);
    CHECK(!mwr(0x837, APIC_DM_NMI << 8));           /* error LVT has no delivery mode */
    CHECK(!mwr(0x835, 1u << 17));
    CHECK(mwr(0x835, 0x1E7FF));                     /* remote IRR is read-only: ignored */
    CHECK_EQ_U64(mrd(0x835), 0x1A7FF);
    CHECK(!mwr(0x82F, 1u << 13));
    CHECK(!mwr(0x83E, 4));
    CHECK(mwr(0x83E, 0xB));
    CHECK(!mwr(0x838, 1ull << 32));
    CHECK(!mwr(0x83F, 0x100));
    CHECK(!mwr(0x830, 1u << 13));
    CHECK(!mwr(0x830, 1u << 16));
    CHECK(!mwr(0x830, 1u << 20));
    CHECK(!O.ipi_valid);
}

/* ---- IA32_APIC_BASE */

static void test_apic_base(void)
{
    setup(9, false);
    const uint64_t dis = APIC_DEFAULT_BASE;
    /* Reserved bits and bits at or above maxphyaddr. */
    for (int b = 0; b < 8; b++)
        CHECK(!vlapic_set_base(&L, BASE_EN | 1ull << b, MAXPHY));
    CHECK(!vlapic_set_base(&L, BASE_EN | 1ull << 9, MAXPHY));
    CHECK(!vlapic_set_base(&L, BASE_EN | 1ull << MAXPHY, MAXPHY));
    CHECK(!vlapic_set_base(&L, BASE_EN | 1ull << 63, MAXPHY));
    CHECK(vlapic_set_base(&L, BASE_EN | 1ull << (MAXPHY - 1), MAXPHY));
    CHECK_EQ_U64(vlapic_mmio_base(&L), APIC_DEFAULT_BASE | 1ull << (MAXPHY - 1));
    CHECK(vlapic_set_base(&L, BASE_EN, MAXPHY));
    /* BSP is read-only. */
    CHECK(L.base & APIC_BASE_BSP);
    vlapic_reset(&L, 9, false, &clk_3g);
    CHECK(vlapic_set_base(&L, BASE_EN | APIC_BASE_BSP, MAXPHY));
    CHECK(!(L.base & APIC_BASE_BSP));
    /* EXTD without EN is invalid from every state. */
    CHECK(!vlapic_set_base(&L, dis | APIC_BASE_EXTD, MAXPHY));
    /* xAPIC -> x2APIC -> (no xAPIC) -> disabled -> (no x2APIC) -> xAPIC -> disabled. */
    CHECK(vlapic_set_base(&L, BASE_X2, MAXPHY));
    CHECK(vlapic_x2apic(&L));
    CHECK(!vlapic_set_base(&L, dis | APIC_BASE_EXTD, MAXPHY));
    CHECK(!vlapic_set_base(&L, BASE_EN, MAXPHY));
    CHECK(vlapic_x2apic(&L));
    CHECK(vlapic_set_base(&L, BASE_X2, MAXPHY));    /* staying is fine */
    CHECK(vlapic_set_base(&L, dis, MAXPHY));
    CHECK(!vlapic_hw_enabled(&L) && !vlapic_x2apic(&L));
    CHECK(vlapic_set_base(&L, dis, MAXPHY));
    CHECK(!vlapic_set_base(&L, BASE_X2, MAXPHY));
    CHECK(!vlapic_hw_enabled(&L));
    CHECK(vlapic_set_base(&L, BASE_EN, MAXPHY));
    CHECK(vlapic_hw_enabled(&L) && !vlapic_x2apic(&L));
    CHECK_EQ_U64(rd(APIC_ID), 9u << 24);
    CHECK(vlapic_set_base(&L, dis, MAXPHY));
    CHECK(!vlapic_hw_enabled(&L));
    CHECK(vlapic_set_base(&L, BASE_EN, MAXPHY));

    /* Disabling loses the state (as INIT, LVTs masked, SVR 0xFF); re-enabling does not bring
     * it back. */
    sw_enable();
    wr(APIC_TPR, 0x40);
    wr(APIC_LDR, 0x01000000);
    wr(APIC_DFR, 0);
    wr(APIC_LVT_TIMER, 0x30);
    wr(APIC_TIMER_ICR, 100);
    CHECK(vlapic_accept(&L, 0x50, true));
    CHECK(vlapic_timer_deadline(&L) != UINT64_MAX);
    CHECK(vlapic_set_base(&L, dis, MAXPHY));
    CHECK(!vlapic_accept(&L, 0x50, false));
    CHECK(!vlapic_match_dest(&L, 9, false));
    CHECK_EQ_U64(vlapic_timer_deadline(&L), UINT64_MAX);
    CHECK(vlapic_set_base(&L, BASE_EN, MAXPHY));
    CHECK_EQ_U64(rd(APIC_ID), 9u << 24);
    CHECK_EQ_U64(rd(APIC_LDR), 0);
    CHECK_EQ_U64(rd(APIC_DFR), 0xFFFFFFFF);
    check_common_reset();

    /* Entering x2APIC mode sets the LDR; leaving through disabled clears it. */
    setup(0x35, false);
    wr(APIC_LDR, 0x80000000);
    CHECK(vlapic_set_base(&L, BASE_X2, MAXPHY));
    CHECK_EQ_U64(mrd(0x80D), 0x30020);
    CHECK(vlapic_set_base(&L, dis, MAXPHY));
    CHECK(vlapic_set_base(&L, BASE_EN, MAXPHY));
    CHECK_EQ_U64(rd(APIC_LDR), 0);

    /* INIT keeps the ID, the base and the mode (x2APIC LDR included). */
    setup(0x35, true);
    sw_enable();
    CHECK(mwr(0x808, 0x70));
    vlapic_init_signal(&L);
    CHECK(vlapic_x2apic(&L));
    CHECK_EQ_U64(mrd(0x802), 0x35);
    CHECK_EQ_U64(mrd(0x80D), 0x30020);
    check_common_reset();
}

/* ---- SVR software enable */

static void test_svr(void)
{
    setup(0, false);
    CHECK(!vlapic_accept(&L, 0x40, false));         /* software-disabled after reset */
    wr(APIC_LVT_LINT0, 0x700);                      /* the mask stays while disabled */
    CHECK_EQ_U64(rd(APIC_LVT_LINT0), 0x10700);
    sw_enable();
    CHECK_EQ_U64(rd(APIC_LVT_LINT0), 0x10700);      /* enabling does not unmask */
    for (int i = 0; i < LVT_COUNT; i++)
        wr(lvt_off[i], 0x40 + i);
    CHECK_EQ_U64(rd(APIC_LVT_LINT0), 0x44);
    CHECK(vlapic_accept(&L, 0x40, false));
    wr(APIC_SVR, 0xFF);
    for (int i = 0; i < LVT_COUNT; i++)
        CHECK_EQ_U64(rd(lvt_off[i]), 0x10040u + i);
    CHECK(irr(0x40));                               /* held while disabled */
    CHECK_EQ_U64(vlapic_pending(&L), 0x40);
    CHECK(!vlapic_accept(&L, 0x41, false));
    CHECK(!irr(0x41));
    sw_enable();
    CHECK_EQ_U64(rd(APIC_LVT_TIMER), 0x10041);
    wr(APIC_SVR, 0x1FF | APIC_SVR_DIRECTED_EOI);
    CHECK_EQ_U64(rd(APIC_SVR), 0x11FF);
}

/* ---- ESR */

static void test_esr(void)
{
    setup(0, false);
    sw_enable();
    CHECK(!vlapic_accept(&L, 5, false));            /* receive illegal vector */
    CHECK_EQ_U64(rd(APIC_ESR), 0);                  /* not visible before a write */
    CHECK(!irr(5));
    wr(APIC_ESR, 0x12345678);                       /* the value written does not matter */
    CHECK_EQ_U64(rd(APIC_ESR), ESR_RECV_ILLEGAL);
    CHECK_EQ_U64(rd(APIC_ESR), ESR_RECV_ILLEGAL);   /* reads do not clear */
    wr(APIC_ESR, 0);
    CHECK_EQ_U64(rd(APIC_ESR), 0);
    wr(APIC_ICR_LO, 0x4003);                        /* fixed IPI, vector 3 */
    CHECK(!O.ipi_valid);
    wr(APIC_ICR_LO, 0x4103);                        /* lowest priority, vector 3 */
    CHECK(!O.ipi_valid);
    wr(APIC_ICR_LO, 0x4603);                        /* SIPI vector 3 is fine */
    CHECK(O.ipi_valid);
    CHECK_EQ_U64(esr(), ESR_SEND_ILLEGAL);
    /* The error interrupt: raised once until the ESR write rearms it. */
    wr(APIC_LVT_ERROR, 0xFE);
    CHECK(vlapic_accept(&L, 15, false));            /* true: the error interrupt went in */
    CHECK(irr(0xFE) && !irr(15));
    vlapic_ack(&L, 0xFE);
    wr(APIC_EOI, 0);
    wr(APIC_ICR_LO, 0x4001);
    CHECK(!irr(0xFE));                              /* still pending since the last write */
    CHECK_EQ_U64(esr(), ESR_SEND_ILLEGAL | ESR_RECV_ILLEGAL);
    wr(APIC_ICR_LO, 0x4001);
    CHECK(irr(0xFE));
    CHECK(O.irq_changed);
    CHECK_EQ_U64(esr(), ESR_SEND_ILLEGAL);
    /* An error LVT with an illegal vector only adds "receive illegal vector". */
    L.irr[7] = 0;
    wr(APIC_LVT_ERROR, 0x02);
    wr(APIC_ICR_LO, 0x4001);
    CHECK_EQ_U64(esr(), ESR_SEND_ILLEGAL | ESR_RECV_ILLEGAL);
    CHECK(!irr(2));
    /* x2APIC: ESR write of 0 latches; SELF IPI with an illegal vector. */
    setup(0, true);
    sw_enable();
    CHECK(mwr(0x83F, 7));
    CHECK(!O.ipi_valid);
    CHECK(mwr(0x828, 0));
    CHECK_EQ_U64(mrd(0x828), ESR_SEND_ILLEGAL);
}

/* ---- ICR messages */

static struct vlapic_ipi ipi_x(uint32_t hi, uint32_t lo)
{
    wr(APIC_ICR_HI, hi);
    wr(APIC_ICR_LO, lo);
    CHECK(O.ipi_valid);
    return O.ipi;
}

static bool sends(uint32_t lo)
{
    wr(APIC_ICR_LO, lo);
    return O.ipi_valid;
}

static void test_icr(void)
{
    struct vlapic_ipi m;
    setup(0, false);
    sw_enable();
    m = ipi_x(0x03000000, 0x4030);
    CHECK_EQ_U64(m.dest, 3);
    CHECK_EQ_U64(m.vector, 0x30);
    CHECK_EQ_U64(m.mode, APIC_DM_FIXED);
    CHECK_EQ_U64(m.shorthand, APIC_SH_NONE);
    CHECK(!m.logical && m.level_assert && !m.level_trigger);
    CHECK_EQ_U64(rd(APIC_ICR_LO), 0x4030);
    m = ipi_x(0xFF000000, 0x0931);                  /* lowest priority, logical, no assert bit */
    CHECK_EQ_U64(m.dest, 0xFF);
    CHECK_EQ_U64(m.mode, APIC_DM_LOWEST);
    CHECK(m.logical && !m.level_assert);
    m = ipi_x(0x01000000, 0x4200);
    CHECK_EQ_U64(m.mode, APIC_DM_SMI);
    m = ipi_x(0x01000000, 0x4400);
    CHECK_EQ_U64(m.mode, APIC_DM_NMI);
    m = ipi_x(0x02000000, 0xC500);                  /* INIT level assert */
    CHECK_EQ_U64(m.mode, APIC_DM_INIT);
    CHECK(m.level_assert && m.level_trigger);
    m = ipi_x(0x02000000, 0x8500);                  /* INIT level de-assert */
    CHECK_EQ_U64(m.mode, APIC_DM_INIT);
    CHECK(!m.level_assert && m.level_trigger);
    m = ipi_x(0x02000000, 0x4608);
    CHECK_EQ_U64(m.mode, APIC_DM_STARTUP);
    CHECK_EQ_U64(m.vector, 8);
    CHECK(!sends(0x4330));                          /* reserved modes */
    CHECK(!sends(0x4730));
    CHECK(!sends(0x8030));                          /* fixed level de-assert: ignored */
    CHECK(sends(0xC030));
    /* Shorthands: self and all-including-self carry only fixed IPIs. */
    m = ipi_x(0, 0x44030);
    CHECK_EQ_U64(m.shorthand, APIC_SH_SELF);
    m = ipi_x(0, 0x84030);
    CHECK_EQ_U64(m.shorthand, APIC_SH_ALL);
    m = ipi_x(0, 0xC4030);
    CHECK_EQ_U64(m.shorthand, APIC_SH_OTHERS);
    static const uint32_t modes[] = { 0x100, 0x200, 0x400, 0x500, 0x600 };
    for (unsigned i = 0; i < 5; i++) {
        CHECK(!sends(0x44030 | modes[i]));
        CHECK(!sends(0x84030 | modes[i]));
        CHECK(sends(0xC4030 | modes[i]));
        CHECK_EQ_U64(O.ipi.mode, modes[i] >> 8);
        CHECK(sends(0x04030 | modes[i] | APIC_DEST_LOGICAL));
        CHECK(O.ipi.logical);
    }
    CHECK_EQ_U64(esr(), 0);
    /* Writing ICR high sends nothing. */
    wr(APIC_ICR_HI, 0x05000000);
    CHECK(!O.ipi_valid);

    /* x2APIC: one 64-bit write with a 32-bit destination. */
    setup(0, true);
    sw_enable();
    CHECK(mwr(0x830, 0x12345678ull << 32 | 0x4830));
    CHECK(O.ipi_valid);
    CHECK_EQ_U64(O.ipi.dest, 0x12345678);
    CHECK(O.ipi.logical);
    CHECK_EQ_U64(mrd(0x830), 0x12345678ull << 32 | 0x4830);
    CHECK(mwr(0x830, 0xFFFFFFFFull << 32 | 0x1000 | 0xC4500)); /* delivery status ignored */
    CHECK(O.ipi_valid);
    CHECK_EQ_U64(O.ipi.dest, 0xFFFFFFFF);
    CHECK_EQ_U64(O.ipi.mode, APIC_DM_INIT);
    CHECK_EQ_U64(mrd(0x830), 0xFFFFFFFFull << 32 | 0xC4500);
    CHECK(mwr(0x83F, 0x41));
    CHECK(O.ipi_valid);
    CHECK_EQ_U64(O.ipi.vector, 0x41);
    CHECK_EQ_U64(O.ipi.mode, APIC_DM_FIXED);
    CHECK_EQ_U64(O.ipi.shorthand, APIC_SH_SELF);
    CHECK(!O.ipi.level_trigger);
}

/* ---- destination matching */

static void test_match_dest(void)
{
    setup(0x21, false);
    CHECK(vlapic_match_dest(&L, 0x21, false));
    CHECK(!vlapic_match_dest(&L, 0x22, false));
    CHECK(vlapic_match_dest(&L, 0xFF, false));
    /* Flat model: LDR bits 31:24 & dest. */
    wr(APIC_LDR, 0x24000000);
    static const struct { uint8_t dest; bool hit; } flat[] = {
        { 0x04, true }, { 0x20, true }, { 0x24, true }, { 0xFF, true }, { 0x01, false },
        { 0xDB, false }, { 0x00, false },
    };
    for (unsigned i = 0; i < sizeof flat / sizeof flat[0]; i++)
        CHECK(vlapic_match_dest(&L, flat[i].dest, true) == flat[i].hit);
    /* Cluster model: cluster (high nibble, 0xF = all) equal and member bits intersecting. */
    wr(APIC_DFR, 0x0FFFFFFF);
    wr(APIC_LDR, 0x32000000);
    static const struct { uint8_t dest; bool hit; } cluster[] = {
        { 0x32, true }, { 0x3F, true }, { 0x33, true }, { 0xF2, true }, { 0xFF, true },
        { 0x31, false }, { 0x22, false }, { 0x42, false }, { 0xF1, false }, { 0x30, false },
    };
    for (unsigned i = 0; i < sizeof cluster / sizeof cluster[0]; i++)
        CHECK(vlapic_match_dest(&L, cluster[i].dest, true) == cluster[i].hit);
    wr(APIC_DFR, 0x5FFFFFFF);                       /* neither model */
    CHECK(!vlapic_match_dest(&L, 0xFF, true));
    CHECK(vlapic_match_dest(&L, 0x21, false));

    /* x2APIC: 32-bit physical, cluster logical, 0xFFFFFFFF broadcast. */
    setup(0x12345, true);
    CHECK(vlapic_match_dest(&L, 0x12345, false));
    CHECK(!vlapic_match_dest(&L, 0x45, false));
    CHECK(!vlapic_match_dest(&L, 0xFF, false));
    CHECK(vlapic_match_dest(&L, 0xFFFFFFFF, false));
    CHECK(vlapic_match_dest(&L, 0xFFFFFFFF, true));
    static const struct { uint32_t dest; bool hit; } x2[] = {
        { 0x12340020, true }, { 0x1234FFFF, true }, { 0x12340021, true }, { 0x12340010, false },
        { 0x12350020, false }, { 0xFFFF0020, false }, { 0x00000020, false },
    };
    for (unsigned i = 0; i < sizeof x2 / sizeof x2[0]; i++)
        CHECK(vlapic_match_dest(&L, x2[i].dest, true) == x2[i].hit);
}

/* ---- priorities, ack, EOI */

static void test_priorities(void)
{
    setup(0, false);
    sw_enable();
    CHECK_EQ_U64(vlapic_pending(&L), -1);
    CHECK(vlapic_accept(&L, 0x31, false));
    CHECK(vlapic_accept(&L, 0x52, false));
    CHECK(vlapic_accept(&L, 0x45, false));
    CHECK_EQ_U64(rd(APIC_IRR + 0x20), 1u << 18 | 1u << 5);
    CHECK_EQ_U64(rd(APIC_IRR + 0x10), 1u << 17);
    CHECK_EQ_U64(vlapic_pending(&L), 0x52);
    CHECK_EQ_U64(rd(APIC_APR), 0x50);               /* IRR class above TPR */
    vlapic_ack(&L, 0x52);
    CHECK(isr(0x52) && !irr(0x52));
    CHECK_EQ_U64(rd(APIC_PPR), 0x50);
    CHECK_EQ_U64(vlapic_pending(&L), -1);           /* 0x45 is below the in-service class */
    CHECK(vlapic_accept(&L, 0x61, false));
    CHECK_EQ_U64(vlapic_pending(&L), 0x61);         /* nests */
    vlapic_ack(&L, 0x61);
    CHECK_EQ_U64(vlapic_ppr(&L), 0x60);
    CHECK(vlapic_accept(&L, 0x5F, false));
    CHECK_EQ_U64(vlapic_pending(&L), -1);
    wr(APIC_EOI, 0);                                /* ends 0x61 */
    CHECK(O.irq_changed);
    CHECK_EQ_U64(O.eoi_vector, -1);
    CHECK(!isr(0x61) && isr(0x52));
    CHECK_EQ_U64(vlapic_ppr(&L), 0x50);
    CHECK_EQ_U64(vlapic_pending(&L), -1);           /* 0x5F: same class as 0x52 */
    wr(APIC_EOI, 0);
    CHECK_EQ_U64(vlapic_ppr(&L), 0);
    CHECK_EQ_U64(vlapic_pending(&L), 0x5F);
    /* TPR masks by class. */
    wr(APIC_TPR, 0x50);
    CHECK(O.irq_changed);
    CHECK_EQ_U64(vlapic_pending(&L), -1);
    CHECK_EQ_U64(rd(APIC_PPR), 0x50);
    wr(APIC_TPR, 0x4F);
    CHECK_EQ_U64(vlapic_pending(&L), 0x5F);
    CHECK_EQ_U64(rd(APIC_PPR), 0x4F);
    CHECK_EQ_U64(rd(APIC_APR), 0x50);
    wr(APIC_TPR, 0x67);
    CHECK_EQ_U64(rd(APIC_APR), 0x67);               /* TPR above IRR and ISR classes */
    vlapic_ack(&L, 0x5F);
    CHECK_EQ_U64(rd(APIC_PPR), 0x67);               /* TPR class >= ISR class */
    wr(APIC_TPR, 0x53);
    CHECK_EQ_U64(rd(APIC_PPR), 0x53);               /* equal classes: TPR wins */
    wr(APIC_TPR, 0x47);
    CHECK_EQ_U64(rd(APIC_PPR), 0x50);
    CHECK_EQ_U64(rd(APIC_APR), 0x50);
    /* CR8 is TPR[7:4]. */
    vlapic_set_cr8(&L, 0x9);
    CHECK_EQ_U64(rd(APIC_TPR), 0x90);
    CHECK_EQ_U64(vlapic_cr8(&L), 9);
    wr(APIC_TPR, 0xAB);
    CHECK_EQ_U64(vlapic_cr8(&L), 0xA);
    vlapic_set_cr8(&L, 0);
    /* Ack of a vector not requested does nothing; EOI with nothing in service is ignored. */
    vlapic_ack(&L, 0x99);
    CHECK(!isr(0x99));
    wr(APIC_EOI, 0);
    wr(APIC_EOI, 0);
    wr(APIC_EOI, 0);
    CHECK_EQ_U64(O.eoi_vector, -1);
    CHECK(!O.irq_changed);
    for (int i = 0; i < 8; i++)
        CHECK_EQ_U64(L.isr[i], 0);
    CHECK_EQ_U64(vlapic_pending(&L), 0x45);
    /* Vector 255 and the highest of many. */
    CHECK(vlapic_accept(&L, 0xFF, false));
    CHECK_EQ_U64(vlapic_pending(&L), 0xFF);
    vlapic_ack(&L, 0xFF);
    CHECK_EQ_U64(vlapic_ppr(&L), 0xF0);
    CHECK_EQ_U64(vlapic_pending(&L), -1);
}

static void test_level_eoi(void)
{
    setup(0, false);
    sw_enable();
    CHECK(vlapic_accept(&L, 0x40, true));
    CHECK_EQ_U64(rd(APIC_TMR + 0x20), 1);
    CHECK(vlapic_accept(&L, 0x41, false));
    vlapic_ack(&L, 0x41);
    vlapic_ack(&L, 0x40);
    wr(APIC_EOI, 0);
    CHECK_EQ_U64(O.eoi_vector, -1);                 /* 0x41 was edge */
    wr(APIC_EOI, 0);
    CHECK_EQ_U64(O.eoi_vector, 0x40);
    /* Edge after level clears TMR. */
    CHECK(vlapic_accept(&L, 0x40, false));
    CHECK_EQ_U64(rd(APIC_TMR + 0x20), 0);
    vlapic_ack(&L, 0x40);
    wr(APIC_EOI, 0);
    CHECK_EQ_U64(O.eoi_vector, -1);
    /* Directed EOI: the guest EOIs the IOAPIC itself. */
    wr(APIC_SVR, 0x1FF | APIC_SVR_DIRECTED_EOI);
    CHECK(vlapic_accept(&L, 0x40, true));
    vlapic_ack(&L, 0x40);
    wr(APIC_EOI, 0);
    CHECK_EQ_U64(O.eoi_vector, -1);
    CHECK(!isr(0x40));
    /* x2APIC EOI. */
    setup(0, true);
    sw_enable();
    CHECK(vlapic_accept(&L, 0x80, true));
    vlapic_ack(&L, 0x80);
    CHECK(mwr(0x80B, 0));
    CHECK_EQ_U64(O.eoi_vector, 0x80);
}

/* ---- LINT pins */

static void test_lint(void)
{
    uint8_t v = 0;
    setup(0, false);
    CHECK_EQ_U64(vlapic_lint(&L, 0, &v), -1);       /* masked after reset */
    CHECK_EQ_U64(vlapic_lint(&L, 2, &v), -1);
    sw_enable();
    wr(APIC_LVT_LINT0, APIC_DM_EXTINT << 8);
    wr(APIC_LVT_LINT1, APIC_DM_NMI << 8);
    CHECK_EQ_U64(vlapic_lint(&L, 0, &v), APIC_DM_EXTINT);
    CHECK_EQ_U64(vlapic_lint(&L, 1, &v), APIC_DM_NMI);
    wr(APIC_LVT_LINT1, APIC_DM_SMI << 8);
    CHECK_EQ_U64(vlapic_lint(&L, 1, &v), -1);
    /* Fixed edge. */
    wr(APIC_LVT_LINT1, 0x33);
    CHECK_EQ_U64(vlapic_lint(&L, 1, &v), APIC_DM_FIXED);
    CHECK_EQ_U64(v, 0x33);
    CHECK(irr(0x33));
    CHECK_EQ_U64(rd(APIC_TMR + 0x10), 0);
    /* LINT1 is never level. */
    wr(APIC_LVT_LINT1, 0x8034);
    CHECK_EQ_U64(vlapic_lint(&L, 1, &v), APIC_DM_FIXED);
    CHECK_EQ_U64(rd(APIC_LVT_LINT1), 0x8034);
    /* Fixed level on LINT0: remote IRR until the EOI. */
    wr(APIC_LVT_LINT0, 0x8035);
    CHECK_EQ_U64(vlapic_lint(&L, 0, &v), APIC_DM_FIXED);
    CHECK_EQ_U64(rd(APIC_LVT_LINT0), 0xC035);
    CHECK(rd(APIC_TMR + 0x10) & 1u << 0x15);
    CHECK_EQ_U64(vlapic_lint(&L, 0, &v), -1);
    wr(APIC_LVT_LINT0, 0x8035);                     /* remote IRR is not writable */
    CHECK_EQ_U64(rd(APIC_LVT_LINT0), 0xC035);
    vlapic_ack(&L, 0x35);
    wr(APIC_SVR, 0x1FF | APIC_SVR_DIRECTED_EOI);    /* local remote IRR clears anyway */
    wr(APIC_EOI, 0);
    CHECK_EQ_U64(rd(APIC_LVT_LINT0), 0x8035);
    CHECK_EQ_U64(vlapic_lint(&L, 0, &v), APIC_DM_FIXED);
    /* An illegal vector is not delivered. */
    wr(APIC_LVT_LINT1, 0x5);
    CHECK_EQ_U64(vlapic_lint(&L, 1, &v), -1);
    CHECK_EQ_U64(esr(), ESR_RECV_ILLEGAL);
    /* Hardware-disabled: the pins are INTR and NMI. */
    CHECK(vlapic_set_base(&L, APIC_DEFAULT_BASE, MAXPHY));
    CHECK_EQ_U64(vlapic_lint(&L, 0, &v), APIC_DM_EXTINT);
    CHECK_EQ_U64(vlapic_lint(&L, 1, &v), APIC_DM_NMI);
}

/* ---- timer */

/* The TSC at which `ticks` divided ticks have passed since `start` (reference, host 128-bit). */
static uint64_t ref_expiry(const struct vlapic_clock *c, uint64_t start, uint64_t ticks,
                           unsigned div)
{
    unsigned __int128 n = (unsigned __int128)ticks * div * c->tsc_hz;
    return start + (uint64_t)((n + c->bus_hz - 1) / c->bus_hz);
}

static const struct { uint32_t dcr; unsigned div; } dividers[] = {
    { 0x0, 2 }, { 0x1, 4 }, { 0x2, 8 }, { 0x3, 16 }, { 0x8, 32 }, { 0x9, 64 }, { 0xA, 128 },
    { 0xB, 1 },
};

static void timer_on(uint32_t lvt, uint32_t dcr, uint32_t icr)
{
    wreg(APIC_LVT_TIMER, lvt);
    wreg(APIC_TIMER_DCR, dcr);
    wreg(APIC_TIMER_ICR, icr);
}

static void test_timer_oneshot(void)
{
    /* Exact values: 3 GHz TSC, 100 MHz bus = 30 TSC per bus cycle. */
    setup(0, false);
    sw_enable();
    timer_on(0x30, 0xB, 100);
    CHECK(O.timer_changed);
    CHECK_EQ_U64(vlapic_timer_deadline(&L), 1000 + 3000);
    CHECK_EQ_U64(rd(APIC_TIMER_CCR), 100);
    CHECK(!vlapic_timer_tick(&L, 3999));
    CHECK(!irr(0x30));
    CHECK(vlapic_timer_tick(&L, 4000));
    CHECK(irr(0x30));
    CHECK_EQ_U64(vlapic_timer_deadline(&L), UINT64_MAX);
    CHECK(!vlapic_timer_tick(&L, 100000));
    now = 5000;
    CHECK_EQ_U64(rd(APIC_TIMER_CCR), 0);
    CHECK_EQ_U64(rd(APIC_TIMER_ICR), 100);
    timer_on(0x30, 0x0, 100);                       /* divide by 2 */
    CHECK_EQ_U64(vlapic_timer_deadline(&L), 5000 + 6000);
    timer_on(0x30, 0xA, 100);                       /* divide by 128 */
    CHECK_EQ_U64(vlapic_timer_deadline(&L), 5000 + 384000);
    timer_on(0x30, 0xA, 0);                         /* 0 stops */
    CHECK(O.timer_changed);
    CHECK_EQ_U64(vlapic_timer_deadline(&L), UINT64_MAX);

    /* Several clocks and every divider against the reference. */
    static const struct vlapic_clock clocks[] = {
        { 3000000000ull, 100000000ull }, { 1000000000ull, 300000000ull },
        { 2494000000ull, 25000000ull }, { 1000000ull, 1000000000ull }, { 3ull, 7ull },
        { 0xFFFFFFFFFFull, 133333333ull },
        { 0xF000000000000000ull, 0xE000000000000001ull },   /* divisor above 2^63 */
    };
    static const uint32_t counts[] = { 1, 2, 3, 7, 1000, 123457, 0x7FFFFFFF, 0xFFFFFFFF };
    for (unsigned c = 0; c < sizeof clocks / sizeof clocks[0]; c++)
        for (unsigned d = 0; d < 8; d++)
            for (unsigned k = 0; k < sizeof counts / sizeof counts[0]; k++) {
                setup_clk(0, false, &clocks[c]);
                sw_enable();
                now = 1ull << 40;
                timer_on(0x30, dividers[d].dcr, counts[k]);
                uint64_t want = ref_expiry(&clocks[c], now, counts[k], dividers[d].div);
                CHECK_EQ_U64(vlapic_timer_deadline(&L), want);
                CHECK(!vlapic_timer_tick(&L, want - 1));
                CHECK(vlapic_timer_tick(&L, want));
                CHECK(irr(0x30));
            }
}

static void test_timer_ccr(void)
{
    setup(0, false);
    sw_enable();
    timer_on(0x30, 0xB, 1000);                      /* 30 TSC per tick, started at 1000 */
    now = 1000 + 30 * 250;
    CHECK_EQ_U64(rd(APIC_TIMER_CCR), 750);
    now += 29;
    CHECK_EQ_U64(rd(APIC_TIMER_CCR), 750);
    now -= 30;
    CHECK_EQ_U64(rd(APIC_TIMER_CCR), 751);
    /* Big times take the long-division path: elapsed * bus_hz > 2^64. */
    setup(0, false);
    sw_enable();
    now = 1000000000000ull;
    timer_on(0x30, 0xA, 0xFFFFFFFF);
    now += 1000000000000ull;
    uint64_t ticks = (uint64_t)((unsigned __int128)1000000000000ull * 100000000 / 3000000000ull
                                / 128);
    CHECK_EQ_U64(rd(APIC_TIMER_CCR), 0xFFFFFFFFu - ticks);
    CHECK_EQ_U64(vlapic_timer_deadline(&L),
                 ref_expiry(&clk_3g, 1000000000000ull, 0xFFFFFFFF, 128));
}

static void test_timer_periodic(void)
{
    setup(0, false);
    sw_enable();
    timer_on(APIC_TIMER_PERIODIC | 0x30, 0xB, 100); /* period 3000 TSC from 1000 */
    CHECK_EQ_U64(vlapic_timer_deadline(&L), 4000);
    CHECK(vlapic_timer_tick(&L, 4000));
    CHECK_EQ_U64(vlapic_timer_deadline(&L), 7000);
    now = 4000 + 30 * 10;
    CHECK_EQ_U64(rd(APIC_TIMER_CCR), 90);
    CHECK(vlapic_timer_tick(&L, 7500));             /* a bit late: the next is still on time */
    CHECK_EQ_U64(vlapic_timer_deadline(&L), 10000);
    CHECK(!vlapic_timer_tick(&L, 9999));
    CHECK(vlapic_timer_tick(&L, 10000 + 3000 * 5 + 10));   /* five periods late: one fire */
    CHECK_EQ_U64(vlapic_timer_deadline(&L), 10000 + 3000 * 6);
    CHECK(!vlapic_timer_tick(&L, 10000 + 3000 * 6 - 1));
    now = 10000 + 3000 * 5 + 10;
    CHECK_EQ_U64(rd(APIC_TIMER_CCR), 100);          /* 10 TSC into a period: no tick yet */
    /* A masked periodic timer keeps running. */
    wr(APIC_LVT_TIMER, APIC_TIMER_PERIODIC | APIC_LVT_MASKED | 0x30);
    L.irr[1] = 0;
    CHECK(vlapic_timer_tick(&L, 28000));
    CHECK(!irr(0x30));
    CHECK_EQ_U64(vlapic_timer_deadline(&L), 31000);

    /* No drift with a period that is not a whole number of TSC ticks: 10/3 TSC per tick. */
    static const struct vlapic_clock c3 = { 1000000000ull, 300000000ull };
    setup_clk(0, false, &c3);
    sw_enable();
    timer_on(APIC_TIMER_PERIODIC | 0x30, 0xB, 1);
    uint64_t start = now;
    for (uint64_t k = 1; k <= 300; k++) {
        uint64_t want = ref_expiry(&c3, start, k, 1);
        CHECK_EQ_U64(vlapic_timer_deadline(&L), want);
        CHECK(vlapic_timer_tick(&L, want));
    }
    CHECK_EQ_U64(vlapic_timer_deadline(&L), start + 1004);
    /* Periodic with a divider, several clocks: the k-th expiry is exact. */
    static const struct vlapic_clock clocks[] = {
        { 2494000000ull, 25000000ull }, { 1000000ull, 1000000000ull }, { 7ull, 3ull },
    };
    for (unsigned c = 0; c < 3; c++)
        for (unsigned d = 0; d < 8; d++) {
            setup_clk(0, false, &clocks[c]);
            sw_enable();
            timer_on(APIC_TIMER_PERIODIC | 0x30, dividers[d].dcr, 12345);
            start = now;
            for (uint64_t k = 1; k <= 20; k++) {
                uint64_t want = ref_expiry(&clocks[c], start, 12345 * k, dividers[d].div);
                CHECK_EQ_U64(vlapic_timer_deadline(&L), want);
                CHECK(!vlapic_timer_tick(&L, want - 1));
                CHECK(vlapic_timer_tick(&L, want));
            }
        }
}

static void test_timer_dcr_change(void)
{
    setup(0, false);
    sw_enable();
    timer_on(0x30, 0xB, 1000);                      /* divide by 1: 30 TSC per tick */
    now = 1000 + 30 * 400;
    CHECK_EQ_U64(rd(APIC_TIMER_CCR), 600);
    wr(APIC_TIMER_DCR, 0x0);                        /* divide by 2: 60 TSC per tick */
    CHECK(O.timer_changed);
    CHECK_EQ_U64(rd(APIC_TIMER_CCR), 600);
    CHECK_EQ_U64(vlapic_timer_deadline(&L), now + 600 * 60);
    now += 60 * 100;
    CHECK_EQ_U64(rd(APIC_TIMER_CCR), 500);
    /* Periodic: the next periods use the new rate. */
    setup(0, false);
    sw_enable();
    timer_on(APIC_TIMER_PERIODIC | 0x30, 0xB, 100);
    now = 1000 + 30 * 40;
    wr(APIC_TIMER_DCR, 0x1);                        /* divide by 4: 120 TSC per tick */
    CHECK_EQ_U64(rd(APIC_TIMER_CCR), 60);
    uint64_t d = now + 60 * 120;
    CHECK_EQ_U64(vlapic_timer_deadline(&L), d);
    CHECK(vlapic_timer_tick(&L, d));
    CHECK_EQ_U64(vlapic_timer_deadline(&L), d + 100 * 120);
}

static void test_timer_deadline_mode(void)
{
    setup(0, false);
    sw_enable();
    CHECK(vlapic_msr_write(&L, TSC_DEADLINE_MSR, 5000, now, &O));  /* one-shot mode: ignored */
    CHECK_EQ_U64(vlapic_tsc_deadline_read(&L), 0);
    CHECK(!O.timer_changed);
    /* Switching a running count-down to TSC-deadline mode disarms it. */
    timer_on(0x30, 0xB, 100);
    wr(APIC_LVT_TIMER, APIC_TIMER_TSC_DEADLINE | 0xEF);
    CHECK(O.timer_changed);
    CHECK_EQ_U64(vlapic_timer_deadline(&L), UINT64_MAX);
    CHECK_EQ_U64(rd(APIC_TIMER_ICR), 0);
    wr(APIC_TIMER_ICR, 100);                        /* ignored in TSC-deadline mode */
    CHECK_EQ_U64(rd(APIC_TIMER_ICR), 0);
    CHECK(!O.timer_changed);
    vlapic_tsc_deadline_write(&L, 5000, now, &O);
    CHECK(O.timer_changed);
    CHECK_EQ_U64(vlapic_timer_deadline(&L), 5000);
    CHECK_EQ_U64(vlapic_tsc_deadline_read(&L), 5000);
    now = 4000;
    CHECK_EQ_U64(rd(APIC_TIMER_CCR), 0);
    CHECK(!vlapic_timer_tick(&L, 4999));
    CHECK(vlapic_timer_tick(&L, 5000));
    CHECK(irr(0xEF));
    CHECK_EQ_U64(vlapic_tsc_deadline_read(&L), 0);
    CHECK_EQ_U64(vlapic_timer_deadline(&L), UINT64_MAX);
    CHECK(!vlapic_timer_tick(&L, 6000));
    /* 0 disarms. */
    vlapic_tsc_deadline_write(&L, 9000, now, &O);
    vlapic_tsc_deadline_write(&L, 0, now, &O);
    CHECK(O.timer_changed);
    CHECK(!vlapic_timer_tick(&L, 9000));
    /* A deadline in the past fires at the next tick. */
    vlapic_tsc_deadline_write(&L, 10, now, &O);
    CHECK(vlapic_timer_tick(&L, now));
    /* Leaving TSC-deadline mode disarms too. */
    vlapic_tsc_deadline_write(&L, 90000, now, &O);
    wr(APIC_LVT_TIMER, APIC_TIMER_ONESHOT | 0xEF);
    CHECK(O.timer_changed);
    CHECK_EQ_U64(vlapic_timer_deadline(&L), UINT64_MAX);
    wr(APIC_LVT_TIMER, APIC_TIMER_TSC_DEADLINE | 0xEF);
    CHECK_EQ_U64(vlapic_tsc_deadline_read(&L), 0);
    /* x2APIC, through the MSR interface. */
    setup(0, true);
    sw_enable();
    CHECK(mwr(0x832, APIC_TIMER_TSC_DEADLINE | 0xEF));
    CHECK(mwr(TSC_DEADLINE_MSR, 7777));
    CHECK_EQ_U64(mrd(TSC_DEADLINE_MSR), 7777);
    CHECK(mwr(0x838, 55));
    CHECK_EQ_U64(mrd(0x838), 0);
}

static void test_timer_modes(void)
{
    /* One-shot -> periodic keeps counting; at zero it reloads. */
    setup(0, false);
    sw_enable();
    timer_on(0x30, 0xB, 100);
    now = 2000;
    wr(APIC_LVT_TIMER, APIC_TIMER_PERIODIC | 0x30);
    CHECK(!O.timer_changed);
    CHECK_EQ_U64(vlapic_timer_deadline(&L), 4000);
    CHECK(vlapic_timer_tick(&L, 4000));
    CHECK_EQ_U64(vlapic_timer_deadline(&L), 7000);
    /* Periodic -> one-shot: the current period ends and the timer stops. */
    wr(APIC_LVT_TIMER, APIC_TIMER_ONESHOT | 0x30);
    CHECK(vlapic_timer_tick(&L, 7000));
    CHECK_EQ_U64(vlapic_timer_deadline(&L), UINT64_MAX);
    /* A masked one-shot still ends. */
    L.irr[1] = 0;
    now = 8000;
    timer_on(APIC_LVT_MASKED | 0x30, 0xB, 10);
    CHECK(vlapic_timer_tick(&L, 8300));
    CHECK(!irr(0x30));
    CHECK_EQ_U64(vlapic_timer_deadline(&L), UINT64_MAX);
    /* An expiry that is due fires before a register write changes the timer. */
    now = 9000;
    timer_on(0x30, 0xB, 10);
    now = 9300;
    wr(APIC_LVT_TIMER, APIC_LVT_MASKED | 0x30);
    CHECK(irr(0x30));
    CHECK(O.irq_changed && O.timer_changed);
    /* Only changes of the deadline are reported. */
    timer_on(0x31, 0xB, 10);
    wr(APIC_LVT_TIMER, 0x32);
    CHECK(!O.timer_changed);
    /* An illegal timer vector is an error when it fires. */
    L.irr[1] = 0;
    wr(APIC_LVT_TIMER, 0x05);
    CHECK(vlapic_timer_tick(&L, 9600));
    CHECK(!irr(5));
    CHECK_EQ_U64(esr(), ESR_RECV_ILLEGAL);
    /* Software disable masks the timer; it keeps counting. */
    timer_on(0x30, 0xB, 10);
    wr(APIC_SVR, 0xFF);
    CHECK(vlapic_timer_tick(&L, now + 300));
    CHECK(!irr(0x30));
}

int main(void)
{
    RUN(test_reset_xapic);
    RUN(test_reset_x2apic);
    RUN(test_mmio_shapes);
    RUN(test_xapic_register_bits);
    RUN(test_x2apic_reserved_bits);
    RUN(test_apic_base);
    RUN(test_svr);
    RUN(test_esr);
    RUN(test_icr);
    RUN(test_match_dest);
    RUN(test_priorities);
    RUN(test_level_eoi);
    RUN(test_lint);
    RUN(test_timer_oneshot);
    RUN(test_timer_ccr);
    RUN(test_timer_periodic);
    RUN(test_timer_dcr_change);
    RUN(test_timer_deadline_mode);
    RUN(test_timer_modes);
    return check_summary("test_vlapic");
}
