/* kernel/dev/vpic.c: the 8259A pair against the 8259A datasheet and what Linux/SeaBIOS write. */
#include "check.h"
#include "kernel/dev/vpic.h"

static struct vpic p;

static void out8(uint16_t port, uint8_t v) { vpic_write(&p, port, v); }
static uint8_t in8(uint16_t port) { return vpic_read(&p, port); }

/* The sequence of Linux's init_8259A() and SeaBIOS's pic_setup(), with the given bases. */
static void init_pair(uint8_t mbase, uint8_t sbase)
{
    vpic_reset(&p);
    out8(PIC_MASTER_DATA, 0xFF);
    out8(PIC_SLAVE_DATA, 0xFF);
    out8(PIC_MASTER_CMD, 0x11);     /* ICW1: edge, cascade, ICW4 needed */
    out8(PIC_MASTER_DATA, mbase);   /* ICW2 */
    out8(PIC_MASTER_DATA, 0x04);    /* ICW3: slave on IR2 */
    out8(PIC_MASTER_DATA, 0x01);    /* ICW4: 8086 mode */
    out8(PIC_SLAVE_CMD, 0x11);
    out8(PIC_SLAVE_DATA, sbase);
    out8(PIC_SLAVE_DATA, 0x02);     /* ICW3: cascade identity 2 */
    out8(PIC_SLAVE_DATA, 0x01);
    out8(PIC_MASTER_DATA, 0x00);    /* everything unmasked */
    out8(PIC_SLAVE_DATA, 0x00);
}

static void pulse(unsigned irq)
{
    vpic_set_irq(&p, irq, true);
    vpic_set_irq(&p, irq, false);
}

static void test_reset(void)
{
    vpic_reset(&p);
    CHECK_EQ_U64(in8(PIC_MASTER_DATA), 0xFF);
    CHECK_EQ_U64(in8(PIC_SLAVE_DATA), 0xFF);
    CHECK_EQ_U64(in8(PIC_MASTER_CMD), 0);       /* IRR */
    CHECK_EQ_U64(in8(PIC_ELCR1), 0);
    CHECK_EQ_U64(in8(PIC_ELCR2), 0);
    vpic_set_irq(&p, 0, true);
    CHECK(!vpic_intr(&p));                      /* masked until initialised */
    CHECK_EQ_U64(in8(PIC_MASTER_CMD), 0x01);    /* but requested */
    CHECK_EQ_U64(in8(0x22), 0xFF);
    CHECK(!vpic_port(0x22) && vpic_port(0x20) && vpic_port(0xA1) && vpic_port(0x4D1));
}

static void test_init_sequence(void)
{
    init_pair(0x20, 0x28);
    CHECK_EQ_U64(p.chip[0].base, 0x20);
    CHECK_EQ_U64(p.chip[1].base, 0x28);
    CHECK_EQ_U64(p.chip[0].icw3, 0x04);
    CHECK_EQ_U64(p.chip[1].icw3, 0x02);
    CHECK_EQ_U64(p.chip[0].icw4, 0x01);
    CHECK_EQ_U64(p.chip[0].init_step, 0);
    out8(PIC_MASTER_DATA, 0xFB);
    CHECK_EQ_U64(in8(PIC_MASTER_DATA), 0xFB);   /* OCW1 after init goes to IMR */
    /* ICW2's low 3 bits are not part of the base (x86 mode) */
    init_pair(0x0F, 0x77);
    CHECK_EQ_U64(p.chip[0].base, 0x08);
    CHECK_EQ_U64(p.chip[1].base, 0x70);
    pulse(1);
    CHECK_EQ_U64(vpic_ack(&p), 0x09);            /* SeaBIOS's keyboard vector */
    /* ICW1 without IC4: ICW2 ends the sequence and ICW4 functions (auto-EOI) are cleared */
    out8(PIC_MASTER_CMD, 0x11);
    out8(PIC_MASTER_DATA, 0x30);
    out8(PIC_MASTER_DATA, 0x04);
    out8(PIC_MASTER_DATA, 0x03);                /* auto-EOI */
    CHECK_EQ_U64(p.chip[0].icw4, 0x03);
    out8(PIC_MASTER_CMD, 0x10);
    CHECK_EQ_U64(p.chip[0].icw4, 0);
    out8(PIC_MASTER_DATA, 0x40);
    CHECK_EQ_U64(p.chip[0].base, 0x40);
    CHECK_EQ_U64(p.chip[0].init_step, 3);       /* cascade mode still wants ICW3 */
    out8(PIC_MASTER_DATA, 0x04);
    CHECK_EQ_U64(p.chip[0].init_step, 0);
    out8(PIC_MASTER_DATA, 0xAA);
    CHECK_EQ_U64(in8(PIC_MASTER_DATA), 0xAA);
    /* single mode: no ICW3 */
    out8(PIC_MASTER_CMD, 0x13);
    CHECK_EQ_U64(in8(PIC_MASTER_DATA), 0x00);   /* ICW1 clears IMR */
    out8(PIC_MASTER_DATA, 0x50);
    CHECK_EQ_U64(p.chip[0].init_step, 4);
    out8(PIC_MASTER_DATA, 0x01);
    CHECK_EQ_U64(p.chip[0].init_step, 0);
}

