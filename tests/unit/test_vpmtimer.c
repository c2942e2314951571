/* kernel/dev/vpmtimer.c: the ACPI PM1 event/control registers and the PM timer. Expectations
 * from ACPI 6.5 sections 4.8.3 (PM1 status/enable/control, write-1-to-clear, SLP_TYP/SLP_EN) and
 * 4.8.3.3 (PM_TMR: 3.579545 MHz, TMR_STS when bit 23 toggles). */
#include "check.h"
#include "kernel/dev/vpmtimer.h"

#define HZ 3000000000ull        /* 3 GHz TSC */
#define T0 5000ull

static struct vpm P;
static struct vpm_out O;

/* Exact reference: TSC ticks -> PM ticks with 128-bit arithmetic. */
static uint64_t ref_ticks(uint64_t d)
{
    return (uint64_t)((unsigned __int128)d * PM_TMR_HZ / HZ);
}

static void test_reset(void)
{
    vpm_reset(&P, HZ, T0);
    CHECK_EQ_U64(vpm_read(&P, VPM_PM1_STS, 2, T0), 0);
    CHECK_EQ_U64(vpm_read(&P, VPM_PM1_EN, 2, T0), 0);
    CHECK_EQ_U64(vpm_read(&P, VPM_PM1_CNT, 2, T0), PM1_CNT_SCI_EN);
    CHECK_EQ_U64(vpm_read(&P, VPM_PM_TMR, 4, T0), 0);
    CHECK(!vpm_sci(&P));
    CHECK_EQ_U64(vpm_next_event(&P, T0), UINT64_MAX);
    CHECK_EQ_U64(vpm_read(&P, 6, 1, T0), 0xFF);        /* hole in the block */
    CHECK_EQ_U64(vpm_read(&P, 12, 1, T0), 0xFF);
}

static void test_timer_rate(void)
{
    vpm_reset(&P, HZ, T0);
    /* One second of TSC gives 3579545 ticks, modulo 2^24. */
    CHECK_EQ_U64(vpm_read(&P, VPM_PM_TMR, 4, T0 + HZ), PM_TMR_HZ);
    uint64_t d = 7 * HZ + 12345;
    CHECK_EQ_U64(vpm_read(&P, VPM_PM_TMR, 4, T0 + d), ref_ticks(d) & 0xFFFFFF);
    CHECK_EQ_U64(vpm_read(&P, VPM_PM_TMR + 3, 1, T0 + d), 0);     /* bits 31:24 */
    CHECK_EQ_U64(vpm_read(&P, VPM_PM_TMR, 2, T0 + d), ref_ticks(d) & 0xFFFF);
    /* Time going backwards does not move the counter backwards. */
    CHECK_EQ_U64(vpm_read(&P, VPM_PM_TMR, 4, T0 + 10), ref_ticks(d) & 0xFFFFFF);
    /* Random points: exact against the reference. */
    rng_seed(8);
    vpm_reset(&P, HZ, T0);
    uint64_t t = T0;
    for (int i = 0; i < 1000; i++) {
        t += rng_below(HZ);
        CHECK_EQ_U64(vpm_read(&P, VPM_PM_TMR, 4, t), ref_ticks(t - T0) & 0xFFFFFF);
    }
    /* Writes to PM_TMR are ignored. */
    vpm_write(&P, VPM_PM_TMR, 4, 0, t, &O);
    CHECK_EQ_U64(vpm_read(&P, VPM_PM_TMR, 4, t), ref_ticks(t - T0) & 0xFFFFFF);
}

static void test_tmr_sts_and_sci(void)
{
    vpm_reset(&P, HZ, T0);
    /* 2^23 ticks = 2.343 s: TMR_STS appears at the first toggle of bit 23. */
    uint64_t first = T0 + (uint64_t)(((unsigned __int128)(1u << 23) * HZ + PM_TMR_HZ - 1) /
                                     PM_TMR_HZ);
    CHECK(!(vpm_read(&P, VPM_PM1_STS, 2, first - 1) & PM1_TMR));
    CHECK(vpm_read(&P, VPM_PM1_STS, 2, first) & PM1_TMR);
    CHECK(!vpm_sci(&P));                   /* status alone does not raise the SCI */
    vpm_write(&P, VPM_PM1_EN, 2, PM1_TMR, first, &O);
    CHECK(O.sci);
    vpm_write(&P, VPM_PM1_STS, 2, 0, first, &O);     /* writing 0 clears nothing */
    CHECK(O.sci);
    vpm_write(&P, VPM_PM1_STS, 2, PM1_TMR, first, &O);
    CHECK(!O.sci);
    CHECK_EQ_U64(vpm_read(&P, VPM_PM1_STS, 2, first), 0);
    /* The next event is the next toggle, exactly. */
    uint64_t next = vpm_next_event(&P, first);
    uint64_t want = T0 + (uint64_t)(((unsigned __int128)(2u << 23) * HZ + PM_TMR_HZ - 1) /
                                    PM_TMR_HZ);
    CHECK_EQ_U64(next, want);
    CHECK(!vpm_tick(&P, next - 1));
    CHECK(vpm_tick(&P, next));
    CHECK_EQ_U64(vpm_next_event(&P, next), UINT64_MAX);   /* already asserted */
    /* SCI_EN clear masks the SCI. */
    vpm_write(&P, VPM_PM1_CNT, 2, 0, next, &O);
    CHECK(!O.sci);
    vpm_write(&P, VPM_PM1_CNT, 2, PM1_CNT_SCI_EN, next, &O);
    CHECK(O.sci);
    /* Disabling TMR_EN drops it; no event is armed without TMR_EN. */
    vpm_write(&P, VPM_PM1_EN, 2, 0, next, &O);
    CHECK(!O.sci);
    vpm_write(&P, VPM_PM1_STS, 2, 0xFFFF, next, &O);
    CHECK_EQ_U64(vpm_next_event(&P, next), UINT64_MAX);
}

