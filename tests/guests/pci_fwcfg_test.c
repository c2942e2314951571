/* pci_fwcfg_test: PCI configuration mechanism #1 (PCI Local Bus 3.0, 3.2.2.3.2) and QEMU's
 * fw_cfg I/O interface (QEMU docs/specs/fw_cfg.rst).
 * PCI: CONFIG_ADDRESS at 0xCF8 reads back as written; a scan of bus 0 (functions 1-7 only of
 * multi-function devices) finds 00:00.0 8086:1237 (class 0x0600 host bridge) and 00:01.0
 * 8086:7000 (class 0x0601 ISA bridge) - under Keel exactly these two, on QEMU at least them;
 * word/byte reads at every offset agree with the dword; absent functions read all-ones at every
 * width; bus 1 is empty. fw_cfg: signature "QEMU" (key 0x00), id (key 0x01) bit 0, CPU count
 * (key 0x05, 16-bit) = vCPUs (ncpus=<n>, else CPUID.1:EBX[23:16]), an unknown key reads 0,
 * reading past the end of an item reads 0. */
#include "pc.h"

const char guest_name[] = GUEST_NAME;

static int widths_agree(int dev, int fn)
{
	for (int off = 0; off < 0x40; off += 4) {
		u32 d = pci_cfg_read32(0, dev, fn, off);
		for (int b = 0; b < 4; b++)
			if (pci_cfg_read8(0, dev, fn, off + b) != (u8)(d >> (8 * b)))
				return 0;
		for (int w = 0; w < 4; w += 2)
			if (pci_cfg_read16(0, dev, fn, off + w) != (u16)(d >> (8 * w)))
				return 0;
	}
	return 1;
}

static void pci(void)
{
	outl(0xCF8, 0x80001234u & ~3u);
	check_eq("CONFIG_ADDRESS 0xCF8 reads back", inl(0xCF8), 0x80001234u & ~3u);
	int found_host = 0, found_isa = 0, others = 0;
	for (int dev = 0; dev < 32; dev++) {
		int nfn = 1;
		for (int fn = 0; fn < nfn; fn++) {
			u32 id = pci_cfg_read32(0, dev, fn, 0);
			if ((id & 0xFFFF) == 0xFFFF)
				continue;
			u32 cls = pci_cfg_read32(0, dev, fn, 8) >> 16;
			u8 hdr = pci_cfg_read8(0, dev, fn, 0x0E);
			if (fn == 0 && (hdr & 0x80))
				nfn = 8;
			printf("pci 00:%02x.%u %04x:%04x class 0x%04x header 0x%x\n", dev, fn, id & 0xFFFF,
			       id >> 16, cls, hdr);
			if (dev == 0 && fn == 0 && id == 0x12378086u && cls == 0x0600)
				found_host++;
			else if (dev == 1 && fn == 0 && id == 0x70008086u && cls == 0x0601)
				found_isa++;
			else
				others++;
		}
	}
	check_eq("pci 00:00.0 8086:1237 host bridge (class 0x0600)", found_host, 1);
	check_eq("pci 00:01.0 8086:7000 ISA bridge (class 0x0601)", found_isa, 1);
	if (is_keel())
		check_eq("keel: no other PCI function on bus 0", others, 0);
	else
		printf("info %d other function(s) on bus 0 (bare machine)\n", others);
	check("byte/word reads agree with dword reads (00:00.0)", widths_agree(0, 0));
	check("byte/word reads agree with dword reads (00:01.0)", widths_agree(1, 0));
	check_eq("absent 00:1f.7 dword all-ones", pci_cfg_read32(0, 31, 7, 0), 0xFFFFFFFF);
	check_eq("absent 00:1f.7 word all-ones", pci_cfg_read16(0, 31, 7, 2), 0xFFFF);
	check_eq("absent 00:1f.7 byte all-ones", pci_cfg_read8(0, 31, 7, 3), 0xFF);
	int bus1 = 0;
	for (int dev = 0; dev < 32; dev++)
		bus1 += (pci_cfg_read32(1, dev, 0, 0) & 0xFFFF) != 0xFFFF;
	check_eq("bus 1 empty", bus1, 0);
	/* without the enable bit, 0xCFC is not a config access (PC: reads all-ones) */
	outl(0xCF8, 0x00000000);
	check_eq_strict("0xCFC with CONFIG_ADDRESS.enable = 0 reads all-ones", inl(0xCFC),
			0xFFFFFFFF);
}

static void fwcfg(void)
{
	char sig[5] = { 0 };
	fw_cfg_read(0x00, sig, 4);
	check("fw_cfg signature \"QEMU\"", !memcmp(sig, "QEMU", 4));
	u32 id = 0;
	fw_cfg_read(0x01, &id, 4);
	printf("fw_cfg id 0x%x\n", id);
	check("fw_cfg id bit 0 (traditional interface)", id & 1);
	u16 ncpu = 0;
	fw_cfg_read(0x05, &ncpu, 2);
	printf("fw_cfg nb_cpus %u\n", ncpu);
	check_eq("fw_cfg key 0x05 CPU count = vCPUs", ncpu, cpu_count());
	u8 junk[8];
	fw_cfg_read(0x7ABC, junk, 8);
	u64 v;
	memcpy(&v, junk, 8);
	check_eq("fw_cfg unknown key 0x7abc reads 0", v, 0);
	fw_cfg_read(0x00, junk, 8); /* signature is 4 bytes: the rest reads 0 */
	check_eq("fw_cfg read past the end of an item gives 0", junk[4] | junk[5] | junk[6] | junk[7],
		 0);
	u32 files = 0;
	fw_cfg_read(0x19, &files, 4);
	files = __builtin_bswap32(files);
	printf("fw_cfg file directory: %u file(s)\n", files);
	check("fw_cfg file directory readable (count < 4096)", files < 4096);
}

void guest_main(void)
{
	uart_init_8n1();
	printf("pci_fwcfg_test: %s, %u vCPU(s)\n", is_keel() ? "under Keel" : "no Keel", cpu_count());
	pci();
	fwcfg();
	finish();
}
