/* The console side of each VM's COM1: what the guest transmits is collected into lines and printed
 * on Keel's console tagged with the VM's name (or passed straight through under `console <vm>`);
 * what the operator types goes into the UART's receive FIFO. The 16550A register model itself is
 * kernel/dev/vuart16550.c, wired into the VM's ports by kernel/virt/platform.c. */
#ifndef KERNEL_VUART_H
#define KERNEL_VUART_H

#include <stdint.h>
#include <stdbool.h>

#define VUART_BASE      0x3F8
#define VUART_PORTS     8
#define VUART_IRQ       4
#define VUART_LINE_MAX  160

struct vuart {
    unsigned len;
    char line[VUART_LINE_MAX];
    bool direct;                    /* `console <vm>`: pass bytes straight through */
};

struct vm;
void vuart_init(struct vuart *u);
void vuart_put(struct vm *vm, uint8_t c);           /* a byte the guest transmitted */
void vuart_flush(struct vm *vm);        /* print an unfinished line (VM ending) */
bool vuart_push_input(struct vm *vm, uint8_t c);   /* from the shell; false if the FIFO is full */

#endif
