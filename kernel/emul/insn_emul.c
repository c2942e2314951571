/* x86 instruction emulator: carries out the instructions listed in insn.h on a struct emul_cpu,
 * with memory through struct emul_ops (SDM vol. 2 per instruction, vol. 3 ch. 6 for faults). */
#include "kernel/emul/insn_priv.h"
#include "kernel/emul/insn_alu.h"

#define VEC_UD  6
#define VEC_SS  12
#define VEC_GP  13

/* REP string instructions stop after this many elements per call (an interrupt window). */
#define REP_BATCH 128

#define REX_W 8
#define REX_R 4
#define REX_X 2
#define REX_B 1

struct em {
    struct emul_cpu *cpu;
    const struct emul_ops *ops;
    void *ctx;
    struct emul_fault *f;
    struct insn *in;
    struct insn_x *x;
    uint64_t next_rip;
    bool rep_pending;       /* RIP stays: a REP instruction has elements left */
};

/* An operand: register number reg, or (reg < 0) memory at seg:ea. */
struct opnd {
    int reg;
    int seg;
    uint64_t ea;
    unsigned size;
};

static int fault(struct em *e, uint8_t vector, bool has_error)
{
    *e->f = (struct emul_fault){ .vector = vector, .has_error = has_error };
    return EMUL_FAULT;
}

static int64_t sext(uint64_t v, unsigned bytes)
{
    unsigned sh = 64 - 8 * bytes;
    if (!bytes)
        return 0;
    return bytes >= 8 ? (int64_t)v : (int64_t)(v << sh) >> sh;
}

static bool canonical(uint64_t a)
{
    return (uint64_t)(sext(a << 16, 8) >> 16) == a;
}

/* Without REX, byte registers 4-7 are AH, CH, DH, BH. */
static uint64_t reg_read(struct em *e, int r, unsigned size)
{
    uint64_t *g = e->cpu->gpr;
    if (size == 1 && !e->in->rex && r >= 4 && r < 8)
        return (g[r - 4] >> 8) & 0xff;
    return g[r] & alu_mask(size);
}

/* 32-bit writes zero-extend to 64 bits; 8- and 16-bit writes keep the rest. */
static void reg_write(struct em *e, int r, unsigned size, uint64_t v)
{
    uint64_t *g = e->cpu->gpr, m = alu_mask(size);
    if (size == 1 && !e->in->rex && r >= 4 && r < 8)
        g[r - 4] = (g[r - 4] & ~0xff00ull) | ((v & 0xff) << 8);
    else if (size == 4)
        g[r] = (uint32_t)v;
    else
        g[r] = (g[r] & ~m) | (v & m);
}

/* seg:ea to linear. 64-bit mode: only FS/GS have a base, and a non-canonical access is #GP(0),
 * or #SS(0) through SS. Elsewhere the linear address space is 32 bits. */
static int linear(struct em *e, int seg, uint64_t ea, unsigned len, uint64_t *la)
{
    struct emul_cpu *c = e->cpu;
    if (c->mode == EMUL_MODE_LONG64) {
        uint64_t a = ea + ((seg == SEG_FS || seg == SEG_GS) ? c->seg_base[seg] : 0);
        if (!canonical(a) || !canonical(a + len - 1))
            return fault(e, seg == SEG_SS ? VEC_SS : VEC_GP, true);
        *la = a;
    } else {
        *la = (c->seg_base[seg] + ea) & 0xffffffffull;
    }
    return EMUL_OK;
}

static int mem_read(struct em *e, int seg, uint64_t ea, unsigned size, uint64_t *v)
{
    uint8_t buf[8];
    uint64_t la;
    int r = linear(e, seg, ea, size, &la);
    if (r || (r = e->ops->read(e->ctx, la, buf, size, e->f)) != EMUL_OK)
        return r;
    *v = 0;
    for (unsigned i = 0; i < size; i++)
        *v |= (uint64_t)buf[i] << (8 * i);
    return EMUL_OK;
}

static int mem_write(struct em *e, int seg, uint64_t ea, unsigned size, uint64_t v)
{
    uint8_t buf[8];
    uint64_t la;
    int r = linear(e, seg, ea, size, &la);
    if (r)
        return r;
    for (unsigned i = 0; i < size; i++)
        buf[i] = (uint8_t)(v >> (8 * i));
    return e->ops->write(e->ctx, la, buf, size, e->f);
}

static int opnd_read(struct em *e, const struct opnd *o, uint64_t *v)
{
    if (o->reg >= 0) {
        *v = reg_read(e, o->reg, o->size);
        return EMUL_OK;
    }
    return mem_read(e, o->seg, o->ea, o->size, v);
}

