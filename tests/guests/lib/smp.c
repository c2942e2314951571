/* Guest SMP: AP bring-up through the low-memory trampoline, per-CPU data, work dispatch. */
#include "smp.h"

struct smp_cpu smp_cpus[SMP_MAX_CPUS];
volatile u32 smp_online_total;
void (*volatile smp_ap_entry)(int cpu) = smp_idle;

static u8 smp_stacks[SMP_MAX_CPUS][SMP_STACK_SIZE] __attribute__((aligned(16)));
static volatile int want_x2;
static volatile u32 print_lock;
static volatile u32 spurious_count;

extern const char smp_tramp_start[], smp_tramp_end[];
extern const char smp_tr_idtr[], smp_tr_cr3[], smp_tr_stacks[], smp_tr_entry[], smp_tr_bad[];

/* address of a trampoline data field in the low-memory copy */
#define TR_FIELD(sym) ((void *)(uptr)(SMP_TRAMPOLINE + (uptr)((sym) - smp_tramp_start)))

#define INIT_DELAY_US 10000 /* SDM 9.4.4.1: INIT, wait 10 ms, SIPI, wait 200 us, SIPI */
#define SIPI_DELAY_US 200

void smp_ap_main(u32 id);

static void spurious_handler(int vec)
{
	(void)vec;
	__atomic_add_fetch(&spurious_count, 1, __ATOMIC_RELAXED); /* no EOI for spurious vectors */
}

void smp_nmi_count_handler(int vec)
{
	(void)vec;
	int me = smp_cpu_id();
	if (me >= 0 && me < SMP_MAX_CPUS)
		__atomic_add_fetch(&smp_cpus[me].nmis, 1, __ATOMIC_SEQ_CST);
}

u64 smp_ms_ticks(u32 ms) { return (u64)tsc_khz() * ms; }

u32 smp_bad_ids(void) { return *(volatile u32 *)TR_FIELD(smp_tr_bad); }

int smp_x2(void) { return want_x2; }

int smp_init(int x2)
{
	/* Keel has no PIT to calibrate against: without its TSC leaf every timeout would be wrong
	 * (or the calibration would spin for minutes), so end here with a clear failure. */
	if (cpu_is_keel() && !keel_freqs(NULL, NULL) && !cmd_num("tsc_khz", 0)) {
		fail("Keel's CPUID leaf 0x40000010 (TSC kHz) is missing: no time base");
		finish();
	}
	tsc_khz(); /* calibrate once, on the BSP, before any AP uses the timeouts */
	if (x2) {
		if (!apic_use_x2apic())
			return 0;
	} else {
		apic_use_xapic();
	}
	want_x2 = x2;
	pic_mask_all(); /* firmware may leave the legacy PIC's IRQ0 unmasked */
	irq_set_handler(SMP_SPURIOUS_VEC, spurious_handler);
	apic_sw_enable(SMP_SPURIOUS_VEC);

	memcpy((void *)(uptr)SMP_TRAMPOLINE, smp_tramp_start,
	       (size_t)(smp_tramp_end - smp_tramp_start));
	__asm__ volatile("sidt %0" : "=m"(*(u8 *)TR_FIELD(smp_tr_idtr)) : : "memory");
#ifdef __x86_64__
	uptr cr3;
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	*(volatile u32 *)TR_FIELD(smp_tr_cr3) = (u32)cr3;
#endif
	*(volatile u32 *)TR_FIELD(smp_tr_stacks) = (u32)(uptr)smp_stacks;
	*(volatile u64 *)TR_FIELD(smp_tr_entry) = (u64)(uptr)smp_ap_main;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return 1;
}

/* Called by the trampoline on the AP's own stack with its slot (initial APIC ID). */
void smp_ap_main(u32 id)
{
	struct smp_cpu *c = &smp_cpus[id];
	c->fn = 0; /* work posted before an INIT died with the old run */
	__atomic_add_fetch(&c->entries, 1, __ATOMIC_SEQ_CST);
	u64 base = rdmsr(MSR_APIC_BASE);
	c->apic_base = base;
	/* The helpers' mode flag is global (all CPUs use one mode). An INIT keeps x2APIC mode
	 * (SDM 11.12.5.1); a fresh AP comes up in xAPIC mode and switches here. */
	if (want_x2 && !(base & APIC_BASE_EXTD))
		apic_use_x2apic();
	c->x2 = (rdmsr(MSR_APIC_BASE) & APIC_BASE_EXTD) != 0;
	apic_sw_enable(SMP_SPURIOUS_VEC);
	c->apic_id = apic_id();
	c->cpuid_id = cpuid(1, 0).ebx >> 24;
	__atomic_add_fetch(&smp_online_total, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&c->online, 1, __ATOMIC_SEQ_CST);
	smp_ap_entry((int)id);
}

