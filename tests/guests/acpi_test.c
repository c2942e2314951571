/* acpi_test: the ACPI tables a PC gives an OS (ACPI 6.4 ch. 5), then power off through S5.
 * RSDP in 0xE0000-0xFFFFF (16-byte aligned, both checksums), RSDT and XSDT with every table's
 * checksum, FADT -> DSDT/FACS, MADT: exactly the VM's vCPUs (ncpus=<n>, else CPUID.1:EBX[23:16])
 * with IDs 0..n-1, one IOAPIC at 0xFEC00000 with GSI base 0, overrides IRQ0 -> GSI 2 and (Keel)
 * IRQ9 level/active-low, a LINT1 NMI entry; FADT PM timer/PM1a blocks (Keel: 0x608/0x600/0x604,
 * SCI 9); DSDT has an _S5_ package. Last: `done: <n> failure(s)`; with no failure the guest
 * writes SLP_TYP(_S5)|SLP_EN to PM1a_CNT, which must end the VM with status 0 (option
 * `no_poweroff`: exit through port 0xf4 instead). Built twice: acpi_test (mb1: no ACPI tag
 * exists) and acpi_test_mb2 (multiboot2: the ACPI old/new RSDP tags, types 14/15, must hold a
 * valid copy of the RSDP found in memory). Every table lies in one ACPI-reclaimable (type 3)
 * range of the multiboot memory map (ACPI 6.4 15.1). */
#include "pc.h"

const char guest_name[] = GUEST_NAME;

static int check_table(const char *what, struct acpi_hdr *h)
{
	char name[5] = { h->sig[0], h->sig[1], h->sig[2], h->sig[3], 0 };
	printf("table %s at 0x%x length %u rev %u\n", name, (u32)(uptr)h, h->length, h->revision);
	if (h->length < sizeof(*h) || h->length > 0x100000)
		return check(what, 0);
	return check_eq(what, acpi_sum(h, h->length), 0);
}

/* The multiboot memory map's type for [a, a+len): the one entry covering it all, else 0. */
static u32 map_type(uptr a, u32 len)
{
	for (int i = 0; i < g_boot.nmmap; i++) {
		struct bi_mmap *e = &g_boot.mmap[i];
		if (e->base <= a && a + len <= e->base + e->len)
			return e->type;
	}
	return 0;
}

/* ACPI 6.4 15.1, table 15.1: the tables sit in AddressRangeACPI (type 3) memory. */
static void check_map(const char *what, void *t, u32 len)
{
	char w[48];
	u32 type = map_type((uptr)t, len);
	memcpy(w, "memory map: ", 12);
	memcpy(w + 12, what, 4);
	memcpy(w + 16, " in ACPI-reclaimable (type 3) RAM", 34);
	printf("%s at 0x%x: map type %u\n", what, (u32)(uptr)t, type);
	check_strict(w, g_boot.have_mmap && type == 3);
}

/* every table listed in the RSDT (esz 4) or XSDT (esz 8), plus the FADT's DSDT */
static void walk(struct acpi_hdr *root, int esz, const char *rname)
{
	char what[64];
	check_table(esz == 4 ? "RSDT checksum" : "XSDT checksum", root);
	u32 n = (root->length - sizeof(*root)) / esz;
	u8 *e = (u8 *)(root + 1);
	printf("%s: %u entries\n", rname, n);
	int fadt = 0, madt = 0;
	for (u32 i = 0; i < n; i++) {
		u64 a = esz == 8 ? *(u64 *)(e + 8 * i) : *(u32 *)(e + 4 * i);
		if (!a || a >= 0x100000000ull) {
			fail("%s entry %u address 0x%llx", rname, i, (unsigned long long)a);
			continue;
		}
		struct acpi_hdr *h = (struct acpi_hdr *)(uptr)a;
		char name[5] = { h->sig[0], h->sig[1], h->sig[2], h->sig[3], 0 };
		fadt += !memcmp(name, "FACP", 4);
		madt += !memcmp(name, "APIC", 4);
		memcpy(what, rname, 4);
		what[4] = ' ';
		memcpy(what + 5, name, 5);
		memcpy(what + 9, " checksum", 10);
		check_table(what, h);
		if (esz == 4)
			check_map(name, h, h->length);
		if (!memcmp(name, "FACP", 4)) {
			u8 *f = (u8 *)h;
			struct acpi_hdr *d = (struct acpi_hdr *)(uptr) * (u32 *)(f + FADT_DSDT);
			if (h->length >= 148 && *(u64 *)(f + 140))
				check_eq("FADT X_DSDT = DSDT", *(u64 *)(f + 140), (u32)(uptr)d);
			check(esz == 4 ? "RSDT: DSDT signature" : "XSDT: DSDT signature",
			      d && !memcmp(d->sig, "DSDT", 4));
			if (d && !memcmp(d->sig, "DSDT", 4))
				check_table(esz == 4 ? "RSDT: DSDT checksum" : "XSDT: DSDT checksum", d);
			u8 *facs = (u8 *)(uptr) * (u32 *)(f + FADT_FACS);
			check(esz == 4 ? "RSDT: FACS signature" : "XSDT: FACS signature",
			      facs && !memcmp(facs, "FACS", 4));
			if (esz == 4 && d && !memcmp(d->sig, "DSDT", 4))
				check_map("DSDT", d, d->length);
			if (esz == 4 && facs && !memcmp(facs, "FACS", 4))
				check_map("FACS", facs, *(u32 *)(facs + 4));
		}
	}
	check_eq(esz == 4 ? "RSDT lists one FADT" : "XSDT lists one FADT", fadt, 1);
	check_eq(esz == 4 ? "RSDT lists one MADT" : "XSDT lists one MADT", madt, 1);
}

