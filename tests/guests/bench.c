/* bench: exit-cost benchmark. Each measurement is a tight loop of exactly 4 instructions
 * with the counter in EDI (CPUID/hypercalls clobber EAX..EDX; ESI is a hypercall argument):
 *   empty     : 1: xor %eax,%eax; nop;          dec %edi; jnz 1b
 *   cpuid     : 1: xor %eax,%eax; cpuid;        dec %edi; jnz 1b   (leaf 0)
 *   hypercall : 1: xor %eax,%eax; vmcall|vmmcall; dec %edi; jnz 1b (PING)
 *   rdmsr     : 1: mov $0x3a,%ecx; rdmsr;       dec %edi; jnz 1b
 *   out       : 1: mov %edi,%eax; out %al,%dx;  dec %edi; jnz 1b   (DX = 0x3ff hoisted)
 * Timing: cpuid(0); t0 = rdtsc; loop; t1 = rdtsc; cpuid(0) - the serializing CPUIDs are
 * outside the measured interval. n=<N> iterations (default 2000), after a 16-iteration warm-up.
 * Output: BENCH <name> iters=<N> ticks=<T> per_iter=<T/N, one decimal> */
#include "rt.h"

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

void guest_main(void)
{
	u32 n = (u32)cmd_num("n", 2000);
	int amd = cpu_is_amd();
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
	finish();
}
