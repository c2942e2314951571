/* Interrupt delivery for vCPUs (kernel/virt/intr.h). Locking: a vLAPIC belongs to its vCPU's CPU.
 * Other CPUs never touch it; they post fixed vectors into v->posted with atomic ORs, count NMIs in
 * v->nmi_pending, queue INIT/SIPI in arrival order, and kick. The vCPU's CPU folds all of that in
 * (intr_sync) before it decides what to inject (intr_next). */
#include "kernel/virt/intr.h"
#include "kernel/virt/apf.h"
#include "kernel/virt/vendor.h"
#include "kernel/virt/vm.h"
#include "kernel/log.h"
#include "kernel/percpu.h"
#include "drivers/timer.h"

#define TIMER_MIN_US    20              /* the shortest period of a periodic guest timer */



void intr_vcpu_init(struct vcpu *v)
{
    struct vlapic_clock clk = { .tsc_hz = tsc_hz, .bus_hz = APIC_BUS_HZ };
    vlapic_reset(&v->lapic, v->id, v->id == 0, &clk);
    for (unsigned w = 0; w < 8; w++)
        v->posted[w] = v->posted_level[w] = 0;
    v->posted_any = v->nmi_pending = 0;
    v->sig_head = v->sig_tail = 0;
    v->intr_check = v->hlt_noirq = false;
    v->host_deadline = UINT64_MAX;
}

static inline bool on_own_cpu(const struct vcpu *v)
{
    return this_cpu()->vcpu == v;
}

/* ---- the APIC bus ---- */

static void post_fixed(struct vcpu *dst, const struct vlapic_ipi *m)
{
    uint32_t bit = 1u << (m->vector & 31);
    unsigned w = m->vector >> 5;
    if (m->level_trigger)
        __atomic_or_fetch(&dst->posted_level[w], bit, __ATOMIC_SEQ_CST);
    __atomic_or_fetch(&dst->posted[w], bit, __ATOMIC_SEQ_CST);
    __atomic_store_n(&dst->posted_any, 1, __ATOMIC_SEQ_CST);
}

static void post_signal(struct vcpu *dst, uint8_t kind, uint8_t vector)
{
    uint64_t f = spin_lock_irqsave(&dst->sig_lock);
    if (dst->sig_tail - dst->sig_head < VCPU_SIGNALS) {
        dst->sig[dst->sig_tail % VCPU_SIGNALS][0] = kind;
        dst->sig[dst->sig_tail % VCPU_SIGNALS][1] = vector;
        dst->sig_tail++;
    }
    spin_unlock_irqrestore(&dst->sig_lock, f);
}

static void deliver(struct vcpu *dst, const struct vlapic_ipi *m)
{
    switch (m->mode) {
    case APIC_DM_FIXED:
    case APIC_DM_LOWEST:
        if (on_own_cpu(dst)) {          /* self-IPI: straight into the vLAPIC */
            vlapic_accept(&dst->lapic, m->vector, m->level_trigger);
            dst->intr_check = true;
            return;
        }
        post_fixed(dst, m);
        break;
    case APIC_DM_NMI:
        __atomic_add_fetch(&dst->nmi_pending, 1, __ATOMIC_SEQ_CST);
        break;
    case APIC_DM_INIT:
        if (!m->level_assert)
            return;                     /* INIT level de-assert: nothing on modern APICs */
        post_signal(dst, SIG_INIT, 0);
        break;
    case APIC_DM_STARTUP:
        post_signal(dst, SIG_SIPI, m->vector);
        break;
    default:
        return;                         /* SMI, ExtINT: no such wiring in a Keel VM */
    }
    vcpu_request(dst, VCPU_REQ_INTR);
}

/* Lowest priority: the matching vLAPIC with the lowest PPR, ties to the lowest ID. Reading another
 * vCPU's PPR races with it, as arbitration on a real bus does with a changing TPR. */
