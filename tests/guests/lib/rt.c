/* Keel test-guest runtime: console, checks, exit, cmdline, exceptions, CPUID, hypercalls, MSRs. */
#include "rt.h"

int g_fails;
struct bootinfo g_boot;

/* Written by the entry stub (in .data so that they survive the .bss check/clear). */
u32 boot_magic __attribute__((section(".data"))) = 0;
u32 boot_info __attribute__((section(".data"))) = 0;
u32 boot_eflags __attribute__((section(".data"))) = 0;
u32 boot_cr0 __attribute__((section(".data"))) = 0;

void mb_parse(u32 magic, uptr info); /* boot.c */

/* ------------------------------------------------------------------ strings */
void *memset(void *d, int c, size_t n)
{
	u8 *p = d;
	while (n--)
		*p++ = (u8)c;
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	u8 *p = d;
	const u8 *q = s;
	while (n--)
		*p++ = *q++;
	return d;
}

void *memmove(void *d, const void *s, size_t n)
{
	u8 *p = d;
	const u8 *q = s;
	if (p < q) {
		while (n--)
			*p++ = *q++;
	} else {
		while (n--)
			p[n] = q[n];
	}
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const u8 *p = a, *q = b;
	for (; n; n--, p++, q++)
		if (*p != *q)
			return *p - *q;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

int strcmp(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return (u8)*a - (u8)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b)
			return (u8)*a - (u8)*b;
		if (!*a)
			return 0;
	}
	return 0;
}

u64 udiv64(u64 n, u32 d, u32 *rem)
{
#ifdef __x86_64__
	if (rem)
		*rem = (u32)(n % d);
	return n / d;
#else
	u32 hi = (u32)(n >> 32), lo = (u32)n, qhi, qlo, r;
	qhi = hi / d;
	r = hi % d;
	__asm__("divl %4" : "=a"(qlo), "=d"(r) : "a"(lo), "d"(r), "rm"(d));
	if (rem)
		*rem = r;
	return ((u64)qhi << 32) | qlo;
#endif
}

/* ------------------------------------------------------------------ console */
void putc_uart(char c)
{
	/* wait (bounded) for THRE: Keel's UART is always ready, a real/emulated 16550 may not be */
	for (int i = 0; i < 10000 && !(inb(UART_BASE + 5) & 0x20); i++)
		cpu_pause();
	outb(UART_BASE, (u8)c);
}

void puts_uart(const char *s)
{
	while (*s)
		putc_uart(*s++);
}

static void put_num(u64 v, int base, int width, char pad, int neg)
{
	char buf[24];
	int n = 0;
	if (v == 0)
		buf[n++] = '0';
	while (v) {
		if (base == 16) {
			buf[n++] = "0123456789abcdef"[v & 15];
			v >>= 4;
		} else {
			u32 r;
			v = udiv64(v, 10, &r);
			buf[n++] = (char)('0' + r);
		}
	}
	if (neg && pad == '0')
		putc_uart('-');
	while (n + neg < width) {
		putc_uart(pad);
		width--;
	}
	if (neg && pad != '0')
		putc_uart('-');
	while (n)
		putc_uart(buf[--n]);
}

void vprintf_(const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			putc_uart(*fmt);
			continue;
		}
		fmt++;
		char pad = ' ';
		int width = 0, lng = 0;
		if (*fmt == '0') {
			pad = '0';
			fmt++;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l') {
			lng++;
			fmt++;
		}
		switch (*fmt) {
		case 'd': {
			long long v = lng >= 2 ? va_arg(ap, long long) : lng ? va_arg(ap, long) : va_arg(ap, int);
			put_num(v < 0 ? (u64)-v : (u64)v, 10, width, pad, v < 0);
			break;
		}
		case 'u':
		case 'x': {
			u64 v = lng >= 2 ? va_arg(ap, unsigned long long)
				: lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned int);
			put_num(v, *fmt == 'x' ? 16 : 10, width, pad, 0);
			break;
		}
		case 'p':
			puts_uart("0x");
			put_num((uptr)va_arg(ap, void *), 16, width, pad, 0);
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			int len = (int)strlen(s);
			while (len < width--)
				putc_uart(' ');
			puts_uart(s);
			break;
		}
		case 'c':
			putc_uart((char)va_arg(ap, int));
			break;
		case '%':
			putc_uart('%');
			break;
		case 0:
			return;
		default:
			putc_uart('%');
			putc_uart(*fmt);
		}
	}
}

