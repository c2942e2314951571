/* Local APIC helpers for the test guests: mode switching, register access, IPIs, clocks. */
#include "apic.h"

static int g_x2; /* helpers use x2APIC MSRs */

int apic_has_x2apic(void) { return (cpuid(1, 0).ecx >> 21) & 1; }
int apic_has_tsc_deadline(void) { return (cpuid(1, 0).ecx >> 24) & 1; }

int cpu_is_keel(void)
{
	if (!((cpuid(1, 0).ecx >> 31) & 1)) /* hypervisor-present bit */
		return 0;
	struct cpuid_regs r = cpuid(0x40000000, 0);
	return r.ebx == 0x6C65654Bu && r.ecx == 0x6C65654Bu && r.edx == 0x6C65654Bu; /* "Keel" */
}

int keel_freqs(u32 *tsc, u32 *bus)
{
	if (!cpu_is_keel() || cpuid(0x40000000, 0).eax < 0x40000010)
		return 0;
	struct cpuid_regs r = cpuid(0x40000010, 0);
	if (tsc)
		*tsc = r.eax;
	if (bus)
		*bus = r.ebx;
	return r.eax != 0;
}

/* PIT channel 2 (gate and output through port 0x61), mode 0: the output rises at terminal
 * count. 1193182 Hz input clock. */
#define PIT_HZ       1193182u
#define PIT_CH2      0x42
#define PIT_CMD      0x43
#define PORT_B       0x61
#define PORTB_GATE2  0x01
#define PORTB_SPKR   0x02
#define PORTB_OUT2   0x20

static u16 pit_count(void)
{
	outb(PIT_CMD, 0x80); /* counter latch, channel 2 */
	u8 lo = inb(PIT_CH2);
	return (u16)(lo | inb(PIT_CH2) << 8);
}

/* (TSC, PIT count) taken as close together as possible: the pair with the shortest TSC bracket
 * of a few tries, so that a host descheduling the emulator does not skew it */
static void pit_sample(u64 *tsc, u16 *cnt)
{
	u64 best = ~0ull;
	for (int i = 0; i < 8; i++) {
		u64 a = rdtsc();
		u16 c = pit_count();
		u64 b = rdtsc();
		if (b - a < best) {
			best = b - a;
			*tsc = a + (b - a) / 2;
			*cnt = c;
		}
	}
}

/* TSC kHz over `ms` of PIT channel 2 time: mode 2 with count 65536, polled often enough that
 * the 55 ms wrap is never missed */
static u32 pit_measure_khz(u32 ms)
{
	u32 want = PIT_HZ / 1000 * ms, elapsed = 0;
	u8 b = inb(PORT_B);
	outb(PORT_B, (u8)((b & ~PORTB_SPKR) | PORTB_GATE2));
	outb(PIT_CMD, 0xB4); /* channel 2, lobyte/hibyte, mode 2, binary */
	outb(PIT_CH2, 0);
	outb(PIT_CH2, 0);
	u64 t0, t1;
	u16 c0, c1, prev;
	pit_sample(&t0, &c0);
	prev = c0;
	for (u32 spins = 0; elapsed < want && spins < 10000000u; spins++) {
		u16 c = pit_count();
		elapsed += (u16)(prev - c);
		prev = c;
	}
	pit_sample(&t1, &c1);
	elapsed += (u16)(prev - c1);
	outb(PORT_B, b);
	if (!elapsed)
		return 0;
	return (u32)udiv64(udiv64((t1 - t0) * PIT_HZ, elapsed, NULL), 1000, NULL);
}

static u32 g_tsc_khz;

u32 tsc_khz(void)
{
	if (g_tsc_khz)
		return g_tsc_khz;
	u32 k = (u32)cmd_num("tsc_khz", 0);
	if (!k && !keel_freqs(&k, NULL))
		k = 0;
	if (!k) {
		/* the median of three */
		u32 m[3];
		pit_measure_khz(2); /* warm-up (first port accesses can be slow in emulators) */
		for (int i = 0; i < 3; i++)
			m[i] = pit_measure_khz(20);
		k = m[0] > m[1] ? (m[1] > m[2] ? m[1] : m[0] > m[2] ? m[2] : m[0])
				: (m[0] > m[2] ? m[0] : m[1] > m[2] ? m[2] : m[1]);
	}
	g_tsc_khz = k ? k : 1;
	return g_tsc_khz;
}

