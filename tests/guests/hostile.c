/* hostile (64-bit): does at random what a buggy or malicious guest does, and checks that every
 * action gets a value or the architectural fault a CPU would give (issue 13). Its own GDT (with
 * ring-3 segments and a TSS), its own 256-vector IDT, and recovery from any fault: run_action()
 * returns the vector + 1 of what stopped an action.
 * cmdline: seed=<n> actions=<n> (default 20000); skip_prefixed (prefixed intercepted
 * instructions, issue 13 item 1); mmio and stringio add the two kinds that still stop the VM
 * (the platform issue); only=<kind> runs that kind alone (e.g. only=singlestep). Ends with
 * `done: <n> failure(s)` and that status. */
#include <stdbool.h>
#include "rt.h"
#include "hostile_asm.h"

const char guest_name[] = GUEST_NAME;

#define SEL_CODE64  0x18
#define SEL_DATA    0x10
#define SEL_UDATA   0x20
#define SEL_UCODE   0x28
#define SEL_TSS     0x30
#define USER_BASE   0x800000ul          /* a 2 MiB page with U=1: user code and stack */
#define USER_STACK  (USER_BASE + 0x1FF000ul)
#define SCRATCH     0xA00000ul          /* 2 MiB of RAM the guest may scribble on */
#define VEC_BACK    0x80                /* INT 0x80: user mode is done */
#define RFLAGS_TF   0x100ul
#define DR6_BS      (1ul << 14)

enum { V_DB = 1, V_BP = 3, V_UD = 6, V_GP = 13, V_PF = 14 };

/* ---- state shared with the asm half ---- */
uptr hs_recover_rsp;
volatile u32 hs_fault_vec;
volatile uptr ss_expect, ss_rip, ss_dr6;
volatile int ss_armed, ss_count;
volatile u32 px_done;
static volatile uptr fault_rip, fault_err, back_rax;

struct frame {
	u64 r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
	u64 vec, err, rip, cs, rflags, rsp, ss;
};

static inline uptr read_cr3(void) { uptr v; __asm__ volatile("mov %%cr3, %0" : "=r"(v)); return v; }
static inline u64 read_dr6(void) { u64 v; __asm__ volatile("mov %%dr6, %0" : "=r"(v)); return v; }
static inline void write_dr6(u64 v) { __asm__ volatile("mov %0, %%dr6" :: "r"(v)); }

int hs_exc(struct frame *f)
{
	if (f->vec == V_DB && ss_armed) {
		ss_armed = 0;
		ss_count++;
		ss_rip = f->rip;
		ss_dr6 = read_dr6();
		write_dr6(0xFFFF0FF0ul);
		f->rflags &= ~RFLAGS_TF;
		return 0;
	}
	hs_fault_vec = (u32)f->vec;
	fault_rip = f->rip;
	fault_err = f->err;
	back_rax = f->rax;
	return 1;
}

/* ---- descriptor tables ---- */
struct tss64 { u32 r0; u64 rsp[3]; u64 r1; u64 ist[7]; u64 r2; u16 r3, iomap; } __attribute__((packed));
static struct tss64 tss;
static u64 gdt[8] __attribute__((aligned(16)));
struct gate { u16 lo, sel; u8 ist, type; u16 mid; u32 hi, zero; } __attribute__((packed));
static struct gate idt[256] __attribute__((aligned(16)));
struct dptr { u16 limit; u64 base; } __attribute__((packed));
static struct dptr gdt_ptr, idt_ptr;
static u8 intr_stack[16384] __attribute__((aligned(16)));
static uptr good_cr0, good_cr3, good_cr4;
static u64 good_efer, good_pat;

