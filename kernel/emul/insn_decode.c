/* x86 instruction decoder: prefixes, opcode maps (one-byte, 0F, 0F 38, 0F 3A, VEX, EVEX, XOP,
 * 3DNow!), ModRM/SIB, displacement and immediate, enough to know the length of any instruction
 * in any mode (SDM vol. 2 ch. 2 and appendix A; APM vol. 3 appendix A). */
#include "kernel/emul/insn_priv.h"

/* Per-opcode attributes: the immediate kind in the low bits, then flags. */
enum {
    I_NONE, I_B, I_W, I_Z, I_V, I_MOFFS, I_ENTER, I_FAR,
    I_MASK = 7,
    A_M = 0x08,     /* has a ModRM byte */
    A_NO64 = 0x10,  /* invalid in 64-bit mode */
    A_BAD = 0x20,   /* invalid in every mode */
    A_PFX = 0x40,   /* a legacy prefix */
};

#define ALU_ROW(x) [x] = A_M, [x + 1] = A_M, [x + 2] = A_M, [x + 3] = A_M, [x + 4] = I_B, \
                   [x + 5] = I_Z

static const uint8_t op1[256] = {
    ALU_ROW(0x00), [0x06] = A_NO64, [0x07] = A_NO64, ALU_ROW(0x08), [0x0e] = A_NO64,
    ALU_ROW(0x10), [0x16] = A_NO64, [0x17] = A_NO64, ALU_ROW(0x18), [0x1e] = A_NO64,
    [0x1f] = A_NO64, ALU_ROW(0x20), [0x26] = A_PFX, [0x27] = A_NO64, ALU_ROW(0x28),
    [0x2e] = A_PFX, [0x2f] = A_NO64, ALU_ROW(0x30), [0x36] = A_PFX, [0x37] = A_NO64,
    ALU_ROW(0x38), [0x3e] = A_PFX, [0x3f] = A_NO64,
    [0x60] = A_NO64, [0x61] = A_NO64, [0x62] = A_M | A_NO64, [0x63] = A_M,
    [0x64 ... 0x67] = A_PFX, [0x68] = I_Z, [0x69] = A_M | I_Z, [0x6a] = I_B, [0x6b] = A_M | I_B,
    [0x70 ... 0x7f] = I_B,
    [0x80] = A_M | I_B, [0x81] = A_M | I_Z, [0x82] = A_M | I_B | A_NO64, [0x83] = A_M | I_B,
    [0x84 ... 0x8f] = A_M, [0x9a] = I_FAR | A_NO64,
    [0xa0 ... 0xa3] = I_MOFFS, [0xa8] = I_B, [0xa9] = I_Z,
    [0xb0 ... 0xb7] = I_B, [0xb8 ... 0xbf] = I_V,
    [0xc0] = A_M | I_B, [0xc1] = A_M | I_B, [0xc2] = I_W, [0xc4] = A_M | A_NO64,
    [0xc5] = A_M | A_NO64, [0xc6] = A_M | I_B, [0xc7] = A_M | I_Z, [0xc8] = I_ENTER,
    [0xca] = I_W, [0xcd] = I_B, [0xce] = A_NO64,
    [0xd0 ... 0xd3] = A_M, [0xd4] = I_B | A_NO64, [0xd5] = I_B | A_NO64, [0xd6] = A_NO64,
    [0xd8 ... 0xdf] = A_M,
    [0xe0 ... 0xe7] = I_B, [0xe8] = I_Z, [0xe9] = I_Z, [0xea] = I_FAR | A_NO64, [0xeb] = I_B,
    [0xf0] = A_PFX, [0xf2] = A_PFX, [0xf3] = A_PFX, [0xf6 ... 0xf7] = A_M, [0xfe ... 0xff] = A_M,
};

