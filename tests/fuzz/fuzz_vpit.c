/* libFuzzer target for kernel/dev/vpit.c: the input is a sequence of 4-byte records (operation,
 * port or channel, value, time step) run against one PIT on a 1.5 GHz TSC. Invariants: ports the
 * PIT does not own read 0xFF, the PIT tick never runs backwards, port 0x61 bit 5 is channel 2's
 * OUT and bits 3:0 are what was written, a read-back status byte carries OUT and the mode as
 * programmed, and the next IRQ0 time is a promise: with nothing written in between, there is no
 * edge before it and there is one at it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "kernel/dev/vpit.h"

#define ASSERT(c) do { if (!(c)) { fprintf(stderr, "invariant failed: %s\n", #c); abort(); } } while (0)

static const struct vpit_clock clk = { .tsc_hz = 1500000000ull };

/* With no writes between now and the promised edge, the edge comes exactly then. */
static void check_next_irq0(const struct vpit *p, uint64_t now)
{
    struct vpit a = *p;
    uint64_t t = vpit_next_irq0(&a, now);
    ASSERT(t >= now);
    if (t == now || t == UINT64_MAX || t - now > (1ull << 40))
        return;
    struct vpit b = a;
    (void)vpit_irq0_edges(&b, now);             /* collect what was pending at now */
    ASSERT(vpit_irq0_edges(&b, t - 1) == 0);
    ASSERT(vpit_irq0_edges(&b, t) >= 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint16_t ports[] = { 0x40, 0x41, 0x42, 0x43, 0x61, 0x44, 0x60, 0x62 };
    static struct vpit p;
    uint64_t now = 1000;
    vpit_reset(&p, &clk, now);
    for (size_t i = 0; i + 4 <= size; i += 4) {
        const uint8_t *d = data + i;
        uint16_t port = ports[d[1] & 7];
        /* time steps from one TSC cycle to about 11 ms, biased small */
        now += (uint64_t)d[3] << ((d[0] >> 4) & 15) << (d[0] >> 7 ? 10 : 0);
        uint64_t tick = vpit_tick(&p, now);
        switch (d[0] & 7) {
        case 0:
        case 1:
        case 2:
            vpit_write(&p, port, d[2], now);
            break;
        case 3: {
            uint8_t v = vpit_read(&p, port, now);
            if (!vpit_port(port))
                ASSERT(v == 0xFF);
            if (port == PIT_PORT61) {
                ASSERT(!!(v & P61_OUT2) == vpit_out(&p, 2, now));
                ASSERT((v & P61_RW_MASK) == p.port61);
            }
            break;
        }
        case 4: {   /* read-back of one channel's status only, then read it */
            unsigned ch = d[1] % 3;
            if (p.ch[ch].status_latched)
                break;      /* an earlier latched status is kept, as on the part */
            vpit_write(&p, PIT_MODE_PORT, 0xC0 | PIT_RB_NO_COUNT | (2u << ch), now);
            ASSERT(p.ch[ch].status_latched);
            uint8_t st = vpit_read(&p, (uint16_t)(PIT_CH0_PORT + ch), now);
            ASSERT(!!(st & PIT_ST_OUT) == vpit_out(&p, ch, now));
            ASSERT(((st >> 1) & 7) == (p.ch[ch].mode_bits & 7u));
            ASSERT(((st >> 4) & 3) == p.ch[ch].rw && !!(st & PIT_CW_BCD) == p.ch[ch].bcd);
            break;
        }
        case 5:
            vpit_set_gate(&p, d[1] % 3, d[2] & 1, now);
            break;
        case 6:
            check_next_irq0(&p, now);
            break;
        default:
            (void)vpit_irq0_edges(&p, now);
            break;
        }
        ASSERT(vpit_tick(&p, now) >= tick);
        for (unsigned c = 0; c < 3; c++)
            ASSERT(p.ch[c].mode <= 5 && p.ch[c].n <= 65536);
    }
    return 0;
}
