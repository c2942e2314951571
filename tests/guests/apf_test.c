/* apf_test: the guest side of KVM's asynchronous page fault ABI under Keel's lazy RAM (issue 9).
 * Run with the module options `lazy=slow:<n>us mem=32M` and the guest words `lat_us=<n>`
 * (and `budget=<pages>` when Keel has lazy_budget=). 32-bit protected mode with its own paging
 * (4 MiB pages, identity): async PF needs CR0.PG.
 *
 * A tiny scheduler: tasks touch pages of the slow region (16 MiB up, never touched before, so
 * every first touch is a fetch); on "page not present" (#PF, flags=1, token in CR2) the task
 * sleeps on its token and the idle loop computes (work counted there is work done during
 * stalls); the "page ready" interrupt wakes the task with that token. Checks: the ABI (CPUID
 * 0x40000100, the MSRs' #GP cases), work during stalls with async PF on and off, interrupts off
 * (synchronous stall), several completions queued with a delayed ACK (no "page ready" before
 * the ACK), and with a fault in flight: paging off and on, async PF disabled and re-enabled, the
 * local APIC software-disabled and re-enabled, interrupts off for a long time: each fault gets
 * exactly one "page ready". With budget=: pages written, evicted by Keel, read back intact.
 * Prints `BENCH apf_*` lines for tests/bench.py. */
#include "rt.h"
#include "apic.h"
#include "smp.h"

const char guest_name[] = GUEST_NAME;

#define MSR_KVM_ASYNC_PF_EN     0x4b564d02u
#define MSR_KVM_ASYNC_PF_INT    0x4b564d06u
#define MSR_KVM_ASYNC_PF_ACK    0x4b564d07u
#define APF_ENABLED     1u
#define APF_ALWAYS      2u
#define APF_VMEXIT      4u
#define APF_AS_INT      8u
#define APF_VECTOR      0xEC
#define SPURIOUS        0xFF
#define SLOW_BASE       0x1000000u
#define SLOW_PAGES      4096u
#define POISON          0xDEADBEEFu
#define NTASKS          4
#define CR0_PG          0x80000000u
#define CR4_PSE         0x10u

struct apf_data {
	volatile u32 flags, token;
	u8 pad[56];
	u32 enabled;
} __attribute__((aligned(64)));

static struct apf_data area;
static struct apf_data ap_area[SMP_MAX_CPUS];   /* the APs' own areas (smp mode) */
static u32 pgdir[1024] __attribute__((aligned(4096)));
static u64 lat;                 /* fetch latency in TSC ticks */
static u32 next_pg;

enum { T_FREE, T_RUN, T_WAIT, T_DONE };
struct task {
	u32 sp;
	volatile u32 token;
	volatile int state;
	void (*fn)(int);
	int arg;
	u64 t_wait;
	u8 stack[4096] __attribute__((aligned(16)));
};
static struct task tasks[NTASKS], idle;
static struct task *cur = &idle;

static volatile u32 np_count, ready_count, unknown_ready, early_ready;
static volatile int delay_ack, ack_owed, calibrating;
static volatile u32 idle_token;         /* the idle loop itself waits for this token */
static volatile u64 t_access, t_np, t_ready, stall_ticks, work;
static u64 bench_np_sum, bench_ready_sum, bench_n;

/* 64-bit division without libgcc: the divisor is shifted into 32 bits (ratios only). */
static u64 div64(u64 a, u64 b)
{
	u32 rem;
	while (b >> 32) {
		a >>= 1;
		b >>= 1;
	}
	return b ? udiv64(a, (u32)b, &rem) : 0;
}

/* ---- context switch: callee-saved registers and EFLAGS on the task's own stack ---- */
void ctx_switch(u32 *save_sp, u32 new_sp);
__asm__(".text\n.globl ctx_switch\nctx_switch:\n"
	"pushfl\npushl %ebp\npushl %ebx\npushl %esi\npushl %edi\n"
	"movl 24(%esp), %eax\nmovl %esp, (%eax)\nmovl 28(%esp), %esp\n"
	"popl %edi\npopl %esi\npopl %ebx\npopl %ebp\npopfl\nret\n");

