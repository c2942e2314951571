/* apic_regs: local APIC register behaviour on vCPU 0 (SDM Vol. 3A ch. 11).
 *  - state at entry: IA32_APIC_BASE, ID, version; under Keel also the power-up/reset value of
 *    every register (on a bare machine the firmware ran before the guest and changed some)
 *  - xAPIC: reserved bits, read-only registers ignore writes, TPR -> PPR, ESR latching of a
 *    "send illegal vector" error, self-IPI delivery with IRR/ISR/PPR/EOI, TPR blocking,
 *    software disable (SVR) masking every LVT and keeping the masks, re-enable
 *  - IA32_APIC_BASE transitions (SDM 11.12.5): reserved bits, EXTD without EN, disable/enable,
 *    CPUID.1:EDX[9], xAPIC -> x2APIC, x2APIC -> xAPIC (#GP), x2APIC -> disabled -> xAPIC
 *  - x2APIC (when CPUID.1:ECX[21]): every register through its MSR, #GP on reserved MSRs,
 *    reads of write-only and writes of read-only ones, reserved bits; 64-bit ICR, SELF IPI,
 *    LDR derived from the x2APIC ID, x2APIC MSRs #GP in xAPIC mode.
 * Checks the SDM leaves undefined (and real CPUs / emulators answer differently) run only under
 * Keel (CPUID 0x40000000 = "KeelKeelKeel"), which documents its choice (doc: GUEST7 contract). */
#include "apic.h"

const char guest_name[] = GUEST_NAME;

#define VEC_SPURIOUS 0xFF
#define VEC_A        0x45 /* priority class 4 */
#define VEC_B        0x46
#define VEC_SELF     0x47
#define GP           (13 + 1) /* rdmsr_safe/wrmsr_safe return vector + 1 */
#define CPUID1_EDX_APIC (1u << 9)

static int keel;
static u32 xapic_ver;
static volatile u32 seen_vec, seen_isr, seen_ppr, seen_irr;

static void on_spurious(int vec) { (void)vec; } /* no EOI for the spurious vector */

static void on_ipi(int vec)
{
	seen_vec = (u32)vec;
	seen_isr = (u32)apic_vec_bit(APIC_ISR, (u8)vec);
	seen_irr = (u32)apic_vec_bit(APIC_IRR, (u8)vec);
	seen_ppr = apic_read(APIC_PPR);
	apic_eoi();
}

/* ------------------------------------------------------------------ helpers */
/* A check of behaviour the SDM defines but a reference emulator lacks (QEMU 7.2 TCG, Bochs 2.7:
 * see README). Strict under Keel; on a bare machine a miss prints `gap <what>` uncounted. */
static int sdm_check(const char *what, int cond)
{
	if (cond || keel)
		return check(what, cond);
	printf("gap %s (SDM behaviour this machine lacks; strict under Keel)\n", what);
	return 0;
}

static int expect_gp_wr(u32 msr, u64 val, const char *what)
{
	int f = wrmsr_safe(msr, val);
	if (f == GP)
		ok("wrmsr 0x%x <- 0x%llx %s -> #GP", msr, (unsigned long long)val, what);
	else if (f)
		fail("wrmsr 0x%x <- 0x%llx %s: %s, want #GP", msr, (unsigned long long)val, what,
		     exc_name(f - 1));
	else
		fail("wrmsr 0x%x <- 0x%llx %s: no fault, want #GP", msr, (unsigned long long)val, what);
	return f == GP;
}

/* IA32_APIC_BASE write that must #GP; on a bare emulator that accepts it: a gap, and the old
 * value is put back (through disabled if need be) so that later checks still mean something. */
static void base_gp(u64 val, const char *what)
{
	u64 old = rdmsr(MSR_APIC_BASE);
	if (keel) {
		expect_gp_wr(MSR_APIC_BASE, val, what);
		return;
	}
	int f = wrmsr_safe(MSR_APIC_BASE, val);
	if (f == GP) {
		ok("wrmsr IA32_APIC_BASE <- 0x%llx %s -> #GP", (unsigned long long)val, what);
		return;
	}
	printf("gap wrmsr IA32_APIC_BASE <- 0x%llx %s: no #GP (strict under Keel)\n",
	       (unsigned long long)val, what);
	if (wrmsr_safe(MSR_APIC_BASE, old) || rdmsr(MSR_APIC_BASE) != old) {
		wrmsr_safe(MSR_APIC_BASE, old & ~(u64)(APIC_BASE_EN | APIC_BASE_EXTD));
		if (old & APIC_BASE_EN)
			wrmsr_safe(MSR_APIC_BASE, old & ~(u64)APIC_BASE_EXTD);
		if (old & APIC_BASE_EXTD)
			wrmsr_safe(MSR_APIC_BASE, old);
	}
	printf("note: IA32_APIC_BASE restored to 0x%llx\n", (unsigned long long)rdmsr(MSR_APIC_BASE));
}

