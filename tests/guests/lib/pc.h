/* PC platform helpers for the issue-8 test guests: ACPI table walk (ACPI 6.x ch. 5), IOAPIC
 * (82093AA datasheet), 8259 PIC pair, PM timer, CMOS/RTC, PCI config mechanism #1, fw_cfg. */
#ifndef KEEL_GUEST_PC_H
#define KEEL_GUEST_PC_H

#include "apic.h"

/* ---- ACPI ---- */
struct acpi_hdr {
	char sig[4];
	u32 length;
	u8 revision, checksum;
	char oem_id[6], oem_table_id[8];
	u32 oem_rev, creator_id, creator_rev;
} __attribute__((packed));

u8 acpi_sum(const void *p, u32 len);          /* byte sum: 0 for a valid table */
uptr acpi_find_rsdp(void);                     /* 0xE0000-0xFFFFF and EBDA scan; 0 if none */
/* i-th table with signature sig reachable from the RSDT (or XSDT if use_xsdt), 0 if none */
struct acpi_hdr *acpi_table(const char *sig, int use_xsdt);
/* FADT fields we use (ACPI 6.4 Table 5.9 offsets) */
#define FADT_FACS      36
#define FADT_DSDT      40
#define FADT_SCI_INT   46
#define FADT_SMI_CMD   48
#define FADT_ACPI_ENABLE 52
#define FADT_PM1A_EVT  56
#define FADT_PM1A_CNT  64
#define FADT_PM_TMR    76
#define FADT_PM1_EVT_LEN 88
#define FADT_PM1_CNT_LEN 89
#define FADT_PM_TMR_LEN 91
#define FADT_CENTURY   108
#define FADT_FLAGS     112
#define FADT_TMR_VAL_EXT (1u << 8)
/* PM1 registers (ACPI 4.8.3) */
#define PM1_TMR_STS  (1u << 0)
#define PM1_TMR_EN   (1u << 0)
#define PM1_SCI_EN   (1u << 0)
#define PM1_SLP_EN   (1u << 13)
#define PM_TMR_HZ    3579545u

struct pm_ports { u16 evt, cnt, tmr; u16 sci; u8 smi_cmd_en; u32 smi_cmd; int tmr32; };
/* ports from the FADT (0 if no FADT); falls back to nothing */
int pm_ports(struct pm_ports *p);
/* enable ACPI mode (SCI_EN) the way an OS does: SMI_CMD <- ACPI_ENABLE if SCI_EN is clear */
int acpi_enable(const struct pm_ports *p);

/* MADT */
struct madt_info {
	int nlapic;
	u8 lapic_id[16];
	u32 lapic_flags[16];
	int nioapic;
	u8 ioapic_id;
	u32 ioapic_addr, ioapic_gsi_base;
	int niso;
	u8 iso_src[16];
	u32 iso_gsi[16];
	u16 iso_flags[16];
	int nlnmi;
};
int madt_parse(struct madt_info *m);  /* 0 if no MADT */
/* GSI of ISA IRQ irq, with flags (polarity/trigger, MPS INTI flags) */
u32 isa_irq_gsi(const struct madt_info *m, u8 irq, u16 *flags);

/* ---- IOAPIC ---- */
#define IOAPIC_BASE_DEFAULT 0xFEC00000u
#define IOAPIC_ID     0x00
#define IOAPIC_VER    0x01
#define IOAPIC_ARB    0x02
#define IOAPIC_REDTBL(n) (0x10 + 2 * (n))
#define IOAPIC_EOI_OFF 0x40 /* version 0x20: write the vector to end a level interrupt */
#define RTE_MASKED    (1u << 16)
#define RTE_LEVEL     (1u << 15)
#define RTE_REMOTE_IRR (1u << 14)
#define RTE_LOW       (1u << 13)
#define RTE_PENDING   (1u << 12)
#define RTE_LOGICAL   (1u << 11)
extern uptr ioapic_base;
u32 ioapic_read(u32 reg);
void ioapic_write(u32 reg, u32 v);
void ioapic_set_rte(int pin, u32 lo, u8 dest);
u32 ioapic_rte_lo(int pin);
void ioapic_mask_all(void);

/* ---- 8259 PIC pair ---- */
#define PIC1 0x20
#define PIC2 0xA0
#define ELCR1 0x4D0
#define ELCR2 0x4D1
void pic_init(u8 base1, u8 base2, int auto_eoi);
u8 pic_read_irr(u16 pic);
u8 pic_read_isr(u16 pic);
void pic_eoi(int irq);               /* non-specific EOI (slave too for irq >= 8) */

/* ---- CMOS/RTC ---- */
#define CMOS_NMI_DIS 0x80
u8 cmos_read(u8 reg);
void cmos_write(u8 reg, u8 v);

/* ---- PIT ---- */
#define PIT_CH0 0x40
#define PIT_CH2P 0x42
#define PIT_CMDP 0x43
#define PIT_FREQ 1193182u
#define PORTB 0x61

/* ---- PCI mechanism #1 ---- */
u32 pci_cfg_read32(int bus, int dev, int fn, int off);
u16 pci_cfg_read16(int bus, int dev, int fn, int off);
u8 pci_cfg_read8(int bus, int dev, int fn, int off);

/* ---- fw_cfg (QEMU docs/specs/fw_cfg.txt): selector 0x510 (16-bit), data 0x511 ---- */
#define FW_CFG_SEL 0x510
#define FW_CFG_DATA 0x511
void fw_cfg_read(u16 key, void *buf, u32 len);

/* ---- misc ---- */
/* TSC kHz: Keel's leaf, else calibrated against the ACPI PM timer (FADT), else PIT (lib) */
u32 pc_tsc_khz(void);
u64 ms_ticks(u32 ms);  /* TSC ticks in ms milliseconds */
/* strict: Keel's contract; on bare emulators a deviation prints `gap ...` (not counted) */
int check_strict(const char *what, int cond);
int check_eq_strict(const char *what, u64 got, u64 want);
int is_keel(void);



/* PIC masked, xAPIC on at the default base, software-enabled (spurious vector 0xFF), TPR 0 */
void pc_apic_setup(void);
/* MADT parsed (IOAPIC base taken from it; without MADT the PC defaults) */
void pc_madt(struct madt_info *m);
/* RTE low word (vector | polarity | trigger per the MADT override) of ISA IRQ irq; *pin = its
 * IOAPIC input */
u32 isa_rte(const struct madt_info *m, u8 irq, u8 vec, int *pin);
#endif
