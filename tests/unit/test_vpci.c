/* kernel/dev/vpci.c: PCI configuration mechanism #1 (PCI 3.0 3.2.2.3.2) and the two functions
 * of an i440FX/PIIX3 PC. Expectations: the 440FX (290549) and PIIX3 (290550) datasheets' IDs,
 * class codes and reset values as QEMU shows them, all-ones for absent functions, read-only
 * IDs, a scan like Linux's pci_scan_slot finding exactly two functions. */
#include "check.h"
#include "kernel/dev/vpci.h"

static struct vpci P;

static uint32_t cfg_addr(unsigned bus, unsigned dev, unsigned fn, unsigned reg)
{
    return PCI_CFG_ENABLE | bus << 16 | dev << 11 | fn << 8 | (reg & 0xFC);
}

static uint32_t rd(unsigned bus, unsigned dev, unsigned fn, unsigned reg, unsigned size)
{
    vpci_write(&P, PCI_CONFIG_ADDRESS, 4, cfg_addr(bus, dev, fn, reg));
    return vpci_read(&P, (uint16_t)(PCI_CONFIG_DATA + (reg & 3)), size);
}

static void wr(unsigned bus, unsigned dev, unsigned fn, unsigned reg, unsigned size, uint32_t v)
{
    vpci_write(&P, PCI_CONFIG_ADDRESS, 4, cfg_addr(bus, dev, fn, reg));
    vpci_write(&P, (uint16_t)(PCI_CONFIG_DATA + (reg & 3)), size, v);
}

static void test_address_register(void)
{
    vpci_reset(&P);
    CHECK_EQ_U64(vpci_read(&P, PCI_CONFIG_ADDRESS, 4), 0);
    /* Linux's pci_check_type1: write 0x80000000, read it back. */
    vpci_write(&P, PCI_CONFIG_ADDRESS, 4, 0x80000000u);
    CHECK_EQ_U64(vpci_read(&P, PCI_CONFIG_ADDRESS, 4), 0x80000000u);
    /* Reserved bits 30:24 and 1:0 read 0. */
    vpci_write(&P, PCI_CONFIG_ADDRESS, 4, 0xFFFFFFFFu);
    CHECK_EQ_U64(vpci_read(&P, PCI_CONFIG_ADDRESS, 4), 0x80FFFFFCu);
    /* Byte and word accesses to 0xCF8-0xCFB are not CONFIG_ADDRESS. */
    vpci_write(&P, PCI_CONFIG_ADDRESS, 1, 0);
    vpci_write(&P, PCI_CONFIG_ADDRESS + 2, 2, 0);
    CHECK_EQ_U64(vpci_read(&P, PCI_CONFIG_ADDRESS, 4), 0x80FFFFFCu);
    CHECK_EQ_U64(vpci_read(&P, PCI_CONFIG_ADDRESS, 1), 0xFF);
    CHECK_EQ_U64(vpci_read(&P, PCI_CONFIG_ADDRESS + 1, 2), 0xFFFF);
    /* With the enable bit clear, the data window reads all-ones even for 00:00.0. */
    vpci_write(&P, PCI_CONFIG_ADDRESS, 4, 0);
    CHECK_EQ_U64(vpci_read(&P, PCI_CONFIG_DATA, 4), 0xFFFFFFFFu);
    vpci_write(&P, PCI_CONFIG_DATA, 2, 0);
    CHECK_EQ_U64(rd(0, 0, 0, 4, 2), 0x0006);
}

static void test_identity(void)
{
    vpci_reset(&P);
    CHECK_EQ_U64(rd(0, 0, 0, 0, 4), 0x12378086u);
    CHECK_EQ_U64(rd(0, 0, 0, 8, 4), 0x06000002u);       /* class 060000, revision 02 */
    CHECK_EQ_U64(rd(0, 0, 0, 0x0E, 1), 0x00);
    CHECK_EQ_U64(rd(0, 0, 0, 6, 2), 0x0280);
    CHECK_EQ_U64(rd(0, 1, 0, 0, 4), 0x70008086u);
    CHECK_EQ_U64(rd(0, 1, 0, 8, 4), 0x06010000u);       /* class 060100 */
    CHECK_EQ_U64(rd(0, 1, 0, 0x0E, 1), 0x00);           /* single function */
    CHECK_EQ_U64(rd(0, 1, 0, 0x60, 4), 0x80808080u);    /* PIRQ routing disabled */
    /* Byte and word reads at every offset agree with the dword. */
    uint32_t d = rd(0, 1, 0, 0, 4);
    for (unsigned i = 0; i < 4; i++)
        CHECK_EQ_U64(rd(0, 1, 0, i, 1), d >> 8 * i & 0xFF);
    CHECK_EQ_U64(rd(0, 1, 0, 2, 2), d >> 16);
    /* No BARs, no capabilities. */
    for (unsigned r = 0x10; r < 0x28; r += 4) {
        wr(0, 0, 0, r, 4, 0xFFFFFFFFu);
        CHECK_EQ_U64(rd(0, 0, 0, r, 4), 0);
    }
    CHECK_EQ_U64(rd(0, 0, 0, 0x34, 1), 0);
}