static void tables_init(void)
{
	gdt[1] = 0x00CF9A000000FFFFull;     /* 0x08 code32 */
	gdt[2] = 0x00CF92000000FFFFull;     /* 0x10 data */
	gdt[3] = 0x00AF9A000000FFFFull;     /* 0x18 code64 */
	gdt[4] = 0x00CFF2000000FFFFull;     /* 0x20 user data */
	gdt[5] = 0x00AFFA000000FFFFull;     /* 0x28 user code64 */
	u64 b = (u64)&tss, l = sizeof tss - 1;
	gdt[6] = (l & 0xFFFF) | ((b & 0xFFFFFF) << 16) | (0x89ull << 40) | (((b >> 24) & 0xFF) << 56);
	gdt[7] = b >> 32;
	tss.rsp[0] = (u64)(intr_stack + sizeof intr_stack);
	tss.iomap = sizeof tss;
	gdt_ptr = (struct dptr){ sizeof gdt - 1, (u64)gdt };
	__asm__ volatile("lgdt %0" :: "m"(gdt_ptr));
	__asm__ volatile("pushq $0x18; leaq 1f(%%rip), %%rax; pushq %%rax; lretq; 1:" ::: "rax", "memory");
	__asm__ volatile("movl $0x10, %%eax; movl %%eax, %%ds; movl %%eax, %%es; movl %%eax, %%ss"
			 ::: "rax");
	__asm__ volatile("ltr %w0" :: "r"((u16)SEL_TSS));
	for (int v = 0; v < 256; v++) {
		u64 a = (u64)hs_stubs + (u64)v * 16;
		bool user = v == VEC_BACK || v == V_BP || v == 4;
		idt[v] = (struct gate){ (u16)a, SEL_CODE64, 0, (u8)(user ? 0xEE : 0x8E), (u16)(a >> 16),
					(u32)(a >> 32), 0 };
	}
	idt_ptr = (struct dptr){ sizeof idt - 1, (u64)idt };
	__asm__ volatile("lidt %0" :: "m"(idt_ptr));
	/* The user page: U=1 at every level of the identity map (only that PDE below PML4/PDPT). */
	u64 *pml4 = (u64 *)(read_cr3() & ~0xFFFul);
	u64 *pdpt = (u64 *)(pml4[0] & ~0xFFFul);
	u64 *pd = (u64 *)(pdpt[0] & ~0xFFFul);
	pml4[0] |= 4;
	pdpt[0] |= 4;
	pd[USER_BASE >> 21] |= 4;
	__asm__ volatile("mov %0, %%cr3" :: "r"(read_cr3()) : "memory");
	memcpy((void *)USER_BASE, u_begin, (size_t)(u_end - u_begin));
}

/* ---- PRNG: xorshift64* ---- */
static u64 rng;
static u64 rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545F4914F6CDD1Dull;
}
static u32 rndn(u32 n) { return (u32)((rnd() >> 32) % n); }

/* ---- what CPUID promises ---- */
static struct { bool amd, monitor, xsave, osxsave, rdtscp, fsgsbase, smep, smap, umip, pcid, pku;
		bool la57, vmx, smx; } cpu;

static void cpu_init(void)
{
	cpu.amd = cpu_is_amd();
	struct cpuid_regs r = cpuid(1, 0);
	cpu.monitor = r.ecx & (1u << 3);
	cpu.vmx = r.ecx & (1u << 5);
	cpu.smx = r.ecx & (1u << 6);
	cpu.pcid = r.ecx & (1u << 17);
	cpu.xsave = r.ecx & (1u << 26);
	r = cpuid(7, 0);
	cpu.fsgsbase = r.ebx & 1;
	cpu.smep = r.ebx & (1u << 7);
	cpu.smap = r.ebx & (1u << 20);
	cpu.umip = r.ecx & (1u << 2);
	cpu.pku = r.ecx & (1u << 3);
	cpu.la57 = r.ecx & (1u << 16);
	r = cpuid(0x80000001, 0);
	cpu.rdtscp = r.edx & (1u << 27);
}

/* ---- bookkeeping ---- */
enum kind { K_CPUID, K_RDMSR, K_WRMSR, K_IN, K_OUT, K_HC, K_HC_USER, K_USER, K_CR0, K_CR3, K_CR4,
	    K_CR8, K_MEM, K_DESC, K_SEG, K_INSN, K_SSTEP, K_STI, K_PREFIXED, K_MMIO, K_STRINGIO,
	    K_COUNT };
static const char *const kind_name[K_COUNT] = {
	"cpuid", "rdmsr", "wrmsr", "in", "out", "hypercall", "hypercall_user", "user", "cr0",
	"cr3", "cr4", "cr8", "mem", "desc", "seg", "insn", "singlestep", "sti", "prefixed", "mmio",
	"stringio",
};
static bool kind_on[K_COUNT];
static u64 kind_runs[K_COUNT], kind_faults[K_COUNT];
static u64 action_no;
static int findings;

#define finding(...) do { \
	if (++findings <= 40) \
		fail(__VA_ARGS__); \
	else \
		g_fails++; \
} while (0)

/* `want` is 0 (no fault) or the vector; -1 = any outcome is architectural. */
static void expect(enum kind k, const char *what, u64 arg, int got, int want)
{
	if (want >= 0 && got != want)
		finding("#%lu %s %s 0x%lx: got %s%d want %s%d (rip 0x%lx)", (unsigned long)action_no,
			kind_name[k], what, (unsigned long)arg, got ? "vector " : "no fault ",
			got ? got - 1 : 0, want ? "vector " : "no fault ", want ? want - 1 : 0,
			(unsigned long)fault_rip);
}
#define F(v) ((v) + 1)

/* ---- actions; the globals carry arguments into the run_action() callbacks ---- */
static u64 a0, a1, a2, a3, a4, r0, r1;

