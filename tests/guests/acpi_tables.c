/* acpi_test (and acpi_test_mb2): the ACPI tables a VM finds, walked as an OS does.
 * cmdline: expect_cpus=<n> (default 1). Finds the RSDP in 0xE0000-0xFFFFF (and, mb2, compares the
 * ACPI tags' copies), validates every checksum, and checks the MADT lists exactly the VM's vCPUs,
 * the IOAPIC and the PC's interrupt overrides, the FADT's PM ports, FACS, and the DSDT's \_S5. */
#include "rt.h"

const char guest_name[] = GUEST_NAME;

static u8 sum(const u8 *p, u32 n)
{
	u8 s = 0;
	for (u32 i = 0; i < n; i++)
		s = (u8)(s + p[i]);
	return s;
}

static u32 rd32(const u8 *p, u32 off) { u32 v; memcpy(&v, p + off, 4); return v; }
static u16 rd16(const u8 *p, u32 off) { u16 v; memcpy(&v, p + off, 2); return v; }
static u64 rd64(const u8 *p, u32 off) { u64 v; memcpy(&v, p + off, 8); return v; }

static const u8 *find_rsdp(void)
{
	for (uptr a = 0xE0000; a < 0x100000; a += 16)
		if (!memcmp((const void *)a, "RSD PTR ", 8) && !sum((const u8 *)a, 20))
			return (const u8 *)a;
	return 0;
}

/* A valid SDT at a (below 4 GiB, sane length; with signature sig unless NULL), else NULL. */
static const u8 *table(u64 a, const char *sig)
{
	if (!a || a >= 0x100000000ull)
		return 0;
	const u8 *t = (const u8 *)(uptr)a;
	u32 len = rd32(t, 4);
	if ((sig && memcmp(t, sig, 4)) || len < 36 || len > 0x10000 || sum(t, len))
		return 0;
	return t;
}

/* The tables' bytes must not be RAM the OS may use: reserved or ACPI-reclaim in the map. */
static void check_not_available(const u8 *t, u32 len, const char *what)
{
	uptr a = (uptr)t;
	for (int i = 0; i < g_boot.nmmap; i++) {
		struct bi_mmap *e = &g_boot.mmap[i];
		if (e->type == 1 && a < e->base + e->len && e->base < a + len) {
			fail("%s at 0x%lx lies in available RAM", what, (unsigned long)a);
			return;
		}
	}
	ok("%s not in available RAM", what);
}

static void check_madt(const u8 *m, u32 ncpus)
{
	u32 len = rd32(m, 4), cpus = 0, ioapics = 0, iso0 = 0, iso9 = 0, nmi = 0, bad = 0;
	u8 seen[256] = { 0 };
	check_eq("madt lapic address", rd32(m, 36), 0xFEE00000u);
	for (u32 off = 44; off + 2 <= len;) {
		const u8 *e = m + off;
		if (e[1] < 2 || off + e[1] > len) {
			fail("madt entry at +%u has length %u", off, e[1]);
			return;
		}
		if (e[0] == 0 && (rd32(e, 4) & 1)) {
			cpus++;
			bad += e[3] >= ncpus || seen[e[3]]++;
		} else if (e[0] == 9 && (rd32(e, 8) & 1)) {
			cpus++;
			bad += rd32(e, 4) >= ncpus || rd32(e, 4) < 255;
		} else if (e[0] == 1) {
			ioapics++;
			check_eq("ioapic address", rd32(e, 4), 0xFEC00000u);
			check_eq("ioapic gsi base", rd32(e, 8), 0);
		} else if (e[0] == 2 && e[3] == 0) {
			iso0 += rd32(e, 4) == 2 && rd16(e, 8) == 0x5;
		} else if (e[0] == 2 && e[3] == 9) {
			iso9 += rd32(e, 4) == 9 && rd16(e, 8) == 0xF;
		} else if (e[0] == 4) {
			nmi += e[2] == 0xFF && e[5] == 1;
		}
		off += e[1];
	}
	check_eq("madt: enabled processors == vcpus", cpus, ncpus);
	check_eq("madt: apic ids 0..n-1, each once", bad, 0);
	check_eq("madt: one ioapic", ioapics, 1);
	check_eq("madt: override irq0 -> gsi2 edge high", iso0, 1);
	check_eq("madt: override irq9 -> gsi9 level low", iso9, 1);
	check_eq("madt: lint1 nmi on all processors", nmi, 1);
}

