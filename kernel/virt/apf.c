/* Lazy guest RAM, its backing tiers, eviction with TLB shootdown, and the hypervisor side of
 * KVM's asynchronous page faults (kernel/virt/apf.h). Locking: lazy->lock guards page states and
 * the guest-physical tables while they change; it is never held while waiting. A vCPU's
 * struct apf_vcpu is touched only on its own CPU (or while its VM is not running). */
#include "kernel/virt/apf.h"
#include "kernel/virt/exit.h"
#include "kernel/virt/intr.h"
#include "kernel/virt/vendor.h"
#include "kernel/virt/vm.h"
#include "kernel/lib/string.h"
#include "kernel/log.h"
#include "kernel/percpu.h"
#include "kernel/x86.h"
#include "drivers/timer.h"
#include "mm/pmm.h"

#define LP_STATE        0x03
#define LP_ABSENT       0
#define LP_PRESENT      1
#define LP_FETCHING     2       /* a vCPU owns the fetch; other faults wait for it */
#define LP_EVICTING     3       /* unmapped, shootdown in progress */
#define LP_STORED       0x80    /* the store holds its contents (it was evicted) */
/* Both are far above the cost of an exit: a timer due again before the guest ran at all would
 * starve it (under Bochs 50 us is 200 instructions). */
#define POLL_US         200     /* a waiter looks again at a page another CPU is busy with */
#define RETRY_US        1000    /* a "page ready" the guest cannot take yet is tried again */
#define SHOOT_TIMEOUT_US 1000000
#define POISON          0xDEADBEEFDEADBEEFull
#define AREA_FLAGS      0       /* struct kvm_vcpu_pv_apf_data offsets */
#define AREA_TOKEN      4

static inline uint64_t us_ticks(uint64_t us) { return tsc_hz / 1000000 * us; }
static inline void *frame(struct vm *vm, uint64_t pg) { return phys_to_virt(vm->ram_hpa + pg * PAGE_SIZE); }
static inline void *store_of(struct vm *vm, uint64_t pg)
{
    return phys_to_virt(vm->lazy.store_hpa + pg * PAGE_SIZE);
}

/* ---- the backing tiers ---- */

static uint64_t zero_latency(struct vm *vm) { return 0; }
static uint64_t slow_latency(struct vm *vm) { return vm->lazy.latency; }

static void zero_fetch(struct vm *vm, uint64_t pg, void *f)
{
    if (vm->lazy.page[pg] & LP_STORED)
        memcpy(f, store_of(vm, pg), PAGE_SIZE);
    else
        memset(f, 0, PAGE_SIZE);
}

static void slow_fetch(struct vm *vm, uint64_t pg, void *f) { memcpy(f, store_of(vm, pg), PAGE_SIZE); }
static void copy_store(struct vm *vm, uint64_t pg, const void *f) { memcpy(store_of(vm, pg), f, PAGE_SIZE); }

static const struct backing_ops backing_zero = { "zero", zero_latency, zero_fetch, copy_store };
static const struct backing_ops backing_slow = { "slow", slow_latency, slow_fetch, copy_store };

bool apf_is_lazy(const struct vm *vm, uint64_t gpa)
{
    return vm->lazy.backing && gpa < vm->ram_size;
}

/* ---- residency (under lazy->lock) ---- */

static uint8_t state(struct vm *vm, uint64_t pg) { return vm->lazy.page[pg] & LP_STATE; }
static void set_state(struct vm *vm, uint64_t pg, uint8_t s)
{
    vm->lazy.page[pg] = (uint8_t)((vm->lazy.page[pg] & LP_STORED) | s);
}

/* Contents first, then the mapping: nobody sees the frame before it is filled. A new mapping
 * needs no flush (neither EPT nor NPT caches not-present entries). */
static void fill_map(struct vm *vm, uint64_t pg)
{
    struct lazy_mem *l = &vm->lazy;
    l->backing->fetch(vm, pg, frame(vm, pg));
    pt_map(&vm->mem.pt, pg * PAGE_SIZE, vm->ram_hpa + pg * PAGE_SIZE, PAGE_SIZE,
           vendor->gpt_leaf(GPA_RWX, GPA_MT_WB));
    set_state(vm, pg, LP_PRESENT);
    l->resident++;
    l->fetches++;
}

