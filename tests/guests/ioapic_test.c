/* ioapic_test: the I/O APIC (82093AA datasheet; version 0x20 with the EOI register) as an OS
 * finds it: base from the MADT (else 0xFEC00000), ID (Keel: = number of vCPUs), version 0x20
 * with 24 pins, RTE round trip (read-only delivery status and remote IRR bits). Edge: PIT IRQ0
 * (mode 2, 100 Hz) on the pin the MADT override gives (2), ~20 interrupts in 200 ms, none while
 * masked, TMR bit clear, remote IRR never set. Level: the SCI (IRQ 9; polarity and trigger from
 * the override, Keel: level/active-low) asserted by the PM timer's TMR_STS with TMR_EN:
 * masked -> nothing, unmasked -> delivered with remote IRR, LAPIC ISR and TMR set; no second
 * delivery while remote IRR is set; a LAPIC EOI (broadcast) re-delivers the line still asserted;
 * the IOAPIC EOI register (0x40) re-delivers it too; after the source is cleared an EOI ends it
 * for good. Directed EOI (LAPIC version bit 24, SVR bit 12): the LAPIC EOI alone leaves remote
 * IRR set and nothing re-delivered, the IOAPIC EOI register ends it. Polarity (Keel, strict):
 * an RTE with the opposite polarity on an idle level line fires. */
#include "pc.h"

const char guest_name[] = GUEST_NAME;

#define V_EDGE 0x61
#define V_LVL 0x62
enum { EOI_NONE, EOI_LAPIC, EOI_CLEAR };

static struct pm_ports pm;
static volatile u32 n_edge, n_lvl;
static volatile int eoi_mode;
static volatile u32 rirr_in_handler;
static int pin_lvl;

static void edge_handler(int vec)
{
	(void)vec;
	n_edge++;
	apic_eoi();
}

static void lvl_handler(int vec)
{
	(void)vec;
	n_lvl++;
	rirr_in_handler = ioapic_rte_lo(pin_lvl) & RTE_REMOTE_IRR;
	if (eoi_mode == EOI_CLEAR)
		outw(pm.evt, PM1_TMR_STS);
	if (eoi_mode != EOI_NONE)
		apic_eoi();
}

static void let_in(u32 us)
{
	sti();
	tsc_delay_us(us);
	cli();
}

static int wait_lvl(u32 want, u32 ms)
{
	u64 t0 = rdtsc(), lim = (u64)tsc_khz() * ms;
	sti();
	while (n_lvl < want && rdtsc() - t0 < lim)
		cpu_relax();
	cli();
	return n_lvl >= want;
}

/* wait until TMR_STS is set (PM timer bit 23 toggled: at most 2.35 s) */
static int wait_tmr_sts(void)
{
	u64 t0 = rdtsc(), lim = (u64)tsc_khz() * 5000;
	while (!(inw(pm.evt) & PM1_TMR_STS))
		if (rdtsc() - t0 > lim)
			return 0;
	return 1;
}

static u32 rirr(void) { return !!(ioapic_rte_lo(pin_lvl) & RTE_REMOTE_IRR); }

static void basics(const struct madt_info *m)
{
	u32 id = ioapic_read(IOAPIC_ID), ver = ioapic_read(IOAPIC_VER);
	printf("IOAPIC at 0x%x: id 0x%x version 0x%x arb 0x%x\n", (u32)ioapic_base, id, ver,
	       ioapic_read(IOAPIC_ARB));
	check_eq("version 0x20 (with the EOI register)", ver & 0xFF, 0x20);
	check_eq("24 pins (max redirection entry 23)", (ver >> 16) & 0xFF, 23);
	check_eq("ID register matches the MADT", (id >> 24) & 0xF, m->ioapic_id & 0xF);
	if (is_keel())
		check_eq("keel: IOAPIC ID 0 (as QEMU and KVM give it)", (id >> 24) & 0xF, 0);
	u32 lo = RTE_MASKED | RTE_LEVEL | RTE_LOW | RTE_LOGICAL | APIC_DM_LOWEST | 0xF5;
	ioapic_write(IOAPIC_REDTBL(20), lo | RTE_REMOTE_IRR | RTE_PENDING);
	ioapic_write(IOAPIC_REDTBL(20) + 1, 0xAB000000);
	check_eq("RTE 20 low round trip (delivery status, remote IRR read-only)",
		 ioapic_rte_lo(20), lo);
	check_eq("RTE 20 high: destination round trip", ioapic_read(IOAPIC_REDTBL(20) + 1) >> 24,
		 0xAB);
	ioapic_write(IOAPIC_REDTBL(20), RTE_MASKED);
	ioapic_write(IOAPIC_REDTBL(20) + 1, 0);
	ioapic_write(IOAPIC_REDTBL(23), 0x12345);
	check_eq("RTE 23 (last pin) writable", ioapic_rte_lo(23), 0x12345);
	ioapic_write(IOAPIC_REDTBL(23), RTE_MASKED);
}

