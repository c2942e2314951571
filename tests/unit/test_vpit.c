/* kernel/dev/vpit.c: the 8254 against its datasheet and the sequences Linux and SeaBIOS use.
 * The TSC runs at exactly 2000 times PIT_HZ here, so PIT tick k starts at TSC E + 2000 k. */
#include "check.h"
#include "kernel/dev/vpit.h"

#define E       1000000ull
#define TPT     2000ull                 /* TSC per PIT tick */
#define AT(k)   (E + TPT * (uint64_t)(k))

static struct vpit p;
static const struct vpit_clock clk = { .tsc_hz = PIT_HZ * TPT };

static void out8(uint16_t port, uint8_t v, uint64_t k) { vpit_write(&p, port, v, AT(k)); }
static uint8_t in8(uint16_t port, uint64_t k) { return vpit_read(&p, port, AT(k)); }

static uint16_t read16(unsigned ch, uint64_t k)
{
    uint8_t lo = in8((uint16_t)(PIT_CH0_PORT + ch), k);
    return (uint16_t)(lo | in8((uint16_t)(PIT_CH0_PORT + ch), k) << 8);
}

/* Counter latch, then LSB and MSB. */
static uint16_t latched(unsigned ch, uint64_t k)
{
    out8(PIT_MODE_PORT, (uint8_t)(ch << 6), k);
    return read16(ch, k);
}

static uint8_t status(unsigned ch, uint64_t k)
{
    out8(PIT_MODE_PORT, (uint8_t)(0xE0 | 2u << ch), k);
    return in8((uint16_t)(PIT_CH0_PORT + ch), k);
}

/* Edges not yet collected make vpit_next_irq0() answer `now`: collect them first. */
static uint64_t next0(uint64_t k)
{
    vpit_irq0_edges(&p, AT(k));
    return vpit_next_irq0(&p, AT(k));
}

static void program(unsigned ch, uint8_t cw, uint16_t count, uint64_t k)
{
    out8(PIT_MODE_PORT, (uint8_t)(ch << 6 | cw), k);
    out8((uint16_t)(PIT_CH0_PORT + ch), (uint8_t)count, k);
    out8((uint16_t)(PIT_CH0_PORT + ch), (uint8_t)(count >> 8), k);
}

static void test_time(void)
{
    vpit_reset(&p, &clk, E);
    CHECK_EQ_U64(vpit_tick(&p, E), 0);
    CHECK_EQ_U64(vpit_tick(&p, E + 1999), 0);
    CHECK_EQ_U64(vpit_tick(&p, E + 2000), 1);
    CHECK_EQ_U64(vpit_tick_tsc(&p, 5), E + 10000);
    CHECK_EQ_U64(vpit_tick(&p, E), 5 * 0 + 1);     /* never backwards: stays at 1 */
    /* a 3 GHz TSC: the conversions are inverse within one tick */
    struct vpit_clock c3 = { .tsc_hz = 3000000000ull };
    vpit_reset(&p, &c3, 0);
    rng_seed(42);
    uint64_t last = 0;
    for (int i = 0; i < 2000; i++) {
        uint64_t x = last + rng_below(1ull << 40);
        uint64_t t = vpit_tick(&p, x);
        CHECK(vpit_tick_tsc(&p, t) <= x);
        CHECK(vpit_tick_tsc(&p, t + 1) > x);
        last = x;
    }
    /* one second of TSC is PIT_HZ ticks */
    vpit_reset(&p, &c3, 0);
    CHECK_EQ_U64(vpit_tick(&p, 3000000000ull), PIT_HZ);
    CHECK_EQ_U64(vpit_tick(&p, 3000000000ull * 3600), PIT_HZ * 3600ull);
    /* absurd rates are clamped rather than dividing by zero */
    struct vpit_clock c0 = { .tsc_hz = 0 };
    vpit_reset(&p, &c0, 0);
    CHECK_EQ_U64(vpit_tick(&p, 10), 10);
    CHECK_EQ_U64(vpit_tick(&p, UINT64_MAX), UINT64_MAX);
    CHECK_EQ_U64(vpit_next_irq0(&p, UINT64_MAX), UINT64_MAX);
}