static struct vcpu *lowest_priority(struct vm *vm, struct vcpu *src, const struct vlapic_ipi *m)
{
    struct vcpu *best = 0;
    uint32_t best_ppr = ~0u;
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        struct vcpu *d = vm->vcpus[i];
        if (!vlapic_match_dest(&d->lapic, m->dest, m->logical))
            continue;
        uint32_t ppr = vlapic_ppr(&d->lapic);
        if (ppr < best_ppr) {
            best = d;
            best_ppr = ppr;
        }
    }
    return best;
}

void apic_bus_send(struct vm *vm, struct vcpu *src, const struct vlapic_ipi *m)
{
    if (m->shorthand == APIC_SH_SELF) {
        if (src)
            deliver(src, m);
        return;
    }
    if (m->shorthand == APIC_SH_NONE && m->mode == APIC_DM_LOWEST) {
        struct vcpu *d = lowest_priority(vm, src, m);
        if (d)
            deliver(d, m);
        return;
    }
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        struct vcpu *d = vm->vcpus[i];
        bool to = m->shorthand == APIC_SH_ALL ||
                  (m->shorthand == APIC_SH_OTHERS && d != src) ||
                  (m->shorthand == APIC_SH_NONE && vlapic_match_dest(&d->lapic, m->dest, m->logical));
        if (to)
            deliver(d, m);
    }
}

bool apic_bus_pending(struct vm *vm, uint8_t vector, uint32_t dest, bool logical)
{
    uint32_t bit = 1u << (vector & 31);
    unsigned w = vector >> 5;
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        struct vcpu *d = vm->vcpus[i];
        uint32_t irr = d->lapic.irr[w] | __atomic_load_n(&d->posted[w], __ATOMIC_RELAXED);
        if ((irr & bit) && vlapic_match_dest(&d->lapic, dest, logical))
            return true;
    }
    return false;
}

void intr_apic_out(struct vcpu *v, const struct vlapic_out *out)
{
    if (out->ipi_valid)
        apic_bus_send(v->vm, v, &out->ipi);
    if (out->timer_changed)
        intr_timer_check(v);
    if (out->eoi_vector >= 0)
        platform_eoi(v->vm, (uint8_t)out->eoi_vector);
    if (out->irq_changed || out->ipi_valid)
        v->intr_check = true;
}

/* ---- the guest timer on the host timer ---- */

void intr_timer_check(struct vcpu *v)
{
    uint64_t now = rdtsc();
    if (vlapic_timer_tick(&v->lapic, now))
        v->intr_check = true;
    apf_poll(v, now);                   /* async PF: fetches due, "page ready" */
    uint64_t d = vlapic_timer_deadline(&v->lapic);
    if (v->id == 0) {                   /* the chipset's timers run on vCPU 0's CPU */
        uint64_t p = platform_timers(v->vm, now);
        if (p < d)
            d = p;
    }
    /* A periodic timer re-arms itself without an exit: a tiny period must not own the CPU.
     * One-shot and TSC-deadline timers need a register write (an exit) per expiry. */
    if (d != UINT64_MAX &&
        (v->lapic.lvt[LVT_TIMER] & APIC_TIMER_MODE_MASK) == APIC_TIMER_PERIODIC) {
        uint64_t min = now + tsc_hz / 1000000 * TIMER_MIN_US;
        if (d < min)
            d = min;
    }
    uint64_t apf = apf_deadline(v, now);
    if (apf < d)
        d = apf;
    v->host_deadline = d;
    if (d != this_cpu()->guest_deadline)    /* the timer interrupt may have cleared it */
        host_timer_set_guest_deadline(d);
}

void intr_vcpu_stopped(struct vcpu *v)
{
    v->host_deadline = UINT64_MAX;
    host_timer_set_guest_deadline(UINT64_MAX);
}

/* ---- the vCPU's own CPU ---- */

