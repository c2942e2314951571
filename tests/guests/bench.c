/* bench: exit-cost benchmark. Each measurement is a tight loop of exactly 4 instructions
 * with the counter in EDI (CPUID/hypercalls clobber EAX..EDX; ESI is a hypercall argument):
 *   empty     : 1: xor %eax,%eax; nop;          dec %edi; jnz 1b
 *   cpuid     : 1: xor %eax,%eax; cpuid;        dec %edi; jnz 1b   (leaf 0)
 *   hypercall : 1: xor %eax,%eax; vmcall|vmmcall; dec %edi; jnz 1b (PING)
 *   rdmsr     : 1: mov $0x3a,%ecx; rdmsr;       dec %edi; jnz 1b
 *   out       : 1: mov %edi,%eax; out %al,%dx;  dec %edi; jnz 1b   (DX = 0x3ff hoisted)
 * Timing: cpuid(0); t0 = rdtsc; loop; t1 = rdtsc; cpuid(0) - the serializing CPUIDs are
 * outside the measured interval. n=<N> iterations (default 2000), after a 16-iteration warm-up.
 * Output: BENCH <name> iters=<N> ticks=<T> per_iter=<T/N, one decimal>
 * Local APIC cases, only with the option `apic` (after the ones above; vectors 0x40/0x41, bare
 * assembly handlers, PIC masked):
 *   apic_read  : 1: xor %eax,%eax; mov 0xFEE00080,%eax; dec %edi; jnz 1b  (xAPIC TPR read)
 *   self_ipi   : with IF=1, N times: a fixed self IPI through the xAPIC ICR (movl
 *                $0x40040,0xFEE00300), then wait (bounded) for the handler's flag:
 *                `movl $1,flag; incl hits; movl $0,0xFEE000B0 (EOI); iret`. Per round trip =
 *                send + delivery + handler + EOI + 6 loop instructions; hits must equal N
 *   timer_irq  : N times: TSC-deadline timer (one-shot when CPUID.1:ECX[24] = 0) armed 2000
 *                ticks ahead, spin with IF=1; the handler's first instruction is RDTSC.
 *                ticks = sum of (handler RDTSC - deadline): expiry to handler, per interrupt
 *   x2apic_eoi : 1: xor %eax,%eax; wrmsr (ECX = 0x80B, EDX = 0 hoisted); dec %edi; jnz 1b
 *                in x2APIC mode (switched to for this case only; skipped without x2APIC)
 * PC platform cases, only with the option `platform` (issue 8; xAPIC, IOAPIC pins masked but
 * the one used, vectors 0x42/0x43, bare assembly handlers):
 *   rtc_read   : 1: xor %eax,%eax; inb $0x71,%al; dec %edi; jnz 1b   (CMOS index 0 set before)
 *   ioapic_irq : with IF=1, N times: UART IER <- 0, IER <- ETBEI (THR empty: the 16550 asserts
 *                IRQ 4, IOAPIC pin 4 edge, vector 0x42), then wait (bounded) for the handler's
 *                flag: `push eax/edx; inb 0x3fa (IIR read: deasserts); movl $1,flag; incl hits;
 *                movl $0,0xFEE000B0 (EOI); pop; iret`. Per trip = device assert + IOAPIC
 *                routing + delivery + handler + EOI; hits must equal N
 *   pit_irq0   : N/10 times: PIT channel 0 mode 0 with count 60 (~50 us), IRQ0 through the 8259
 *                (ICW bases 0x20/0x28, only IRQ0 unmasked) and LVT LINT0 = ExtINT (vector
 *                0x43); the handler's first instruction is RDTSC, then a non-specific EOI to
 *                the PIC. ticks = sum of (handler RDTSC - expiry), expiry = TSC at the count
 *                write + 60 PIT ticks at the TSC rate (Keel's leaf, else PIT-calibrated) */
#include "pc.h"

const char guest_name[] = GUEST_NAME;

enum { B_EMPTY, B_CPUID, B_HC, B_RDMSR, B_OUT };
static const char *const names[] = { "empty", "cpuid", "hypercall", "rdmsr", "out" };
static const int insn_len[] = { 1, 2, 3, 2, 1 };

#define LOOP4(first, exiting)                                                                        \
	__asm__ volatile("1:\n\t" first "\n\t" exiting "\n\tdec %%edi\n\tjnz 1b"                     \
			 : "+D"(cnt)                                                                 \
			 :                                                                           \
			 : "eax", "ebx", "ecx", "edx", "esi", "memory")

