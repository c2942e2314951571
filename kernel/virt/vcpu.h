/* A virtual CPU: vendor-neutral state, its pending-event queue, exit counters and trace ring.
 * The vendor part (VMCS or VMCB) hangs off `vendor` and is touched only by vmx/ or svm/. */
#ifndef KERNEL_VCPU_H
#define KERNEL_VCPU_H

#include <stdint.h>
#include <stdbool.h>
#include "kernel/spinlock.h"
#include "kernel/dev/vlapic.h"
#include "kernel/virt/apf_model.h"

struct vm;

/* Guest GPRs in instruction-encoding order, so a decoded register number indexes them. The
 * entry/exit stubs save and restore all of them except RSP, which lives in the VMCS/VMCB. */
enum gpr { GPR_RAX, GPR_RCX, GPR_RDX, GPR_RBX, GPR_RSP, GPR_RBP, GPR_RSI, GPR_RDI,
           GPR_R8, GPR_R9, GPR_R10, GPR_R11, GPR_R12, GPR_R13, GPR_R14, GPR_R15, GPR_COUNT };

/* Registers kept by the vendor (VMCS fields / VMCB save area). */
enum vreg { VREG_RIP, VREG_RSP, VREG_RFLAGS, VREG_CR0, VREG_CR2, VREG_CR3, VREG_CR4, VREG_EFER,
            VREG_CS_SEL, VREG_CS_BASE, VREG_CS_ATTR, VREG_PAT,
            VREG_CPL,       /* read-only: the guest's current privilege level */
            VREG_DR6,
            VREG_DR7,       /* the guest's, or gdb's while it uses hardware breakpoints */
            VREG_COUNT };

enum vcpu_state {
    VCPU_CREATED,       /* set up, not yet run */
    VCPU_RUNNING,       /* in the guest or handling an exit */
    VCPU_HALTED,        /* HLT with interrupts on: waits for an event */
    VCPU_PAUSED,        /* stopped by the operator; `resume` continues */
    VCPU_WAIT_SIPI,     /* after INIT, until a SIPI (guest SMP) */
    VCPU_STOPPED,       /* for good: its VM ended */
};

/* An exception to deliver at the next entry (from emulation or policy). Interrupts and NMIs are
 * not queued: kernel/virt/intr.c decides them at each entry from the vLAPIC and nmi_pending. */
enum event_type { EVENT_EXCEPTION = 3 };
struct vcpu_event {
    uint8_t vector, type;
    bool has_error;
    uint32_t error;
};
#define VCPU_EVENTS 16

/* Exit counters are indexed by the vendor's compact exit index (see vendor->exit_index). */
#define EXIT_SLOTS  320

struct exit_trace {
    uint64_t tsc, rip, qual;
    uint32_t reason;        /* vendor exit code */
};
#define TRACE_SLOTS 64

/* Requests from other CPUs (shell, VM teardown), acted on before the next entry. */
#define VCPU_REQ_STOP   (1u << 0)
#define VCPU_REQ_PAUSE  (1u << 1)
#define VCPU_REQ_EVENT  (1u << 2)
#define VCPU_REQ_INTR   (1u << 3)   /* posted interrupts, NMI, INIT or SIPI arrived */

/* What a gdb session asks of a vCPU (vcpu->debug, kernel/gdb; vendor->set_debug). */
#define VCPU_DBG_TRAP   (1u << 0)   /* #BP and #DB exit to Keel (gdb is attached) */
#define VCPU_DBG_STEP   (1u << 1)   /* stop after one instruction; no interrupt injected */

/* The guest state instruction emulation needs, read in one vendor call. cs_attr and ss_attr are
 * in the descriptor layout shifted down (type/S/DPL/P in 7:0, AVL/L/D/G in 15:12). */
enum { VSEG_ES, VSEG_CS, VSEG_SS, VSEG_DS, VSEG_FS, VSEG_GS };
struct vcpu_snapshot {
    uint64_t rip, rsp, rflags, cr0, cr3, cr4, efer;
    uint64_t seg_base[6];
    uint32_t cs_attr;
    uint8_t cpl;
};

/* INIT and SIPI from the APIC bus, kept in arrival order. */
enum { SIG_INIT = 1, SIG_SIPI };
#define VCPU_SIGNALS 8