static void test_reset_state(void)
{
    vpit_reset(&p, &clk, E);
    /* mode 3, LSB/MSB, binary everywhere; OUT high; count loaded (null count 0) */
    CHECK_EQ_U64(status(0, 2), 0x80 | 0x36);
    CHECK_EQ_U64(status(1, 2), 0x80 | 0x36);
    CHECK_EQ_U64(status(2, 2), 0x80 | 0x36);
    /* channel 0 runs at 18.2 Hz: loaded at tick 1, rises every 65536 clocks */
    CHECK_EQ_U64(vpit_next_irq0(&p, AT(0)), AT(1 + 65536));
    CHECK_EQ_U64(latched(0, 3), 0xFFFC);           /* mode 3 counts by two from 65536 */
    /* gate 2 is low: channel 2 holds; port 0x61 reads OUT2 high, gate off */
    CHECK_EQ_U64(in8(PIT_PORT61, 4) & (P61_OUT2 | P61_GATE2), P61_OUT2);
    CHECK_EQ_U64(latched(2, 100), 0);
    CHECK_EQ_U64(in8(PIT_MODE_PORT, 5), 0xFF);
    CHECK_EQ_U64(in8(0x44, 5), 0xFF);
    CHECK(vpit_port(0x40) && vpit_port(0x43) && vpit_port(0x61) && !vpit_port(0x44));
}

static void test_mode2_rate(void)
{
    vpit_reset(&p, &clk, E);
    /* Linux's periodic tick (HZ=1000): 0x34, LATCH = 1193 */
    program(0, 0x34, 1193, 100);
    CHECK_EQ_U64(vpit_irq0_edges(&p, AT(100)), 0);   /* the reset's square wave had none yet */
    CHECK_EQ_U64(status(0, 100), 0xC0 | 0x34);       /* null count until the load */
    CHECK_EQ_U64(status(0, 101), 0x80 | 0x34);
    /* loaded at tick 101: CE = 1193 - j; OUT low while CE = 1, rises at the reload */
    CHECK_EQ_U64(latched(0, 101), 1193);
    CHECK_EQ_U64(latched(0, 101 + 500), 693);
    CHECK(vpit_out(&p, 0, AT(101 + 1191)));
    CHECK(!vpit_out(&p, 0, AT(101 + 1192)));
    CHECK_EQ_U64(latched(0, 101 + 1192), 1);
    CHECK(vpit_out(&p, 0, AT(101 + 1193)));
    CHECK_EQ_U64(latched(0, 101 + 1193), 1193);
    CHECK_EQ_U64(vpit_next_irq0(&p, AT(101 + 1193)), AT(101 + 1193));  /* uncollected edge */
    /* one edge per period; a caller on time sees each */
    CHECK_EQ_U64(vpit_irq0_edges(&p, AT(101 + 1193)), 1);
    CHECK_EQ_U64(vpit_next_irq0(&p, AT(101 + 1193)), AT(101 + 2 * 1193));
    CHECK_EQ_U64(vpit_irq0_edges(&p, AT(101 + 1193 + 100)), 0);
    uint64_t prev = vpit_next_irq0(&p, AT(101 + 1193 + 100));
    for (int i = 0; i < 20; i++) {
        CHECK_EQ_U64(vpit_irq0_edges(&p, prev), 1);
        uint64_t next = vpit_next_irq0(&p, prev);
        CHECK_EQ_U64(next - prev, 1193 * TPT);
        prev = next;
    }
    /* a caller 10 periods late gets all eleven edges (the one due at prev and ten more) */
    CHECK_EQ_U64(vpit_irq0_edges(&p, prev + 10 * 1193 * TPT), 11);
    CHECK_EQ_U64(vpit_irq0_edges(&p, prev + 10 * 1193 * TPT + 1), 0);
    /* a new count without a control word applies from the end of the current period */
    uint64_t b = 101 + 40 * 1193;       /* a period boundary */
    out8(PIT_CH0_PORT, 100, b + 10);
    out8(PIT_CH0_PORT, 0, b + 10);
    CHECK_EQ_U64(status(0, b + 11), 0xC0 | 0x34);   /* null count: not loaded yet */
    CHECK_EQ_U64(latched(0, b + 11), 1193 - 11);
    CHECK_EQ_U64(next0(b + 11), AT(b + 1193));
    /* the old period's end at b + 1193 and the new count's first end 100 later */
    CHECK_EQ_U64(vpit_irq0_edges(&p, AT(b + 1193 + 100)), 2);
    CHECK_EQ_U64(vpit_next_irq0(&p, AT(b + 1193 + 100)), AT(b + 1193 + 200));
    CHECK_EQ_U64(latched(0, b + 1193 + 150), 50);
    CHECK_EQ_U64(status(0, b + 1193), 0x80 | 0x34);
    /* count 1 is illegal in mode 2: no edges */
    program(0, 0x34, 1, 200000);
    CHECK_EQ_U64(next0(200010), UINT64_MAX);
    CHECK(!vpit_out(&p, 0, AT(200020)));
}

