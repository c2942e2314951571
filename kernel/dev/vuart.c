#include "kernel/dev/vuart.h"
#include "kernel/virt/vm.h"
#include "kernel/log.h"
#include "kernel/lib/string.h"
#include "drivers/uart.h"
#include "kernel/virt/platform.h"

void vuart_init(struct vuart *u)
{
    memset(u, 0, sizeof *u);
}

static void emit_line(struct vm *vm)
{
    struct vuart *u = &vm->uart;
    kprintf("[%s] %.*s\n", vm->name, (int)u->len, u->line);
    u->len = 0;
}

void vuart_flush(struct vm *vm)
{
    if (vm->uart.len)
        emit_line(vm);
}

void vuart_put(struct vm *vm, uint8_t c)
{
    struct vuart *u = &vm->uart;
    if (u->direct) {
        char ch = (char)c;
        console_write(&ch, 1);
        return;
    }
    if (c == '\r')
        return;
    if (c == '\n') {
        emit_line(vm);
        return;
    }
    /* Unprintable bytes would garble the operator's terminal. */
    u->line[u->len++] = (c >= 0x20 && c < 0x7F) || c == '\t' ? (char)c : '?';
    if (u->len == VUART_LINE_MAX)
        emit_line(vm);
}

bool vuart_push_input(struct vm *vm, uint8_t c)
{
    return platform_uart_input(vm, c);
}
