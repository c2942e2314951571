/* kernel/dev/vioapic.c: the I/O APIC register model against the 82093AA / ICH datasheets. */
#include "check.h"
#include "kernel/dev/vioapic.h"

static struct vioapic io;
static struct vioapic_out out;

static uint32_t rd(uint8_t index)
{
    uint64_t v = 0xdead;
    vioapic_mmio_write(&io, IOAPIC_IOREGSEL, 4, index, &out);
    vioapic_mmio_read(&io, IOAPIC_IOWIN, 4, &v);
    return (uint32_t)v;
}

static void wr(uint8_t index, uint32_t val)
{
    vioapic_mmio_write(&io, IOAPIC_IOREGSEL, 4, index, &out);
    vioapic_mmio_write(&io, IOAPIC_IOWIN, 4, val, &out);
}

static void set_entry(unsigned pin, uint64_t e)
{
    wr((uint8_t)(IOAPIC_REG_REDTBL + 2 * pin + 1), (uint32_t)(e >> 32));
    wr((uint8_t)(IOAPIC_REG_REDTBL + 2 * pin), (uint32_t)e);
}

static uint64_t entry(unsigned pin)
{
    return rd((uint8_t)(IOAPIC_REG_REDTBL + 2 * pin)) |
           (uint64_t)rd((uint8_t)(IOAPIC_REG_REDTBL + 2 * pin + 1)) << 32;
}

static void test_reset_and_ids(void)
{
    vioapic_reset(&io, 3);
    CHECK_EQ_U64(rd(IOAPIC_REG_ID), 3u << 24);
    CHECK_EQ_U64(rd(IOAPIC_REG_VER), 0x00170020);      /* 24 entries (max 23), version 0x20 */
    CHECK_EQ_U64(rd(IOAPIC_REG_ARB), 3u << 24);
    for (unsigned p = 0; p < 24; p++)
        CHECK_EQ_U64(entry(p), IOREDTBL_MASK);
    /* ID keeps bits 27:24 only; the arbitration ID follows; version and ARB are read-only. */
    wr(IOAPIC_REG_ID, 0xFFFFFFFF);
    CHECK_EQ_U64(rd(IOAPIC_REG_ID), 0x0F000000);
    CHECK_EQ_U64(rd(IOAPIC_REG_ARB), 0x0F000000);
    wr(IOAPIC_REG_VER, 0);
    wr(IOAPIC_REG_ARB, 0);
    CHECK_EQ_U64(rd(IOAPIC_REG_VER), 0x00170020);
    CHECK_EQ_U64(rd(IOAPIC_REG_ARB), 0x0F000000);
    /* undefined indexes and the ones past entry 23 */
    CHECK_EQ_U64(rd(0x03), 0);
    CHECK_EQ_U64(rd(0x0F), 0);
    CHECK_EQ_U64(rd(0x40), 0);
    CHECK_EQ_U64(rd(0xFF), 0);
    wr(0x40, 0x1234);
    CHECK_EQ_U64(rd(0x40), 0);
}

static void test_access_sizes(void)
{
    uint64_t v;
    vioapic_reset(&io, 0);
    vioapic_mmio_write(&io, IOAPIC_IOREGSEL, 1, 0x01, &out);
    vioapic_mmio_read(&io, IOAPIC_IOREGSEL, 1, &v);
    CHECK_EQ_U64(v, 0x01);
    vioapic_mmio_read(&io, IOAPIC_IOREGSEL, 4, &v);
    CHECK_EQ_U64(v, 0x01);
    vioapic_mmio_read(&io, IOAPIC_IOWIN, 4, &v);
    CHECK_EQ_U64(v, 0x00170020);
    /* IOWIN only as a dword: byte, word and qword reads give 0, writes do nothing */
    vioapic_mmio_read(&io, IOAPIC_IOWIN, 1, &v);
    CHECK_EQ_U64(v, 0);
    vioapic_mmio_read(&io, IOAPIC_IOWIN, 2, &v);
    CHECK_EQ_U64(v, 0);
    vioapic_mmio_read(&io, IOAPIC_IOWIN, 8, &v);
    CHECK_EQ_U64(v, 0);
    vioapic_mmio_write(&io, IOAPIC_IOREGSEL, 2, 0x10, &out);   /* ignored */
    vioapic_mmio_read(&io, IOAPIC_IOREGSEL, 4, &v);
    CHECK_EQ_U64(v, 0x01);
    vioapic_mmio_write(&io, IOAPIC_IOREGSEL, 4, 0x10, &out);
    vioapic_mmio_write(&io, IOAPIC_IOWIN, 1, 0x30, &out);      /* ignored */
    vioapic_mmio_write(&io, IOAPIC_IOWIN, 8, 0x30, &out);      /* ignored */
    CHECK_EQ_U64(entry(0), IOREDTBL_MASK);
    /* other offsets and the write-only EOI register read 0 */
    vioapic_mmio_read(&io, IOAPIC_EOIR, 4, &v);
    CHECK_EQ_U64(v, 0);
    vioapic_mmio_read(&io, 0x20, 4, &v);
    CHECK_EQ_U64(v, 0);
    vioapic_mmio_read(&io, 0x04, 4, &v);
    CHECK_EQ_U64(v, 0);
}

