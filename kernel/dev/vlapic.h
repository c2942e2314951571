/* The virtual local APIC of one vCPU: the register model of SDM vol. 3 ch. 11 (xAPIC through its
 * 4 KiB MMIO page, x2APIC through MSRs 0x800-0x8FF), IRR/ISR/TMR and the priorities, the timer
 * (one-shot, periodic, TSC-deadline) on the TSC time line, and ICR decoding into messages.
 *
 * Pure: it keeps no pointers to other vCPUs and calls nothing. What a register write asks of the
 * rest of the machine (an IPI to route, an EOI to broadcast, a timer to re-arm) comes back in
 * struct vlapic_out, and kernel/virt/ acts on it. Time is passed in as a TSC value (`now`).
 * It compiles on the host for unit tests and the libFuzzer target. */
#ifndef KERNEL_DEV_VLAPIC_H
#define KERNEL_DEV_VLAPIC_H

#include <stdint.h>
#include <stdbool.h>

#define APIC_DEFAULT_BASE   0xFEE00000ull
#define APIC_PAGE_SIZE      0x1000u

/* IA32_APIC_BASE bits. */
#define APIC_BASE_BSP       (1ull << 8)
#define APIC_BASE_EXTD      (1ull << 10)    /* x2APIC mode */
#define APIC_BASE_EN        (1ull << 11)

/* Register offsets in the xAPIC page (x2APIC MSR = 0x800 + offset / 16). */
#define APIC_ID         0x020
#define APIC_VERSION    0x030
#define APIC_TPR        0x080
#define APIC_APR        0x090
#define APIC_PPR        0x0A0
#define APIC_EOI        0x0B0
#define APIC_RRD        0x0C0
#define APIC_LDR        0x0D0
#define APIC_DFR        0x0E0
#define APIC_SVR        0x0F0
#define APIC_ISR        0x100   /* 8 registers, 0x10 apart */
#define APIC_TMR        0x180
#define APIC_IRR        0x200
#define APIC_ESR        0x280
#define APIC_LVT_CMCI   0x2F0
#define APIC_ICR_LO     0x300
#define APIC_ICR_HI     0x310
#define APIC_LVT_TIMER  0x320
#define APIC_LVT_THERMAL 0x330
#define APIC_LVT_PERF   0x340
#define APIC_LVT_LINT0  0x350
#define APIC_LVT_LINT1  0x360
#define APIC_LVT_ERROR  0x370
#define APIC_TIMER_ICR  0x380
#define APIC_TIMER_CCR  0x390
#define APIC_TIMER_DCR  0x3E0
#define APIC_SELF_IPI   0x3F0   /* x2APIC only */

#define MSR_X2APIC_FIRST    0x800
#define MSR_X2APIC_LAST     0x8FF

/* LVT / ICR fields. */
#define APIC_VECTOR_MASK        0xFFu
#define APIC_DM_SHIFT           8
#define APIC_DM_MASK            (7u << 8)
#define APIC_DM_FIXED           0
#define APIC_DM_LOWEST          1
#define APIC_DM_SMI             2
#define APIC_DM_NMI             4
#define APIC_DM_INIT            5
#define APIC_DM_STARTUP         6
#define APIC_DM_EXTINT          7
#define APIC_DEST_LOGICAL       (1u << 11)
#define APIC_DELIVERY_PENDING   (1u << 12)
#define APIC_LVT_REMOTE_IRR     (1u << 14)
#define APIC_ICR_LEVEL_ASSERT   (1u << 14)
#define APIC_LVT_LEVEL          (1u << 15)
#define APIC_LVT_MASKED         (1u << 16)
#define APIC_TIMER_MODE_MASK    (3u << 17)
#define APIC_TIMER_ONESHOT      (0u << 17)
#define APIC_TIMER_PERIODIC     (1u << 17)
#define APIC_TIMER_TSC_DEADLINE (2u << 17)
#define APIC_SHORTHAND_SHIFT    18
#define APIC_SH_NONE            0
#define APIC_SH_SELF            1
#define APIC_SH_ALL             2
#define APIC_SH_OTHERS          3
#define APIC_SVR_ENABLE         (1u << 8)
#define APIC_SVR_DIRECTED_EOI   (1u << 12)

enum vlapic_lvt { LVT_CMCI, LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1, LVT_ERROR,
                  LVT_COUNT };

/* An interrupt message the ICR (or SELF IPI) sent: kernel/virt/ routes it to the destination
 * vLAPICs. dest is the xAPIC 8-bit destination (ICR bits 63:56) or the x2APIC 32-bit one. */
struct vlapic_ipi {
    uint32_t dest;
    uint8_t vector;
    uint8_t mode;           /* APIC_DM_* */
    uint8_t shorthand;      /* APIC_SH_* */
    bool logical;
    bool level_assert;      /* ICR bit 14 (INIT de-assert has it clear) */
    bool level_trigger;     /* ICR bit 15 */
};

/* Side effects of a register write, for the caller to carry out. */
struct vlapic_out {
    bool ipi_valid;
    struct vlapic_ipi ipi;
    int eoi_vector;         /* a level-triggered vector the guest EOI'd and that is to be
                             * broadcast to the IOAPICs (not with directed EOI), else -1 */
    bool timer_changed;     /* re-read vlapic_timer_deadline() and re-arm */
    bool irq_changed;       /* IRR/ISR/PPR changed: look for a deliverable interrupt */
};

