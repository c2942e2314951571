#include "drivers/uart.h"
#include "kernel/x86.h"

static bool present;

void uart_init(void)
{
    outb(COM1_BASE + UART_IER, 0);
    outb(COM1_BASE + UART_LCR, UART_LCR_DLAB);
    outb(COM1_BASE + 0, 1);                 /* divisor 1: 115200 baud */
    outb(COM1_BASE + 1, 0);
    outb(COM1_BASE + UART_LCR, 0x03);       /* 8N1 */
    outb(COM1_BASE + UART_FCR, 0x07);       /* FIFOs on and cleared */
    outb(COM1_BASE + UART_MCR, 0x03);       /* DTR, RTS */
    /* A missing UART reads all-ones; then output is dropped rather than spinning forever. */
    present = inb(COM1_BASE + UART_LSR) != 0xFF;
}

void uart_putc(char c)
{
    if (!present)
        return;
    for (unsigned spin = 0; !(inb(COM1_BASE + UART_LSR) & UART_LSR_THRE); spin++)
        if (spin > 1000000)
            return;
    outb(COM1_BASE + UART_THR, (unsigned char)c);
}

int uart_getc(void)
{
    if (!present || !(inb(COM1_BASE + UART_LSR) & UART_LSR_DR))
        return -1;
    return inb(COM1_BASE + UART_RBR);
}

/* Waits until the last byte has left the shift register: an emulator that powers off right
 * after would otherwise drop the end of the final line. */
void uart_flush(void)
{
    for (unsigned spin = 0; present && !(inb(COM1_BASE + UART_LSR) & UART_LSR_TEMT); spin++)
        if (spin > 1000000)
            return;
}
