/* pic_test: the 8259A pair (Intel 8259A datasheet; PIIX ELCR) as a PC wires it.
 * ICW1-4 with bases 0x20/0x28 (vectors 32-47), IMR round trip (OCW1), IRR/ISR through OCW3,
 * IRQ0 from PIT channel 0 in mode 0 (one-shot, 1 ms): masked -> IRR set and no interrupt,
 * unmasked -> vector 0x20 with ISR bit 0 set in the handler; non-specific (0x20) and specific
 * (0x60) EOI; an IRQ0 in service holds back the next IRQ0 until EOI; poll mode (OCW3 0x0C: bit
 * 7 + level, acts as INTA; nothing pending -> bit 7 clear); auto-EOI; IRQ 8 (RTC periodic)
 * through the cascade (vector 0x28, master ISR bit 2 + slave ISR bit 0); ELCR 0x4d0/0x4d1
 * (IRQ 0, 1, 2, 8, 13 always edge: 0xf8/0xde writable); the mask race (IRQ0 masked while
 * pending with IF=0): either nothing or a spurious IRQ 7 (vector 0x27, ISR bit 7 clear), never
 * IRQ0. Delivery: through LVT LINT0 = ExtINT (0x700) with the APIC enabled (and nothing while
 * LINT0 is masked), then with the APIC globally disabled (IA32_APIC_BASE.EN = 0; last, as the
 * emulators cannot re-enable it). The IOAPIC's pins are masked so that only the PIC delivers. */
#include "pc.h"

const char guest_name[] = GUEST_NAME;

#define VBASE1 0x20
#define VBASE2 0x28

static volatile u32 hits[16], last_isr1, last_isr2, spurious7;
static volatile int eoi_mode; /* 0 non-specific, 1 none (main does it), 2 specific */

static void pit_oneshot(u16 count)
{
	outb(PIT_CMDP, 0x30); /* channel 0, lobyte/hibyte, mode 0, binary */
	outb(PIT_CH0, (u8)count);
	outb(PIT_CH0, (u8)(count >> 8));
}

static void pic_handler(int vec)
{
	int irq = vec - VBASE1;
	last_isr1 = pic_read_isr(PIC1);
	last_isr2 = pic_read_isr(PIC2);
	if (irq == 7 && !(last_isr1 & 0x80)) { /* spurious: no EOI (8259A: ISR not set) */
		spurious7++;
		return;
	}
	hits[irq]++;
	if (irq == 8)
		cmos_read(0x0C);
	if (eoi_mode == 0)
		pic_eoi(irq);
	else if (eoi_mode == 2) {
		if (irq >= 8) {
			outb(PIC2, (u8)(0x60 | (irq - 8)));
			outb(PIC1, 0x62);
		} else {
			outb(PIC1, (u8)(0x60 | irq));
		}
	}
}

static void wait_ms(u32 ms) { tsc_delay_us(ms * 1000); }

static int wait_hits(int irq, u32 want, u32 ms)
{
	u64 t0 = rdtsc(), lim = (u64)tsc_khz() * ms;
	while (hits[irq] < want && rdtsc() - t0 < lim)
		cpu_relax();
	return hits[irq] >= want;
}

/* one IRQ0 through whatever path is set up; returns delivered */
static int irq0_once(const char *what)
{
	u32 h = hits[0];
	outb(PIC1 + 1, 0xFE);
	pit_oneshot(1193);
	sti();
	int r = wait_hits(0, h + 1, 200);
	cli();
	outb(PIC1 + 1, 0xFF);
	return check(what, r);
}

static void elcr(void)
{
	u8 e1 = inb(ELCR1), e2 = inb(ELCR2);
	printf("ELCR 0x%x 0x%x\n", e1, e2);
	outb(ELCR1, 0xFF);
	outb(ELCR2, 0xFF);
	check_eq("ELCR1 0x4d0: IRQ 0-2 edge only (0xff -> 0xf8)", inb(ELCR1), 0xF8);
	check_eq("ELCR2 0x4d1: IRQ 8 and 13 edge only (0xff -> 0xde)", inb(ELCR2), 0xDE);
	outb(ELCR1, 0x00);
	outb(ELCR2, 0x00);
	check_eq("ELCR1/2 cleared", inb(ELCR1) | inb(ELCR2), 0);
	outb(ELCR1, e1);
	outb(ELCR2, e2);
}