static int expect_ok_wr(u32 msr, u64 val, const char *what)
{
	int f = wrmsr_safe(msr, val);
	if (f)
		fail("wrmsr 0x%x <- 0x%llx %s: %s", msr, (unsigned long long)val, what, exc_name(f - 1));
	else
		ok("wrmsr 0x%x <- 0x%llx %s", msr, (unsigned long long)val, what);
	return !f;
}

/* expect_gp_wr for a #GP a reference emulator misses (see sdm_check) */
static void gp_wr_sdm(u32 msr, u64 val, const char *what)
{
	int f = wrmsr_safe(msr, val);
	const char *buf = what;
	if (!keel && f != GP) {
		printf("gap wrmsr 0x%x <- 0x%llx %s: no #GP (strict under Keel)\n", msr,
		       (unsigned long long)val, buf);
		return;
	}
	if (f == GP)
		ok("wrmsr 0x%x <- 0x%llx %s -> #GP", msr, (unsigned long long)val, buf);
	else
		fail("wrmsr 0x%x <- 0x%llx %s: %s, want #GP", msr, (unsigned long long)val, buf,
		     f ? exc_name(f - 1) : "no fault");
}

static void expect_gp_rd(u32 msr, const char *what)
{
	u64 v;
	int f = rdmsr_safe(msr, &v);
	if (f == GP)
		ok("rdmsr 0x%x %s -> #GP", msr, what);
	else if (f)
		fail("rdmsr 0x%x %s: %s, want #GP", msr, what, exc_name(f - 1));
	else
		fail("rdmsr 0x%x %s: read 0x%llx, want #GP", msr, what, (unsigned long long)v);
}

static void expect_rd(u32 msr, u64 want, const char *what)
{
	u64 v;
	int f = rdmsr_safe(msr, &v);
	if (f)
		fail("rdmsr 0x%x %s: %s", msr, what, exc_name(f - 1));
	else
		check_eq(what, v, want);
}

/* ------------------------------------------------------------------ reset state */
static const struct { u32 off; u32 val; const char *name; } reset_regs[] = {
	{ APIC_TPR, 0, "TPR" }, { APIC_APR, 0, "APR" }, { APIC_PPR, 0, "PPR" },
	{ APIC_LDR, 0, "LDR" }, { APIC_DFR, 0xFFFFFFFFu, "DFR" }, { APIC_SVR, 0xFF, "SVR" },
	{ APIC_ESR, 0, "ESR" }, { APIC_ICR_LO, 0, "ICR low" }, { APIC_ICR_HI, 0, "ICR high" },
	{ APIC_LVT_CMCI, APIC_LVT_MASKED, "LVT CMCI" },
	{ APIC_LVT_TIMER, APIC_LVT_MASKED, "LVT timer" },
	{ APIC_LVT_THERM, APIC_LVT_MASKED, "LVT thermal" },
	{ APIC_LVT_PMC, APIC_LVT_MASKED, "LVT perf" },
	{ APIC_LVT_LINT0, APIC_LVT_MASKED, "LVT LINT0" },
	{ APIC_LVT_LINT1, APIC_LVT_MASKED, "LVT LINT1" },
	{ APIC_LVT_ERROR, APIC_LVT_MASKED, "LVT error" }, { APIC_TMICT, 0, "timer initial count" },
	{ APIC_TMCCT, 0, "timer current count" }, { APIC_TDCR, 0, "timer divide config" },
};

static void entry_state(void)
{
	u64 base = rdmsr(MSR_APIC_BASE);
	check_eq("entry: IA32_APIC_BASE = 0xFEE00000 | EN | BSP", base, 0xFEE00900u);
	check_eq("entry: xAPIC ID register = 0 (vCPU 0)", xapic_read(APIC_ID), 0);
	check_eq("entry: CPUID.1:EBX[31:24] initial APIC ID = 0", cpuid(1, 0).ebx >> 24, 0);
	check("entry: CPUID.1:EDX[9] APIC present", cpuid(1, 0).edx & CPUID1_EDX_APIC);
	u32 ver = xapic_read(APIC_VERSION);
	xapic_ver = ver;
	printf("version register 0x%08x\n", ver);
	check("version: integrated APIC (0x10..0x15)", (ver & 0xFF) >= 0x10 && (ver & 0xFF) <= 0x15);
	check("version: max LVT entry >= 5", ((ver >> 16) & 0xFF) >= 5);
	if (!keel) {
		printf("note: bare machine: firmware ran first, reset values not checked\n");
		return;
	}
	check_eq("reset: version (0x14, max LVT 6, EOI-broadcast suppression)", ver, 0x01060014u);
	for (unsigned i = 0; i < sizeof(reset_regs) / sizeof(reset_regs[0]); i++) {
		u32 v = xapic_read(reset_regs[i].off);
		if (v == reset_regs[i].val)
			ok("reset: %s = 0x%x", reset_regs[i].name, v);
		else
			fail("reset: %s: got 0x%x want 0x%x", reset_regs[i].name, v, reset_regs[i].val);
	}
	for (int i = 0; i < 8; i++) {
		if (xapic_read(APIC_ISR + 0x10u * i) | xapic_read(APIC_TMR + 0x10u * i) |
		    xapic_read(APIC_IRR + 0x10u * i))
			fail("reset: ISR/TMR/IRR word %d not zero", i);
	}
	ok("reset: ISR, TMR, IRR zero");
}

