/* uart_test: UART and port-I/O facts from doc/CONTRACT.md. */
#include "rt.h"

const char guest_name[] = GUEST_NAME;

void guest_main(void)
{
	printf("uart line 1\n");
	printf("uart line 2: the quick brown fox jumps over the lazy dog 0123456789\n");
	boot_checks(guest_name);

	u8 lsr = inb(UART_BASE + 5);
	printf("LSR = 0x%x\n", lsr);
	if ((lsr & 0x60) == 0x60)
		ok("LSR THRE|TEMT set");
	else
		fail("LSR THRE|TEMT set: got 0x%x want 0x60 set", lsr);

	outb(UART_BASE + 7, 0xA5);
	check_eq("scratch 0x3ff read-back 0xa5", inb(UART_BASE + 7), 0xA5);
	outb(UART_BASE + 7, 0x5A);
	check_eq("scratch 0x3ff read-back 0x5a", inb(UART_BASE + 7), 0x5A);

	check_eq("unassigned port 0x2f0 inb all-ones", inb(0x2f0), 0xFF);
	check_eq("unassigned port 0x2f0 inw all-ones", inw(0x2f0), 0xFFFF);
	check_eq("unassigned port 0x2f0 inl all-ones", inl(0x2f0), 0xFFFFFFFFu);
	outb(0x2f0, 0x12);
	outl(0x2f0, 0x12345678);
	ok("writes to unassigned port 0x2f0 ignored");

	/* a line written in pieces, as several writes */
	puts_uart("uart line 3 ");
	puts_uart("written ");
	puts_uart("in pieces\n");
	finish();
}
