#include "drivers/uart.h"
#include "kernel/x86.h"

#define UART_DLL    0   /* divisor latch, with LCR.DLAB */
#define UART_DLM    1
#define UART_LCR_8N1    0x03

static bool present;
static uint16_t base;

bool uart_init(uint16_t port, uint32_t baud)
{
    present = false;
    base = port;
    if (!port)
        return false;
    /* A missing UART reads all-ones: then output is dropped rather than spinning forever. */
    if (inb(port + UART_LSR) == 0xFF)
        return false;
    outb(port + UART_IER, 0);
    if (baud) {
        uint32_t div = UART_CLOCK_BAUD / baud;
        outb(port + UART_LCR, UART_LCR_DLAB);
        outb(port + UART_DLL, (uint8_t)div);
        outb(port + UART_DLM, (uint8_t)(div >> 8));
    }
    outb(port + UART_LCR, UART_LCR_8N1);
    outb(port + UART_FCR, 0x07);            /* FIFOs on and cleared */
    outb(port + UART_MCR, 0x03);            /* DTR, RTS */
    present = inb(port + UART_LSR) != 0xFF;
    return present;
}

void uart_putc(char c)
{
    if (!present)
        return;
    for (unsigned spin = 0; !(inb(base + UART_LSR) & UART_LSR_THRE); spin++)
        if (spin > 1000000)
            return;
    outb(base + UART_THR, (unsigned char)c);
}

int uart_getc(void)
{
    if (!present || !(inb(base + UART_LSR) & UART_LSR_DR))
        return -1;
    return inb(base + UART_RBR);
}

/* Waits until the last byte has left the shift register: an emulator that powers off right
 * after would otherwise drop the end of the final line. */
void uart_flush(void)
{
    for (unsigned spin = 0; present && !(inb(base + UART_LSR) & UART_LSR_TEMT); spin++)
        if (spin > 1000000)
            return;
}
