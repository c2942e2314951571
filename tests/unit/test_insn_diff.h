/* Part of test_insn.c: differential tests against the host CPU in 64-bit mode. Random
 * instructions from the supported list (random prefixes, operand sizes, addressing forms,
 * registers, flags and memory) run natively through an asm trampoline and through emul_step;
 * every GPR but RSP, RFLAGS (less the flags the SDM leaves undefined) and the memory must agree.
 * Code and data share one RWX mapping below 2 GiB, so RIP-relative and 67-prefixed (32-bit)
 * addresses reach the data. */

struct nstate {
    uint64_t g[16];
    uint64_t fl;
};

/* run_native(s, code): loads the GPRs (not RSP) and RFLAGS from *s, calls code, stores them. */
void run_native(struct nstate *s, void *code);
__asm__(".text\n.globl run_native\n.type run_native,@function\nrun_native:\n"
        "push %rbx\npush %rbp\npush %r12\npush %r13\npush %r14\npush %r15\n"
        "push %rdi\npush %rsi\n"
        "pushq 128(%rdi)\npopfq\n"
        "mov 0(%rdi),%rax\nmov 8(%rdi),%rcx\nmov 16(%rdi),%rdx\nmov 24(%rdi),%rbx\n"
        "mov 40(%rdi),%rbp\nmov 48(%rdi),%rsi\nmov 64(%rdi),%r8\nmov 72(%rdi),%r9\n"
        "mov 80(%rdi),%r10\nmov 88(%rdi),%r11\nmov 96(%rdi),%r12\nmov 104(%rdi),%r13\n"
        "mov 112(%rdi),%r14\nmov 120(%rdi),%r15\nmov 56(%rdi),%rdi\n"
        "call *(%rsp)\n"
        "pushfq\ncld\npush %rdi\nmov 24(%rsp),%rdi\n"
        "mov %rax,0(%rdi)\nmov %rcx,8(%rdi)\nmov %rdx,16(%rdi)\nmov %rbx,24(%rdi)\n"
        "mov %rbp,40(%rdi)\nmov %rsi,48(%rdi)\nmov %r8,64(%rdi)\nmov %r9,72(%rdi)\n"
        "mov %r10,80(%rdi)\nmov %r11,88(%rdi)\nmov %r12,96(%rdi)\nmov %r13,104(%rdi)\n"
        "mov %r14,112(%rdi)\nmov %r15,120(%rdi)\n"
        "pop %rax\nmov %rax,56(%rdi)\npop %rax\nmov %rax,128(%rdi)\n"
        "add $16,%rsp\npop %r15\npop %r14\npop %r13\npop %r12\npop %rbp\npop %rbx\nret\n"
        ".size run_native,.-run_native\n");

#define DATA_SIZE 8192
static uint8_t *region, *code, *data;     /* code page, then DATA_SIZE of data */
static uint8_t emem[DATA_SIZE], init_mem[DATA_SIZE];
static uint64_t fs_base, gs_base;

static int d_access(uint64_t la, unsigned len, struct emul_fault *f)
{
    uint64_t d = (uint64_t)data;
    if (la < d || la + len > d + DATA_SIZE) {
        *f = (struct emul_fault){ .vector = 14, .cr2 = la };
        return EMUL_FAULT;
    }
    return EMUL_OK;
}

static int d_fetch(void *c, uint64_t la, void *buf, unsigned len, struct emul_fault *f)
{
    (void)c; (void)f;
    memcpy(buf, (void *)la, len);   /* the code page, followed by data: always mapped */
    return EMUL_OK;
}

static int d_read(void *c, uint64_t la, void *buf, unsigned len, struct emul_fault *f)
{
    (void)c;
    if (d_access(la, len, f))
        return EMUL_FAULT;
    memcpy(buf, emem + (la - (uint64_t)data), len);
    return EMUL_OK;
}

static int d_write(void *c, uint64_t la, const void *buf, unsigned len, struct emul_fault *f)
{
    (void)c;
    if (d_access(la, len, f))
        return EMUL_FAULT;
    memcpy(emem + (la - (uint64_t)data), buf, len);
    return EMUL_OK;
}

static const struct emul_ops dops = { d_fetch, d_read, d_write, NULL, NULL };