static void do_cpuid(void) { struct cpuid_regs r = cpuid((u32)a0, (u32)a1); r0 = r.ecx; r1 = r.edx; }
static void do_rdmsr(void)
{
	u32 lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"((u32)a0));
	r0 = ((u64)hi << 32) | lo;
}
static void do_wrmsr(void)
{
	__asm__ volatile("wrmsr" :: "c"((u32)a0), "a"((u32)a1), "d"((u32)(a1 >> 32)) : "memory");
}
static void do_in(void)
{
	u16 p = (u16)a0;
	u32 v = 0;
	switch (a1) {
	case 0: { u8 b; __asm__ volatile("inb %1, %0" : "=a"(b) : "d"(p)); v = b; break; }
	case 1: { u16 w; __asm__ volatile("inw %1, %0" : "=a"(w) : "d"(p)); v = w; break; }
	default: __asm__ volatile("inl %1, %0" : "=a"(v) : "d"(p)); break;
	}
	r0 = v;
}
static void do_out(void)
{
	u16 p = (u16)a0;
	switch (a1) {
	case 0: __asm__ volatile("outb %b0, %1" :: "a"(a2), "d"(p)); break;
	case 1: __asm__ volatile("outw %w0, %1" :: "a"(a2), "d"(p)); break;
	default: __asm__ volatile("outl %k0, %1" :: "a"(a2), "d"(p)); break;
	}
}
static void do_hc(void)
{
	u64 rax = a0, rbx = a1, rcx = a2, rdx = a3, rsi = a4;
	if (cpu.amd)
		__asm__ volatile("vmmcall" : "+a"(rax), "+b"(rbx), "+c"(rcx), "+d"(rdx), "+S"(rsi) :: "memory");
	else
		__asm__ volatile("vmcall" : "+a"(rax), "+b"(rbx), "+c"(rcx), "+d"(rdx), "+S"(rsi) :: "memory");
	r0 = rax;
}
/* To ring 3 at user snippet a0 with RAX = a1, RCX = a2; back through INT 0x80 (or a fault). */
static void do_user(void)
{
	__asm__ volatile("pushq %[ss]; pushq %[sp]; pushq $0x2; pushq %[cs]; pushq %[ip]; iretq"
			 :: [ss] "i"(SEL_UDATA | 3), [sp] "r"(USER_STACK), [cs] "i"(SEL_UCODE | 3),
			    [ip] "r"(a0), "a"(a1), "c"(a2), "b"(0), "d"(0), "S"(0) : "memory");
	__builtin_unreachable();
}
static void do_cr0(void)
{
	__asm__ volatile("mov %0, %%cr0; mov %1, %%cr0" :: "r"(a0), "r"(good_cr0) : "memory");
}
static void do_cr3(void)
{
	__asm__ volatile("mov %0, %%cr3; mov %1, %%cr3" :: "r"(a0), "r"(good_cr3) : "memory");
}
static void do_cr4(void)
{
	__asm__ volatile("mov %0, %%cr4; mov %1, %%cr4" :: "r"(a0), "r"(good_cr4) : "memory");
}
static void do_cr8(void)
{
	__asm__ volatile("mov %0, %%cr8; mov %%cr8, %%rax; mov %1, %%cr8" :: "r"(a0), "r"(0ul) : "rax", "memory");
}
static void do_load(void) { r0 = *(volatile u64 *)a0; }
static void do_store(void) { *(volatile u32 *)a0 = (u32)a1; }
static void do_lgdt(void)
{
	struct dptr p = { (u16)a1, a0 };
	__asm__ volatile("lgdt %0; lgdt %1" :: "m"(p), "m"(gdt_ptr) : "memory");
}
static void do_lidt(void)
{
	struct dptr p = { (u16)a1, a0 };
	__asm__ volatile("lidt %0; lidt %1" :: "m"(p), "m"(idt_ptr) : "memory");
}
static void do_sxdt(void)
{
	struct dptr g, i;
	u16 l, t;
	__asm__ volatile("sgdt %0; sidt %1; sldt %2; str %3" : "=m"(g), "=m"(i), "=r"(l), "=r"(t));
	r0 = g.base ^ i.base ^ l ^ t;
}
static void do_lldt(void) { __asm__ volatile("lldt %w0; xor %%eax, %%eax; lldt %%ax" :: "r"(a0) : "rax"); }
static void do_ltr(void) { __asm__ volatile("ltr %w0" :: "r"(a0)); }
static void do_mov_ds(void) { __asm__ volatile("movl %k0, %%ds; movl $0x10, %%eax; movl %%eax, %%ds" :: "r"(a0) : "rax"); }
static void do_mov_es(void) { __asm__ volatile("movl %k0, %%es; movl $0x10, %%eax; movl %%eax, %%es" :: "r"(a0) : "rax"); }
static void do_mov_fs(void) { __asm__ volatile("movl %k0, %%fs; movl $0x10, %%eax; movl %%eax, %%fs" :: "r"(a0) : "rax"); }
static void do_mov_ss(void) { __asm__ volatile("movl %k0, %%ss; movl $0x10, %%eax; movl %%eax, %%ss" :: "r"(a0) : "rax"); }

