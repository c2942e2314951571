/* libFuzzer target for the instruction decoder and emulator. Input: byte 0 picks the mode and
 * how the fake memory behaves, the next 16*8+8 bytes (as far as present) seed the registers and
 * RFLAGS, the rest is the instruction stream. Memory is a small fake: reads return bytes derived
 * from the address, writes are recorded and checked; every call is checked against the
 * contract in insn.h. Invariants:
 *   - insn_decode returns -1 or 1..15, never reads past n (ASan: exact-size heap copies), and
 *     agrees with itself on any longer buffer;
 *   - emul_step: EMUL_OK moves RIP by exactly insn_decode's length, or not at all for an
 *     unfinished REP (RCX then non-zero, and RCX or RSI/RDI changed); any other result leaves
 *     RIP alone; the decoded struct insn matches insn_decode of the same bytes;
 *   - data accesses are 1-8 bytes, fetches 15; no write before the instruction's reads are done
 *     (outside REP string progress); RFLAGS bit 1 stays set and reserved bits stay clear. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/emul/insn.h"

#define ASSERT(c) \
    do { if (!(c)) { fprintf(stderr, "invariant failed: %s\n", #c); abort(); } } while (0)

static const uint8_t *code;
static size_t code_len;
static uint64_t code_la;
static unsigned behave;         /* bit 0: reads fault above 2^40; bit 1: writes fault */
static int reads, writes, pio;

static uint8_t mem_byte(uint64_t la)
{
    uint64_t x = la * 0x9E3779B97F4A7C15ull;
    return (uint8_t)(x >> 56);
}

static int fetch(void *c, uint64_t la, void *buf, unsigned len, struct emul_fault *f)
{
    (void)c; (void)f;
    ASSERT(len == INSN_MAX_LEN);
    ASSERT(la == code_la);
    uint8_t *b = buf;
    for (unsigned i = 0; i < len; i++)      /* code, then zero padding */
        b[i] = i < code_len ? code[i] : 0;
    return EMUL_OK;
}

static int rd(void *c, uint64_t la, void *buf, unsigned len, struct emul_fault *f)
{
    (void)c;
    ASSERT(len >= 1 && len <= 8);
    if ((behave & 1) && la >= (1ull << 40)) {
        *f = (struct emul_fault){ .vector = 14, .has_error = true, .cr2 = la };
        return EMUL_FAULT;
    }
    uint8_t *b = buf;
    for (unsigned i = 0; i < len; i++)
        b[i] = mem_byte(la + i);
    reads++;
    return EMUL_OK;
}

static int wr(void *c, uint64_t la, const void *buf, unsigned len, struct emul_fault *f)
{
    (void)c;
    ASSERT(len >= 1 && len <= 8);
    const uint8_t *b = buf;
    volatile uint8_t sink = 0;
    for (unsigned i = 0; i < len; i++)      /* touch every byte: ASan sees overruns */
        sink ^= b[i];
    (void)sink;
    if (behave & 2) {
        *f = (struct emul_fault){ .vector = 14, .has_error = true, .error = 2, .cr2 = la };
        return EMUL_FAULT;
    }
    writes++;
    return EMUL_OK;
}

static int pin(void *c, uint16_t port, unsigned len, uint32_t *val, struct emul_fault *f)
{
    (void)c; (void)f;
    ASSERT(len == 1 || len == 2 || len == 4);
    *val = (uint32_t)(port * 0x01000193u) & (uint32_t)((1ull << (8 * len)) - 1);
    pio++;
    return EMUL_OK;
}

static int pout(void *c, uint16_t port, unsigned len, uint32_t val, struct emul_fault *f)
{
    (void)c; (void)f; (void)port;
    ASSERT(len == 1 || len == 2 || len == 4);
    ASSERT(len == 4 || val < (1u << (8 * len)));
    pio++;
    return EMUL_OK;
}

static const struct emul_ops ops = { fetch, rd, wr, pin, pout };