void guest_main(void)
{
	uart_init_8n1();
	printf("pic_test: %s\n", is_keel() ? "under Keel" : "no Keel");
	struct madt_info m;
	pc_madt(&m);
	pc_apic_setup();
	ioapic_mask_all();
	for (int v = VBASE1; v < VBASE1 + 16; v++)
		irq_set_handler(v, pic_handler);
	tsc_khz(); /* calibrate (PIT channel 2 on bare machines) before channel 0 is ours */

	pic_init(VBASE1, VBASE2, 0);
	check_eq("IMR after init and OCW1 0xff", inb(PIC1 + 1) | inb(PIC2 + 1) << 8, 0xFFFF);
	outb(PIC1 + 1, 0x5A);
	outb(PIC2 + 1, 0xA5);
	check_eq("OCW1 round trip (master 0x5a, slave 0xa5)", inb(PIC1 + 1) | inb(PIC2 + 1) << 8,
		 0xA55A);
	outb(PIC1 + 1, 0xFF);
	outb(PIC2 + 1, 0xFF);
	check_eq("ISR empty after init", pic_read_isr(PIC1) | pic_read_isr(PIC2), 0);
	elcr();

	/* virtual wire: LINT0 ExtINT */
	apic_write(APIC_LVT_LINT0, APIC_LVT_MASKED | 0x700);
	outb(PIC1 + 1, 0xFF);
	pit_oneshot(1193);
	sti();
	wait_ms(5);
	check_eq("masked IRQ0: no interrupt", hits[0], 0);
	check_eq("masked IRQ0: IRR bit 0 set (OCW3 read IRR)", pic_read_irr(PIC1) & 1, 1);
	cli();
	outb(PIC1 + 1, 0xFE);
	sti();
	wait_ms(5);
	check_eq("LINT0 masked: IRQ0 not delivered", hits[0], 0);
	cli();
	apic_write(APIC_LVT_LINT0, 0x700);
	eoi_mode = 1;
	sti();
	wait_hits(0, 1, 100);
	cli();
	check_eq("LINT0 = ExtINT (0x700): IRQ0 delivered as vector 0x20 once unmasked", hits[0], 1);
	check_eq("in the handler: ISR bit 0 set", last_isr1 & 1, 1);
	check_eq("after delivery: IRR bit 0 clear", pic_read_irr(PIC1) & 1, 0);
	check_eq("no EOI yet: ISR bit 0 still set", pic_read_isr(PIC1) & 1, 1);
	/* an IRQ0 in service blocks the next one */
	pit_oneshot(1193);
	sti();
	wait_ms(5);
	cli();
	check_eq("IRQ0 in service: the next IRQ0 waits", hits[0], 1);
	check_eq("... pending in IRR", pic_read_irr(PIC1) & 1, 1);
	outb(PIC1, 0x60); /* specific EOI, IRQ0 */
	check_eq("specific EOI (0x60) clears ISR bit 0", pic_read_isr(PIC1) & 1, 0);
	sti();
	wait_hits(0, 2, 100);
	cli();
	check_eq("after EOI the pending IRQ0 is delivered", hits[0], 2);
	outb(PIC1, 0x20);
	check_eq("non-specific EOI clears ISR", pic_read_isr(PIC1), 0);
	eoi_mode = 0;
	irq0_once("IRQ0 with EOI in the handler");
	check_eq("ISR clear after the handler's non-specific EOI", pic_read_isr(PIC1), 0);
	eoi_mode = 2;
	irq0_once("IRQ0 with a specific EOI in the handler");
	check_eq("ISR clear after the handler's specific EOI", pic_read_isr(PIC1), 0);
	eoi_mode = 0;

	/* poll mode */
	outb(PIC1 + 1, 0xFE);
	pit_oneshot(1193);
	wait_ms(5);
	outb(PIC1, 0x0C);
	u8 poll = inb(PIC1);
	check_eq("poll with IRQ0 pending: 0x80 | level 0", poll, 0x80);
	check_eq("poll acted as INTA: ISR bit 0 set", pic_read_isr(PIC1) & 1, 1);
	outb(PIC1, 0x20);
	outb(PIC1, 0x0C);
	check_eq("poll with nothing pending: bit 7 clear", inb(PIC1) & 0x80, 0);
	outb(PIC1 + 1, 0xFF);
	check_eq("poll: no interrupt delivered", hits[0], 4);

	/* mask race: IRQ0 pending (IF=0), masked before STI */
	outb(PIC1 + 1, 0xFE);
	pit_oneshot(1193);
	wait_ms(5);
	outb(PIC1 + 1, 0xFF);
	sti();
	wait_ms(5);
	cli();
	printf("mask race: irq0 deliveries %u (4 before), spurious irq7 %u\n", hits[0], spurious7);
	check("mask race: IRQ0 not delivered (nothing, or a spurious IRQ 7 with ISR clear)",
	      hits[0] == 4 && hits[7] == 0);
	check_eq("mask race: ISR clear", pic_read_isr(PIC1), 0);
	pic_init(VBASE1, VBASE2, 0); /* drop the stale IRR bit */

	/* auto-EOI */
	pic_init(VBASE1, VBASE2, 1);
	eoi_mode = 1;
	irq0_once("auto-EOI: IRQ0 delivered");
	check_eq("auto-EOI: ISR bit 0 clear in the handler", last_isr1 & 1, 0);
	pic_init(VBASE1, VBASE2, 0);
	eoi_mode = 0;

	/* the cascade: IRQ 8 from the RTC periodic interrupt (8 Hz) */
	u8 a = cmos_read(0x0A), b = cmos_read(0x0B);
	cmos_write(0x0A, (u8)((a & 0xF0) | 13));
	cmos_read(0x0C);
	cmos_write(0x0B, (u8)((b & ~0x70) | 0x40));
	outb(PIC1 + 1, 0xFB);
	outb(PIC2 + 1, 0xFE);
	sti();
	int got = wait_hits(8, 2, 1000);
	cli();
	cmos_write(0x0B, (u8)(b & ~0x70));
	cmos_write(0x0A, a);
	cmos_read(0x0C);
	outb(PIC1 + 1, 0xFF);
	outb(PIC2 + 1, 0xFF);
	check("IRQ 8 (RTC periodic) through the slave: vector 0x28, twice", got);
	check_eq("in the handler: master ISR bit 2 (cascade)", last_isr1 & 4, 4);
	check_eq("in the handler: slave ISR bit 0", last_isr2 & 1, 1);
	check_eq("both ISRs clear after EOI to slave and master",
		 pic_read_isr(PIC1) | pic_read_isr(PIC2), 0);

	/* APIC globally disabled: INTR goes to the CPU directly */
	wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) & ~(u64)APIC_BASE_EN);
	irq0_once("APIC globally disabled: IRQ0 reaches the CPU");
	check_eq("no spurious IRQ 7 outside the race", spurious7 <= 1, 1);
	finish();
}
