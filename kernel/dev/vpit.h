/* The virtual 8254 PIT of a PC (8254 datasheet) with port 0x61 (NMI status and control, the
 * ICH's name): channels 0-2 at 0x40-0x42, the control word at 0x43, modes 0-5, LSB/MSB/LSB-then-
 * MSB access, counter latch, read-back (count and status), null count, gates. Channel 0's OUT
 * is IRQ0; channel 2's gate is port 0x61 bit 0 and its OUT reads back in bit 5.
 *
 * Pure and tickless: the counters run at PIT_HZ on the guest's TSC time line and every value is
 * computed from `now` (a TSC value; time that seems to run backwards is taken as not moving).
 * The caller arms a timer for vpit_next_irq0() and, when it expires, asks vpit_irq0_edges()
 * how many IRQ0 rising edges there were: a late caller gets every missed period, and decides
 * how to deliver them (kernel/virt/platform.c re-injects them one at a time, bounded).
 *
 * Modelling choices:
 * - Power-on state is undefined on the part; here it is what QEMU and a PC BIOS leave: every
 *   channel in mode 3, LSB-then-MSB, count 0 (65536) loaded, gates 0 and 1 high, gate 2 low.
 * - BCD counting is done: a BCD count is converted to its decimal number of clocks and the
 *   counting element reads back in BCD (0 = 10000).
 * - Modes 2 and 3 with a count of 1 (illegal per the datasheet) keep OUT still: no IRQ edges.
 * - A new count written during counting in mode 2 or 3 (without a control word) is loaded at the
 *   end of the current period (mode 3's datasheet says half-period; the difference is at most
 *   half a period once).
 * - Only counting produces IRQ0 edges: OUT going high because of a control word or a gate
 *   going low in mode 2/3 (channel 0's gate is wired high on a PC) is not reported as an edge.
 * - Port 0x61 bit 4 (refresh cycle toggle) flips every PIT_REFRESH_TICKS clocks (15.09 us, the
 *   refresh rate of the PC's channel 1 and the ICH's toggle) from `now`, so loops that wait for
 *   it to flip end, and loops that count flips as a delay keep their length.
 * - The control word register reads 0xFF (write-only on the part: a floating bus). */
#ifndef KERNEL_DEV_VPIT_H
#define KERNEL_DEV_VPIT_H

#include <stdint.h>
#include <stdbool.h>

#define PIT_HZ              1193182u
#define PIT_CH0_PORT        0x40
#define PIT_CH2_PORT        0x42
#define PIT_MODE_PORT       0x43
#define PIT_PORT61          0x61
#define PIT_REFRESH_TICKS   18u

/* Control word (port 0x43). */
#define PIT_CW_SC_SHIFT     6
#define PIT_CW_READBACK     3u          /* SC = 11 */
#define PIT_CW_RW_SHIFT     4
#define PIT_RW_LATCH        0u
#define PIT_RW_LSB          1u
#define PIT_RW_MSB          2u
#define PIT_RW_LOHI         3u
#define PIT_CW_MODE_SHIFT   1
#define PIT_CW_BCD          0x01
/* Read-back command: bit 5 = 0 latches counts, bit 4 = 0 latches status, bits 3:1 = CNT2-0. */
#define PIT_RB_NO_COUNT     0x20
#define PIT_RB_NO_STATUS    0x10
/* Status byte. */
#define PIT_ST_OUT          0x80
#define PIT_ST_NULL         0x40
/* Port 0x61. */
#define P61_GATE2           0x01
#define P61_SPEAKER         0x02
#define P61_RW_MASK         0x0F        /* gate, speaker, SERR# and IOCHK# enables */
#define P61_REFRESH         0x10
#define P61_OUT2            0x20

struct vpit_clock {
    uint64_t tsc_hz;        /* the guest's TSC rate; clamped to [PIT_HZ, 2^43] */
};

struct vpit_channel {
    uint8_t mode;           /* behaviour, 0-5 (modes 6 and 7 act as 2 and 3) */
    uint8_t mode_bits;      /* M2-M0 as written, for the status byte */
    uint8_t rw;             /* PIT_RW_LSB, _MSB or _LOHI */
    bool bcd;
    bool gate;
    bool write_msb;         /* LSB-then-MSB: the next write is the MSB */
    uint8_t write_lsb;
    bool read_msb;          /* LSB-then-MSB: the next read is the MSB */
    bool count_latched, status_latched;
    uint16_t latch;
    uint8_t status;
    uint16_t cr;            /* the count register as last written */
    bool have_count;        /* a count was written since the control word */
    bool armed;             /* the counting element has (or gets at `load`) a count */
    bool running;           /* counting: the gate allows it (modes 1, 5: triggered) */
    uint32_t n;             /* clocks per count of the current load: 1-65536 (BCD 1-10000) */
    uint64_t load;          /* PIT tick of the CLK pulse that loads n */
    uint64_t run, acc;      /* counting since tick `run`, `acc` clocks counted before it */
    uint64_t null_until;    /* the null count bit reads 1 before this tick */
    bool queued;            /* modes 2, 3: q_n becomes the count at tick q_at */
    uint32_t q_n;
    uint64_t q_at;
    uint16_t idle_ce;       /* what the counting element holds while stopped */
};

struct vpit {
    struct vpit_clock clock;
    uint64_t epoch;             /* TSC of PIT tick 0 */
    uint64_t last_tick;
    struct vpit_channel ch[3];
    uint8_t port61;             /* bits 3:0 as written */
    uint64_t irq0_seen;         /* channel 0 edges are accounted up to this tick */
    uint64_t irq0_pending;      /* edges since the last vpit_irq0_edges() */
};

void vpit_reset(struct vpit *p, const struct vpit_clock *clk, uint64_t now);

/* Byte accesses to 0x40-0x43 and 0x61; other ports read 0xFF and ignore writes. */
bool vpit_port(uint16_t port);
uint8_t vpit_read(struct vpit *p, uint16_t port, uint64_t now);
void vpit_write(struct vpit *p, uint16_t port, uint8_t val, uint64_t now);

/* Gate input of channel ch (0-2; channel 2's is also port 0x61 bit 0). */
void vpit_set_gate(struct vpit *p, unsigned ch, bool level, uint64_t now);
/* OUT of channel ch (0-2) at now. */
bool vpit_out(struct vpit *p, unsigned ch, uint64_t now);

/* TSC at which channel 0's OUT next rises (after now), UINT64_MAX if it will not without a new
 * write; `now` itself when an edge is waiting to be collected by vpit_irq0_edges(). */
uint64_t vpit_next_irq0(struct vpit *p, uint64_t now);
/* IRQ0 rising edges since the last call (every one, however late the caller is). */
uint64_t vpit_irq0_edges(struct vpit *p, uint64_t now);

/* PIT clock ticks since reset at `now`, and the first TSC of tick t (for callers and tests). */
uint64_t vpit_tick(struct vpit *p, uint64_t now);
uint64_t vpit_tick_tsc(const struct vpit *p, uint64_t t);

#endif
