/* pmtimer_test: the ACPI power-management timer (ACPI 6.4, 4.8.3.3) found as an OS finds it.
 * RSDP -> RSDT (and XSDT) -> FADT, each checksum validated; PM_TMR_BLK, PM1a_EVT_BLK, PM1a_CNT_BLK
 * and the SCI from the FADT. Checks: the counter only moves forward (mod 2^24), a 24-bit timer
 * reads 0 in bits 31:24 and wraps from 0xffffff to 0 counting on; its rate over 200 ms of TSC
 * time (TSC: Keel's leaf, else PIT calibrated) is 3.579545 MHz +-2%; TMR_STS is set when bit
 * 23 toggles and cleared by writing 1;
 * with TMR_EN clear no SCI arrives (IOAPIC pin per the MADT, vector 0x59, polarity/trigger per
 * the override) even with SCI_EN set; with TMR_EN set the SCI arrives, the handler clears
 * TMR_STS, and after TMR_EN is cleared again nothing more arrives. */
#include "pc.h"

const char guest_name[] = GUEST_NAME;

#define V_SCI 0x59

static struct pm_ports pm;
static u32 tmr_mask;
static volatile u32 sci_count;

static u32 tmr(void) { return inl(pm.tmr) & tmr_mask; }

static void sci_handler(int vec)
{
	(void)vec;
	sci_count++;
	outw(pm.evt, PM1_TMR_STS); /* write 1 to clear: the level source goes away */
	apic_eoi();
}

/* wait until bit 23 (24-bit) toggles; returns 0 on timeout (ms of TSC time) */
static int wait_msb_toggle(u32 ms)
{
	u32 top = pm.tmr32 ? 1u << 31 : 1u << 23, b0 = tmr() & top;
	u64 t0 = rdtsc(), lim = (u64)tsc_khz() * ms;
	while ((tmr() & top) == b0)
		if (rdtsc() - t0 > lim)
			return 0;
	tsc_delay_us(2000); /* let the status/interrupt land */
	return 1;
}

