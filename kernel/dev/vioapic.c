/* Virtual I/O APIC: see vioapic.h. Datasheet references are to the 82093AA (sections 3.2.x) and
 * the ICH I/O APIC chapters, which add the EOI register of version 0x20. */
#include "kernel/dev/vioapic.h"

static void out_clear(struct vioapic_out *out)
{
    out->n = 0;
    out->storm = 0;
}

static unsigned entry_mode(uint64_t e)
{
    return (unsigned)((e & IOREDTBL_DM_MASK) >> IOREDTBL_DM_SHIFT);
}

/* SMI, NMI, INIT and ExtINT are always edge-sensitive whatever the trigger bit says (82093AA
 * 3.2.4: "the trigger mode is ignored"/"requires an edge trigger mode"). */
static bool entry_level(uint64_t e)
{
    unsigned m = entry_mode(e);
    return (e & IOREDTBL_TRIGGER) && (m == APIC_DM_FIXED || m == APIC_DM_LOWEST);
}

bool vioapic_pin_asserted(const struct vioapic *io, unsigned pin)
{
    if (pin >= VIOAPIC_PINS)
        return false;
    bool wire = (io->wire >> pin) & 1;
    bool active_low = io->redtbl[pin] & IOREDTBL_INTPOL;
    return wire != active_low;
}

/* Sends the pin's message. Delivery modes 3 and 6 are reserved: nothing is sent. */
static bool send(struct vioapic *io, unsigned pin, struct vioapic_out *out)
{
    uint64_t e = io->redtbl[pin];
    unsigned m = entry_mode(e);
    if (m == 3 || m == APIC_DM_STARTUP || out->n >= VIOAPIC_PINS)
        return false;
    struct vlapic_ipi *msg = &out->msg[out->n++];
    msg->dest = (uint32_t)(e >> IOREDTBL_DEST_SHIFT) & 0xFF;
    msg->vector = (uint8_t)(e & IOREDTBL_VECTOR_MASK);
    msg->mode = (uint8_t)m;
    msg->shorthand = APIC_SH_NONE;
    msg->logical = (e & IOREDTBL_DESTMOD) != 0;
    msg->level_assert = true;
    msg->level_trigger = entry_level(e);
    if (msg->level_trigger)
        io->redtbl[pin] |= IOREDTBL_REMOTE_IRR;
    io->sent++;
    return true;
}

/* A level pin is sent while it is asserted, unmasked and not already in service (remote IRR). */
static bool try_level(struct vioapic *io, unsigned pin, struct vioapic_out *out)
{
    uint64_t e = io->redtbl[pin];
    if (!entry_level(e) || (e & (IOREDTBL_MASK | IOREDTBL_REMOTE_IRR)) ||
        !vioapic_pin_asserted(io, pin))
        return false;
    return send(io, pin, out);
}

void vioapic_reset(struct vioapic *io, uint8_t id)
{
    io->id = ((uint32_t)id << IOAPIC_ID_SHIFT) & IOAPIC_ID_MASK;
    io->arb = io->id;
    io->regsel = 0;
    for (unsigned i = 0; i < VIOAPIC_PINS; i++) {
        io->redtbl[i] = IOREDTBL_MASK;
        io->storm[i] = 0;
    }
    io->wire = 0;
    io->sent = 0;
}

uint32_t vioapic_reg_read(const struct vioapic *io, uint8_t index)
{
    switch (index) {
    case IOAPIC_REG_ID:
        return io->id;
    case IOAPIC_REG_VER:
        return VIOAPIC_VERSION | ((uint32_t)(VIOAPIC_PINS - 1) << IOAPIC_VER_MRE_SHIFT);
    case IOAPIC_REG_ARB:
        return io->arb;
    }
    if (index >= IOAPIC_REG_REDTBL && index < IOAPIC_REG_REDTBL + 2 * VIOAPIC_PINS) {
        uint64_t e = io->redtbl[(index - IOAPIC_REG_REDTBL) / 2];
        return (index & 1) ? (uint32_t)(e >> 32) : (uint32_t)e;
    }
    return 0;
}