static bool pinned(struct vm *vm, uint64_t pg)
{
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        struct apf_vcpu *a = &vm->vcpus[i]->apf;
        if (apf_model_enabled(a) && apf_model_area(a) / PAGE_SIZE == pg)
            return true;
    }
    return false;
}

/* ---- TLB shootdown ---- */

void apf_shoot_ack(struct vcpu *v)
{
    __atomic_store_n(&v->apf_shoot_ack, __atomic_load_n(&v->vm->lazy.shoot_gen, __ATOMIC_SEQ_CST),
                     __ATOMIC_SEQ_CST);
}

/* The vendor flush asks every CPU of the VM to flush before its next entry; the request makes
 * each one pass exit_check_requests (which acknowledges, kernel/virt/exit.c) on its way there.
 * The flush flags are set before the generation is published, so an acknowledgement implies the
 * flag was seen. While waiting, this CPU acknowledges for its own vCPU (it is in root mode and
 * flushes before it enters), so two CPUs evicting at once do not wait for each other. */
static bool shootdown(struct vm *vm)
{
    struct vcpu *self = this_cpu()->vcpu;
    vendor->gpt_flush(vm);
    uint64_t gen = __atomic_add_fetch(&vm->lazy.shoot_gen, 1, __ATOMIC_SEQ_CST);
    for (unsigned i = 0; i < vm->nvcpus; i++)
        if (vm->vcpus[i] != self)
            vcpu_request(vm->vcpus[i], VCPU_REQ_EVENT);
    uint64_t deadline = tsc_deadline(SHOOT_TIMEOUT_US);
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        struct vcpu *w = vm->vcpus[i];
        while (w != self && __atomic_load_n(&w->apf_shoot_ack, __ATOMIC_SEQ_CST) < gen &&
               w->state != VCPU_STOPPED && w->state != VCPU_CREATED) {
            if (self)
                apf_shoot_ack(self);
            if (tsc_passed(deadline))
                return false;
            cpu_relax();
        }
    }
    vm->lazy.shootdowns++;
    return true;
}

/* Unmap, shoot down, keep the contents, reuse the frame: in that order, or a CPU with a stale
 * translation could write after the copy or read the reused frame. */
static long evict_range(struct vm *vm, uint64_t pg0, uint64_t n, uint64_t except)
{
    struct lazy_mem *l = &vm->lazy;
    long cnt = 0;
    uint64_t f = spin_lock_irqsave(&l->lock);
    for (uint64_t pg = pg0; pg < pg0 + n && pg < l->npages; pg++) {
        if (state(vm, pg) != LP_PRESENT || pg == except || pinned(vm, pg))
            continue;
        pt_unmap(&vm->mem.pt, pg * PAGE_SIZE, PAGE_SIZE);
        set_state(vm, pg, LP_EVICTING);
        cnt++;
    }
    spin_unlock_irqrestore(&l->lock, f);
    if (!cnt)
        return 0;
    bool flushed = shootdown(vm);
    f = spin_lock_irqsave(&l->lock);
    for (uint64_t pg = pg0; pg < pg0 + n && pg < l->npages; pg++) {
        if (state(vm, pg) != LP_EVICTING)
            continue;
        l->backing->store(vm, pg, frame(vm, pg));
        if (flushed) {
            uint64_t *p = frame(vm, pg);
            for (unsigned i = 0; i < PAGE_SIZE / 8; i++)
                p[i] = POISON;
        }
        vm->lazy.page[pg] = LP_STORED | LP_ABSENT;
        l->resident--;
        l->evictions++;
    }
    if (!flushed)
        l->shoot_timeouts++;
    spin_unlock_irqrestore(&l->lock, f);
    if (!flushed)
        pr_warn("vm %s: a vCPU did not acknowledge a TLB shootdown; frames not reused (a Keel "
                "bug)\n", vm->name);
    return cnt;
}

