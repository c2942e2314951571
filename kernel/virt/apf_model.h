/* Asynchronous page faults, the per-vCPU part that needs no hardware: KVM's guest ABI (the three
 * MSRs of Linux's Documentation/virt/kvm/x86/msr.rst), the outstanding fetches with their
 * tokens, the queue of "page ready" notifications and the rules that decide when a notification
 * may be given. Pure: kernel/virt/apf.c supplies guest state and does the memory side; the host
 * unit test and the fuzz target drive it directly.
 *
 * Accounting that never loses a notification: every "page not present" the guest was sent is,
 * at any time, exactly one of: a fetch in flight, a token in the ready queue, a "page ready"
 * sent, or dropped by a vCPU reset. apf_model_check() verifies it. */
#ifndef KERNEL_VIRT_APF_MODEL_H
#define KERNEL_VIRT_APF_MODEL_H

#include <stdint.h>
#include <stdbool.h>

#define MSR_KVM_ASYNC_PF_EN     0x4b564d02u
#define MSR_KVM_ASYNC_PF_INT    0x4b564d06u
#define MSR_KVM_ASYNC_PF_ACK    0x4b564d07u

#define KVM_ASYNC_PF_ENABLED                (1ull << 0)
#define KVM_ASYNC_PF_SEND_ALWAYS            (1ull << 1)
#define KVM_ASYNC_PF_DELIVERY_AS_PF_VMEXIT  (1ull << 2)     /* nested only: not offered */
#define KVM_ASYNC_PF_DELIVERY_AS_INT        (1ull << 3)
#define KVM_ASYNC_PF_RESERVED               0x30ull         /* bits 5:4 */
#define KVM_ASYNC_PF_ADDR_MASK              (~0x3Full)      /* 64-byte aligned area */
#define KVM_ASYNC_PF_VEC_MASK               0xFFull
#define KVM_PV_REASON_PAGE_NOT_PRESENT      1u
#define APF_VECTOR_MIN                      32      /* a fixed APIC vector; lower is "not set" */

#define APF_SLOTS   32          /* fetches in flight plus tokens queued, per vCPU */

enum apf_slot_state {
    APF_FREE,
    APF_ASYNC,      /* the guest got "page not present" with slot.token */
    APF_SYNC,       /* the vCPU waits in root mode for this fetch */
    APF_SILENT,     /* its guest was reset: the fetch finishes, nobody is told */
};

struct apf_slot {
    uint64_t gpa, due;          /* due: TSC when to look at the fetch again */
    uint32_t token;
    uint8_t state;
    bool owner;                 /* this vCPU started the fetch (others wait for it) */
};

struct apf_counters {
    uint64_t not_present;       /* "page not present" #PFs injected */
    uint64_t ready;             /* "page ready" interrupts posted */
    uint64_t acks;              /* MSR_KVM_ASYNC_PF_ACK writes with bit 0 */
    uint64_t sync_waits;        /* faults the vCPU waited out in root mode */
    uint64_t dropped;           /* notifications dropped by a vCPU reset (INIT) */
    uint64_t bugs;              /* rule violations Keel caught itself at (must stay 0) */
};

struct apf_vcpu {
    uint64_t msr_en, msr_int;
    bool ready_pending;         /* a "page ready" was posted; the next one waits for the ACK */
    unsigned id;                /* vCPU id: the low 12 bits of its tokens, as KVM does */
    uint32_t token_seq;
    struct apf_slot slot[APF_SLOTS];
    uint32_t rq[APF_SLOTS];     /* tokens whose page is mapped, not yet told, oldest first */
    unsigned rq_head, rq_tail;
    struct apf_counters c;
};

/* What the guest looks like at the decision point. */
struct apf_guest {
    bool paging;                /* CR0.PG (and so PE) */
    bool irq_ok;                /* RFLAGS.IF set, nothing being delivered */
    bool user;                  /* CPL 3 */
    bool lapic_on;              /* vLAPIC enabled in hardware and software */
    uint32_t area_flags;        /* the guest's kvm_vcpu_pv_apf_data.flags */
    uint32_t area_token;        /* ... .token: 0 when the guest consumed the last one */
};

void apf_model_init(struct apf_vcpu *a, unsigned vcpu_id);
/* INIT: MSRs back to 0, queued notifications dropped, fetches in flight finish silently. */
void apf_model_reset(struct apf_vcpu *a);

static inline bool apf_model_enabled(const struct apf_vcpu *a)
{
    uint64_t m = KVM_ASYNC_PF_ENABLED | KVM_ASYNC_PF_DELIVERY_AS_INT;
    return (a->msr_en & m) == m;
}
static inline uint64_t apf_model_area(const struct apf_vcpu *a)
{
    return a->msr_en & KVM_ASYNC_PF_ADDR_MASK;
}
static inline unsigned apf_model_queued(const struct apf_vcpu *a)
{
    return a->rq_tail - a->rq_head;
}

/* MSR access: false means #GP. area_ok: the 64-byte area of `val` lies in guest RAM. */
bool apf_model_wrmsr(struct apf_vcpu *a, uint32_t msr, uint64_t val, bool area_ok);
bool apf_model_rdmsr(const struct apf_vcpu *a, uint32_t msr, uint64_t *val);

/* Fetches in flight plus tokens queued. */
unsigned apf_model_outstanding(const struct apf_vcpu *a);
/* The slot waiting for gpa's page (any state but FREE), or -1. */
int apf_model_find(const struct apf_vcpu *a, uint64_t gpa);
/* May this fault be answered with "page not present" (else the vCPU waits synchronously)? */
bool apf_model_can_async(const struct apf_vcpu *a, const struct apf_guest *g);
/* Records a fetch; async gives *token (never 0 or ~0). -1 when every slot is taken. */
int apf_model_start(struct apf_vcpu *a, uint64_t gpa, uint64_t due, bool async, bool owner,
                    uint32_t *token);
/* The earliest due time of a slot in use, UINT64_MAX if none. */
uint64_t apf_model_next_due(const struct apf_vcpu *a);
/* A slot whose due time has come, or -1. */
int apf_model_due(const struct apf_vcpu *a, uint64_t now);
/* Its page is mapped: an ASYNC slot's token joins the ready queue; the slot is freed. */
void apf_model_complete(struct apf_vcpu *a, int slot);
/* A SYNC slot is in use: the vCPU must not enter the guest. */
bool apf_model_blocked(const struct apf_vcpu *a);
/* May a "page ready" be posted now? */
bool apf_model_can_ready(const struct apf_vcpu *a, const struct apf_guest *g);
/* Takes the oldest queued token for posting (the caller checked can_ready). */
uint32_t apf_model_take_ready(struct apf_vcpu *a);
/* The bookkeeping identity above plus slot/queue bounds; false on any violation. */
bool apf_model_check(const struct apf_vcpu *a);

#endif