static void test_power_button_and_bytes(void)
{
    vpm_reset(&P, HZ, T0);
    vpm_power_button(&P, T0, &O);
    CHECK(!O.sci);
    CHECK_EQ_U64(vpm_read(&P, VPM_PM1_STS + 1, 1, T0), PM1_PWRBTN >> 8);
    vpm_write(&P, VPM_PM1_EN + 1, 1, PM1_PWRBTN >> 8, T0, &O);   /* byte write of PWRBTN_EN */
    CHECK(O.sci);
    CHECK_EQ_U64(vpm_read(&P, VPM_PM1_EN, 2, T0), PM1_PWRBTN);
    /* A dword write at offset 0 writes STS (W1C) and EN together. */
    vpm_write(&P, VPM_PM1_STS, 4, PM1_PWRBTN | (uint32_t)PM1_PWRBTN << 16, T0, &O);
    CHECK(!O.sci);
    CHECK_EQ_U64(vpm_read(&P, VPM_PM1_STS, 4, T0), (uint32_t)PM1_PWRBTN << 16);
    /* Reserved EN bits do not stick. */
    vpm_write(&P, VPM_PM1_EN, 2, 0xFFFF, T0, &O);
    CHECK_EQ_U64(vpm_read(&P, VPM_PM1_EN, 2, T0), PM1_EVT_BITS);
}

static void test_sleep(void)
{
    vpm_reset(&P, HZ, T0);
    /* SLP_TYP = 5 without SLP_EN: stored, no power-off. */
    vpm_write(&P, VPM_PM1_CNT, 2, PM1_CNT_SCI_EN | 5u << PM1_CNT_SLP_TYP_SHIFT, T0, &O);
    CHECK(!O.poweroff);
    CHECK_EQ_U64(vpm_read(&P, VPM_PM1_CNT, 2, T0), PM1_CNT_SCI_EN | 5u << PM1_CNT_SLP_TYP_SHIFT);
    /* SLP_EN with another type (S1 here, 5): not supported, nothing. */
    vpm_write(&P, VPM_PM1_CNT, 2, PM1_CNT_SCI_EN | 5u << 10 | PM1_CNT_SLP_EN, T0, &O);
    CHECK(!O.poweroff);
    CHECK(!(vpm_read(&P, VPM_PM1_CNT, 2, T0) & PM1_CNT_SLP_EN));      /* write-only */
    /* SLP_EN with SLP_TYP = the \_S5 value: power-off, also as a byte write of the high byte. */
    vpm_write(&P, VPM_PM1_CNT, 2, PM1_CNT_SCI_EN | VPM_SLP_TYP_S5 << 10 | PM1_CNT_SLP_EN, T0, &O);
    CHECK(O.poweroff);
    vpm_write(&P, VPM_PM1_CNT, 2, PM1_CNT_SCI_EN, T0, &O);
    CHECK(!O.poweroff);
    vpm_write(&P, VPM_PM1_CNT + 1, 1, (PM1_CNT_SLP_EN | VPM_SLP_TYP_S5 << 10) >> 8, T0, &O);
    CHECK(O.poweroff);
}

static void test_odd_clocks(void)
{
    /* A TSC as slow as the PM timer itself (slower ones are clamped to it) and a huge one. */
    vpm_reset(&P, PM_TMR_HZ, 0);
    CHECK_EQ_U64(vpm_read(&P, VPM_PM_TMR, 4, 3), 3);
    vpm_reset(&P, 0, 0);
    CHECK_EQ_U64(P.tsc_hz, PM_TMR_HZ);
    vpm_reset(&P, UINT64_MAX, 0);
    CHECK_EQ_U64(P.tsc_hz, 1ull << 40);
    /* Near the end of the TSC range the count still only grows. */
    vpm_reset(&P, PM_TMR_HZ, 0);
    CHECK_EQ_U64(vpm_ticks(&P, UINT64_MAX - 1), UINT64_MAX - 1);
}

int main(void)
{
    RUN(test_reset);
    RUN(test_timer_rate);
    RUN(test_tmr_sts_and_sci);
    RUN(test_power_button_and_bytes);
    RUN(test_sleep);
    RUN(test_odd_clocks);
    return check_summary("vpmtimer");
}