static void test_edge_and_eoi(void)
{
    init_pair(0x20, 0x28);
    CHECK(!vpic_intr(&p));
    vpic_set_irq(&p, 0, true);
    CHECK(vpic_intr(&p));
    CHECK_EQ_U64(vpic_ack(&p), 0x20);
    CHECK(!vpic_intr(&p));
    out8(PIC_MASTER_CMD, 0x0B);                 /* OCW3: read ISR */
    CHECK_EQ_U64(in8(PIC_MASTER_CMD), 0x01);
    out8(PIC_MASTER_CMD, 0x0A);                 /* OCW3: read IRR */
    CHECK_EQ_U64(in8(PIC_MASTER_CMD), 0x00);    /* consumed by INTA */
    /* the line stays high: no new edge; low-high: a new request held back by ISR */
    vpic_set_irq(&p, 0, true);
    CHECK_EQ_U64(in8(PIC_MASTER_CMD), 0x00);
    vpic_set_irq(&p, 0, false);
    vpic_set_irq(&p, 0, true);
    CHECK_EQ_U64(in8(PIC_MASTER_CMD), 0x01);
    CHECK(!vpic_intr(&p));
    out8(PIC_MASTER_CMD, 0x20);                 /* non-specific EOI */
    CHECK(vpic_intr(&p));
    CHECK_EQ_U64(vpic_ack(&p), 0x20);
    out8(PIC_MASTER_CMD, 0x20);
    /* an edge that falls before INTA is still delivered (latched) */
    pulse(3);
    CHECK(vpic_intr(&p));
    CHECK_EQ_U64(vpic_ack(&p), 0x23);
    out8(PIC_MASTER_CMD, 0x63);                 /* specific EOI 3 */
    out8(PIC_MASTER_CMD, 0x0B);
    CHECK_EQ_U64(in8(PIC_MASTER_CMD), 0x00);
    /* masking holds a request back; unmasking delivers it */
    out8(PIC_MASTER_DATA, 0x10);
    pulse(4);
    CHECK(!vpic_intr(&p));
    out8(PIC_MASTER_DATA, 0x00);
    CHECK(vpic_intr(&p));
    CHECK_EQ_U64(vpic_ack(&p), 0x24);
}