static void test_mode3_square(void)
{
    vpit_reset(&p, &clk, E);
    program(0, 0x36, 1000, 10);     /* loaded at 11 */
    vpit_irq0_edges(&p, AT(10));
    CHECK_EQ_U64(next0(11), AT(11 + 1000));
    CHECK(vpit_out(&p, 0, AT(11)));
    CHECK_EQ_U64(latched(0, 11 + 1), 998);           /* even: by two */
    CHECK(vpit_out(&p, 0, AT(11 + 499)));
    CHECK(!vpit_out(&p, 0, AT(11 + 500)));
    CHECK_EQ_U64(latched(0, 11 + 501), 998);
    CHECK(!vpit_out(&p, 0, AT(11 + 999)));
    CHECK(vpit_out(&p, 0, AT(11 + 1000)));
    /* odd count 5: high 3 clocks, low 2; CE 5, 4, 2 | 5, 2 (8254 mode 3, odd counts) */
    program(0, 0x36, 5, 3000);
    static const uint16_t ce[] = { 5, 4, 2, 5, 2, 5, 4, 2, 5, 2 };
    static const bool out[] = { 1, 1, 1, 0, 0, 1, 1, 1, 0, 0 };
    for (unsigned j = 0; j < 10; j++) {
        CHECK_EQ_U64(latched(0, 3001 + j), ce[j]);
        CHECK_EQ_U64(vpit_out(&p, 0, AT(3001 + j)), out[j]);
    }
    /* BIOS default: count 0 is 65536 clocks, 54.9 ms */
    program(0, 0x36, 0, 5000);
    CHECK_EQ_U64(next0(5001), AT(5001 + 65536));
    CHECK(vpit_out(&p, 0, AT(5001 + 32767)));
    CHECK(!vpit_out(&p, 0, AT(5001 + 32768)));
    /* mode 7 is mode 3: status shows the bits as written */
    program(1, 0x3E, 4, 90000);
    CHECK_EQ_U64(status(1, 90001), 0x80 | 0x3E);
    CHECK(!vpit_out(&p, 1, AT(90001 + 2)));
}

static void test_mode0_oneshot(void)
{
    vpit_reset(&p, &clk, E);
    vpit_irq0_edges(&p, AT(50));
    out8(PIT_MODE_PORT, 0x30, 50);
    CHECK(!vpit_out(&p, 0, AT(50)));                 /* low from the control word */
    CHECK_EQ_U64(status(0, 50), 0x40 | 0x30);        /* OUT low, null count */
    out8(PIT_CH0_PORT, 100, 60);
    out8(PIT_CH0_PORT, 0, 61);                       /* loaded at 62 */
    CHECK_EQ_U64(vpit_next_irq0(&p, AT(62)), AT(162));
    CHECK(!vpit_out(&p, 0, AT(62 + 99)));
    CHECK_EQ_U64(latched(0, 62 + 99), 1);
    CHECK(vpit_out(&p, 0, AT(62 + 100)));            /* N + 1 clocks after the write */
    CHECK_EQ_U64(latched(0, 62 + 101), 0xFFFF);      /* the element wraps and goes on */
    CHECK_EQ_U64(vpit_irq0_edges(&p, AT(200)), 1);
    CHECK_EQ_U64(vpit_next_irq0(&p, AT(200)), UINT64_MAX);  /* one shot */
    CHECK_EQ_U64(vpit_irq0_edges(&p, AT(200000)), 0);
    CHECK(vpit_out(&p, 0, AT(200000)));
    /* a new count restarts it, OUT low again; the first byte already stops counting */
    out8(PIT_CH0_PORT, 10, 300000);
    CHECK(!vpit_out(&p, 0, AT(300000)));
    CHECK_EQ_U64(latched(0, 300005), latched(0, 300000));
    out8(PIT_CH0_PORT, 0, 300010);
    CHECK_EQ_U64(next0(300010), AT(300021));
    /* Linux's oneshot shutdown writes 0x30 then 0, 0: a 65536-clock shot (masked at the PIC) */
    program(0, 0x30, 0, 400000);
    CHECK_EQ_U64(next0(400000), AT(400001 + 65536));
    /* LSB-only access: one byte is the whole count */
    out8(PIT_MODE_PORT, 0x10, 500000);
    out8(PIT_CH0_PORT, 7, 500000);
    CHECK_EQ_U64(next0(500000), AT(500001 + 7));
    CHECK_EQ_U64(in8(PIT_CH0_PORT, 500003), 5);
    CHECK_EQ_U64(in8(PIT_CH0_PORT, 500003), 5);      /* no flip-flop */
    /* MSB-only access */
    out8(PIT_MODE_PORT, 0x20, 600000);
    out8(PIT_CH0_PORT, 2, 600000);
    CHECK_EQ_U64(next0(600000), AT(600001 + 512));
    CHECK_EQ_U64(in8(PIT_CH0_PORT, 600001 + 256), 1);
}