static bool is_string(const struct insn *in)
{
    uint8_t o = in->opcode;
    return !in->two_byte && ((o >= 0xa4 && o <= 0xa7) || (o >= 0xaa && o <= 0xaf) ||
                             (o >= 0x6c && o <= 0x6f));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    enum emul_mode mode = (enum emul_mode)(data[0] & 3);
    behave = (data[0] >> 2) & 3;
    size_t pos = 1;
    uint64_t regs[17] = { 0 };
    for (int i = 0; i < 17 && pos < size; i++) {
        size_t k = size - pos < 8 ? size - pos : 8;
        memcpy(&regs[i], data + pos, k);
        pos += k;
    }
    code = data + pos;
    code_len = size - pos;

    /* Decoder: exact-size copies for every n up to 16. */
    int full = -2;
    for (unsigned n = 0; n <= 16 && n <= code_len; n++) {
        uint8_t *h = malloc(n ? n : 1);
        memcpy(h, code, n);
        struct insn in;
        int len = insn_decode(h, n, mode, &in);
        ASSERT(len == -1 || (len >= 1 && len <= INSN_MAX_LEN));
        ASSERT(len <= (int)n);
        if (len > 0) {
            ASSERT(in.len == len);
            ASSERT(memcmp(in.bytes, code, (size_t)len) == 0);
            ASSERT(in.op_size == 2 || in.op_size == 4 || in.op_size == 8);
            ASSERT(in.addr_size == 2 || in.addr_size == 4 || in.addr_size == 8);
            ASSERT(in.seg >= -1 && in.seg < SEG_COUNT);
            if (full == -2)
                full = len;
            ASSERT(full == len);    /* more bytes never change the answer */
        }
        free(h);
    }

    /* Emulator on the same bytes (padded with zeros to 15). */
    uint8_t padded[INSN_MAX_LEN] = { 0 };
    memcpy(padded, code, code_len < INSN_MAX_LEN ? code_len : INSN_MAX_LEN);
    int dlen = insn_decode(padded, INSN_MAX_LEN, mode, NULL);

    uint64_t gpr[16], before[16];
    memcpy(gpr, regs, sizeof(gpr));
    memcpy(before, gpr, sizeof(gpr));
    struct emul_cpu cpu = { .gpr = gpr, .rip = regs[16] & 0xffff, .mode = mode,
                            .rflags = (regs[16] >> 16 & 0xcd5) | 2 };
    if (data[0] & 0x10)
        cpu.rflags |= 0x400;
    for (int s = 0; s < SEG_COUNT; s++)
        cpu.seg_base[s] = mode == EMUL_MODE_LONG64 ? gpr[s] & ~0xfffull : (uint32_t)gpr[s] << 4;
    code_la = mode == EMUL_MODE_LONG64 ? cpu.rip
                                        : (cpu.seg_base[SEG_CS] + cpu.rip) & 0xffffffffull;
    uint64_t rip0 = cpu.rip, fl0 = cpu.rflags;
    struct emul_fault f = { 0 };
    struct insn in;
    reads = writes = pio = 0;
    int rc = emul_step(&cpu, &ops, NULL, &f, &in);

    ASSERT(rc == EMUL_OK || rc == EMUL_FAULT || rc == EMUL_UNHANDLED);
    ASSERT((cpu.rflags & 2) && !(cpu.rflags & ~0xcd7ull));
    if (dlen > 0) {
        ASSERT(in.len == dlen);
        ASSERT(memcmp(in.bytes, padded, (size_t)dlen) == 0);
    }
    if (rc == EMUL_OK) {
        ASSERT(dlen > 0);
        uint64_t want = rip0 + (uint64_t)dlen;
        if (mode != EMUL_MODE_LONG64)
            want &= mode == EMUL_MODE_PROT32 ? 0xffffffffull : 0xffffull;
        if (cpu.rip == rip0 && want != rip0) {
            /* only an unfinished REP string instruction may stay */
            ASSERT(is_string(&in) && in.rep);
            uint64_t m = in.addr_size == 8 ? ~0ull : (1ull << (8 * in.addr_size)) - 1;
            ASSERT((gpr[1] & m) != 0);
            ASSERT(gpr[1] != before[1]);
        } else {
            ASSERT(cpu.rip == want);
        }
    } else {
        ASSERT(cpu.rip == rip0);
        if (rc == EMUL_FAULT)
            ASSERT(f.vector < 32);
        /* a fault without REP progress leaves the registers alone */
        if (!is_string(&in) || !in.rep)
            ASSERT(memcmp(gpr, before, sizeof(gpr)) == 0 && cpu.rflags == fl0);
    }
    /* Non-string instructions write memory at most once (a RMW), after their reads. */
    if (!is_string(&in))
        ASSERT(writes <= 1);
    return 0;
}