static void i_int3(void) { __asm__ volatile("int3"); }
static void i_ud2(void) { __asm__ volatile("ud2"); }
static void i_invd(void) { __asm__ volatile("invd" ::: "memory"); }
static void i_wbinvd(void) { __asm__ volatile("wbinvd" ::: "memory"); }
static void i_xsetbv(void) { __asm__ volatile("xsetbv" :: "a"((u32)a0), "d"(0), "c"((u32)a1)); }
static void i_xgetbv(void) { u32 lo, hi; __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0)); r0 = lo; }
static void i_monitor(void) { __asm__ volatile("monitor" :: "a"(SCRATCH), "c"(0), "d"(0)); }
static void i_mwait(void) { __asm__ volatile("mwait" :: "a"(0), "c"(0)); }
static void i_rdtscp(void) { u32 lo, hi, aux; __asm__ volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux)); r0 = aux; }
static void i_rdpmc(void) { u32 lo, hi; __asm__ volatile("rdpmc" : "=a"(lo), "=d"(hi) : "c"((u32)a0)); }
static void i_vmxon(void) { u64 m = 0; __asm__ volatile("vmxon %0" :: "m"(m)); }
static void i_vmrun(void) { __asm__ volatile("vmrun" :: "a"(SCRATCH) : "memory"); }
static void i_vmload(void) { __asm__ volatile("vmload" :: "a"(SCRATCH) : "memory"); }
static void i_stgi(void) { __asm__ volatile("stgi"); }
static void i_clgi(void) { __asm__ volatile("clgi"); }
static void i_invlpga(void) { __asm__ volatile("invlpga" :: "a"(0), "c"(0)); }
static void i_invlpg(void) { __asm__ volatile("invlpg (%0)" :: "r"(a0) : "memory"); }
static void i_sti(void) { __asm__ volatile("sti; nop; nop; cli"); }
static void i_stringio(void) { __asm__ volatile("rep insb" :: "D"(SCRATCH), "c"(4), "d"(0x80) : "memory"); }

/* ---- kinds ---- */

static const u32 msr_list[] = {
	0x10, 0x1b, 0x3a, 0x8b, 0xfe, 0x174, 0x175, 0x176, 0x179, 0x1a0, 0x1d9, 0x200, 0x277, 0x2ff,
	0x480, 0x48b, 0x6e0, 0x802, 0x830, 0xC0000080, 0xC0000081, 0xC0000082, 0xC0000083,
	0xC0000084, 0xC0000100, 0xC0000101, 0xC0000102, 0xC0000103, 0xC0010114, 0xC0010117,
	0xC0010015, 0x40000000,
};
#define NMSR (sizeof msr_list / sizeof msr_list[0])

static u32 pick_msr(void)
{
	switch (rndn(4)) {
	case 0: return rndn(0x2000);
	case 1: return 0xC0000000u + rndn(0x2000);
	case 2: return (u32)rnd();
	default: return msr_list[rndn(NMSR)];
	}
}

/* MSRs a write could break the guest with are put back afterwards. */
static void restore_msrs(void)
{
	static const u32 zero[] = { 0x174, 0x175, 0x176, 0xC0000081, 0xC0000082, 0xC0000083,
				    0xC0000084, 0xC0000100, 0xC0000101, 0xC0000102 };
	for (unsigned i = 0; i < sizeof zero / sizeof zero[0]; i++) {
		a0 = zero[i];
		a1 = 0;
		run_action(do_wrmsr);
	}
	a0 = 0xC0000080;
	a1 = good_efer;
	run_action(do_wrmsr);
	a0 = 0x277;
	a1 = good_pat;
	run_action(do_wrmsr);
}

static int act(void (*fn)(void)) { return run_action(fn); }

static void k_cpuid(void)
{
	static const u32 leaves[] = { 0, 1, 2, 4, 5, 6, 7, 0xA, 0xB, 0xD, 0x14, 0x1F, 0x40000000,
				      0x40000001, 0x40000100, 0x80000000, 0x80000001, 0x80000007,
				      0x80000008, 0x8000000A, 0x8000001F, 0xC0000000 };
	a0 = rndn(2) ? leaves[rndn(sizeof leaves / 4)] : (u32)rnd();
	a1 = rndn(2) ? rndn(4) : (u32)rnd();
	int f = act(do_cpuid);
	expect(K_CPUID, "leaf", a0, f, 0);
	if (!f && a0 == 1 && !!(r0 & (1u << 27)) != !!(read_cr4() & (1ul << 18)))
		finding("#%lu cpuid.1:ecx.osxsave=%d but cr4.osxsave=%d", (unsigned long)action_no,
			!!(r0 & (1u << 27)), !!(read_cr4() & (1ul << 18)));
}

