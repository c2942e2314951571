/* initstate (64-bit): the state a fresh vCPU must show (issue 13 item 4): x87/SSE as after
 * FNINIT with XMM0-7 zero and MXCSR 0x1F80, the SYSCALL MSRs and KERNEL_GS_BASE zero, DR0-3 zero,
 * DR6 0xFFFF0FF0, DR7 0x400, PAT at its power-on value. Prints `checks: <n> failure(s)`.
 * cmdline `dirty`: then fills all of it with other values and spins with IF=1 (for `reset`);
 * otherwise exits with the number of failures. */
#include "rt.h"

const char guest_name[] = GUEST_NAME;

#define CR4_OSFXSR      (1ul << 9)
#define CR4_OSXMMEXCPT  (1ul << 10)

static const u32 msrs[] = { 0xC0000081, 0xC0000082, 0xC0000083, 0xC0000084, 0xC0000102 };
static const char *const msr_names[] = { "STAR", "LSTAR", "CSTAR", "SFMASK", "KERNEL_GS_BASE" };

#define RD_DR(n) ({ u64 x; __asm__ volatile("mov %%db" #n ", %0" : "=r"(x)); x; })
#define WR_DR(n, v) __asm__ volatile("mov %0, %%db" #n :: "r"((u64)(v)))

static void check_state(void)
{
	u64 xmm[16];
	__asm__ volatile("movdqu %%xmm0, 0(%0); movdqu %%xmm1, 16(%0); movdqu %%xmm2, 32(%0);"
			 "movdqu %%xmm3, 48(%0); movdqu %%xmm4, 64(%0); movdqu %%xmm5, 80(%0);"
			 "movdqu %%xmm6, 96(%0); movdqu %%xmm7, 112(%0)" :: "r"(xmm) : "memory");
	for (int i = 0; i < 8; i++)
		if (!check_eq("XMM register is zero", xmm[2 * i] | xmm[2 * i + 1], 0))
			printf("  (xmm%d)\n", i);
	u32 mxcsr;
	u16 fcw, fsw;
	__asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
	__asm__ volatile("fnstcw %0" : "=m"(fcw));
	__asm__ volatile("fnstsw %0" : "=m"(fsw));
	check_eq("MXCSR 0x1f80", mxcsr, 0x1F80);
	check_eq("FCW 0x37f", fcw, 0x37F);
	check_eq("FSW 0", fsw, 0);
	for (unsigned i = 0; i < sizeof msrs / sizeof msrs[0]; i++) {
		u64 v = ~0ull;
		int f = rdmsr_safe(msrs[i], &v);
		if (!check(msr_names[i], f == 0 && v == 0))
			printf("  (%s: fault %d value 0x%lx)\n", msr_names[i], f, (unsigned long)v);
	}
	check_eq("DR0 0", RD_DR(0), 0);
	check_eq("DR1 0", RD_DR(1), 0);
	check_eq("DR2 0", RD_DR(2), 0);
	check_eq("DR3 0", RD_DR(3), 0);
	check_eq("DR6 0xffff0ff0", RD_DR(6), 0xFFFF0FF0ul);
	check_eq("DR7 0x400", RD_DR(7), 0x400);
	u64 pat = 0;
	check("PAT power-on value", rdmsr_safe(0x277, &pat) == 0 && pat == 0x0007040600070406ull);
}

static void dirty(void)
{
	static const u64 pattern[16] = { 0x1111, 0x2222, 0x3333, 0x4444, 0x5555, 0x6666, 0x7777,
					 0x8888, 0x9999, 0xaaaa, 0xbbbb, 0xcccc, 0xdddd, 0xeeee,
					 0xffff, 0x1234 };
	__asm__ volatile("movdqu 0(%0), %%xmm0; movdqu 16(%0), %%xmm1; movdqu 32(%0), %%xmm2;"
			 "movdqu 48(%0), %%xmm3; movdqu 64(%0), %%xmm4; movdqu 80(%0), %%xmm5;"
			 "movdqu 96(%0), %%xmm6; movdqu 112(%0), %%xmm7" :: "r"(pattern) : "memory");
	u32 mxcsr = 0x3F80;
	u16 fcw = 0x27F;
	__asm__ volatile("ldmxcsr %0; fldcw %1; fld1" :: "m"(mxcsr), "m"(fcw));
	for (unsigned i = 0; i < sizeof msrs / sizeof msrs[0]; i++)
		wrmsr_safe(msrs[i], 0x4000 + i);
	WR_DR(0, 0x1000);
	WR_DR(1, 0x2000);
	WR_DR(2, 0x3000);
	WR_DR(3, 0x4000);
	WR_DR(6, 0xFFFF0FF1ul);
	wrmsr_safe(0x277, 0x0606060606060606ull);
}

void guest_main(void)
{
	boot_checks(0);
	__asm__ volatile("mov %%cr4, %%rax; or %0, %%rax; mov %%rax, %%cr4"
			 :: "r"(CR4_OSFXSR | CR4_OSXMMEXCPT) : "rax");
	check_state();
	printf("checks: %d failure(s)\n", g_fails);
	if (cmd_has("dirty")) {
		dirty();
		printf("dirtied\n");
		/* With IF=1: Bochs makes no exit for host interrupts while a guest runs with IF=0,
		 * and the shell on this CPU must get to run (no interrupt ever comes to the guest). */
		__asm__ volatile("sti");
		for (;;)
			cpu_pause();
	}
	finish();
}
