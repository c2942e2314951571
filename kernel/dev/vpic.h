/* The pair of virtual 8259A PICs of a PC (8259A datasheet; the ICH's 8259 chapter for the ELCR):
 * master at 0x20/0x21, slave at 0xA0/0xA1 cascaded on the master's IR2, the edge/level control
 * registers at 0x4D0/0x4D1. The master's INTR goes to vCPU 0's LINT0 (ExtINT) as on a PC.
 *
 * Pure: no pointers, no calls out. Inputs: vpic_set_irq() drives IRQ lines 0-15; port accesses.
 * Output: vpic_intr() says whether INTR is asserted; vpic_ack() is the CPU's INTA cycle and gives
 * the vector.
 *
 * Modelling choices (documented where hardware leaves a choice):
 * - Sensing follows the ELCR as in PIIX/ICH chipsets (the ICW1 LTIM bit is kept but ignored).
 *   An edge request is latched in IRR until INTA even if the line falls before it (QEMU and KVM
 *   do this; a pulse delivered as set_irq(1), set_irq(0) is not lost). A level request follows
 *   its line: if it goes away before INTA the acknowledge gives the spurious IR7 vector of that
 *   chip (base + 7) and sets no ISR bit, as the datasheet's "default IR7".
 * - Power-on state is undefined on the real part; here it is the state after an ICW1 with
 *   vector base 0 except that IMR is 0xFF, so nothing is delivered until the guest initialises.
 * - An ICW1 also clears ISR (as QEMU and Bochs do; the datasheet lists only IRR, IMR, priority,
 *   special mask and read select).
 * - The cascade is wired on IR2 whatever ICW3/SNGL say (the board's wiring). */
#ifndef KERNEL_DEV_VPIC_H
#define KERNEL_DEV_VPIC_H

#include <stdint.h>
#include <stdbool.h>

#define PIC_MASTER_CMD      0x20
#define PIC_MASTER_DATA     0x21
#define PIC_SLAVE_CMD       0xA0
#define PIC_SLAVE_DATA      0xA1
#define PIC_ELCR1           0x4D0
#define PIC_ELCR2           0x4D1
#define PIC_CASCADE_IRQ     2

/* ICW1 (command port, bit 4 set). */
#define PIC_ICW1            0x10
#define PIC_ICW1_IC4        0x01
#define PIC_ICW1_SNGL       0x02
#define PIC_ICW1_LTIM       0x08
/* ICW4. */
#define PIC_ICW4_8086       0x01
#define PIC_ICW4_AEOI       0x02
#define PIC_ICW4_SFNM       0x10
/* OCW2 (command port, bits 4:3 = 00): R SL EOI in bits 7:5, level in 2:0. */
#define PIC_OCW2_EOI        0x20
#define PIC_OCW2_SL         0x40
#define PIC_OCW2_R          0x80
/* OCW3 (command port, bits 4:3 = 01). */
#define PIC_OCW3            0x08
#define PIC_OCW3_RIS        0x01
#define PIC_OCW3_RR         0x02
#define PIC_OCW3_P          0x04
#define PIC_OCW3_SMM        0x20
#define PIC_OCW3_ESMM       0x40
/* Poll word: bit 7 set when a request is pending, bits 2:0 its level. */
#define PIC_POLL_INT        0x80

/* ELCR bits that exist (ICH: IRQ0, 1, 2, 8 and 13 are always edge). */
#define PIC_ELCR1_MASK      0xF8
#define PIC_ELCR2_MASK      0xDE

struct vpic_chip {
    uint8_t irr, isr, imr;
    uint8_t lines;          /* level of each IR input */
    uint8_t elcr;
    uint8_t icw1, icw3, icw4;
    uint8_t base;           /* ICW2 & 0xF8 */
    uint8_t init_step;      /* 0: ready; 2, 3, 4: the ICW expected next */
    uint8_t lowest;         /* the lowest-priority level (rotation); IR7 after init */
    bool read_isr;          /* OCW3 RR/RIS: the command port reads ISR, else IRR */
    bool poll;              /* OCW3 P: the next read is a poll */
    bool special_mask;
    bool rotate_aeoi;
};

struct vpic {
    struct vpic_chip chip[2];   /* 0: master, 1: slave */
    uint64_t spurious;          /* INTA/poll cycles that found no request, for statistics */
};

void vpic_reset(struct vpic *p);

/* Drive IRQ line `irq` (0-15; others ignored). IRQ 2 is the cascade: driving it does nothing. */
void vpic_set_irq(struct vpic *p, unsigned irq, bool level);
/* Is the master's INTR output asserted? */
bool vpic_intr(const struct vpic *p);
/* The INTA cycle: the vector the CPU receives. Moves the request from IRR to ISR (not with
 * auto-EOI), goes through the cascade, gives base + 7 without an ISR bit when nothing is
 * requested (spurious IRQ 7, or 15 on the slave). */
uint8_t vpic_ack(struct vpic *p);

/* Ports 0x20, 0x21, 0xA0, 0xA1, 0x4D0, 0x4D1 (byte accesses). Other ports read 0xFF. */
uint8_t vpic_read(struct vpic *p, uint16_t port);
void vpic_write(struct vpic *p, uint16_t port, uint8_t val);
/* Does this device decode the port? */
bool vpic_port(uint16_t port);

#endif