static void test_entry_bits(void)
{
    vioapic_reset(&io, 0);
    /* every writable bit, and the read-only/reserved ones attempted too */
    set_entry(5, 0xFFFFFFFFFFFFFFFFull);
    CHECK_EQ_U64(entry(5), 0xFFFF000000000000ull | 0x1AFFF);
    /* a masked level entry never sends, so remote IRR stayed clear: DELIVS/RIRR not writable */
    CHECK(!(entry(5) & (IOREDTBL_DELIVS | IOREDTBL_REMOTE_IRR)));
    set_entry(5, 0x12ull << 56 | 0x34ull << 48 | 0x00000941);   /* vec 0x41, lowest, logical */
    CHECK_EQ_U64(entry(5), 0x1234000000000941ull);
    /* each delivery mode field value is kept as written */
    for (unsigned m = 0; m < 8; m++) {
        set_entry(6, IOREDTBL_MASK | (uint64_t)m << 8 | 0x30);
        CHECK_EQ_U64((entry(6) >> 8) & 7, m);
    }
}

static void test_edge(void)
{
    vioapic_reset(&io, 0);
    set_entry(2, 0xAAull << 56 | 0x30);     /* fixed, physical, edge, active high, unmasked */
    vioapic_set_irq(&io, 2, true, &out);
    CHECK_EQ_U64(out.n, 1);
    CHECK_EQ_U64(out.msg[0].vector, 0x30);
    CHECK_EQ_U64(out.msg[0].dest, 0xAA);
    CHECK_EQ_U64(out.msg[0].mode, APIC_DM_FIXED);
    CHECK(!out.msg[0].logical);
    CHECK(!out.msg[0].level_trigger);
    CHECK(out.msg[0].level_assert);
    CHECK(!(entry(2) & IOREDTBL_REMOTE_IRR));
    /* staying high is no new edge; low then high is */
    vioapic_set_irq(&io, 2, true, &out);
    CHECK_EQ_U64(out.n, 0);
    vioapic_set_irq(&io, 2, false, &out);
    CHECK_EQ_U64(out.n, 0);
    vioapic_set_irq(&io, 2, true, &out);
    CHECK_EQ_U64(out.n, 1);
    /* an edge on a masked pin is lost, not held: unmasking sends nothing */
    vioapic_set_irq(&io, 2, false, &out);
    set_entry(2, IOREDTBL_MASK | 0x30);
    vioapic_set_irq(&io, 2, true, &out);
    CHECK_EQ_U64(out.n, 0);
    set_entry(2, 0x30);
    CHECK_EQ_U64(out.n, 0);
    /* active low: the falling wire is the assertion */
    set_entry(3, IOREDTBL_INTPOL | 0x31);
    CHECK(vioapic_pin_asserted(&io, 3));   /* wire low, active low */
    vioapic_set_irq(&io, 3, true, &out);
    CHECK_EQ_U64(out.n, 0);
    CHECK(!vioapic_pin_asserted(&io, 3));
    vioapic_set_irq(&io, 3, false, &out);
    CHECK_EQ_U64(out.n, 1);
    CHECK_EQ_U64(out.msg[0].vector, 0x31);
    /* out-of-range pins are ignored */
    vioapic_set_irq(&io, 24, true, &out);
    CHECK_EQ_U64(out.n, 0);
    CHECK(!vioapic_pin_asserted(&io, 99));
}