static void loop(int which, u32 cnt, int amd)
{
	switch (which) {
	case B_EMPTY:
		LOOP4("xor %%eax, %%eax", "nop");
		break;
	case B_CPUID:
		LOOP4("xor %%eax, %%eax", "cpuid");
		break;
	case B_HC:
		if (amd)
			LOOP4("xor %%eax, %%eax", "vmmcall");
		else
			LOOP4("xor %%eax, %%eax", "vmcall");
		break;
	case B_RDMSR:
		LOOP4("mov $0x3a, %%ecx", "rdmsr");
		break;
	case B_OUT:
		__asm__ volatile("1:\n\tmov %%edi, %%eax\n\tout %%al, %%dx\n\tdec %%edi\n\tjnz 1b"
				 : "+D"(cnt)
				 : "d"(0x3ff)
				 : "eax", "memory");
		break;
	}
}

static u64 measure(int which, u32 n, int amd)
{
	cpuid(0, 0);
	u64 t0 = rdtsc();
	loop(which, n, amd);
	u64 t1 = rdtsc();
	cpuid(0, 0);
	return t1 - t0;
}

/* ------------------------------------------------------------------ local APIC cases */
#define BENCH_VEC 0x40
#define TIMER_VEC 0x41
#define TIMER_AHEAD 2000

volatile u32 bench_hits, bench_flag;
volatile u32 bench_tsc_lo, bench_tsc_hi;
void bench_ipi_isr(void);
void bench_timer_isr(void);
__asm__(".text\n"
	"bench_ipi_isr:\n"
	"	movl $1, bench_flag\n"
	"	incl bench_hits\n"
	"	movl $0, 0xFEE000B0\n" /* EOI */
	"	iret\n"
	"bench_timer_isr:\n"
	"	pushl %eax\n"
	"	pushl %edx\n"
	"	rdtsc\n"
	"	movl %eax, bench_tsc_lo\n"
	"	movl %edx, bench_tsc_hi\n"
	"	incl bench_hits\n"
	"	movl $0, 0xFEE000B0\n"
	"	popl %edx\n"
	"	popl %eax\n"
	"	iret\n"
	"bench_uart_isr:\n"
	"	pushl %eax\n"
	"	pushl %edx\n"
	"	movw $0x3fa, %dx\n"
	"	inb %dx, %al\n"
	"	movl $1, bench_flag\n"
	"	incl bench_hits\n"
	"	movl $0, 0xFEE000B0\n"
	"	popl %edx\n"
	"	popl %eax\n"
	"	iret\n"
	"bench_pit_isr:\n"
	"	pushl %eax\n"
	"	pushl %edx\n"
	"	rdtsc\n"
	"	movl %eax, bench_tsc_lo\n"
	"	movl %edx, bench_tsc_hi\n"
	"	incl bench_hits\n"
	"	movb $0x20, %al\n"
	"	outb %al, $0x20\n"
	"	popl %edx\n"
	"	popl %eax\n"
	"	iret\n");
void bench_uart_isr(void);
void bench_pit_isr(void);
#define UART_VEC 0x42
#define PIT_VEC 0x43
#define PIT_AHEAD 60

static void report(const char *name, u32 n, u64 t)
{
	u64 tenths = udiv64(t * 10 + n / 2, n, NULL);
	u32 frac;
	u64 whole = udiv64(tenths, 10, &frac);
	printf("BENCH %s iters=%u ticks=%llu per_iter=%llu.%u\n", name, n, (unsigned long long)t,
	       (unsigned long long)whole, frac);
}

static u64 apic_read_loop(u32 cnt)
{
	cpuid(0, 0);
	u64 t0 = rdtsc();
	__asm__ volatile("1:\n\txor %%eax, %%eax\n\tmov 0xFEE00080, %%eax\n\tdec %%edi\n\tjnz 1b"
			 : "+D"(cnt) : : "eax", "memory");
	u64 t1 = rdtsc();
	cpuid(0, 0);
	return t1 - t0;
}

static u64 self_ipi_loop(u32 cnt)
{
	cpuid(0, 0);
	u64 t0 = rdtsc();
	/* each trip waits (bounded) for its own interrupt, so a late delivery is counted in
	 * full rather than merged with the next IPI */
	__asm__ volatile("sti\n"
			 "1:\tmovl %1, 0xFEE00300\n"
			 "\tmovl $10000000, %%ecx\n"
			 "2:\tcmpl $0, bench_flag\n"
			 "\tjne 3f\n"
			 "\tdec %%ecx\n"
			 "\tjnz 2b\n"
			 "3:\tmovl $0, bench_flag\n"
			 "\tdec %%edi\n"
			 "\tjnz 1b\n"
			 "\tcli"
			 : "+D"(cnt) : "i"(APIC_SH_SELF | BENCH_VEC) : "ecx", "memory", "cc");
	u64 t1 = rdtsc();
	cpuid(0, 0);
	return t1 - t0;
}

