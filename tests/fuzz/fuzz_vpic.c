/* libFuzzer target for kernel/dev/vpic.c: the input is a sequence of port writes and reads (the
 * six PIC ports and others), IRQ line changes and INTA cycles. Invariants: ELCR only has its
 * implemented bits, level inputs' IRR follows the line, the cascade line equals the slave's
 * output, writes and line changes never set ISR bits, an INTA takes the highest-priority
 * unmasked request (one new ISR bit, vector = base + level) or gives base + 7 without one
 * exactly when INTR was low, and poll words are well formed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/dev/vpic.h"

#define ASSERT(c) do { if (!(c)) { fprintf(stderr, "invariant failed: %s\n", #c); abort(); } } while (0)

static unsigned rank(const struct vpic_chip *c, unsigned level)
{
    return (level - c->lowest - 1) & 7;
}

static void check_state(const struct vpic *p)
{
    ASSERT(!(p->chip[0].elcr & ~PIC_ELCR1_MASK) && !(p->chip[1].elcr & ~PIC_ELCR2_MASK));
    for (unsigned i = 0; i < 2; i++) {
        const struct vpic_chip *c = &p->chip[i];
        ASSERT((c->irr & c->elcr) == (c->lines & c->elcr));
        ASSERT(c->init_step == 0 || (c->init_step >= 2 && c->init_step <= 4));
        ASSERT(c->lowest < 8 && !(c->base & 7));
    }
    /* the master's IR2 line is the slave's INTR: ask a copy of the slave through INTA */
    struct vpic q = *p;
    q.chip[0].imr = 0;
    q.chip[0].isr = 0;
    q.chip[0].irr = 0x04;
    q.chip[0].special_mask = false;
    q.chip[0].lowest = 1;           /* IR2 highest on the master */
    uint64_t before = q.spurious;
    (void)vpic_ack(&q);
    bool slave_int = q.spurious == before;
    ASSERT(slave_int == !!(p->chip[0].lines & 0x04));
}

static void check_ack(struct vpic *p)
{
    struct vpic before = *p;
    bool intr = vpic_intr(p);
    uint8_t v = vpic_ack(p);
    const struct vpic_chip *m0 = &before.chip[0], *m1 = &p->chip[0];
    if (!intr) {
        ASSERT(v == (uint8_t)(m0->base + 7));
        ASSERT(p->spurious == before.spurious + 1);
        ASSERT(memcmp(&before.chip, &p->chip, sizeof p->chip) == 0);
        return;
    }
    /* the level acknowledged on the master */
    unsigned lvl = 8;
    if (m0->icw4 & PIC_ICW4_AEOI) {
        ASSERT(m1->isr == m0->isr);
        if (m0->base == before.chip[1].base) {
            ASSERT((v & 0xF8) == m0->base);     /* cannot tell the chips apart */
            return;
        }
        /* no ISR bit: find the level from the vector (a cascade answer says 2) */
        lvl = (v & 0xF8) == before.chip[1].base ? PIC_CASCADE_IRQ : (v & 7u);
    } else {
        uint8_t added = m1->isr & ~m0->isr;
        ASSERT(!(added & (added - 1)) && (m1->isr & m0->isr) == m0->isr);
        if (added) {
            lvl = (unsigned)__builtin_ctz(added);
        } else {
            /* only IR2 may be taken again while in service: special fully nested mode */
            ASSERT((m0->icw4 & PIC_ICW4_SFNM) && (m0->isr & 0x04));
            lvl = PIC_CASCADE_IRQ;
        }
    }
    uint8_t req = m0->irr & ~m0->imr;
    ASSERT(req & (1u << lvl));
    if (!m0->special_mask)
        for (unsigned b = 0; b < 8; b++)
            if (req & (1u << b))
                ASSERT(rank(m0, lvl) <= rank(m0, b));
    if (lvl != PIC_CASCADE_IRQ) {
        ASSERT(v == (uint8_t)(m0->base + lvl));
        ASSERT(memcmp(&before.chip[1], &p->chip[1], sizeof p->chip[1]) == 0);
    } else {
        const struct vpic_chip *s0 = &before.chip[1], *s1 = &p->chip[1];
        ASSERT((v & 0xF8) == s0->base);
        if (p->spurious != before.spurious)
            ASSERT(v == (uint8_t)(s0->base + 7) && s1->isr == s0->isr);
        else if (!(s0->icw4 & PIC_ICW4_AEOI))
            ASSERT(s1->isr == (s0->isr | (1u << (v & 7))) && !(s0->isr & (1u << (v & 7))));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct vpic p;
    static const uint16_t ports[] = { PIC_MASTER_CMD, PIC_MASTER_DATA, PIC_SLAVE_CMD,
                                      PIC_SLAVE_DATA, PIC_ELCR1, PIC_ELCR2, 0x22, 0x4D2 };
    vpic_reset(&p);
    for (size_t i = 0; i + 3 <= size; i += 3) {
        const uint8_t *d = data + i;
        uint16_t port = ports[d[1] & 7];
        switch (d[0] & 7) {
        case 0:
        case 1: {   /* port write: never sets an ISR bit */
            uint8_t isr0 = p.chip[0].isr, isr1 = p.chip[1].isr;
            vpic_write(&p, port, d[2]);
            ASSERT(!(p.chip[0].isr & ~isr0) && !(p.chip[1].isr & ~isr1));
            break;
        }
        case 2: {   /* port read */
            bool poll = (port == PIC_MASTER_CMD || port == PIC_MASTER_DATA) ? p.chip[0].poll :
                        (port == PIC_SLAVE_CMD || port == PIC_SLAVE_DATA) ? p.chip[1].poll : 0;
            uint8_t v = vpic_read(&p, port);
            if (!vpic_port(port))
                ASSERT(v == 0xFF);
            if (poll)
                ASSERT(v == 0 || (v & 0xF8) == PIC_POLL_INT);
            break;
        }
        case 3:
        case 4:
        case 5: {   /* line change: IMR and ISR untouched */
            struct vpic before = p;
            vpic_set_irq(&p, d[1] % 17, d[2] & 1);
            for (unsigned c = 0; c < 2; c++)
                ASSERT(p.chip[c].isr == before.chip[c].isr && p.chip[c].imr == before.chip[c].imr);
            break;
        }
        default:
            check_ack(&p);
            break;
        }
        check_state(&p);
    }
    return 0;
}
