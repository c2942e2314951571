/* kernel/virt/apf_model.c: KVM's async PF MSRs, tokens, the ready queue and its rules, and
 * random streams through tests/unit/apf_sim.h (a guest that checks "exactly one page ready per
 * page not present"). */
#include "check.h"
#include "apf_sim.h"

#define EN_INT (KVM_ASYNC_PF_ENABLED | KVM_ASYNC_PF_DELIVERY_AS_INT)

static void test_msrs(void)
{
    struct apf_vcpu a;
    uint64_t v;
    apf_model_init(&a, 3);
    CHECK(!apf_model_wrmsr(&a, MSR_KVM_ASYNC_PF_EN, 0x1000 | EN_INT, true));   /* no vector */
    CHECK(!apf_model_wrmsr(&a, MSR_KVM_ASYNC_PF_INT, 0x100, true));            /* bits 63:8 */
    CHECK(apf_model_wrmsr(&a, MSR_KVM_ASYNC_PF_INT, 0xEC, true));
    CHECK(!apf_model_wrmsr(&a, MSR_KVM_ASYNC_PF_EN, 0x1000 | EN_INT | 0x10, true)); /* bit 4 */
    CHECK(!apf_model_wrmsr(&a, MSR_KVM_ASYNC_PF_EN, 0x1000 | EN_INT | 0x20, true)); /* bit 5 */
    CHECK(!apf_model_wrmsr(&a, MSR_KVM_ASYNC_PF_EN, 0x1000 | EN_INT |
                           KVM_ASYNC_PF_DELIVERY_AS_PF_VMEXIT, true));
    CHECK(!apf_model_wrmsr(&a, MSR_KVM_ASYNC_PF_EN, 0x1000 | EN_INT, false));  /* not RAM */
    CHECK(!apf_model_enabled(&a));
    CHECK(apf_model_wrmsr(&a, MSR_KVM_ASYNC_PF_EN, 0x1000 | KVM_ASYNC_PF_ENABLED, true));
    CHECK(!apf_model_enabled(&a));      /* #PF-based "page ready" is gone: not enabled */
    CHECK(apf_model_wrmsr(&a, MSR_KVM_ASYNC_PF_EN, 0x1040 | EN_INT | KVM_ASYNC_PF_SEND_ALWAYS,
                          true));
    CHECK(apf_model_enabled(&a));
    CHECK_EQ_U64(apf_model_area(&a), 0x1040);
    CHECK(!apf_model_wrmsr(&a, MSR_KVM_ASYNC_PF_INT, 0x10, true));   /* while enabled */
    CHECK(apf_model_rdmsr(&a, MSR_KVM_ASYNC_PF_EN, &v));
    CHECK_EQ_U64(v, 0x1040 | EN_INT | KVM_ASYNC_PF_SEND_ALWAYS);
    CHECK(apf_model_rdmsr(&a, MSR_KVM_ASYNC_PF_INT, &v));
    CHECK_EQ_U64(v, 0xEC);
    CHECK(apf_model_rdmsr(&a, MSR_KVM_ASYNC_PF_ACK, &v));
    CHECK_EQ_U64(v, 0);
    CHECK(!apf_model_rdmsr(&a, 0x4b564d03, &v));
    CHECK(apf_model_wrmsr(&a, MSR_KVM_ASYNC_PF_ACK, 0, true));
    CHECK_EQ_U64(a.c.acks, 0);
    apf_model_reset(&a);
    CHECK_EQ_U64(a.msr_en, 0);
    CHECK_EQ_U64(a.msr_int, 0);
}

static void enable(struct apf_vcpu *a, bool always)
{
    apf_model_wrmsr(a, MSR_KVM_ASYNC_PF_INT, 0xEC, true);
    apf_model_wrmsr(a, MSR_KVM_ASYNC_PF_EN, 0x2000 | EN_INT | (always ? KVM_ASYNC_PF_SEND_ALWAYS : 0),
                    true);
}

static void test_can_async(void)
{
    struct apf_vcpu a;
    struct apf_guest g = { .paging = true, .irq_ok = true, .lapic_on = true, .user = false };
    apf_model_init(&a, 0);
    CHECK(!apf_model_can_async(&a, &g));        /* off */
    enable(&a, false);
    CHECK(!apf_model_can_async(&a, &g));        /* kernel mode without send-always */
    g.user = true;
    CHECK(apf_model_can_async(&a, &g));
    enable(&a, true);
    g.user = false;
    CHECK(apf_model_can_async(&a, &g));
    g.irq_ok = false;
    CHECK(!apf_model_can_async(&a, &g));        /* interrupts off: synchronous */
    g.irq_ok = true;
    g.paging = false;
    CHECK(!apf_model_can_async(&a, &g));
    g.paging = true;
    g.area_flags = 1;
    CHECK(!apf_model_can_async(&a, &g));        /* previous "not present" unread */
}