/* Guest state neither the VMCS nor the VMCB switches: x87/SSE (FXSAVE image), DR0-3 and DR6,
 * the SYSCALL MSRs and KERNEL_GS_BASE (VMX leaves those to software), TSC_AUX. It lives in the
 * CPU while the vCPU runs and here otherwise (kernel/virt/vcpu_state.c). */
struct vcpu_cpu_state {
    uint8_t fxsave[512] __attribute__((aligned(16)));
    uint64_t dr[4], dr6;
    uint64_t star, lstar, cstar, sfmask, kernel_gs_base, tsc_aux;
    bool valid;                         /* false: the INIT/RESET values go in at the next load */
};

struct vcpu {
    uint64_t gpr[GPR_COUNT];            /* must stay first: the entry/exit stubs use offset 0 */
    struct vm *vm;
    unsigned id;                        /* index in its VM */
    unsigned uid;                       /* unique across VMs, from 1: VPID / ASID */
    unsigned pcpu;                      /* the physical CPU it runs on */
    volatile enum vcpu_state state;
    volatile uint32_t requests;
    volatile uint8_t debug;             /* VCPU_DBG_* */
    void *vendor;                       /* struct vmx_vcpu / struct svm_vcpu */

    spinlock_t event_lock;
    unsigned ev_head, ev_tail;
    struct vcpu_event events[VCPU_EVENTS];

    uint64_t exits_total;
    uint64_t exits[EXIT_SLOTS];
    bool trace_on;
    unsigned trace_next;
    struct exit_trace trace[TRACE_SLOTS];

    /* Interrupts (kernel/virt/intr.c). The vLAPIC is touched only on the vCPU's own CPU (or
     * while it is paused); other CPUs post fixed interrupts into `posted` and kick. */
    struct vlapic lapic;
    uint32_t posted[8], posted_level[8];
    volatile uint32_t posted_any;
    volatile uint32_t nmi_pending;
    bool intr_check;                    /* something may be deliverable: look before entry */
    bool hlt_noirq;                     /* halted with IF=0: only NMI or INIT wakes it */
    spinlock_t sig_lock;
    unsigned sig_head, sig_tail;
    uint8_t sig[VCPU_SIGNALS][2];       /* SIG_*, SIPI vector */
    uint64_t host_deadline;             /* guest timer deadline given to the host timer */

    /* Entry state (multiboot: 32-bit protected mode). */
    uint64_t entry_rip, entry_rax, entry_rbx;
    uint64_t entry_cr3;     /* non-zero: start in 64-bit mode with these page tables (Linux) */
    uint64_t kvm_system_time;           /* MSR_KVM_SYSTEM_TIME_NEW (kvmclock.c) */

    struct vcpu_cpu_state cstate;

    struct apf_vcpu apf;                /* async PF (kernel/virt/apf.c), on its own CPU */
    volatile uint64_t apf_shoot_ack;    /* last TLB shootdown generation acknowledged */
};

/* Around the vendor's run loop on the vCPU's CPU: load puts v's state (or the architectural
 * INIT/RESET values after creation or a reset) into the CPU; save takes it back, so the next
 * vCPU on this CPU never sees it. */
void vcpu_state_load(struct vcpu *v);
void vcpu_state_save(struct vcpu *v);
/* Creation, INIT or reset: the next load gives INIT/RESET values. */
static inline void vcpu_state_reset(struct vcpu *v) { v->cstate.valid = false; }

/* Pending events: producers on any CPU, the consumer is the vCPU's own CPU. */
bool vcpu_queue_event(struct vcpu *v, const struct vcpu_event *e);   /* false if full */
bool vcpu_peek_event(struct vcpu *v, struct vcpu_event *e);
void vcpu_pop_event(struct vcpu *v);
static inline bool vcpu_has_event(const struct vcpu *v) { return v->ev_head != v->ev_tail; }
void vcpu_inject_exception(struct vcpu *v, uint8_t vector, bool has_error, uint32_t error);

/* Makes the vCPU look at its requests soon: IPI to its CPU, or wake it from HLT. */
void vcpu_kick(struct vcpu *v);
void vcpu_request(struct vcpu *v, uint32_t req);

void vcpu_trace_exit(struct vcpu *v, uint32_t reason, uint64_t rip, uint64_t qual);

#endif
