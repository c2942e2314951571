/* The PC platform around a VM's vCPUs: the chipset devices (kernel/dev/), their ports, the ISA
 * interrupt lines (PIC and IOAPIC), and the device timers. One lock per VM guards the device
 * state; vLAPICs are not behind it (kernel/virt/intr.c). */
#ifndef KERNEL_VIRT_PLATFORM_H
#define KERNEL_VIRT_PLATFORM_H

#include <stdint.h>
#include <stdbool.h>
#include "kernel/spinlock.h"
#include "kernel/dev/vioapic.h"
#include "kernel/dev/vpic.h"
#include "kernel/dev/vpit.h"
#include "kernel/dev/vrtc.h"
#include "kernel/dev/vpmtimer.h"
#include "kernel/dev/vuart16550.h"
#include "kernel/dev/vpci.h"
#include "kernel/dev/vfwcfg.h"

#define PM_BASE         0x600       /* the ACPI PM block (FADT): EVT +0, CNT +4, TMR +8 */
#define SCI_IRQ         9
#define RTC_IRQ         8

#define PLATFORM_PORT_SLOTS 16      /* distinct unemulated ports counted per VM */

struct port_count {
    uint16_t port;
    uint32_t reads, writes;
};

struct platform {
    spinlock_t lock;
    struct vioapic ioapic;
    struct vpic pic;
    struct vpit pit;
    struct vrtc rtc;
    struct vpm pm;
    struct vuart16550 uart;
    struct vpci pci;
    struct vfwcfg fwcfg;
    uint16_t lines;                 /* ISA IRQ lines the devices hold high */
    uint32_t pit_backlog;           /* IRQ0 edges owed to the guest (platform.c) */
    uint64_t pit_dropped;           /* edges over the bound, for statistics */
    bool pit_idle;                  /* IRQ0 edges change nothing now: no host timer for them */
    bool post_seen;
    uint8_t post;                   /* last value written to port 0x80 */
    struct port_count unhandled[PLATFORM_PORT_SLOTS];
    uint64_t unhandled_other;       /* accesses to further ports once the slots are full */
};

struct vm;
struct vcpu;

void platform_init(struct vm *vm);     /* power-on state (boot and reset) */
int platform_map(struct vm *vm);        /* the IOAPIC's MMIO page */
/* Port I/O for every port but the vUART's (kernel/virt/guest_io.c): false when the VM ended. */
bool platform_port_read(struct vcpu *v, uint16_t port, unsigned size, uint32_t *val);
bool platform_port_write(struct vcpu *v, uint16_t port, unsigned size, uint32_t val);
/* An ISA device drives line irq (0-15). */
void platform_set_irq(struct vm *vm, unsigned irq, bool level);
/* A level-triggered vector's EOI reached the IOAPIC (broadcast, or its EOI register). */
void platform_eoi(struct vm *vm, uint8_t vector);
/* vCPU 0: the PIC's INTR through LINT0 (ExtINT). True if it is asserted and LINT0 passes it;
 * with take, the INTA cycle is run and *vector is what the PIC answers. */
bool platform_extint(struct vcpu *v, bool take, uint8_t *vector);
/* Typed input for COM1 (the shell's `console`); false when its receive FIFO is full. */
bool platform_uart_input(struct vm *vm, uint8_t c);
/* vCPU 0: run the device timers to `now`; returns the TSC of the next device event. */
uint64_t platform_timers(struct vm *vm, uint64_t now);

#endif