static void k_rdmsr(void)
{
	a0 = pick_msr();
	expect(K_RDMSR, "msr", a0, act(do_rdmsr), -1);
}

static void k_wrmsr(void)
{
	a0 = pick_msr();
	/* Never SVME or LME changes that would be legal; garbage otherwise. */
	a1 = rndn(2) ? rnd() : rndn(2) ? 0 : (rnd() & 0xFF);
	if (a0 == 0xC0000080)
		a1 = (a1 & ~0x500ul) | (good_efer & 0x500);
	u64 msr = a0;
	int f = act(do_wrmsr);
	restore_msrs();
	expect(K_WRMSR, "msr", msr, f, -1);
}

static u16 pick_port(void)
{
	static const u16 ports[] = { 0x20, 0x21, 0x40, 0x43, 0x60, 0x61, 0x64, 0x70, 0x71, 0x80,
				     0x92, 0xa0, 0xa1, 0xcf8, 0xcfc, 0x3fc, 0x3fd, 0x3fe, 0x3ff,
				     0x3f8, 0x3f9, 0x3fa, 0x3fb, 0x604, 0xb004, 0x8900, 0x510 };
	return rndn(2) ? ports[rndn(sizeof ports / 2)] : (u16)rnd();
}

static void k_in(void)
{
	a0 = pick_port();
	a1 = rndn(3);
	expect(K_IN, "port", a0, act(do_in), 0);
}

/* Not the ports that end or restart the machine (the debug exit, the ACPI PM control block with
 * its S5, the 0xCF9 reset), not the 8259s (a random ICW2 and unmask gives real interrupts at
 * random vectors, as on hardware, which the other kinds do not expect), and not the UART's
 * data/line registers (the console; the UART's scratch register is fair game). */
static void k_out(void)
{
	do
		a0 = pick_port();
	while ((a0 >= 0xf1 && a0 <= 0xf7) || (a0 >= 0x3f5 && a0 <= 0x3fe) ||
	       (a0 >= 0x5fd && a0 <= 0x60b) || (a0 >= 0xcf6 && a0 <= 0xcf9) ||
	       (a0 >= 0x1d && a0 <= 0x21) || (a0 >= 0x9d && a0 <= 0xa1));
	a1 = rndn(3);
	a2 = rnd();
	if (a0 == 0x3ff || (a0 >= 0x3f8 && a0 <= 0x3fb)) {
		a0 = 0x3ff;
		a1 = 0;
	}
	expect(K_OUT, "port", a0, act(do_out), 0);
}

#define HC_ENOSYS   ((u64)-1000)
static void k_hc(void)
{
	a0 = rndn(4) ? (rndn(2) ? 0 : rndn(16)) : rnd();
	a1 = rnd(); a2 = rnd(); a3 = rnd(); a4 = rnd();
	int f = act(do_hc);
	expect(K_HC, "nr", a0, f, 0);
	u64 want = a0 == 0 ? KEEL_PING_REPLY : HC_ENOSYS;
	if (!f && r0 != want)
		finding("#%lu hypercall 0x%lx returned 0x%lx, want 0x%lx", (unsigned long)action_no,
			(unsigned long)a0, (unsigned long)r0, (unsigned long)want);
}

/* A hypercall from CPL 3 must do nothing and return an error (KEEL_HC_ENOSYS). */
static void k_hc_user(void)
{
	a0 = USER_BASE + (u64)((cpu.amd ? u_vmmcall : u_vmcall) - u_begin);
	a1 = rndn(2) ? 0 : rnd();
	int f = act(do_user);
	if (f != F(VEC_BACK))
		finding("#%lu user hypercall 0x%lx: fault %d", (unsigned long)action_no,
			(unsigned long)a1, f - 1);
	else if (back_rax != HC_ENOSYS)
		finding("#%lu user hypercall 0x%lx returned 0x%lx, want -1000",
			(unsigned long)action_no, (unsigned long)a1, (unsigned long)back_rax);
}

/* Ring 3: CPUID works; privileged instructions and I/O (IOPL 0, no bitmap) #GP first. */
static void k_user(void)
{
	static const struct { char *at; int want; } ops[] = {
		{ u_cpuid, VEC_BACK }, { u_rdmsr, V_GP }, { u_in, V_GP }, { u_out, V_GP },
		{ u_hlt, V_GP }, { u_cli, V_GP }, { u_movcr, V_GP }, { u_wbinvd, V_GP },
	};
	unsigned i = rndn(sizeof ops / sizeof ops[0]);
	a0 = USER_BASE + (u64)(ops[i].at - u_begin);
	a1 = rndn(3) ? 1 : rnd();
	a2 = 0x1a0;
	expect(K_USER, "op", i, act(do_user), F(ops[i].want));
}

