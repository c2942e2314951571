/* A guest and a hypervisor around kernel/virt/apf_model.c, driven by a byte stream: shared by
 * tests/unit/test_apf_model.c (random streams) and tests/fuzz/fuzz_apf.c. The guest side
 * remembers every token it got in a "page not present" and checks that each gets exactly one
 * "page ready" (unless a reset dropped it), that no "page ready" comes while async PF is off,
 * and that the model's own bookkeeping holds after every step. */
#ifndef TEST_APF_SIM_H
#define TEST_APF_SIM_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include "kernel/virt/apf_model.h"

#define SIM_TOKENS 256

struct apf_sim {
    struct apf_vcpu a;
    struct apf_guest g;
    uint64_t now;
    uint32_t waiting[SIM_TOKENS];   /* tokens the guest waits on */
    unsigned nwait;
    unsigned errors;
    const char *why;
};

static inline void sim_err(struct apf_sim *s, const char *why)
{
    if (!s->errors++)
        s->why = why;
}

static inline void sim_init(struct apf_sim *s, unsigned id)
{
    memset(s, 0, sizeof *s);
    apf_model_init(&s->a, id);
    s->g = (struct apf_guest){ .paging = true, .irq_ok = true, .lapic_on = true };
}

static inline int sim_find(const struct apf_sim *s, uint32_t t)
{
    for (unsigned i = 0; i < s->nwait; i++)
        if (s->waiting[i] == t)
            return (int)i;
    return -1;
}

/* One step chosen by op, with argument byte arg. */
static inline void sim_step(struct apf_sim *s, uint8_t op, uint8_t arg)
{
    struct apf_vcpu *a = &s->a;
    uint32_t token;
    switch (op % 12) {
    case 0:     /* a fault on page arg */
        if (apf_model_find(a, arg) >= 0 || apf_model_blocked(a))
            break;
        if (apf_model_can_async(a, &s->g)) {
            if (apf_model_start(a, arg, s->now + (arg & 15), true, true, &token) < 0) {
                sim_err(s, "can_async said yes but start failed");
                break;
            }
            if (token == 0 || token == 0xFFFFFFFFu || sim_find(s, token) >= 0)
                sim_err(s, "bad or duplicate token");
            if (s->nwait < SIM_TOKENS)
                s->waiting[s->nwait++] = token;
            s->g.area_flags = KVM_PV_REASON_PAGE_NOT_PRESENT;
        } else {
            apf_model_start(a, arg, s->now + (arg & 15), false, true, &token);
        }
        break;
    case 1:     /* time passes; due fetches complete */
        s->now += arg & 31;
        for (int i; (i = apf_model_due(a, s->now)) >= 0;)
            apf_model_complete(a, i);
        break;
    case 2:     /* the entry decision: post a "page ready" if allowed */
        if (apf_model_can_ready(a, &s->g)) {
            if (!apf_model_enabled(a))
                sim_err(s, "ready while disabled");
            token = apf_model_take_ready(a);
            int w = sim_find(s, token);
            if (w < 0)
                sim_err(s, "ready for a token nobody waits on (or twice)");
            else
                s->waiting[w] = s->waiting[--s->nwait];
            s->g.area_token = token;
        }
        break;
    case 3:     /* the guest's #PF handler consumed flags */
        s->g.area_flags = 0;
        break;
    case 4:     /* the guest's interrupt handler: token consumed, then ACK */
        if (s->g.area_token) {
            s->g.area_token = 0;
            apf_model_wrmsr(a, MSR_KVM_ASYNC_PF_ACK, 1, true);
        }
        break;
    case 5: s->g.paging = arg & 1; break;
    case 6: s->g.irq_ok = arg & 1; break;
    case 7: s->g.lapic_on = arg & 1; break;
    case 8: s->g.user = arg & 1; break;
    case 9:     /* MSR writes, valid or not */
        if (arg & 0x80)
            apf_model_wrmsr(a, MSR_KVM_ASYNC_PF_INT, arg & 0x40 ? 0xF0 : arg, true);
        else
            apf_model_wrmsr(a, MSR_KVM_ASYNC_PF_EN, 0x1000 | (arg & 0x3F), arg & 0x40);
        break;
    case 10:    /* INIT: nothing may be delivered for what was pending */
        if (arg < 16) {
            apf_model_reset(a);
            s->nwait = 0;
            s->g = (struct apf_guest){ .paging = false, .irq_ok = false, .lapic_on = true };
        }
        break;
    default: {  /* reads never change anything */
        uint64_t v;
        struct apf_vcpu before = *a;
        apf_model_rdmsr(a, MSR_KVM_ASYNC_PF_EN + (arg & 7), &v);
        if (memcmp(&before, a, sizeof before))
            sim_err(s, "rdmsr changed state");
        break;
    }
    }
    if (!apf_model_check(a))
        sim_err(s, "model bookkeeping broken");
    /* every token the guest waits on is somewhere in the model */
    if (s->nwait + a->c.ready + a->c.dropped != a->c.not_present && s->nwait < SIM_TOKENS)
        sim_err(s, "guest waiters and model disagree");
}

/* Enables async PF properly, then drains: with the guest cooperating, every waiter is woken. */
static inline void sim_drain(struct apf_sim *s)
{
    if (s->errors)
        return;
    uint32_t held = s->g.area_token;        /* a "page ready" the guest has not handled yet */
    s->g = (struct apf_guest){ .paging = true, .irq_ok = true, .lapic_on = true,
                               .area_token = held };
    apf_model_wrmsr(&s->a, MSR_KVM_ASYNC_PF_INT, 0xEC, true);
    apf_model_wrmsr(&s->a, MSR_KVM_ASYNC_PF_EN, 0x2000 | KVM_ASYNC_PF_ENABLED |
                    KVM_ASYNC_PF_DELIVERY_AS_INT, true);
    for (unsigned k = 0; k < APF_SLOTS + 8; k++) {
        sim_step(s, 1, 31);
        sim_step(s, 4, 0);
        sim_step(s, 2, 0);
    }
    sim_step(s, 4, 0);
    if (s->nwait && s->nwait < SIM_TOKENS)
        sim_err(s, "a waiter was never woken");
    if (apf_model_outstanding(&s->a))
        sim_err(s, "work left after draining");
}

#endif