static void check_fadt(const u8 *f)
{
	check_eq("fadt revision", f[8], 6);
	check_eq("fadt sci_int", rd16(f, 46), 9);
	check_eq("fadt pm1a_evt_blk", rd32(f, 56), 0x600);
	check_eq("fadt pm1a_cnt_blk", rd32(f, 64), 0x604);
	check_eq("fadt pm_tmr_blk", rd32(f, 76), 0x608);
	check_eq("fadt pm_tmr_len", f[91], 4);
	check_eq("fadt century", f[108], 0x32);
	check_eq("fadt flags reset_reg_sup, 24-bit timer", rd32(f, 112) & ((1u << 10) | (1u << 8)),
		 1u << 10);
	check_eq("fadt reset register io 0xcf9", rd64(f, 120) | (u64)f[116] << 32, 0x100000CF9ull);
	check_eq("fadt reset value", f[128], 6);
	check_eq("fadt x_pm_tmr_blk", rd64(f, 212), 0x608);
	const u8 *facs = (const u8 *)(uptr)rd32(f, 36);
	check("facs valid, 64-byte aligned",
	      facs && !((uptr)facs & 63) && !memcmp(facs, "FACS", 4) && rd32(facs, 4) >= 64);
	const u8 *dsdt = table(rd64(f, 140), "DSDT");
	if (!check("dsdt (x_dsdt) valid", dsdt != 0) || !check_eq("dsdt == x_dsdt", rd32(f, 40),
								   (u32)(uptr)dsdt))
		return;
	u32 len = rd32(dsdt, 4);
	int s5 = 0;
	for (u32 i = 36; i + 12 <= len; i++)
		if (dsdt[i] == 0x08 && !memcmp(dsdt + i + 1, "_S5_", 4) && dsdt[i + 5] == 0x12)
			s5 = dsdt[i + 8] == 0 && dsdt[i + 9] == 0 ? 1 : 2;
	check_eq("dsdt: Name(_S5_, Package(){0, 0, ...})", s5, 1);
}

void guest_main(void)
{
	u32 ncpus = (u32)cmd_num("expect_cpus", 1);
	boot_checks(guest_name);
	const u8 *rsdp = find_rsdp();
	if (!check("rsdp found in 0xe0000-0xfffff", rsdp != 0))
		finish();
	printf("rsdp at 0x%lx\n", (unsigned long)(uptr)rsdp);
	check_eq("rsdp revision 2", rsdp[15], 2);
	check("rsdp extended checksum", rd32(rsdp, 20) == 36 && !sum(rsdp, 36));
	check_not_available(rsdp, 36, "rsdp");
	if (g_boot.mb == 2) {
		check("mb2 acpi old tag: rsdp v1 copy",
		      g_boot.acpi_old && g_boot.acpi_old_len >= 20 && !memcmp((void *)g_boot.acpi_old, rsdp, 20));
		check("mb2 acpi new tag: rsdp v2 copy",
		      g_boot.acpi_new && g_boot.acpi_new_len >= 36 && !memcmp((void *)g_boot.acpi_new, rsdp, 36));
	}
	const u8 *xsdt = table(rd64(rsdp, 24), "XSDT"), *rsdt = table(rd32(rsdp, 16), "RSDT");
	check("xsdt valid", xsdt != 0);
	check("rsdt valid", rsdt != 0);
	if (!xsdt || !rsdt)
		finish();
	u32 n = (rd32(xsdt, 4) - 36) / 8;
	check_eq("rsdt and xsdt list as many tables", (rd32(rsdt, 4) - 36) / 4, n);
	const u8 *madt = 0, *fadt = 0;
	int same = 1, valid = 1;
	for (u32 i = 0; i < n; i++) {
		u64 a = rd64(xsdt, 36 + i * 8);
		same &= a == rd32(rsdt, 36 + i * 4);
		const u8 *t = table(a, 0);
		valid &= t != 0;
		if (t && !memcmp(t, "APIC", 4))
			madt = t;
		if (t && !memcmp(t, "FACP", 4))
			fadt = t;
		if (t)
			check_not_available(t, rd32(t, 4), "table");
	}
	check("rsdt and xsdt entries agree", same);
	check("every table's checksum", valid);
	if (check("madt present", madt != 0))
		check_madt(madt, ncpus);
	if (check("fadt present", fadt != 0))
		check_fadt(fadt);
	finish();
}
