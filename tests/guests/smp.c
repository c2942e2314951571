/* smp: brings up every vCPU with the guest's own INIT-SIPI-SIPI (trampoline at 0x8000, below
 * 1 MiB) and runs work on all of them.
 * cmdline: ncpus=<n> (default CPUID.1:EBX[23:16]), x2apic (send the IPIs through the x2APIC ICR
 * MSR; every CPU switches to x2APIC mode), bcast (start all APs at once with the all-excluding-
 * self shorthand instead of one by one), work=<n> (numbers each CPU sums, default 200000).
 * Checks: BSP APIC state; each AP online with one trampoline entry, APIC ID register = CPUID.1:
 * EBX[31:24] = its number, all distinct, IA32_APIC_BASE = 0xFEE00800 (not BSP, enabled); each
 * CPU's sum over its own range (compared with the BSP's serial result); a shared counter that
 * every CPU increments with LOCK ADD. */
#include "smp.h"

const char guest_name[] = GUEST_NAME;

#define TIMEOUT_MS 3000
#define ADDS 20000
#define APIC_BASE_AP (APIC_DEFAULT_PHYS | APIC_BASE_EN)

struct work {
	u32 lo, hi;
	volatile u64 sum;
	volatile u32 done;
};
static struct work works[SMP_MAX_CPUS];
static volatile u32 shared_counter;

static u64 work_sum(u32 lo, u32 hi)
{
	u64 s = 0;
	for (u32 k = lo; k < hi; k++) {
		u32 x = k * 2654435761u;
		x ^= x >> 13;
		s += x;
	}
	return s;
}

static void do_work(int cpu, void *arg)
{
	struct work *w = arg;
	w->sum = work_sum(w->lo, w->hi);
	for (int i = 0; i < ADDS; i++)
		__atomic_add_fetch(&shared_counter, 1, __ATOMIC_SEQ_CST);
	w->done = 1;
	smp_printf("cpu %d (apic id %u) summed [%u, %u)\n", cpu, apic_id(), w->lo, w->hi);
}

static void start_all_bcast(u32 n)
{
	apic_send_ipi(0, APIC_SH_OTHERS | APIC_DM_INIT | APIC_LEVEL_ASSERT);
	tsc_delay_us(10000);
	apic_send_ipi(0, APIC_SH_OTHERS | APIC_DM_SIPI | APIC_LEVEL_ASSERT | SMP_SIPI_VECTOR);
	tsc_delay_us(200);
	apic_send_ipi(0, APIC_SH_OTHERS | APIC_DM_SIPI | APIC_LEVEL_ASSERT | SMP_SIPI_VECTOR);
	for (u32 i = 1; i < n; i++)
		if (smp_wait_online(i, 1, TIMEOUT_MS) != 0)
			fail("cpu %u online after broadcast INIT-SIPI-SIPI", i);
}

void guest_main(void)
{
	uart_init_8n1(); /* bare Bochs: the BIOS leaves 5-bit characters */
	u32 n = cpu_count(), per = (u32)cmd_num("work", 200000);
	int x2 = cmd_has("x2apic"), bcast = cmd_has("bcast");
	printf("smp: %u cpu(s), %s mode, %d-bit, trampoline at 0x%x (SIPI vector 0x%02x)%s\n", n,
	       x2 ? "x2APIC" : "xAPIC", (int)sizeof(void *) * 8, SMP_TRAMPOLINE, SMP_SIPI_VECTOR,
	       bcast ? ", broadcast start" : "");
	if (n > SMP_MAX_CPUS) {
		fail("%u cpus: this guest handles at most %d", n, SMP_MAX_CPUS);
		finish();
	}
	if (x2 && !apic_has_x2apic()) {
		fail("x2apic requested but CPUID.1:ECX[21] is clear");
		finish();
	}
	check("smp_init", smp_init(x2));
	u64 base = apic_base_msr();
	check_eq("cpu 0: IA32_APIC_BASE BSP and enable bits", base & (APIC_BASE_BSP | APIC_BASE_EN),
		 APIC_BASE_BSP | APIC_BASE_EN);
	check_eq("cpu 0: APIC ID register", apic_id(), 0);
	check_eq("cpu 0: CPUID.1:EBX[31:24]", cpuid(1, 0).ebx >> 24, 0);

	if (bcast) {
		start_all_bcast(n);
	} else {
		for (u32 i = 1; i < n; i++)
			if (smp_start_ap(i, TIMEOUT_MS) != 0)
				fail("cpu %u online after INIT-SIPI-SIPI (entries %u)", i,
				     smp_cpus[i].entries);
	}
	check_eq("no AP parked for an out-of-range APIC ID", smp_bad_ids(), 0);

	u32 up = 0;
	for (u32 i = 1; i < n; i++) {
		struct smp_cpu *c = &smp_cpus[i];
		if (!c->online)
			continue;
		up++;
		printf("cpu %u: apic id %u, cpuid id %u, apic base 0x%llx, %s\n", i, c->apic_id,
		       c->cpuid_id, (unsigned long long)c->apic_base, c->x2 ? "x2APIC" : "xAPIC");
		CHECKF_EQ(c->entries, 1, "cpu %u: entered the trampoline once", i);
		CHECKF_EQ(c->apic_id, i, "cpu %u: APIC ID register", i);
		CHECKF_EQ(c->cpuid_id, i, "cpu %u: CPUID.1:EBX[31:24]", i);
		CHECKF_EQ(c->apic_base, APIC_BASE_AP, "cpu %u: IA32_APIC_BASE on arrival", i);
		if (x2) {
			CHECKF(c->x2, "cpu %u: in x2APIC mode", i);
		}
	}
	int distinct = 1;
	for (u32 i = 0; i < n; i++)
		for (u32 j = i + 1; j < n; j++)
			if (smp_cpus[i].online && smp_cpus[j].online &&
			    smp_cpus[i].apic_id == smp_cpus[j].apic_id)
				distinct = 0;
	check("APIC IDs distinct", distinct);
	check_eq("APs online", up, n - 1);
	check_eq("AP arrivals in C", smp_online_total, n - 1);

	/* work on every CPU at once, the BSP's share included */
	for (u32 i = 0; i < n; i++) {
		works[i].lo = i * per;
		works[i].hi = (i + 1) * per;
	}
	for (u32 i = 1; i < n; i++)
		if (smp_cpus[i].online)
			smp_call(i, do_work, &works[i]);
	do_work(0, &works[0]);
	for (u32 i = 1; i < n; i++)
		if (smp_cpus[i].online && smp_call_wait(i, TIMEOUT_MS * 5) != 0)
			fail("cpu %u finished its work", i);
	for (u32 i = 0; i < n; i++) {
		CHECKF_EQ(works[i].done ? works[i].sum : ~0ull, work_sum(works[i].lo, works[i].hi),
			  "cpu %u: sum of [%u, %u)", i, works[i].lo, works[i].hi);
	}
	check_eq("shared LOCK ADD counter", shared_counter, (u64)n * ADDS);
	printf("smp: %u cpu(s) ran work\n", up + 1);
	finish();
}
