/* kernel/dev/vuart16550.c: the 16550A register model. Expectations from the PC16550D datasheet:
 * reset values, DLAB, FCR/trigger levels, IIR priorities and how each source is cleared, THRE
 * semantics, overrun, loopback wiring of MCR to MSR with the delta bits, OUT2 gating. */
#include "check.h"
#include "kernel/dev/vuart16550.h"

static struct vuart16550 U;
static struct vuart16550_out O;

static uint8_t rd(unsigned reg) { return vuart16550_read(&U, reg, &O); }
static void wr(unsigned reg, uint8_t v) { vuart16550_write(&U, reg, v, &O); }
static bool push(uint8_t c) { return vuart16550_rx_push(&U, c, &O); }

static void test_reset_and_dlab(void)
{
    vuart16550_reset(&U);
    CHECK_EQ_U64(rd(U16550_IER), 0);
    CHECK_EQ_U64(rd(U16550_IIR), IIR_NO_INT);
    CHECK_EQ_U64(rd(U16550_LCR), 0x03);
    CHECK_EQ_U64(rd(U16550_MCR), 0);
    CHECK_EQ_U64(rd(U16550_LSR), LSR_THRE | LSR_TEMT);
    CHECK_EQ_U64(rd(U16550_MSR), MSR_CTS | MSR_DSR | MSR_DCD);
    CHECK(!O.irq);
    /* Divisor latch: 115200 / 9600 = 12. */
    wr(U16550_LCR, 0x83);
    wr(U16550_RBR, 12);
    wr(U16550_IER, 0);
    CHECK_EQ_U64(rd(U16550_RBR), 12);
    CHECK_EQ_U64(rd(U16550_IER), 0);
    CHECK(!O.tx_valid);                      /* a DLL write transmits nothing */
    wr(U16550_LCR, 0x03);
    CHECK_EQ_U64(U.dll, 12);
    wr(U16550_IER, 0xFF);
    CHECK_EQ_U64(rd(U16550_IER), 0x0F);      /* bits 7:4 read 0 */
    wr(U16550_SCR, 0xA5);
    CHECK_EQ_U64(rd(U16550_SCR), 0xA5);
    wr(U16550_MCR, 0xFF);
    CHECK_EQ_U64(rd(U16550_MCR), 0x1F);
    /* LSR and MSR writes are ignored. */
    vuart16550_reset(&U);
    wr(U16550_LSR, 0x00);
    wr(U16550_MSR, 0x00);
    CHECK_EQ_U64(rd(U16550_LSR), LSR_THRE | LSR_TEMT);
    CHECK_EQ_U64(rd(U16550_MSR), 0xB0);
}

static void test_transmit_and_thre(void)
{
    vuart16550_reset(&U);
    wr(U16550_RBR, 'A');
    CHECK(O.tx_valid && O.tx == 'A');
    CHECK_EQ_U64(rd(U16550_LSR), LSR_THRE | LSR_TEMT);
    /* Enabling ETBEI with THR empty: THRE interrupt, gated by OUT2 on a PC. */
    wr(U16550_IER, IER_ETBEI);
    CHECK(!O.irq);
    CHECK_EQ_U64(vuart16550_iir(&U), IIR_THRI);
    wr(U16550_MCR, MCR_OUT2 | MCR_DTR | MCR_RTS);
    CHECK(O.irq);
    /* Reading IIR that reports THRE clears it. */
    CHECK_EQ_U64(rd(U16550_IIR), IIR_THRI);
    CHECK(!O.irq);
    CHECK_EQ_U64(rd(U16550_IIR), IIR_NO_INT);
    /* Writing THR: the byte leaves, THR empties, THRE is pending again. */
    wr(U16550_RBR, 'B');
    CHECK(O.tx_valid && O.tx == 'B' && O.irq);
    /* Linux's THRE test: IER=0 then IER=ETBEI raises it again; ETBEI off masks it. */
    rd(U16550_IIR);
    wr(U16550_IER, 0);
    CHECK(!O.irq);
    wr(U16550_IER, IER_ETBEI);
    CHECK(O.irq);
    wr(U16550_IER, 0);
    CHECK(!O.irq);
    /* Writing IER with ETBEI already set does not re-raise it. */
    wr(U16550_IER, IER_ETBEI);
    rd(U16550_IIR);
    wr(U16550_IER, IER_ETBEI | IER_ERBFI);
    CHECK(!O.irq);
}