static void test_priority(void)
{
    init_pair(0x20, 0x28);
    pulse(3);
    pulse(1);
    CHECK_EQ_U64(vpic_ack(&p), 0x21);           /* IR1 before IR3 */
    CHECK(!vpic_intr(&p));                      /* IR3 waits for IR1's EOI */
    pulse(0);
    CHECK(vpic_intr(&p));                       /* a higher level nests */
    CHECK_EQ_U64(vpic_ack(&p), 0x20);
    out8(PIC_MASTER_CMD, 0x0B);
    CHECK_EQ_U64(in8(PIC_MASTER_CMD), 0x03);
    out8(PIC_MASTER_CMD, 0x20);                 /* non-specific EOI ends IR0 (highest) */
    CHECK_EQ_U64(in8(PIC_MASTER_CMD), 0x02);
    CHECK(!vpic_intr(&p));
    out8(PIC_MASTER_CMD, 0x20);
    CHECK_EQ_U64(in8(PIC_MASTER_CMD), 0x00);
    CHECK(vpic_intr(&p));
    CHECK_EQ_U64(vpic_ack(&p), 0x23);
    out8(PIC_MASTER_CMD, 0x20);
    /* specific EOI of a level not in service changes nothing else */
    pulse(5);
    CHECK_EQ_U64(vpic_ack(&p), 0x25);
    out8(PIC_MASTER_CMD, 0x66);
    out8(PIC_MASTER_CMD, 0x0B);
    CHECK_EQ_U64(in8(PIC_MASTER_CMD), 0x20);
    out8(PIC_MASTER_CMD, 0x65);
    CHECK_EQ_U64(in8(PIC_MASTER_CMD), 0x00);
}

static void test_rotation(void)
{
    init_pair(0x20, 0x28);
    out8(PIC_MASTER_CMD, 0xC4);                 /* set priority: IR4 lowest, IR5 highest */
    pulse(3);
    pulse(6);
    CHECK_EQ_U64(vpic_ack(&p), 0x26);
    out8(PIC_MASTER_CMD, 0x20);
    CHECK_EQ_U64(vpic_ack(&p), 0x23);
    out8(PIC_MASTER_CMD, 0x20);
    /* rotate on non-specific EOI: the level just ended becomes lowest */
    out8(PIC_MASTER_CMD, 0xC7);
    pulse(1);
    CHECK_EQ_U64(vpic_ack(&p), 0x21);
    out8(PIC_MASTER_CMD, 0xA0);
    CHECK_EQ_U64(p.chip[0].lowest, 1);
    pulse(1);
    pulse(7);
    CHECK_EQ_U64(vpic_ack(&p), 0x27);           /* IR2..IR7, IR0, IR1 now */
    /* rotate on specific EOI */
    out8(PIC_MASTER_CMD, 0xE7);
    CHECK_EQ_U64(p.chip[0].lowest, 7);
    CHECK_EQ_U64(vpic_ack(&p), 0x21);
    out8(PIC_MASTER_CMD, 0x20);
    /* OCW2 no-op (010) changes nothing */
    out8(PIC_MASTER_CMD, 0x40);
    CHECK_EQ_U64(p.chip[0].lowest, 7);
}

static void test_auto_eoi(void)
{
    vpic_reset(&p);
    out8(PIC_MASTER_CMD, 0x11);
    out8(PIC_MASTER_DATA, 0x20);
    out8(PIC_MASTER_DATA, 0x04);
    out8(PIC_MASTER_DATA, 0x03);                /* 8086, auto-EOI */
    out8(PIC_MASTER_DATA, 0x00);
    pulse(0);
    CHECK_EQ_U64(vpic_ack(&p), 0x20);
    out8(PIC_MASTER_CMD, 0x0B);
    CHECK_EQ_U64(in8(PIC_MASTER_CMD), 0x00);    /* no ISR bit */
    pulse(0);
    CHECK(vpic_intr(&p));                       /* no EOI needed */
    CHECK_EQ_U64(vpic_ack(&p), 0x20);
    /* rotate in auto-EOI mode */
    out8(PIC_MASTER_CMD, 0x80);
    pulse(0);
    CHECK_EQ_U64(vpic_ack(&p), 0x20);
    CHECK_EQ_U64(p.chip[0].lowest, 0);
    pulse(0);
    pulse(1);
    CHECK_EQ_U64(vpic_ack(&p), 0x21);           /* IR0 is now lowest */
    CHECK_EQ_U64(p.chip[0].lowest, 1);
    CHECK_EQ_U64(vpic_ack(&p), 0x20);
    out8(PIC_MASTER_CMD, 0x00);                 /* clear rotate in AEOI */
    CHECK(!p.chip[0].rotate_aeoi);
}

