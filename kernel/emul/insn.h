/* The instruction emulator: decodes one x86 instruction at the guest's RIP and carries it out on
 * a register file and through memory callbacks. Used for accesses that trapped (MMIO through
 * EPT/NPT, string I/O) and, decode-only, for instruction lengths on SVM without NRIPS.
 *
 * Pure: no Keel headers beyond <stdint.h>/<stdbool.h>; it compiles on the host for unit tests and
 * the libFuzzer target. All memory goes through `struct emul_ops` by *linear* address (segment
 * base already added by the emulator); the caller translates to guest-physical and decides what
 * is RAM, a device, or nothing. */
#ifndef KERNEL_EMUL_INSN_H
#define KERNEL_EMUL_INSN_H

#include <stdint.h>
#include <stdbool.h>

#define INSN_MAX_LEN    15

/* Segment registers in encoding order (the sreg field of MOV Sreg, and the override order). */
enum x86_seg { SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS, SEG_COUNT };

/* The execution mode, which fixes the default operand/address sizes:
 *   EMUL_MODE_REAL    real mode (and virtual-8086): 16/16, CS.D ignored
 *   EMUL_MODE_PROT16  protected mode, CS.D = 0: 16/16
 *   EMUL_MODE_PROT32  protected mode (or compatibility mode), CS.D = 1: 32/32
 *   EMUL_MODE_LONG64  64-bit mode (EFER.LMA and CS.L): 32-bit operands, 64-bit addresses */
enum emul_mode { EMUL_MODE_REAL, EMUL_MODE_PROT16, EMUL_MODE_PROT32, EMUL_MODE_LONG64 };

/* Returned by the ops and by emul_step. */
enum emul_status {
    EMUL_OK = 0,        /* done; emul_step: RIP advanced past the instruction (or a REP
                         * instruction made progress and RIP stays for the rest) */
    EMUL_FAULT,         /* an exception for the guest: see struct emul_fault; RIP unchanged */
    EMUL_UNHANDLED,     /* not an instruction this emulator can do; the caller decides (#UD
                         * for the guest, or stop the VM with the bytes) */
};

struct emul_fault {
    uint8_t vector;     /* X86 exception vector (#GP 13, #SS 12, #PF 14, #UD 6, #DE 0, ...) */
    bool has_error;
    uint32_t error;
    uint64_t cr2;       /* #PF only: the faulting linear address */
};

/* The part of the vCPU the emulator reads and changes. gpr points at the caller's 16 GPRs in
 * encoding order (RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8..R15); RSP must be current. */
struct emul_cpu {
    uint64_t *gpr;
    uint64_t rip;
    uint64_t rflags;
    uint64_t seg_base[SEG_COUNT];   /* in 64-bit mode only FS and GS bases are used */
    enum emul_mode mode;
    uint8_t cpl;                    /* 0-3, passed back to the ops through `user` */
};

/* Memory callbacks. `la` is a linear address, `len` 1-8 for data (an access never crosses into
 * another operand) and up to INSN_MAX_LEN for fetch. Each returns EMUL_OK, or EMUL_FAULT after
 * filling *f (e.g. a #PF from the guest page tables). They are called in program order; a
 * write is never called before every read of the same instruction succeeded, except for the
 * element-by-element progress of REP string instructions. */
struct emul_ops {
    int (*fetch)(void *ctx, uint64_t la, void *buf, unsigned len, struct emul_fault *f);
    int (*read)(void *ctx, uint64_t la, void *buf, unsigned len, struct emul_fault *f);
    int (*write)(void *ctx, uint64_t la, const void *buf, unsigned len, struct emul_fault *f);
    /* Port I/O for INS/OUTS (len 1, 2, 4); NULL when the caller has no ports. */
    int (*pio_in)(void *ctx, uint16_t port, unsigned len, uint32_t *val, struct emul_fault *f);
    int (*pio_out)(void *ctx, uint16_t port, unsigned len, uint32_t val, struct emul_fault *f);
};

/* What the decoder found; filled by insn_decode and by emul_step (for the caller's messages). */
struct insn {
    uint8_t bytes[INSN_MAX_LEN];
    uint8_t len;                    /* total length in bytes */
    uint8_t opcode;                 /* primary opcode byte (after 0x0f for two-byte ones) */
    bool two_byte;                  /* 0x0f escape */
    uint8_t modrm;
    bool has_modrm;
    uint8_t op_size, addr_size;     /* effective, in bytes */
    uint8_t rep;                    /* 0, 0xf3 (REP/REPE) or 0xf2 (REPNE) */
    bool lock;
    int8_t seg;                     /* segment override, or -1 */
    uint8_t rex;
};

/* Decodes the instruction in bytes[0..n) for `mode`: prefixes, opcode, ModRM/SIB, displacement
 * and immediate, so its length is known for any instruction (not only those emul_step can
 * execute). Returns the length (1-15), or -1 when the bytes are not a valid instruction or are
 * cut short. Never reads past bytes[n-1]. */
int insn_decode(const uint8_t *bytes, unsigned n, enum emul_mode mode, struct insn *out);

/* Fetches, decodes and executes one instruction at cpu->rip. Supported: MOV (88-8C, 8E, A0-A3
 * moffs, C6/C7 immediate stores, B0-BF for completeness), MOVZX/MOVSX (0F B6/B7/BE/BF),
 * MOVSXD, the ALU group (00-3F forms with a memory operand, 80/81/83), TEST (84/85, F6/F7 /0),
 * NOT/NEG (F6/F7 /2 /3), INC/DEC (FE/FF /0 /1), XCHG (86/87), BT/BTS/BTR/BTC (0F A3/AB/B3/BB,
 * 0F BA /4-7), MOVS/STOS/LODS/INS/OUTS with and without REP, CMPS/SCAS with REPE/REPNE, with
 * prefixes 66, 67, REX, segment overrides, LOCK and REP. RFLAGS is updated as the hardware
 * does (the architecturally undefined flags as a real CPU leaves them where practical).
 * A REP instruction does at most a bounded number of iterations per call and leaves RIP on
 * the instruction while RCX (masked by the address size) is not zero, as an interrupted REP does
 * on hardware. *insn (optional) receives what was decoded. */
int emul_step(struct emul_cpu *cpu, const struct emul_ops *ops, void *ctx,
              struct emul_fault *f, struct insn *insn);

#endif
