/* mmio_hole_test: the bus where nothing answers, and string I/O.
 * MMIO: reads of empty physical addresses (0xFEB00000, 0xF0000000, 0xFED00000 unless an HPET is
 * announced, 0xE0000000) give all-ones at every width (byte, word, dword, unaligned) and a
 * written value is not kept. String I/O: OUTSB/OUTSW/OUTSD and INSB/INSW/INSD, single and with
 * REP (count 0, 1, n; DF=0 and DF=1), on the UART scratch register 0x3FF (bytes round-trip) and on
 * an unemulated port 0x2F0 (reads all-ones, ESI/EDI/ECX advance as the SDM says). */
#include "pc.h"

const char guest_name[] = GUEST_NAME;

static void hole(u32 a)
{
	char w[80];
	volatile u8 *p = (volatile u8 *)(uptr)a;
	u32 d = *(volatile u32 *)p;
	u16 h = *(volatile u16 *)(p + 2);
	u8 b = p[1];
	u32 un = *(volatile u32 *)(p + 5);
	int n = 0;
	const char *pre = "empty MMIO 0x";
	while (pre[n]) {
		w[n] = pre[n];
		n++;
	}
	for (int i = 7; i >= 0; i--)
		w[n++] = "0123456789abcdef"[(a >> (4 * i)) & 15];
	memcpy(w + n, " reads all-ones (b/w/d/unaligned)", 34);
	/* QEMU's unassigned memory reads 0; a PC's master abort gives all-ones */
	check_eq_strict(w, (u64)d << 32 | (u32)h << 16 | (u32)b << 8 | (un >> 24),
			0xFFFFFFFFFFFFFFFFull);
	*(volatile u32 *)p = 0x12345678;
	p[8] = 0x42;
	memcpy(w + n, " write dropped", 15);
	check(w, *(volatile u32 *)p != 0x12345678 && p[8] != 0x42);
	if (is_keel()) {
		memcpy(w + n, " after the write still all-ones", 32);
		check(w, *(volatile u32 *)p == 0xFFFFFFFF && p[8] == 0xFF);
	}
}

/* rep ins/outs: returns the final pointer and count through the arguments */
#define STR_IO(insn, ptrreg, width)                                                            \
	static void insn##_(u16 port, uptr *ptr, uptr *cnt, int df)                            \
	{                                                                                      \
		if (df)                                                                        \
			__asm__ volatile("std; rep " #insn "; cld"                             \
					 : "+" ptrreg(*ptr), "+c"(*cnt) : "d"(port) : "memory"); \
		else                                                                           \
			__asm__ volatile("rep " #insn                                          \
					 : "+" ptrreg(*ptr), "+c"(*cnt) : "d"(port) : "memory"); \
	}
STR_IO(insb, "D", 1)
STR_IO(insw, "D", 2)
STR_IO(insl, "D", 4)
STR_IO(outsb, "S", 1)
STR_IO(outsw, "S", 2)
STR_IO(outsl, "S", 4)

static u8 buf[64];

