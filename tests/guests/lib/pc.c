/* PC platform helpers for the issue-8 test guests (see pc.h). */
#include "pc.h"

u8 acpi_sum(const void *p, u32 len)
{
	const u8 *b = p;
	u8 s = 0;
	for (u32 i = 0; i < len; i++)
		s = (u8)(s + b[i]);
	return s;
}

static uptr rsdp_scan(uptr from, uptr to)
{
	for (uptr a = from; a + 20 <= to; a += 16)
		if (!memcmp((const void *)a, "RSD PTR ", 8) && !acpi_sum((const void *)a, 20))
			return a;
	return 0;
}

uptr acpi_find_rsdp(void)
{
	/* ACPI 5.2.5.1: the first KiB of the EBDA, then 0xE0000-0xFFFFF */
	uptr bda = 0x40E; /* BDA word: EBDA segment */
	__asm__("" : "+r"(bda)); /* an absolute address, not an object gcc can bound-check */
	uptr ebda = (uptr)*(volatile u16 *)bda << 4;
	uptr r = 0;
	if (ebda >= 0x80000 && ebda < 0xA0000)
		r = rsdp_scan(ebda, ebda + 1024);
	return r ? r : rsdp_scan(0xE0000, 0x100000);
}

struct acpi_hdr *acpi_table(const char *sig, int use_xsdt)
{
	uptr rsdp = acpi_find_rsdp();
	if (!rsdp)
		return 0;
	u8 rev = *(u8 *)(rsdp + 15);
	struct acpi_hdr *root;
	int esz = 4;
	if (use_xsdt) {
		if (rev < 2)
			return 0;
		root = (struct acpi_hdr *)(uptr) * (u64 *)(rsdp + 24);
		esz = 8;
	} else {
		root = (struct acpi_hdr *)(uptr) * (u32 *)(rsdp + 16);
	}
	if (!root)
		return 0;
	u32 n = (root->length - sizeof(*root)) / esz;
	u8 *ents = (u8 *)(root + 1);
	for (u32 i = 0; i < n; i++) {
		uptr a = esz == 8 ? (uptr) * (u64 *)(ents + 8 * i) : *(u32 *)(ents + 4 * i);
		struct acpi_hdr *h = (struct acpi_hdr *)a;
		if (h && !memcmp(h->sig, sig, 4))
			return h;
	}
	return 0;
}

int pm_ports(struct pm_ports *p)
{
	memset(p, 0, sizeof(*p));
	u8 *f = (u8 *)acpi_table("FACP", 0);
	if (!f)
		return 0;
	p->evt = (u16) * (u32 *)(f + FADT_PM1A_EVT);
	p->cnt = (u16) * (u32 *)(f + FADT_PM1A_CNT);
	p->tmr = (u16) * (u32 *)(f + FADT_PM_TMR);
	p->sci = *(u16 *)(f + FADT_SCI_INT);
	p->smi_cmd = *(u32 *)(f + FADT_SMI_CMD);
	p->smi_cmd_en = f[FADT_ACPI_ENABLE];
	p->tmr32 = !!(*(u32 *)(f + FADT_FLAGS) & FADT_TMR_VAL_EXT);
	return 1;
}

int acpi_enable(const struct pm_ports *p)
{
	if (inw(p->cnt) & PM1_SCI_EN)
		return 1;
	if (p->smi_cmd && p->smi_cmd_en) {
		outb((u16)p->smi_cmd, p->smi_cmd_en);
		for (int i = 0; i < 1000000 && !(inw(p->cnt) & PM1_SCI_EN); i++)
			cpu_relax();
	} else {
		outw(p->cnt, (u16)(inw(p->cnt) | PM1_SCI_EN));
	}
	return !!(inw(p->cnt) & PM1_SCI_EN);
}