static void test_ack_ordering(void)
{
    struct apf_vcpu a;
    struct apf_guest g = { .paging = true, .irq_ok = true, .lapic_on = true };
    uint32_t t[3], got;
    apf_model_init(&a, 5);
    enable(&a, true);
    for (int i = 0; i < 3; i++) {
        CHECK(apf_model_start(&a, 0x1000u * (i + 1), 10, true, true, &t[i]) >= 0);
        CHECK_EQ_U64(t[i] & 0xFFF, 5);
    }
    CHECK(t[0] != t[1] && t[1] != t[2]);
    CHECK_EQ_U64(apf_model_next_due(&a), 10);
    CHECK_EQ_U64(apf_model_due(&a, 9), (uint64_t)-1);
    for (int i; (i = apf_model_due(&a, 10)) >= 0;)
        apf_model_complete(&a, i);
    CHECK_EQ_U64(apf_model_queued(&a), 3);
    CHECK(apf_model_can_ready(&a, &g));
    got = apf_model_take_ready(&a);
    CHECK(got == t[0] || got == t[1] || got == t[2]);
    g.area_token = got;
    CHECK(!apf_model_can_ready(&a, &g));        /* waits for the ACK */
    g.area_token = 0;
    CHECK(!apf_model_can_ready(&a, &g));        /* token consumed but not acked yet */
    apf_model_wrmsr(&a, MSR_KVM_ASYNC_PF_ACK, 1, true);
    CHECK(apf_model_can_ready(&a, &g));
    /* disabled: nothing is sent, nothing lost */
    apf_model_wrmsr(&a, MSR_KVM_ASYNC_PF_EN, 0, true);
    CHECK(!apf_model_can_ready(&a, &g));
    CHECK_EQ_U64(apf_model_queued(&a), 2);
    enable(&a, true);
    CHECK(apf_model_can_ready(&a, &g));
    g.paging = false;
    CHECK(!apf_model_can_ready(&a, &g));
    g.paging = true;
    g.lapic_on = false;
    CHECK(!apf_model_can_ready(&a, &g));
    g.lapic_on = true;
    apf_model_take_ready(&a);
    apf_model_wrmsr(&a, MSR_KVM_ASYNC_PF_ACK, 1, true);
    apf_model_take_ready(&a);
    apf_model_wrmsr(&a, MSR_KVM_ASYNC_PF_ACK, 1, true);
    CHECK_EQ_U64(a.c.ready, 3);
    CHECK_EQ_U64(a.c.acks, 3);
    CHECK(apf_model_check(&a));
}

static void test_sync_and_reset(void)
{
    struct apf_vcpu a;
    uint32_t t;
    apf_model_init(&a, 1);
    enable(&a, true);
    CHECK(apf_model_start(&a, 0x5000, 7, false, true, &t) >= 0);
    CHECK(apf_model_blocked(&a));
    CHECK(apf_model_find(&a, 0x5000) >= 0);
    CHECK(apf_model_start(&a, 0x6000, 7, true, false, &t) >= 0);
    apf_model_reset(&a);                        /* INIT with both in flight */
    CHECK(!apf_model_blocked(&a));
    CHECK_EQ_U64(a.c.dropped, 1);
    for (int i; (i = apf_model_due(&a, 7)) >= 0;)
        apf_model_complete(&a, i);
    CHECK_EQ_U64(apf_model_queued(&a), 0);      /* silent: nobody is told */
    CHECK_EQ_U64(apf_model_outstanding(&a), 0);
    CHECK(apf_model_check(&a));
}

static void test_full(void)
{
    struct apf_vcpu a;
    struct apf_guest g = { .paging = true, .irq_ok = true, .lapic_on = true };
    uint32_t t;
    apf_model_init(&a, 0);
    enable(&a, true);
    for (int i = 0; i < APF_SLOTS; i++)
        CHECK(apf_model_start(&a, 0x1000u * i, 1, true, true, &t) >= 0);
    CHECK(!apf_model_can_async(&a, &g));
    CHECK(apf_model_start(&a, 0x99000, 1, true, true, &t) < 0);
    for (int i; (i = apf_model_due(&a, 1)) >= 0;)
        apf_model_complete(&a, i);
    CHECK(!apf_model_can_async(&a, &g));        /* queued tokens still count */
    CHECK(apf_model_check(&a));
}

static void test_random(void)
{
    static struct apf_sim s;
    unsigned bad = 0;
    rng_seed(9);
    for (unsigned run = 0; run < 3000; run++) {
        sim_init(&s, run & 0xFFF);
        unsigned n = 50 + (unsigned)rng_below(600);
        for (unsigned k = 0; k < n; k++)
            sim_step(&s, (uint8_t)rng_next(), (uint8_t)rng_next());
        sim_drain(&s);
        if (s.errors && !bad++)
            fprintf(stderr, "run %u: %s\n", run, s.why);
    }
    CHECK_EQ_U64(bad, 0);
}

int main(void)
{
    RUN(test_msrs);
    RUN(test_can_async);
    RUN(test_ack_ordering);
    RUN(test_sync_and_reset);
    RUN(test_full);
    RUN(test_random);
    return check_summary("apf_model");
}
