#include "kernel/virt/guest_mem.h"
#include "kernel/virt/vendor.h"
#include "kernel/virt/vm.h"
#include "kernel/x86.h"

#define PTE_P       (1ul << 0)
#define PTE_PS      (1ul << 7)
#define ADDR_MASK   0x000FFFFFFFFFF000ul
#define CR4_PSE     (1ul << 4)

static bool entry(struct vcpu *v, uint64_t gpa, unsigned size, uint64_t *e)
{
    *e = 0;
    return gpa_read(&v->vm->mem, gpa, e, size) && (*e & PTE_P);
}

/* Linear -> guest-physical, or false when a level is not present. */
static bool translate(struct vcpu *v, uint64_t la, uint64_t *gpa)
{
    uint64_t cr0 = vendor->get_reg(v, VREG_CR0), cr3 = vendor->get_reg(v, VREG_CR3);
    uint64_t cr4 = vendor->get_reg(v, VREG_CR4), efer = vendor->get_reg(v, VREG_EFER), e;
    if (!(cr0 & CR0_PG)) {
        *gpa = la & 0xFFFFFFFFul;
        return true;
    }
    if (!(cr4 & CR4_PAE)) {                                     /* 32-bit paging */
        la &= 0xFFFFFFFFul;
        if (!entry(v, (cr3 & 0xFFFFF000ul) + (la >> 22) * 4, 4, &e))
            return false;
        if ((e & PTE_PS) && (cr4 & CR4_PSE)) {
            *gpa = (e & 0xFFC00000ul) | (la & 0x3FFFFF);
            return true;
        }
        if (!entry(v, (e & 0xFFFFF000ul) + ((la >> 12) & 1023) * 4, 4, &e))
            return false;
        *gpa = (e & 0xFFFFF000ul) | (la & 0xFFF);
        return true;
    }
    int level;
    uint64_t table;
    if (efer & EFER_LMA) {
        level = 4;
        table = cr3 & ADDR_MASK;
    } else {                                                    /* PAE: the PDPTE first */
        la &= 0xFFFFFFFFul;
        if (!entry(v, (cr3 & 0xFFFFFFE0ul) + (la >> 30) * 8, 8, &e))
            return false;
        level = 2;
        table = e & ADDR_MASK;
    }
    for (; level >= 1; level--) {
        unsigned shift = 12 + 9 * (unsigned)(level - 1);
        if (!entry(v, table + ((la >> shift) & 511) * 8, 8, &e))
            return false;
        if (level == 1 || ((e & PTE_PS) && level <= 3)) {
            uint64_t page = (1ul << shift) - 1;
            *gpa = ((e & ADDR_MASK) & ~page) | (la & page);
            return true;
        }
        table = e & ADDR_MASK;
    }
    return false;
}

int vcpu_read_linear(struct vcpu *v, uint64_t la, void *buf, unsigned len)
{
    uint8_t *p = buf;
    while (len) {
        unsigned n = 4096 - (unsigned)(la & 4095);
        uint64_t gpa;
        if (n > len)
            n = len;
        if (!translate(v, la, &gpa) || !gpa_read(&v->vm->mem, gpa, p, n))
            return -1;
        p += n;
        la += n;
        len -= n;
    }
    return 0;
}

/* The instruction may end before a page that is not mapped: the bytes of the first page are
 * enough then, and the rest of buf is zero. */
int vcpu_fetch_insn(struct vcpu *v, uint8_t *buf, unsigned len)
{
    if (len > INSN_MAX_LEN)
        len = INSN_MAX_LEN;
    for (unsigned i = 0; i < len; i++)
        buf[i] = 0;
    uint64_t la = vendor->get_reg(v, VREG_CS_BASE) + vendor->get_reg(v, VREG_RIP);
    if (!(vendor->get_reg(v, VREG_EFER) & EFER_LMA) ||
        !(vendor->get_reg(v, VREG_CS_ATTR) & (1u << 13)))      /* not 64-bit code: 32-bit EIP */
        la &= 0xFFFFFFFFul;
    unsigned first = 4096 - (unsigned)(la & 4095);
    if (first >= len)
        return vcpu_read_linear(v, la, buf, len);
    if (vcpu_read_linear(v, la, buf, first) != 0)
        return -1;
    vcpu_read_linear(v, la + first, buf + first, len - first);
    return 0;
}