static void test_gate_mode0(void)
{
    vpit_reset(&p, &clk, E);
    /* Linux pit_calibrate_tsc(): gate on, speaker off, 0xB0, latch 59659 (50 ms), poll bit 5 */
    uint8_t v = in8(PIT_PORT61, 10);
    out8(PIT_PORT61, (uint8_t)((v & ~P61_SPEAKER) | P61_GATE2), 10);
    program(2, 0xB0 & 0x3F, 59659, 10);              /* written at tick 10, loaded at 11 */
    CHECK(!(in8(PIT_PORT61, 11) & P61_OUT2));
    CHECK(!(in8(PIT_PORT61, 11 + 59658) & P61_OUT2));
    CHECK(in8(PIT_PORT61, 11 + 59659) & P61_OUT2);
    CHECK_EQ_U64(in8(PIT_PORT61, 11 + 59659) & 0x0F, P61_GATE2);
    /* gate low pauses mode 0; high resumes from the same count */
    program(2, 0x30, 1000, 100000);                  /* loaded at 100001 */
    CHECK_EQ_U64(latched(2, 100101), 900);
    out8(PIT_PORT61, 0, 100101);
    CHECK_EQ_U64(latched(2, 150000), 900);
    out8(PIT_PORT61, P61_GATE2, 150000);
    CHECK_EQ_U64(latched(2, 150100), 800);
    CHECK(!(in8(PIT_PORT61, 150000 + 899) & P61_OUT2));
    CHECK(in8(PIT_PORT61, 150000 + 900) & P61_OUT2);
    /* SeaBIOS: ch2 mode 0 through vpit_set_gate() as well */
    vpit_set_gate(&p, 2, false, AT(200000));
    CHECK_EQ_U64(in8(PIT_PORT61, 200000) & P61_GATE2, 0);
    program(2, 0x30, 50, 200000);
    CHECK_EQ_U64(latched(2, 200500), 50);           /* loaded but not counting */
    vpit_set_gate(&p, 2, true, AT(200500));
    CHECK_EQ_U64(in8(PIT_PORT61, 200500) & P61_GATE2, P61_GATE2);
    CHECK(in8(PIT_PORT61, 200550) & P61_OUT2);
    /* Linux quick_pit_calibrate(): count 0xFFFF, reads LSB then MSB of the live counter */
    out8(PIT_PORT61, P61_GATE2, 300000);
    program(2, 0x30, 0xFFFF, 300000);
    CHECK_EQ_U64(read16(2, 300001 + 0x100), 0xFFFF - 0x100);
    CHECK_EQ_U64(in8(PIT_CH2_PORT, 300001 + 0x1FF), 0x00);  /* LSB */
    CHECK_EQ_U64(in8(PIT_CH2_PORT, 300001 + 0x200), 0xFD);  /* MSB, read later */
}

