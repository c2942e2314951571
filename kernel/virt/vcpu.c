#include "kernel/virt/vcpu.h"
#include "kernel/percpu.h"
#include "kernel/smp.h"
#include "kernel/x86.h"

bool vcpu_queue_event(struct vcpu *v, const struct vcpu_event *e)
{
    uint64_t f = spin_lock_irqsave(&v->event_lock);
    bool ok = v->ev_tail - v->ev_head < VCPU_EVENTS;
    if (ok)
        v->events[v->ev_tail++ % VCPU_EVENTS] = *e;
    spin_unlock_irqrestore(&v->event_lock, f);
    return ok;
}

bool vcpu_peek_event(struct vcpu *v, struct vcpu_event *e)
{
    if (!vcpu_has_event(v))
        return false;
    *e = v->events[v->ev_head % VCPU_EVENTS];
    return true;
}

void vcpu_pop_event(struct vcpu *v)
{
    uint64_t f = spin_lock_irqsave(&v->event_lock);
    if (vcpu_has_event(v))
        v->ev_head++;
    spin_unlock_irqrestore(&v->event_lock, f);
}

void vcpu_inject_exception(struct vcpu *v, uint8_t vector, bool has_error, uint32_t error)
{
    struct vcpu_event e = { .vector = vector, .type = EVENT_EXCEPTION,
                            .has_error = has_error, .error = error };
    vcpu_queue_event(v, &e);
}

void vcpu_kick(struct vcpu *v)
{
    cpu_kick(v->pcpu);
}

void vcpu_request(struct vcpu *v, uint32_t req)
{
    __atomic_or_fetch(&v->requests, req, __ATOMIC_SEQ_CST);
    vcpu_kick(v);
}

void vcpu_trace_exit(struct vcpu *v, uint32_t reason, uint64_t rip, uint64_t qual)
{
    struct exit_trace *t = &v->trace[v->trace_next++ % TRACE_SLOTS];
    t->tsc = rdtsc();
    t->reason = reason;
    t->rip = rip;
    t->qual = qual;
}