static void edge(const struct madt_info *m)
{
	int pin;
	u32 lo = isa_rte(m, 0, V_EDGE, &pin);
	check_eq("IRQ0 -> pin 2 (MADT override)", pin, 2);
	outb(PIT_CMDP, 0x34);
	outb(PIT_CH0, (u8)11932);
	outb(PIT_CH0, (u8)(11932 >> 8));
	ioapic_set_rte(pin, lo, (u8)apic_id());
	u32 got = 0;
	for (int tries = 0; tries < 5; tries++) {
		n_edge = 0;
		let_in(200000);
		got = n_edge;
		if (got >= 15 && got <= 25)
			break;
		printf("retry edge: %u interrupts in 200 ms\n", got);
	}
	if (got >= 15 && got <= 25)
		ok("edge: PIT IRQ0 at 100 Hz through pin 2: %u in 200 ms", got);
	else
		fail("edge: PIT IRQ0 at 100 Hz through pin 2: got %u want 20 +-5", got);
	check_eq("edge: remote IRR never set", ioapic_rte_lo(pin) & RTE_REMOTE_IRR, 0);
	ioapic_write(IOAPIC_REDTBL(pin), lo | RTE_MASKED);
	let_in(20000); /* one may have reached the LAPIC just before the mask: drain it */
	n_edge = 0;
	let_in(100000);
	check_eq("edge: masked pin delivers nothing", n_edge, 0);
	ioapic_write(IOAPIC_REDTBL(pin), lo);
	let_in(100000);
	check("edge: unmasked again, interrupts resume", n_edge > 0);
	ioapic_write(IOAPIC_REDTBL(pin), RTE_MASKED);
	outb(PIT_CMDP, 0x30); /* mode 0 with no count: quiet */
}