static const uint8_t op2[256] = {
    [0x00 ... 0x03] = A_M, [0x04] = A_BAD, [0x0a] = A_BAD, [0x0c] = A_BAD, [0x0d] = A_M,
    [0x0f] = A_M | I_B, [0x10 ... 0x1f] = A_M, [0x20 ... 0x23] = A_M, [0x24 ... 0x27] = A_BAD,
    [0x28 ... 0x2f] = A_M, [0x36] = A_BAD, [0x39] = A_BAD, [0x3b ... 0x3f] = A_BAD,
    [0x40 ... 0x6f] = A_M, [0x70 ... 0x73] = A_M | I_B, [0x74 ... 0x76] = A_M,
    [0x78 ... 0x79] = A_M, [0x7a ... 0x7b] = A_BAD, [0x7c ... 0x7f] = A_M,
    [0x80 ... 0x8f] = I_Z, [0x90 ... 0x9f] = A_M, [0xa3] = A_M, [0xa4] = A_M | I_B,
    [0xa5] = A_M, [0xa6 ... 0xa7] = A_BAD, [0xab] = A_M, [0xac] = A_M | I_B,
    [0xad ... 0xaf] = A_M, [0xb0 ... 0xb9] = A_M, [0xba] = A_M | I_B, [0xbb ... 0xc1] = A_M,
    [0xc2] = A_M | I_B, [0xc3] = A_M, [0xc4 ... 0xc6] = A_M | I_B, [0xc7] = A_M,
    [0xd0 ... 0xff] = A_M,
};

/* VEX/EVEX map 1 opcodes that take an imm8 (PSHUF*, shifts by immediate, CMPPS, PINSRW,
 * PEXTRW, SHUFPS). */
static bool vex_map1_imm(uint8_t op)
{
    return (op >= 0x70 && op <= 0x73) || op == 0xc2 || (op >= 0xc4 && op <= 0xc6);
}

struct cur {
    const uint8_t *b;
    unsigned n, pos;
};

static int take(struct cur *c, unsigned len, uint64_t *val)
{
    uint64_t v = 0;
    if (c->pos + len > INSN_MAX_LEN)
        return INSN_ERR_TOO_LONG;
    if (c->pos + len > c->n)
        return INSN_ERR_SHORT;
    for (unsigned i = 0; i < len; i++)
        v |= (uint64_t)c->b[c->pos + i] << (8 * i);
    c->pos += len;
    if (val)
        *val = v;
    return 0;
}

static int64_t sext(uint64_t v, unsigned bytes)
{
    unsigned sh = 64 - 8 * bytes;
    return bytes >= 8 ? (int64_t)v : (int64_t)(v << sh) >> sh;
}

/* ModRM, then SIB and displacement per the address size (SDM vol. 2 tables 2-1 to 2-3). */
static int modrm_rest(struct cur *c, enum emul_mode mode, struct insn *o, struct insn_x *x,
                      bool reg_only)
{
    uint64_t v;
    int r = take(c, 1, &v);
    if (r)
        return r;
    o->modrm = (uint8_t)v;
    o->has_modrm = true;
    unsigned mod = o->modrm >> 6, rm = o->modrm & 7, dlen = 0;
    if (mod == 3 || reg_only)
        return 0;
    if (o->addr_size == 2) {
        dlen = mod == 1 ? 1 : (mod == 2 || rm == 6) ? 2 : 0;
    } else {
        if (rm == 4) {
            if ((r = take(c, 1, &v)))
                return r;
            x->sib = (uint8_t)v;
            x->has_sib = true;
        }
        dlen = mod == 1 ? 1 : mod == 2 ? 4 : 0;
        if (mod == 0 && rm == 5) {
            dlen = 4;
            x->rip_rel = mode == EMUL_MODE_LONG64;
        }
        if (mod == 0 && x->has_sib && (x->sib & 7) == 5)
            dlen = 4;
    }
    if (dlen && (r = take(c, dlen, &v)))
        return r;
    x->disp = dlen ? sext(v, dlen) : 0;
    return 0;
}

