/* apic_timer: the local APIC timer measured against the TSC (SDM 11.5.4).
 * Clocks: CPUID 0x40000010 under Keel (EAX = TSC kHz, EBX = timer input kHz); on a bare machine
 * the TSC is calibrated against PIT channel 2 and the timer input is QEMU's 1 GHz, or the TSC
 * rate with `apic_bus=tsc` (Bochs), or `apic_bus_khz=<n>`.
 *  - one-shot: interrupt after count * divide input ticks (+-15%), once; CCR counts down to 0
 *  - periodic: 4 interrupts at the programmed period; TMICT = 0 stops it
 *  - every divide value: CCR decrement rate
 *  - masked: no interrupt (IRR stays clear) but CCR counts down
 *  - TSC-deadline (CPUID.1:ECX[24]): fires at the deadline, 0 disarms, a past deadline fires at
 *    once, the MSR reads 0 after expiry; ignored / reads 0 outside TSC-deadline mode
 *  - HLT with IF=1 sleeps until the timer interrupt
 * Intervals are 5-20 ms; an interrupt that comes late is retried (up to 12 tries, each printed),
 * since an emulator on a busy host delivers it late; one that comes early fails at once.
 * Options: ms=<n> (one-shot interval), x2apic (everything through the x2APIC MSRs; FAIL
 * without x2APIC). */
#include "apic.h"

const char guest_name[] = GUEST_NAME;

#define VEC_TIMER 0x50
#define VEC_SPUR  0xFF
#define TOL_PCT   15
#define TRIES     5  /* for a measurement off either way */
#define LATE_TRIES 12 /* for interrupts that only came late: a busy host, not the timer */

static u32 tsc_k, bus_k;
static volatile u32 ticks;
static volatile u64 tick_tsc[8];

static void on_timer(int vec)
{
	u64 t = rdtsc();
	(void)vec;
	if (ticks < 8)
		tick_tsc[ticks] = t;
	ticks++;
	apic_eoi();
}

static void on_spurious(int vec) { (void)vec; }

/* TDCR encodings (bits 0, 1, 3) for divide by 1, 2, 4, ..., 128 */
static const u8 tdcr_of[8] = { 0xB, 0x0, 0x1, 0x2, 0x3, 0x8, 0x9, 0xA };

static const char *const div_names[8] = {
	"divide by 1: CCR rate (+-15%)", "divide by 2: CCR rate (+-15%)",
	"divide by 4: CCR rate (+-15%)", "divide by 8: CCR rate (+-15%)",
	"divide by 16: CCR rate (+-15%)", "divide by 32: CCR rate (+-15%)",
	"divide by 64: CCR rate (+-15%)", "divide by 128: CCR rate (+-15%)",
};

static u64 ms_to_tsc(u32 ms) { return (u64)tsc_k * ms; }
static u32 ms_to_count(u32 ms, u32 div) { return (u32)udiv64((u64)bus_k * ms, div, NULL); }
static u64 count_to_tsc(u64 count, u32 div) { return udiv64(count * div * tsc_k, bus_k, NULL); }

static int within(u64 got, u64 want)
{
	u64 tol = udiv64(want * TOL_PCT, 100, NULL);
	return got + tol >= want && got <= want + tol;
}

/* 0 = within tolerance, -1 = early (the timer is wrong: no retry), 1 = late (retry) */
static int judge(u64 got, u64 want)
{
	if (within(got, want))
		return 0;
	return got < want ? -1 : 1;
}

static void print_ratio(const char *what, u64 got, u64 want)
{
	printf("  %s: %llu TSC ticks, expected %llu (%u%%)\n", what, (unsigned long long)got,
	       (unsigned long long)want, (u32)udiv64(got * 100, (u32)(want ? want : 1), NULL));
}

/* wait with IF=1 until `n` ticks arrived or `limit` TSC ticks passed */
static void wait_ticks(u32 n, u64 limit)
{
	u64 t0 = rdtsc();
	sti();
	while (ticks < n && rdtsc() - t0 < limit)
		cpu_relax();
	cli();
}

static void timer_stop(void)
{
	apic_write(APIC_LVT_TIMER, APIC_LVT_MASKED);
	apic_write(APIC_TMICT, 0);
}