static void test_mode1_and_5(void)
{
    vpit_reset(&p, &clk, E);
    out8(PIT_PORT61, 0, 0);
    program(2, 0x32, 10, 10);                        /* mode 1 */
    CHECK(in8(PIT_PORT61, 20) & P61_OUT2);           /* high until triggered */
    CHECK_EQ_U64(status(2, 20) & 0x40, 0x40);        /* null count: not loaded */
    out8(PIT_PORT61, P61_GATE2, 30);                 /* trigger: loaded at 31 */
    CHECK(in8(PIT_PORT61, 30) & P61_OUT2);
    CHECK(!(in8(PIT_PORT61, 31) & P61_OUT2));
    CHECK_EQ_U64(status(2, 31) & 0x40, 0);
    CHECK(!(in8(PIT_PORT61, 40) & P61_OUT2));
    CHECK(in8(PIT_PORT61, 41) & P61_OUT2);
    /* retrigger during the pulse restarts it; gate level does not matter afterwards */
    out8(PIT_PORT61, 0, 50);
    out8(PIT_PORT61, P61_GATE2, 51);
    out8(PIT_PORT61, 0, 55);
    out8(PIT_PORT61, P61_GATE2, 56);
    CHECK(!(in8(PIT_PORT61, 65) & P61_OUT2));
    CHECK(in8(PIT_PORT61, 67) & P61_OUT2);
    /* mode 5: OUT low for one clock, N clocks after the trigger's load */
    program(2, 0x3A, 10, 100);
    out8(PIT_PORT61, 0, 100);
    CHECK(in8(PIT_PORT61, 200) & P61_OUT2);
    out8(PIT_PORT61, P61_GATE2, 200);
    CHECK(in8(PIT_PORT61, 210) & P61_OUT2);
    CHECK(!(in8(PIT_PORT61, 211) & P61_OUT2));
    CHECK(in8(PIT_PORT61, 212) & P61_OUT2);
    /* mode 4 on channel 0: the IRQ0 edge is at the end of the low clock */
    program(0, 0x38, 20, 1000);
    vpit_irq0_edges(&p, AT(1000));
    CHECK_EQ_U64(vpit_next_irq0(&p, AT(1000)), AT(1022));
    CHECK(vpit_out(&p, 0, AT(1020)));
    CHECK(!vpit_out(&p, 0, AT(1021)));
    CHECK(vpit_out(&p, 0, AT(1022)));
    CHECK_EQ_U64(vpit_irq0_edges(&p, AT(5000)), 1);
    CHECK_EQ_U64(vpit_next_irq0(&p, AT(5000)), UINT64_MAX);
}

static void test_gate_mode2(void)
{
    vpit_reset(&p, &clk, E);
    out8(PIT_PORT61, P61_GATE2, 0);
    program(2, 0x34, 10, 0);                         /* loaded at 1 */
    CHECK(!(in8(PIT_PORT61, 10) & P61_OUT2));        /* CE = 1 */
    out8(PIT_PORT61, 0, 10);                         /* gate low: OUT high at once */
    CHECK(in8(PIT_PORT61, 10) & P61_OUT2);
    CHECK_EQ_U64(latched(2, 500), 1);                /* stopped */
    out8(PIT_PORT61, P61_GATE2, 500);                /* rising gate: reload on next clock */
    CHECK_EQ_U64(latched(2, 501), 10);
    CHECK(!(in8(PIT_PORT61, 510) & P61_OUT2));
    CHECK(in8(PIT_PORT61, 511) & P61_OUT2);
}