/* ------------------------------------------------------------------ xAPIC registers */
static void xapic_writable(void)
{
	xapic_write(APIC_TPR, 0xFFFFFFFFu);
	check_eq("TPR: bits 31:8 reserved, 7:0 writable", xapic_read(APIC_TPR), 0xFF);
	xapic_write(APIC_TPR, 0x25);
	check_eq("TPR 0x25 reads back", xapic_read(APIC_TPR), 0x25);
	check_eq("PPR follows TPR (nothing in service)", xapic_read(APIC_PPR), 0x25);
	xapic_write(APIC_TPR, 0);
	check_eq("PPR 0 with TPR 0", xapic_read(APIC_PPR), 0);

	u32 svr_rw = APIC_SVR_ENABLE | 0xFF;
	xapic_write(APIC_SVR, 0xFFFFFFFFu);
	u32 svr = xapic_read(APIC_SVR);
	/* bit 9 (focus checking) is model specific; bit 12 exists iff VERSION[24] */
	check_eq("SVR all-ones: vector and enable set, bits 31:13, 11:10 read 0",
		 svr & ~(1u << 9 | APIC_SVR_NO_EOI_BCAST), svr_rw);
	check_eq("SVR bit 12 writable iff VERSION[24]", (svr >> 12) & 1,
		 (xapic_read(APIC_VERSION) >> 24) & 1);
	xapic_write(APIC_SVR, APIC_SVR_ENABLE | VEC_SPURIOUS);
	check_eq("SVR = enable | 0xFF", xapic_read(APIC_SVR), APIC_SVR_ENABLE | VEC_SPURIOUS);

	/* LVT: vector and mask round-trip everywhere */
	xapic_write(APIC_LVT_TIMER, APIC_LVT_MASKED | 0x5A);
	check_eq("LVT timer masked | 0x5A", xapic_read(APIC_LVT_TIMER), APIC_LVT_MASKED | 0x5A);
	xapic_write(APIC_LVT_TIMER, APIC_LVT_MASKED | APIC_TIMER_PERIODIC | 0x5B);
	check_eq("LVT timer periodic mode bit", xapic_read(APIC_LVT_TIMER),
		 APIC_LVT_MASKED | APIC_TIMER_PERIODIC | 0x5B);
	xapic_write(APIC_LVT_ERROR, APIC_LVT_MASKED | 0x5C);
	check_eq("LVT error masked | 0x5C", xapic_read(APIC_LVT_ERROR), APIC_LVT_MASKED | 0x5C);
	xapic_write(APIC_TDCR, 0xB);
	check_eq("TDCR 0xB (divide by 1)", xapic_read(APIC_TDCR), 0xB);
	xapic_write(APIC_TDCR, 0);
	xapic_write(APIC_DFR, 0x0FFFFFFFu);
	check_eq("DFR cluster model (bits 27:0 read 1)", xapic_read(APIC_DFR), 0x0FFFFFFFu);
	xapic_write(APIC_DFR, 0xFFFFFFFFu);
	check_eq("DFR flat model", xapic_read(APIC_DFR), 0xFFFFFFFFu);
	xapic_write(APIC_LDR, 0x5A000000u);
	check_eq("LDR bits 31:24 writable", xapic_read(APIC_LDR), 0x5A000000u);
	xapic_write(APIC_LDR, 0);
	xapic_write(APIC_ICR_HI, 0x0F000000u);
	check_eq("ICR high destination field", xapic_read(APIC_ICR_HI), 0x0F000000u);
	xapic_write(APIC_ICR_HI, 0);

	if (!keel)
		return;
	/* Reserved LVT/ICR/TDCR bits: the SDM says "reserved", not what they read; QEMU keeps
	 * them, Bochs drops them. Keel reads them as 0. */
	xapic_write(APIC_LVT_TIMER, 0xFFF9FFFFu);
	check_eq("keel: LVT timer reserved bits read 0", xapic_read(APIC_LVT_TIMER), 0x000100FFu);
	xapic_write(APIC_LVT_LINT0, 0xFFFFFFFFu);
	check_eq("keel: LVT LINT0 reserved bits read 0 (remote IRR, status RO)",
		 xapic_read(APIC_LVT_LINT0), 0x0001A7FFu);
	xapic_write(APIC_LVT_ERROR, 0xFFFFFFFFu);
	check_eq("keel: LVT error reserved bits read 0", xapic_read(APIC_LVT_ERROR), 0x000100FFu);
	xapic_write(APIC_TDCR, 0xFFFFFFFFu);
	check_eq("keel: TDCR bits 0,1,3 only", xapic_read(APIC_TDCR), 0xB);
	xapic_write(APIC_ICR_HI, 0xFFFFFFFFu);
	check_eq("keel: ICR high bits 23:0 read 0", xapic_read(APIC_ICR_HI), 0xFF000000u);
	xapic_write(APIC_LVT_TIMER, APIC_LVT_MASKED);
	xapic_write(APIC_LVT_LINT0, APIC_LVT_MASKED);
	xapic_write(APIC_LVT_ERROR, APIC_LVT_MASKED);
	xapic_write(APIC_TDCR, 0);
	xapic_write(APIC_ICR_HI, 0);
}

