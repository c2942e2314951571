/* Local APIC helpers for the test guests (SDM Vol. 3A ch. 11 "Advanced Programmable Interrupt
 * Controller"). xAPIC registers are reached through the MMIO page, x2APIC ones through MSRs
 * 0x800 + offset/16; apic_read/apic_write pick the path from the mode set by apic_use_*(). */
#ifndef KEEL_GUEST_APIC_H
#define KEEL_GUEST_APIC_H

#include "rt.h"

/* IA32_APIC_BASE (MSR 0x1B) */
#define MSR_APIC_BASE       0x1Bu
#define APIC_BASE_BSP       (1u << 8)
#define APIC_BASE_EXTD      (1u << 10) /* x2APIC mode */
#define APIC_BASE_EN        (1u << 11) /* xAPIC global enable */
#define APIC_BASE_ADDR_MASK 0xFFFFFF000ull
#define APIC_DEFAULT_PHYS   0xFEE00000u

#define MSR_TSC_DEADLINE    0x6E0u
#define MSR_X2APIC_BASE     0x800u
#define X2APIC_MSR(off)     (MSR_X2APIC_BASE + ((off) >> 4))
#define MSR_X2APIC_SELF_IPI 0x83Fu

/* register offsets in the xAPIC page (SDM Table 11-1) */
#define APIC_ID        0x020
#define APIC_VERSION   0x030
#define APIC_TPR       0x080
#define APIC_APR       0x090
#define APIC_PPR       0x0A0
#define APIC_EOI       0x0B0
#define APIC_RRD       0x0C0
#define APIC_LDR       0x0D0
#define APIC_DFR       0x0E0
#define APIC_SVR       0x0F0
#define APIC_ISR       0x100 /* 8 registers, 0x10 apart */
#define APIC_TMR       0x180
#define APIC_IRR       0x200
#define APIC_ESR       0x280
#define APIC_LVT_CMCI  0x2F0
#define APIC_ICR_LO    0x300
#define APIC_ICR_HI    0x310
#define APIC_LVT_TIMER 0x320
#define APIC_LVT_THERM 0x330
#define APIC_LVT_PMC   0x340
#define APIC_LVT_LINT0 0x350
#define APIC_LVT_LINT1 0x360
#define APIC_LVT_ERROR 0x370
#define APIC_TMICT     0x380 /* timer initial count */
#define APIC_TMCCT     0x390 /* timer current count */
#define APIC_TDCR      0x3E0 /* timer divide configuration */
#define APIC_SELF_IPI  0x3F0 /* x2APIC only */

/* SVR */
#define APIC_SVR_ENABLE   (1u << 8)
#define APIC_SVR_NO_EOI_BCAST (1u << 12)
/* LVT */
#define APIC_LVT_MASKED   (1u << 16)
#define APIC_LVT_PENDING  (1u << 12) /* delivery status */
#define APIC_TIMER_ONESHOT  (0u << 17)
#define APIC_TIMER_PERIODIC (1u << 17)
#define APIC_TIMER_DEADLINE (2u << 17)
/* ICR low dword */
#define APIC_DM_FIXED     (0u << 8)
#define APIC_DM_LOWEST    (1u << 8)
#define APIC_DM_SMI       (2u << 8)
#define APIC_DM_NMI       (4u << 8)
#define APIC_DM_INIT      (5u << 8)
#define APIC_DM_SIPI      (6u << 8)
#define APIC_DEST_LOGICAL (1u << 11)
#define APIC_ICR_BUSY     (1u << 12) /* delivery status (xAPIC only) */
#define APIC_LEVEL_ASSERT (1u << 14)
#define APIC_TRIG_LEVEL   (1u << 15)
#define APIC_SH_NONE      (0u << 18)
#define APIC_SH_SELF      (1u << 18)
#define APIC_SH_ALL       (2u << 18)
#define APIC_SH_OTHERS    (3u << 18)
/* ESR bits */
#define APIC_ESR_SEND_ILLEGAL_VEC (1u << 5)
#define APIC_ESR_RECV_ILLEGAL_VEC (1u << 6)
#define APIC_ESR_ILLEGAL_REG      (1u << 7)