u32 apic_bus_khz(void)
{
	u32 b = (u32)cmd_num("apic_bus_khz", 0);
	if (b)
		return b;
	if (keel_freqs(NULL, &b) && b)
		return b;
	if (cmd_has("apic_bus=tsc")) /* Bochs: the APIC timer counts CPU ticks, like its TSC */
		return tsc_khz();
	return 1000000; /* QEMU: 1 GHz */
}

void tsc_delay_us(u32 us)
{
	u64 t = udiv64((u64)tsc_khz() * us, 1000, NULL), t0 = rdtsc();
	while (rdtsc() - t0 < t)
		cpu_relax();
}

u64 apic_base_msr(void) { return rdmsr(MSR_APIC_BASE); }
int apic_is_x2(void) { return g_x2; }
void apic_set_mode_flag(int x2) { g_x2 = x2; }

void apic_use_xapic(void)
{
	u64 b = rdmsr(MSR_APIC_BASE);
	if (b & APIC_BASE_EXTD) /* x2APIC -> xAPIC only through disabled (SDM 11.12.5) */
		wrmsr(MSR_APIC_BASE, b & ~(u64)(APIC_BASE_EXTD | APIC_BASE_EN));
	b &= ~(APIC_BASE_ADDR_MASK | APIC_BASE_EXTD);
	wrmsr(MSR_APIC_BASE, b | APIC_DEFAULT_PHYS | APIC_BASE_EN);
	g_x2 = 0;
}

int apic_use_x2apic(void)
{
	if (!apic_has_x2apic())
		return 0;
	u64 b = rdmsr(MSR_APIC_BASE);
	if (!(b & APIC_BASE_EN)) {
		b |= APIC_BASE_EN;
		wrmsr(MSR_APIC_BASE, b);
	}
	wrmsr(MSR_APIC_BASE, b | APIC_BASE_EXTD);
	g_x2 = 1;
	return 1;
}

u32 apic_read(u32 off) { return g_x2 ? (u32)x2apic_read(off) : xapic_read(off); }

void apic_write(u32 off, u32 v)
{
	if (g_x2)
		x2apic_write(off, v);
	else
		xapic_write(off, v);
}

u32 apic_id(void) { return g_x2 ? (u32)x2apic_read(APIC_ID) : xapic_read(APIC_ID) >> 24; }

void apic_sw_enable(u8 spurious_vec)
{
	u32 v = apic_read(APIC_SVR);
	apic_write(APIC_SVR, (v & ~0xFFu) | APIC_SVR_ENABLE | spurious_vec);
}

void apic_sw_disable(void) { apic_write(APIC_SVR, apic_read(APIC_SVR) & ~APIC_SVR_ENABLE); }

int apic_send_ipi(u32 dest, u32 icr_lo)
{
	if (g_x2) {
		wrmsr(X2APIC_MSR(APIC_ICR_LO), ((u64)dest << 32) | icr_lo);
		return 0;
	}
	xapic_write(APIC_ICR_HI, dest << 24);
	xapic_write(APIC_ICR_LO, icr_lo);
	for (u32 i = 0; i < 1000000u; i++) {
		if (!(xapic_read(APIC_ICR_LO) & APIC_ICR_BUSY))
			return 0;
		cpu_relax();
	}
	return -1;
}

int apic_vec_bit(u32 base, u8 vec)
{
	return (apic_read(base + 0x10u * (vec >> 5)) >> (vec & 31)) & 1;
}

u32 cpu_count(void)
{
	u32 n = (u32)cmd_num("ncpus", 0);
	if (!n)
		n = (cpuid(1, 0).ebx >> 16) & 0xFF;
	return n ? n : 1;
}

void pic_mask_all(void)
{
	outb(0x21, 0xFF); /* master PIC OCW1: mask IRQ 0-7 */
	outb(0xA1, 0xFF); /* slave PIC OCW1: mask IRQ 8-15 */
}