/* What MOV to CR0 must do in 64-bit mode (SDM MOV CRn, APM MOV CRn). */
static void k_cr0(void)
{
	static const u64 bits[] = { 1ul << 0, 1ul << 1, 1ul << 2, 1ul << 3, 1ul << 5, 1ul << 16,
				    1ul << 18, 1ul << 29, 1ul << 30, 1ul << 31, 1ul << 6, 1ul << 32,
				    1ul << 63 };
	a0 = good_cr0;
	for (u32 n = 1 + rndn(3); n; n--)
		a0 ^= bits[rndn(sizeof bits / 8)];
	int want = 0;
	if ((a0 >> 32) || ((a0 & (1ul << 29)) && !(a0 & (1ul << 30))) || !(a0 & (1ul << 31)) ||
	    !(a0 & 1))
		want = F(V_GP);         /* reserved, NW without CD, PG off in 64-bit mode, PE off */
	else if (a0 & (1ul << 6))
		want = -1;              /* reserved bits 15:6 are not checked by every CPU */
	expect(K_CR0, "value", a0, act(do_cr0), want);
}

static void k_cr3(void)
{
	a0 = good_cr3 | (rndn(2) ? (1ul << (52 + rndn(11))) : 0);
	expect(K_CR3, "value", a0, act(do_cr3), a0 == good_cr3 ? 0 : F(V_GP));
}

/* Each CR4 bit is settable iff CPUID says so (PAE can't go in long mode, nor LA57). */
static void k_cr4(void)
{
	unsigned bit = rndn(2) ? rndn(32) : 32 + rndn(32);
	a0 = good_cr4 ^ (1ul << bit);
	bool ok;
	switch (bit) {
	case 0: case 1: case 2: case 3: case 4: case 6: case 7: case 8: case 9: case 10:
		ok = true; break;
	case 5: ok = false; break;                      /* PAE off in long mode */
	case 11: ok = cpu.umip; break;
	case 12: ok = false; break;                     /* LA57 can't change in long mode */
	case 13: ok = cpu.vmx; break;
	case 14: ok = cpu.smx; break;
	case 16: ok = cpu.fsgsbase; break;
	case 17: ok = cpu.pcid; break;
	case 18: ok = cpu.xsave; break;
	case 20: ok = cpu.smep; break;
	case 21: ok = cpu.smap; break;
	case 22: ok = cpu.pku; break;
	default: ok = false; break;
	}
	expect(K_CR4, "value", a0, act(do_cr4), ok ? 0 : F(V_GP));
}

static void k_cr8(void)
{
	a0 = rndn(2) ? rndn(16) : rnd();
	expect(K_CR8, "value", a0, act(do_cr8), a0 < 16 ? 0 : F(V_GP));
}

static void k_mem(void)
{
	int want;
	switch (rndn(4)) {
	case 0:         /* guest RAM that holds nothing of ours */
		a0 = SCRATCH + (rnd() & 0x1FFFF8);
		want = 0;
		break;
	case 1:         /* anywhere below the image: the loader's info and low memory */
		a0 = rnd() & 0x3FFFF8;
		want = 0;
		if (rndn(2)) {
			want = -1;
			a0 = rnd() & 0xFFFFF8;          /* stores only to scratch, loads anywhere */
		}
		break;
	case 2:         /* non-canonical */
		a0 = (rnd() | (1ul << 62)) & ~(1ul << 63) & ~7ul;
		want = F(V_GP);
		break;
	default:        /* canonical, beyond the guest's 4 GiB identity map */
		a0 = (0x100000000ul + (rnd() & 0x7FFFFFFFF8ul)) & 0x7FFFFFFFFFF8ul;
		want = F(V_PF);
		break;
	}
	bool store = rndn(2) && (want != 0 || a0 >= SCRATCH);
	if (store && want < 0)
		store = false;
	a1 = rnd();
	int f = act(store ? do_store : do_load);
	expect(K_MEM, store ? "store" : "load", a0, f, want);
}