/* VEX (C4/C5), EVEX (62) and XOP (8F) in 32/64-bit mode: the prefix bytes, the opcode,
 * ModRM and an imm8 where the map has one. */
static int decode_vex(struct cur *c, enum emul_mode mode, struct insn *o, struct insn_x *x,
                      uint8_t esc, bool p66)
{
    uint64_t p0, p1 = 0, p2 = 0, op;
    int r = take(c, 1, &p0);
    unsigned map = 1, len = esc == 0xc5 ? 1 : esc == 0x62 ? 3 : 2;
    if (r || (len > 1 && (r = take(c, 1, &p1))) || (len > 2 && (r = take(c, 1, &p2))))
        return r;
    if (o->rex || o->rep || o->lock || p66)
        return INSN_ERR_INVALID;    /* 66/F2/F3/F0/REX before VEX: #UD */
    if (esc != 0xc5)
        map = p0 & (esc == 0x62 ? 7 : 0x1f);
    if (esc == 0x62 && !(p1 & 4))
        return INSN_ERR_INVALID;
    if ((r = take(c, 1, &op)))
        return r;
    o->opcode = (uint8_t)op;
    o->two_byte = true;
    x->map = esc == 0x8f ? MAP_XOP : MAP_VEX;
    if (esc == 0x8f ? map < 8 || map > 10 : (map < 1 || map > 6 || map == 4 ||
                                             (esc != 0x62 && map > 3)))
        return INSN_ERR_INVALID;
    if (!(esc != 0x62 && map == 1 && op == 0x77) && (r = modrm_rest(c, mode, o, x, false)))
        return r;
    unsigned ilen = 0;
    if (esc == 0x8f)
        ilen = map == 8 ? 1 : map == 10 ? 4 : 0;
    else if (map == 3 || (map == 1 && vex_map1_imm((uint8_t)op)))
        ilen = 1;
    x->imm_len = (uint8_t)ilen;
    return ilen ? take(c, ilen, &x->imm) : 0;
}

int insn_decode_x(const uint8_t *bytes, unsigned n, enum emul_mode mode, struct insn *o,
                  struct insn_x *x)
{
    struct cur c = { bytes, n, 0 };
    bool l64 = mode == EMUL_MODE_LONG64, p66 = false, p67 = false;
    uint8_t b = 0;
    uint64_t v;
    int r;

    *o = (struct insn){ .seg = -1 };
    *x = (struct insn_x){ .map = MAP_1B };
    for (;;) {
        if ((r = take(&c, 1, &v)))
            return r;
        b = (uint8_t)v;
        if (l64 && (b & 0xf0) == 0x40) {
            o->rex = b;         /* counts only if the opcode follows directly */
            continue;
        }
        if (!(op1[b] & A_PFX))
            break;
        o->rex = 0;
        if (b == 0xf0)
            o->lock = true;
        else if (b == 0xf2 || b == 0xf3)
            o->rep = b;
        else if (b == 0x66)
            p66 = true;
        else if (b == 0x67)
            p67 = true;
        else if (b == 0x64 || b == 0x65)
            o->seg = b == 0x64 ? SEG_FS : SEG_GS;
        else if (!l64)          /* 64-bit mode ignores ES/CS/SS/DS overrides */
            o->seg = (int8_t)((b >> 3) & 3);
    }
    bool d16 = mode == EMUL_MODE_REAL || mode == EMUL_MODE_PROT16;
    o->op_size = (o->rex & 8) ? 8 : (d16 ^ p66) ? 2 : 4;
    o->addr_size = l64 ? (p67 ? 4 : 8) : (d16 ^ p67) ? 2 : 4;
    o->opcode = b;

