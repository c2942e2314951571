/* libFuzzer target for kernel/dev/vioapic.c: the input is a sequence of operations (MMIO reads
 * and writes at any offset and size, wire changes, EOI broadcasts). After each one the model's
 * invariants are checked: reserved and read-only bits stay clear, version is fixed, every message
 * matches its pin's entry, an edge pin sends exactly on an unmasked rising assertion, and no
 * asserted unmasked level pin is left unsent (remote IRR clear). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/dev/vioapic.h"

#define ASSERT(c) do { if (!(c)) { fprintf(stderr, "invariant failed: %s\n", #c); abort(); } } while (0)

static bool level_entry(uint64_t e)
{
    unsigned m = (e >> 8) & 7;
    return (e & IOREDTBL_TRIGGER) && (m == APIC_DM_FIXED || m == APIC_DM_LOWEST);
}

static void check_msgs(const struct vioapic *io, const struct vioapic_out *out)
{
    ASSERT(out->n <= VIOAPIC_PINS);
    for (unsigned i = 0; i < out->n; i++) {
        const struct vlapic_ipi *m = &out->msg[i];
        ASSERT(m->mode != 3 && m->mode != APIC_DM_STARTUP && m->mode <= 7);
        ASSERT(m->dest <= 0xFF && m->shorthand == APIC_SH_NONE && m->level_assert);
        /* some pin's entry says exactly this */
        bool found = false;
        for (unsigned p = 0; p < VIOAPIC_PINS && !found; p++) {
            uint64_t e = io->redtbl[p];
            found = (e & 0xFF) == m->vector && ((e >> 8) & 7) == m->mode &&
                    (e >> 56) == m->dest && !!(e & IOREDTBL_DESTMOD) == m->logical &&
                    level_entry(e) == m->level_trigger && !(e & IOREDTBL_MASK) &&
                    (!m->level_trigger || (e & IOREDTBL_REMOTE_IRR));
        }
        ASSERT(found);
    }
    for (unsigned p = 0; p < VIOAPIC_PINS; p++)
        if (out->storm & (1u << p))
            ASSERT(io->storm[p] >= VIOAPIC_STORM_THRESHOLD);
    ASSERT(!(out->storm >> VIOAPIC_PINS));
}

static void check_state(struct vioapic *io)
{
    ASSERT(!(io->id & ~IOAPIC_ID_MASK) && io->arb == io->id);
    ASSERT(vioapic_reg_read(io, IOAPIC_REG_VER) == 0x00170020);
    for (unsigned p = 0; p < VIOAPIC_PINS; p++) {
        uint64_t e = io->redtbl[p];
        ASSERT(!(e & ~(IOREDTBL_WRITABLE | IOREDTBL_REMOTE_IRR)));
        ASSERT(!(e & IOREDTBL_REMOTE_IRR) || (e & IOREDTBL_TRIGGER));
        if (level_entry(e) && !(e & IOREDTBL_MASK) && vioapic_pin_asserted(io, p))
            ASSERT(e & IOREDTBL_REMOTE_IRR);
        if (!vioapic_pin_asserted(io, p))
            ASSERT(io->storm[p] == 0);
        ASSERT(vioapic_reg_read(io, (uint8_t)(IOAPIC_REG_REDTBL + 2 * p)) == (uint32_t)e);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct vioapic io;
    struct vioapic_out out;
    static const uint32_t offs[] = { IOAPIC_IOREGSEL, IOAPIC_IOWIN, IOAPIC_EOIR, 0x04, 0x11,
                                     0x20, 0x3C, 0xFFC };
    static const unsigned sizes[] = { 4, 4, 4, 1, 2, 8, 4, 4 };
    vioapic_reset(&io, size ? data[0] : 0);
    size_t i = size ? 1 : 0;
    while (i + 6 <= size) {
        const uint8_t *d = data + i;
        i += 6;
        uint32_t val = (uint32_t)d[2] | (uint32_t)d[3] << 8 | (uint32_t)d[4] << 16 |
                       (uint32_t)d[5] << 24;
        uint64_t rv;
        switch (d[0] & 7) {
        case 0:     /* select an entry or register (mostly valid ones) */
            vioapic_mmio_write(&io, IOAPIC_IOREGSEL, 4, d[1] % 0x40, &out);
            break;
        case 1:
        case 2:     /* IOWIN write */
            vioapic_mmio_write(&io, IOAPIC_IOWIN, 4, val, &out);
            break;
        case 3: {   /* wire change, with the edge rule checked against the state before */
            unsigned pin = d[1] % (VIOAPIC_PINS + 2);
            bool was = vioapic_pin_asserted(&io, pin);
            uint64_t e = pin < VIOAPIC_PINS ? io.redtbl[pin] : 0;
            vioapic_set_irq(&io, pin, d[2] & 1, &out);
            unsigned m = (e >> 8) & 7;
            if (pin < VIOAPIC_PINS && !level_entry(e)) {
                bool edge = !was && vioapic_pin_asserted(&io, pin) && !(e & IOREDTBL_MASK) &&
                            m != 3 && m != APIC_DM_STARTUP;
                ASSERT(out.n == (edge ? 1u : 0u));
            }
            if (pin >= VIOAPIC_PINS)
                ASSERT(out.n == 0);
            ASSERT(out.n <= 1);
            break;
        }
        case 4: {   /* EOI broadcast: afterwards no pin with that vector keeps remote IRR
                     * unless it was just sent again */
            uint8_t vec = d[1];
            vioapic_eoi(&io, vec, &out);
            unsigned resent = 0;
            for (unsigned p = 0; p < VIOAPIC_PINS; p++)
                if ((io.redtbl[p] & 0xFF) == vec && (io.redtbl[p] & IOREDTBL_REMOTE_IRR))
                    resent++;
            ASSERT(resent == out.n);
            break;
        }
        case 5:     /* EOI register */
            vioapic_mmio_write(&io, IOAPIC_EOIR, 4, val, &out);
            break;
        case 6:     /* any offset, any size */
            vioapic_mmio_write(&io, offs[d[1] & 7], sizes[(d[1] >> 3) & 7], val, &out);
            break;
        default:
            vioapic_mmio_read(&io, offs[d[1] & 7], sizes[(d[1] >> 3) & 7], &rv);
            out.n = 0;
            out.storm = 0;
            if (sizes[(d[1] >> 3) & 7] != 4 && sizes[(d[1] >> 3) & 7] != 1)
                ASSERT(rv == 0);
            ASSERT(rv <= 0xFFFFFFFFu);
            break;
        }
        check_msgs(&io, &out);
        check_state(&io);
    }
    return 0;
}