static void test_cascade(void)
{
    init_pair(0x20, 0x28);
    vpic_set_irq(&p, 8, true);
    CHECK(vpic_intr(&p));
    CHECK_EQ_U64(vpic_ack(&p), 0x28);
    out8(PIC_MASTER_CMD, 0x0B);
    out8(PIC_SLAVE_CMD, 0x0B);
    CHECK_EQ_U64(in8(PIC_MASTER_CMD), 0x04);
    CHECK_EQ_U64(in8(PIC_SLAVE_CMD), 0x01);
    pulse(12);
    CHECK(!vpic_intr(&p));                      /* master IR2 in service */
    out8(PIC_SLAVE_CMD, 0x20);
    CHECK(!vpic_intr(&p));
    out8(PIC_MASTER_CMD, 0x20);
    CHECK(vpic_intr(&p));
    CHECK_EQ_U64(vpic_ack(&p), 0x2C);
    out8(PIC_SLAVE_CMD, 0x20);
    out8(PIC_MASTER_CMD, 0x20);
    /* master IR1 outranks the whole slave; the slave outranks IR3 */
    pulse(3);
    pulse(14);
    pulse(1);
    CHECK_EQ_U64(vpic_ack(&p), 0x21);
    out8(PIC_MASTER_CMD, 0x20);
    CHECK_EQ_U64(vpic_ack(&p), 0x2E);
    out8(PIC_SLAVE_CMD, 0x20);
    out8(PIC_MASTER_CMD, 0x20);
    CHECK_EQ_U64(vpic_ack(&p), 0x23);
    out8(PIC_MASTER_CMD, 0x20);
    /* a slave masked by the master's IMR bit 2 */
    out8(PIC_MASTER_DATA, 0x04);
    pulse(9);
    CHECK(!vpic_intr(&p));
    out8(PIC_MASTER_DATA, 0x00);
    CHECK_EQ_U64(vpic_ack(&p), 0x29);
    /* driving IRQ2 itself does nothing: it is the cascade */
    out8(PIC_SLAVE_CMD, 0x20);
    out8(PIC_MASTER_CMD, 0x20);
    pulse(2);
    CHECK(!vpic_intr(&p));
}

static void test_sfnm(void)
{
    /* slave IR1 (IRQ9) in service, then IRQ8 (higher on the slave) arrives: without special
     * fully nested mode the master's IR2 in service blocks it, with SFNM it nests */
    for (int sfnm = 0; sfnm < 2; sfnm++) {
        init_pair(0x20, 0x28);
        if (sfnm) {
            out8(PIC_MASTER_CMD, 0x11);
            out8(PIC_MASTER_DATA, 0x20);
            out8(PIC_MASTER_DATA, 0x04);
            out8(PIC_MASTER_DATA, 0x11);
            out8(PIC_MASTER_DATA, 0x00);
        }
        pulse(9);
        CHECK_EQ_U64(vpic_ack(&p), 0x29);
        pulse(8);
        CHECK_EQ_U64(vpic_intr(&p), sfnm);
        if (sfnm)
            CHECK_EQ_U64(vpic_ack(&p), 0x28);
    }
}

