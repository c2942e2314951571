/* Virtual 8259A pair: see vpic.h. Priorities are ranks 0 (highest) to 7 counted from the level
 * after `lowest`, so rotation is only a change of `lowest`. */
#include "kernel/dev/vpic.h"

#define NO_LEVEL 8

static uint8_t elcr_mask(unsigned chip)
{
    return chip ? PIC_ELCR2_MASK : PIC_ELCR1_MASK;
}

/* The rank of the highest-priority level set in mask, NO_LEVEL if none. */
static unsigned best_rank(const struct vpic_chip *c, uint8_t mask)
{
    for (unsigned r = 0; r < 8; r++)
        if (mask & (1u << ((c->lowest + 1 + r) & 7)))
            return r;
    return NO_LEVEL;
}

static unsigned rank_level(const struct vpic_chip *c, unsigned r)
{
    return (c->lowest + 1 + r) & 7;
}

/* The level the chip would present at INTA now, or -1. In fully nested mode a request beats
 * every level in service of lower or equal priority; in special mask mode only its own ISR bit
 * and IMR hold it back (8259A "special mask mode"). In special fully nested mode the master
 * lets the cascade through while IR2 is in service so that the slave can nest. */
static int chip_irq(const struct vpic_chip *c, bool master)
{
    uint8_t req = c->irr & ~c->imr;
    if (c->special_mask)
        req &= ~c->isr;
    unsigned r = best_rank(c, req);
    if (r == NO_LEVEL)
        return -1;
    if (!c->special_mask) {
        uint8_t in_service = c->isr;
        if (master && (c->icw4 & PIC_ICW4_SFNM))
            in_service &= ~(1u << PIC_CASCADE_IRQ);
        if (r >= best_rank(c, in_service))
            return -1;
    }
    return (int)rank_level(c, r);
}

/* An IR input changed. Edge: a rising edge latches IRR. Level (ELCR): IRR follows the line. */
static void chip_line(struct vpic_chip *c, unsigned bit, bool level)
{
    uint8_t m = (uint8_t)(1u << bit);
    if (c->elcr & m) {
        if (level)
            c->irr |= m;
        else
            c->irr &= (uint8_t)~m;
    } else if (level && !(c->lines & m)) {
        c->irr |= m;
    }
    if (level)
        c->lines |= m;
    else
        c->lines &= (uint8_t)~m;
}

/* The slave's INTR drives the master's IR2. */
static void update(struct vpic *p)
{
    chip_line(&p->chip[0], PIC_CASCADE_IRQ, chip_irq(&p->chip[1], false) >= 0);
}

/* INTA (or a poll read) for `irq`: an edge request is consumed, a level one stays while its
 * line is high; ISR is set unless auto-EOI, which may rotate instead. */
static void chip_ack(struct vpic_chip *c, unsigned irq)
{
    uint8_t m = (uint8_t)(1u << irq);
    if (!(c->elcr & m))
        c->irr &= (uint8_t)~m;
    if (c->icw4 & PIC_ICW4_AEOI) {
        if (c->rotate_aeoi)
            c->lowest = (uint8_t)irq;
    } else {
        c->isr |= m;
    }
}

static void chip_reset(struct vpic_chip *c)
{
    uint8_t lines = c->lines, elcr = c->elcr;
    *c = (struct vpic_chip){ 0 };
    c->lines = lines;
    c->elcr = elcr;
    c->imr = 0xFF;
    c->lowest = 7;
}

void vpic_reset(struct vpic *p)
{
    for (unsigned i = 0; i < 2; i++) {
        p->chip[i].lines = 0;
        p->chip[i].elcr = 0;
        chip_reset(&p->chip[i]);
    }
    p->spurious = 0;
}

void vpic_set_irq(struct vpic *p, unsigned irq, bool level)
{
    if (irq >= 16 || irq == PIC_CASCADE_IRQ)
        return;
    chip_line(&p->chip[irq >> 3], irq & 7, level);
    update(p);
}

bool vpic_intr(const struct vpic *p)
{
    return chip_irq(&p->chip[0], true) >= 0;
}

uint8_t vpic_ack(struct vpic *p)
{
    struct vpic_chip *m = &p->chip[0], *s = &p->chip[1];
    uint8_t vector;
    int irq = chip_irq(m, true);
    if (irq < 0) {
        p->spurious++;
        return (uint8_t)(m->base + 7);      /* default IR7, no ISR bit */
    }
    chip_ack(m, (unsigned)irq);
    if (irq == PIC_CASCADE_IRQ) {
        int sirq = chip_irq(s, false);
        if (sirq < 0) {
            p->spurious++;
            vector = (uint8_t)(s->base + 7);    /* spurious IRQ 15; the master's IR2 is taken */
        } else {
            chip_ack(s, (unsigned)sirq);
            vector = (uint8_t)(s->base + sirq);
        }
    } else {
        vector = (uint8_t)(m->base + irq);
    }
    update(p);
    return vector;
}

/* The poll word (OCW3 P): the read acts as an INTA on this chip alone. */
static uint8_t poll_read(struct vpic *p, unsigned chip)
{
    struct vpic_chip *c = &p->chip[chip];
    c->poll = false;
    int irq = chip_irq(c, chip == 0);
    if (irq < 0) {
        p->spurious++;
        return 0;
    }
    chip_ack(c, (unsigned)irq);
    update(p);
    return (uint8_t)(PIC_POLL_INT | irq);
}