/* ------------------------------------------------------------------ one-shot */
static void oneshot(u32 ms)
{
	u32 div = 4, count = ms_to_count(ms, div);
	u64 want = count_to_tsc(count, div);
	int v = 1;
	for (int i = 0; i < LATE_TRIES && v > 0; i++) {
		ticks = 0;
		apic_write(APIC_TDCR, tdcr_of[2]);
		apic_write(APIC_LVT_TIMER, APIC_TIMER_ONESHOT | VEC_TIMER);
		u64 t0 = rdtsc();
		apic_write(APIC_TMICT, count);
		u32 ccr = apic_read(APIC_TMCCT);
		if (i == 0)
			check("one-shot: CCR counting from ICR right after arming",
			      ccr > 0 && ccr <= count);
		wait_ticks(1, want * 4);
		if (!ticks) {
			fail("one-shot %u ms: no interrupt within 4x the interval", ms);
			break;
		}
		u64 got = tick_tsc[0] - t0;
		print_ratio("one-shot", got, want);
		v = judge(got, want);
	}
	check("one-shot: interrupt after count * divide input ticks (+-15%)", v == 0);
	check_eq("one-shot: CCR 0 after expiry", apic_read(APIC_TMCCT), 0);
	check_eq("one-shot: ICR keeps its value", apic_read(APIC_TMICT), count);
	u32 n = ticks;
	wait_ticks(n + 1, want * 2);
	check_eq("one-shot: fires only once", ticks, n);
	timer_stop();
}

/* ------------------------------------------------------------------ periodic */
static void periodic(void)
{
	u32 ms = 10, div = 1, count = ms_to_count(ms, div);
	u64 period = count_to_tsc(count, div);
	int v = 1;
	for (int i = 0; i < LATE_TRIES && v > 0; i++) {
		ticks = 0;
		apic_write(APIC_TDCR, tdcr_of[0]);
		apic_write(APIC_LVT_TIMER, APIC_TIMER_PERIODIC | VEC_TIMER);
		u64 t0 = rdtsc();
		apic_write(APIC_TMICT, count);
		wait_ticks(4, period * 12);
		u32 n = ticks;
		apic_write(APIC_TMICT, 0); /* stops the timer */
		if (n < 4) {
			fail("periodic: %u of 4 interrupts within 12 periods", n);
			break;
		}
		u64 got = tick_tsc[3] - t0;
		print_ratio("periodic, 4 periods", got, period * 4);
		v = judge(got, period * 4);
	}
	check("periodic: 4 interrupts at the programmed period (+-15%)", v == 0);
	check_eq("periodic: CCR 0 after TMICT = 0", apic_read(APIC_TMCCT), 0);
	u32 n = ticks;
	wait_ticks(n + 1, period * 3);
	check_eq("periodic: no interrupt after TMICT = 0", ticks, n);
	timer_stop();
}

/* ------------------------------------------------------------------ divider */
static void dividers(void)
{
	apic_write(APIC_LVT_TIMER, APIC_LVT_MASKED | VEC_TIMER);
	for (int k = 0; k < 8; k++) {
		u32 div = 1u << k;
		/* a window long enough for >= 4000 counts, at least 2 ms, at most 40 ms */
		u32 ms = (u32)udiv64((u64)4000 * div, bus_k, NULL) + 2;
		if (ms > 40)
			ms = 40;
		int good = 0;
		for (int i = 0; i < TRIES && !good; i++) {
			apic_write(APIC_TDCR, tdcr_of[k]);
			apic_write(APIC_TMICT, 0xFFFFFFFFu);
			u64 t0 = rdtsc();
			u32 c0 = apic_read(APIC_TMCCT);
			while (rdtsc() - t0 < ms_to_tsc(ms))
				cpu_relax();
			u32 c1 = apic_read(APIC_TMCCT);
			u64 t1 = rdtsc();
			u64 want = udiv64((t1 - t0) * bus_k, div, NULL);
			want = udiv64(want, tsc_k, NULL);
			u64 got = (u64)(c0 - c1);
			printf("  divide %u: CCR -%llu in %llu TSC ticks, expected -%llu\n", div,
			       (unsigned long long)got, (unsigned long long)(t1 - t0),
			       (unsigned long long)want);
			good = c1 < c0 && within(got, want);
		}
		check(div_names[k], good);
		check_eq("TDCR reads back", apic_read(APIC_TDCR), tdcr_of[k]);
	}
	timer_stop();
}