static void xapic_readonly(void)
{
	u32 ver = xapic_read(APIC_VERSION);
	xapic_write(APIC_VERSION, ~ver);
	check_eq("VERSION ignores writes", xapic_read(APIC_VERSION), ver);
	xapic_write(APIC_TPR, 0x30);
	xapic_write(APIC_PPR, 0xF0);
	check_eq("PPR ignores writes", xapic_read(APIC_PPR), 0x30);
	xapic_write(APIC_TPR, 0);
	xapic_write(APIC_ISR + 0x20, 0xFFFFFFFFu);
	xapic_write(APIC_TMR + 0x20, 0xFFFFFFFFu);
	xapic_write(APIC_IRR + 0x20, 0xFFFFFFFFu);
	check_eq("ISR/TMR/IRR ignore writes",
		 xapic_read(APIC_ISR + 0x20) | xapic_read(APIC_TMR + 0x20) | xapic_read(APIC_IRR + 0x20),
		 0);
	xapic_write(APIC_TMCCT, 12345);
	check_eq("timer current count ignores writes (timer idle)", xapic_read(APIC_TMCCT), 0);
	if (keel) {
		/* The xAPIC ID is read/write on some CPUs (SDM 11.4.6); Keel's is read-only. */
		xapic_write(APIC_ID, 0x07000000u);
		check_eq("keel: ID ignores writes", xapic_read(APIC_ID), 0);
	}
}

static void xapic_esr(void)
{
	xapic_write(APIC_ESR, 0);
	xapic_write(APIC_ESR, 0);
	check_eq("ESR clear after two writes", xapic_read(APIC_ESR), 0);
	/* fixed IPI with vector 3 (< 16) to a destination nobody has */
	xapic_write(APIC_ICR_HI, 0x0Fu << 24);
	xapic_write(APIC_ICR_LO, APIC_DM_FIXED | 3);
	delay_pauses(1000);
	check_eq("ESR unchanged before the write that latches it", xapic_read(APIC_ESR), 0);
	xapic_write(APIC_ESR, 0);
	sdm_check("ESR bit 5 (send illegal vector) after ESR write",
		  xapic_read(APIC_ESR) & APIC_ESR_SEND_ILLEGAL_VEC);
	xapic_write(APIC_ESR, 0);
	check_eq("ESR clear after next write", xapic_read(APIC_ESR), 0);
	xapic_write(APIC_ICR_HI, 0);
}

static void xapic_self_ipi(void)
{
	seen_vec = 0;
	xapic_write(APIC_ICR_HI, 0);
	xapic_write(APIC_ICR_LO, APIC_SH_SELF | APIC_DM_FIXED | VEC_A);
	delay_pauses(100);
	check("self IPI with IF=0: IRR bit set", apic_vec_bit(APIC_IRR, VEC_A));
	check("self IPI with IF=0: not in service", !apic_vec_bit(APIC_ISR, VEC_A));
	check("ICR delivery status idle", !(xapic_read(APIC_ICR_LO) & APIC_ICR_BUSY));
	sti();
	delay_pauses(100);
	cli();
	check_eq("self IPI delivered after STI", seen_vec, VEC_A);
	check("in handler: ISR bit set", seen_isr);
	check("in handler: IRR bit clear", !seen_irr);
	check_eq("in handler: PPR = vector class", seen_ppr, VEC_A & 0xF0);
	check("after EOI: ISR clear", !apic_vec_bit(APIC_ISR, VEC_A));
	check_eq("after EOI: PPR 0", xapic_read(APIC_PPR), 0);

	/* TPR class 4 blocks vector 0x46 (class 4), lowering it lets it in */
	seen_vec = 0;
	xapic_write(APIC_TPR, 0x40);
	apic_send_ipi(0, APIC_DM_FIXED | VEC_B); /* physical destination 0 = us */
	sti();
	delay_pauses(1000);
	cli();
	check_eq("TPR 0x40 holds back vector 0x46", seen_vec, 0);
	check("held vector pending in IRR", apic_vec_bit(APIC_IRR, VEC_B));
	xapic_write(APIC_TPR, 0x30);
	sti();
	delay_pauses(100);
	cli();
	check_eq("TPR 0x30 lets vector 0x46 in", seen_vec, VEC_B);
	xapic_write(APIC_TPR, 0);
}

