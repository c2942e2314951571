/* Placeholder until the shell lands: drains COM1 input so nothing piles up. */
#include "kernel/shell.h"
#include "drivers/uart.h"

void shell_init(void) {}

void shell_poll(void)
{
    while (uart_getc() >= 0)
        ;
}
