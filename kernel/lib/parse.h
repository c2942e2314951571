/* Number parsing for command lines. Both take a (pointer, length) word that
 * need not be NUL-terminated, and return false (leaving *out untouched) on
 * empty input, stray characters, or overflow. */
#ifndef KEEL_LIB_PARSE_H
#define KEEL_LIB_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The value of a hexadecimal digit (either case), or -1. */
int hex_digit(char c);

/* Decimal, or hexadecimal with a 0x/0X prefix. */
bool parse_u64(const char *s, size_t len, uint64_t *out);
/* parse_u64 syntax plus an optional K/M/G (any case) binary suffix. */
bool parse_size(const char *s, size_t len, uint64_t *out);

#endif