static void test_spurious(void)
{
    init_pair(0x20, 0x28);
    /* a level request that goes away before INTA: default IR7, no ISR bit */
    out8(PIC_ELCR1, 0x20);
    vpic_set_irq(&p, 5, true);
    CHECK(vpic_intr(&p));
    vpic_set_irq(&p, 5, false);
    CHECK_EQ_U64(vpic_ack(&p), 0x27);
    out8(PIC_MASTER_CMD, 0x0B);
    CHECK_EQ_U64(in8(PIC_MASTER_CMD), 0x00);
    CHECK_EQ_U64(p.spurious, 1);
    /* an edge request masked before INTA: the same; the request stays in IRR */
    pulse(4);
    CHECK(vpic_intr(&p));
    out8(PIC_MASTER_DATA, 0x10);
    CHECK_EQ_U64(vpic_ack(&p), 0x27);
    CHECK_EQ_U64(in8(PIC_MASTER_CMD), 0x00);
    out8(PIC_MASTER_CMD, 0x0A);
    CHECK_EQ_U64(in8(PIC_MASTER_CMD), 0x10);
    out8(PIC_MASTER_DATA, 0x00);
    CHECK_EQ_U64(vpic_ack(&p), 0x24);
    out8(PIC_MASTER_CMD, 0x20);
    /* a real IR7 does set ISR bit 7: software tells them apart that way */
    pulse(7);
    CHECK_EQ_U64(vpic_ack(&p), 0x27);
    out8(PIC_MASTER_CMD, 0x0B);
    CHECK_EQ_U64(in8(PIC_MASTER_CMD), 0x80);
    out8(PIC_MASTER_CMD, 0x20);
    /* spurious IRQ 15: the slave's level request vanishes; the master's IR2 is in service */
    out8(PIC_ELCR2, 0x04);
    vpic_set_irq(&p, 10, true);
    CHECK(vpic_intr(&p));
    vpic_set_irq(&p, 10, false);
    CHECK_EQ_U64(vpic_ack(&p), 0x2F);
    out8(PIC_SLAVE_CMD, 0x0B);
    CHECK_EQ_U64(in8(PIC_SLAVE_CMD), 0x00);
    CHECK_EQ_U64(in8(PIC_MASTER_CMD), 0x04);
    /* INTA with nothing at all */
    out8(PIC_MASTER_CMD, 0x20);
    CHECK(!vpic_intr(&p));
    CHECK_EQ_U64(vpic_ack(&p), 0x27);
}

static void test_poll(void)
{
    init_pair(0x20, 0x28);
    out8(PIC_MASTER_DATA, 0xFF);                /* polling works with INTR masked off */
    out8(PIC_MASTER_CMD, 0x0C);                 /* OCW3: poll */
    CHECK_EQ_U64(in8(PIC_MASTER_CMD), 0x00);    /* nothing pending (IMR masks requests) */
    out8(PIC_MASTER_DATA, 0x00);
    pulse(6);
    pulse(3);
    out8(PIC_MASTER_CMD, 0x0C);
    CHECK_EQ_U64(in8(PIC_MASTER_CMD), 0x83);    /* I bit and the level; acts as INTA */
    CHECK_EQ_U64(in8(PIC_MASTER_CMD), 0x40);    /* poll is one-shot: IRR read again */
    out8(PIC_MASTER_CMD, 0x0B);
    CHECK_EQ_U64(in8(PIC_MASTER_CMD), 0x08);
    out8(PIC_MASTER_CMD, 0x20);
    out8(PIC_MASTER_CMD, 0x0C);
    CHECK_EQ_U64(in8(PIC_MASTER_DATA), 0x86);   /* the data port answers a poll too */
    out8(PIC_MASTER_CMD, 0x20);
    /* polling the cascade: the master says 2, the slave then gives its level */
    pulse(11);
    out8(PIC_MASTER_CMD, 0x0C);
    CHECK_EQ_U64(in8(PIC_MASTER_CMD), 0x82);
    out8(PIC_SLAVE_CMD, 0x0C);
    CHECK_EQ_U64(in8(PIC_SLAVE_CMD), 0x83);
    out8(PIC_SLAVE_CMD, 0x0B);
    CHECK_EQ_U64(in8(PIC_SLAVE_CMD), 0x08);
}