static void test_scan(void)
{
    vpci_reset(&P);
    unsigned found = 0;
    for (unsigned bus = 0; bus < 256; bus++)
        for (unsigned dev = 0; dev < 32; dev++) {
            if ((rd(bus, dev, 0, 0, 4) & 0xFFFF) == 0xFFFF)
                continue;
            found++;
            unsigned nfn = rd(bus, dev, 0, 0x0E, 1) & 0x80 ? 8 : 1;
            for (unsigned fn = 1; fn < nfn; fn++)
                found += (rd(bus, dev, fn, 0, 2) != 0xFFFF);
        }
    CHECK_EQ_U64(found, 2);
    /* Functions 1-7 of the existing devices are absent, and writes there change nothing. */
    for (unsigned fn = 1; fn < 8; fn++) {
        wr(0, 1, fn, 4, 2, 0xFFFF);
        CHECK_EQ_U64(rd(0, 1, fn, 0, 4), 0xFFFFFFFFu);
        CHECK_EQ_U64(rd(0, 0, fn, 0, 4), 0xFFFFFFFFu);
    }
    CHECK_EQ_U64(rd(1, 0, 0, 0, 4), 0xFFFFFFFFu);
    CHECK_EQ_U64(rd(0, 2, 0, 0, 4), 0xFFFFFFFFu);
}

static void test_writes(void)
{
    vpci_reset(&P);
    /* IDs, class and header type are read-only. */
    wr(0, 0, 0, 0, 4, 0);
    wr(0, 0, 0, 8, 4, 0);
    wr(0, 0, 0, 0x0C, 4, 0xFFFFFFFFu);
    CHECK_EQ_U64(rd(0, 0, 0, 0, 4), 0x12378086u);
    CHECK_EQ_U64(rd(0, 0, 0, 8, 4), 0x06000002u);
    CHECK_EQ_U64(rd(0, 0, 0, 0x0C, 4), 0x0000F800u);    /* latency timer bits 7:3 */
    /* Command: the enables stick, the rest does not. */
    wr(0, 0, 0, 4, 2, 0xFFFF);
    CHECK_EQ_U64(rd(0, 0, 0, 4, 2), 0x0147);
    wr(0, 0, 0, 4, 2, 0);
    CHECK_EQ_U64(rd(0, 0, 0, 4, 2), 0);
    /* Status: write-1-to-clear; the fixed bits stay. */
    wr(0, 0, 0, 6, 2, 0xFFFF);
    CHECK_EQ_U64(rd(0, 0, 0, 6, 2), 0x0280);
    /* A dword write to command+status. */
    wr(0, 1, 0, 4, 4, 0xFFFF0003u);
    CHECK_EQ_U64(rd(0, 1, 0, 4, 4), 0x02000003u);
    /* PAM registers and PIRQ routes are writable, within their defined bits. */
    wr(0, 0, 0, 0x59, 1, 0xFF);
    CHECK_EQ_U64(rd(0, 0, 0, 0x59, 1), 0x33);
    wr(0, 1, 0, 0x60, 4, 0x0B0A0B0Au);
    CHECK_EQ_U64(rd(0, 1, 0, 0x60, 4), 0x0B0A0B0Au);
    wr(0, 1, 0, 0x61, 1, 0xFF);
    CHECK_EQ_U64(rd(0, 1, 0, 0x60, 4), 0x0B0A8F0Au);
    /* Unimplemented registers stay 0. */
    wr(0, 1, 0, 0xF0, 4, 0xFFFFFFFFu);
    CHECK_EQ_U64(rd(0, 1, 0, 0xF0, 4), 0);
    /* Accesses that would cross the data window are refused. */
    vpci_write(&P, PCI_CONFIG_ADDRESS, 4, cfg_addr(0, 1, 0, 0x60));
    CHECK_EQ_U64(vpci_read(&P, PCI_CONFIG_DATA + 2, 4), 0xFFFFFFFFu);
    vpci_write(&P, PCI_CONFIG_DATA + 3, 2, 0);
    CHECK_EQ_U64(rd(0, 1, 0, 0x60, 4), 0x0B0A8F0Au);
}

int main(void)
{
    RUN(test_address_register);
    RUN(test_identity);
    RUN(test_scan);
    RUN(test_writes);
    return check_summary("vpci");
}