#define FL_STATUS 0x8d5ull      /* CF PF AF ZF SF OF */
#define FL_AF 0x10ull

/* The templates: opcode bytes, then how the operands are encoded. */
enum tkind { T_MODRM, T_ACC_IMM, T_REG_IMM, T_MOFFS, T_STRING };
enum timm { IM_NONE, IM_B, IM_Z, IM_V };

struct tmpl {
    uint8_t op[2];
    uint8_t nop;
    enum tkind kind;
    int digit;              /* fixed ModRM.reg, or -1 */
    enum timm imm;
    bool lockable;
    bool mem_only;
    bool bitoff;            /* BT r/m, reg: the register is a signed bit offset */
    uint64_t undef;         /* flags the SDM leaves undefined */
};

static struct tmpl tmpls[200];
static int ntmpl;

static void add(uint8_t op0, int op1, enum tkind k, int digit, enum timm imm, bool lockable,
                uint64_t undef)
{
    struct tmpl *t = &tmpls[ntmpl++];
    *t = (struct tmpl){ .op = { op0, (uint8_t)op1 }, .nop = op1 >= 0 ? 2 : 1, .kind = k,
                        .digit = digit, .imm = imm, .lockable = lockable, .undef = undef };
}

static void build_templates(void)
{
    const uint64_t bt_undef = FL_STATUS & ~1ull & ~0x40ull;
    for (int a = 0; a < 8; a++) {
        uint64_t u = (a == 1 || a == 4 || a == 6) ? FL_AF : 0;
        for (int f = 0; f < 4; f++)
            add((uint8_t)(a * 8 + f), -1, T_MODRM, -1, IM_NONE, f < 2 && a != 7, u);
        add((uint8_t)(a * 8 + 4), -1, T_ACC_IMM, -1, IM_B, false, u);
        add((uint8_t)(a * 8 + 5), -1, T_ACC_IMM, -1, IM_Z, false, u);
        add(0x80, -1, T_MODRM, a, IM_B, a != 7, u);
        add(0x81, -1, T_MODRM, a, IM_Z, a != 7, u);
        add(0x83, -1, T_MODRM, a, IM_B, a != 7, u);
    }
    add(0x84, -1, T_MODRM, -1, IM_NONE, false, FL_AF);
    add(0x85, -1, T_MODRM, -1, IM_NONE, false, FL_AF);
    add(0xa8, -1, T_ACC_IMM, -1, IM_B, false, FL_AF);
    add(0xa9, -1, T_ACC_IMM, -1, IM_Z, false, FL_AF);
    add(0xf6, -1, T_MODRM, 0, IM_B, false, FL_AF);
    add(0xf7, -1, T_MODRM, 0, IM_Z, false, FL_AF);
    for (int d = 2; d < 4; d++) {
        add(0xf6, -1, T_MODRM, d, IM_NONE, true, 0);
        add(0xf7, -1, T_MODRM, d, IM_NONE, true, 0);
    }
    for (int d = 0; d < 2; d++) {
        add(0xfe, -1, T_MODRM, d, IM_NONE, true, 0);
        add(0xff, -1, T_MODRM, d, IM_NONE, true, 0);
    }
    add(0x86, -1, T_MODRM, -1, IM_NONE, true, 0);
    add(0x87, -1, T_MODRM, -1, IM_NONE, true, 0);
    for (int o = 0x88; o <= 0x8b; o++)
        add((uint8_t)o, -1, T_MODRM, -1, IM_NONE, false, 0);
    add(0xc6, -1, T_MODRM, 0, IM_B, false, 0);
    add(0xc7, -1, T_MODRM, 0, IM_Z, false, 0);
    add(0xb0, -1, T_REG_IMM, -1, IM_B, false, 0);
    add(0xb8, -1, T_REG_IMM, -1, IM_V, false, 0);
    for (int o = 0xa0; o <= 0xa3; o++)
        add((uint8_t)o, -1, T_MOFFS, -1, IM_NONE, false, 0);
    add(0x63, -1, T_MODRM, -1, IM_NONE, false, 0);
    add(0x0f, 0xb6, T_MODRM, -1, IM_NONE, false, 0);
    add(0x0f, 0xb7, T_MODRM, -1, IM_NONE, false, 0);
    add(0x0f, 0xbe, T_MODRM, -1, IM_NONE, false, 0);
    add(0x0f, 0xbf, T_MODRM, -1, IM_NONE, false, 0);
    add(0x0f, 0xa3, T_MODRM, -1, IM_NONE, false, bt_undef);
    add(0x0f, 0xab, T_MODRM, -1, IM_NONE, true, bt_undef);
    add(0x0f, 0xb3, T_MODRM, -1, IM_NONE, true, bt_undef);
    add(0x0f, 0xbb, T_MODRM, -1, IM_NONE, true, bt_undef);
    for (int d = 4; d < 8; d++)
        add(0x0f, 0xba, T_MODRM, d, IM_B, d > 4, bt_undef);
    for (int k = 0; k < ntmpl; k++)
        if (tmpls[k].op[0] == 0x0f && tmpls[k].op[1] != 0xba && tmpls[k].undef)
            tmpls[k].bitoff = true;
    for (int o = 0xa4; o <= 0xaf; o++)
        if (o < 0xa8 || o > 0xa9)
            add((uint8_t)o, -1, T_STRING, -1, IM_NONE, false, 0);
}