int madt_parse(struct madt_info *m)
{
	memset(m, 0, sizeof(*m));
	struct acpi_hdr *h = acpi_table("APIC", 0);
	if (!h)
		return 0;
	u8 *p = (u8 *)h + 44, *end = (u8 *)h + h->length;
	while (p + 2 <= end && p[1] >= 2) {
		switch (p[0]) {
		case 0: /* processor local APIC */
			if (m->nlapic < 16) {
				m->lapic_id[m->nlapic] = p[3];
				m->lapic_flags[m->nlapic] = *(u32 *)(p + 4);
			}
			m->nlapic++;
			break;
		case 1: /* I/O APIC */
			if (!m->nioapic++) {
				m->ioapic_id = p[2];
				m->ioapic_addr = *(u32 *)(p + 4);
				m->ioapic_gsi_base = *(u32 *)(p + 8);
			}
			break;
		case 2: /* interrupt source override */
			if (m->niso < 16) {
				m->iso_src[m->niso] = p[3];
				m->iso_gsi[m->niso] = *(u32 *)(p + 4);
				m->iso_flags[m->niso] = *(u16 *)(p + 8);
			}
			m->niso++;
			break;
		case 4: /* local APIC NMI */
			m->nlnmi++;
			break;
		}
		p += p[1];
	}
	return 1;
}

u32 isa_irq_gsi(const struct madt_info *m, u8 irq, u16 *flags)
{
	if (flags)
		*flags = 0;
	for (int i = 0; i < m->niso && i < 16; i++)
		if (m->iso_src[i] == irq) {
			if (flags)
				*flags = m->iso_flags[i];
			return m->iso_gsi[i];
		}
	return irq;
}

uptr ioapic_base = IOAPIC_BASE_DEFAULT;

u32 ioapic_read(u32 reg)
{
	*(volatile u32 *)ioapic_base = reg;
	return *(volatile u32 *)(ioapic_base + 0x10);
}

void ioapic_write(u32 reg, u32 v)
{
	*(volatile u32 *)ioapic_base = reg;
	*(volatile u32 *)(ioapic_base + 0x10) = v;
}

void ioapic_set_rte(int pin, u32 lo, u8 dest)
{
	ioapic_write(IOAPIC_REDTBL(pin), RTE_MASKED);
	ioapic_write(IOAPIC_REDTBL(pin) + 1, (u32)dest << 24);
	ioapic_write(IOAPIC_REDTBL(pin), lo);
}

u32 ioapic_rte_lo(int pin) { return ioapic_read(IOAPIC_REDTBL(pin)); }

void ioapic_mask_all(void)
{
	u32 n = ((ioapic_read(IOAPIC_VER) >> 16) & 0xFF) + 1;
	for (u32 i = 0; i < n && i < 64; i++)
		ioapic_write(IOAPIC_REDTBL(i), RTE_MASKED);
}

void pic_init(u8 base1, u8 base2, int auto_eoi)
{
	u8 icw4 = (u8)(0x01 | (auto_eoi ? 0x02 : 0)); /* 8086 mode (+ AEOI) */
	outb(PIC1, 0x11);     /* ICW1: edge, cascade, ICW4 needed */
	outb(PIC1 + 1, base1); /* ICW2 */
	outb(PIC1 + 1, 0x04); /* ICW3: slave on IR2 */
	outb(PIC1 + 1, icw4);
	outb(PIC2, 0x11);
	outb(PIC2 + 1, base2);
	outb(PIC2 + 1, 0x02); /* ICW3: slave ID 2 */
	outb(PIC2 + 1, icw4);
	outb(PIC1 + 1, 0xFF);
	outb(PIC2 + 1, 0xFF);
}

u8 pic_read_irr(u16 pic) { outb(pic, 0x0A); return inb(pic); }
u8 pic_read_isr(u16 pic) { outb(pic, 0x0B); return inb(pic); }

void pic_eoi(int irq)
{
	if (irq >= 8)
		outb(PIC2, 0x20);
	outb(PIC1, 0x20);
}

u8 cmos_read(u8 reg)
{
	outb(0x70, reg);
	return inb(0x71);
}

void cmos_write(u8 reg, u8 v)
{
	outb(0x70, reg);
	outb(0x71, v);
}

static void pci_addr(int bus, int dev, int fn, int off)
{
	outl(0xCF8, 0x80000000u | (u32)bus << 16 | (u32)dev << 11 | (u32)fn << 8 | (off & 0xFC));
}

u32 pci_cfg_read32(int bus, int dev, int fn, int off)
{
	pci_addr(bus, dev, fn, off);
	return inl(0xCFC);
}

