/* libFuzzer target for PCI configuration mechanism #1 (kernel/dev/vpci.c): CONFIG_ADDRESS writes
 * (biased towards bus 0 and the two devices) and data-window reads and writes of every size at
 * every port. Invariants: reserved address bits read 0, absent functions read all-ones and
 * writes to them or with the enable bit clear change nothing, identification bytes, header
 * type, BARs and the capability pointer never change, status bits are only ever cleared, and a
 * read of the window equals the bytes the config space holds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/dev/vpci.h"

#define ASSERT(c) do { if (!(c)) { fprintf(stderr, "invariant failed: %s\n", #c); abort(); } } while (0)

static void check_fixed(const struct vpci *p, const struct vpci *r)
{
    ASSERT((p->addr & ~PCI_CFG_ADDR_MASK) == 0);
    for (unsigned f = 0; f < VPCI_NFUNCS; f++) {
        ASSERT(memcmp(p->cfg[f], r->cfg[f], 4) == 0);              /* vendor, device */
        ASSERT(memcmp(p->cfg[f] + 8, r->cfg[f] + 8, 4) == 0);      /* revision, class */
        ASSERT(p->cfg[f][0x0E] == r->cfg[f][0x0E]);
        ASSERT(memcmp(p->cfg[f] + 0x10, r->cfg[f] + 0x10, 0x30) == 0);  /* BARs .. caps */
        ASSERT((p->cfg[f][6] & ~r->cfg[f][6]) == 0 && (p->cfg[f][7] & ~r->cfg[f][7]) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct vpci p, ref, before;
    vpci_reset(&p);
    vpci_reset(&ref);
    while (size) {
        uint8_t op = *data++;
        size--;
        uint32_t v = 0;
        for (unsigned i = 0; i < 4 && size; i++, data++, size--)
            v |= (uint32_t)*data << 8 * i;
        unsigned sz = 1u << (op >> 1 & 3);          /* 1, 2, 4, 8 */
        uint16_t port = (uint16_t)(PCI_CONFIG_ADDRESS + (op >> 3 & 7));
        switch (op & 1) {
        case 0:
            if (op & 0x40) {                        /* a likely address */
                v = (v & 0xFF000FFC) | (v >> 12 & 1) << 11;
                if (op & 0x80)
                    v &= 0x80FFF8FC;
            }
            if (op & 0x80) {
                port = PCI_CONFIG_ADDRESS;
                sz = 4;
            }
            before = p;
            vpci_write(&p, port, sz, v);
            if (port != PCI_CONFIG_ADDRESS || sz != 4) {
                ASSERT(p.addr == before.addr);
                unsigned bus = p.addr >> 16 & 0xFF, dev = p.addr >> 11 & 0x1F;
                unsigned fn = p.addr >> 8 & 7;
                bool present = bus == 0 && dev < 2 && fn == 0;
                if (!(p.addr & PCI_CFG_ENABLE) || !present || port < PCI_CONFIG_DATA)
                    ASSERT(memcmp(&p, &before, sizeof p) == 0);
            }
            break;
        default: {
            uint32_t r = vpci_read(&p, port, sz);
            unsigned n = sz > 4 ? 4 : sz;
            uint32_t ones = n == 4 ? 0xFFFFFFFFu : (1u << 8 * n) - 1;
            if (port == PCI_CONFIG_ADDRESS && n == 4) {
                ASSERT(r == p.addr);
                break;
            }
            unsigned bus = p.addr >> 16 & 0xFF, dev = p.addr >> 11 & 0x1F, fn = p.addr >> 8 & 7;
            if (port < PCI_CONFIG_DATA || port + n > PCI_CONFIG_DATA + 4 ||
                !(p.addr & PCI_CFG_ENABLE) || bus || dev >= 2 || fn) {
                ASSERT(r == ones);
                break;
            }
            unsigned reg = (p.addr & 0xFC) + (port - PCI_CONFIG_DATA);
            for (unsigned i = 0; i < n; i++)
                ASSERT((r >> 8 * i & 0xFF) == p.cfg[dev][reg + i]);
            break;
        }
        }
        check_fixed(&p, &ref);
    }
    return 0;
}
