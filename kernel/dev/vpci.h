/* PCI configuration mechanism #1 (PCI Local Bus 3.0 section 3.2.2.3.2) of a Keel VM: the
 * CONFIG_ADDRESS register at 0xCF8 and the CONFIG_DATA window at 0xCFC-0xCFF, with the two
 * functions of an i440FX/PIIX3 PC as QEMU's `pc` machine shows them:
 *   00:00.0 i440FX host bridge 8086:1237, class 06 00 00, revision 02
 *   00:01.0 PIIX3 ISA bridge   8086:7000, class 06 01 00, header type 00
 * The PIIX3 has header type 0x80 on QEMU because its IDE/USB/ACPI functions 1-3 exist; Keel has
 * none, so function 0 says single-function and a scan does not look for them.
 * Every other bus/device/function reads all-ones and ignores writes (master abort).
 * Registers are writable only where the parts have them (command bits, latency timer, the
 * 440FX PAM/SMRAM registers, the PIIX3 PIRQ routing and other ISA-bridge control bytes); they
 * are storage only and change nothing else in the VM. Status bits are write-1-to-clear and
 * never set, BARs do not exist (read 0, so a sizing probe finds none).
 *
 * Pure: no side effects. */
#ifndef KERNEL_DEV_VPCI_H
#define KERNEL_DEV_VPCI_H

#include <stdint.h>
#include <stdbool.h>

#define PCI_CONFIG_ADDRESS  0xCF8
#define PCI_CONFIG_DATA     0xCFC
#define PCI_CFG_ENABLE      (1u << 31)
#define PCI_CFG_ADDR_MASK   0x80FFFFFCu     /* bits 30:24 and 1:0 are reserved, read 0 */

#define VPCI_NFUNCS         2               /* 00:00.0 and 00:01.0 */
#define VPCI_CFG_SIZE       256

struct vpci {
    uint32_t addr;                          /* CONFIG_ADDRESS */
    uint8_t cfg[VPCI_NFUNCS][VPCI_CFG_SIZE];
};

void vpci_reset(struct vpci *p);
/* Port accesses at 0xCF8-0xCFF, size 1, 2 or 4. CONFIG_ADDRESS is a dword register: other
 * sizes at 0xCF8-0xCFB are not it (read all-ones, ignored; 0xCF9 is the reset control register,
 * which the caller dispatches before this). */
uint32_t vpci_read(struct vpci *p, uint16_t port, unsigned size);
void vpci_write(struct vpci *p, uint16_t port, unsigned size, uint32_t val);

/* Configuration space byte access by bus/device/function/register (the ports use these). */
uint8_t vpci_cfg_read8(const struct vpci *p, unsigned bus, unsigned dev, unsigned fn,
                       unsigned reg);
void vpci_cfg_write8(struct vpci *p, unsigned bus, unsigned dev, unsigned fn, unsigned reg,
                     uint8_t val);

#endif