static void test_latch_and_readback(void)
{
    vpit_reset(&p, &clk, E);
    program(0, 0x34, 5000, 0);                       /* loaded at 1 */
    out8(PIT_MODE_PORT, 0x00, 101);                  /* latch: CE = 4900 */
    out8(PIT_MODE_PORT, 0x00, 201);                  /* ignored: not yet read */
    CHECK_EQ_U64(read16(0, 301), 4900);
    CHECK_EQ_U64(read16(0, 401), 4600);              /* unlatched: live */
    /* half a read, latch, the MSB comes from the latch (one flip-flop) */
    out8(PIT_MODE_PORT, 0x00, 1001);
    CHECK_EQ_U64(in8(PIT_CH0_PORT, 1500), 4000 & 0xFF);
    CHECK_EQ_U64(in8(PIT_CH0_PORT, 2000), 4000 >> 8);
    CHECK_EQ_U64(read16(0, 2001), 3000);
    /* read-back: count and status of channel 0; status comes first */
    out8(PIT_MODE_PORT, 0xC2, 2001);
    CHECK_EQ_U64(in8(PIT_CH0_PORT, 2500), 0x80 | 0x34);
    CHECK_EQ_U64(read16(0, 2600), 3000);
    /* status only; a second status latch before reading is ignored */
    out8(PIT_MODE_PORT, 0xE2, 3000);
    out8(PIT_MODE_PORT, 0x34, 3100);                 /* new control word: null count, OUT hi */
    out8(PIT_MODE_PORT, 0xE2, 3100);
    CHECK_EQ_U64(in8(PIT_CH0_PORT, 3200), 0x80 | 0x34);
    CHECK_EQ_U64(status(0, 3200), 0xC0 | 0x34);
    /* read-back of all three counters' counts */
    program(0, 0x34, 100, 4000);
    program(1, 0x34, 200, 4000);
    out8(PIT_PORT61, P61_GATE2, 4000);
    program(2, 0x34, 300, 4000);
    out8(PIT_MODE_PORT, 0xDE, 4011);
    CHECK_EQ_U64(read16(0, 4050), 90);
    CHECK_EQ_U64(read16(1, 4050), 190);
    CHECK_EQ_U64(read16(2, 4050), 290);
    /* a latch survives a control word until read (8254: latches are only released by reads) */
    out8(PIT_MODE_PORT, 0x40, 4100);
    CHECK_EQ_U64(read16(1, 4200), 101);
}

static void test_bcd(void)
{
    vpit_reset(&p, &clk, E);
    program(0, 0x35, 0x1000, 0);                     /* mode 2, BCD 1000 */
    CHECK_EQ_U64(next0(1), AT(1 + 1000));
    CHECK_EQ_U64(latched(0, 2), 0x0999);
    CHECK_EQ_U64(status(0, 5), 0x80 | 0x35);
    CHECK_EQ_U64(latched(0, 1 + 999), 0x0001);
    program(0, 0x31, 0, 5000);                       /* mode 0, BCD 0 = 10000 */
    CHECK_EQ_U64(latched(0, 5001), 0x0000);
    CHECK_EQ_U64(latched(0, 5002), 0x9999);
    CHECK_EQ_U64(next0(5002), AT(5001 + 10000));
    CHECK_EQ_U64(latched(0, 5001 + 10001), 0x9999);  /* wraps in decimal */
}

static void test_port61(void)
{
    vpit_reset(&p, &clk, E);
    out8(PIT_PORT61, 0xFE, 0);
    CHECK_EQ_U64(in8(PIT_PORT61, 0) & 0xCF, 0x0E);   /* bits 7:4 read-only; 6, 7 are 0 */
    /* the refresh toggle flips every 18 clocks (15.09 us) */
    CHECK_EQ_U64(in8(PIT_PORT61, 17) & P61_REFRESH, 0);
    CHECK_EQ_U64(in8(PIT_PORT61, 18) & P61_REFRESH, P61_REFRESH);
    CHECK_EQ_U64(in8(PIT_PORT61, 35) & P61_REFRESH, P61_REFRESH);
    CHECK_EQ_U64(in8(PIT_PORT61, 36) & P61_REFRESH, 0);
    /* a loop waiting for a flip ends within 18 clocks of guest time */
    unsigned loops = 0;
    uint8_t first = in8(PIT_PORT61, 1000) & P61_REFRESH;
    uint64_t t = AT(1000);
    while ((vpit_read(&p, PIT_PORT61, t) & P61_REFRESH) == first && loops < 100) {
        t += 700;       /* about the cost of one exit */
        loops++;
    }
    CHECK(loops > 0 && loops <= 18 * TPT / 700 + 1);
}

int main(void)
{
    RUN(test_time);
    RUN(test_reset_state);
    RUN(test_mode2_rate);
    RUN(test_mode3_square);
    RUN(test_mode0_oneshot);
    RUN(test_gate_mode0);
    RUN(test_mode1_and_5);
    RUN(test_gate_mode2);
    RUN(test_latch_and_readback);
    RUN(test_bcd);
    RUN(test_port61);
    return check_summary("vpit");
}