struct vlapic_clock {
    uint64_t tsc_hz;        /* the guest's TSC rate */
    uint64_t bus_hz;        /* the APIC timer's input clock, before the divider */
};

struct vlapic {
    uint32_t id;                    /* the APIC ID (xAPIC: bits 31:24 of the register) */
    uint64_t base;                  /* IA32_APIC_BASE */
    struct vlapic_clock clock;

    uint32_t tpr, ldr, dfr, svr, esr, esr_pending, icr_lo, icr_hi;
    uint32_t lvt[LVT_COUNT];
    uint32_t irr[8], isr[8], tmr[8];

    /* Timer: one-shot/periodic count down from timer_icr starting at timer_start (TSC);
     * timer_deadline is the TSC of the next expiry (UINT64_MAX: not armed). TSC-deadline mode
     * uses tsc_deadline (0: disarmed). */
    uint32_t timer_icr, timer_dcr;
    uint64_t timer_start, timer_deadline, tsc_deadline;
};

/* Power-on/RESET state: ID = id, base = 0xFEE00000 | EN | (BSP if bsp), xAPIC mode. */
void vlapic_reset(struct vlapic *l, uint32_t id, bool bsp, const struct vlapic_clock *clk);
/* INIT: every register to its reset value except the APIC ID and IA32_APIC_BASE. */
void vlapic_init_signal(struct vlapic *l);

static inline bool vlapic_hw_enabled(const struct vlapic *l) { return l->base & APIC_BASE_EN; }
static inline bool vlapic_x2apic(const struct vlapic *l) { return l->base & APIC_BASE_EXTD; }
static inline bool vlapic_sw_enabled(const struct vlapic *l) { return l->svr & APIC_SVR_ENABLE; }
static inline uint64_t vlapic_mmio_base(const struct vlapic *l) { return l->base & ~0xFFFull & ((1ull << 52) - 1); }

/* IA32_APIC_BASE write (SDM 11.12.5 state transitions); false: #GP, nothing changed.
 * maxphyaddr bounds the base; a base other than the default is accepted (the caller may refuse
 * to remap and say so). */
bool vlapic_set_base(struct vlapic *l, uint64_t val, unsigned maxphyaddr);

/* xAPIC MMIO at `off` (0-0xFFF) of size 1, 2, 4 or 8. Reads of unaligned or partial registers
 * behave as the xAPIC does (32-bit registers on 16-byte boundaries; other bytes read 0); writes
 * that are not aligned 32-bit stores are ignored. Nothing happens in x2APIC mode or with the
 * APIC hardware-disabled (reads all-ones then; the caller normally unmaps the page). */
void vlapic_mmio_read(struct vlapic *l, uint32_t off, unsigned size, uint64_t *val, uint64_t now);
void vlapic_mmio_write(struct vlapic *l, uint32_t off, unsigned size, uint64_t val, uint64_t now,
                       struct vlapic_out *out);

/* x2APIC MSRs 0x800-0x8FF and IA32_TSC_DEADLINE; false: #GP (not in x2APIC mode, a reserved
 * or write-only/read-only register, reserved bits set). */
bool vlapic_msr_read(struct vlapic *l, uint32_t msr, uint64_t *val, uint64_t now);
bool vlapic_msr_write(struct vlapic *l, uint32_t msr, uint64_t val, uint64_t now,
                      struct vlapic_out *out);
uint64_t vlapic_tsc_deadline_read(const struct vlapic *l);
void vlapic_tsc_deadline_write(struct vlapic *l, uint64_t val, uint64_t now, struct vlapic_out *out);

/* Delivery into this APIC: a fixed or lowest-priority interrupt. Sets IRR (and TMR for level);
 * a vector below 16 sets ESR "receive illegal vector" instead. Dropped (false) while the APIC is
 * hardware- or software-disabled. */
bool vlapic_accept(struct vlapic *l, uint8_t vector, bool level);
/* Does this APIC take a message for `dest` (physical or logical, flat or cluster per DFR, or
 * x2APIC cluster), broadcast included? */
bool vlapic_match_dest(const struct vlapic *l, uint32_t dest, bool logical);
/* The vector to deliver now (highest IRR above PPR), or -1. */
int vlapic_pending(const struct vlapic *l);
/* The CPU took `vector`: IRR -> ISR, PPR follows. */
void vlapic_ack(struct vlapic *l, uint8_t vector);
uint32_t vlapic_ppr(const struct vlapic *l);
/* CR8 is TPR[7:4]. */
void vlapic_set_cr8(struct vlapic *l, uint64_t cr8);
uint64_t vlapic_cr8(const struct vlapic *l);

/* Timer: the TSC of the next expiry, or UINT64_MAX. vlapic_timer_tick() fires it when now has
 * reached it (sets IRR unless the LVT is masked, reloads periodic mode) and returns true if it
 * fired. */
uint64_t vlapic_timer_deadline(const struct vlapic *l);
bool vlapic_timer_tick(struct vlapic *l, uint64_t now);
/* The current-count register's value at `now`. */
uint32_t vlapic_timer_ccr(const struct vlapic *l, uint64_t now);

/* LINT0/LINT1 asserted (a PIC's INTR, NMI wiring): what the LVT says to deliver. Returns the
 * delivery mode (APIC_DM_FIXED with *vector set and IRR already updated, APIC_DM_NMI,
 * APIC_DM_EXTINT), or -1 when masked/disabled. */
int vlapic_lint(struct vlapic *l, unsigned pin, uint8_t *vector);

#endif
