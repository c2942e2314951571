/* kernel/emul: the instruction decoder's lengths in every mode, the emulator differentially
 * against the host CPU in 64-bit mode (random instructions, registers, flags and memory), and
 * 16/32-bit semantics, faults and REP batching against expected values. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <sys/mman.h>
#include <asm/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "check.h"
#include "kernel/emul/insn.h"

#include "test_insn_decode.h"

/* ---- a flat fake guest for the expected-value tests ---- */

#define FMEM_SIZE 0x30000
static uint8_t fmem[FMEM_SIZE];
static int f_reads, f_writes, f_fail_at = -1;
static uint64_t f_last_write_la;
static uint32_t port_val[65536 / 16];
static int pio_log_n;
static struct { uint16_t port; unsigned len; uint32_t val; bool out; } pio_log[512];

static int fmem_access(uint64_t la, unsigned len, struct emul_fault *f)
{
    if (la + len > FMEM_SIZE || la + len < la ||
        (f_fail_at >= 0 && f_reads + f_writes == f_fail_at)) {
        *f = (struct emul_fault){ .vector = 14, .has_error = true, .error = 2, .cr2 = la };
        return EMUL_FAULT;
    }
    return EMUL_OK;
}

static int f_fetch(void *c, uint64_t la, void *buf, unsigned len, struct emul_fault *f)
{
    (void)c;
    if (la + len > FMEM_SIZE)
        return fmem_access(la, len, f);
    memcpy(buf, fmem + la, len);
    return EMUL_OK;
}

static int f_read(void *c, uint64_t la, void *buf, unsigned len, struct emul_fault *f)
{
    (void)c;
    CHECK(len >= 1 && len <= 8);
    if (fmem_access(la, len, f))
        return EMUL_FAULT;
    f_reads++;
    memcpy(buf, fmem + la, len);
    return EMUL_OK;
}

static int f_write(void *c, uint64_t la, const void *buf, unsigned len, struct emul_fault *f)
{
    (void)c;
    CHECK(len >= 1 && len <= 8);
    if (fmem_access(la, len, f))
        return EMUL_FAULT;
    f_writes++;
    f_last_write_la = la;
    memcpy(fmem + la, buf, len);
    return EMUL_OK;
}

static int f_in(void *c, uint16_t port, unsigned len, uint32_t *val, struct emul_fault *f)
{
    (void)c; (void)f;
    *val = (port * 0x01010101u + (unsigned)pio_log_n) & (uint32_t)((1ull << (8 * len)) - 1);
    if (pio_log_n < 512)
        pio_log[pio_log_n++] = (typeof(pio_log[0])){ port, len, *val, false };
    return EMUL_OK;
}

static int f_out(void *c, uint16_t port, unsigned len, uint32_t val, struct emul_fault *f)
{
    (void)c; (void)f;
    port_val[port / 16] = val;
    if (pio_log_n < 512)
        pio_log[pio_log_n++] = (typeof(pio_log[0])){ port, len, val, true };
    return EMUL_OK;
}

static const struct emul_ops fops = { f_fetch, f_read, f_write, f_in, f_out };

static uint64_t R[16];
static struct emul_cpu cpu;
static struct emul_fault flt;

/* Places `code` at CS:IP 0x100 (CS base 0x10000 outside 64-bit mode) and resets the state. */
static void setup(enum emul_mode mode, const char *code, unsigned n)
{
    memset(fmem, 0, sizeof(fmem));
    memset(R, 0, sizeof(R));
    cpu = (struct emul_cpu){ .gpr = R, .rip = 0x100, .rflags = 2, .mode = mode };
    if (mode != EMUL_MODE_LONG64)
        cpu.seg_base[SEG_CS] = 0x10000;
    memcpy(fmem + cpu.seg_base[SEG_CS] + 0x100, code, n);
    f_reads = f_writes = pio_log_n = 0;
    f_fail_at = -1;
    flt = (struct emul_fault){ 0 };
}

#define SETUP(mode, s) setup(mode, s, sizeof(s) - 1)

static int step(void)
{
    return emul_step(&cpu, &fops, NULL, &flt, NULL);
}

static uint64_t rd64(uint64_t la)
{
    uint64_t v;
    memcpy(&v, fmem + la, 8);
    return v;
}

static void wr64(uint64_t la, uint64_t v)
{
    memcpy(fmem + la, &v, 8);
}

#include "test_insn_modes.h"
#include "test_insn_diff.h"

int main(void)
{
    RUN(test_decode_table);
    RUN(test_decode_limits);
    RUN(test_real_mode);
    RUN(test_prot32);
    RUN(test_long64);
    RUN(test_faults);
    RUN(test_rep_batches);
    RUN(test_string_io);
    RUN(test_diff_alu);
    RUN(test_diff_strings);
    return check_summary("test_insn");
}