static void xapic_sw_disable(void)
{
	xapic_write(APIC_LVT_TIMER, 0x50); /* unmasked, one-shot, no count: never fires */
	xapic_write(APIC_LVT_ERROR, 0x51);
	xapic_write(APIC_LVT_LINT1, APIC_DM_NMI);
	xapic_write(APIC_SVR, VEC_SPURIOUS); /* software disable */
	check_eq("SVR disabled", xapic_read(APIC_SVR), VEC_SPURIOUS);
	sdm_check("sw disable sets LVT timer mask",
		  xapic_read(APIC_LVT_TIMER) == (APIC_LVT_MASKED | 0x50));
	sdm_check("sw disable sets LVT error mask",
		  xapic_read(APIC_LVT_ERROR) == (APIC_LVT_MASKED | 0x51));
	sdm_check("sw disable sets LVT LINT1 mask",
		  xapic_read(APIC_LVT_LINT1) == (APIC_LVT_MASKED | APIC_DM_NMI));
	check("sw disable: LVT LINT0/thermal/perf masked",
	      (xapic_read(APIC_LVT_LINT0) & xapic_read(APIC_LVT_THERM) & xapic_read(APIC_LVT_PMC) &
	       APIC_LVT_MASKED) != 0);
	xapic_write(APIC_LVT_TIMER, 0x52);
	sdm_check("while disabled an LVT write keeps the mask",
		  xapic_read(APIC_LVT_TIMER) == (APIC_LVT_MASKED | 0x52));
	if (keel) {
		/* SDM 11.4.7.2 lets IRR/ISR keep their content; what a disabled APIC does with a
		 * new fixed IPI is not spelled out the same way everywhere: Keel drops it. */
		apic_send_ipi(0, APIC_SH_SELF | VEC_A);
		check("keel: sw-disabled APIC drops a fixed self IPI", !apic_vec_bit(APIC_IRR, VEC_A));
	}
	xapic_write(APIC_SVR, APIC_SVR_ENABLE | VEC_SPURIOUS);
	sdm_check("re-enable: LVT timer stays masked",
		  xapic_read(APIC_LVT_TIMER) == (APIC_LVT_MASKED | 0x52));
	xapic_write(APIC_LVT_TIMER, 0x52);
	check_eq("re-enabled: LVT timer unmasks", xapic_read(APIC_LVT_TIMER), 0x52);
	xapic_write(APIC_LVT_TIMER, APIC_LVT_MASKED);
	xapic_write(APIC_LVT_ERROR, APIC_LVT_MASKED);
	xapic_write(APIC_LVT_LINT1, APIC_LVT_MASKED);
	seen_vec = 0;
	apic_send_ipi(0, APIC_SH_SELF | VEC_A);
	sti();
	delay_pauses(100);
	cli();
	check_eq("re-enabled: self IPI delivered", seen_vec, VEC_A);
}

/* ------------------------------------------------------------------ IA32_APIC_BASE */
static void x2msr_gp_in_xapic(void)
{
	u64 v;
	int f = rdmsr_safe(X2APIC_MSR(APIC_ID), &v);
	sdm_check("rdmsr 0x802 (x2APIC ID) in xAPIC mode -> #GP", f == GP);
	f = rdmsr_safe(X2APIC_MSR(APIC_TPR), &v);
	sdm_check("rdmsr 0x808 (x2APIC TPR) in xAPIC mode -> #GP", f == GP);
	f = wrmsr_safe(MSR_X2APIC_SELF_IPI, VEC_SELF);
	sdm_check("wrmsr 0x83F (SELF IPI) in xAPIC mode -> #GP", f == GP);
	check_eq("no SELF IPI from xAPIC mode", apic_vec_bit(APIC_IRR, VEC_SELF), 0);
}