static void test_modes(void)
{
    vioapic_reset(&io, 0);
    /* logical lowest priority */
    set_entry(1, 0x0Full << 56 | IOREDTBL_DESTMOD | 1u << 8 | 0x41);
    vioapic_set_irq(&io, 1, true, &out);
    CHECK_EQ_U64(out.n, 1);
    CHECK_EQ_U64(out.msg[0].mode, APIC_DM_LOWEST);
    CHECK(out.msg[0].logical);
    CHECK_EQ_U64(out.msg[0].dest, 0x0F);
    /* NMI, SMI, INIT, ExtINT are edge even with the trigger bit set: no remote IRR */
    static const unsigned modes[] = { APIC_DM_SMI, APIC_DM_NMI, APIC_DM_INIT, APIC_DM_EXTINT };
    for (unsigned i = 0; i < 4; i++) {
        unsigned pin = 4 + i;
        set_entry(pin, IOREDTBL_TRIGGER | (uint64_t)modes[i] << 8 | 0x50);
        vioapic_set_irq(&io, pin, true, &out);
        CHECK_EQ_U64(out.n, 1);
        CHECK_EQ_U64(out.msg[0].mode, modes[i]);
        CHECK(!out.msg[0].level_trigger);
        CHECK(!(entry(pin) & IOREDTBL_REMOTE_IRR));
        vioapic_set_irq(&io, pin, true, &out);      /* no re-send while high */
        CHECK_EQ_U64(out.n, 0);
    }
    /* reserved modes 3 and 6 send nothing */
    set_entry(10, 3u << 8 | 0x60);
    vioapic_set_irq(&io, 10, true, &out);
    CHECK_EQ_U64(out.n, 0);
    set_entry(11, IOREDTBL_TRIGGER | 6u << 8 | 0x60);
    vioapic_set_irq(&io, 11, true, &out);
    CHECK_EQ_U64(out.n, 0);
    CHECK(!(entry(11) & IOREDTBL_REMOTE_IRR));
    /* the extended destination bits are kept but not part of the 8-bit xAPIC destination */
    set_entry(12, 0x01ull << 56 | 0x7Full << 48 | 0x61);
    vioapic_set_irq(&io, 12, true, &out);
    CHECK_EQ_U64(out.n, 1);
    CHECK_EQ_U64(out.msg[0].dest, 0x01);
    CHECK_EQ_U64(entry(12) >> 48, 0x017F);
}

static void test_level_remote_irr(void)
{
    vioapic_reset(&io, 0);
    set_entry(9, IOREDTBL_TRIGGER | 0x49);
    vioapic_set_irq(&io, 9, true, &out);
    CHECK_EQ_U64(out.n, 1);
    CHECK(out.msg[0].level_trigger);
    CHECK(entry(9) & IOREDTBL_REMOTE_IRR);
    /* still asserted, remote IRR set: nothing more */
    vioapic_set_irq(&io, 9, true, &out);
    CHECK_EQ_U64(out.n, 0);
    /* an EOI for another vector changes nothing */
    vioapic_eoi(&io, 0x48, &out);
    CHECK_EQ_U64(out.n, 0);
    CHECK(entry(9) & IOREDTBL_REMOTE_IRR);
    /* EOI with the line still asserted: remote IRR clears and the interrupt is sent again */
    vioapic_eoi(&io, 0x49, &out);
    CHECK_EQ_U64(out.n, 1);
    CHECK_EQ_U64(out.msg[0].vector, 0x49);
    CHECK(entry(9) & IOREDTBL_REMOTE_IRR);
    CHECK_EQ_U64(io.storm[9], 1);
    /* the device drops the line; EOI ends it */
    vioapic_set_irq(&io, 9, false, &out);
    CHECK_EQ_U64(out.n, 0);
    CHECK_EQ_U64(io.storm[9], 0);
    vioapic_eoi(&io, 0x49, &out);
    CHECK_EQ_U64(out.n, 0);
    CHECK(!(entry(9) & IOREDTBL_REMOTE_IRR));
    /* the EOI register at 0x40 (directed EOI) works the same */
    vioapic_set_irq(&io, 9, true, &out);
    CHECK_EQ_U64(out.n, 1);
    vioapic_mmio_write(&io, IOAPIC_EOIR, 4, 0x49, &out);
    CHECK_EQ_U64(out.n, 1);
    vioapic_set_irq(&io, 9, false, &out);
    vioapic_mmio_write(&io, IOAPIC_EOIR, 4, 0xFFFFFF49, &out);     /* only bits 7:0 count */
    CHECK_EQ_U64(out.n, 0);
    CHECK(!(entry(9) & IOREDTBL_REMOTE_IRR));
    /* a masked asserted level pin is sent when unmasked */
    set_entry(9, IOREDTBL_MASK | IOREDTBL_TRIGGER | 0x49);
    vioapic_set_irq(&io, 9, true, &out);
    CHECK_EQ_U64(out.n, 0);
    set_entry(9, IOREDTBL_TRIGGER | 0x49);
    CHECK_EQ_U64(out.n, 1);
    CHECK(entry(9) & IOREDTBL_REMOTE_IRR);
    /* masking keeps remote IRR; an EOI while masked does not re-send; unmasking does */
    set_entry(9, IOREDTBL_MASK | IOREDTBL_TRIGGER | 0x49);
    CHECK(entry(9) & IOREDTBL_REMOTE_IRR);
    vioapic_eoi(&io, 0x49, &out);
    CHECK_EQ_U64(out.n, 0);
    CHECK(!(entry(9) & IOREDTBL_REMOTE_IRR));
    set_entry(9, IOREDTBL_TRIGGER | 0x49);
    CHECK_EQ_U64(out.n, 1);
    /* switching the entry to edge clears remote IRR (what Linux expects) */
    set_entry(9, IOREDTBL_MASK | 0x49);
    CHECK(!(entry(9) & IOREDTBL_REMOTE_IRR));
    /* active-low level (the SCI): idle wire high */
    vioapic_set_irq(&io, 9, false, &out);
    set_entry(20, IOREDTBL_MASK | IOREDTBL_INTPOL | IOREDTBL_TRIGGER | 0x59);
    vioapic_set_irq(&io, 20, true, &out);
    set_entry(20, IOREDTBL_INTPOL | IOREDTBL_TRIGGER | 0x59);
    CHECK_EQ_U64(out.n, 0);
    vioapic_set_irq(&io, 20, false, &out);
    CHECK_EQ_U64(out.n, 1);
    CHECK(out.msg[0].level_trigger);
}

