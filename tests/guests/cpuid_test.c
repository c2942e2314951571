/* cpuid_test: every CPUID fact in doc/CONTRACT.md. Prints the vendor string first. */
#include "rt.h"

const char guest_name[] = GUEST_NAME;

static void bit_clear(const char *what, u32 reg, int bit)
{
	if (reg & (1u << bit))
		fail("%s hidden: bit %d set (reg 0x%x)", what, bit, reg);
	else
		ok("%s hidden", what);
}

void guest_main(void)
{
	char v[13];
	cpu_vendor(v);
	printf("vendor: %s\n", v);
	boot_checks(guest_name);

	struct cpuid_regs r0 = cpuid(0, 0);
	u32 max_basic = r0.eax;
	printf("max basic leaf 0x%x\n", max_basic);

	struct cpuid_regs r1 = cpuid(1, 0);
	printf("leaf 1: eax=0x%x ebx=0x%x ecx=0x%x edx=0x%x\n", r1.eax, r1.ebx, r1.ecx, r1.edx);
	if (r1.ecx & (1u << 31))
		ok("hypervisor bit (1.ecx[31]) set");
	else
		fail("hypervisor bit (1.ecx[31]) set: got 0 want 1");
	bit_clear("VMX (1.ecx[5])", r1.ecx, 5);
	bit_clear("MONITOR (1.ecx[3])", r1.ecx, 3);
	bit_clear("PDCM (1.ecx[15])", r1.ecx, 15);
	/* Keel's vLAPIC has both, and the APIC itself, whatever the host has. */
	check_eq("x2APIC (1.ecx[21]) set", r1.ecx >> 21 & 1, 1);
	check_eq("TSC-deadline (1.ecx[24]) set", r1.ecx >> 24 & 1, 1);
	check_eq("APIC (1.edx[9]) set", r1.edx >> 9 & 1, 1);
	bit_clear("XSAVE (1.ecx[26])", r1.ecx, 26);
	bit_clear("OSXSAVE (1.ecx[27])", r1.ecx, 27);
	bit_clear("AVX (1.ecx[28])", r1.ecx, 28);

	struct cpuid_regs e0 = cpuid(0x80000000u, 0);
	printf("max extended leaf 0x%x\n", e0.eax);
	if (e0.eax >= 0x80000001u) {
		struct cpuid_regs e1 = cpuid(0x80000001u, 0);
		printf("leaf 0x80000001: ecx=0x%x edx=0x%x\n", e1.ecx, e1.edx);
		bit_clear("SVM (0x80000001.ecx[2])", e1.ecx, 2);
		bit_clear("RDTSCP (0x80000001.edx[27])", e1.edx, 27);
	} else {
		fail("extended leaf 0x80000001 missing (max 0x%x)", e0.eax);
	}

	if (max_basic >= 0xA) {
		struct cpuid_regs a = cpuid(0xA, 0);
		if (a.eax | a.ebx | a.ecx | a.edx)
			fail("perfmon leaf 0xa zero: got %x %x %x %x", a.eax, a.ebx, a.ecx, a.edx);
		else
			ok("perfmon leaf 0xa zero");
	} else {
		ok("perfmon leaf 0xa zero (beyond max basic leaf 0x%x)", max_basic);
	}

	struct cpuid_regs h = cpuid(0x40000000u, 0);
	char sig[13];
	memcpy(sig, &h.ebx, 4);
	memcpy(sig + 4, &h.ecx, 4);
	memcpy(sig + 8, &h.edx, 4);
	sig[12] = 0;
	for (int i = 0; i < 12; i++)
		if (sig[i] < 0x20 || sig[i] > 0x7e)
			sig[i] = '.';
	printf("leaf 0x40000000: eax=0x%x sig '%s'\n", h.eax, sig);
	check_eq("leaf 0x40000000 eax (max hv leaf)", h.eax, 0x40000010u);
	check_eq("leaf 0x40000000 ebx 'Keel'", h.ebx, 0x6c65654bu);
	check_eq("leaf 0x40000000 ecx 'Keel'", h.ecx, 0x6c65654bu);
	check_eq("leaf 0x40000000 edx 'Keel'", h.edx, 0x6c65654bu);
	if (!strcmp(sig, "KeelKeelKeel"))
		ok("hypervisor signature KeelKeelKeel");
	else
		fail("hypervisor signature: got '%s' want 'KeelKeelKeel'", sig);

	struct cpuid_regs h1 = cpuid(0x40000001u, 0);
	if (h1.eax | h1.ebx | h1.ecx | h1.edx)
		fail("leaf 0x40000001 zero: got %x %x %x %x", h1.eax, h1.ebx, h1.ecx, h1.edx);
	else
		ok("leaf 0x40000001 zero");

	/* Timing leaf: TSC and APIC timer input clock in kHz. */
	struct cpuid_regs t = cpuid(0x40000010u, 0);
	printf("leaf 0x40000010: tsc %u kHz, apic bus %u kHz\n", t.eax, t.ebx);
	check("leaf 0x40000010 eax (TSC kHz) non-zero", t.eax != 0);
	check_eq("leaf 0x40000010 ebx (APIC timer kHz)", t.ebx, 1000000);
	finish();
}