static void write_icw1(struct vpic_chip *c, uint8_t val)
{
    /* 8259A "initialization command words": edge sense reset (a line already high must go low
     * and high again), IMR cleared, IR7 lowest, special mask off, IRR selected for reading,
     * ICW4 functions cleared when IC4 = 0. */
    c->icw1 = val;
    c->irr = c->lines & c->elcr;    /* level requests are still requests */
    c->isr = 0;
    c->imr = 0;
    c->lowest = 7;
    c->read_isr = false;
    c->poll = false;
    c->special_mask = false;
    c->rotate_aeoi = false;
    if (!(val & PIC_ICW1_IC4))
        c->icw4 = 0;
    c->init_step = 2;
}

static void write_ocw2(struct vpic_chip *c, uint8_t val)
{
    unsigned level = val & 7;
    unsigned r = best_rank(c, c->isr);
    switch (val & (PIC_OCW2_R | PIC_OCW2_SL | PIC_OCW2_EOI)) {
    case PIC_OCW2_EOI:                                  /* non-specific EOI */
        if (r != NO_LEVEL)
            c->isr &= (uint8_t)~(1u << rank_level(c, r));
        break;
    case PIC_OCW2_SL | PIC_OCW2_EOI:                    /* specific EOI */
        c->isr &= (uint8_t)~(1u << level);
        break;
    case PIC_OCW2_R | PIC_OCW2_EOI:                     /* rotate on non-specific EOI */
        if (r != NO_LEVEL) {
            unsigned irq = rank_level(c, r);
            c->isr &= (uint8_t)~(1u << irq);
            c->lowest = (uint8_t)irq;
        }
        break;
    case PIC_OCW2_R | PIC_OCW2_SL | PIC_OCW2_EOI:       /* rotate on specific EOI */
        c->isr &= (uint8_t)~(1u << level);
        c->lowest = (uint8_t)level;
        break;
    case PIC_OCW2_R:                                    /* set rotate in auto-EOI mode */
        c->rotate_aeoi = true;
        break;
    case 0:                                             /* clear rotate in auto-EOI mode */
        c->rotate_aeoi = false;
        break;
    case PIC_OCW2_R | PIC_OCW2_SL:                      /* set priority: level is lowest */
        c->lowest = (uint8_t)level;
        break;
    default:                                            /* SL alone: no operation */
        break;
    }
}

static void write_ocw3(struct vpic_chip *c, uint8_t val)
{
    if (val & PIC_OCW3_ESMM)
        c->special_mask = (val & PIC_OCW3_SMM) != 0;
    if (val & PIC_OCW3_P)
        c->poll = true;
    if (val & PIC_OCW3_RR)
        c->read_isr = (val & PIC_OCW3_RIS) != 0;
}

static void write_data(struct vpic_chip *c, uint8_t val)
{
    switch (c->init_step) {
    case 2:     /* ICW2: the vector base (T7-T3) */
        c->base = val & 0xF8;
        if (!(c->icw1 & PIC_ICW1_SNGL))
            c->init_step = 3;
        else
            c->init_step = (c->icw1 & PIC_ICW1_IC4) ? 4 : 0;
        break;
    case 3:     /* ICW3: slaves present (master) or cascade identity (slave) */
        c->icw3 = val;
        c->init_step = (c->icw1 & PIC_ICW1_IC4) ? 4 : 0;
        break;
    case 4:     /* ICW4 */
        c->icw4 = val;
        c->init_step = 0;
        break;
    default:    /* OCW1 */
        c->imr = val;
        break;
    }
}

bool vpic_port(uint16_t port)
{
    return port == PIC_MASTER_CMD || port == PIC_MASTER_DATA || port == PIC_SLAVE_CMD ||
           port == PIC_SLAVE_DATA || port == PIC_ELCR1 || port == PIC_ELCR2;
}

uint8_t vpic_read(struct vpic *p, uint16_t port)
{
    if (port == PIC_ELCR1 || port == PIC_ELCR2)
        return p->chip[port - PIC_ELCR1].elcr;
    if (!vpic_port(port))
        return 0xFF;
    unsigned chip = port >= PIC_SLAVE_CMD;
    struct vpic_chip *c = &p->chip[chip];
    if (c->poll)
        return poll_read(p, chip);
    if (port & 1)
        return c->imr;
    return c->read_isr ? c->isr : c->irr;
}

void vpic_write(struct vpic *p, uint16_t port, uint8_t val)
{
    if (port == PIC_ELCR1 || port == PIC_ELCR2) {
        unsigned chip = port - PIC_ELCR1;
        struct vpic_chip *c = &p->chip[chip];
        c->elcr = val & elcr_mask(chip);
        /* inputs now level-sensitive request while high */
        c->irr = (uint8_t)((c->irr & ~c->elcr) | (c->lines & c->elcr));
        update(p);
        return;
    }
    if (!vpic_port(port))
        return;
    struct vpic_chip *c = &p->chip[port >= PIC_SLAVE_CMD];
    if (port & 1)
        write_data(c, val);
    else if (val & PIC_ICW1)
        write_icw1(c, val);
    else if (val & PIC_OCW3)
        write_ocw3(c, val);
    else
        write_ocw2(c, val);
    update(p);
}