static void test_shared_vector_eoi(void)
{
    vioapic_reset(&io, 0);
    /* three level pins on one vector, all asserted and in service: one EOI re-sends all */
    for (unsigned p = 16; p < 19; p++) {
        set_entry(p, (uint64_t)p << 56 | IOREDTBL_TRIGGER | 0x70);
        vioapic_set_irq(&io, p, true, &out);
        CHECK_EQ_U64(out.n, 1);
    }
    vioapic_set_irq(&io, 17, false, &out);
    vioapic_eoi(&io, 0x70, &out);
    CHECK_EQ_U64(out.n, 2);
    CHECK_EQ_U64(out.msg[0].dest, 16);
    CHECK_EQ_U64(out.msg[1].dest, 18);
    CHECK(!(entry(17) & IOREDTBL_REMOTE_IRR));
    /* every pin on one vector: up to 24 messages from one call */
    for (unsigned p = 0; p < 24; p++) {
        set_entry(p, IOREDTBL_TRIGGER | 0x71);
        vioapic_set_irq(&io, p, true, &out);
    }
    vioapic_eoi(&io, 0x71, &out);
    CHECK_EQ_U64(out.n, 24);
}

static void test_storm(void)
{
    vioapic_reset(&io, 0);
    set_entry(7, IOREDTBL_TRIGGER | 0x80);
    vioapic_set_irq(&io, 7, true, &out);
    unsigned flagged_at = 0;
    for (unsigned i = 1; i <= VIOAPIC_STORM_THRESHOLD + 5; i++) {
        vioapic_eoi(&io, 0x80, &out);
        CHECK_EQ_U64(out.n, 1);
        if (out.storm && !flagged_at)
            flagged_at = i;
    }
    CHECK_EQ_U64(flagged_at, VIOAPIC_STORM_THRESHOLD);
    CHECK_EQ_U64(out.storm, 1u << 7);
    CHECK_EQ_U64(io.storm[7], VIOAPIC_STORM_THRESHOLD + 5);
    /* the line going idle is progress: the count restarts */
    vioapic_set_irq(&io, 7, false, &out);
    vioapic_eoi(&io, 0x80, &out);
    vioapic_set_irq(&io, 7, true, &out);
    CHECK_EQ_U64(out.n, 1);
    CHECK_EQ_U64(out.storm, 0);
    CHECK_EQ_U64(io.storm[7], 0);
}

int main(void)
{
    RUN(test_reset_and_ids);
    RUN(test_access_sizes);
    RUN(test_entry_bits);
    RUN(test_edge);
    RUN(test_modes);
    RUN(test_level_remote_irr);
    RUN(test_shared_vector_eoi);
    RUN(test_storm);
    return check_summary("vioapic");
}
