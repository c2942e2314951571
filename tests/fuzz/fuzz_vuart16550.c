/* libFuzzer target for the 16550A model (kernel/dev/vuart16550.c): register reads and writes
 * (any register, DLAB on and off, loopback, FIFO modes) and console input. A shadow queue of the
 * bytes that must be in the receive FIFO checks what RBR returns; after every step: the IRQ level
 * is exactly "an interrupt identified, OUT2 set, not in loopback", the IIR source is the highest
 * priority one that is enabled and active, LSR DR matches the FIFO, transmitted bytes are exactly
 * the THR writes outside loopback, and input is accepted only when there is room. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/dev/vuart16550.h"

#define ASSERT(c) do { if (!(c)) { fprintf(stderr, "invariant failed: %s\n", #c); abort(); } } while (0)

static uint8_t shadow[U16550_FIFO];
static unsigned slen;

static unsigned cap(const struct vuart16550 *u)
{
    return u->fcr & FCR_ENABLE ? U16550_FIFO : 1;
}

static void check(const struct vuart16550 *u, const struct vuart16550_out *o)
{
    static const unsigned trig[4] = { 1, 4, 8, 14 };
    ASSERT(u->rx_count == slen && slen <= cap(u));
    for (unsigned i = 0; i < slen; i++)
        ASSERT(u->rx[(u->rx_head + i) % U16550_FIFO] == shadow[i]);
    uint8_t iir = vuart16550_iir(u);
    bool fifo = u->fcr & FCR_ENABLE;
    ASSERT((iir & 0xC0) == (fifo ? 0xC0 : 0));
    uint8_t want;
    if ((u->ier & IER_ELSI) && (u->lsr_err & LSR_ERRORS))
        want = IIR_RLSI;
    else if ((u->ier & IER_ERBFI) && slen)
        want = fifo && slen < trig[u->fcr >> 6] ? IIR_CTI : IIR_RDI;
    else if ((u->ier & IER_ETBEI) && u->thri)
        want = IIR_THRI;
    else if ((u->ier & IER_EDSSI) && (u->msr & MSR_DELTAS))
        want = IIR_MSI;
    else
        want = IIR_NO_INT;
    ASSERT((iir & 0x0F) == want);
    ASSERT(o->irq == (want != IIR_NO_INT && (u->mcr & MCR_OUT2) && !(u->mcr & MCR_LOOP)));
    ASSERT((u->ier & 0xF0) == 0 && (u->mcr & 0xE0) == 0);
    if (!(u->mcr & MCR_LOOP))
        ASSERT((u->msr & 0xF0) == (MSR_CTS | MSR_DSR | MSR_DCD));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vuart16550 u;
    struct vuart16550_out o = { 0 };
    vuart16550_reset(&u);
    slen = 0;
    while (size >= 2) {
        uint8_t op = data[0], v = data[1];
        data += 2, size -= 2;
        unsigned reg = op & 7;
        bool dlab = u.lcr & LCR_DLAB;
        if ((op >> 3 & 3) == 3) {                   /* console input */
            bool room = !(u.mcr & MCR_LOOP) && slen < cap(&u);
            ASSERT(vuart16550_rx_room(&u) == (room ? cap(&u) - slen : 0));
            ASSERT(vuart16550_rx_push(&u, v, &o) == room);
            if (room)
                shadow[slen++] = v;
        } else if (op & 0x20) {                     /* write */
            if (op & 0x40 && reg == U16550_LCR)
                v &= 0x7F;                          /* leave DLAB more often */
            uint8_t fcr = u.fcr;
            vuart16550_write(&u, reg, v, &o);
            ASSERT(o.tx_valid == (reg == 0 && !dlab && !(u.mcr & MCR_LOOP)));
            if (o.tx_valid)
                ASSERT(o.tx == v);
            if (reg == 0 && !dlab && (u.mcr & MCR_LOOP)) {
                if (slen < cap(&u)) {
                    shadow[slen++] = v;
                } else {
                    ASSERT(u.lsr_err & LSR_OE);     /* a full FIFO overruns */
                    if (!(u.fcr & FCR_ENABLE))
                        shadow[0] = v;
                }
            }
            if (reg == U16550_IIR && (((v ^ fcr) & FCR_ENABLE) || (v & 3) == 3))
                slen = 0;
        } else {                                    /* read */
            uint8_t r = vuart16550_read(&u, reg, &o);
            ASSERT(!o.tx_valid);
            if (reg == U16550_RBR && !dlab && slen) {
                ASSERT(r == shadow[0]);
                memmove(shadow, shadow + 1, --slen);
            }
            if (reg == U16550_LSR) {
                ASSERT(!!(r & LSR_DR) == (slen > 0));
                ASSERT((r & (LSR_THRE | LSR_TEMT)) == (LSR_THRE | LSR_TEMT));
                ASSERT((u.lsr_err & LSR_ERRORS) == 0);
            }
            if (reg == U16550_MSR)
                ASSERT((u.msr & MSR_DELTAS) == 0);
            if (reg == U16550_IIR && (r & 0x0F) == IIR_THRI)
                ASSERT(!u.thri);
        }
        check(&u, &o);
    }
    return 0;
}