static void switch_to(struct task *t)
{
	struct task *p = cur;
	cur = t;
	ctx_switch(&p->sp, t->sp);
}

static void task_entry(void)
{
	cur->fn(cur->arg);
	cur->state = T_DONE;
	switch_to(&idle);
}

static void task_start(struct task *t, void (*fn)(int), int arg)
{
	u32 *sp = (u32 *)(t->stack + sizeof t->stack);
	*--sp = (u32)(uptr)task_entry;
	*--sp = 0x202;                  /* EFLAGS: IF */
	for (int i = 0; i < 4; i++)
		*--sp = 0;              /* ebp ebx esi edi */
	t->sp = (u32)(uptr)sp;
	t->fn = fn;
	t->arg = arg;
	t->token = 0;
	t->state = T_RUN;
}

/* The idle loop: runs whatever is runnable, else counts work (a stall is going on) and calls
 * hook. Returns 0 when every started task is done, -1 on timeout. */
static int run_tasks(void (*hook)(void), u64 timeout)
{
	u64 start = rdtsc();
	for (;;) {
		int live = 0, ran = 0;
		for (int i = 0; i < NTASKS; i++) {
			if (tasks[i].state == T_RUN) {
				switch_to(&tasks[i]);
				ran = 1;
			}
			int st = tasks[i].state;        /* one read: the ready handler may change it */
			live += st == T_RUN || st == T_WAIT;
		}
		if (!live)
			break;
		if (!ran) {
			work++;
			if (hook)
				hook();
		}
		if (rdtsc() - start > timeout) {
			if (calibrating)
				return -1;
			fail("tasks still waiting after %llu ticks (np=%u ready=%u ack_owed=%d "
			     "idle_token=0x%x states %d %d %d %d)", (unsigned long long)timeout, np_count,
			     ready_count, ack_owed, idle_token, tasks[0].state, tasks[1].state,
			     tasks[2].state, tasks[3].state);
			return -1;
		}
	}
	for (int i = 0; i < NTASKS; i++)
		tasks[i].state = T_FREE;
	return 0;
}

/* ---- the two handlers of the ABI ---- */

static u32 read_cr2(void) { u32 v; __asm__ volatile("mov %%cr2, %0" : "=r"(v)); return v; }

static int smp_on;
static void ap_pf(int me);
static void ap_ready(int me);

static void pf_handler(int vec __attribute__((unused)))
{
	u64 now = rdtsc();
	if (smp_on && smp_cpu_id() != 0) {
		ap_pf(smp_cpu_id());
		return;
	}
	if (!(area.flags & 1)) {
		fail("a real #PF at cr2=0x%x", read_cr2());
		guest_exit(214);
	}
	u32 token = read_cr2();
	area.flags = 0;
	np_count++;
	t_np = now;
	if (cur == &idle) {             /* nothing to switch to (its code or stack was evicted):
					 * wait here with interrupts on, as Linux halts */
		idle_token = token;
		while (idle_token)
			sti_hlt();
		cli();
		return;
	}
	cur->token = token;
	cur->state = T_WAIT;
	cur->t_wait = now;
	switch_to(&idle);
	stall_ticks += rdtsc() - cur->t_wait;
}

static void ready_handler(int vec __attribute__((unused)))
{
	u64 now = rdtsc();
	if (smp_on && smp_cpu_id() != 0) {
		ap_ready(smp_cpu_id());
		return;
	}
	u32 token = area.token;
	area.token = 0;
	t_ready = now;
	if (ack_owed)
		fail("a second page ready before the ACK of the first");
	ready_count++;
	int found = 0;
	if (idle_token && (idle_token == token || token == 0xFFFFFFFFu)) {
		idle_token = 0;
		found = 1;
	}
	for (int i = 0; i < NTASKS; i++)
		if (tasks[i].state == T_WAIT && (tasks[i].token == token || token == 0xFFFFFFFFu)) {
			tasks[i].state = T_RUN;
			tasks[i].token = 0;
			found = 1;
		}
	if (!found && !unknown_ready++)
		printf("note: first unknown page ready token 0x%x (task 0 waits on 0x%x)\n", token,
		       tasks[0].token);
	if (delay_ack)
		ack_owed = 1;
	else
		wrmsr(MSR_KVM_ASYNC_PF_ACK, 1);
	apic_eoi();
}

