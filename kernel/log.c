#include "kernel/log.h"
#include "kernel/lib/fmt.h"
#include "kernel/spinlock.h"
#include "kernel/power.h"
#include "kernel/percpu.h"
#include "drivers/uart.h"

int log_level = LOG_INFO;
static spinlock_t console_lock = SPINLOCK_INIT;
static volatile bool panicking;
volatile bool console_muted;

static void put_raw(const char *s, unsigned long len)
{
    for (unsigned long i = 0; i < len; i++) {
        if (s[i] == '\n')
            uart_putc('\r');
        uart_putc(s[i]);
    }
}

/* The shell's input line (prompt + what is typed so far): other output erases it first and has
 * it redrawn after a write that ends a line. */
static void (*input_hook)(bool redraw);

void console_set_input_hook(void (*hook)(bool redraw))
{
    input_hook = hook;
}

void console_put_locked(const char *s, unsigned long len)
{
    put_raw(s, len);
}

void console_locked(void (*fn)(void *arg), void *arg)
{
    uint64_t f = spin_lock_irqsave(&console_lock);
    fn(arg);
    spin_unlock_irqrestore(&console_lock, f);
}

void console_write(const char *s, unsigned long len)
{
    if (console_muted)
        return;
    uint64_t f = spin_lock_irqsave(&console_lock);
    void (*hook)(bool) = input_hook;
    if (hook)
        hook(false);
    put_raw(s, len);
    if (hook && len && s[len - 1] == '\n')
        hook(true);
    spin_unlock_irqrestore(&console_lock, f);
}

void kvprintf(const char *fmt, va_list ap)
{
    char buf[512];
    int n = kvsnprintf(buf, sizeof buf, fmt, ap);
    if (n > (int)sizeof buf - 1)
        n = sizeof buf - 1;
    console_write(buf, (unsigned long)n);
}

void kprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    kvprintf(fmt, ap);
    va_end(ap);
}

void log_printf(int level, const char *fmt, ...)
{
    if (level > log_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    kvprintf(fmt, ap);
    va_end(ap);
}

void panic(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    irq_disable();
    va_start(ap, fmt);
    kvsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    /* A second panic (e.g. from the power-off path) must not recurse. */
    if (__atomic_exchange_n(&panicking, true, __ATOMIC_SEQ_CST))
        for (;;)
            halt();
    kprintf("PANIC: %s\n", buf);
    machine_stop(1);
}
