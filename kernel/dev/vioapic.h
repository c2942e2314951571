/* The virtual I/O APIC of a VM: the register model of the 82093AA datasheet as extended by the
 * ICH I/O APIC (version 0x20: 24 pins and the directed EOI register at offset 0x40).
 *
 * Pure: it keeps no pointers to the vLAPICs and calls nothing. Interrupt messages it sends come
 * back in struct vioapic_out as struct vlapic_ipi (the shape the vLAPIC's ICR produces), and
 * kernel/virt/ routes them. The caller maps it at VIOAPIC_DEFAULT_BASE.
 *
 * Pins: vioapic_set_irq() drives the electrical level of a pin's wire. The pin is asserted when
 * that level differs from the polarity bit (bit 13, 1 = active low), so the caller drives the
 * idle level of an active-low line (the SCI) high, as the board does.
 *
 * Storm guard: a level-triggered line that stays asserted is re-sent after each EOI (hardware
 * does that too). storm[pin] counts re-sends of a pin since its line last went idle (or the pin
 * was masked or reprogrammed); once it reaches VIOAPIC_STORM_THRESHOLD the pin's bit is set in
 * vioapic_out.storm. The model still sends the message: throttling (delaying the re-delivery,
 * sharing the CPU fairly) is the delivery path's job, it knows about time and vCPUs. */
#ifndef KERNEL_DEV_VIOAPIC_H
#define KERNEL_DEV_VIOAPIC_H

#include <stdint.h>
#include <stdbool.h>
#include "kernel/dev/vlapic.h"

#define VIOAPIC_DEFAULT_BASE    0xFEC00000ull
#define VIOAPIC_MMIO_SIZE       0x1000u
#define VIOAPIC_PINS            24
#define VIOAPIC_VERSION         0x20u   /* ICH-style: has the EOI register */

/* Direct (MMIO) registers. */
#define IOAPIC_IOREGSEL         0x00
#define IOAPIC_IOWIN            0x10
#define IOAPIC_EOIR             0x40

/* Indirect registers (IOREGSEL values). */
#define IOAPIC_REG_ID           0x00
#define IOAPIC_REG_VER          0x01
#define IOAPIC_REG_ARB          0x02
#define IOAPIC_REG_REDTBL       0x10    /* entry n: 0x10 + 2n (low), 0x11 + 2n (high) */

#define IOAPIC_ID_SHIFT         24
#define IOAPIC_ID_MASK          (0xFu << 24)
#define IOAPIC_VER_MRE_SHIFT    16      /* maximum redirection entry */

/* Redirection table entry fields. */
#define IOREDTBL_VECTOR_MASK    0xFFull
#define IOREDTBL_DM_SHIFT       8
#define IOREDTBL_DM_MASK        (7ull << 8)
#define IOREDTBL_DESTMOD        (1ull << 11)    /* 1: logical */
#define IOREDTBL_DELIVS         (1ull << 12)    /* read-only */
#define IOREDTBL_INTPOL         (1ull << 13)    /* 1: active low */
#define IOREDTBL_REMOTE_IRR     (1ull << 14)    /* read-only */
#define IOREDTBL_TRIGGER        (1ull << 15)    /* 1: level */
#define IOREDTBL_MASK           (1ull << 16)
#define IOREDTBL_EDID_SHIFT     48              /* extended destination, bits 55:48 */
#define IOREDTBL_DEST_SHIFT     56              /* destination, bits 63:56 */
/* Bits a guest write changes; DELIVS and remote IRR are the IOAPIC's own, the rest reserved. */
#define IOREDTBL_WRITABLE       (0xFFull | IOREDTBL_DM_MASK | IOREDTBL_DESTMOD | IOREDTBL_INTPOL | \
                                 IOREDTBL_TRIGGER | IOREDTBL_MASK | (0xFFFFull << 48))

#define VIOAPIC_STORM_THRESHOLD 1000u

/* Side effects of one call (each call fills it afresh). */
struct vioapic_out {
    unsigned n;                             /* messages in msg[] */
    struct vlapic_ipi msg[VIOAPIC_PINS];
    uint32_t storm;                         /* pins at or over VIOAPIC_STORM_THRESHOLD */
};

struct vioapic {
    uint32_t id;                    /* the ID register (bits 27:24) */
    uint32_t arb;                   /* the arbitration ID register (bits 27:24) */
    uint8_t regsel;
    uint64_t redtbl[VIOAPIC_PINS];
    uint32_t wire;                  /* electrical level of each pin's wire */
    uint32_t storm[VIOAPIC_PINS];   /* consecutive re-sends of a still-asserted level pin */
    uint64_t sent;                  /* messages sent, for statistics */
};

/* Power-on/RESET: every entry masked (other bits 0), all wires low, the given ID. */
void vioapic_reset(struct vioapic *io, uint8_t id);

/* MMIO at `off` (0 - VIOAPIC_MMIO_SIZE-1) of size 1, 2, 4 or 8. IOREGSEL takes byte and dword
 * accesses (the ICH's index register is 8 bits), IOWIN and the EOI register dword accesses only;
 * anything else reads 0 and writes are ignored. */
void vioapic_mmio_read(struct vioapic *io, uint32_t off, unsigned size, uint64_t *val);
void vioapic_mmio_write(struct vioapic *io, uint32_t off, unsigned size, uint64_t val,
                        struct vioapic_out *out);

/* The indirect registers as IOWIN sees them. Unknown indexes read 0 and ignore writes. */
uint32_t vioapic_reg_read(const struct vioapic *io, uint8_t index);
void vioapic_reg_write(struct vioapic *io, uint8_t index, uint32_t val, struct vioapic_out *out);

/* Drive the wire of `pin` (0-23; others ignored) to `level`. */
void vioapic_set_irq(struct vioapic *io, unsigned pin, bool level, struct vioapic_out *out);
/* A local APIC broadcast an EOI for `vector` (or the guest wrote the EOI register): remote IRR
 * of the level pins with that vector clears, and a pin still asserted is sent again. */
void vioapic_eoi(struct vioapic *io, uint8_t vector, struct vioapic_out *out);

/* Is the pin asserted (wire level against polarity)? */
bool vioapic_pin_asserted(const struct vioapic *io, unsigned pin);

#endif
