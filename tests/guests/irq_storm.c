/* irq_storm: a vCPU that keeps an interrupt pending forever (for the "others and the shell stay
 * responsive" test). Vector 0x50 is raised by a self-IPI and by the APIC timer in periodic mode
 * (period ~100 us of APIC bus time, divide by 1), then, per mode=<m>:
 *   pending (default) - IF stays 0 the whole time: the interrupt window never opens, the vector
 *                       stays in the IRR; checks: handler never ran, IRR bit set.
 *   noeoi             - IF=1, but the handler never EOIs and re-raises the vector by self-IPI:
 *                       the ISR bit blocks it, so it stays pending; checks: handler ran once,
 *                       ISR and IRR bits set.
 *   storm             - IF=1, the handler EOIs and immediately re-raises it: interrupts back to
 *                       back, the main loop makes no progress until the handler stops at the
 *                       end of the run (loops=<n>: after n interrupts); check: handled > 100.
 * Runs for secs=<n> seconds of TSC time (default 3; TSC rate from Keel's CPUID leaf 0x40000010,
 * else tsc_khz=<kHz>, else measured with the PIT) or, if given, loops=<n> PAUSE iterations,
 * printing `storm: <k> s, handled <c>` once a second, then exits 0 (min(failures, 100)). */
#include "smp.h"

const char guest_name[] = GUEST_NAME;

#define V_STORM 0x50
#define TDCR_DIV1 0xB
enum { M_PENDING, M_NOEOI, M_STORM };

static int mode;
static volatile u32 handled;
static u64 storm_end; /* storm: the handler stops re-raising at this TSC (0: loops mode) */
static u32 storm_left = ~0u;

static void storm_handler(int vec)
{
	(void)vec;
	handled++;
	if (mode == M_STORM) {
		apic_eoi();
		/* the interrupted code makes no progress while the storm lasts (a pending interrupt is
		 * taken right after IRET), so the handler itself ends it */
		if (storm_end ? rdtsc() >= storm_end : !storm_left || !--storm_left)
			return;
	}
	apic_self_ipi(V_STORM); /* noeoi: pending behind its own ISR bit; storm: the next one */
}

void guest_main(void)
{
	uart_init_8n1(); /* bare Bochs: the BIOS leaves 5-bit characters */
	const char *m = cmd_get("mode");
	u32 secs = (u32)cmd_num("secs", 3);
	u64 loops = cmd_num("loops", 0);
	mode = M_PENDING;
	if (m && !strncmp(m, "noeoi", 5))
		mode = M_NOEOI;
	else if (m && !strncmp(m, "storm", 5))
		mode = M_STORM;
	static const char *const names[] = { "pending", "noeoi", "storm" };
	smp_init(0);
	irq_set_handler(V_STORM, storm_handler);
	u64 second = smp_ms_ticks(1000);
	printf("irq_storm: mode %s, %s %llu, tsc %u kHz\n", names[mode], loops ? "loops" : "secs",
	       (unsigned long long)(loops ? loops : secs), tsc_khz());

	apic_write(APIC_TDCR, TDCR_DIV1);
	apic_write(APIC_LVT_TIMER, APIC_TIMER_PERIODIC | V_STORM);
	u32 count = apic_bus_khz() / 10; /* ~100 us */
	apic_write(APIC_TMICT, count ? count : 1);
	u64 t0 = rdtsc(), next = t0 + second;
	storm_end = loops ? 0 : t0 + second * secs;
	if (loops)
		storm_left = loops > 0xFFFFFFFFu ? 0xFFFFFFFFu : (u32)loops;
	apic_self_ipi(V_STORM);
	if (mode != M_PENDING)
		sti();

	u32 k = 0, tick = 0;
	for (u64 i = 0;; i++) {
		u64 now = rdtsc();
		if (loops ? i >= loops : now - t0 >= second * secs)
			break;
		if (!loops && now >= next) {
			printf("storm: %u s, handled %u\n", ++k, handled);
			next += second;
		} else if (loops && ++tick == 1000000) {
			tick = 0;
			printf("storm: %llu loops, handled %u\n", (unsigned long long)(i + 1),
			       handled);
		}
		cpu_relax();
	}
	cli();
	printf("storm: end, handled %u\n", handled);
	int irr = apic_vec_bit(APIC_IRR, V_STORM), isr = apic_vec_bit(APIC_ISR, V_STORM);
	if (mode == M_PENDING) {
		check_eq("handler never ran with IF=0", handled, 0);
		check_eq("vector 0x50 still pending in the IRR", irr, 1);
	} else if (mode == M_NOEOI) {
		check_eq("handler ran once (never EOIed)", handled, 1);
		check_eq("vector 0x50 in service (ISR)", isr, 1);
		check_eq("vector 0x50 pending behind it (IRR)", irr, 1);
	} else {
		CHECKF(handled > 100, "interrupts handled back to back: %u", handled);
	}
	apic_write(APIC_TMICT, 0);
	finish();
}