/* ---- helpers ---- */

static u32 slow_page(void)
{
	if (next_pg >= SLOW_PAGES) {
		fail("out of slow pages");
		guest_exit(216);
	}
	return SLOW_BASE + 4096 * next_pg++;
}

static u64 apf_on_value(void)
{
	return (u32)(uptr)&area | APF_ENABLED | APF_ALWAYS | APF_AS_INT;
}

static void spin_ticks(u64 t)
{
	u64 s = rdtsc();
	while (rdtsc() - s < t)
		cpu_relax();
}

static void touch_task(int n)
{
	for (int i = 0; i < n; i++) {
		volatile u32 *p = (volatile u32 *)(uptr)slow_page();
		t_access = rdtsc();
		u32 v = *p;
		if (v != 0)
			fail("fresh slow page 0x%x reads 0x%x", (u32)(uptr)p, v);
		if (t_np > t_access) {
			bench_np_sum += t_np - t_access;
			/* Keel's fetch is due one latency after the faulting access */
			bench_ready_sum += t_ready > t_access + lat ? t_ready - (t_access + lat) : 0;
			bench_n++;
		}
	}
}

static void one_page_task(int arg __attribute__((unused))) { touch_task(1); }

static void paging_on(void)
{
	for (u32 i = 0; i < 1024; i++)
		pgdir[i] = (i << 22) | 0x83;    /* present, writable, 4 MiB */
	__asm__ volatile("mov %%cr4, %%eax; or %0, %%eax; mov %%eax, %%cr4" :: "i"(CR4_PSE) : "eax");
	__asm__ volatile("mov %0, %%cr3" :: "r"(pgdir) : "memory");
	__asm__ volatile("mov %%cr0, %%eax; or %0, %%eax; mov %%eax, %%cr0" :: "i"(CR0_PG)
			 : "eax", "memory");
}

static void set_pg(int on)
{
	u32 cr0 = (u32)read_cr0();
	cr0 = on ? cr0 | CR0_PG : cr0 & ~CR0_PG;
	__asm__ volatile("mov %0, %%cr0; jmp 1f; 1:" :: "r"(cr0) : "memory");
}

/* ---- checks ---- */

