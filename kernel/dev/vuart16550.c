#include "kernel/dev/vuart16550.h"

#define LCR_8N1             0x03
#define MSR_TERMINAL        (MSR_CTS | MSR_DSR | MSR_DCD)

static const uint8_t trigger_levels[4] = { 1, 4, 8, 14 };

static bool fifo_on(const struct vuart16550 *u)
{
    return u->fcr & FCR_ENABLE;
}

static unsigned rx_capacity(const struct vuart16550 *u)
{
    return fifo_on(u) ? U16550_FIFO : 1;    /* 16450 mode: RBR alone */
}

/* The modem status inputs: the terminal, or MCR's outputs in loopback. */
static uint8_t modem_inputs(const struct vuart16550 *u)
{
    if (!(u->mcr & MCR_LOOP))
        return MSR_TERMINAL;
    return (uint8_t)((u->mcr & MCR_RTS ? MSR_CTS : 0) | (u->mcr & MCR_DTR ? MSR_DSR : 0) |
                     (u->mcr & MCR_OUT1 ? MSR_RI : 0) | (u->mcr & MCR_OUT2 ? MSR_DCD : 0));
}

static void update_msr(struct vuart16550 *u)
{
    uint8_t old = u->msr, now = modem_inputs(u), chg = (uint8_t)(old ^ now);
    uint8_t d = old & MSR_DELTAS;
    d |= chg & MSR_CTS ? MSR_DCTS : 0;
    d |= chg & MSR_DSR ? MSR_DDSR : 0;
    d |= (old & MSR_RI) && !(now & MSR_RI) ? MSR_TERI : 0;     /* trailing edge only */
    d |= chg & MSR_DCD ? MSR_DDCD : 0;
    u->msr = now | d;
}

void vuart16550_reset(struct vuart16550 *u)
{
    u->ier = u->mcr = u->scr = u->dll = u->dlm = u->fcr = u->lsr_err = u->rbr = 0;
    u->lcr = LCR_8N1;
    u->msr = MSR_TERMINAL;
    u->thri = false;
    u->rx_head = u->rx_count = 0;
}

uint8_t vuart16550_iir(const struct vuart16550 *u)
{
    uint8_t fifo = fifo_on(u) ? IIR_FIFO_ENABLED : 0;
    if ((u->ier & IER_ELSI) && (u->lsr_err & LSR_ERRORS))
        return fifo | IIR_RLSI;
    if ((u->ier & IER_ERBFI) && u->rx_count) {
        bool below = fifo_on(u) && u->rx_count < trigger_levels[u->fcr >> FCR_TRIGGER_SHIFT];
        return fifo | (below ? IIR_CTI : IIR_RDI);
    }
    if ((u->ier & IER_ETBEI) && u->thri)
        return fifo | IIR_THRI;
    if ((u->ier & IER_EDSSI) && (u->msr & MSR_DELTAS))
        return fifo | IIR_MSI;
    return fifo | IIR_NO_INT;
}

bool vuart16550_irq(const struct vuart16550 *u)
{
    return !(vuart16550_iir(u) & IIR_NO_INT) && (u->mcr & (MCR_OUT2 | MCR_LOOP)) == MCR_OUT2;
}

unsigned vuart16550_rx_room(const struct vuart16550 *u)
{
    return u->mcr & MCR_LOOP ? 0 : rx_capacity(u) - u->rx_count;
}

static void rx_put(struct vuart16550 *u, uint8_t c)
{
    if (u->rx_count < rx_capacity(u)) {
        u->rx[(u->rx_head + u->rx_count++) % U16550_FIFO] = c;
        return;
    }
    u->lsr_err |= LSR_OE;
    if (!fifo_on(u))
        u->rx[u->rx_head] = c;              /* 16450 mode: the new byte replaces RBR */
}

static void rx_clear(struct vuart16550 *u)
{
    u->rx_head = u->rx_count = 0;
}

static void done(const struct vuart16550 *u, struct vuart16550_out *out)
{
    out->irq = vuart16550_irq(u);
}

bool vuart16550_rx_push(struct vuart16550 *u, uint8_t c, struct vuart16550_out *out)
{
    out->tx_valid = false;
    bool ok = vuart16550_rx_room(u) > 0;
    if (ok)
        rx_put(u, c);
    done(u, out);
    return ok;
}

uint8_t vuart16550_read(struct vuart16550 *u, unsigned reg, struct vuart16550_out *out)
{
    bool dlab = u->lcr & LCR_DLAB;
    uint8_t v;
    out->tx_valid = false;
    switch (reg) {
    case U16550_RBR:
        if (dlab) {
            v = u->dll;
        } else {
            if (u->rx_count) {
                u->rbr = u->rx[u->rx_head];
                u->rx_head = (uint8_t)((u->rx_head + 1) % U16550_FIFO);
                u->rx_count--;
            }
            v = u->rbr;
        }
        break;
    case U16550_IER:
        v = dlab ? u->dlm : u->ier;
        break;
    case U16550_IIR:
        v = vuart16550_iir(u);
        if ((v & 0x0F) == IIR_THRI)
            u->thri = false;
        break;
    case U16550_LCR:
        v = u->lcr;
        break;
    case U16550_MCR:
        v = u->mcr;
        break;
    case U16550_LSR:
        v = (uint8_t)(u->lsr_err | LSR_THRE | LSR_TEMT | (u->rx_count ? LSR_DR : 0));
        u->lsr_err = 0;
        break;
    case U16550_MSR:
        v = u->msr;
        u->msr &= (uint8_t)~MSR_DELTAS;
        break;
    case U16550_SCR:
        v = u->scr;
        break;
    default:
        v = 0xFF;
        break;
    }
    done(u, out);
    return v;
}

static void transmit(struct vuart16550 *u, uint8_t c, struct vuart16550_out *out)
{
    if (u->mcr & MCR_LOOP) {
        rx_put(u, c);
    } else {
        out->tx_valid = true;
        out->tx = c;
    }
    u->thri = true;         /* THR emptied at once */
}

static void write_fcr(struct vuart16550 *u, uint8_t val)
{
    if ((val ^ u->fcr) & FCR_ENABLE)
        rx_clear(u);        /* changing the mode resets the FIFOs */
    if (!(val & FCR_ENABLE)) {
        u->fcr = 0;         /* the other bits are written only with FCR0 set */
        return;
    }
    if (val & FCR_CLEAR_RX)
        rx_clear(u);
    u->fcr = val & (FCR_ENABLE | 3u << FCR_TRIGGER_SHIFT);
}

void vuart16550_write(struct vuart16550 *u, unsigned reg, uint8_t val,
                      struct vuart16550_out *out)
{
    bool dlab = u->lcr & LCR_DLAB;
    out->tx_valid = false;
    switch (reg) {
    case U16550_RBR:
        if (dlab) {
            u->dll = val;
        } else {
            u->thri = false;
            transmit(u, val, out);
        }
        break;
    case U16550_IER:
        if (dlab) {
            u->dlm = val;
        } else {
            if ((val & IER_ETBEI) && !(u->ier & IER_ETBEI))
                u->thri = true;     /* THR is empty */
            u->ier = val & 0x0F;
        }
        break;
    case U16550_IIR:
        write_fcr(u, val);
        break;
    case U16550_LCR:
        u->lcr = val;
        break;
    case U16550_MCR:
        u->mcr = val & 0x1F;
        update_msr(u);
        break;
    case U16550_SCR:
        u->scr = val;
        break;
    default:
        break;              /* LSR and MSR: read-only */
    }
    done(u, out);
}