long apf_evict(struct vm *vm, uint64_t gpa, uint64_t n)
{
    if (!apf_is_lazy(vm, gpa))
        return -1;
    return evict_range(vm, gpa / PAGE_SIZE, n, UINT64_MAX);
}

/* lazy_budget=: the clock hand picks the next present page (not the one just mapped). */
static void keep_budget(struct vm *vm, uint64_t just)
{
    struct lazy_mem *l = &vm->lazy;
    for (unsigned tries = 0; l->budget && l->resident > l->budget && tries < 4; tries++) {
        uint64_t pg = l->hand;
        for (uint64_t k = 0; k < l->npages; k++, pg = (pg + 1) % l->npages)
            if (pg != just && state(vm, pg) == LP_PRESENT && !pinned(vm, pg))
                break;
        l->hand = (pg + 1) % l->npages;
        evict_range(vm, pg, 1, just);
    }
}

/* gpa_host_ptr() on lazy RAM: Keel itself reads or writes the page (emulation, the async PF
 * area, the shell), so it is brought in now, without the tier's latency. */
static void host_touch(void *ctx, uint64_t gpa, uint64_t len)
{
    struct vm *vm = ctx;
    struct lazy_mem *l = &vm->lazy;
    for (uint64_t pg = gpa / PAGE_SIZE; pg < l->npages && pg * PAGE_SIZE < gpa + len; pg++) {
        for (;;) {
            if (state(vm, pg) == LP_PRESENT)
                break;
            uint64_t f = spin_lock_irqsave(&l->lock);
            uint8_t s = state(vm, pg);
            if (s == LP_ABSENT || s == LP_FETCHING) {
                fill_map(vm, pg);
                l->host_touches++;
            }
            spin_unlock_irqrestore(&l->lock, f);
            if (s != LP_EVICTING)
                break;
            if (this_cpu()->vcpu)           /* the evictor may be waiting for this CPU */
                apf_shoot_ack(this_cpu()->vcpu);
            cpu_relax();
        }
    }
}

/* ---- the guest side ---- */

static void *area(struct vcpu *v)
{
    return gpa_host_ptr(&v->vm->mem, apf_model_area(&v->apf), 8);
}

static void guest_view(struct vcpu *v, struct apf_guest *g, bool in_delivery)
{
    uint64_t rflags = vendor->get_reg(v, VREG_RFLAGS);
    *g = (struct apf_guest){
        .paging = vendor->get_reg(v, VREG_CR0) & CR0_PG,
        .irq_ok = (rflags & RFLAGS_IF) && !in_delivery && !vcpu_has_event(v),
        .user = vendor->get_reg(v, VREG_CPL) == 3,
        .lapic_on = vlapic_hw_enabled(&v->lapic) && vlapic_sw_enabled(&v->lapic),
    };
    volatile uint32_t *p = apf_model_enabled(&v->apf) ? area(v) : 0;
    if (p) {
        g->area_flags = p[AREA_FLAGS / 4];
        g->area_token = p[AREA_TOKEN / 4];
    }
}

static void try_ready(struct vcpu *v)
{
    struct apf_vcpu *a = &v->apf;
    struct apf_guest g;
    if (!apf_model_queued(a) || !apf_model_enabled(a) || a->ready_pending)
        return;
    guest_view(v, &g, false);
    volatile uint32_t *p = area(v);
    if (!p || !apf_model_can_ready(a, &g))
        return;
    p[AREA_TOKEN / 4] = apf_model_take_ready(a);
    vlapic_accept(&v->lapic, (uint8_t)(a->msr_int & KVM_ASYNC_PF_VEC_MASK), false);
    v->intr_check = true;
}