static void test_receive_fifo(void)
{
    vuart16550_reset(&U);
    wr(U16550_MCR, MCR_OUT2);
    wr(U16550_IER, IER_ERBFI);
    /* 16450 mode: one byte of room. */
    CHECK(push('x'));
    CHECK(O.irq);
    CHECK_EQ_U64(rd(U16550_IIR), IIR_RDI);
    CHECK_EQ_U64(vuart16550_rx_room(&U), 0);
    CHECK(!push('y'));
    CHECK_EQ_U64(rd(U16550_LSR), LSR_DR | LSR_THRE | LSR_TEMT);
    CHECK_EQ_U64(rd(U16550_RBR), 'x');
    CHECK(!O.irq);
    CHECK_EQ_U64(rd(U16550_LSR), LSR_THRE | LSR_TEMT);
    CHECK_EQ_U64(rd(U16550_RBR), 'x');       /* empty: the last byte again */
    /* FIFO mode, trigger 8. */
    wr(U16550_IIR, FCR_ENABLE | FCR_CLEAR_RX | FCR_CLEAR_TX | 2u << FCR_TRIGGER_SHIFT);
    CHECK_EQ_U64(rd(U16550_IIR), IIR_FIFO_ENABLED | IIR_NO_INT);
    for (int i = 0; i < 7; i++)
        CHECK(push((uint8_t)('a' + i)));
    CHECK_EQ_U64(vuart16550_iir(&U), IIR_FIFO_ENABLED | IIR_CTI);   /* below the trigger */
    CHECK(push('h'));
    CHECK_EQ_U64(vuart16550_iir(&U), IIR_FIFO_ENABLED | IIR_RDI);
    for (int i = 8; i < 16; i++)
        CHECK(push((uint8_t)('a' + i)));
    CHECK(!push('!'));
    CHECK_EQ_U64(rd(U16550_LSR) & LSR_OE, 0);    /* refused input is not an overrun */
    for (int i = 0; i < 16; i++)
        CHECK_EQ_U64(rd(U16550_RBR), 'a' + i);
    CHECK(!O.irq);
    /* The trigger levels 1, 4, 8, 14. */
    const unsigned lv[4] = { 1, 4, 8, 14 };
    for (unsigned t = 0; t < 4; t++) {
        wr(U16550_IIR, (uint8_t)(FCR_ENABLE | FCR_CLEAR_RX | t << FCR_TRIGGER_SHIFT));
        for (unsigned i = 0; i < lv[t]; i++) {
            CHECK(i == 0 || vuart16550_iir(&U) == (IIR_FIFO_ENABLED | IIR_CTI));
            push('z');
        }
        CHECK_EQ_U64(vuart16550_iir(&U), IIR_FIFO_ENABLED | IIR_RDI);
    }
    /* FCR clear-RX empties the FIFO; disabling the FIFO empties it too. */
    wr(U16550_IIR, FCR_ENABLE | FCR_CLEAR_RX);
    CHECK_EQ_U64(rd(U16550_LSR) & LSR_DR, 0);
    push('q');
    wr(U16550_IIR, 0);
    CHECK_EQ_U64(rd(U16550_LSR) & LSR_DR, 0);
    CHECK_EQ_U64(rd(U16550_IIR), IIR_NO_INT);
}