static int opnd_write(struct em *e, const struct opnd *o, uint64_t v)
{
    if (o->reg >= 0) {
        reg_write(e, o->reg, o->size, v);
        return EMUL_OK;
    }
    return mem_write(e, o->seg, o->ea, o->size, v);
}

static struct opnd reg_opnd(int reg, unsigned size)
{
    return (struct opnd){ .reg = reg, .size = size };
}

/* The ModRM reg field as a register number (REX.R extends it). */
static int modrm_reg(struct em *e)
{
    return ((e->in->modrm >> 3) & 7) | ((e->in->rex & REX_R) ? 8 : 0);
}

/* The ModRM r/m operand: a register, or the effective address per SDM vol. 2 2.1.5 (16-bit
 * forms, SIB, RIP-relative) with its default segment (SS when based on BP/SP). */
static struct opnd rm_opnd(struct em *e, unsigned size)
{
    static const int8_t base16[8] = { 3, 3, 5, 5, 6, 7, 5, 3 };
    static const int8_t index16[8] = { 6, 7, 6, 7 };
    struct insn *in = e->in;
    struct insn_x *x = e->x;
    const uint64_t *g = e->cpu->gpr;
    unsigned mod = in->modrm >> 6, rm = in->modrm & 7;
    uint64_t ea = (uint64_t)x->disp;
    int seg = SEG_DS, base = -1;

    if (mod == 3)
        return reg_opnd((int)rm | ((in->rex & REX_B) ? 8 : 0), size);
    if (in->addr_size == 2) {
        if (mod != 0 || rm != 6)
            base = base16[rm];
        if (rm < 4)
            ea += g[index16[rm]];
    } else if (x->has_sib) {
        unsigned idx = ((x->sib >> 3) & 7) | ((in->rex & REX_X) ? 8 : 0);
        if (idx != 4)
            ea += g[idx] << (x->sib >> 6);
        if (mod != 0 || (x->sib & 7) != 5)
            base = (x->sib & 7) | ((in->rex & REX_B) ? 8 : 0);
    } else if (x->rip_rel) {
        ea += e->next_rip;
    } else if (mod != 0 || rm != 5) {
        base = (int)rm | ((in->rex & REX_B) ? 8 : 0);
    }
    if (base >= 0) {
        ea += g[base];
        if (base == 4 || base == 5)
            seg = SEG_SS;
    }
    return (struct opnd){ .reg = -1, .seg = in->seg >= 0 ? in->seg : seg,
                          .ea = ea & alu_mask(in->addr_size), .size = size };
}

/* LOCK is allowed only on the read-modify-write forms with a memory destination. */
static bool lock_bad(struct em *e, const struct opnd *dst, bool lockable)
{
    return e->in->lock && (!lockable || dst->reg >= 0);
}

/* dst = dst op src, with the flags committed only once the write succeeded. */
static int alu_apply(struct em *e, enum alu_op op, const struct opnd *d, uint64_t src)
{
    uint64_t a, fl = e->cpu->rflags, r;
    int rc = opnd_read(e, d, &a);
    if (rc)
        return rc;
    r = alu_op(op, a, src, d->size, &fl);
    if (op != ALU_CMP && op != ALU_TEST && (rc = opnd_write(e, d, r)))
        return rc;
    e->cpu->rflags = fl;
    return EMUL_OK;
}

/* 00-3F: op r/m,r (0/1), op r,r/m (2/3), op AL/eAX,imm (4/5). */
static int alu_form(struct em *e, enum alu_op op, unsigned form)
{
    unsigned size = (form & 1) ? e->in->op_size : 1;
    struct opnd d, s;
    uint64_t src;
    int rc;
    if (form >= 4) {
        d = reg_opnd(0, size);
        if (e->in->lock)
            return fault(e, VEC_UD, false);
        return alu_apply(e, op, &d, (uint64_t)sext(e->x->imm, e->x->imm_len));
    }
    d = rm_opnd(e, size);
    s = reg_opnd(modrm_reg(e), size);
    if (lock_bad(e, &d, form < 2 && op != ALU_CMP))
        return fault(e, VEC_UD, false);
    if (form >= 2) {
        struct opnd t = d;
        d = s;
        s = t;
    }
    if ((rc = opnd_read(e, &s, &src)))
        return rc;
    return alu_apply(e, op, &d, src);
}

