/* gdb_test: the guest tests/test_gdb.py debugs with a real gdb through Keel's stub (all guests
 * carry debug info, -g). It starts its second vCPU (which spins in ap_spin, counting), prints
 * the values it will hold in ESI/EDI at gdb_regs_here, and waits for gdb to set gdb_go. Then:
 * an INT3 of the guest's own (its handler must see it, not gdb), gdb_regs_here (a breakpoint
 * target, ESI/EDI = magic), gdb_step_fn (stepi/next), a write to
 * `watched` (a hardware watchpoint), a spin until gdb sets gdb_stop (Ctrl-C stops it), and the
 * values gdb may have changed are printed; the exit status is 0. Without gdb it waits forever. */
#include "smp.h"

const char guest_name[] = GUEST_NAME;

volatile u32 gdb_go, gdb_stop, watched, spin_count, ap_count, step_result;
volatile u32 gdb_var = 0x1234;

static void ap_spin(int cpu __attribute__((unused)), void *arg __attribute__((unused)))
{
	for (;;) {
		ap_count++;
		cpu_pause();
	}
}

/* ESI and EDI hold the printed magic values on entry. */
__attribute__((noipa)) void gdb_regs_here(void)
{
	__asm__ volatile("" ::: "memory");
}

__attribute__((noipa)) u32 gdb_step_fn(u32 x)
{
	return x * 3 + gdb_var;
}

void guest_main(void)
{
	uart_init_8n1();
	u32 magic1 = (u32)rdtsc() | 0x10000000u, magic2 = ~magic1 & 0x7FFFFFF0u;
	if (!smp_init(0) || smp_start_all(2, 3000) != 1)
		fail("gdb_test: vcpu 1 did not start");
	smp_call(1, ap_spin, 0);
	printf("gdb_test: ready esi=%08x edi=%08x\n", magic1, magic2);
	while (!gdb_go)
		cpu_pause();
	exc_arm(3, 0);
	__asm__ volatile("int3" ::: "memory");  /* the guest's own breakpoint, while gdb is on */
	int own_bp = exc_disarm();
	__asm__ volatile("call gdb_regs_here" :: "S"(magic1), "D"(magic2) : "eax", "ecx", "edx",
			 "memory");
	step_result = gdb_step_fn(5);           /* gdb: next from here */
	watched = 42;                           /* gdb: watched write */
	while (!gdb_stop)
		spin_count++;
	printf("gdb_test: gdb_var=%u step=%u watched=%u spun=%u ap=%u own_bp=%d\n", gdb_var,
	       step_result, watched, spin_count ? 1 : 0, ap_count ? 1 : 0, own_bp);
	finish();
}
