/* Host local APIC in xAPIC (MMIO) or x2APIC (MSR) mode. */
#ifndef DRIVERS_LAPIC_H
#define DRIVERS_LAPIC_H

#include <stdint.h>
#include <stdbool.h>

#define LAPIC_DEFAULT_BASE  0xFEE00000ul
#define APIC_BASE_BSP       (1ull << 8)
#define APIC_BASE_EXTD      (1ull << 10)
#define APIC_BASE_EN        (1ull << 11)

/* Register offsets (xAPIC MMIO); the x2APIC MSR is 0x800 + offset / 16. */
#define APIC_ID         0x020
#define APIC_VERSION    0x030
#define APIC_TPR        0x080
#define APIC_EOI        0x0B0
#define APIC_LDR        0x0D0
#define APIC_DFR        0x0E0
#define APIC_SVR        0x0F0
#define APIC_ESR        0x280
#define APIC_ICR_LO     0x300
#define APIC_ICR_HI     0x310
#define APIC_LVT_TIMER  0x320
#define APIC_LVT_LINT0  0x350
#define APIC_LVT_LINT1  0x360
#define APIC_LVT_ERROR  0x370
#define APIC_TIMER_ICR  0x380
#define APIC_TIMER_CCR  0x390
#define APIC_TIMER_DCR  0x3E0

#define APIC_SVR_ENABLE         (1u << 8)
#define APIC_LVT_MASKED         (1u << 16)
#define APIC_TIMER_PERIODIC     (1u << 17)
#define APIC_ICR_INIT           (5u << 8)
#define APIC_ICR_STARTUP        (6u << 8)
#define APIC_ICR_NMI            (4u << 8)
#define APIC_ICR_ASSERT         (1u << 14)
#define APIC_ICR_LEVEL          (1u << 15)
#define APIC_ICR_BUSY           (1u << 12)
#define APIC_DCR_DIV16          0x3

extern bool lapic_x2apic;

void lapic_setup_mode(uint64_t mmio_base, bool allow_x2apic);  /* BSP, once */
void lapic_init_cpu(void);          /* every CPU: enable, mask LVTs, spurious vector */
uint32_t lapic_id(void);
void lapic_eoi(void);
void lapic_send_ipi(uint32_t apic_id, uint32_t icr_lo);
void lapic_send_init(uint32_t apic_id);
void lapic_send_sipi(uint32_t apic_id, uint8_t page);
void lapic_timer_start(uint32_t hz); /* periodic host tick */
void lapic_timer_interrupt(void);    /* from the timer vector: tick, then re-arm */


#endif