static void reenabled_checks(u64 b)
{
	check("re-enabled: CPUID.1:EDX[9] set", cpuid(1, 0).edx & CPUID1_EDX_APIC);
	check("re-enabled: software-disabled (SVR[8] = 0)", !(xapic_read(APIC_SVR) & APIC_SVR_ENABLE));
	check("re-enabled: LVT timer masked", xapic_read(APIC_LVT_TIMER) & APIC_LVT_MASKED);
	check_eq("re-enabled: xAPIC ID kept", xapic_read(APIC_ID), 0);
	check_eq("re-enabled: base", rdmsr(MSR_APIC_BASE), b);
	if (keel)
		check_eq("keel: re-enabled: SVR at reset value", xapic_read(APIC_SVR), 0xFF);
	xapic_write(APIC_SVR, APIC_SVR_ENABLE | VEC_SPURIOUS);
	seen_vec = 0;
	apic_send_ipi(0, APIC_SH_SELF | VEC_A);
	sti();
	delay_pauses(100);
	cli();
	check_eq("re-enabled: self IPI delivered", seen_vec, VEC_A);
}

/* Reserved bits and invalid states; the APIC stays enabled in xAPIC mode. */
static void base_reserved(int x2)
{
	u64 b = rdmsr(MSR_APIC_BASE);
	base_gp(b | 1, "(reserved bit 0)");
	base_gp(b | (1u << 9), "(reserved bit 9)");
	base_gp(b | (1ull << 63), "(bit 63, above MAXPHYADDR)");
	if (!x2)
		base_gp(b | APIC_BASE_EXTD, "(EXTD without x2APIC support)");
	base_gp((b & ~(u64)APIC_BASE_EN) | APIC_BASE_EXTD, "(EXTD without EN)");
	sdm_check("IA32_APIC_BASE unchanged by the faulting writes", rdmsr(MSR_APIC_BASE) == b);
}

/* xAPIC -> x2APIC keeps the registers; x2APIC -> xAPIC directly #GPs. Stays in x2APIC. */
static int base_to_x2(void)
{
	u64 b = rdmsr(MSR_APIC_BASE);
	xapic_write(APIC_TPR, 0x20);
	if (!expect_ok_wr(MSR_APIC_BASE, b | APIC_BASE_EXTD, "(xAPIC -> x2APIC)"))
		return 0;
	apic_set_mode_flag(1);
	check_eq("x2APIC: base reads EN | EXTD", rdmsr(MSR_APIC_BASE), b | APIC_BASE_EXTD);
	expect_rd(X2APIC_MSR(APIC_TPR), 0x20, "x2APIC: TPR kept across the switch");
	x2apic_write(APIC_TPR, 0);
	base_gp(b, "(x2APIC -> xAPIC directly)");
	base_gp((b & ~(u64)APIC_BASE_EN) | APIC_BASE_EXTD, "(x2APIC -> EXTD without EN)");
	check_eq("x2APIC: still x2APIC after the faulting writes", rdmsr(MSR_APIC_BASE),
		 b | APIC_BASE_EXTD);
	return 1;
}

/* Runs last: QEMU 7.2 and Bochs 2.7 cannot re-enable an APIC once it was globally disabled
 * (the SDM allows that only for 3-wire-bus APICs; FSB ones re-enable). From x2APIC mode this
 * is also the only way back to xAPIC (SDM 11.12.5). */
static void base_disable_enable(void)
{
	u64 b = rdmsr(MSR_APIC_BASE);
	int from_x2 = (b & APIC_BASE_EXTD) != 0;
	u64 off = b & ~(u64)(APIC_BASE_EN | APIC_BASE_EXTD), xa = off | APIC_BASE_EN;
	if (!expect_ok_wr(MSR_APIC_BASE, off, from_x2 ? "(x2APIC -> disabled)" : "(disable)"))
		return;
	apic_set_mode_flag(0);
	check_eq("disabled: base reads back", rdmsr(MSR_APIC_BASE), off);
	check("disabled: CPUID.1:EDX[9] clear", !(cpuid(1, 0).edx & CPUID1_EDX_APIC));
	if (from_x2)
		base_gp(off | APIC_BASE_EN | APIC_BASE_EXTD, "(disabled -> x2APIC directly)");
	int f = wrmsr_safe(MSR_APIC_BASE, xa);
	if (!sdm_check("re-enable xAPIC from disabled", !f && rdmsr(MSR_APIC_BASE) == xa))
		return;
	reenabled_checks(xa);
	if (from_x2 && keel) {
		/* and once more straight from xAPIC */
		if (expect_ok_wr(MSR_APIC_BASE, off, "(xAPIC -> disabled)") &&
		    expect_ok_wr(MSR_APIC_BASE, xa, "(disabled -> xAPIC)"))
			reenabled_checks(xa);
	}
}