void vioapic_reg_write(struct vioapic *io, uint8_t index, uint32_t val, struct vioapic_out *out)
{
    out_clear(out);
    switch (index) {
    case IOAPIC_REG_ID:
        /* The arbitration ID follows every write of the ID (82093AA 3.2.3). */
        io->id = val & IOAPIC_ID_MASK;
        io->arb = io->id;
        return;
    case IOAPIC_REG_VER:
    case IOAPIC_REG_ARB:
        return;     /* read-only */
    }
    if (index < IOAPIC_REG_REDTBL || index >= IOAPIC_REG_REDTBL + 2 * VIOAPIC_PINS)
        return;
    unsigned pin = (index - IOAPIC_REG_REDTBL) / 2;
    uint64_t e = io->redtbl[pin];
    uint64_t half = (index & 1) ? 0xFFFFFFFF00000000ull : 0xFFFFFFFFull;
    uint64_t v = (index & 1) ? (uint64_t)val << 32 : val;
    uint64_t w = IOREDTBL_WRITABLE & half;
    e = (e & ~w) | (v & w);
    /* An entry set to edge drops its remote IRR: Linux relies on that to end a level
     * interrupt on IOAPICs without the EOI register (KVM and QEMU do the same). */
    if (!(e & IOREDTBL_TRIGGER))
        e &= ~IOREDTBL_REMOTE_IRR;
    if (e != io->redtbl[pin])
        io->storm[pin] = 0;
    io->redtbl[pin] = e;
    /* Unmasking (or re-polarising) a pin whose level line is asserted sends it now. Edge pins
     * only send on an edge of the wire, not on reprogramming. */
    try_level(io, pin, out);
}

void vioapic_set_irq(struct vioapic *io, unsigned pin, bool level, struct vioapic_out *out)
{
    out_clear(out);
    if (pin >= VIOAPIC_PINS)
        return;
    bool was = vioapic_pin_asserted(io, pin);
    if (level)
        io->wire |= 1u << pin;
    else
        io->wire &= ~(1u << pin);
    bool now = vioapic_pin_asserted(io, pin);
    if (!now) {
        io->storm[pin] = 0;     /* the line went idle: the device made progress */
        return;
    }
    uint64_t e = io->redtbl[pin];
    if (entry_level(e))
        try_level(io, pin, out);
    else if (!was && !(e & IOREDTBL_MASK))
        send(io, pin, out);     /* masked edges are lost (82093AA 3.2.4, mask bit) */
}

void vioapic_eoi(struct vioapic *io, uint8_t vector, struct vioapic_out *out)
{
    out_clear(out);
    for (unsigned pin = 0; pin < VIOAPIC_PINS; pin++) {
        uint64_t e = io->redtbl[pin];
        if ((e & IOREDTBL_VECTOR_MASK) != vector || !(e & IOREDTBL_REMOTE_IRR))
            continue;
        io->redtbl[pin] = e & ~IOREDTBL_REMOTE_IRR;
        if (try_level(io, pin, out)) {
            if (io->storm[pin] < UINT32_MAX)
                io->storm[pin]++;
            if (io->storm[pin] >= VIOAPIC_STORM_THRESHOLD)
                out->storm |= 1u << pin;
        }
    }
}

void vioapic_mmio_read(struct vioapic *io, uint32_t off, unsigned size, uint64_t *val)
{
    *val = 0;
    if (off == IOAPIC_IOREGSEL && (size == 1 || size == 4))
        *val = io->regsel;
    else if (off == IOAPIC_IOWIN && size == 4)
        *val = vioapic_reg_read(io, io->regsel);
    /* The EOI register is write-only: reads give 0, like every other offset. */
}

void vioapic_mmio_write(struct vioapic *io, uint32_t off, unsigned size, uint64_t val,
                        struct vioapic_out *out)
{
    out_clear(out);
    if (off == IOAPIC_IOREGSEL && (size == 1 || size == 4))
        io->regsel = (uint8_t)val;
    else if (off == IOAPIC_IOWIN && size == 4)
        vioapic_reg_write(io, io->regsel, (uint32_t)val, out);
    else if (off == IOAPIC_EOIR && size == 4)
        vioapic_eoi(io, (uint8_t)val, out);
}
