/* Interrupt delivery for vCPUs: the APIC bus between a VM's vLAPICs, interrupts posted from other
 * CPUs, INIT/SIPI, the guest timer on the host timer, and the one decision of what to inject next.
 * The vendor loops call intr_next() before an entry when v->intr_check is set, and only inject
 * what it says or open the window it asks for. */
#ifndef KERNEL_VIRT_INTR_H
#define KERNEL_VIRT_INTR_H

#include <stdint.h>
#include <stdbool.h>
#include "kernel/virt/vcpu.h"

struct vm;

#define APIC_BUS_HZ     1000000000ull   /* the vLAPIC timer's input clock (CPUID 0x40000010) */

/* intr_next() result bits: at most one INJECT, and the windows to open. */
#define INTR_INJECT_NMI     (1u << 0)
#define INTR_INJECT_IRQ     (1u << 1)       /* *vector set; the vLAPIC has taken it (IRR->ISR) */
#define INTR_WINDOW_IRQ     (1u << 2)       /* exit as soon as the guest can take an interrupt */
#define INTR_WINDOW_NMI     (1u << 3)       /* exit as soon as NMIs are unblocked */

/* irq_ok: RFLAGS.IF set, no STI/MOV SS shadow, no event being injected this entry.
 * nmi_ok: no NMI blocking and no shadow, no event being injected. */
unsigned intr_next(struct vcpu *v, bool irq_ok, bool nmi_ok, uint8_t *vector);

/* The vCPU's own CPU: posted interrupts into the vLAPIC, INIT/SIPI, the guest timer. Returns
 * true when v->state changed (a SIPI started it, an INIT parked it). */
bool intr_sync(struct vcpu *v);
/* Something deliverable now if the guest had IF=1 (HLT wake-up). */
bool intr_wakeup_pending(struct vcpu *v);

/* A message on the VM's APIC bus (from a vLAPIC's ICR; later IOAPIC and MSI). src: the sending
 * vCPU (for shorthands and self delivery) or NULL. */
void apic_bus_send(struct vm *vm, struct vcpu *src, const struct vlapic_ipi *m);
/* Is a fixed `vector` for (dest, logical) still in a destination vLAPIC's IRR (or posted)? */
bool apic_bus_pending(struct vm *vm, uint8_t vector, uint32_t dest, bool logical);
/* What a vLAPIC register write asked for: IPIs, timer re-arm, delivery check. */
void intr_apic_out(struct vcpu *v, const struct vlapic_out *out);

void intr_vcpu_init(struct vcpu *v);    /* power-on vLAPIC state */
void intr_timer_check(struct vcpu *v);  /* fire the guest timer if due; re-arm the host timer */
void intr_vcpu_stopped(struct vcpu *v); /* the host timer forgets v's deadline */

#endif
