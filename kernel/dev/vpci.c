#include "kernel/dev/vpci.h"

/* Type 0 header offsets (PCI 3.0 section 6.1). */
#define PCI_VENDOR_ID       0x00
#define PCI_DEVICE_ID       0x02
#define PCI_COMMAND         0x04
#define PCI_STATUS          0x06
#define PCI_REVISION        0x08
#define PCI_CLASS_PROG      0x09
#define PCI_CLASS_SUB       0x0A
#define PCI_CLASS_BASE      0x0B
#define PCI_LATENCY         0x0D
#define PCI_HEADER_TYPE     0x0E

#define PCI_STATUS_DEVSEL_MEDIUM 0x0200
#define PCI_STATUS_FAST_B2B 0x0080
#define PCI_STATUS_W1C      0xF900          /* parity, aborts, SERR: write 1 to clear */
#define PCI_CMD_RW          0x0147          /* I/O, memory, master, parity, SERR enables */

#define VENDOR_INTEL        0x8086
#define DEV_I440FX          0x1237
#define DEV_PIIX3_ISA       0x7000

/* i440FX (290549 datasheet): PAM0-6 and SMRAM. */
#define I440FX_PAM0         0x59
#define I440FX_PAM6         0x5F
#define I440FX_SMRAM        0x72
#define I440FX_SMRAM_RESET  0x02
/* PIIX3 (290550 datasheet): ISA recovery timer, XBCS, PIRQ route control A-D, TOM, MSTAT,
 * motherboard IRQ routes, DMA routes, APIC base, DLC. PIRQ routes reset to 0x80 (disabled). */
#define PIIX_IORT           0x4C
#define PIIX_XBCS           0x4E
#define PIIX_PIRQRC         0x60
#define PIIX_TOM            0x69
#define PIIX_MSTAT          0x6A
#define PIIX_MBIRQ0         0x70
#define PIIX_MBDMA0         0x76
#define PIIX_APICBASE       0x80
#define PIIX_DLC            0x82

static void put16(uint8_t *c, unsigned off, uint16_t v)
{
    c[off] = (uint8_t)v;
    c[off + 1] = (uint8_t)(v >> 8);
}

static void ident(uint8_t *c, uint16_t dev, uint8_t rev, uint8_t base, uint8_t sub)
{
    put16(c, PCI_VENDOR_ID, VENDOR_INTEL);
    put16(c, PCI_DEVICE_ID, dev);
    c[PCI_REVISION] = rev;
    c[PCI_CLASS_SUB] = sub;
    c[PCI_CLASS_BASE] = base;
}

void vpci_reset(struct vpci *p)
{
    p->addr = 0;
    for (unsigned f = 0; f < VPCI_NFUNCS; f++)
        for (unsigned i = 0; i < VPCI_CFG_SIZE; i++)
            p->cfg[f][i] = 0;
    uint8_t *hb = p->cfg[0], *isa = p->cfg[1];
    ident(hb, DEV_I440FX, 0x02, 0x06, 0x00);
    put16(hb, PCI_COMMAND, 0x0006);
    put16(hb, PCI_STATUS, PCI_STATUS_DEVSEL_MEDIUM | PCI_STATUS_FAST_B2B);
    hb[I440FX_SMRAM] = I440FX_SMRAM_RESET;
    ident(isa, DEV_PIIX3_ISA, 0x00, 0x06, 0x01);
    put16(isa, PCI_COMMAND, 0x0007);
    put16(isa, PCI_STATUS, PCI_STATUS_DEVSEL_MEDIUM);
    isa[PIIX_IORT] = 0x4D;
    isa[PIIX_XBCS] = 0x03;
    for (unsigned i = 0; i < 4; i++)
        isa[PIIX_PIRQRC + i] = 0x80;
    isa[PIIX_TOM] = 0x02;
    isa[PIIX_MSTAT] = 0x00;
    isa[PIIX_MBIRQ0] = isa[PIIX_MBIRQ0 + 1] = 0x80;
    isa[PIIX_MBDMA0] = isa[PIIX_MBDMA0 + 1] = 0x0C;
}

