/* What the decoder knows beyond struct insn, for the emulator in insn_emul.c. Private to
 * kernel/emul/insn_*.c and their tests. */
#ifndef KERNEL_EMUL_INSN_PRIV_H
#define KERNEL_EMUL_INSN_PRIV_H

#include "kernel/emul/insn.h"

/* insn_decode_x's failures (insn_decode folds them into -1). */
#define INSN_ERR_INVALID  (-1)  /* not an instruction: #UD on hardware */
#define INSN_ERR_TOO_LONG (-2)  /* more than 15 bytes: #GP(0) on hardware */
#define INSN_ERR_SHORT    (-3)  /* bytes[] ends before the instruction does */

enum insn_map { MAP_1B, MAP_0F, MAP_0F38, MAP_0F3A, MAP_VEX, MAP_XOP, MAP_3DNOW };

struct insn_x {
    enum insn_map map;
    bool has_sib;
    bool rip_rel;           /* 64-bit mode, mod 00 r/m 101: relative to the next instruction */
    uint8_t sib;
    uint8_t imm_len;
    int64_t disp;
    uint64_t imm;           /* zero-extended from imm_len bytes; moffs for A0-A3 */
};

int insn_decode_x(const uint8_t *bytes, unsigned n, enum emul_mode mode, struct insn *out,
                  struct insn_x *x);

#endif