/* ------------------------------------------------------------------ x2APIC registers */
static void x2apic_regs(void)
{
	u32 ver = xapic_ver;
	u64 v;
	x2apic_write(APIC_SVR, APIC_SVR_ENABLE | VEC_SPURIOUS);
	expect_rd(X2APIC_MSR(APIC_ID), 0, "x2APIC: ID = 0 (32-bit)");
	expect_rd(X2APIC_MSR(APIC_VERSION), ver, "x2APIC: VERSION = xAPIC version");
	sdm_check("x2APIC: LDR = (ID[31:4] << 16) | 1 << ID[3:0] = 1",
		  !rdmsr_safe(X2APIC_MSR(APIC_LDR), &v) && v == 1);
	expect_rd(X2APIC_MSR(APIC_TPR), 0, "x2APIC: TPR");
	expect_rd(X2APIC_MSR(APIC_PPR), 0, "x2APIC: PPR");
	expect_rd(X2APIC_MSR(APIC_SVR), APIC_SVR_ENABLE | VEC_SPURIOUS, "x2APIC: SVR");
	expect_rd(X2APIC_MSR(APIC_ESR), 0, "x2APIC: ESR");
	expect_rd(X2APIC_MSR(APIC_LVT_TIMER), APIC_LVT_MASKED, "x2APIC: LVT timer");
	expect_rd(X2APIC_MSR(APIC_LVT_ERROR), APIC_LVT_MASKED, "x2APIC: LVT error");
	expect_rd(X2APIC_MSR(APIC_TMICT), 0, "x2APIC: timer initial count");
	expect_rd(X2APIC_MSR(APIC_TMCCT), 0, "x2APIC: timer current count");
	expect_rd(X2APIC_MSR(APIC_TDCR), 0, "x2APIC: timer divide config");
	int bad = 0;
	for (u32 i = 0; i < 8; i++)
		for (u32 base = APIC_ISR; base <= APIC_IRR; base += 0x80)
			if (rdmsr_safe(X2APIC_MSR(base + 0x10 * i), &v) || v)
				bad++;
	check_eq("x2APIC: ISR/TMR/IRR 0x810-0x827 read 0", bad, 0);
	check("x2APIC: LVT LINT0/LINT1/thermal/perf readable",
	      !rdmsr_safe(X2APIC_MSR(APIC_LVT_LINT0), &v) &&
	      !rdmsr_safe(X2APIC_MSR(APIC_LVT_LINT1), &v) &&
	      !rdmsr_safe(X2APIC_MSR(APIC_LVT_THERM), &v) &&
	      !rdmsr_safe(X2APIC_MSR(APIC_LVT_PMC), &v));
	if (keel)
		expect_rd(X2APIC_MSR(APIC_LVT_CMCI), APIC_LVT_MASKED, "keel: x2APIC: LVT CMCI");

	/* reserved MSRs, write-only registers read, registers that do not exist in x2APIC mode */
	static const u32 rsvd[] = { 0x800, 0x801, 0x804, 0x807, 0x809 /* APR */, 0x80C /* RRD */,
				    0x80E /* DFR */, 0x829, 0x82E, 0x831 /* ICR2 */, 0x83A, 0x83D,
				    0x840, 0x8FF };
	for (unsigned i = 0; i < sizeof(rsvd) / sizeof(rsvd[0]); i++)
		expect_gp_rd(rsvd[i], "(reserved in x2APIC mode)");
	expect_gp_rd(X2APIC_MSR(APIC_EOI), "(EOI is write-only)");
	expect_gp_rd(MSR_X2APIC_SELF_IPI, "(SELF IPI is write-only)");
	expect_gp_wr(0x831, 0, "(ICR2 does not exist)");
	expect_gp_wr(0x80E, 0xFFFFFFFFu, "(DFR does not exist)");

	/* read-only registers: WRMSR #GP */
	expect_gp_wr(X2APIC_MSR(APIC_ID), 0, "(ID is read-only)");
	expect_gp_wr(X2APIC_MSR(APIC_VERSION), ver, "(VERSION is read-only)");
	expect_gp_wr(X2APIC_MSR(APIC_LDR), 1, "(LDR is read-only)");
	expect_gp_wr(X2APIC_MSR(APIC_PPR), 0, "(PPR is read-only)");
	expect_gp_wr(X2APIC_MSR(APIC_ISR), 0, "(ISR is read-only)");
	expect_gp_wr(X2APIC_MSR(APIC_IRR + 0x10), 0, "(IRR is read-only)");
	expect_gp_wr(X2APIC_MSR(APIC_TMCCT), 0, "(current count is read-only)");

	/* reserved bits (SDM 11.12.1.3: non-zero writes to reserved bits #GP) */
	expect_gp_wr(X2APIC_MSR(APIC_TPR), 0x100, "(TPR bit 8)");
	expect_gp_wr(X2APIC_MSR(APIC_TPR), 1ull << 32, "(TPR bit 32)");
	expect_gp_wr(X2APIC_MSR(APIC_EOI), 1, "(EOI non-zero)");
	expect_gp_wr(X2APIC_MSR(APIC_ESR), 1, "(ESR non-zero)");
	gp_wr_sdm(MSR_X2APIC_SELF_IPI, 0x100 | VEC_B, "(SELF IPI bit 8)");
	if (!keel) { /* a bare emulator that took it has vector 0x46 pending now: drain it */
		sti();
		delay_pauses(100);
		cli();
	}
	expect_rd(X2APIC_MSR(APIC_TPR), 0, "x2APIC: TPR unchanged by the faulting writes");
	expect_ok_wr(X2APIC_MSR(APIC_TPR), 0x5F, "(TPR)");
	expect_rd(X2APIC_MSR(APIC_TPR), 0x5F, "x2APIC: TPR 0x5F");
	expect_rd(X2APIC_MSR(APIC_PPR), 0x5F, "x2APIC: PPR follows TPR");
	x2apic_write(APIC_TPR, 0);
	expect_ok_wr(X2APIC_MSR(APIC_ESR), 0, "(ESR zero)");
	expect_ok_wr(X2APIC_MSR(APIC_EOI), 0, "(EOI zero, nothing in service)");

	/* 64-bit ICR: a fixed IPI to a destination nobody has, read back whole */
	u64 icr = (0x12345678ull << 32) | APIC_DM_FIXED | 0x40;
	if (expect_ok_wr(X2APIC_MSR(APIC_ICR_LO), icr, "(64-bit ICR, no such destination)"))
		sdm_check("x2APIC: ICR reads back 64 bits",
			  !rdmsr_safe(X2APIC_MSR(APIC_ICR_LO), &v) && v == icr);

	/* SELF IPI register */
	seen_vec = 0;
	wrmsr(MSR_X2APIC_SELF_IPI, VEC_SELF);
	check("SELF IPI: pending in IRR while IF=0", apic_vec_bit(APIC_IRR, VEC_SELF));
	sti();
	delay_pauses(100);
	cli();
	check_eq("SELF IPI delivered", seen_vec, VEC_SELF);
	check_eq("SELF IPI: PPR in handler", seen_ppr, VEC_SELF & 0xF0);
	check("SELF IPI: ISR clear after EOI", !apic_vec_bit(APIC_ISR, VEC_SELF));
	/* ICR self IPI with a 32-bit destination */
	seen_vec = 0;
	apic_send_ipi(0, APIC_DM_FIXED | VEC_B);
	sti();
	delay_pauses(100);
	cli();
	check_eq("x2APIC ICR IPI to ID 0 delivered", seen_vec, VEC_B);
	/* ESR in x2APIC: illegal vector through SELF IPI */
	x2apic_write(APIC_ESR, 0);
	wrmsr(MSR_X2APIC_SELF_IPI, 5);
	x2apic_write(APIC_ESR, 0);
	sdm_check("x2APIC: ESR bit 5 after SELF IPI with vector 5",
		  x2apic_read(APIC_ESR) & APIC_ESR_SEND_ILLEGAL_VEC);
	x2apic_write(APIC_ESR, 0);
	check_eq("x2APIC: ESR clear again", x2apic_read(APIC_ESR), 0);
	if (keel) {
		/* reserved bits of the LVT and SVR in x2APIC mode (KVM masks, Intel #GPs) */
		expect_gp_wr(X2APIC_MSR(APIC_LVT_TIMER), APIC_LVT_MASKED | (1u << 20),
			     "(keel: LVT bit 20)");
		expect_gp_wr(X2APIC_MSR(APIC_SVR), (1u << 20) | 0xFF, "(keel: SVR bit 20)");
	}
}