static void level(const struct madt_info *m)
{
	if (!check("FADT gives the PM block", pm_ports(&pm) && pm.evt && pm.tmr))
		return;
	u32 lo = isa_rte(m, (u8)pm.sci, V_LVL, &pin_lvl);
	printf("SCI: IRQ %u -> pin %d, RTE 0x%x\n", pm.sci, pin_lvl, lo);
	check("level: SCI RTE level-triggered per the MADT", lo & RTE_LEVEL);
	if (is_keel())
		check("keel: SCI active low per the MADT", lo & RTE_LOW);
	outw(pm.evt + 2, 0);
	outw(pm.evt, 0xFFFF);
	check("ACPI mode (SCI_EN)", acpi_enable(&pm));
	ioapic_set_rte(pin_lvl, lo | RTE_MASKED, (u8)apic_id());
	eoi_mode = EOI_NONE;
	outw(pm.evt + 2, PM1_TMR_EN);
	if (!check("TMR_STS set: the SCI line is asserted", wait_tmr_sts()))
		return;
	let_in(5000);
	check_eq("level: masked pin delivers nothing", n_lvl, 0);
	ioapic_write(IOAPIC_REDTBL(pin_lvl), lo);
	wait_lvl(1, 100);
	check_eq("level: unmasked with the line asserted -> delivered", n_lvl, 1);
	check_eq("level: remote IRR set in the handler", !!rirr_in_handler, 1);
	check_eq("level: LAPIC ISR bit set", apic_vec_bit(APIC_ISR, V_LVL), 1);
	check_eq("level: LAPIC TMR bit set (level)", apic_vec_bit(APIC_TMR, V_LVL), 1);
	let_in(5000);
	check_eq("level: no second delivery while remote IRR is set", n_lvl, 1);
	check_eq("level: remote IRR still set", rirr(), 1);
	/* LAPIC EOI: broadcast to the IOAPIC, the line is still asserted -> again */
	apic_eoi();
	wait_lvl(2, 100);
	check_eq("level: EOI re-delivers a line still asserted", n_lvl, 2);
	check_eq("level: remote IRR set again", rirr(), 1);
	/* the IOAPIC EOI register: remote IRR cleared and the line sent again (pending in IRR
	 * behind the ISR bit) */
	*(volatile u32 *)(ioapic_base + IOAPIC_EOI_OFF) = V_LVL;
	tsc_delay_us(1000);
	check_eq("level: IOAPIC EOI register re-delivers (LAPIC IRR set)",
		 apic_vec_bit(APIC_IRR, V_LVL), 1);
	/* clear the source, then EOI: the pending copy runs once more and that is the end */
	outw(pm.evt, PM1_TMR_STS);
	eoi_mode = EOI_LAPIC;
	apic_eoi();
	wait_lvl(3, 100);
	let_in(5000);
	check_eq("level: the pending copy ran, then nothing more", n_lvl, 3);
	check_eq("level: remote IRR clear after the source is gone", rirr(), 0);
	check_eq("level: LAPIC ISR clear", apic_vec_bit(APIC_ISR, V_LVL), 0);

	/* directed EOI */
	u32 ver = apic_read(APIC_VERSION);
	if (!(ver & (1u << 24))) {
		check_strict("LAPIC supports EOI-broadcast suppression (version bit 24)", 0);
	} else {
		apic_write(APIC_SVR, apic_read(APIC_SVR) | APIC_SVR_NO_EOI_BCAST);
		eoi_mode = EOI_LAPIC;
		u32 n0 = n_lvl;
		if (check("directed EOI: TMR_STS set again", wait_tmr_sts())) {
			wait_lvl(n0 + 1, 100);
			check_eq("directed EOI: delivered", n_lvl, n0 + 1);
			let_in(5000);
			check_eq("directed EOI: the LAPIC EOI does not re-deliver", n_lvl, n0 + 1);
			check_eq("directed EOI: remote IRR stays set after the LAPIC EOI", rirr(), 1);
			eoi_mode = EOI_CLEAR;
			*(volatile u32 *)(ioapic_base + IOAPIC_EOI_OFF) = V_LVL;
			wait_lvl(n0 + 2, 100);
			check_eq("directed EOI: the IOAPIC EOI register re-delivers the asserted line",
				 n_lvl, n0 + 2);
			*(volatile u32 *)(ioapic_base + IOAPIC_EOI_OFF) = V_LVL;
			let_in(5000);
			check_eq("directed EOI: source cleared + IOAPIC EOI: remote IRR clear", rirr(), 0);
			check_eq("directed EOI: nothing more", n_lvl, n0 + 2);
		}
		apic_write(APIC_SVR, apic_read(APIC_SVR) & ~APIC_SVR_NO_EOI_BCAST);
	}
	outw(pm.evt + 2, 0);
	outw(pm.evt, PM1_TMR_STS);

	/* polarity: the idle line seen through an inverted RTE is asserted */
	eoi_mode = EOI_NONE;
	u32 n1 = n_lvl;
	ioapic_write(IOAPIC_REDTBL(pin_lvl), lo ^ RTE_LOW);
	let_in(5000);
	ioapic_write(IOAPIC_REDTBL(pin_lvl), RTE_MASKED);
	check_strict("polarity: inverted RTE on the idle line fires", n_lvl == n1 + 1);
	if (n_lvl != n1)
		apic_eoi();
	let_in(1000);
}

void guest_main(void)
{
	uart_init_8n1();
	struct madt_info m;
	pc_madt(&m);
	printf("ioapic_test: %s, %u vCPU(s)\n", is_keel() ? "under Keel" : "no Keel", cpu_count());
	pc_apic_setup();
	tsc_khz();
	ioapic_mask_all();
	irq_set_handler(V_EDGE, edge_handler);
	irq_set_handler(V_LVL, lvl_handler);
	basics(&m);
	edge(&m);
	level(&m);
	finish();
}