void printf_(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf_(fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------ checks */
void ok(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	puts_uart("ok ");
	vprintf_(fmt, ap);
	putc_uart('\n');
	va_end(ap);
}

void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g_fails++;
	puts_uart("FAIL ");
	vprintf_(fmt, ap);
	putc_uart('\n');
	va_end(ap);
}

int check_eq(const char *what, u64 got, u64 want)
{
	if (got == want) {
		ok("%s", what);
		return 1;
	}
	fail("%s: got 0x%llx want 0x%llx", what, (unsigned long long)got, (unsigned long long)want);
	return 0;
}

int check(const char *what, int cond)
{
	if (cond)
		ok("%s", what);
	else
		fail("%s", what);
	return cond;
}

/* ------------------------------------------------------------------ exit */
void spin_forever(void)
{
	for (;;)
		cpu_pause();
}

void delay_pauses(u32 n)
{
	while (n--)
		cpu_pause();
}

void guest_exit(u32 v)
{
	u64 w = cmd_num("exit_width", 4);
	if (w == 1)
		outb(EXIT_PORT, (u8)v);
	else if (w == 2)
		outw(EXIT_PORT, (u16)v);
	else
		outl(EXIT_PORT, v);
	/* Must not come back. Do not HLT here: that would look like a clean "(halted)" exit. */
	puts_uart("FAIL exit port 0xf4 returned\n");
	spin_forever();
}

void finish(void)
{
	printf("done: %d failure(s)\n", g_fails);
	guest_exit(g_fails > 100 ? 100 : (u32)g_fails);
}

/* ------------------------------------------------------------------ cmdline */
const char *cmdline(void) { return g_boot.cmdline; }

const char *cmd_first_word(char *buf, size_t n)
{
	const char *s = g_boot.cmdline;
	size_t i = 0;
	while (*s == ' ')
		s++;
	while (*s && *s != ' ' && i + 1 < n)
		buf[i++] = *s++;
	buf[i] = 0;
	return buf;
}

/* Iterate words; word i (0-based) starts at returned pointer, len in *len. */
static const char *next_word(const char *s, size_t *len)
{
	while (*s == ' ')
		s++;
	if (!*s)
		return NULL;
	size_t n = 0;
	while (s[n] && s[n] != ' ')
		n++;
	*len = n;
	return s;
}

int cmd_has(const char *word)
{
	size_t wl = strlen(word), len;
	for (const char *s = g_boot.cmdline; (s = next_word(s, &len)); s += len)
		if (len == wl && !strncmp(s, word, wl))
			return 1;
	return 0;
}

const char *cmd_get(const char *key)
{
	size_t kl = strlen(key), len;
	/* skip the first word: it is the guest's name */
	const char *s = next_word(g_boot.cmdline, &len);
	if (!s)
		return NULL;
	for (s += len; (s = next_word(s, &len)); s += len)
		if (len > kl && s[kl] == '=' && !strncmp(s, key, kl))
			return s + kl + 1;
	return NULL;
}

int parse_num(const char *s, u64 *out, int allow_suffix)
{
	u64 v = 0;
	int digits = 0;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		s += 2;
		for (;; s++, digits++) {
			int d;
			if (*s >= '0' && *s <= '9')
				d = *s - '0';
			else if (*s >= 'a' && *s <= 'f')
				d = *s - 'a' + 10;
			else if (*s >= 'A' && *s <= 'F')
				d = *s - 'A' + 10;
			else
				break;
			v = v << 4 | (u64)d;
		}
	} else {
		for (; *s >= '0' && *s <= '9'; s++, digits++)
			v = v * 10 + (u64)(*s - '0');
	}
	if (!digits)
		return 0;
	if (allow_suffix) {
		if (*s == 'K' || *s == 'k')
			v <<= 10, s++;
		else if (*s == 'M' || *s == 'm')
			v <<= 20, s++;
		else if (*s == 'G' || *s == 'g')
			v <<= 30, s++;
	}
	if (*s && *s != ' ')
		return 0;
	*out = v;
	return 1;
}