static u64 x2apic_eoi_loop(u32 cnt)
{
	cpuid(0, 0);
	u64 t0 = rdtsc();
	__asm__ volatile("1:\n\txor %%eax, %%eax\n\twrmsr\n\tdec %%edi\n\tjnz 1b"
			 : "+D"(cnt) : "c"(X2APIC_MSR(APIC_EOI)), "d"(0) : "eax", "memory");
	u64 t1 = rdtsc();
	cpuid(0, 0);
	return t1 - t0;
}

/* sum over n interrupts of (handler entry TSC - programmed expiry) */
static u64 timer_loop(u32 n, int deadline, int *missed)
{
	u64 sum = 0;
	u32 count = 0;
	if (!deadline) /* one-shot, divide by 1: TIMER_AHEAD TSC ticks worth of input ticks */
		count = (u32)udiv64((u64)TIMER_AHEAD * apic_bus_khz(), tsc_khz(), NULL);
	xapic_write(APIC_TDCR, 0xB);
	xapic_write(APIC_LVT_TIMER, (deadline ? APIC_TIMER_DEADLINE : APIC_TIMER_ONESHOT) | TIMER_VEC);
	for (u32 i = 0; i < n; i++) {
		bench_hits = 0;
		u64 due;
		if (deadline) {
			due = rdtsc() + TIMER_AHEAD;
			wrmsr(MSR_TSC_DEADLINE, due);
		} else {
			due = rdtsc() + TIMER_AHEAD;
			xapic_write(APIC_TMICT, count);
		}
		sti();
		for (u32 spin = 0; !bench_hits && spin < 100000000u; spin++)
			cpu_relax();
		cli();
		if (!bench_hits) {
			(*missed)++;
			break;
		}
		u64 at = ((u64)bench_tsc_hi << 32) | bench_tsc_lo;
		sum += at > due ? at - due : 0;
	}
	xapic_write(APIC_LVT_TIMER, APIC_LVT_MASKED);
	return sum;
}

static void apic_cases(u32 n)
{
	pic_mask_all();
	idt_set_raw(BENCH_VEC, (uptr)bench_ipi_isr);
	idt_set_raw(TIMER_VEC, (uptr)bench_timer_isr);
	apic_use_xapic();
	apic_sw_enable(0xFF);

	apic_read_loop(16);
	report("apic_read", n, apic_read_loop(n));

	self_ipi_loop(16);
	bench_hits = 0;
	u64 t = self_ipi_loop(n);
	report("self_ipi", n, t);
	if (bench_hits != n)
		fail("bench self_ipi: %u interrupts for %u IPIs", bench_hits, n);

	int dl = apic_has_tsc_deadline(), missed = 0;
	u32 tn = n / 10 ? n / 10 : 1;
	t = timer_loop(tn, dl, &missed);
	printf("timer_irq: %s\n", dl ? "TSC-deadline" : "one-shot (no TSC-deadline)");
	report("timer_irq", tn, t);
	if (missed)
		fail("bench timer_irq: a timer interrupt never came");

	if (apic_use_x2apic()) {
		x2apic_eoi_loop(16);
		report("x2apic_eoi", n, x2apic_eoi_loop(n));
	} else {
		printf("x2apic_eoi: no x2APIC (CPUID.1:ECX[21] = 0), skipped\n");
	}
}

static u64 rtc_read_loop(u32 cnt)
{
	outb(0x70, 0x00);
	cpuid(0, 0);
	u64 t0 = rdtsc();
	__asm__ volatile("1:\n\txor %%eax, %%eax\n\tinb $0x71, %%al\n\tdec %%edi\n\tjnz 1b"
			 : "+D"(cnt) : : "eax", "memory");
	u64 t1 = rdtsc();
	cpuid(0, 0);
	return t1 - t0;
}