int apf_fault(struct vcpu *v, uint64_t gpa, unsigned access)
{
    struct vm *vm = v->vm;
    struct lazy_mem *l = &vm->lazy;
    uint64_t pg = gpa / PAGE_SIZE, lat = l->backing->latency(vm), now = rdtsc();
    uint64_t f = spin_lock_irqsave(&l->lock);
    uint8_t s = state(vm, pg);
    if (s == LP_ABSENT && !lat)
        fill_map(vm, pg);
    else if (s == LP_ABSENT)
        set_state(vm, pg, LP_FETCHING);
    spin_unlock_irqrestore(&l->lock, f);
    if (s == LP_PRESENT)
        return EXIT_RETRY;              /* another vCPU mapped it meanwhile */
    if (s == LP_ABSENT && !lat) {
        keep_budget(vm, pg);
        return EXIT_RETRY;
    }
    bool owner = s == LP_ABSENT;
    struct apf_guest g;
    guest_view(v, &g, access & GPA_IN_DELIVERY);
    bool async = apf_model_find(&v->apf, pg * PAGE_SIZE) < 0 && apf_model_can_async(&v->apf, &g);
    uint32_t token = 0;
    uint64_t due = now + (owner ? lat : us_ticks(POLL_US));
    if (apf_model_start(&v->apf, pg * PAGE_SIZE, due, async, owner, &token) < 0) {
        l->no_slot++;                   /* no slot at all: give the fetch back and retry */
        if (owner) {
            f = spin_lock_irqsave(&l->lock);
            set_state(vm, pg, LP_ABSENT);
            spin_unlock_irqrestore(&l->lock, f);
        }
        return EXIT_RETRY;
    }
    if (async) {
        ((volatile uint32_t *)area(v))[AREA_FLAGS / 4] = KVM_PV_REASON_PAGE_NOT_PRESENT;
        vendor->set_reg(v, VREG_CR2, token);
        vcpu_inject_exception(v, X86_PF, true, 0);
    }
    intr_timer_check(v);                /* arms the host timer for the fetch */
    return async ? EXIT_RETRY : EXIT_BLOCK;
}

/* A due slot: true when its page is mapped. A page nobody is fetching any more (evicted again,
 * or the fetch was given back) is fetched by this slot. */
static bool finish(struct vcpu *v, struct apf_slot *sl, uint64_t now, bool *mapped)
{
    struct vm *vm = v->vm;
    uint64_t pg = sl->gpa / PAGE_SIZE, f = spin_lock_irqsave(&vm->lazy.lock);
    uint8_t s = state(vm, pg);
    bool done = s == LP_PRESENT;
    if ((s == LP_FETCHING && sl->owner) || (s == LP_ABSENT && !vm->lazy.backing->latency(vm))) {
        fill_map(vm, pg);
        done = *mapped = true;
    } else if (s == LP_ABSENT) {
        set_state(vm, pg, LP_FETCHING);
        sl->owner = true;
        sl->due = now + vm->lazy.backing->latency(vm);
    } else if (!done) {
        sl->due = now + us_ticks(POLL_US);
    }
    spin_unlock_irqrestore(&vm->lazy.lock, f);
    return done;
}

void apf_poll(struct vcpu *v, uint64_t now)
{
    if (!v->vm->lazy.backing || this_cpu()->vcpu != v)
        return;
    int i;
    while ((i = apf_model_due(&v->apf, now)) >= 0) {
        bool mapped = false;
        if (!finish(v, &v->apf.slot[i], now, &mapped))
            continue;
        uint64_t pg = v->apf.slot[i].gpa / PAGE_SIZE;
        apf_model_complete(&v->apf, i);
        if (mapped)
            keep_budget(v->vm, pg);
    }
    try_ready(v);
}

uint64_t apf_deadline(struct vcpu *v, uint64_t now)
{
    struct apf_vcpu *a = &v->apf;
    uint64_t d = apf_model_next_due(a);
    if (apf_model_queued(a) && apf_model_enabled(a) && !a->ready_pending &&
        d > now + us_ticks(RETRY_US))
        d = now + us_ticks(RETRY_US);
    return d;
}

bool apf_blocked(struct vcpu *v)
{
    return apf_model_blocked(&v->apf);
}

void apf_vcpu_reset(struct vcpu *v)
{
    apf_model_reset(&v->apf);
}

/* ---- MSRs ---- */