static void check_abi(void)
{
	struct cpuid_regs r = cpuid(0x40000100u, 0);
	char sig[13];
	memcpy(sig, &r.ebx, 4);
	memcpy(sig + 4, &r.ecx, 4);
	memcpy(sig + 8, &r.edx, 4);
	sig[12] = 0;
	check("cpuid 0x40000100 says KVMKVMKVM", !memcmp(sig, "KVMKVMKVM\0\0\0", 12));
	check("cpuid 0x40000100 eax >= 0x40000101", r.eax >= 0x40000101u);
	r = cpuid(0x40000101u, 0);
	/* async PF (4, 14) and kvmclock (CLOCKSOURCE2 3, STABLE_BIT 24): nothing Keel lacks */
	check_eq("cpuid 0x40000101 eax: ASYNC_PF, ASYNC_PF_INT and kvmclock only", r.eax,
		 (1u << 3) | (1u << 4) | (1u << 14) | (1u << 24));
	check_eq("cpuid 0x40000101 edx (no hints)", r.edx, 0);
	r = cpuid(0x40000000u, 0);
	check_eq("Keel's own leaf stays at 0x40000000", r.ebx, 0x6c65654bu);
	u64 v = 1;
	u32 a = (u32)(uptr)&area;
	check_eq("EN reads 0 at start", rdmsr_safe(MSR_KVM_ASYNC_PF_EN, &v) ? 99 : v, 0);
	check_eq("enable before the INT vector: #GP",
		 wrmsr_safe(MSR_KVM_ASYNC_PF_EN, a | APF_ENABLED | APF_AS_INT), 14);
	check_eq("INT bits 63:8: #GP", wrmsr_safe(MSR_KVM_ASYNC_PF_INT, 0x1EC), 14);
	check_eq("INT vector write", wrmsr_safe(MSR_KVM_ASYNC_PF_INT, APF_VECTOR), 0);
	check_eq("EN reserved bit 4: #GP", wrmsr_safe(MSR_KVM_ASYNC_PF_EN, a | 0x10 | 9), 14);
	check_eq("EN reserved bit 5: #GP", wrmsr_safe(MSR_KVM_ASYNC_PF_EN, a | 0x20 | 9), 14);
	check_eq("EN delivery as #PF vmexit (not offered): #GP",
		 wrmsr_safe(MSR_KVM_ASYNC_PF_EN, a | APF_VMEXIT | 9), 14);
	check_eq("EN with the area outside RAM: #GP",
		 wrmsr_safe(MSR_KVM_ASYNC_PF_EN, 0xFEE00000u | 9), 14);
	check_eq("ACK reads 0", rdmsr_safe(MSR_KVM_ASYNC_PF_ACK, &v) ? 99 : v, 0);
	check_eq("MSR 0x4b564d03 (no PV EOI): #GP", rdmsr_safe(0x4b564d03u, &v), 14);
	check_eq("enable", wrmsr_safe(MSR_KVM_ASYNC_PF_EN, apf_on_value()), 0);
	check_eq("EN reads back", rdmsr(MSR_KVM_ASYNC_PF_EN), apf_on_value());
	check_eq("INT change to < 32 while enabled: #GP", wrmsr_safe(MSR_KVM_ASYNC_PF_INT, 5), 14);
}

/* Work the idle loop does per million ticks when every task waits (nothing is readied). */
static u64 idle_rate_x1000(void)
{
	tasks[0].state = T_WAIT;
	tasks[0].token = 1;
	u64 w0 = work, t0 = rdtsc(), t = 20 * lat;
	calibrating = 1;
	run_tasks(0, t);                /* times out: that is the point */
	calibrating = 0;
	tasks[0].state = T_FREE;
	return div64((work - w0) * 1000000, rdtsc() - t0);
}

static void stall_phase(int async, u64 rate, int n)
{
	u32 np0 = np_count;
	u64 w0 = work, s0 = stall_ticks, t0 = rdtsc();
	if (!async)
		wrmsr(MSR_KVM_ASYNC_PF_EN, 0);
	task_start(&tasks[0], touch_task, n);
	run_tasks(0, (u64)n * lat * 2000);
	u64 total = rdtsc() - t0, stall = async ? stall_ticks - s0 : total;
	u64 w = work - w0, ratio = div64(w * 1000 * 1000000, rate * stall);
	if (!async)
		wrmsr(MSR_KVM_ASYNC_PF_EN, apf_on_value());
	printf("APF %s: %d faults, %u not-present, stall %llu ticks, work %llu, useful work ratio "
	       "0.%03llu\n", async ? "async" : "sync", n, np_count - np0, (unsigned long long)stall,
	       (unsigned long long)w, (unsigned long long)(ratio > 999 ? 999 : ratio));
	if (async) {
		check_eq("async: one not-present per fault", np_count - np0, n);
		if (cmd_has("no_ratio"))      /* other VMs share the emulator's clock */
			printf("info: useful work ratio not checked (no_ratio)\n");
		else
			check("async: useful work during stalls >= 0.5", ratio >= 500);
	} else {
		check_eq("sync (async PF off): no not-present", np_count - np0, 0);
	}
}

