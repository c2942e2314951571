/* Console logging. Every line goes out whole under one lock, so lines from CPUs, guests and the
 * shell never interleave mid-line. */
#ifndef KERNEL_LOG_H
#define KERNEL_LOG_H

#include <stdarg.h>
#include "kernel/cmdline.h"

extern int log_level;

void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void kvprintf(const char *fmt, va_list ap);
void log_printf(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void console_write(const char *s, unsigned long len);   /* raw, under the console lock */

#define pr_err(...)   log_printf(LOG_ERR, __VA_ARGS__)
#define pr_warn(...)  log_printf(LOG_WARN, __VA_ARGS__)
#define pr_info(...)  log_printf(LOG_INFO, __VA_ARGS__)
#define pr_debug(...) log_printf(LOG_DEBUG, __VA_ARGS__)

/* Stops the machine with a message: powers off with status 1 when `poweroff` was given, else
 * halts every CPU. */
void panic(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