u64 cmd_num(const char *key, u64 dflt)
{
	const char *v = cmd_get(key);
	u64 n;
	if (v && parse_num(v, &n, 0))
		return n;
	return dflt;
}

u64 cmd_size(const char *key, u64 dflt)
{
	const char *v = cmd_get(key);
	u64 n;
	if (v && parse_num(v, &n, 1))
		return n;
	return dflt;
}

/* ------------------------------------------------------------------ exceptions */
#ifdef __x86_64__
struct xframe {
	u64 r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
	u64 vec, err, ip, cs, flags, sp, ss;
};
#define CODE_SEL 0x18
struct idt_gate { u16 off_lo, sel; u8 ist, type; u16 off_mid; u32 off_hi, zero; } __attribute__((packed));
#else
struct xframe {
	u32 edi, esi, ebp, esp0, ebx, edx, ecx, eax;
	u32 vec, err, ip, cs, flags;
};
#define CODE_SEL 0x08
struct idt_gate { u16 off_lo, sel; u8 zero, type; u16 off_hi; } __attribute__((packed));
#endif
struct idt_ptr { u16 limit; uptr base; } __attribute__((packed));

extern const uptr isr_table[32]; /* entry.S: exception stubs 0-31 */
extern const char irq_stubs[];     /* irq.S: stubs for 32-255, 16 bytes apart */
#define IRQ_STUB_STRIDE 16
static struct idt_gate idt[256] __attribute__((aligned(16)));

static irq_handler_t irq_handlers[256];
volatile u32 irq_count[256];

void irq_set_handler(int vec, irq_handler_t fn)
{
	if (vec < 0 || vec > 255)
		return;
	irq_handlers[vec] = fn;
	__asm__ volatile("" ::: "memory");
}

static volatile int exc_armed, exc_want, exc_skip, exc_count;
volatile int exc_last_vec = -1;
volatile uptr exc_last_err, exc_last_ip;

static const char *const exc_names[32] = {
	"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS", "#NP", "#SS", "#GP",
	"#PF", "?15", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP", "?22", "?23", "?24", "?25", "?26", "?27",
	"#HV", "#VC", "#SX", "?31",
};

const char *exc_name(int vec) { return vec >= 0 && vec < 32 ? exc_names[vec] : "?"; }

void exc_arm(int vec, int skip)
{
	exc_count = 0;
	exc_last_vec = -1;
	exc_want = vec;
	exc_skip = skip;
	__asm__ volatile("" ::: "memory");
	exc_armed = 1;
	__asm__ volatile("" ::: "memory");
}

int exc_disarm(void)
{
	__asm__ volatile("" ::: "memory");
	exc_armed = 0;
	__asm__ volatile("" ::: "memory");
	return exc_count;
}

void exc_entry_c(struct xframe *f)
{
	int vec = (int)f->vec;
	if (vec >= 32 || (irq_handlers[vec] && !exc_armed)) {
		irq_handler_t fn = irq_handlers[vec];
		if (fn) {
			irq_count[vec]++;
			fn(vec);
			return;
		}
		fail("unexpected interrupt %d rip=0x%lx", vec, (unsigned long)f->ip);
		guest_exit(232);
	}
	if (exc_armed && (exc_want < 0 || exc_want == vec)) {
		exc_count++;
		exc_last_vec = vec;
		exc_last_err = (uptr)f->err;
		exc_last_ip = (uptr)f->ip;
		f->ip += (uptr)exc_skip;
		return;
	}
	exc_armed = 0;
	fail("unexpected exception %d (%s) err=0x%lx rip=0x%lx", vec, exc_name(vec), (unsigned long)f->err,
	     (unsigned long)f->ip);
	guest_exit(200 + (u32)vec);
}