/* F6/F7 /0-/3 (TEST imm, NOT, NEG), FE/FF /0-/1 (INC, DEC), 80-83 (ALU imm). */
static int group(struct em *e)
{
    uint8_t op = e->in->opcode;
    unsigned reg = (e->in->modrm >> 3) & 7, size = (op & 1) ? e->in->op_size : 1;
    struct opnd d;
    enum alu_op aop;
    uint64_t src = (uint64_t)sext(e->x->imm, e->x->imm_len);

    if (op >= 0x80 && op <= 0x83) {
        aop = (enum alu_op)reg;
    } else if (op >= 0xfe) {
        if (reg > 1)
            return EMUL_UNHANDLED;
        aop = reg ? ALU_DEC : ALU_INC;
    } else {
        static const uint8_t f6[4] = { ALU_TEST, ALU_TEST, ALU_NOT, ALU_NEG };
        if (reg > 3)
            return EMUL_UNHANDLED;
        aop = (enum alu_op)f6[reg];
    }
    d = rm_opnd(e, size);
    if (lock_bad(e, &d, aop != ALU_CMP && aop != ALU_TEST))
        return fault(e, VEC_UD, false);
    return alu_apply(e, aop, &d, src);
}

static int xchg(struct em *e)
{
    unsigned size = (e->in->opcode & 1) ? e->in->op_size : 1;
    struct opnd m = rm_opnd(e, size), r = reg_opnd(modrm_reg(e), size);
    uint64_t a, b;
    int rc;
    if (lock_bad(e, &m, true))
        return fault(e, VEC_UD, false);
    if ((rc = opnd_read(e, &m, &a)) || (rc = opnd_read(e, &r, &b)) ||
        (rc = opnd_write(e, &m, b)))
        return rc;
    return opnd_write(e, &r, a);
}

/* MOV forms; src_size < dst size means MOVZX (sign false) or MOVSX/MOVSXD (sign true). */
static int mov(struct em *e, const struct opnd *d, const struct opnd *s, bool sign)
{
    uint64_t v;
    int rc;
    if (e->in->lock)
        return fault(e, VEC_UD, false);
    if ((rc = opnd_read(e, s, &v)))
        return rc;
    if (sign)
        v = (uint64_t)sext(v, s->size);
    return opnd_write(e, d, v);
}

/* BT/BTS/BTR/BTC (kind 0-3): a register bit offset addresses memory beyond the operand, as a
 * signed bit string; an immediate one is taken modulo the operand size. */
static int bit_test(struct em *e, unsigned kind, bool imm)
{
    unsigned size = e->in->op_size, bits = size * 8, sh = size == 2 ? 4 : size == 4 ? 5 : 6;
    struct opnd d = rm_opnd(e, size);
    int64_t off = imm ? (int64_t)e->x->imm : sext(reg_read(e, modrm_reg(e), size), size);
    uint64_t v, bit, fl = e->cpu->rflags;
    int rc;
    if (lock_bad(e, &d, kind != 0))
        return fault(e, VEC_UD, false);
    if (!imm && d.reg < 0)
        d.ea = (d.ea + (uint64_t)((off >> sh) * (int64_t)size)) & alu_mask(e->in->addr_size);
    bit = 1ull << (off & (bits - 1));
    if ((rc = opnd_read(e, &d, &v)))
        return rc;
    fl = (v & bit) ? fl | RFL_CF : fl & ~RFL_CF;
    if (kind && (rc = opnd_write(e, &d, kind == 1 ? v | bit : kind == 2 ? v & ~bit : v ^ bit)))
        return rc;
    e->cpu->rflags = fl;
    return EMUL_OK;
}

enum str_kind { S_MOVS, S_CMPS, S_STOS, S_LODS, S_SCAS, S_INS, S_OUTS };

