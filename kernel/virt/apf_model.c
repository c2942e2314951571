/* The per-vCPU asynchronous page fault model (kernel/virt/apf_model.h). */
#include "kernel/virt/apf_model.h"

#define APF_TOKEN_ID_BITS   12
#define APF_TOKEN_WAKE_ALL  0xFFFFFFFFu     /* Linux reads it as "wake every waiter" */

void apf_model_init(struct apf_vcpu *a, unsigned vcpu_id)
{
    *a = (struct apf_vcpu){ .id = vcpu_id };
}

void apf_model_reset(struct apf_vcpu *a)
{
    for (unsigned i = 0; i < APF_SLOTS; i++) {
        struct apf_slot *s = &a->slot[i];
        if (s->state == APF_ASYNC)
            a->c.dropped++;
        if (s->state != APF_FREE)
            s->state = APF_SILENT;
    }
    a->c.dropped += apf_model_queued(a);
    a->rq_head = a->rq_tail = 0;
    a->msr_en = a->msr_int = 0;
    a->ready_pending = false;
}

bool apf_model_wrmsr(struct apf_vcpu *a, uint32_t msr, uint64_t val, bool area_ok)
{
    switch (msr) {
    case MSR_KVM_ASYNC_PF_EN: {
        uint64_t on = KVM_ASYNC_PF_ENABLED | KVM_ASYNC_PF_DELIVERY_AS_INT;
        if (val & (KVM_ASYNC_PF_RESERVED | KVM_ASYNC_PF_DELIVERY_AS_PF_VMEXIT))
            return false;
        /* "The vector has to be set up before asynchronous page fault mechanism is enabled" */
        if ((val & on) == on && (!area_ok || (a->msr_int & KVM_ASYNC_PF_VEC_MASK) < APF_VECTOR_MIN))
            return false;
        /* Disabling keeps what is queued: it is told after a re-enable (never while off). */
        a->msr_en = val;
        return true;
    }
    case MSR_KVM_ASYNC_PF_INT:
        if (val >> 8)
            return false;
        if (apf_model_enabled(a) && val < APF_VECTOR_MIN)
            return false;
        a->msr_int = val;
        return true;
    case MSR_KVM_ASYNC_PF_ACK:
        if (val & 1) {
            a->c.acks++;
            a->ready_pending = false;
        }
        return true;
    default:
        return false;
    }
}

bool apf_model_rdmsr(const struct apf_vcpu *a, uint32_t msr, uint64_t *val)
{
    switch (msr) {
    case MSR_KVM_ASYNC_PF_EN:  *val = a->msr_en;  return true;
    case MSR_KVM_ASYNC_PF_INT: *val = a->msr_int; return true;
    case MSR_KVM_ASYNC_PF_ACK: *val = 0;          return true;
    default:                   return false;
    }
}

unsigned apf_model_outstanding(const struct apf_vcpu *a)
{
    unsigned n = apf_model_queued(a);
    for (unsigned i = 0; i < APF_SLOTS; i++)
        n += a->slot[i].state != APF_FREE;
    return n;
}

int apf_model_find(const struct apf_vcpu *a, uint64_t gpa)
{
    for (unsigned i = 0; i < APF_SLOTS; i++)
        if (a->slot[i].state != APF_FREE && a->slot[i].gpa == gpa)
            return (int)i;
    return -1;
}

/* As KVM: interrupt-based delivery on, interrupts deliverable (the guest must be able to
 * schedule), user mode unless send-always; plus paging on (the guest's #PF handler needs it)
 * and the previous "not present" consumed. */
bool apf_model_can_async(const struct apf_vcpu *a, const struct apf_guest *g)
{
    return apf_model_enabled(a) && g->paging && g->irq_ok && g->lapic_on &&
           (g->user || (a->msr_en & KVM_ASYNC_PF_SEND_ALWAYS)) && g->area_flags == 0 &&
           apf_model_outstanding(a) < APF_SLOTS;
}