void guest_main(void)
{
	uart_init_8n1();
	printf("pmtimer_test: %s\n", is_keel() ? "under Keel" : "no Keel");
	uptr rsdp = acpi_find_rsdp();
	if (!check("RSDP found", rsdp != 0))
		finish();
	check_eq("RSDP checksum", acpi_sum((void *)rsdp, 20), 0);
	struct acpi_hdr *rsdt = (struct acpi_hdr *)(uptr) * (u32 *)(rsdp + 16);
	check_eq("RSDT checksum", acpi_sum(rsdt, rsdt->length), 0);
	struct acpi_hdr *f = acpi_table("FACP", 0);
	if (!check("FADT found through the RSDT", f != 0))
		finish();
	check_eq("FADT checksum", acpi_sum(f, f->length), 0);
	if (*(u8 *)(rsdp + 15) >= 2) {
		struct acpi_hdr *fx = acpi_table("FACP", 1);
		check("FADT through the XSDT is the same table", fx == f);
	}
	pm_ports(&pm);
	tmr_mask = pm.tmr32 ? ~0u : 0xFFFFFFu;
	printf("PM_TMR 0x%x (%s-bit), PM1a_EVT 0x%x, PM1a_CNT 0x%x, SCI %u\n", pm.tmr,
	       pm.tmr32 ? "32" : "24", pm.evt, pm.cnt, pm.sci);
	if (!check("FADT gives a PM timer port", pm.tmr != 0))
		finish();
	if (is_keel())
		check_eq("keel: PM timer at 0x608", pm.tmr, 0x608);

	/* forward only, 24 bits */
	u32 prev = tmr(), back = 0, high = 0;
	for (int i = 0; i < 20000; i++) {
		u32 raw = inl(pm.tmr), c = raw & tmr_mask;
		high |= raw & ~tmr_mask;
		if (((c - prev) & tmr_mask) > (tmr_mask >> 1))
			back++;
		prev = c;
	}
	check_eq("20000 reads never go backwards", back, 0);
	if (!pm.tmr32) {
		check_eq("24-bit timer: bits 31:24 read 0", high, 0);
		/* the wrap 0xffffff -> 0 (every 4.69 s): the count goes on across it */
		u64 t0 = rdtsc(), lim = (u64)tsc_khz() * 6000;
		u32 a = tmr(), b = a, seen = 0;
		while (rdtsc() - t0 < lim) {
			b = tmr();
			if (b < a) {
				seen = 1;
				break;
			}
			a = b;
		}
		printf("wrap: 0x%x -> 0x%x\n", a, b);
		check("24-bit wrap seen within 6 s, counting on across it (step < 0x40000)",
		      seen && ((b - a) & tmr_mask) < 0x40000);
	}

	/* rate against the TSC */
	u32 khz = tsc_khz();
	printf("TSC %u kHz (%s)\n", khz, keel_freqs(NULL, NULL) ? "Keel leaf" : "PIT calibrated");
	u32 best = 0;
	for (int tries = 0; tries < 3; tries++) {
		u64 t0 = rdtsc();
		u32 c0 = tmr();
		u64 t1 = rdtsc();
		u64 span = (u64)khz * 200, a = t0 + (t1 - t0) / 2;
		while (rdtsc() - a < span)
			cpu_relax();
		u64 t2 = rdtsc();
		u32 c1 = tmr();
		u64 t3 = rdtsc();
		u64 dt = (t2 + (t3 - t2) / 2) - a;
		u32 hz = (u32)udiv64((u64)((c1 - c0) & tmr_mask) * khz * 1000ull, (u32)(dt > 0xFFFFFFFFu ?
			0xFFFFFFFFu : dt), NULL);
		printf("PM timer: %u ticks in %llu TSC ticks -> %u Hz\n", (c1 - c0) & tmr_mask,
		       (unsigned long long)dt, hz);
		best = hz;
		if (hz > PM_TMR_HZ / 50 * 49 && hz < PM_TMR_HZ / 50 * 51)
			break;
	}
	if (best > PM_TMR_HZ / 50 * 49 && best < PM_TMR_HZ / 50 * 51)
		ok("PM timer rate 3579545 Hz +-2%% (%u Hz)", best);
	else
		fail("PM timer rate 3579545 Hz +-2%%: got %u Hz", best);

	/* TMR_STS and the SCI */
	struct madt_info m;
	pc_madt(&m);
	pc_apic_setup();
	int pin;
	u32 lo = isa_rte(&m, (u8)pm.sci, V_SCI, &pin);
	printf("SCI: IRQ %u -> IOAPIC pin %d, RTE 0x%x\n", pm.sci, pin, lo);
	irq_set_handler(V_SCI, sci_handler);
	outw(pm.evt + 2, 0);            /* PM1_EN: nothing enabled */
	outw(pm.evt, 0xFFFF);           /* clear every status */
	ioapic_set_rte(pin, lo, (u8)apic_id());
	check("ACPI mode (SCI_EN) enabled", acpi_enable(&pm));
	outw(pm.evt, PM1_TMR_STS);
	sti();
	check("bit 23 of the PM timer toggles", wait_msb_toggle(6000));
	check("TMR_STS set by the bit-23 toggle", inw(pm.evt) & PM1_TMR_STS);
	check_eq("no SCI with TMR_EN clear", sci_count, 0);
	outw(pm.evt, PM1_TMR_STS);
	check_eq("TMR_STS cleared by writing 1", inw(pm.evt) & PM1_TMR_STS, 0);
	outw(pm.evt + 2, PM1_TMR_EN);
	wait_msb_toggle(6000);
	check("SCI arrives with TMR_EN set", sci_count >= 1);
	check_eq("handler cleared TMR_STS", inw(pm.evt) & PM1_TMR_STS, 0);
	check_eq_strict("IOAPIC remote IRR clear after EOI", ioapic_rte_lo(pin) & RTE_REMOTE_IRR, 0);
	outw(pm.evt + 2, 0);
	u32 n = sci_count;
	wait_msb_toggle(6000);
	check_eq("no SCI after TMR_EN cleared", sci_count, n);
	cli();
	ioapic_write(IOAPIC_REDTBL(pin), RTE_MASKED);
	finish();
}