/* One element of a string instruction. */
static int string_elem(struct em *e, enum str_kind k, unsigned size)
{
    struct emul_cpu *c = e->cpu;
    unsigned as = e->in->addr_size;
    uint64_t m = alu_mask(as), si = c->gpr[6] & m, di = c->gpr[7] & m, a = 0, b = 0, fl;
    uint64_t step = (c->rflags & RFL_DF) ? (uint64_t)-(int64_t)size : size;
    int sseg = e->in->seg >= 0 ? e->in->seg : SEG_DS, rc = EMUL_OK;
    uint16_t port = (uint16_t)c->gpr[2];
    uint32_t pv = 0;

    switch (k) {
    case S_MOVS:
        if (!(rc = mem_read(e, sseg, si, size, &a)))
            rc = mem_write(e, SEG_ES, di, size, a);
        break;
    case S_CMPS:
        if (!(rc = mem_read(e, sseg, si, size, &a)))
            rc = mem_read(e, SEG_ES, di, size, &b);
        break;
    case S_STOS:
        rc = mem_write(e, SEG_ES, di, size, c->gpr[0]);
        break;
    case S_LODS:
        rc = mem_read(e, sseg, si, size, &a);
        break;
    case S_SCAS:
        a = c->gpr[0];
        rc = mem_read(e, SEG_ES, di, size, &b);
        break;
    case S_INS:
        /* The port is read before the memory write (a fault there loses the input). */
        if (!(rc = e->ops->pio_in(e->ctx, port, size, &pv, e->f)))
            rc = mem_write(e, SEG_ES, di, size, pv);
        break;
    case S_OUTS:
        if (!(rc = mem_read(e, sseg, si, size, &a)))
            rc = e->ops->pio_out(e->ctx, port, size, (uint32_t)a, e->f);
        break;
    }
    if (rc)
        return rc;
    if (k == S_CMPS || k == S_SCAS) {
        fl = c->rflags;
        alu_op(ALU_CMP, a, b, size, &fl);
        c->rflags = fl;
    }
    if (k == S_LODS)
        reg_write(e, 0, size, a);
    if (k == S_MOVS || k == S_CMPS || k == S_LODS || k == S_OUTS)
        reg_write(e, 6, as, si + step);
    if (k != S_LODS && k != S_OUTS)
        reg_write(e, 7, as, di + step);
    return EMUL_OK;
}

/* A4-A7, AA-AF, 6C-6F with or without REP: F3/F2 both repeat; CMPS/SCAS also stop on ZF
 * (REPE while equal, REPNE while not). RCX is masked by the address size. */
static int string_op(struct em *e, enum str_kind k)
{
    struct emul_cpu *c = e->cpu;
    uint8_t rep = e->in->rep;
    unsigned size = (e->in->opcode & 1) ? e->in->op_size : 1, as = e->in->addr_size;
    uint64_t m = alu_mask(as);
    int rc;

    if (e->in->lock)
        return fault(e, VEC_UD, false);
    if (k >= S_INS) {
        if (k == S_INS ? !e->ops->pio_in : !e->ops->pio_out)
            return EMUL_UNHANDLED;
        if (size > 4)
            size = 4;
    }
    for (unsigned i = 0; ; i++) {
        if (rep && !(c->gpr[1] & m))
            break;
        if (i == REP_BATCH) {
            e->rep_pending = true;
            break;
        }
        if ((rc = string_elem(e, k, size)))
            return rc;
        if (!rep)
            break;
        reg_write(e, 1, as, (c->gpr[1] & m) - 1);
        if ((k == S_CMPS || k == S_SCAS) &&
            (rep == 0xf3 ? !(c->rflags & RFL_ZF) : (c->rflags & RFL_ZF)))
            break;
    }
    return EMUL_OK;
}

static int exec_0f(struct em *e)
{
    uint8_t op = e->in->opcode;
    unsigned reg = (e->in->modrm >> 3) & 7;
    struct opnd d, s;

    switch (op) {
    case 0xb6: case 0xb7: case 0xbe: case 0xbf:
        d = reg_opnd(modrm_reg(e), e->in->op_size);
        s = rm_opnd(e, (op & 1) ? 2 : 1);
        return mov(e, &d, &s, op >= 0xbe);
    case 0xa3: case 0xab: case 0xb3: case 0xbb:
        return bit_test(e, (op >> 3) & 3, false);
    case 0xba:
        return reg >= 4 ? bit_test(e, reg - 4, true) : EMUL_UNHANDLED;
    }
    return EMUL_UNHANDLED;
}