static void check_cli(void)
{
	u32 np0 = np_count;
	volatile u32 *p = (volatile u32 *)(uptr)slow_page();
	cli();
	u64 t0 = rdtsc();
	(void)*p;
	u64 dt = rdtsc() - t0;
	sti();
	check_eq("interrupts off: the fault is synchronous (no not-present)", np_count - np0, 0);
	check("interrupts off: the access waited about the latency", dt >= lat / 2);
}

static u32 ready_seen;
static void ack_hook(void)
{
	if (!ack_owed)
		return;
	ready_seen = ready_count;
	spin_ticks(lat / 2);            /* interrupts on: a premature "page ready" would come now */
	if (ready_count != ready_seen)
		fail("page ready arrived while the previous one was not acked");
	ack_owed = 0;
	wrmsr(MSR_KVM_ASYNC_PF_ACK, 1);
}

static void check_queued(void)
{
	u32 np0 = np_count, r0 = ready_count, u0 = unknown_ready;
	delay_ack = 1;
	for (int i = 0; i < NTASKS; i++)
		task_start(&tasks[i], one_page_task, 0);
	int r = run_tasks(ack_hook, 2000 * lat);
	delay_ack = 0;
	if (ack_owed) {
		ack_owed = 0;
		wrmsr(MSR_KVM_ASYNC_PF_ACK, 1);
	}
	check_eq("queued: every task woke", r, 0);
	check_eq("queued: not-present per task", np_count - np0, NTASKS);
	check_eq("queued: exactly one ready per not-present", ready_count - r0, np_count - np0);
	check_eq("queued: no ready for an unknown token", unknown_ready - u0, 0);
}

/* One fault in flight, then the guest does `what` for three latencies: no "page ready" may come
 * meanwhile, and exactly one afterwards. */
static int edge_kind;
static int edge_done;
static u32 edge_ready0;
static void edge_hook(void)
{
	if (edge_done || tasks[0].state != T_WAIT)
		return;
	edge_done = 1;
	/* Interrupts off around the change: a "page ready" posted before it may still arrive in the
	 * STI window (it was allowed then); the count is taken after that. */
	cli();
	switch (edge_kind) {
	case 0: set_pg(0); break;
	case 1: wrmsr(MSR_KVM_ASYNC_PF_EN, 0); break;
	case 2: apic_sw_disable(); break;
	}
	if (edge_kind == 1 || edge_kind == 2)
		__asm__ volatile("sti; nop; nop" ::: "memory");
	edge_ready0 = ready_count;
	if (tasks[0].state != T_WAIT)
		printf("note: edge %d: the fetch completed before the change\n", edge_kind);
	spin_ticks(3 * lat);
	if (ready_count != edge_ready0)
		fail("edge %d: page ready while it could not be taken", edge_kind);
	switch (edge_kind) {
	case 0: set_pg(1); sti(); break;
	case 1: wrmsr(MSR_KVM_ASYNC_PF_EN, apf_on_value()); break;
	case 2: apic_sw_enable(SPURIOUS); break;
	case 3: sti(); break;
	}
}

static void check_edge(int kind, const char *what)
{
	u32 np0 = np_count, r0 = ready_count;
	edge_kind = kind;
	edge_done = 0;
	task_start(&tasks[0], one_page_task, 0);
	int r = run_tasks(edge_hook, 2000 * lat);
	char buf[96];
	const char *p = what;
	int n = 0;
	while (*p && n < 60)
		buf[n++] = *p++;
	buf[n] = 0;
	check(buf, r == 0 && edge_done && np_count - np0 == 1 && ready_count - r0 == 1);
}

static void evict_task(int pages)
{
	u32 base = SLOW_BASE + 4096 * next_pg;
	next_pg += (u32)pages;
	for (int i = 0; i < pages; i++)
		*(volatile u32 *)(uptr)(base + 4096 * i + 8) = 0xA5000000u + (u32)i;
	int bad = 0;
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < pages; i++) {
			u32 v = *(volatile u32 *)(uptr)(base + 4096 * i + 8);
			if (v != 0xA5000000u + (u32)i && !bad++)
				fail("page %d after eviction reads 0x%x%s", i, v,
				     v == POISON ? " (the reused frame: a stale translation)" : "");
		}
	check("evicted pages read back intact", !bad);
}