static void k_desc(void)
{
	switch (rndn(5)) {
	case 0:
		a0 = rnd() & ~(rndn(2) ? 0ul : 0xFFFF000000000000ul);
		a1 = rnd();
		expect(K_DESC, "lgdt", a0, act(do_lgdt), -1);
		break;
	case 1:
		a0 = rnd() & ~(rndn(2) ? 0ul : 0xFFFF000000000000ul);
		a1 = rnd();
		expect(K_DESC, "lidt", a0, act(do_lidt), -1);
		break;
	case 2:
		expect(K_DESC, "sxdt", 0, act(do_sxdt), 0);
		break;
	case 3:
		a0 = rndn(2) ? rndn(0x40) : (u16)rnd();
		expect(K_DESC, "lldt", a0, act(do_lldt), (a0 & ~3ul) == 0 ? 0 : -1);
		break;
	default:
		/* Not a null selector: QEMU's TCG loads it (a CPU gives #GP) and then aborts the
		 * whole emulator ("invalid tss") at the next ring change (see SKIP line). */
		do
			a0 = rndn(2) ? rndn(0x40) : (u16)rnd();
		while ((a0 & ~3ul) == 0);
		expect(K_DESC, "ltr", a0, act(do_ltr), -1);
		break;
	}
}

static void k_seg(void)
{
	static void (*const fns[])(void) = { do_mov_ds, do_mov_es, do_mov_fs, do_mov_ss };
	a0 = rndn(2) ? rndn(0x40) : (u16)rnd();
	expect(K_SEG, "selector", a0, act(fns[rndn(4)]), -1);
}

static void k_insn(void)
{
	unsigned i = rndn(17);
	a0 = rnd();
	a1 = rndn(2);
	int want = -1, f;
	bool sv = !cpu.amd;
	switch (i) {
	case 0: f = act(i_int3); want = F(V_BP); break;
	case 1: f = act(i_ud2); want = F(V_UD); break;
	case 2: f = act(i_invd); want = 0; break;
	case 3: f = act(i_wbinvd); want = 0; break;
	case 4: f = act(i_xsetbv);
		want = !cpu.xsave || !(read_cr4() & (1ul << 18)) ? F(V_UD) : -1; break;
	case 5: f = act(i_xgetbv);
		want = !cpu.xsave || !(read_cr4() & (1ul << 18)) ? F(V_UD) : 0; break;
	case 6: f = act(i_monitor); want = cpu.monitor ? -1 : F(V_UD); break;
	case 7: f = act(i_mwait); want = cpu.monitor ? -1 : F(V_UD); break;
	case 8: f = act(i_rdtscp); want = cpu.rdtscp ? 0 : F(V_UD); break;
	case 9: f = act(i_rdpmc); break;
	case 10: f = act(i_vmxon); want = F(V_UD); break;
	case 11: f = act(i_vmrun); want = F(V_UD); break;
	case 12: f = act(i_vmload); want = F(V_UD); break;
	case 13: f = act(i_stgi); want = F(V_UD); break;
	case 14: f = act(sv ? i_clgi : i_invlpga); want = F(V_UD); break;
	case 15: a0 = SCRATCH; f = act(i_invlpg); want = 0; break;
	default: f = act(i_invlpga); want = F(V_UD); break;
	}
	expect(K_INSN, "insn", i, f, want);
}

/* The #DB must come right after an instruction Keel completed, with DR6.BS. */
static void k_sstep(void)
{
	static void (*const fns[])(void) = { ss_cpuid, ss_rdmsr, ss_wrmsr, ss_in, ss_out, 0,
					     ss_movss_cpuid, ss_movss_rdmsr, ss_movss_badmsr };
	static const char *const names[] = { "cpuid", "rdmsr", "wrmsr", "in", "out", "hypercall",
					     "mov ss; cpuid", "mov ss; rdmsr", "mov ss; bad wrmsr" };
	unsigned i = rndn(9);
	int ss_count_before = ss_count;
	void (*fn)(void) = fns[i] ? fns[i] : cpu.amd ? ss_vmmcall : ss_vmcall;
	ss_armed = 1;
	ss_rip = 0;
	ss_dr6 = 0;
	int f = run_action(fn);
	ss_armed = 0;
	if (i == 8) {           /* WRMSR to FEATURE_CONTROL: #GP, and the #GP clears TF */
		if (f != F(V_GP) || ss_count_before != ss_count)
			finding("#%lu mov ss; faulting wrmsr under TF: fault %d, %d #DB",
				(unsigned long)action_no, f - 1, ss_count - ss_count_before);
		return;
	}
	if (f)
		finding("#%lu single-step over %s: fault %d at 0x%lx", (unsigned long)action_no,
			names[i], f - 1, (unsigned long)fault_rip);
	else if (ss_rip != ss_expect || !(ss_dr6 & DR6_BS))
		finding("#%lu single-step over %s: #DB at 0x%lx dr6 0x%lx, want 0x%lx with BS",
			(unsigned long)action_no, names[i], (unsigned long)ss_rip,
			(unsigned long)ss_dr6, (unsigned long)ss_expect);
}

