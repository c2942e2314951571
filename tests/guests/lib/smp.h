/* Guest SMP: application-processor (AP) bring-up with INIT-SIPI(-SIPI) (SDM Vol. 3A 9.4 "MP
 * Initialization"), per-CPU stacks and a small per-CPU work dispatcher.
 *
 * The real-mode trampoline (lib/smp_tramp.S) is copied to SMP_TRAMPOLINE (below 1 MiB, SIPI
 * vector SMP_TRAMPOLINE >> 12). An AP started there switches to 32-bit protected mode (and to
 * long mode in 64-bit guests, with the BSP's CR3), takes the stack of slot CPUID.1:EBX[31:24]
 * (its initial APIC ID; Keel and the emulators number CPUs 0..n-1), loads the BSP's IDT and calls
 * smp_ap_main(): it counts the entry, sets up its local APIC (x2APIC when smp_init(1) was used),
 * records what it sees, marks itself online and runs smp_ap_entry (default: smp_idle()).
 * Everything is indexed by APIC ID = CPU number. APs never print unless through smp_printf(). */
#ifndef KEEL_GUEST_SMP_H
#define KEEL_GUEST_SMP_H

#define SMP_MAX_CPUS    8
#define SMP_TRAMPOLINE  0x8000      /* real-mode entry point: CS = 0x0800, IP = 0 */
#define SMP_SIPI_VECTOR (SMP_TRAMPOLINE >> 12)
#define SMP_STACK_SIZE  8192
#define SMP_SPURIOUS_VEC 0xFF

#ifndef __ASSEMBLER__
#include "apic.h"

typedef void (*smp_fn_t)(int cpu, void *arg);

struct smp_cpu {
	volatile u32 entries;   /* times the CPU came through the trampoline into C */
	volatile u32 online;    /* set on each arrival in C (cleared by smp_start_ap before INIT) */
	volatile u32 apic_id;   /* its APIC ID register (xAPIC: bits 31:24; x2APIC: 32 bits) */
	volatile u32 cpuid_id;  /* CPUID.1:EBX[31:24] */
	volatile u64 apic_base; /* IA32_APIC_BASE as found on arrival (before any change) */
	volatile u32 x2;        /* runs its APIC in x2APIC mode */
	/* work dispatcher (smp_idle): fn/arg posted by smp_call, fn cleared when done */
	smp_fn_t volatile fn;
	void *volatile arg;
	volatile u32 calls;     /* calls completed */
	volatile u32 nmis;      /* NMIs seen by smp_nmi_count_handler */
};
extern struct smp_cpu smp_cpus[SMP_MAX_CPUS];
extern volatile u32 smp_online_total; /* arrivals in C on all APs, cumulative */
/* What an AP runs after coming online (default smp_idle); a return parks it (cli; hlt). */
extern void (*volatile smp_ap_entry)(int cpu);

/* Under Keel without CPUID leaf 0x40000010 (and no tsc_khz=): FAIL and exit. Otherwise:
 * copy the trampoline, load the BSP's APIC mode (x2 = 1: x2APIC, APs follow on arrival;
 * returns 0 if CPUID lacks x2APIC), SW-enable the BSP's APIC with a spurious handler, and
 * calibrate the TSC (tsc_khz) for the timeouts. Returns 1 on success. */
int smp_init(int x2);
int smp_x2(void);
/* APs the trampoline parked because their APIC ID was >= SMP_MAX_CPUS */
u32 smp_bad_ids(void);

/* CPU number = CPUID.1:EBX[31:24] (works in any APIC mode, from any CPU, also in handlers) */
static inline int smp_cpu_id(void) { return (int)(cpuid(1, 0).ebx >> 24); }

/* Raw IPIs to one CPU by physical APIC ID (no waiting for the target). 0 = sent. */
int smp_send_init(u32 apic_id);
int smp_send_sipi(u32 apic_id);
/* The SDM sequence: INIT, 10 ms, SIPI, 200 us, SIPI; then wait (timeout_ms of TSC time) until
 * the CPU is online with one more entry than before. Returns 0, or -1 on timeout. */
int smp_start_ap(u32 apic_id, u32 timeout_ms);
/* Start CPUs 1..n-1 one after the other; returns how many APs came online. */
int smp_start_all(u32 n, u32 timeout_ms);

/* Wait until *p >= want (TSC-timed); returns 0, or -1 on timeout. */
int smp_wait_ge(volatile u32 *p, u32 want, u32 timeout_ms);
/* Wait until CPU cpu is online with at least `entries` entries. */
int smp_wait_online(u32 cpu, u32 entries, u32 timeout_ms);

/* Work dispatcher: post fn(cpu, arg) to an AP in smp_idle (asynchronous); smp_call_wait waits
 * for it to return. smp_call_wait returns 0, or -1 on timeout. */
void smp_call(u32 cpu, smp_fn_t fn, void *arg);
int smp_call_wait(u32 cpu, u32 timeout_ms);
/* The default AP loop: IF=1, PAUSE-spins waiting for posted work. */
__attribute__((noreturn)) void smp_idle(int cpu);

/* A console lock so that several CPUs can print whole lines. */
void smp_lock(void);
void smp_unlock(void);
void smp_printf(const char *fmt, ...) __attribute__((format(__printf__, 1, 2)));

/* NMI handler (register with irq_set_handler(2, ...)) counting smp_cpus[me].nmis */
void smp_nmi_count_handler(int vec);

/* check_eq()/check() with a printf-style description (fmt must be a string literal) */
#define CHECKF_EQ(got, want, fmt, ...)                                                              \
	do {                                                                                       \
		u64 got_ = (u64)(got), want_ = (u64)(want);                                       \
		if (got_ == want_)                                                                 \
			ok(fmt, __VA_ARGS__);                                                      \
		else                                                                               \
			fail(fmt ": got 0x%llx want 0x%llx", __VA_ARGS__, (unsigned long long)got_, \
			     (unsigned long long)want_);                                           \
	} while (0)
#define CHECKF(cond, fmt, ...)                                                                      \
	do {                                                                                       \
		if (cond)                                                                          \
			ok(fmt, __VA_ARGS__);                                                      \
		else                                                                               \
			fail(fmt, __VA_ARGS__);                                                    \
	} while (0)

/* TSC ticks for ms milliseconds (tsc_khz() * ms) */
u64 smp_ms_ticks(u32 ms);
#endif

#endif