/* ---- several vCPUs (word smp, cpus=2): the AP faults at the same time as the BSP, then reads
 * one sentinel page in a loop while the BSP's writes make Keel evict pages under lazy_budget=,
 * the sentinel among them: the AP, whose TLB holds the sentinel's translation, must never see
 * the reused frame (poison) nor a lost write. The AP waits for its faults in place (HLT). ---- */

#define AP_BASE         (SLOW_BASE + 0x800000u)
#define AP_FAULTS       8
static volatile u32 ap_wait[SMP_MAX_CPUS], ap_np[SMP_MAX_CPUS], ap_rd[SMP_MAX_CPUS];
static volatile u32 ap_unknown, ap_bad, ap_bad_val, ap_stop, ap_phase;
static volatile u64 ap_reads;
static volatile u32 *sentinel;

static void ap_pf(int me)
{
	struct apf_data *a = &ap_area[me];
	if (!(a->flags & 1)) {
		smp_printf("FAIL ap %d: a real #PF at cr2=0x%x\n", me, read_cr2());
		guest_exit(217);
	}
	u32 token = read_cr2();
	a->flags = 0;
	ap_np[me]++;
	ap_wait[me] = token;
	while (ap_wait[me])
		sti_hlt();
	cli();
}

static void ap_ready(int me)
{
	struct apf_data *a = &ap_area[me];
	u32 token = a->token;
	a->token = 0;
	ap_rd[me]++;
	if (ap_wait[me] && (ap_wait[me] == token || token == 0xFFFFFFFFu))
		ap_wait[me] = 0;
	else
		ap_unknown++;
	wrmsr(MSR_KVM_ASYNC_PF_ACK, 1);
	apic_eoi();
}

static void ap_work(int cpu, void *arg __attribute__((unused)))
{
	__asm__ volatile("mov %%cr4, %%eax; or %0, %%eax; mov %%eax, %%cr4" :: "i"(CR4_PSE) : "eax");
	__asm__ volatile("mov %0, %%cr3" :: "r"(pgdir) : "memory");
	__asm__ volatile("mov %%cr0, %%eax; or %0, %%eax; mov %%eax, %%cr0" :: "i"(CR0_PG)
			 : "eax", "memory");
	wrmsr(MSR_KVM_ASYNC_PF_INT, APF_VECTOR);
	wrmsr(MSR_KVM_ASYNC_PF_EN, (u32)(uptr)&ap_area[cpu] | APF_ENABLED | APF_ALWAYS | APF_AS_INT);
	sti();
	for (u32 i = 0; i < AP_FAULTS; i++)
		if (*(volatile u32 *)(uptr)(AP_BASE + 4096 * i) != 0)
			ap_bad++;
	ap_phase = 1;
	u32 want = *sentinel;
	while (!ap_stop) {
		u32 v = *sentinel;
		ap_reads++;
		if ((v >> 16) != 0x5E5E || v < want) {   /* poison, or an older value */
			if (!ap_bad++)
				ap_bad_val = v;
		} else {
			want = v;
		}
	}
	cli();
	wrmsr(MSR_KVM_ASYNC_PF_EN, 0);
}