static u64 ioapic_irq_run(u32 cnt)
{
	cpuid(0, 0);
	u64 t0 = rdtsc();
	__asm__ volatile("sti\n"
			 "1:\txorb %%al, %%al\n"
			 "\toutb %%al, %%dx\n"
			 "\tmovb $2, %%al\n"
			 "\toutb %%al, %%dx\n"
			 "\tmovl $10000000, %%ecx\n"
			 "2:\tcmpl $0, bench_flag\n"
			 "\tjne 3f\n"
			 "\tdec %%ecx\n"
			 "\tjnz 2b\n"
			 "\tjmp 4f\n" /* no interrupt: give up (counted as a failure) */
			 "3:\tmovl $0, bench_flag\n"
			 "\tdec %%edi\n"
			 "\tjnz 1b\n"
			 "4:\tcli"
			 : "+D"(cnt) : "d"(UART_BASE + 1) : "eax", "ecx", "memory", "cc");
	u64 t1 = rdtsc();
	cpuid(0, 0);
	outb(UART_BASE + 1, 0);
	return t1 - t0;
}

static u64 pit_irq0_loop(u32 n, int *missed)
{
	u64 sum = 0, ahead = udiv64((u64)PIT_AHEAD * tsc_khz() * 1000, PIT_FREQ, NULL);
	for (u32 i = 0; i < n; i++) {
		bench_hits = 0;
		outb(PIT_CMDP, 0x30);
		outb(PIT_CH0, PIT_AHEAD);
		u64 due = rdtsc() + ahead;
		outb(PIT_CH0, 0);
		sti();
		for (u32 spin = 0; !bench_hits && spin < 100000000u; spin++)
			cpu_relax();
		cli();
		if (!bench_hits) {
			(*missed)++;
			break;
		}
		u64 at = ((u64)bench_tsc_hi << 32) | bench_tsc_lo;
		sum += at > due ? at - due : 0;
	}
	return sum;
}

static void platform_cases(u32 n)
{
	pic_mask_all();
	apic_use_xapic();
	apic_sw_enable(0xFF);
	tsc_khz(); /* calibrated before channel 0 is taken (bare machines use channel 2) */
	ioapic_mask_all();
	idt_set_raw(UART_VEC, (uptr)bench_uart_isr);
	idt_set_raw(PIT_VEC, (uptr)bench_pit_isr);

	rtc_read_loop(16);
	report("rtc_read", n, rtc_read_loop(n));

	ioapic_set_rte(4, UART_VEC, (u8)apic_id()); /* ISA IRQ 4: pin 4, edge, active high */
	outb(UART_BASE + 4, 0x0B);                  /* MCR: OUT2 gates IRQ 4 on a PC */
	bench_hits = 0;
	ioapic_irq_run(16);
	bench_hits = 0;
	u64 t = ioapic_irq_run(n);
	report("ioapic_irq", n, t);
	if (bench_hits != n)
		fail("bench ioapic_irq: %u interrupts for %u device asserts", bench_hits, n);
	ioapic_write(IOAPIC_REDTBL(4), RTE_MASKED);

	pic_init(0x20, 0x28, 0);
	idt_set_raw(0x20, (uptr)bench_pit_isr);
	apic_write(APIC_LVT_LINT0, 0x700);
	outb(PIC1 + 1, 0xFE);
	int missed = 0;
	u32 tn = n / 10 ? n / 10 : 1;
	t = pit_irq0_loop(tn, &missed);
	report("pit_irq0", tn, t);
	if (missed)
		fail("bench pit_irq0: an IRQ0 never came");
	outb(PIC1 + 1, 0xFF);
}

void guest_main(void)
{
	u32 n = (u32)cmd_num("n", 2000);
	int amd = cpu_is_amd();
	if (!cpu_is_keel())
		uart_init_8n1(); /* bare Bochs (reference runs): its UART resets to 5-bit characters */
	if (!n)
		n = 1;
	boot_checks(guest_name);
	printf("bench: %u iterations per loop, hypercall via %s\n", n, amd ? "vmmcall" : "vmcall");
	for (int w = B_EMPTY; w <= B_OUT; w++) {
		exc_arm(-1, insn_len[w]);
		loop(w, 16, amd); /* warm-up */
		u64 t = measure(w, n, amd);
		int nexc = exc_disarm();
		u32 rem;
		u64 tenths = udiv64(t * 10 + n / 2, n, &rem);
		u32 frac;
		u64 whole = udiv64(tenths, 10, &frac);
		printf("BENCH %s iters=%u ticks=%llu per_iter=%llu.%u\n", names[w], n, (unsigned long long)t,
		       (unsigned long long)whole, frac);
		if (nexc)
			fail("bench %s: %d exception(s), last %s", names[w], nexc, exc_name(exc_last_vec));
	}
	if (cmd_has("apic"))
		apic_cases(n);
	if (cmd_has("platform"))
		platform_cases(n);
	finish();
}
