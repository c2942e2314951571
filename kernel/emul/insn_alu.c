/* Arithmetic and logic with RFLAGS exactly as the hardware computes them (SDM vol. 1 3.4.3,
 * vol. 2 per instruction). Sizes are in bytes (1, 2, 4, 8). */
#include "kernel/emul/insn_alu.h"

uint64_t alu_mask(unsigned size)
{
    return size >= 8 ? ~0ull : (1ull << (8 * size)) - 1;
}

static uint64_t sign_bit(uint64_t v, unsigned size)
{
    return (v >> (8 * size - 1)) & 1;
}

/* ZF, SF and PF from a result; the caller supplies CF, OF and AF. */
static uint64_t szp(uint64_t r, unsigned size)
{
    uint64_t fl = 0;
    uint8_t p = (uint8_t)r;
    p ^= p >> 4;
    p ^= p >> 2;
    p ^= p >> 1;
    if (!(p & 1))
        fl |= RFL_PF;
    if (!(r & alu_mask(size)))
        fl |= RFL_ZF;
    if (sign_bit(r, size))
        fl |= RFL_SF;
    return fl;
}

static void set_flags(uint64_t *rflags, uint64_t which, uint64_t val)
{
    *rflags = (*rflags & ~which) | (val & which);
}

/* a + b + cin (sub: a - b - cin) with all six status flags; keep_cf for INC/DEC. */
static uint64_t addsub(uint64_t a, uint64_t b, unsigned cin, bool sub, unsigned size,
                       uint64_t *rflags, bool keep_cf)
{
    uint64_t m = alu_mask(size), r, fl;
    a &= m;
    b &= m;
    r = (sub ? a - b - cin : a + b + cin) & m;
    bool cf = sub ? (a < b || (cin && a == b)) : (r < a || (cin && r == a));
    bool of = sub ? sign_bit((a ^ b) & (a ^ r), size) : sign_bit((a ^ r) & (b ^ r), size);
    fl = szp(r, size) | (cf ? RFL_CF : 0) | (of ? RFL_OF : 0) | ((a ^ b ^ r) & RFL_AF);
    set_flags(rflags, keep_cf ? RFL_ARITH & ~RFL_CF : RFL_ARITH, fl);
    return r;
}

uint64_t alu_op(enum alu_op op, uint64_t a, uint64_t b, unsigned size, uint64_t *rflags)
{
    uint64_t m = alu_mask(size), r;
    unsigned cf = (*rflags & RFL_CF) ? 1 : 0;
    switch (op) {
    case ALU_ADD: return addsub(a, b, 0, false, size, rflags, false);
    case ALU_ADC: return addsub(a, b, cf, false, size, rflags, false);
    case ALU_SBB: return addsub(a, b, cf, true, size, rflags, false);
    case ALU_SUB:
    case ALU_CMP: return addsub(a, b, 0, true, size, rflags, false);
    case ALU_INC: return addsub(a, 1, 0, false, size, rflags, true);
    case ALU_DEC: return addsub(a, 1, 0, true, size, rflags, true);
    case ALU_NEG: return addsub(0, a, 0, true, size, rflags, false);
    case ALU_NOT: return ~a & m;
    case ALU_OR: r = (a | b) & m; break;
    case ALU_XOR: r = (a ^ b) & m; break;
    default: r = a & b & m; break;    /* AND, TEST */
    }
    /* Logic: CF = OF = 0; AF is undefined, and both vendors clear it. */
    set_flags(rflags, RFL_ARITH, szp(r, size));
    return r;
}
