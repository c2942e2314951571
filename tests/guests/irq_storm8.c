/* irq_storm8: a level-triggered IOAPIC line that is never serviced, on one vCPU, while another
 * vCPU of the same VM counts progress (the interrupt storms of guests with directed EOI).
 * Needs 2 vCPUs. The line: the SCI (IRQ 9, polarity/trigger per the MADT override) held asserted
 * by the PM timer's TMR_STS with TMR_EN set (nobody clears it), routed (vector 0x63, physical
 * destination) to CPU 1; CPU 0 counts loop iterations and prints (a CPU in the storm makes no
 * progress of its own between back-to-back interrupts, so it cannot be the reporter). mode=<m>:
 *   eoi (default) - the handler EOIs the local APIC but never clears the source: the EOI
 *                   broadcast re-delivers the asserted line at once, back to back;
 *                   check: handled > 100.
 *   directed      - SVR bit 12 (EOI-broadcast suppression) on the storm CPU, the handler EOIs
 *                   the local APIC and never writes the IOAPIC EOI register: the line stays
 *                   remote-IRR-blocked; checks: handled exactly once, remote IRR set.
 * First a 1 s baseline of the counting CPU, then secs=<n> (default 3) of TSC time with the line
 * live: `storm8: <k> s, progress <p>/s (<pct>% of baseline), storm irqs <c>` each second;
 * check: every second's progress >= 25% of the baseline (min_pct=<n>). Then the line is
 * masked and cleared, `storm8: end, handled <c>`, exit min(failures, 100). */
#include "pc.h"
#include "smp.h"

const char guest_name[] = GUEST_NAME;

#define V_STORM8 0x63

static struct pm_ports pm;
static volatile u32 handled, stop, storm_ready;
static volatile u64 progress;
static int directed;

static void storm_handler(int vec)
{
	(void)vec;
	handled++;
	apic_eoi(); /* never the source, never the IOAPIC EOI register */
}

static void storm_cpu_fn(int cpu, void *arg)
{
	(void)cpu;
	(void)arg;
	if (directed)
		apic_write(APIC_SVR, apic_read(APIC_SVR) | APIC_SVR_NO_EOI_BCAST);
	storm_ready = 1;
	sti();
	while (!stop)
		cpu_relax();
	cli();
	if (directed)
		apic_write(APIC_SVR, apic_read(APIC_SVR) & ~APIC_SVR_NO_EOI_BCAST);
}

static u64 count_for(u64 ticks)
{
	u64 n = 0, t0 = rdtsc();
	for (;;) {
		for (int i = 0; i < 256; i++)
			__asm__ volatile("" ::: "memory");
		n++;
		if ((n & 63) == 0 && rdtsc() - t0 >= ticks)
			return n;
	}
}

void guest_main(void)
{
	uart_init_8n1();
	const char *m = cmd_get("mode");
	directed = m && !strncmp(m, "directed", 8);
	u32 secs = (u32)cmd_num("secs", 3), min_pct = (u32)cmd_num("min_pct", 25);
	u32 scpu = 1;
	struct madt_info mi;
	pc_madt(&mi);
	smp_init(0);
	u32 n = cpu_count();
	printf("irq_storm8: mode %s, %u vCPU(s), storm on cpu %u, secs %u, tsc %u kHz, %s\n",
	       directed ? "directed" : "eoi", n, scpu, secs, tsc_khz(),
	       is_keel() ? "under Keel" : "no Keel");
	if (!check("at least 2 vCPUs", n >= 2))
		finish();
	check_eq("cpu 1 started", smp_start_all(2, 2000), 1);
	ioapic_mask_all();
	if (directed && !(apic_read(APIC_VERSION) & (1u << 24))) {
		check_strict("LAPIC supports EOI-broadcast suppression", 0);
		finish();
	}
	if (!check("FADT PM block", pm_ports(&pm) && pm.evt))
		finish();
	int pin;
	u32 lo = isa_rte(&mi, (u8)pm.sci, V_STORM8, &pin);
	irq_set_handler(V_STORM8, storm_handler);
	ioapic_set_rte(pin, lo | RTE_MASKED, (u8)smp_cpus[scpu].apic_id);
	outw(pm.evt + 2, 0);
	outw(pm.evt, 0xFFFF);
	check("ACPI mode (SCI_EN)", acpi_enable(&pm));
	outw(pm.evt + 2, PM1_TMR_EN);

	u64 sec = (u64)tsc_khz() * 1000;
	u64 base = count_for(sec);
	printf("storm8: baseline progress %llu/s\n", (unsigned long long)base);
	u64 t0 = rdtsc();
	while (!(inw(pm.evt) & PM1_TMR_STS) && rdtsc() - t0 < 6 * sec)
		cpu_relax();
	check("SCI line asserted (TMR_STS)", inw(pm.evt) & PM1_TMR_STS);

	smp_call(scpu, storm_cpu_fn, 0);
	smp_wait_ge(&storm_ready, 1, 1000);
	ioapic_write(IOAPIC_REDTBL(pin), lo); /* live */
	u32 worst = 100, prev = 0;
	for (u32 k = 1; k <= secs; k++) {
		u64 p = count_for(sec);
		u32 pct = (u32)udiv64(p * 100, (u32)(base ? base : 1), NULL);
		u32 h = handled;
		printf("storm8: %u s, progress %llu/s (%u%% of baseline), storm irqs %u\n", k,
		       (unsigned long long)p, pct, h - prev);
		prev = h;
		if (pct < worst)
			worst = pct;
	}
	u32 rirr = !!(ioapic_rte_lo(pin) & RTE_REMOTE_IRR);
	ioapic_write(IOAPIC_REDTBL(pin), RTE_MASKED);
	outw(pm.evt + 2, 0);
	outw(pm.evt, PM1_TMR_STS);
	stop = 1;
	smp_call_wait(scpu, 1000);
	if (directed)
		*(volatile u32 *)(ioapic_base + IOAPIC_EOI_OFF) = V_STORM8;
	printf("storm8: end, handled %u\n", handled);
	if (worst >= min_pct)
		ok("the counting cpu kept its pace: worst second %u%% of baseline (>= %u%%)", worst,
		   min_pct);
	else
		fail("the counting cpu kept its pace: worst second %u%% of baseline (< %u%%)", worst,
		     min_pct);
	if (directed) {
		check_eq("directed: handled exactly once (no IOAPIC EOI, no re-delivery)", handled, 1);
		check_eq("directed: remote IRR still set at the end", rirr, 1);
	} else {
		if (handled > 100)
			ok("eoi: the asserted line was re-delivered back to back: %u", handled);
		else
			fail("eoi: the asserted line was re-delivered back to back: only %u", handled);
	}
	finish();
}
