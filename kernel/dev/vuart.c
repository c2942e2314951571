#include "kernel/dev/vuart.h"
#include "kernel/virt/vm.h"
#include "kernel/log.h"
#include "kernel/lib/string.h"
#include "drivers/uart.h"

#define UART_IIR        2
#define UART_MSR        6
#define IIR_NO_INT      0x01
#define IIR_FIFO_ON     0xC0
#define MSR_DCD_DSR_CTS 0xB0
#define FCR_ENABLE      0x01

void vuart_init(struct vuart *u)
{
    memset(u, 0, sizeof *u);
    u->lcr = 0x03;
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

static void put(struct vm *vm, uint8_t c)
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

static int pop_input(struct vuart *u)
{
    int c = -1;
    uint64_t f = spin_lock_irqsave(&u->rx_lock);
    if (u->rx_head != u->rx_tail)
        c = u->rx[u->rx_head++ % VUART_RX_SIZE];
    spin_unlock_irqrestore(&u->rx_lock, f);
    return c;
}

bool vuart_push_input(struct vm *vm, uint8_t c)
{
    struct vuart *u = &vm->uart;
    uint64_t f = spin_lock_irqsave(&u->rx_lock);
    bool ok = u->rx_tail - u->rx_head < VUART_RX_SIZE;
    if (ok)
        u->rx[u->rx_tail++ % VUART_RX_SIZE] = c;
    spin_unlock_irqrestore(&u->rx_lock, f);
    return ok;
}

uint32_t vuart_read(struct vm *vm, unsigned reg)
{
    struct vuart *u = &vm->uart;
    bool dlab = u->lcr & UART_LCR_DLAB;
    switch (reg) {
    case UART_RBR: {
        if (dlab)
            return u->dll;
        int c = pop_input(u);
        return c < 0 ? 0 : (uint32_t)c;
    }
    case UART_IER:
        return dlab ? u->dlm : u->ier;
    case UART_IIR:
        return IIR_NO_INT | IIR_FIFO_ON;
    case UART_LCR:
        return u->lcr;
    case UART_MCR:
        return u->mcr;
    case UART_LSR:
        return UART_LSR_THRE | UART_LSR_TEMT | (u->rx_head != u->rx_tail ? UART_LSR_DR : 0);
    case UART_MSR:
        return MSR_DCD_DSR_CTS;
    default:
        return u->scr;
    }
}

void vuart_write(struct vm *vm, unsigned reg, uint8_t val)
{
    struct vuart *u = &vm->uart;
    bool dlab = u->lcr & UART_LCR_DLAB;
    switch (reg) {
    case UART_THR:
        if (dlab)
            u->dll = val;
        else
            put(vm, val);
        break;
    case UART_IER:
        if (dlab)
            u->dlm = val;
        else
            u->ier = val & 0x0F;
        break;
    case UART_LCR:
        u->lcr = val;
        break;
    case UART_MCR:
        u->mcr = val & 0x1F;
        break;
    case UART_SCR:
        u->scr = val;
        break;
    default:
        break;      /* FCR and the read-only LSR/MSR */
    }
}