/* SLP_TYPa of \_S5: `_S5_` PackageOp PkgLength NumElements then a ByteConst/Zero/One */
static int s5_slp_typ(struct acpi_hdr *d)
{
	u8 *p = (u8 *)d + sizeof(*d), *end = (u8 *)d + d->length;
	for (; p + 8 < end; p++) {
		if (memcmp(p, "_S5_", 4) || p[4] != 0x12)
			continue;
		u8 *q = p + 5;
		q += 1 + (*q >> 6); /* PkgLength: bits 7:6 = extra bytes */
		q++;                /* NumElements */
		if (*q == 0x0A)
			return q[1];
		if (*q == 0x00 || *q == 0x01)
			return *q;
		if (*q == 0xFF)
			return 0xFF; /* OnesOp */
		return -2;
	}
	return -1;
}

/* multiboot2 ACPI tags (types 14 = RSDP v1, 15 = RSDP v2): a copy of the RSDP */
static void mb2_tags(uptr rsdp)
{
	u8 *p = (u8 *)g_boot.info, *end = p + *(u32 *)p;
	int old = 0, new_ = 0;
	for (p += 8; p + 8 <= end; p += (*(u32 *)(p + 4) + 7) & ~7u) {
		u32 type = *(u32 *)p, size = *(u32 *)(p + 4);
		if (!type || size < 8)
			break;
		if (type == 14) {
			old++;
			check("mb2 ACPI old RSDP tag: valid checksum", size >= 28 && !acpi_sum(p + 8, 20));
			check("mb2 ACPI old RSDP tag = the RSDP in memory (20 bytes)",
			      size >= 28 && !memcmp(p + 8, (void *)rsdp, 20));
		}
		if (type == 15) {
			new_++;
			check("mb2 ACPI new RSDP tag: valid extended checksum",
			      size >= 44 && !acpi_sum(p + 8, 36));
			check("mb2 ACPI new RSDP tag = the RSDP in memory (36 bytes)",
			      size >= 44 && !memcmp(p + 8, (void *)rsdp, 36));
		}
	}
	printf("mb2 ACPI tags: %d old, %d new\n", old, new_);
	check("mb2: an ACPI RSDP tag (type 14 or 15)", old + new_ >= 1);
	if (*(u8 *)(rsdp + 15) >= 2)
		check_strict("mb2: the new RSDP tag (type 15) for a revision 2 RSDP", new_ == 1);
}