static void drain_posted(struct vcpu *v)
{
    __atomic_store_n(&v->posted_any, 0, __ATOMIC_SEQ_CST);
    for (unsigned w = 0; w < 8; w++) {
        if (!v->posted[w])
            continue;
        uint32_t bits = __atomic_exchange_n(&v->posted[w], 0, __ATOMIC_SEQ_CST);
        uint32_t level = __atomic_exchange_n(&v->posted_level[w], 0, __ATOMIC_SEQ_CST);
        while (bits) {
            unsigned b = (unsigned)__builtin_ctz(bits);
            bits &= bits - 1;
            vlapic_accept(&v->lapic, (uint8_t)(w * 32 + b), level >> b & 1);
        }
    }
    v->intr_check = true;
}

static bool next_signal(struct vcpu *v, uint8_t *kind, uint8_t *vector)
{
    uint64_t f = spin_lock_irqsave(&v->sig_lock);
    bool any = v->sig_head != v->sig_tail;
    if (any) {
        *kind = v->sig[v->sig_head % VCPU_SIGNALS][0];
        *vector = v->sig[v->sig_head % VCPU_SIGNALS][1];
        v->sig_head++;
    }
    spin_unlock_irqrestore(&v->sig_lock, f);
    return any;
}

/* INIT: the vCPU waits for a SIPI with its vLAPIC reset (ID and base kept) and nothing pending.
 * SIPI: only a vCPU waiting for one starts; a second SIPI finds it running and is dropped. */
static bool handle_signals(struct vcpu *v)
{
    uint8_t kind, vector;
    bool changed = false;
    while (next_signal(v, &kind, &vector)) {
        if (v->state == VCPU_STOPPED || v->state == VCPU_PAUSED)
            continue;
        if (kind == SIG_INIT) {
            vlapic_init_signal(&v->lapic);
            apf_vcpu_reset(v);
            v->ev_head = v->ev_tail;
            v->nmi_pending = 0;
            v->state = VCPU_WAIT_SIPI;
            intr_timer_check(v);
            changed = true;
        } else if (v->state == VCPU_WAIT_SIPI) {
            vendor->reset(v, vector);
            v->state = VCPU_RUNNING;
            changed = true;
        }
    }
    return changed;
}

bool intr_sync(struct vcpu *v)
{
    bool changed = false;
    if (v->sig_head != v->sig_tail)
        changed = handle_signals(v);
    if (v->posted_any)
        drain_posted(v);
    v->intr_check = true;
    intr_timer_check(v);
    return changed;
}

bool intr_wakeup_pending(struct vcpu *v)
{
    uint8_t pv;
    return v->nmi_pending || vlapic_pending(&v->lapic) >= 0 || platform_extint(v, false, &pv);
}

unsigned intr_next(struct vcpu *v, bool irq_ok, bool nmi_ok, uint8_t *vector)
{
    unsigned r = 0;
    if (v->nmi_pending) {
        if (nmi_ok) {
            __atomic_sub_fetch(&v->nmi_pending, 1, __ATOMIC_SEQ_CST);
            return INTR_INJECT_NMI | (v->nmi_pending ? INTR_WINDOW_NMI : 0);
        }
        r |= INTR_WINDOW_NMI;
    }
    /* The PIC's INTR on LINT0 (vCPU 0) comes before the local APIC's own interrupts. */
    uint8_t pv;
    if (platform_extint(v, false, &pv)) {
        if (irq_ok && platform_extint(v, true, &pv)) {
            *vector = pv;
            return r | INTR_INJECT_IRQ;
        }
        r |= INTR_WINDOW_IRQ;
    }
    int vec = vlapic_pending(&v->lapic);
    if (vec >= 0) {
        if (irq_ok) {
            vlapic_ack(&v->lapic, (uint8_t)vec);
            *vector = (uint8_t)vec;
            return r | INTR_INJECT_IRQ;
        }
        r |= INTR_WINDOW_IRQ;
    }
    if (!r)
        v->intr_check = false;          /* nothing pending: the next change sets it again */
    return r;
}