static uint64_t edge_value(void)
{
    static const uint64_t edges[] = { 0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff,
                                      0x7fffffff, 0x80000000, 0xffffffff, 0x100000000ull,
                                      0x7fffffffffffffffull, 0x8000000000000000ull, ~0ull };
    switch (rng_below(4)) {
    case 0: return edges[rng_below(sizeof(edges) / 8)];
    case 1: return edges[rng_below(sizeof(edges) / 8)] + rng_below(3) - 1;
    case 2: return rng_below(256);
    default: return rng_next();
    }
}

struct gen {
    uint8_t b[32];
    unsigned n;
    struct nstate s;
    const struct tmpl *t;
    int disp_at, disp_len;      /* RIP-relative disp32 to fill once the length is known */
    uint64_t rip_target;
};

static void put(struct gen *g, uint64_t v, unsigned len)
{
    for (unsigned i = 0; i < len; i++)
        g->b[g->n++] = (uint8_t)(v >> (8 * i));
}

/* A register number other than RSP, not in `avoid` (a bit mask). */
static unsigned pick_reg(unsigned avoid)
{
    for (;;) {
        unsigned r = (unsigned)rng_below(16);
        if (r != 4 && !(avoid & (1u << r)))
            return r;
    }
}

static uint64_t seg_base_of(int seg)
{
    return seg == 4 ? fs_base : seg == 5 ? gs_base : 0;
}