/* ---- CPUID ---- */
int apic_has_x2apic(void);       /* CPUID.1:ECX[21] */
int apic_has_tsc_deadline(void); /* CPUID.1:ECX[24] */
int cpu_is_keel(void);           /* CPUID 0x40000000 signature "KeelKeelKeel" */
/* Keel leaf 0x40000010: EAX = TSC kHz, EBX = APIC timer input (bus) kHz. 0 if absent. */
int keel_freqs(u32 *tsc_khz, u32 *bus_khz);
/* TSC frequency in kHz: Keel's leaf, else measured against PIT channel 2 (bare emulators).
 * Cached after the first call. */
u32 tsc_khz(void);
/* APIC timer input clock in kHz (before the divider): Keel's leaf, else 1000000 (QEMU's 1 GHz
 * bus) or the value given as `apic_bus_khz=<n>` on the command line. */
u32 apic_bus_khz(void);
/* busy-wait on the TSC */
void tsc_delay_us(u32 us);

/* ---- mode ---- */
u64 apic_base_msr(void);
int apic_is_x2(void);          /* the mode the helpers currently use */
/* Enable the APIC in xAPIC mode at the default base (from reset or disabled state; from
 * x2APIC mode goes through disabled, as the SDM requires). Helpers then use MMIO. */
void apic_use_xapic(void);
/* Switch to x2APIC mode (xAPIC enabled first if needed). Returns 0 if CPUID lacks x2APIC. */
int apic_use_x2apic(void);
/* The helpers' idea of the mode, without touching IA32_APIC_BASE (after a raw wrmsr). */
void apic_set_mode_flag(int x2);

/* ---- raw access ---- */
static inline volatile u32 *xapic_reg(u32 off)
{
	return (volatile u32 *)(uptr)(APIC_DEFAULT_PHYS + off);
}
static inline u32 xapic_read(u32 off) { return *xapic_reg(off); }
static inline void xapic_write(u32 off, u32 v) { *xapic_reg(off) = v; }
static inline u64 x2apic_read(u32 off) { return rdmsr(X2APIC_MSR(off)); }
static inline void x2apic_write(u32 off, u64 v) { wrmsr(X2APIC_MSR(off), v); }

/* ---- mode-aware access (32-bit registers; ICR through apic_send_ipi) ---- */
u32 apic_read(u32 off);
void apic_write(u32 off, u32 v);
static inline void apic_eoi(void) { apic_write(APIC_EOI, 0); }
u32 apic_id(void);             /* xAPIC: ID[31:24]; x2APIC: the 32-bit ID */
/* SVR = enable | spurious vector (handler for it: see apic_spurious_count) */
void apic_sw_enable(u8 spurious_vec);
void apic_sw_disable(void);
/* Send an IPI. icr_lo: vector | delivery mode | dest mode | level | trigger | shorthand;
 * dest: APIC ID (xAPIC: 8 bits, placed in ICR[63:56]; x2APIC: 32 bits in ICR[63:32]).
 * xAPIC: waits (bounded) for the delivery-status bit to clear; returns 0, or -1 on timeout. */
int apic_send_ipi(u32 dest, u32 icr_lo);
static inline int apic_self_ipi(u8 vec) { return apic_send_ipi(0, APIC_SH_SELF | vec); }
/* IRR/ISR/TMR bit of vector vec (base = APIC_IRR, APIC_ISR or APIC_TMR) */
int apic_vec_bit(u32 base, u8 vec);

/* Mask both legacy 8259 PICs (bare emulators: the BIOS leaves IRQ0 unmasked at vector 8; under
 * Keel there is no PIC and the writes are ignored). Call before STI. */
void pic_mask_all(void);

/* Number of vCPUs: `ncpus=<n>` on the command line, else CPUID.1:EBX[23:16] (at least 1). */
u32 cpu_count(void);

#endif