static void string_io(void)
{
	u16 scr = UART_BASE + 7;
	uptr p, c;
	/* OUTSB x3 to the scratch register: the last byte stays */
	static const u8 src[4] = { 0x11, 0x22, 0x33, 0x44 };
	p = (uptr)src; c = 3;
	outsb_(scr, &p, &c, 0);
	check_eq("rep outsb x3 to 0x3ff: ECX 0, ESI +3", (c << 8) | (p - (uptr)src), 3);
	check_eq("rep outsb: scratch holds the last byte", inb(scr), 0x33);
	/* INSB x4: each read gives the scratch byte */
	memset(buf, 0, sizeof(buf));
	p = (uptr)buf; c = 4;
	insb_(scr, &p, &c, 0);
	check_eq("rep insb x4 from 0x3ff: ECX 0, EDI +4", (c << 8) | (p - (uptr)buf), 4);
	check_eq("rep insb x4 from 0x3ff data", *(u32 *)buf, 0x33333333);
	/* DF=1: backwards */
	outb(scr, 0x5A);
	memset(buf, 0, sizeof(buf));
	p = (uptr)&buf[10]; c = 3;
	insb_(scr, &p, &c, 1);
	check_eq("rep insb DF=1: EDI -3", (uptr)&buf[10] - p, 3);
	check_eq("rep insb DF=1 data buf[8..11]", *(u32 *)&buf[8], 0x005A5A5A);
	/* count 0: nothing happens */
	memset(buf, 0xEE, 8);
	p = (uptr)buf; c = 0;
	insb_(scr, &p, &c, 0);
	check_eq("rep insb count 0: no transfer, EDI unchanged", (p - (uptr)buf) | buf[0] << 8,
		 0xEE00);
	/* OUTSB single (count 1) */
	p = (uptr)&src[3]; c = 1;
	outsb_(scr, &p, &c, 0);
	check_eq("outsb count 1 to 0x3ff", inb(scr), 0x44);
	/* unemulated port: every size reads all-ones, writes ignored */
	memset(buf, 0, sizeof(buf));
	p = (uptr)buf; c = 5;
	insb_(0x2F0, &p, &c, 0);
	check_eq("rep insb x5 from 0x2f0 all-ones, EDI +5", p - (uptr)buf, 5);
	check("rep insb 0x2f0 data all-ones", buf[0] == 0xFF && buf[4] == 0xFF && buf[5] == 0);
	memset(buf, 0, sizeof(buf));
	p = (uptr)buf; c = 3;
	insw_(0x2F0, &p, &c, 0);
	check_eq("rep insw x3 from 0x2f0: EDI +6", p - (uptr)buf, 6);
	check("rep insw 0x2f0 data all-ones", *(u16 *)&buf[0] == 0xFFFF && *(u16 *)&buf[4] == 0xFFFF
	      && buf[6] == 0);
	memset(buf, 0, sizeof(buf));
	p = (uptr)buf; c = 4;
	insl_(0x2F0, &p, &c, 0);
	check_eq("rep insd x4 from 0x2f0: EDI +16", p - (uptr)buf, 16);
	check("rep insd 0x2f0 data all-ones", *(u32 *)&buf[0] == 0xFFFFFFFF &&
	      *(u32 *)&buf[12] == 0xFFFFFFFF && buf[16] == 0);
	static const u32 srcd[4] = { 1, 2, 3, 4 };
	p = (uptr)srcd; c = 4;
	outsl_(0x2F0, &p, &c, 0);
	check_eq("rep outsd x4 to 0x2f0: ESI +16, ECX 0", (c << 8) | (p - (uptr)srcd), 16);
	p = (uptr)srcd; c = 2;
	outsw_(0x2F0, &p, &c, 0);
	check_eq("rep outsw x2 to 0x2f0: ESI +4", p - (uptr)srcd, 4);
	check_eq("0x2f0 still reads all-ones after writes", inl(0x2F0), 0xFFFFFFFF);
	/* word/dword at 0x3FF: as on a PC, byte 0 is the scratch register and the bytes above go
	 * to the ports after it (0x400.., nothing there). QEMU's UART asserts on such an access,
	 * so only under Keel. */
	if (!is_keel()) {
		printf("info word/dword string I/O at 0x3ff skipped (QEMU's 16550 aborts on it)\n");
		outb(scr, 0);
		return;
	}
	outb(scr, 0x6B);
	memset(buf, 0, sizeof(buf));
	p = (uptr)buf; c = 2;
	insw_(scr, &p, &c, 0);
	check_eq("keel: rep insw x2 from 0x3ff: EDI +4", p - (uptr)buf, 4);
	check_eq("keel: rep insw 0x3ff data = scratch | 0xff00 (0x400 empty)", *(u32 *)buf,
		 0xFF6BFF6B);
	memset(buf, 0, sizeof(buf));
	p = (uptr)buf; c = 1;
	insl_(scr, &p, &c, 0);
	check_eq("keel: insd 0x3ff data = scratch | 0xffffff00", *(u32 *)buf, 0xFFFFFF6B);
	static const u16 srcw[2] = { 0x1277, 0x3488 };
	p = (uptr)srcw; c = 2;
	outsw_(scr, &p, &c, 0);
	check_eq("rep outsw x2 to 0x3ff: ESI +4", p - (uptr)srcw, 4);
	check_eq("rep outsw: scratch holds the low byte of the last word", inb(scr), 0x88);
	outb(scr, 0);
}

void guest_main(void)
{
	uart_init_8n1();
	printf("mmio_hole_test: %s\n", is_keel() ? "under Keel" : "no Keel");
	hole(0xFEB00000);
	hole(0xF0000000);
	hole(0xE0000000);
	if (!acpi_table("HPET", 0))
		hole(0xFED00000);
	else
		printf("info HPET announced: 0xFED00000 not probed\n");
	string_io();
	finish();
}
