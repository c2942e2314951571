/* The 16550 UART each VM sees at 0x3f8: output is collected into lines and printed on Keel's
 * console tagged with the VM's name; input comes from the shell's `console` command. */
#ifndef KERNEL_VUART_H
#define KERNEL_VUART_H

#include <stdint.h>
#include <stdbool.h>
#include "kernel/spinlock.h"

#define VUART_BASE      0x3F8
#define VUART_PORTS     8
#define VUART_LINE_MAX  160
#define VUART_RX_SIZE   64

struct vuart {
    uint8_t ier, lcr, mcr, scr, dll, dlm;
    unsigned len;
    char line[VUART_LINE_MAX];
    spinlock_t rx_lock;
    unsigned rx_head, rx_tail;
    uint8_t rx[VUART_RX_SIZE];
    bool direct;                    /* `console <vm>`: pass bytes straight through */
};

struct vm;
void vuart_init(struct vuart *u);
uint32_t vuart_read(struct vm *vm, unsigned reg);
void vuart_write(struct vm *vm, unsigned reg, uint8_t val);
void vuart_flush(struct vm *vm);        /* print an unfinished line (VM ending) */
bool vuart_push_input(struct vm *vm, uint8_t c);   /* from the shell; false if full */

#endif