/* ------------------------------------------------------------------ masked */
static void masked(void)
{
	/* 40 ms: a busy host may stall the vCPU for several ms between two instructions */
	u32 ms = 40, div = 1, count = ms_to_count(ms, div);
	u64 want = count_to_tsc(count, div);
	ticks = 0;
	apic_write(APIC_TDCR, tdcr_of[0]);
	apic_write(APIC_LVT_TIMER, APIC_LVT_MASKED | APIC_TIMER_ONESHOT | VEC_TIMER);
	apic_write(APIC_TMICT, count);
	u64 t0 = rdtsc();
	while (rdtsc() - t0 < want / 2)
		cpu_relax();
	u32 mid = apic_read(APIC_TMCCT);
	check("masked: CCR counts down", mid > 0 && mid < count);
	wait_ticks(1, want * 2);
	check_eq("masked: no interrupt", ticks, 0);
	check_eq("masked: CCR reached 0", apic_read(APIC_TMCCT), 0);
	check("masked: vector not pending in IRR", !apic_vec_bit(APIC_IRR, VEC_TIMER));
	/* unmasking after expiry does not deliver the lost interrupt */
	apic_write(APIC_LVT_TIMER, APIC_TIMER_ONESHOT | VEC_TIMER);
	wait_ticks(1, want);
	check_eq("masked: unmasking after expiry delivers nothing", ticks, 0);
	timer_stop();
}

/* ------------------------------------------------------------------ TSC deadline */
static void tsc_deadline(void)
{
	if (!apic_has_tsc_deadline()) {
		printf("note: no TSC-deadline timer (CPUID.1:ECX[24] = 0)\n");
		return;
	}
	/* outside TSC-deadline mode the MSR reads 0 and ignores writes */
	apic_write(APIC_LVT_TIMER, APIC_TIMER_ONESHOT | VEC_TIMER);
	wrmsr(MSR_TSC_DEADLINE, rdtsc() + ms_to_tsc(1));
	check_eq("deadline MSR reads 0 in one-shot mode", rdmsr(MSR_TSC_DEADLINE), 0);
	ticks = 0;
	wait_ticks(1, ms_to_tsc(3));
	check_eq("deadline MSR write ignored in one-shot mode", ticks, 0);

	apic_write(APIC_LVT_TIMER, APIC_TIMER_DEADLINE | VEC_TIMER);
	check_eq("LVT timer TSC-deadline mode reads back", apic_read(APIC_LVT_TIMER),
		 APIC_TIMER_DEADLINE | VEC_TIMER);
	apic_write(APIC_TMICT, 12345);
	check_eq("deadline mode: TMICT writes ignored", apic_read(APIC_TMICT), 0);
	check_eq("deadline mode: CCR reads 0", apic_read(APIC_TMCCT), 0);
	u32 ms = 10;
	u64 late = 0;
	int good = 0, early = 0;
	for (int i = 0; i < LATE_TRIES && !good && !early; i++) {
		ticks = 0;
		u64 dl = rdtsc() + ms_to_tsc(ms);
		wrmsr(MSR_TSC_DEADLINE, dl);
		if (i == 0)
			check_eq("deadline MSR reads the armed deadline", rdmsr(MSR_TSC_DEADLINE), dl);
		wait_ticks(1, ms_to_tsc(ms * 4));
		if (!ticks) {
			fail("TSC deadline: no interrupt within 4x the interval");
			break;
		}
		late = tick_tsc[0] - dl;
		printf("  deadline: handler %lld TSC ticks after the deadline (%u ms = %llu ticks)\n",
		       (long long)(tick_tsc[0] - dl), ms, (unsigned long long)ms_to_tsc(ms));
		early = tick_tsc[0] < dl;
		good = !early && late <= udiv64(ms_to_tsc(ms) * TOL_PCT, 100, NULL);
	}
	check("TSC deadline: interrupt at the deadline, not before, at most 15% late", good);
	u64 after = rdmsr(MSR_TSC_DEADLINE);
	if (after == 0 || cpu_is_keel()) /* SDM 11.5.4.1: expiry clears the MSR (Bochs keeps it) */
		check_eq("deadline MSR reads 0 after expiry", after, 0);
	else
		printf("gap deadline MSR reads 0 after expiry: got 0x%llx (strict under Keel)\n",
		       (unsigned long long)after);
	/* writing 0 disarms */
	ticks = 0;
	wrmsr(MSR_TSC_DEADLINE, rdtsc() + ms_to_tsc(20));
	wrmsr(MSR_TSC_DEADLINE, 0);
	wait_ticks(1, ms_to_tsc(40));
	check_eq("deadline 0 disarms", ticks, 0);
	/* a deadline in the past fires at once */
	ticks = 0;
	wrmsr(MSR_TSC_DEADLINE, 1);
	wait_ticks(1, ms_to_tsc(2));
	check_eq("deadline in the past fires at once", ticks, 1);
	/* leaving deadline mode disarms */
	ticks = 0;
	wrmsr(MSR_TSC_DEADLINE, rdtsc() + ms_to_tsc(20));    /* far enough that a stalled vCPU */
	apic_write(APIC_LVT_TIMER, APIC_TIMER_ONESHOT | VEC_TIMER); /* switches before it */
	wait_ticks(1, ms_to_tsc(40));
	check_eq("switching to one-shot disarms the deadline", ticks, 0);
	timer_stop();
}