static int exec_1b(struct em *e)
{
    struct insn *in = e->in;
    uint8_t op = in->opcode;
    unsigned os = in->op_size, size = (op & 1) ? os : 1;
    struct opnd d, s;

    if (op < 0x40 && (op & 7) < 6)
        return alu_form(e, (enum alu_op)(op >> 3), op & 7);
    if (op >= 0x40 && op <= 0x4f) {     /* INC/DEC r16/r32 outside 64-bit mode */
        d = reg_opnd(op & 7, os);
        return in->lock ? fault(e, VEC_UD, false)
                        : alu_apply(e, op < 0x48 ? ALU_INC : ALU_DEC, &d, 0);
    }
    if ((op >= 0x80 && op <= 0x83) || op == 0xf6 || op == 0xf7 || op == 0xfe || op == 0xff)
        return group(e);
    switch (op) {
    case 0x63:
        if (e->cpu->mode != EMUL_MODE_LONG64)
            return EMUL_UNHANDLED;      /* ARPL */
        d = reg_opnd(modrm_reg(e), os);
        s = rm_opnd(e, os == 8 ? 4 : os);
        return mov(e, &d, &s, os == 8);
    case 0x84: case 0x85:
        d = rm_opnd(e, size);
        s = reg_opnd(modrm_reg(e), size);
        if (in->lock)
            return fault(e, VEC_UD, false);
        return alu_apply(e, ALU_TEST, &d, reg_read(e, s.reg, size));
    case 0xa8: case 0xa9:
        d = reg_opnd(0, size);
        return in->lock ? fault(e, VEC_UD, false)
                        : alu_apply(e, ALU_TEST, &d, (uint64_t)sext(e->x->imm, e->x->imm_len));
    case 0x86: case 0x87:
        return xchg(e);
    case 0x88: case 0x89:
        d = rm_opnd(e, size);
        s = reg_opnd(modrm_reg(e), size);
        return mov(e, &d, &s, false);
    case 0x8a: case 0x8b:
        d = reg_opnd(modrm_reg(e), size);
        s = rm_opnd(e, size);
        return mov(e, &d, &s, false);
    case 0xa0: case 0xa1: case 0xa2: case 0xa3:
        d = reg_opnd(0, size);
        s = (struct opnd){ .reg = -1, .seg = in->seg >= 0 ? in->seg : SEG_DS,
                           .ea = e->x->imm & alu_mask(in->addr_size), .size = size };
        return op < 0xa2 ? mov(e, &d, &s, false) : mov(e, &s, &d, false);
    case 0xc6: case 0xc7:
        if ((in->modrm >> 3) & 7)
            return EMUL_UNHANDLED;      /* XABORT/XBEGIN */
        d = rm_opnd(e, size);
        if (in->lock)
            return fault(e, VEC_UD, false);
        return opnd_write(e, &d, (uint64_t)sext(e->x->imm, e->x->imm_len));
    case 0xa4: case 0xa5: return string_op(e, S_MOVS);
    case 0xa6: case 0xa7: return string_op(e, S_CMPS);
    case 0xaa: case 0xab: return string_op(e, S_STOS);
    case 0xac: case 0xad: return string_op(e, S_LODS);
    case 0xae: case 0xaf: return string_op(e, S_SCAS);
    case 0x6c: case 0x6d: return string_op(e, S_INS);
    case 0x6e: case 0x6f: return string_op(e, S_OUTS);
    }
    if (op >= 0xb0 && op <= 0xbf) {
        if (in->lock)
            return fault(e, VEC_UD, false);
        size = op < 0xb8 ? 1 : os;
        reg_write(e, (op & 7) | ((in->rex & REX_B) ? 8 : 0), size, e->x->imm);
        return EMUL_OK;
    }
    return EMUL_UNHANDLED;
}

int emul_step(struct emul_cpu *cpu, const struct emul_ops *ops, void *ctx,
              struct emul_fault *f, struct insn *insn)
{
    uint8_t buf[INSN_MAX_LEN];
    struct insn in;
    struct insn_x x;
    struct em e = { .cpu = cpu, .ops = ops, .ctx = ctx, .f = f, .in = &in, .x = &x };
    bool l64 = cpu->mode == EMUL_MODE_LONG64;
    uint64_t la = l64 ? cpu->rip : (cpu->seg_base[SEG_CS] + cpu->rip) & 0xffffffffull;
    int n, rc;

    if (insn)
        *insn = (struct insn){ .seg = -1 };
    if (l64 && !canonical(cpu->rip))
        return fault(&e, VEC_GP, true);
    if ((rc = ops->fetch(ctx, la, buf, INSN_MAX_LEN, f)) != EMUL_OK)
        return rc;
    n = insn_decode_x(buf, INSN_MAX_LEN, cpu->mode, &in, &x);
    for (unsigned i = 0; i < INSN_MAX_LEN; i++)
        in.bytes[i] = buf[i];
    if (insn)
        *insn = in;
    if (n == INSN_ERR_TOO_LONG)
        return fault(&e, VEC_GP, true);
    if (n < 0)      /* 15 bytes were there, so not cut short: invalid */
        return fault(&e, VEC_UD, false);
    e.next_rip = cpu->rip + (uint64_t)n;
    if (!l64)
        e.next_rip &= cpu->mode == EMUL_MODE_PROT32 ? 0xffffffffull : 0xffffull;

    if (x.map == MAP_1B)
        rc = exec_1b(&e);
    else if (x.map == MAP_0F)
        rc = exec_0f(&e);
    else
        rc = EMUL_UNHANDLED;
    if (rc == EMUL_OK && !e.rep_pending)
        cpu->rip = e.next_rip;
    return rc;
}