    uint8_t attr = op1[b];
    bool reg_only = false;
    if (b == 0xc4 || b == 0xc5 || b == 0x62 || b == 0x8f) {
        /* VEX/EVEX/XOP, or LES/LDS/BOUND/POP r/m: 64-bit mode, or ModRM.mod == 11 (which
         * the legacy forms cannot encode) outside it; XOP if the map field is >= 8. */
        if (c.pos >= c.n)
            return c.pos >= INSN_MAX_LEN ? INSN_ERR_TOO_LONG : INSN_ERR_SHORT;
        uint8_t nx = bytes[c.pos];
        bool esc = b == 0x8f ? (nx & 0x1f) >= 8 : l64 || (nx >> 6) == 3;
        if (esc) {
            if (mode == EMUL_MODE_REAL)
                return INSN_ERR_INVALID;    /* #UD in real mode (and LES/LDS reg is #UD) */
            r = decode_vex(&c, mode, o, x, b, p66);
            return r ? r : (o->len = (uint8_t)c.pos, (int)c.pos);
        }
        if (b == 0x8f && (nx & 0x38))
            return INSN_ERR_INVALID;
    } else if (b == 0x0f) {
        if ((r = take(&c, 1, &v)))
            return r;
        o->two_byte = true;
        o->opcode = b = (uint8_t)v;
        x->map = MAP_0F;
        attr = op2[b];
        if (b == 0x38 || b == 0x3a) {
            if ((r = take(&c, 1, &v)))
                return r;
            x->map = b == 0x38 ? MAP_0F38 : MAP_0F3A;
            o->opcode = (uint8_t)v;
            attr = b == 0x38 ? A_M : A_M | I_B;
        } else if (b == 0x0f) {
            x->map = MAP_3DNOW;     /* 0F 0F ModRM imm8: the imm8 is the real opcode */
        } else if (b == 0x78 && (p66 || o->rep == 0xf2)) {
            attr = A_M | I_W;       /* AMD SSE4a EXTRQ/INSERTQ xmm, imm8, imm8 */
        }
        reg_only = b >= 0x20 && b <= 0x23;  /* MOV CR/DR ignore ModRM.mod */
    }
    if ((attr & A_BAD) || (l64 && (attr & A_NO64)))
        return INSN_ERR_INVALID;
    if ((attr & A_M) && (r = modrm_rest(&c, mode, o, x, reg_only)))
        return r;

    unsigned reg = (o->modrm >> 3) & 7, ilen = 0, z = o->op_size == 2 ? 2 : 4;
    if (x->map == MAP_1B) {
        if ((b == 0xf6 || b == 0xf7) && reg < 2)
            attr |= b == 0xf6 ? I_B : I_Z;
        if ((b == 0xfe && reg > 1) || (b == 0xff && reg == 7))
            return INSN_ERR_INVALID;
        /* Near branches are 32-bit in 64-bit mode whatever 66 says (Intel; AMD honours 66). */
        if (l64 && (b == 0xe8 || b == 0xe9))
            z = 4;
    } else if (x->map == MAP_0F && l64 && b >= 0x80 && b <= 0x8f) {
        z = 4;
    }
    switch (attr & I_MASK) {
    case I_B: ilen = 1; break;
    case I_W: ilen = 2; break;
    case I_Z: ilen = z; break;
    case I_V: ilen = o->op_size; break;
    case I_MOFFS: ilen = o->addr_size; break;
    case I_ENTER: ilen = 3; break;
    case I_FAR: ilen = z + 2; break;
    }
    x->imm_len = (uint8_t)ilen;
    if (ilen && (r = take(&c, ilen, &x->imm)))
        return r;
    o->len = (uint8_t)c.pos;
    return (int)c.pos;
}

int insn_decode(const uint8_t *bytes, unsigned n, enum emul_mode mode, struct insn *out)
{
    struct insn tmp;
    struct insn_x x;
    struct insn *o = out ? out : &tmp;
    int r = insn_decode_x(bytes, n, mode, o, &x);
    if (r < 0)
        return -1;
    for (int i = 0; i < r; i++)
        o->bytes[i] = bytes[i];
    return r;
}