/* ------------------------------------------------------------------ HLT */
static void hlt_wakeup(void)
{
	u32 ms = 5, div = 2, count = ms_to_count(ms, div);
	u64 want = count_to_tsc(count, div);
	int v = 1;
	for (int i = 0; i < LATE_TRIES && v > 0; i++) {
		ticks = 0;
		apic_write(APIC_TDCR, tdcr_of[1]);
		apic_write(APIC_LVT_TIMER, APIC_TIMER_ONESHOT | VEC_TIMER);
		u64 t0 = rdtsc();
		apic_write(APIC_TMICT, count);
		sti_hlt(); /* the timer interrupt ends the HLT */
		cli();
		u64 t1 = rdtsc();
		if (!ticks) {
			fail("HLT returned without the timer interrupt");
			break;
		}
		print_ratio("HLT woken by the timer", t1 - t0, want);
		v = judge(t1 - t0, want);
	}
	check("HLT with IF=1 sleeps until the timer interrupt (+-15%)", v == 0);
	timer_stop();
}

void guest_main(void)
{
	uart_init_8n1();
	pic_mask_all();
	irq_set_handler(VEC_TIMER, on_timer);
	irq_set_handler(VEC_SPUR, on_spurious);
	apic_use_xapic();
	if (cmd_has("x2apic") && !apic_use_x2apic()) {
		fail("x2apic asked for, but CPUID.1:ECX[21] = 0");
		return;
	}
	apic_sw_enable(VEC_SPUR);
	apic_write(APIC_LVT_LINT0, APIC_LVT_MASKED);
	apic_write(APIC_LVT_LINT1, APIC_LVT_MASKED);
	tsc_k = tsc_khz();
	bus_k = apic_bus_khz();
	printf("apic_timer: %s, %s, TSC %u kHz, timer input %u kHz\n",
	       cpu_is_keel() ? "under Keel" : "no Keel", apic_is_x2() ? "x2APIC" : "xAPIC", tsc_k,
	       bus_k);
	if (cpu_is_keel()) {
		u32 a, b;
		check("Keel leaf 0x40000010 gives both clocks", keel_freqs(&a, &b) && a && b);
	}
	if (tsc_k < 1000 || bus_k < 1000) {
		fail("clocks too slow to measure");
		return;
	}
	oneshot((u32)cmd_num("ms", 10));
	periodic();
	dividers();
	masked();
	tsc_deadline();
	hlt_wakeup();
	check_eq("no spurious interrupts", irq_count[VEC_SPUR], 0);
}