int apf_rdmsr(struct vcpu *v, uint32_t msr, uint64_t *val)
{
    if (msr != MSR_KVM_ASYNC_PF_EN && msr != MSR_KVM_ASYNC_PF_INT && msr != MSR_KVM_ASYNC_PF_ACK)
        return -1;
    return apf_model_rdmsr(&v->apf, msr, val) ? 0 : 1;
}

int apf_wrmsr(struct vcpu *v, uint32_t msr, uint64_t val)
{
    if (msr != MSR_KVM_ASYNC_PF_EN && msr != MSR_KVM_ASYNC_PF_INT && msr != MSR_KVM_ASYNC_PF_ACK)
        return -1;
    /* The area is brought in (and pinned while enabled) so Keel can always write it. */
    bool area_ok = msr != MSR_KVM_ASYNC_PF_EN || !(val & KVM_ASYNC_PF_ENABLED) ||
                   gpa_host_ptr(&v->vm->mem, val & KVM_ASYNC_PF_ADDR_MASK, 8);
    if (!apf_model_wrmsr(&v->apf, msr, val, area_ok))
        return 1;
    try_ready(v);
    intr_timer_check(v);
    return 0;
}

/* ---- VM start ---- */

static bool page_zero(const void *p)
{
    const uint64_t *q = p;
    for (unsigned i = 0; i < PAGE_SIZE / 8; i++)
        if (q[i])
            return false;
    return true;
}

/* Allocates the page states and the store once; every launch maps all RAM again, then unmaps
 * the pages the loader left zero. */
static int lazy_setup(struct vm *vm)
{
    struct lazy_mem *l = &vm->lazy;
    l->npages = vm->ram_size / PAGE_SIZE;
    if (!l->page) {
        uint64_t pp = (l->npages + PAGE_SIZE - 1) / PAGE_SIZE;
        l->page = phys_to_virt(pmm_alloc(pp, 1, vm_owner(vm)));
        l->store_hpa = pmm_alloc(l->npages, 1, vm_owner(vm));
        if (!l->page || !l->store_hpa)
            return -1;
    } else {
        memset(phys_to_virt(l->store_hpa), 0, l->npages * PAGE_SIZE);
        if (pt_map(&vm->mem.pt, 0, vm->ram_hpa, vm->ram_size,
                   vendor->gpt_leaf(GPA_RWX, GPA_MT_WB)) != 0)
            return -1;
    }
    l->backing = vm->cfg.lazy == LAZY_SLOW ? &backing_slow : &backing_zero;
    l->latency = us_ticks(vm->cfg.lazy_us);
    l->budget = vm->cfg.lazy_budget / PAGE_SIZE;
    l->resident = l->hand = 0;
    for (uint64_t pg = 0, run = 0; pg <= l->npages; pg++) {
        bool absent = pg < l->npages && page_zero(frame(vm, pg));
        if (pg < l->npages) {
            l->page[pg] = absent ? LP_ABSENT : LP_PRESENT;
            l->resident += !absent;
        }
        if (absent) {
            run++;
        } else if (run) {
            if (pt_unmap(&vm->mem.pt, (pg - run) * PAGE_SIZE, run * PAGE_SIZE) != 0)
                return -1;
            run = 0;
        }
    }
    vendor->gpt_flush(vm);
    vm->mem.touch = host_touch;
    vm->mem.touch_ctx = vm;
    return 0;
}

void apf_vm_unload(struct vm *vm)
{
    vm->mem.touch = 0;
    vm->lazy.backing = 0;
}

void apf_vm_loaded(struct vm *vm)
{
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        apf_model_init(&vm->vcpus[i]->apf, vm->vcpus[i]->id);
        apf_shoot_ack(vm->vcpus[i]);
    }
    if (!vm->cfg.lazy)
        return;
    if (lazy_setup(vm) != 0) {
        vm->lazy.backing = 0;
        vm->mem.touch = 0;
        vm_stop(vm, "out of memory for lazy RAM");
        return;
    }
    pr_info("vm %s: lazy RAM, %s tier (%u us): %lu of %lu pages resident\n", vm->name,
            vm->lazy.backing->name, vm->cfg.lazy_us, vm->lazy.resident, vm->lazy.npages);
}