/* Which bits of byte `reg` of function f the guest may write (status is handled apart). */
static uint8_t wmask(unsigned f, unsigned reg)
{
    if (reg == PCI_COMMAND || reg == PCI_COMMAND + 1)
        return (uint8_t)(PCI_CMD_RW >> 8 * (reg - PCI_COMMAND));
    if (reg == PCI_LATENCY)
        return f == 0 ? 0xF8 : 0;
    if (f == 0) {
        if (reg >= I440FX_PAM0 && reg <= I440FX_PAM6)
            return 0x33;
        return reg == I440FX_SMRAM ? 0x78 : 0;
    }
    switch (reg) {
    case PIIX_IORT: case PIIX_XBCS: case PIIX_TOM: case PIIX_MSTAT: case PIIX_APICBASE:
        return 0xFF;
    case PIIX_XBCS + 1: case PIIX_MSTAT + 1: case PIIX_DLC:
        return 0x0F;
    case PIIX_PIRQRC: case PIIX_PIRQRC + 1: case PIIX_PIRQRC + 2: case PIIX_PIRQRC + 3:
    case PIIX_MBIRQ0: case PIIX_MBIRQ0 + 1:
        return 0x8F;
    case PIIX_MBDMA0: case PIIX_MBDMA0 + 1:
        return 0x87;
    default:
        return 0;
    }
}

static int func_index(unsigned bus, unsigned dev, unsigned fn)
{
    return bus == 0 && fn == 0 && dev < VPCI_NFUNCS ? (int)dev : -1;
}

uint8_t vpci_cfg_read8(const struct vpci *p, unsigned bus, unsigned dev, unsigned fn,
                       unsigned reg)
{
    int f = func_index(bus, dev, fn);
    return f < 0 || reg >= VPCI_CFG_SIZE ? 0xFF : p->cfg[f][reg];
}

void vpci_cfg_write8(struct vpci *p, unsigned bus, unsigned dev, unsigned fn, unsigned reg,
                     uint8_t val)
{
    int f = func_index(bus, dev, fn);
    if (f < 0 || reg >= VPCI_CFG_SIZE)
        return;
    uint8_t *c = &p->cfg[f][reg];
    if (reg == PCI_STATUS || reg == PCI_STATUS + 1) {
        *c &= (uint8_t)~(val & (uint8_t)(PCI_STATUS_W1C >> 8 * (reg - PCI_STATUS)));
        return;
    }
    uint8_t m = wmask((unsigned)f, reg);
    *c = (uint8_t)((*c & ~m) | (val & m));
}

/* The bytes of a data-window access: CONFIG_ADDRESS selects the dword, the port its bytes. */
static bool data_target(const struct vpci *p, uint16_t port, unsigned *bus, unsigned *dev,
                        unsigned *fn, unsigned *reg)
{
    if (!(p->addr & PCI_CFG_ENABLE))
        return false;
    *bus = p->addr >> 16 & 0xFF;
    *dev = p->addr >> 11 & 0x1F;
    *fn = p->addr >> 8 & 7;
    *reg = (p->addr & 0xFC) + (port - PCI_CONFIG_DATA);
    return true;
}

static uint32_t ones(unsigned size)
{
    return size >= 4 ? 0xFFFFFFFFu : (1u << 8 * size) - 1;
}

uint32_t vpci_read(struct vpci *p, uint16_t port, unsigned size)
{
    if (size > 4)
        size = 4;
    if (port == PCI_CONFIG_ADDRESS && size == 4)
        return p->addr;
    unsigned bus, dev, fn, reg;
    if (port < PCI_CONFIG_DATA || port + size > PCI_CONFIG_DATA + 4 ||
        !data_target(p, port, &bus, &dev, &fn, &reg))
        return ones(size);
    uint32_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint32_t)vpci_cfg_read8(p, bus, dev, fn, reg + i) << 8 * i;
    return v;
}

void vpci_write(struct vpci *p, uint16_t port, unsigned size, uint32_t val)
{
    if (port == PCI_CONFIG_ADDRESS && size == 4) {
        p->addr = val & PCI_CFG_ADDR_MASK;
        return;
    }
    unsigned bus, dev, fn, reg;
    if (size > 4 || port < PCI_CONFIG_DATA || port + size > PCI_CONFIG_DATA + 4 ||
        !data_target(p, port, &bus, &dev, &fn, &reg))
        return;
    for (unsigned i = 0; i < size; i++)
        vpci_cfg_write8(p, bus, dev, fn, reg + i, (uint8_t)(val >> 8 * i));
}