void guest_main(void)
{
	uart_init_8n1();
	pic_mask_all();
	keel = cpu_is_keel();
	printf("apic_regs: %s, x2APIC %s\n", keel ? "under Keel" : "no Keel",
	       apic_has_x2apic() ? "yes" : "no");
	irq_set_handler(VEC_SPURIOUS, on_spurious);
	irq_set_handler(VEC_A, on_ipi);
	irq_set_handler(VEC_B, on_ipi);
	irq_set_handler(VEC_SELF, on_ipi);

	entry_state();
	apic_set_mode_flag(0);
	xapic_write(APIC_SVR, APIC_SVR_ENABLE | VEC_SPURIOUS);
	xapic_write(APIC_LVT_LINT0, APIC_LVT_MASKED); /* firmware's ExtINT on bare machines */
	xapic_write(APIC_LVT_LINT1, APIC_LVT_MASKED);
	xapic_writable();
	xapic_readonly();
	xapic_esr();
	xapic_self_ipi();
	xapic_sw_disable();
	x2msr_gp_in_xapic();
	int x2 = apic_has_x2apic();
	base_reserved(x2);
	if (x2) {
		if (base_to_x2())
			x2apic_regs();
	} else {
		printf("note: no x2APIC (CPUID.1:ECX[21] = 0)\n");
	}
	base_disable_enable();
	check_eq("no spurious interrupts", irq_count[VEC_SPURIOUS], 0);
}