int smp_send_init(u32 apic_id) { return apic_send_ipi(apic_id, APIC_DM_INIT | APIC_LEVEL_ASSERT); }

int smp_send_sipi(u32 apic_id)
{
	return apic_send_ipi(apic_id, APIC_DM_SIPI | APIC_LEVEL_ASSERT | SMP_SIPI_VECTOR);
}

int smp_wait_ge(volatile u32 *p, u32 want, u32 timeout_ms)
{
	u64 t0 = rdtsc(), lim = smp_ms_ticks(timeout_ms);
	while (__atomic_load_n(p, __ATOMIC_SEQ_CST) < want) {
		if (rdtsc() - t0 > lim)
			return -1;
		cpu_relax();
	}
	return 0;
}

int smp_wait_online(u32 cpu, u32 entries, u32 timeout_ms)
{
	struct smp_cpu *c = &smp_cpus[cpu];
	if (smp_wait_ge(&c->entries, entries, timeout_ms) != 0)
		return -1;
	return smp_wait_ge(&c->online, 1, timeout_ms);
}

int smp_start_ap(u32 apic_id, u32 timeout_ms)
{
	if (apic_id >= SMP_MAX_CPUS)
		return -1;
	struct smp_cpu *c = &smp_cpus[apic_id];
	u32 before = c->entries;
	c->online = 0;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (smp_send_init(apic_id) != 0)
		return -1;
	tsc_delay_us(INIT_DELAY_US);
	if (smp_send_sipi(apic_id) != 0)
		return -1;
	tsc_delay_us(SIPI_DELAY_US);
	if (smp_send_sipi(apic_id) != 0) /* ignored by a CPU the first one started */
		return -1;
	return smp_wait_online(apic_id, before + 1, timeout_ms);
}

int smp_start_all(u32 n, u32 timeout_ms)
{
	int up = 0;
	for (u32 i = 1; i < n && i < SMP_MAX_CPUS; i++)
		up += smp_start_ap(i, timeout_ms) == 0;
	return up;
}

void smp_call(u32 cpu, smp_fn_t fn, void *arg)
{
	struct smp_cpu *c = &smp_cpus[cpu];
	c->arg = arg;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	c->fn = fn;
}

int smp_call_wait(u32 cpu, u32 timeout_ms)
{
	struct smp_cpu *c = &smp_cpus[cpu];
	u64 t0 = rdtsc(), lim = smp_ms_ticks(timeout_ms);
	while (__atomic_load_n(&c->fn, __ATOMIC_SEQ_CST)) {
		if (rdtsc() - t0 > lim)
			return -1;
		cpu_relax();
	}
	return 0;
}

void smp_idle(int cpu)
{
	struct smp_cpu *c = &smp_cpus[cpu];
	sti();
	for (;;) {
		smp_fn_t fn = __atomic_load_n(&c->fn, __ATOMIC_SEQ_CST);
		if (!fn) {
			cpu_relax();
			continue;
		}
		fn(cpu, c->arg);
		__atomic_add_fetch(&c->calls, 1, __ATOMIC_SEQ_CST);
		__atomic_store_n(&c->fn, 0, __ATOMIC_SEQ_CST);
		sti(); /* a function may have left IF=0 */
	}
}

void smp_lock(void)
{
	while (__atomic_exchange_n(&print_lock, 1, __ATOMIC_ACQUIRE))
		cpu_relax();
}

void smp_unlock(void) { __atomic_store_n(&print_lock, 0, __ATOMIC_RELEASE); }

void smp_printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	uptr f = irq_save(); /* a handler on this CPU printing would deadlock on the lock */
	smp_lock();
	vprintf_(fmt, ap);
	smp_unlock();
	irq_restore(f);
	va_end(ap);
}
