/* 16550 UART console (COM1 unless console= or ACPI SPCR say otherwise): polled output,
 * non-blocking input for the shell. With no UART there, output is dropped. */
#ifndef DRIVERS_UART_H
#define DRIVERS_UART_H

#include <stdbool.h>
#include <stdint.h>

#define COM1_BASE   0x3F8
#define UART_CLOCK_BAUD 115200u /* 1.8432 MHz / 16: divisor 1 */
#define UART_THR    0   /* transmit holding (write) */
#define UART_RBR    0   /* receive buffer (read) */
#define UART_IER    1
#define UART_FCR    2
#define UART_LCR    3
#define UART_MCR    4
#define UART_LSR    5
#define UART_SCR    7
#define UART_LSR_DR     0x01
#define UART_LSR_THRE   0x20
#define UART_LSR_TEMT   0x40
#define UART_LCR_DLAB   0x80

/* port 0 = no console; baud 0 = keep the rate the firmware set. Returns whether a UART
 * answered there. */
bool uart_init(uint16_t port, uint32_t baud);
void uart_putc(char c);
int uart_getc(void);    /* -1 when nothing is waiting */
void uart_flush(void);  /* waits until everything written has been sent */

#endif