static uint32_t next_token(struct apf_vcpu *a)
{
    uint32_t t;
    do {
        a->token_seq++;
        t = (a->token_seq << APF_TOKEN_ID_BITS) | (a->id & ((1u << APF_TOKEN_ID_BITS) - 1));
    } while (t == 0 || t == APF_TOKEN_WAKE_ALL || (t >> APF_TOKEN_ID_BITS) == 0);
    return t;
}

int apf_model_start(struct apf_vcpu *a, uint64_t gpa, uint64_t due, bool async, bool owner,
                    uint32_t *token)
{
    if (async && apf_model_outstanding(a) >= APF_SLOTS)
        return -1;
    for (unsigned i = 0; i < APF_SLOTS; i++) {
        struct apf_slot *s = &a->slot[i];
        if (s->state != APF_FREE)
            continue;
        *s = (struct apf_slot){ .gpa = gpa, .due = due, .owner = owner,
                                .state = async ? APF_ASYNC : APF_SYNC };
        if (async) {
            s->token = next_token(a);
            *token = s->token;
            a->c.not_present++;
        } else {
            a->c.sync_waits++;
        }
        return (int)i;
    }
    return -1;
}

uint64_t apf_model_next_due(const struct apf_vcpu *a)
{
    uint64_t d = UINT64_MAX;
    for (unsigned i = 0; i < APF_SLOTS; i++)
        if (a->slot[i].state != APF_FREE && a->slot[i].due < d)
            d = a->slot[i].due;
    return d;
}

int apf_model_due(const struct apf_vcpu *a, uint64_t now)
{
    for (unsigned i = 0; i < APF_SLOTS; i++)
        if (a->slot[i].state != APF_FREE && a->slot[i].due <= now)
            return (int)i;
    return -1;
}

void apf_model_complete(struct apf_vcpu *a, int i)
{
    struct apf_slot *s = &a->slot[i];
    if (s->state == APF_ASYNC) {
        if (apf_model_queued(a) >= APF_SLOTS)
            a->c.bugs++;            /* cannot happen: outstanding() bounds both together */
        else
            a->rq[a->rq_tail++ % APF_SLOTS] = s->token;
    }
    s->state = APF_FREE;
}

bool apf_model_blocked(const struct apf_vcpu *a)
{
    for (unsigned i = 0; i < APF_SLOTS; i++)
        if (a->slot[i].state == APF_SYNC)
            return true;
    return false;
}

/* Never while disabled, never before the ACK of the previous one or while the guest still holds
 * its token, and only when the interrupt will be taken at once in paged mode: an interrupt left
 * in IRR across a switch to real mode or a software-disabled local APIC would be lost. */
bool apf_model_can_ready(const struct apf_vcpu *a, const struct apf_guest *g)
{
    return apf_model_queued(a) && apf_model_enabled(a) && !a->ready_pending && g->paging &&
           g->irq_ok && g->lapic_on && g->area_token == 0;
}

uint32_t apf_model_take_ready(struct apf_vcpu *a)
{
    if (!apf_model_queued(a)) {
        a->c.bugs++;
        return 0;
    }
    if (!apf_model_enabled(a) || a->ready_pending)
        a->c.bugs++;                /* the caller did not ask can_ready: counted, still sent */
    uint32_t t = a->rq[a->rq_head++ % APF_SLOTS];
    a->ready_pending = true;
    a->c.ready++;
    return t;
}

bool apf_model_check(const struct apf_vcpu *a)
{
    uint64_t in_flight = 0;
    for (unsigned i = 0; i < APF_SLOTS; i++) {
        uint8_t st = a->slot[i].state;
        if (st > APF_SILENT)
            return false;
        in_flight += st == APF_ASYNC;
    }
    /* the ready ring holds what is queued and every async fetch still in flight; synchronous
     * waits take a slot but never enter the ring */
    return apf_model_queued(a) + in_flight <= APF_SLOTS &&
           a->c.not_present == a->c.ready + apf_model_queued(a) + in_flight + a->c.dropped &&
           a->c.bugs == 0;
}
