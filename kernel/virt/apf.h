/* Lazy guest RAM and asynchronous page faults (issue 9).
 *
 * With the module option `lazy` a VM's low RAM is mapped in EPT/NPT page by page on first touch.
 * A page's contents come from a backing tier: `zero` (instant: zero-filled, or the copy kept when
 * it was evicted) or `slow` (`lazy=slow:200us`: remote or swapped-out memory, every fetch takes
 * that long). While a slow fetch is outstanding the vCPU either goes on running the guest, which
 * was told "page not present" through KVM's async PF ABI (kernel/virt/apf_model.h), or, when the
 * guest cannot take that, waits in root mode without spinning (HLT until the fetch's timer).
 * Fetches complete on the faulting vCPU's own CPU from its one-shot host timer: page mapped
 * first, then "page ready" (token in the shared area, interrupt on the guest's vector).
 * Pages are taken away again by `evict` in the shell or by `lazy_budget=`: unmapped, shot down
 * on every CPU of the VM (each acknowledges before its next entry), kept in the store, and only
 * then is the frame reused (filled with a poison pattern, which a stale TLB entry would show). */
#ifndef KERNEL_VIRT_APF_H
#define KERNEL_VIRT_APF_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include "kernel/spinlock.h"

struct vm;
struct vcpu;

enum lazy_tier { LAZY_OFF, LAZY_ZERO, LAZY_SLOW };

/* Where an absent page's contents come from. A real source (compressed store, disk) is one
 * more of these. */
struct backing_ops {
    const char *name;
    uint64_t (*latency)(struct vm *vm);                      /* TSC ticks per fetch, 0 = now */
    void (*fetch)(struct vm *vm, uint64_t page, void *frame); /* fill the frame */
    void (*store)(struct vm *vm, uint64_t page, const void *frame);  /* keep before reuse */
};

struct lazy_mem {
    const struct backing_ops *backing;      /* NULL: RAM is not lazy */
    uint64_t latency;                       /* TSC ticks (slow tier) */
    uint64_t npages, resident, budget;      /* budget: resident pages allowed, 0 = any */
    uint8_t *page;                          /* LP_* per 4 KiB page of low RAM */
    uint64_t store_hpa;                     /* the tier's copy of every page */
    uint64_t hand;                          /* eviction clock */
    spinlock_t lock;
    volatile uint64_t shoot_gen;            /* TLB shootdowns started */
    uint64_t fetches, host_touches, evictions, shootdowns, shoot_timeouts, no_slot;
};

/* vm_launch (boot and every reset): vCPU state, and for a lazy VM the residency scan (pages the
 * loader left zero become absent). */
void apf_vm_loaded(struct vm *vm);
/* VM reset, before RAM is zeroed and reloaded: Keel's own accesses stop faulting pages in. */
void apf_vm_unload(struct vm *vm);
/* INIT: KVM MSRs to 0, queued notifications dropped, fetches in flight finish silently. */
void apf_vcpu_reset(struct vcpu *v);

bool apf_is_lazy(const struct vm *vm, uint64_t gpa);     /* low RAM of a lazy VM */
/* An EPT violation / NPF on lazy RAM: EXIT_RETRY (mapped, or "page not present" queued) or
 * EXIT_BLOCK (synchronous wait; apf_blocked() holds the vCPU). access may carry
 * GPA_IN_DELIVERY. */
int apf_fault(struct vcpu *v, uint64_t gpa, unsigned access);
/* On v's own CPU (intr_timer_check): completions due by now, and a "page ready" if allowed. */
void apf_poll(struct vcpu *v, uint64_t now);
uint64_t apf_deadline(struct vcpu *v, uint64_t now);    /* for the host timer */
bool apf_blocked(struct vcpu *v);
/* Before every entry that follows a request: this vCPU flushes what it was asked to. */
void apf_shoot_ack(struct vcpu *v);
/* MSR_KVM_ASYNC_PF_*: -1 not one of them, 0 done, 1 #GP. */
int apf_rdmsr(struct vcpu *v, uint32_t msr, uint64_t *val);
int apf_wrmsr(struct vcpu *v, uint32_t msr, uint64_t val);
/* Evicts up to n present pages from gpa on: how many, or -1 (not lazy RAM). */
long apf_evict(struct vm *vm, uint64_t gpa, uint64_t n);

#endif
