/* Console logging. Every line goes out whole under one lock, so lines from CPUs, guests and the
 * shell never interleave mid-line. */
#ifndef KERNEL_LOG_H
#define KERNEL_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include "kernel/cmdline.h"

extern int log_level;

void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void kvprintf(const char *fmt, va_list ap);
void log_printf(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void console_write(const char *s, unsigned long len);   /* raw, under the console lock */
/* The console line is gdb's (`gdb <vm>`): output is dropped meanwhile. */
extern volatile bool console_muted;
/* For the shell: hook(false) runs before other output (erase the input line), hook(true) after
 * output that ends a line (redraw it); both under the console lock, writing with
 * console_put_locked(). console_locked() runs fn under the lock (the shell's own echo). */
void console_set_input_hook(void (*hook)(bool redraw));
void console_put_locked(const char *s, unsigned long len);
void console_locked(void (*fn)(void *arg), void *arg);

#define pr_err(...)   log_printf(LOG_ERR, __VA_ARGS__)
#define pr_warn(...)  log_printf(LOG_WARN, __VA_ARGS__)
#define pr_info(...)  log_printf(LOG_INFO, __VA_ARGS__)
#define pr_debug(...) log_printf(LOG_DEBUG, __VA_ARGS__)

/* Stops the machine with a message: powers off with status 1 when `poweroff` was given, else
 * halts every CPU. */
void panic(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