static void test_priorities_and_loopback(void)
{
    vuart16550_reset(&U);
    wr(U16550_IIR, FCR_ENABLE);                  /* trigger 1 */
    wr(U16550_IER, 0x0F);
    /* Loopback: MCR outputs appear on MSR, with deltas. */
    wr(U16550_MCR, MCR_LOOP);
    CHECK_EQ_U64(U.msr, MSR_DCTS | MSR_DDSR | MSR_DDCD);   /* CTS, DSR, DCD dropped */
    CHECK(!O.irq);                               /* OUT2 forced off in loopback */
    CHECK_EQ_U64(vuart16550_iir(&U), IIR_FIFO_ENABLED | IIR_THRI);   /* ETBEI edge */
    wr(U16550_MCR, MCR_LOOP | MCR_OUT2);
    CHECK(!O.irq);                               /* even with OUT2 written as 1 */
    CHECK(!vuart16550_irq(&U));
    wr(U16550_MCR, MCR_LOOP);
    wr(U16550_MCR, MCR_LOOP | MCR_RTS | MCR_DTR | MCR_OUT1 | MCR_OUT2);
    CHECK_EQ_U64(rd(U16550_MSR), 0xF0 | MSR_DCTS | MSR_DDSR | MSR_DDCD);
    CHECK_EQ_U64(rd(U16550_MSR), 0xF0);          /* deltas clear on read */
    wr(U16550_MCR, MCR_LOOP | MCR_RTS | MCR_DTR | MCR_OUT2);
    CHECK_EQ_U64(rd(U16550_MSR), 0xB0 | MSR_TERI);      /* RI trailing edge */
    wr(U16550_MCR, MCR_LOOP | MCR_RTS | MCR_DTR | MCR_OUT1 | MCR_OUT2);
    CHECK_EQ_U64(rd(U16550_MSR), 0xF0);          /* RI rising: no TERI */
    /* External input is refused in loopback; transmitted bytes come back. */
    CHECK(!push('e'));
    for (int i = 0; i < 16; i++) {
        wr(U16550_RBR, (uint8_t)i);
        CHECK(!O.tx_valid);
    }
    CHECK_EQ_U64(vuart16550_iir(&U), IIR_FIFO_ENABLED | IIR_RDI);
    wr(U16550_RBR, 99);                          /* FIFO full: overrun */
    /* Priority: line status first, then data, then THRE, then modem status. */
    wr(U16550_MCR, MCR_LOOP);                    /* makes modem deltas too */
    CHECK_EQ_U64(vuart16550_iir(&U), IIR_FIFO_ENABLED | IIR_RLSI);
    CHECK_EQ_U64(rd(U16550_LSR), LSR_OE | LSR_DR | LSR_THRE | LSR_TEMT);
    CHECK_EQ_U64(vuart16550_iir(&U), IIR_FIFO_ENABLED | IIR_RDI);
    for (int i = 0; i < 16; i++)
        CHECK_EQ_U64(rd(U16550_RBR), i);         /* the overrun byte was lost */
    CHECK_EQ_U64(rd(U16550_IIR), IIR_FIFO_ENABLED | IIR_THRI);
    CHECK_EQ_U64(rd(U16550_IIR), IIR_FIFO_ENABLED | IIR_MSI);
    rd(U16550_MSR);
    CHECK_EQ_U64(rd(U16550_IIR), IIR_FIFO_ENABLED | IIR_NO_INT);
    /* Leaving loopback: the terminal's signals come back, an interrupt reaches the PC. */
    wr(U16550_MCR, MCR_OUT2);
    CHECK_EQ_U64(vuart16550_iir(&U), IIR_FIFO_ENABLED | IIR_MSI);
    CHECK(O.irq);
    CHECK_EQ_U64(rd(U16550_MSR), 0xB0 | MSR_DCTS | MSR_DDSR | MSR_DDCD);
    CHECK(!O.irq);
    /* 16450 mode loopback overrun replaces RBR. */
    wr(U16550_IIR, 0);
    wr(U16550_MCR, MCR_LOOP);
    wr(U16550_RBR, 1);
    wr(U16550_RBR, 2);
    CHECK_EQ_U64(rd(U16550_LSR) & (LSR_OE | LSR_DR), LSR_OE | LSR_DR);
    CHECK_EQ_U64(rd(U16550_RBR), 2);
}

/* What Linux's 8250 autoconfig() probes: scratch, IER, the loopback MSR check, FIFO type. */
static void test_linux_autoconfig(void)
{
    vuart16550_reset(&U);
    wr(U16550_IER, 0);
    CHECK_EQ_U64(rd(U16550_IER) & 0x0F, 0);
    wr(U16550_IER, 0x0F);
    CHECK_EQ_U64(rd(U16550_IER) & 0x0F, 0x0F);
    wr(U16550_IER, 0);
    wr(U16550_MCR, MCR_LOOP | 0x0A);                 /* RTS, OUT2 */
    CHECK_EQ_U64(rd(U16550_MSR) & 0xF0, 0x90);       /* CTS, DCD */
    wr(U16550_MCR, 0);
    wr(U16550_IIR, 0xE7);                            /* FIFO on, clear, trigger 14 */
    CHECK_EQ_U64(rd(U16550_IIR) >> 6, 3);            /* 16550A */
    CHECK_EQ_U64(rd(U16550_IIR) & 0x20, 0);          /* not a 16750's 64-byte FIFO */
}

int main(void)
{
    RUN(test_reset_and_dlab);
    RUN(test_transmit_and_thre);
    RUN(test_receive_fifo);
    RUN(test_priorities_and_loopback);
    RUN(test_linux_autoconfig);
    return check_summary("vuart16550");
}