static void k_prefixed(void)
{
	static void (*const fns[])(void) = { px_cpuid, px_rdmsr, 0 };
	unsigned i = rndn(3);
	void (*fn)(void) = fns[i] ? fns[i] : cpu.amd ? px_vmmcall : px_vmcall;
	px_done = 0;
	int f = run_action(fn);
	if (f || px_done != 1)
		finding("#%lu prefixed %s: fault %d at 0x%lx, went on: %u", (unsigned long)action_no,
			i == 0 ? "ds cpuid" : i == 1 ? "ds rdmsr" : "ds ds vm(m)call", f - 1,
			(unsigned long)fault_rip, px_done);
}

static void k_sti(void) { expect(K_STI, "sti", 0, act(i_sti), 0); }

/* Gaps between guest RAM and 4 GiB: MMIO holes (all-ones, writes dropped). Not the IOAPIC and
 * local APIC pages: random stores there raise real interrupts, as on hardware, which the other
 * kinds do not expect. */
static void k_mmio(void)
{
	do {
		a0 = (0x1000000ul + (rnd() & 0xFFFFFFF8ul)) & 0xFFFFFFF8ul;
		if (a0 < 0x1000000ul)
			a0 += 0x1000000ul;
	} while (a0 >= 0xFEC00000ul && a0 < 0xFF000000ul);
	a1 = rnd();
	expect(K_MMIO, "load", a0, act(rndn(2) ? do_load : do_store), -1);
}

static void k_stringio(void) { expect(K_STRINGIO, "insb", 0, act(i_stringio), -1); }

static void (*const kind_fn[K_COUNT])(void) = {
	k_cpuid, k_rdmsr, k_wrmsr, k_in, k_out, k_hc, k_hc_user, k_user, k_cr0, k_cr3, k_cr4, k_cr8,
	k_mem, k_desc, k_seg, k_insn, k_sstep, k_sti, k_prefixed, k_mmio, k_stringio,
};

void guest_main(void)
{
	boot_checks(0);
	u64 n = cmd_num("actions", 20000), seed = cmd_num("seed", 1);
	rng = seed * 0x9E3779B97F4A7C15ull + 0x1234567ull;
	if (!rng)
		rng = 1;
	cpu_init();
	rdmsr_safe(0xC0000080, &good_efer);
	rdmsr_safe(0x277, &good_pat);
	tables_init();          /* from here on, only run_action() catches faults */
	good_cr0 = read_cr0();
	good_cr4 = read_cr4();
	__asm__ volatile("mov %%cr3, %0" : "=r"(good_cr3));
	for (int k = 0; k < K_COUNT; k++)
		kind_on[k] = true;
	kind_on[K_MMIO] = cmd_has("mmio");
	kind_on[K_STRINGIO] = cmd_has("stringio");
	if (cmd_has("skip_prefixed"))
		kind_on[K_PREFIXED] = false;
	const char *only = cmd_get("only");     /* only=<kind>: that kind alone */
	for (int k = 0; only && k < K_COUNT; k++) {
		size_t n = strlen(kind_name[k]);
		kind_on[k] = !memcmp(only, kind_name[k], n) && (only[n] == ' ' || !only[n]);
	}
	int any = 0;
	for (int k = 0; k < K_COUNT; k++)
		any |= kind_on[k];
	if (!check("some action kind is on", any))
		finish();
	for (int k = 0; k < K_COUNT; k++)
		if (!kind_on[k])
			printf("SKIP kind %s%s\n", kind_name[k],
			       k == K_PREFIXED ? " (issue 13 item 1: prefixed instructions on SVM without NRIPS)" :
			       " (platform issue: MMIO holes and string I/O)");
	printf("SKIP ltr of a null selector (QEMU TCG loads it, then aborts with 'invalid tss')\n");
	printf("hostile: seed %lu, %lu actions, cpu %s\n", (unsigned long)seed, (unsigned long)n,
	       cpu.amd ? "amd" : "intel");
	bool trace = cmd_has("trace");
	u64 step = n / 10 ? n / 10 : 1;
	for (action_no = 1; action_no <= n; action_no++) {
		enum kind k;
		do
			k = (enum kind)rndn(K_COUNT);
		while (!kind_on[k]);
		kind_runs[k]++;
		hs_fault_vec = 0;
		u64 saved = rng;
		if (trace) {    /* the kind and its first random number, before it runs */
			printf("act %lu %s %lx\n", (unsigned long)action_no, kind_name[k], (unsigned long)rnd());
			rng = saved;
		}
		kind_fn[k]();
		if (hs_fault_vec)
			kind_faults[k]++;
		if (action_no % step == 0)
			printf("hostile: %lu actions, %d finding(s)\n", (unsigned long)action_no, findings);
	}
	for (int k = 0; k < K_COUNT; k++)
		if (kind_on[k])
			printf("hostile: kind %s runs %lu faults %lu\n", kind_name[k],
			       (unsigned long)kind_runs[k], (unsigned long)kind_faults[k]);
	printf("hostile: done, %lu actions, %d finding(s)\n", (unsigned long)n, findings);
	finish();
}