/* Builds one random instruction and the state it starts from. */
static void generate(struct gen *g)
{
    const struct tmpl *t = &tmpls[rng_below((uint64_t)ntmpl)];
    static const uint8_t segp[6] = { 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65 };
    uint64_t d = (uint64_t)data;
    bool p66 = rng_below(3) == 0, p67 = rng_below(5) == 0, mem, lock = false;
    int seg = rng_below(5) == 0 ? (int)rng_below(6) : -1;
    uint8_t rex = rng_below(2) ? (uint8_t)(0x40 | rng_below(16)) : 0;
    unsigned rep = 0;

    memset(g, 0, sizeof(*g));
    g->t = t;
    g->disp_at = -1;
    for (int i = 0; i < 16; i++)
        g->s.g[i] = edge_value();
    g->s.fl = 0x2 | (rng_next() & FL_STATUS) | (rng_below(4) == 0 ? 0x400 : 0);
    if (p67 && seg >= 4)
        seg = -1;           /* a 32-bit offset from the TLS base would leave the buffer */
    mem = t->kind == T_MODRM ? rng_below(4) != 0 : t->kind != T_ACC_IMM && t->kind != T_REG_IMM;
    if (t->bitoff && !mem && rng_below(2))
        mem = true;
    if (mem && t->lockable)
        lock = rng_below(2);
    if (t->kind == T_STRING)
        rep = (unsigned[]){ 0, 0xf3, 0xf2 }[rng_below(3)];

    /* Legacy prefixes in a random order, REX last. */
    uint8_t pf[5];
    unsigned npf = 0;
    if (p66) pf[npf++] = 0x66;
    if (p67) pf[npf++] = 0x67;
    if (seg >= 0) pf[npf++] = segp[seg];
    if (lock) pf[npf++] = 0xf0;
    if (rep) pf[npf++] = (uint8_t)rep;
    for (unsigned i = npf; i > 1; i--) {
        unsigned j = (unsigned)rng_below(i);
        uint8_t x = pf[i - 1];
        pf[i - 1] = pf[j];
        pf[j] = x;
    }
    for (unsigned i = 0; i < npf; i++)
        g->b[g->n++] = pf[i];
    if (t->kind == T_REG_IMM) {
        unsigned r = pick_reg(0);
        rex = (uint8_t)((rex & ~1) | (r >> 3) | ((r >> 3) ? 0x40 : rex ? 0x40 : 0));
        if (rex) g->b[g->n++] = rex;
        g->b[g->n++] = (uint8_t)(t->op[0] + (r & 7));
    } else {
        if (rex) g->b[g->n++] = rex;
        for (unsigned i = 0; i < t->nop; i++)
            g->b[g->n++] = t->op[i];
    }
    unsigned os = (rex & 8) ? 8 : p66 ? 2 : 4;
    int effseg = seg >= 4 ? seg : -1;
    uint64_t target = d + 1024 + rng_below(DATA_SIZE - 2048);

    if (t->kind == T_MODRM) {
        unsigned reg = t->digit >= 0 ? (unsigned)t->digit : pick_reg(0) & 7;
        if (t->digit < 0 && reg == 4)
            reg = 3;
        unsigned regfull = reg | ((rex & 4) ? 8 : 0);
        if (!mem) {
            unsigned rm = pick_reg(0) & 7;
            if (rm == 4) rm = 6;
            g->b[g->n++] = (uint8_t)(0xc0 | (reg << 3) | rm);
            if (t->bitoff)
                g->s.g[regfull] = edge_value();
        } else {
            unsigned avoid = 1u << 4;
            if (t->bitoff && t->digit < 0) {
                avoid |= 1u << regfull;
                int64_t off = (int64_t)rng_below(1024) - 512;
                g->s.g[regfull] = (uint64_t)off;
                if (os == 2)
                    g->s.g[regfull] = (g->s.g[regfull] & 0xffff) | (rng_next() << 16);
                if (os == 4)
                    g->s.g[regfull] = (uint32_t)off | (rng_next() << 32);
            }
            unsigned form = (unsigned)rng_below(4);
            if (form == 3 && effseg >= 0)
                form = 1;           /* RIP +- 2 GiB cannot reach past the TLS base */
            unsigned mod = form == 3 ? 0 : (unsigned)rng_below(3);
            int64_t disp = mod == 1 ? (int64_t)rng_below(256) - 128
                         : mod == 2 ? (int64_t)rng_below(1u << 20) - (1 << 19) : 0;
            uint64_t ea_want = target - seg_base_of(effseg);
            if (form == 3) {                        /* RIP-relative */
                g->b[g->n++] = (uint8_t)((reg << 3) | 5);
                g->disp_at = (int)g->n;
                g->disp_len = 4;
                g->rip_target = ea_want;
                put(g, 0, 4);
            } else if (form == 2) {                 /* SIB */
                unsigned base = pick_reg(avoid), idx = pick_reg(avoid | (1u << base));
                unsigned sc = (unsigned)rng_below(4);
                bool nobase = mod == 0 && effseg < 0 && rng_below(4) == 0;
                bool noidx = rng_below(4) == 0;
                if (nobase) {
                    base = 5;
                    disp = 0;
                } else if (mod == 0 && (base & 7) == 5) {
                    mod = 1;        /* RBP/R13 with mod 00 would mean "no base" */
                    disp = 0;
                }
                rex = (uint8_t)(rex & ~3);
                g->b[g->n++] = (uint8_t)((mod << 6) | (reg << 3) | 4);
                g->b[g->n++] = (uint8_t)((sc << 6) | ((noidx ? 4 : idx & 7) << 3) | (base & 7));
                uint64_t iv = noidx ? 0 : rng_below(64), rest = ea_want - (iv << sc);
                if (!noidx) {
                    g->s.g[idx] = iv;
                    rex |= (uint8_t)((idx >> 3) << 1);
                }
                if (nobase) {
                    put(g, rest, 4);
                } else {
                    rex |= (uint8_t)(base >> 3);
                    g->s.g[base] = rest - (uint64_t)disp;
                    put(g, (uint64_t)disp, mod == 1 ? 1 : mod == 2 ? 4 : 0);
                }
            } else {                                /* [base + disp] */
                unsigned base = pick_reg(avoid | 1u << 12);     /* r/m 100 means SIB */
                if (mod == 0 && (base & 7) == 5)
                    mod = 1, disp = 0;
                rex = (uint8_t)((rex & ~3) | (base >> 3));
                g->b[g->n++] = (uint8_t)((mod << 6) | (reg << 3) | (base & 7));
                g->s.g[base] = ea_want - (uint64_t)disp;
                put(g, (uint64_t)disp, mod == 1 ? 1 : mod == 2 ? 4 : 0);
            }
            if (p67) {      /* 32-bit addresses: the upper halves of base/index are ignored */
                for (int i = 0; i < 16; i++)
                    if (i != (int)regfull || !t->bitoff)
                        g->s.g[i] ^= (uint64_t)rng_below(2) << 40;
            }
            if (rex) {      /* REX may have changed (X/B): rewrite it in place */
                rex |= 0x40;
                unsigned at = npf;
                if (g->b[at] >= 0x40 && g->b[at] <= 0x4f)
                    g->b[at] = rex;
                else {
                    memmove(g->b + at + 1, g->b + at, g->n - at);
                    g->b[at] = rex;
                    g->n++;
                    if (g->disp_at >= 0)
                        g->disp_at++;
                }
            }
        }
        uint64_t imm = edge_value();
        if (t->imm == IM_B)
            put(g, imm, 1);
        else if (t->imm == IM_Z)
            put(g, imm, os == 2 ? 2 : 4);
    } else if (t->kind == T_ACC_IMM || t->kind == T_REG_IMM) {
        uint64_t imm = edge_value();
        unsigned il = t->imm == IM_B ? 1 : t->imm == IM_Z ? (os == 2 ? 2 : 4) : os;
        put(g, imm, il);
    } else if (t->kind == T_MOFFS) {
        uint64_t ea = target - seg_base_of(effseg);
        put(g, ea, p67 ? 4 : 8);
    } else {                                        /* strings */
        uint64_t sbase = seg_base_of(effseg);
        g->s.g[6] = d + 2048 + rng_below(2048) - sbase;
        g->s.g[7] = d + 5120 + rng_below(2048);
        g->s.g[1] = rng_below(2) ? rng_below(8) : rng_below(3);
        if (p67) {
            g->s.g[6] ^= rng_below(2) << 36;
            g->s.g[7] ^= rng_below(2) << 36;
            g->s.g[1] |= rng_next() << 32;
        }
    }
    if (g->disp_at >= 0) {
        uint64_t next = (uint64_t)code + g->n;
        uint64_t rel = g->rip_target - next;
        memcpy(g->b + g->disp_at, &rel, 4);
    }
}