static void test_special_mask(void)
{
    init_pair(0x20, 0x28);
    pulse(3);
    CHECK_EQ_U64(vpic_ack(&p), 0x23);
    pulse(5);
    CHECK(!vpic_intr(&p));                      /* IR5 is below IR3 in service */
    out8(PIC_MASTER_DATA, 0x08);                /* mask IR3 */
    out8(PIC_MASTER_CMD, 0x68);                 /* OCW3: set special mask mode */
    CHECK(vpic_intr(&p));
    CHECK_EQ_U64(vpic_ack(&p), 0x25);
    pulse(5);
    CHECK(!vpic_intr(&p));                      /* its own ISR bit still blocks */
    out8(PIC_MASTER_CMD, 0x65);
    CHECK(vpic_intr(&p));
    out8(PIC_MASTER_CMD, 0x48);                 /* reset special mask mode */
    CHECK(!vpic_intr(&p));                      /* ISR3 blocks again */
    out8(PIC_MASTER_CMD, 0x63);
    CHECK(vpic_intr(&p));
    /* OCW3 without ESMM leaves the mode alone */
    out8(PIC_MASTER_CMD, 0x68);
    out8(PIC_MASTER_CMD, 0x28);
    CHECK(p.chip[0].special_mask);
}

static void test_elcr_level(void)
{
    init_pair(0x20, 0x28);
    out8(PIC_ELCR1, 0xFF);
    out8(PIC_ELCR2, 0xFF);
    CHECK_EQ_U64(in8(PIC_ELCR1), 0xF8);         /* IRQ0-2 always edge */
    CHECK_EQ_U64(in8(PIC_ELCR2), 0xDE);         /* IRQ8 and IRQ13 always edge */
    out8(PIC_ELCR2, 0x00);
    out8(PIC_ELCR1, 0x08);                      /* IRQ3 level */
    vpic_set_irq(&p, 3, true);
    CHECK_EQ_U64(vpic_ack(&p), 0x23);
    CHECK_EQ_U64(in8(PIC_MASTER_CMD), 0x08);    /* IRR follows the line */
    out8(PIC_MASTER_CMD, 0x20);
    CHECK(vpic_intr(&p));                       /* still high: requests again */
    CHECK_EQ_U64(vpic_ack(&p), 0x23);
    vpic_set_irq(&p, 3, false);
    out8(PIC_MASTER_CMD, 0x20);
    CHECK(!vpic_intr(&p));
    /* edge: a line held high is one request only */
    vpic_set_irq(&p, 4, true);
    CHECK_EQ_U64(vpic_ack(&p), 0x24);
    out8(PIC_MASTER_CMD, 0x20);
    CHECK(!vpic_intr(&p));
    /* switching a high line to level makes it a request */
    out8(PIC_ELCR1, 0x18);
    CHECK(vpic_intr(&p));
}

static void test_icw1_edge_reset(void)
{
    init_pair(0x20, 0x28);
    out8(PIC_ELCR1, 0x40);                      /* IRQ6 level */
    vpic_set_irq(&p, 4, true);
    CHECK_EQ_U64(vpic_ack(&p), 0x24);
    vpic_set_irq(&p, 6, true);
    out8(PIC_MASTER_CMD, 0x11);                 /* re-init with both lines high */
    out8(PIC_MASTER_DATA, 0x20);
    out8(PIC_MASTER_DATA, 0x04);
    out8(PIC_MASTER_DATA, 0x01);
    CHECK_EQ_U64(in8(PIC_MASTER_CMD), 0x40);    /* the edge line needs a new edge */
    CHECK_EQ_U64(vpic_ack(&p), 0x26);
    vpic_set_irq(&p, 4, false);
    vpic_set_irq(&p, 4, true);
    CHECK_EQ_U64(in8(PIC_MASTER_CMD), 0x50);
}

int main(void)
{
    RUN(test_reset);
    RUN(test_init_sequence);
    RUN(test_edge_and_eoi);
    RUN(test_priority);
    RUN(test_rotation);
    RUN(test_auto_eoi);
    RUN(test_cascade);
    RUN(test_sfnm);
    RUN(test_spurious);
    RUN(test_poll);
    RUN(test_special_mask);
    RUN(test_elcr_level);
    RUN(test_icw1_edge_reset);
    return check_summary("vpic");
}