static void check_smp(u64 budget)
{
	printf("smp: starting the AP\n");
	if (!smp_init(0) || smp_start_all(2, 1000) != 1) {
		fail("smp: the AP did not come up");
		return;
	}
	smp_on = 1;
	sentinel = (volatile u32 *)(uptr)slow_page();
	*sentinel = 0x5E5E0001u;
	u32 np0 = np_count;
	printf("smp: AP up\n");
	smp_call(1, ap_work, 0);
	task_start(&tasks[0], touch_task, AP_FAULTS);   /* faults on both vCPUs at once */
	check_eq("smp: BSP tasks done", run_tasks(0, AP_FAULTS * 2000 * lat), 0);
	check_eq("smp: BSP not-present per fault", np_count - np0, AP_FAULTS);
	u64 t0 = rdtsc();
	while (!ap_phase && rdtsc() - t0 < 2000 * lat)
		cpu_relax();
	check("smp: the AP's faults done", ap_phase);
	/* the BSP writes fresh pages: Keel evicts the oldest ones, the sentinel among them, and
	 * the sentinel's value changes now and then (the AP must see each write, never poison) */
	u32 s0 = ap_np[1];
	for (u32 round = 0; round < 4; round++) {
		task_start(&tasks[0], evict_task, (int)budget);
		run_tasks(0, budget * 2000 * lat);
		*sentinel = 0x5E5E0002u + round;
	}
	ap_stop = 1;
	smp_call_wait(1, 1000);
	smp_on = 0;
	printf("smp: AP: %u not-present (%u while reading the sentinel), %u ready, %llu sentinel "
	       "reads\n", ap_np[1], ap_np[1] - s0, ap_rd[1], (unsigned long long)ap_reads);
	check_eq("smp: AP not-present for its faults", s0, AP_FAULTS);
	check_eq("smp: AP exactly one ready per not-present", ap_rd[1], ap_np[1]);
	check_eq("smp: AP no ready for an unknown token", ap_unknown, 0);
	check("smp: the sentinel was evicted under the AP (it faulted on it again)", ap_np[1] > s0);
	if (ap_bad)
		fail("smp: AP read 0x%x%s", ap_bad_val,
		     ap_bad_val == POISON ? " (the reused frame: no TLB shootdown)" : "");
	else
		ok("smp: the AP never saw a reused frame or a lost write");
}

void guest_main(void)
{
	boot_checks(guest_name);
	u64 lat_us = cmd_num("lat_us", 200), budget = cmd_num("budget", 0);
	u32 tsc_khz = cpuid(0x40000010u, 0).eax;
	lat = div64(lat_us * tsc_khz, 1000);
	printf("apf_test: latency %llu us = %llu ticks\n", (unsigned long long)lat_us,
	       (unsigned long long)lat);
	apic_use_xapic();
	apic_sw_enable(SPURIOUS);
	pic_mask_all();
	irq_set_handler(14, pf_handler);
	irq_set_handler(APF_VECTOR, ready_handler);
	irq_set_handler(SPURIOUS, 0);
	paging_on();
	check_abi();
	sti();
	u64 rate = idle_rate_x1000();
	printf("idle work rate %llu per million ticks\n", (unsigned long long)rate);
	/* evict_only: a VM under lazy_budget= whose own code and stack pages get evicted too, so
	 * the exact per-phase counts of the other checks do not hold there */
	int nf = (int)cmd_num("faults", 20);
	if (cmd_has("evict_only"))
		goto evict;
	if (cmd_has("smp")) {
		check_smp(budget);
		goto end;
	}
	stall_phase(1, rate, nf);
	if (bench_n)
		printf("BENCH apf_notpresent iters=%llu ticks=%llu per_iter=0\n"
		       "BENCH apf_ready iters=%llu ticks=%llu per_iter=0\n",
		       (unsigned long long)bench_n, (unsigned long long)bench_np_sum,
		       (unsigned long long)bench_n, (unsigned long long)bench_ready_sum);
	stall_phase(0, rate, nf);
	check_cli();
	check_queued();
	check_edge(0, "paging off and on with a fault in flight: one ready");
	check_edge(1, "async PF disabled and re-enabled with a fault in flight: one ready");
	check_edge(2, "local APIC software-disabled and enabled in flight: one ready");
	check_edge(3, "interrupts off for 3 latencies in flight: one ready");
evict:
	if (budget) {
		task_start(&tasks[0], evict_task, (int)(budget * 2));
		check_eq("evict task done", run_tasks(0, budget * 2000 * lat), 0);
	}
end:
	check_eq("no ready for an unknown token", unknown_ready, 0);
	check_eq("np == ready over the whole run", np_count, ready_count);
	cli();
	finish();
}