static unsigned diff_fail_shown;
/* What the cases covered: LOCK, 67, 66, REX.W, segment override, RIP-relative, SIB, REP. */
static unsigned cov[8];

static void count_coverage(const struct gen *g, const struct insn *in)
{
    cov[0] += in->lock;
    cov[1] += in->addr_size == 4;
    cov[2] += in->op_size == 2;
    cov[3] += in->op_size == 8;
    cov[4] += in->seg >= 0 || memchr(g->b, 0x3e, 2) || memchr(g->b, 0x26, 2);
    cov[5] += g->disp_at >= 0;
    cov[6] += in->has_modrm && (in->modrm >> 6) != 3 && (in->modrm & 7) == 4;
    cov[7] += in->rep != 0;
}

static void run_case(struct gen *g)
{
    struct nstate nat = g->s;
    uint64_t eg[16];
    memcpy(eg, g->s.g, sizeof(eg));
    memcpy(code, g->b, g->n);
    code[g->n] = 0xc3;
    memcpy(data, init_mem, DATA_SIZE);
    memcpy(emem, init_mem, DATA_SIZE);

    if (getenv("INSN_TRACE")) {
        for (unsigned i = 0; i < g->n; i++)
            fprintf(stderr, " %02x", g->b[i]);
        fprintf(stderr, "\n");
    }
    run_native(&nat, code);

    struct emul_cpu c = { .gpr = eg, .rip = (uint64_t)code, .rflags = g->s.fl,
                          .mode = EMUL_MODE_LONG64 };
    c.seg_base[SEG_FS] = fs_base;
    c.seg_base[SEG_GS] = gs_base;
    struct emul_fault f = { 0 };
    struct insn in;
    int rc = emul_step(&c, &dops, NULL, &f, &in);
    count_coverage(g, &in);
    bool ok = rc == EMUL_OK && c.rip == (uint64_t)code + g->n;
    uint64_t mask = ~g->t->undef & 0xcd5ull;    /* status flags and DF */
    for (int i = 0; i < 16; i++)
        if (i != 4 && eg[i] != nat.g[i])
            ok = false;
    if ((c.rflags & mask) != (nat.fl & mask))
        ok = false;
    if (memcmp(emem, data, DATA_SIZE) != 0)
        ok = false;
    CHECK(ok);
    if (!ok && diff_fail_shown++ < 10) {
        fprintf(stderr, "  diff: rc %d vec %u rip +%" PRId64 ", bytes:", rc, f.vector,
                (int64_t)(c.rip - (uint64_t)code));
        for (unsigned i = 0; i < g->n; i++)
            fprintf(stderr, " %02x", g->b[i]);
        fprintf(stderr, "\n    flags in %" PRIx64 " native %" PRIx64 " emul %" PRIx64 "\n",
                g->s.fl, nat.fl, c.rflags);
        for (int i = 0; i < 16; i++)
            if (eg[i] != nat.g[i])
                fprintf(stderr, "    r%d: in %" PRIx64 " native %" PRIx64 " emul %" PRIx64 "\n",
                        i, g->s.g[i], nat.g[i], eg[i]);
        for (int i = 0; i < DATA_SIZE; i++)
            if (emem[i] != data[i]) {
                fprintf(stderr, "    mem +%d: native %02x emul %02x\n", i, data[i], emem[i]);
                break;
            }
    }
}

