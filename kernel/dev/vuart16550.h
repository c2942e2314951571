/* A 16550A UART register model (TI/National PC16550D datasheet): RBR/THR, IER, IIR/FCR, LCR,
 * MCR, LSR, MSR, SCR and the divisor latch (DLAB), the 16-byte receive FIFO with its trigger
 * levels, the interrupt identification priorities (receiver line status, received data
 * available or character timeout, THR empty, modem status), loopback (MCR bit 4) and the PC's
 * gating of the interrupt output by OUT2 (MCR bit 3).
 *
 * Pure: bytes the guest transmits come back in out->tx for the caller to print; bytes typed by
 * the operator go in with vuart16550_rx_push(); out->irq is the level of the IRQ line (IRQ 4 for
 * COM1) after each access, for the caller to pass on.
 *
 * Modelling choices:
 * - Transmission is instant: a byte written to THR leaves at once, so THR and the transmitter
 *   are always empty (LSR THRE and TEMT read 1) and the TX FIFO never holds anything. Writing
 *   THR clears a pending THRE interrupt, and the THR emptying at once raises it again.
 * - The THRE interrupt becomes pending when ETBEI goes from 0 to 1 (THR being empty), as on the
 *   part; reading IIR while it is the reported source clears it.
 * - The character timeout (IIR 0x0C) is reported as soon as the FIFO holds fewer bytes than the
 *   trigger level, as if the four character times had passed: there is no time here, and a
 *   guest reads typed characters at once instead of waiting for more.
 * - Input is flow-controlled: vuart16550_rx_push() refuses a byte when the FIFO (in 16450 mode:
 *   RBR) is full, instead of an overrun, so the caller can keep it for later; in loopback the
 *   serial input is disconnected and external bytes are refused too. Loopback bytes that find
 *   the FIFO full are an overrun (LSR OE) as on the part.
 * - Outside loopback the modem inputs read as a connected terminal: CTS, DSR and DCD set.
 * - In loopback OUT2 is forced inactive on the pins, so on a PC no interrupt reaches the PIC.
 * - LCR resets to 0x03 (8N1), what a PC BIOS leaves; the other registers to the datasheet's
 *   reset values. */
#ifndef KERNEL_DEV_VUART16550_H
#define KERNEL_DEV_VUART16550_H

#include <stdint.h>
#include <stdbool.h>

#define U16550_FIFO         16

/* Register numbers (offsets from the base port). */
#define U16550_RBR          0       /* read, DLAB = 0; THR on write */
#define U16550_IER          1       /* DLM with DLAB = 1 */
#define U16550_IIR          2       /* read; FCR on write */
#define U16550_LCR          3
#define U16550_MCR          4
#define U16550_LSR          5
#define U16550_MSR          6
#define U16550_SCR          7

#define IER_ERBFI           0x01
#define IER_ETBEI           0x02
#define IER_ELSI            0x04
#define IER_EDSSI           0x08

#define IIR_NO_INT          0x01
#define IIR_MSI             0x00
#define IIR_THRI            0x02
#define IIR_RDI             0x04
#define IIR_RLSI            0x06
#define IIR_CTI             0x0C
#define IIR_FIFO_ENABLED    0xC0

#define FCR_ENABLE          0x01
#define FCR_CLEAR_RX        0x02
#define FCR_CLEAR_TX        0x04
#define FCR_TRIGGER_SHIFT   6

#define LCR_DLAB            0x80

#define MCR_DTR             0x01
#define MCR_RTS             0x02
#define MCR_OUT1            0x04
#define MCR_OUT2            0x08
#define MCR_LOOP            0x10

#define LSR_DR              0x01
#define LSR_OE              0x02
#define LSR_PE              0x04
#define LSR_FE              0x08
#define LSR_BI              0x10
#define LSR_THRE            0x20
#define LSR_TEMT            0x40
#define LSR_FIFO_ERR        0x80
#define LSR_ERRORS          (LSR_OE | LSR_PE | LSR_FE | LSR_BI)

#define MSR_DCTS            0x01
#define MSR_DDSR            0x02
#define MSR_TERI            0x04
#define MSR_DDCD            0x08
#define MSR_DELTAS          0x0F
#define MSR_CTS             0x10
#define MSR_DSR             0x20
#define MSR_RI              0x40
#define MSR_DCD             0x80

struct vuart16550_out {
    bool irq;               /* IRQ line level after the access */
    bool tx_valid;          /* the guest transmitted tx */
    uint8_t tx;
};

struct vuart16550 {
    uint8_t ier, lcr, mcr, msr, scr, dll, dlm;
    uint8_t fcr;            /* FCR_ENABLE and the trigger bits as written */
    uint8_t lsr_err;        /* LSR_ERRORS bits waiting for an LSR read */
    uint8_t rbr;            /* the last byte read (RBR reads it again when empty) */
    bool thri;              /* THRE interrupt pending */
    uint8_t rx_head, rx_count;
    uint8_t rx[U16550_FIFO];
};

void vuart16550_reset(struct vuart16550 *u);
/* reg 0-7 (offset from the base port), byte accesses. */
uint8_t vuart16550_read(struct vuart16550 *u, unsigned reg, struct vuart16550_out *out);
void vuart16550_write(struct vuart16550 *u, unsigned reg, uint8_t val,
                      struct vuart16550_out *out);
/* A byte from the operator's console; false (nothing changes) if there is no room. */
bool vuart16550_rx_push(struct vuart16550 *u, uint8_t c, struct vuart16550_out *out);
unsigned vuart16550_rx_room(const struct vuart16550 *u);
uint8_t vuart16550_iir(const struct vuart16550 *u);     /* what IIR would read */
bool vuart16550_irq(const struct vuart16550 *u);

#endif