u16 pci_cfg_read16(int bus, int dev, int fn, int off)
{
	pci_addr(bus, dev, fn, off);
	return inw((u16)(0xCFC + (off & 2)));
}

u8 pci_cfg_read8(int bus, int dev, int fn, int off)
{
	pci_addr(bus, dev, fn, off);
	return inb((u16)(0xCFC + (off & 3)));
}

void fw_cfg_read(u16 key, void *buf, u32 len)
{
	outw(FW_CFG_SEL, key);
	u8 *b = buf;
	for (u32 i = 0; i < len; i++)
		b[i] = inb(FW_CFG_DATA);
}

static int g_keel = -1;
int is_keel(void)
{
	if (g_keel < 0)
		g_keel = cpu_is_keel();
	return g_keel;
}

static u32 pm_read(const struct pm_ports *p) { return inl(p->tmr) & (p->tmr32 ? ~0u : 0xFFFFFFu); }

static u32 g_khz;
u32 pc_tsc_khz(void)
{
	if (g_khz)
		return g_khz;
	u32 k = 0;
	struct pm_ports p;
	if (!keel_freqs(&k, NULL) && pm_ports(&p) && p.tmr) {
		/* 50 ms of PM timer, each end bracketed tightly by the TSC */
		u32 mask = p.tmr32 ? ~0u : 0xFFFFFFu, want = PM_TMR_HZ / 20;
		u64 t0 = rdtsc();
		u32 c0 = pm_read(&p), c;
		u64 t0b = rdtsc();
		u32 spins = 0;
		do
			c = pm_read(&p);
		while (((c - c0) & mask) < want && ++spins < 50000000u);
		u64 t1 = rdtsc();
		u64 dt = t1 - (t0 + (t0b - t0) / 2);
		if ((c - c0) & mask) /* else a stuck timer: fall back to the PIT */
			k = (u32)udiv64(udiv64(dt * PM_TMR_HZ, (c - c0) & mask, NULL), 1000, NULL);
	}
	if (!k)
		k = tsc_khz();
	g_khz = k;
	return k;
}

u64 ms_ticks(u32 ms) { return (u64)pc_tsc_khz() * ms; }

int check_strict(const char *what, int cond)
{
	if (cond || is_keel())
		return check(what, cond);
	printf("gap %s (strict under Keel)\n", what);
	return 0;
}

int check_eq_strict(const char *what, u64 got, u64 want)
{
	if (got == want || is_keel())
		return check_eq(what, got, want);
	printf("gap %s: got 0x%llx want 0x%llx (strict under Keel)\n", what,
	       (unsigned long long)got, (unsigned long long)want);
	return 0;
}

static volatile u32 g_spurious;
static void spurious_handler(int v)
{
	(void)v;
	g_spurious++; /* a spurious interrupt needs no EOI (SDM 11.9) */
}

void pc_apic_setup(void)
{
	pic_mask_all();
	apic_use_xapic();
	irq_set_handler(0xFF, spurious_handler);
	apic_sw_enable(0xFF);
	apic_write(APIC_TPR, 0);
}

u32 isa_rte(const struct madt_info *m, u8 irq, u8 vec, int *pin)
{
	u16 fl;
	u32 gsi = isa_irq_gsi(m, irq, &fl);
	u32 lo = vec;
	/* MPS INTI flags: polarity 1:0 (0 = bus default = high for ISA, 3 = low),
	 * trigger 3:2 (0 = bus default = edge for ISA, 3 = level) */
	if ((fl & 3) == 3)
		lo |= RTE_LOW;
	if (((fl >> 2) & 3) == 3)
		lo |= RTE_LEVEL;
	if (pin)
		*pin = (int)(gsi - m->ioapic_gsi_base);
	return lo;
}

void pc_madt(struct madt_info *m)
{
	if (madt_parse(m) && m->nioapic && m->ioapic_addr)
		ioapic_base = m->ioapic_addr;
	if (!m->nioapic) { /* no MADT: the PC defaults */
		m->ioapic_addr = IOAPIC_BASE_DEFAULT;
		m->niso = 1;
		m->iso_src[0] = 0;
		m->iso_gsi[0] = 2;
	}
}