static bool diff_setup(void)
{
    if (region)
        return true;
    region = mmap(NULL, 4096 + DATA_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    if (region == MAP_FAILED) {
        region = NULL;
        return false;
    }
    code = region;
    data = region + 4096;
    syscall(SYS_arch_prctl, ARCH_GET_FS, &fs_base);
    syscall(SYS_arch_prctl, ARCH_GET_GS, &gs_base);
    build_templates();
    return true;
}

static void test_diff_alu(void)
{
    CHECK(diff_setup());
    if (!region)
        return;
    rng_seed(1234);
    int cases = 0;
    for (int round = 0; round < 40; round++) {
        rng_fill(init_mem, DATA_SIZE);
        for (int i = 0; i < 1000; i++) {
            struct gen g;
            do
                generate(&g);
            while (g.t->kind == T_STRING);
            run_case(&g);
            cases++;
        }
    }
    printf("  %d differential cases\n", cases);
}

static void test_diff_strings(void)
{
    CHECK(diff_setup());
    if (!region)
        return;
    rng_seed(99);
    int cases = 0;
    for (int round = 0; round < 10; round++) {
        rng_fill(init_mem, DATA_SIZE);
        /* Some equal runs so REPE/REPNE stop in interesting places. */
        for (int i = 2048; i < 4096; i++)
            if (rng_below(2))
                init_mem[i + 3072] = init_mem[i];
        for (int i = 0; i < 1000; i++) {
            struct gen g;
            do
                generate(&g);
            while (g.t->kind != T_STRING);
            run_case(&g);
            cases++;
        }
    }
    printf("  %d differential string cases\n", cases);
    printf("  with LOCK %u, 67 %u, 66 %u, REX.W %u, seg %u, RIP-rel %u, SIB %u, REP %u\n",
           cov[0], cov[1], cov[2], cov[3], cov[4], cov[5], cov[6], cov[7]);
    CHECK(cov[0] && cov[1] && cov[2] && cov[3] && cov[4] && cov[5] && cov[6] && cov[7]);
}