void guest_main(void)
{
	uart_init_8n1();
	printf("acpi_test: %s, multiboot%d\n", is_keel() ? "under Keel" : "no Keel", g_boot.mb);
	uptr rsdp = acpi_find_rsdp();
	if (!check("RSDP found", rsdp != 0))
		finish();
	printf("RSDP at 0x%x\n", (u32)rsdp);
	check("RSDP in 0xE0000-0xFFFFF, 16-byte aligned", rsdp >= 0xE0000 && rsdp < 0x100000 &&
	      !(rsdp & 15));
	u8 rev = *(u8 *)(rsdp + 15);
	printf("RSDP revision %u, OEM %c%c%c%c%c%c\n", rev, *(char *)(rsdp + 9), *(char *)(rsdp + 10),
	       *(char *)(rsdp + 11), *(char *)(rsdp + 12), *(char *)(rsdp + 13), *(char *)(rsdp + 14));
	check_eq("RSDP checksum (20 bytes)", acpi_sum((void *)rsdp, 20), 0);
	if (g_boot.mb == 2)
		mb2_tags(rsdp);
	struct acpi_hdr *rsdt = (struct acpi_hdr *)(uptr) * (u32 *)(rsdp + 16);
	if (!check("RSDT signature", rsdt && !memcmp(rsdt->sig, "RSDT", 4)))
		finish();
	check_map("RSDT", rsdt, rsdt->length);
	walk(rsdt, 4, "RSDT");
	if (rev >= 2) {
		u32 len = *(u32 *)(rsdp + 20);
		check_eq("RSDP length 36", len, 36);
		check_eq("RSDP extended checksum", acpi_sum((void *)rsdp, 36), 0);
		struct acpi_hdr *x = (struct acpi_hdr *)(uptr) * (u64 *)(rsdp + 24);
		if (check("XSDT signature", x && !memcmp(x->sig, "XSDT", 4))) {
			check_map("XSDT", x, x->length);
			walk(x, 8, "XSDT");
		}
	} else {
		check_strict("RSDP revision 2 with an XSDT", 0);
	}

	/* MADT */
	struct madt_info m;
	if (!check("MADT found", madt_parse(&m)))
		finish();
	u32 n = cpu_count();
	printf("MADT: %d local APIC(s), %d IOAPIC(s), %d override(s), %d LAPIC NMI(s); vCPUs %u\n",
	       m.nlapic, m.nioapic, m.niso, m.nlnmi, n);
	int enabled = 0, ids_ok = 1;
	for (int i = 0; i < m.nlapic && i < 16; i++) {
		printf("  lapic id %u flags 0x%x\n", m.lapic_id[i], m.lapic_flags[i]);
		if (m.lapic_flags[i] & 1) {
			enabled++;
			if (m.lapic_id[i] >= n)
				ids_ok = 0;
			for (int j = 0; j < i; j++)
				if (m.lapic_id[j] == m.lapic_id[i])
					ids_ok = 0;
		}
	}
	check_eq("MADT: enabled local APICs = vCPUs", enabled, n);
	check_eq_strict("MADT: no extra (disabled) local APICs", m.nlapic, n);
	check("MADT: local APIC IDs distinct, 0..n-1", ids_ok);
	check_eq("MADT: one IOAPIC", m.nioapic, 1);
	check_eq("MADT: IOAPIC at 0xFEC00000", m.ioapic_addr, 0xFEC00000);
	check_eq("MADT: IOAPIC GSI base 0", m.ioapic_gsi_base, 0);
	if (is_keel())
		check_eq("keel: MADT IOAPIC id 0", m.ioapic_id, 0);
	for (int i = 0; i < m.niso && i < 16; i++)
		printf("  override IRQ %u -> GSI %u flags 0x%x\n", m.iso_src[i], m.iso_gsi[i],
		       m.iso_flags[i]);
	u16 fl;
	check_eq("MADT: override IRQ0 -> GSI 2", isa_irq_gsi(&m, 0, &fl), 2);
	check_eq("MADT: IRQ9 -> GSI 9", isa_irq_gsi(&m, 9, &fl), 9);
	check_eq("MADT: IRQ9 level-triggered", (fl >> 2) & 3, 3);
	check_eq_strict("MADT: IRQ9 active low", fl & 3, 3);
	check("MADT: a local APIC NMI entry (LINT1)", m.nlnmi >= 1);

	/* FADT */
	struct pm_ports p;
	u8 *f = (u8 *)acpi_table("FACP", 0);
	if (!check("FADT found", f && pm_ports(&p)))
		finish();
	printf("FADT: PM1a_EVT 0x%x PM1a_CNT 0x%x PM_TMR 0x%x SCI %u, %s-bit timer, century %u\n",
	       p.evt, p.cnt, p.tmr, p.sci, p.tmr32 ? "32" : "24", f[FADT_CENTURY]);
	check("FADT: PM timer block set", p.tmr != 0);
	check_eq("FADT: PM timer length 4", f[FADT_PM_TMR_LEN], 4);
	check("FADT: PM1a event and control blocks set", p.evt && p.cnt);
	check_eq("FADT: PM1 event length 4", f[FADT_PM1_EVT_LEN], 4);
	check_eq("FADT: SCI on IRQ 9", p.sci, 9);
	if (is_keel()) {
		check_eq("keel: PM_TMR 0x608", p.tmr, 0x608);
		check_eq("keel: PM1a_EVT 0x600", p.evt, 0x600);
		check_eq("keel: PM1a_CNT 0x604", p.cnt, 0x604);
		check_eq("keel: 24-bit PM timer", p.tmr32, 0);
		check("keel: century register set", f[FADT_CENTURY] != 0);
	}
	struct acpi_hdr *d = (struct acpi_hdr *)(uptr) * (u32 *)(f + FADT_DSDT);
	int typ = d ? s5_slp_typ(d) : -1;
	check("DSDT has an _S5_ package", typ >= 0 && typ < 8);
	if (is_keel())
		check_eq("keel: _S5 SLP_TYP 0", typ, 0);
	printf("done: %d failure(s)\n", g_fails);
	if (g_fails || cmd_has("no_poweroff") || typ < 0 || typ >= 8)
		guest_exit(g_fails > 100 ? 100 : g_fails);
	printf("powering off: PM1a_CNT 0x%x <- 0x%x\n", p.cnt, (u32)(typ << 10) | PM1_SLP_EN);
	outw(p.cnt, (u16)((typ << 10) | PM1_SLP_EN));
	tsc_delay_us(100000);
	fail("power off through PM1a_CNT returned");
	guest_exit(1);
}
