/* msr_test (32-bit) / msr_test64 (64-bit): every MSR fact in doc/CONTRACT.md.
 * Faults are caught by the IDT; the handler skips the 2-byte RDMSR/WRMSR. */
#include "rt.h"

const char guest_name[] = GUEST_NAME;

static void expect_read(u32 msr, const char *what, u64 want)
{
	u64 v;
	int f = rdmsr_safe(msr, &v);
	if (f)
		fail("rdmsr 0x%x %s: raised %s", msr, what, exc_name(f - 1));
	else if (v != want)
		fail("rdmsr 0x%x %s: got 0x%llx want 0x%llx", msr, what, (unsigned long long)v,
		     (unsigned long long)want);
	else
		ok("rdmsr 0x%x %s = 0x%llx", msr, what, (unsigned long long)v);
}

static void expect_rd_gp(u32 msr, const char *what)
{
	u64 v;
	int f = rdmsr_safe(msr, &v);
	if (f == 14)
		ok("rdmsr 0x%x %s -> #GP", msr, what);
	else if (f)
		fail("rdmsr 0x%x %s: raised %s want #GP", msr, what, exc_name(f - 1));
	else
		fail("rdmsr 0x%x %s: no fault (read 0x%llx) want #GP", msr, what, (unsigned long long)v);
}

static void expect_wr_gp(u32 msr, u64 val, const char *what)
{
	int f = wrmsr_safe(msr, val);
	if (f == 14)
		ok("wrmsr 0x%x <- 0x%llx %s -> #GP", msr, (unsigned long long)val, what);
	else if (f)
		fail("wrmsr 0x%x %s: raised %s want #GP", msr, what, exc_name(f - 1));
	else
		fail("wrmsr 0x%x <- 0x%llx %s: no fault want #GP", msr, (unsigned long long)val, what);
}

void guest_main(void)
{
	char v[13];
	cpu_vendor(v);
	printf("vendor: %s\n", v);
	boot_checks(guest_name);

	/* IA32_FEATURE_CONTROL: locked, VMX off; writes fault */
	expect_read(0x3a, "IA32_FEATURE_CONTROL", 1);
	expect_wr_gp(0x3a, 1, "IA32_FEATURE_CONTROL");
	expect_wr_gp(0x3a, 5, "IA32_FEATURE_CONTROL (enable VMX)");
	expect_read(0x3a, "IA32_FEATURE_CONTROL after writes", 1);

	/* IA32_PAT round-trips */
	u64 pat0 = 0;
	if (rdmsr_safe(0x277, &pat0)) {
		fail("rdmsr 0x277 IA32_PAT raised %s", exc_name(exc_last_vec));
	} else {
		printf("IA32_PAT initial 0x%llx\n", (unsigned long long)pat0);
		const u64 pats[2] = { 0x0001050406070400ull, 0x0007040600070406ull };
		for (int i = 0; i < 2; i++) {
			u64 back = 0;
			int f = wrmsr_safe(0x277, pats[i]);
			if (f) {
				fail("wrmsr 0x277 IA32_PAT <- 0x%llx raised %s", (unsigned long long)pats[i],
				     exc_name(f - 1));
				continue;
			}
			f = rdmsr_safe(0x277, &back);
			if (f)
				fail("rdmsr 0x277 IA32_PAT raised %s", exc_name(f - 1));
			else
				check_eq(i ? "IA32_PAT round-trip (default value)" : "IA32_PAT round-trip",
					 back, pats[i]);
		}
		wrmsr_safe(0x277, pat0);
	}

	/* IA32_APIC_BASE on vcpu 0 */
	expect_read(0x1b, "IA32_APIC_BASE (vcpu 0)", 0xFEE00900ull);

	/* EFER: reading works; setting SVME faults */
	u64 efer = 0;
	int f = rdmsr_safe(0xC0000080u, &efer);
	if (f) {
		fail("rdmsr 0xc0000080 EFER raised %s", exc_name(f - 1));
	} else {
		printf("EFER = 0x%llx\n", (unsigned long long)efer);
		check_eq("EFER.SVME clear", (efer >> 12) & 1, 0);
		expect_wr_gp(0xC0000080u, efer | (1u << 12), "EFER with SVME");
		u64 after = 0;
		rdmsr_safe(0xC0000080u, &after);
		if (after != efer) {
			fail("EFER unchanged after faulting write: got 0x%llx want 0x%llx",
			     (unsigned long long)after, (unsigned long long)efer);
			wrmsr_safe(0xC0000080u, efer);
		} else {
			ok("EFER unchanged after faulting write");
		}
		f = wrmsr_safe(0xC0000080u, efer);
		if (f)
			fail("wrmsr EFER <- same value 0x%llx raised %s", (unsigned long long)efer, exc_name(f - 1));
		else
			ok("wrmsr EFER <- same value 0x%llx", (unsigned long long)efer);
	}

	/* VMX capability MSRs 0x480-0x491 */
	for (u32 m = 0x480; m <= 0x491; m++)
		expect_rd_gp(m, "VMX capability");

	/* unknown MSRs */
	expect_rd_gp(0x12345678u, "unknown");
	expect_wr_gp(0x12345678u, 0, "unknown");
	expect_rd_gp(0x40000000u, "unknown (hypervisor range)");
	expect_rd_gp(0xC0011234u, "unknown (AMD range)");
	finish();
}