static void idt_gate_set(int i, uptr a)
{
	struct idt_gate *g = &idt[i];
	memset(g, 0, sizeof(*g));
	g->off_lo = (u16)a;
	g->sel = CODE_SEL;
	g->type = 0x8E; /* present, DPL0, interrupt gate */
#ifdef __x86_64__
	g->off_mid = (u16)(a >> 16);
	g->off_hi = (u32)(a >> 32);
#else
	g->off_hi = (u16)(a >> 16);
#endif
}

void idt_set_raw(int vec, uptr stub)
{
	if (vec >= 0 && vec <= 255)
		idt_gate_set(vec, stub);
}

void idt_init(void)
{
	for (int i = 0; i < 256; i++) {
		uptr a = i < 32 ? isr_table[i] : (uptr)irq_stubs + (uptr)(i - 32) * IRQ_STUB_STRIDE;
		idt_gate_set(i, a);
	}
	struct idt_ptr p = { sizeof(idt) - 1, (uptr)idt };
	__asm__ volatile("lidt %0" ::"m"(p) : "memory");
}

void idt_load_empty(void)
{
	struct idt_ptr p = { 0, 0 };
	__asm__ volatile("lidt %0" ::"m"(p) : "memory");
}

/* ------------------------------------------------------------------ cpu */
static char vendor_buf[13];

void cpu_vendor(char out[13])
{
	if (!vendor_buf[0]) {
		struct cpuid_regs r = cpuid(0, 0);
		memcpy(vendor_buf, &r.ebx, 4);
		memcpy(vendor_buf + 4, &r.edx, 4);
		memcpy(vendor_buf + 8, &r.ecx, 4);
		vendor_buf[12] = 0;
	}
	memcpy(out, vendor_buf, 13);
}

int cpu_is_amd(void)
{
	char v[13];
	cpu_vendor(v);
	return !strcmp(v, "AuthenticAMD") || !strcmp(v, "HygonGenuine");
}

uptr hypercall(uptr nr, uptr a1, uptr a2, uptr a3, uptr a4)
{
	uptr ret = nr;
	if (cpu_is_amd())
		__asm__ volatile("vmmcall" : "+a"(ret), "+b"(a1), "+c"(a2), "+d"(a3), "+S"(a4) : : "memory");
	else
		__asm__ volatile("vmcall" : "+a"(ret), "+b"(a1), "+c"(a2), "+d"(a3), "+S"(a4) : : "memory");
	return ret;
}

int rdmsr_safe(u32 msr, u64 *val)
{
	u32 lo = 0, hi = 0;
	exc_arm(-1, 2); /* RDMSR is 0F 32 */
	__asm__ volatile("rdmsr" : "+a"(lo), "+d"(hi) : "c"(msr) : "memory");
	int n = exc_disarm();
	*val = ((u64)hi << 32) | lo;
	return n ? exc_last_vec + 1 : 0;
}

int wrmsr_safe(u32 msr, u64 val)
{
	exc_arm(-1, 2); /* WRMSR is 0F 30 */
	__asm__ volatile("wrmsr" ::"a"((u32)val), "d"((u32)(val >> 32)), "c"(msr) : "memory");
	int n = exc_disarm();
	return n ? exc_last_vec + 1 : 0;
}

/* ------------------------------------------------------------------ start */
void rt_start(void)
{
	/* .bss must arrive zeroed from the loader; count offenders, then clear it anyway */
	int dirty = 0;
	for (volatile char *p = __bss_start; p < __bss_end; p++)
		if (*p)
			dirty++;
	memset(__bss_start, 0, (size_t)(__bss_end - __bss_start));
	g_boot.bss_dirty = dirty;
	g_boot.entry_eflags = boot_eflags;
	g_boot.entry_cr0 = boot_cr0;
	idt_init();
	mb_parse(boot_magic, boot_info);
	guest_main();
	finish();
}
