/* Bounded printf-style formatting (no floating point).
 * Conversions: %d %i %u %x %X %c %s %p %%. Flags: '-' '0' '#'. Width and
 * precision as digits or '*'. Length modifiers: hh h l ll z.
 * Returns the length the full output would have (like C's snprintf) and
 * always NUL-terminates when n > 0. Unknown conversions are copied as-is. */
#ifndef KEEL_LIB_FMT_H
#define KEEL_LIB_FMT_H

#include <stdarg.h>
#include <stddef.h>

int kvsnprintf(char *buf, size_t n, const char *fmt, va_list ap);
int ksnprintf(char *buf, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
