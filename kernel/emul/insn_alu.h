/* The emulator's ALU: results and RFLAGS as the hardware computes them. Private to
 * kernel/emul/. */
#ifndef KERNEL_EMUL_INSN_ALU_H
#define KERNEL_EMUL_INSN_ALU_H

#include <stdint.h>
#include <stdbool.h>

#define RFL_CF  (1ull << 0)
#define RFL_PF  (1ull << 2)
#define RFL_AF  (1ull << 4)
#define RFL_ZF  (1ull << 6)
#define RFL_SF  (1ull << 7)
#define RFL_DF  (1ull << 10)
#define RFL_OF  (1ull << 11)
#define RFL_ARITH (RFL_CF | RFL_PF | RFL_AF | RFL_ZF | RFL_SF | RFL_OF)

/* 0-7 in the order of the ALU opcodes' ModRM.reg (00-3F, 80-83), then the one-operand ones. */
enum alu_op { ALU_ADD, ALU_OR, ALU_ADC, ALU_SBB, ALU_AND, ALU_SUB, ALU_XOR, ALU_CMP,
              ALU_TEST, ALU_INC, ALU_DEC, ALU_NEG, ALU_NOT };

uint64_t alu_mask(unsigned size);
/* Returns op(a, b) masked to size and updates the status flags in *rflags (none for NOT). */
uint64_t alu_op(enum alu_op op, uint64_t a, uint64_t b, unsigned size, uint64_t *rflags);

#endif
