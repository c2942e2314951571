/* The debug shell on COM1. It runs on CPU 0: from the idle loop and from CPU 0's exit path,
 * so it answers even while a guest spins on every CPU. */
#ifndef KERNEL_SHELL_H
#define KERNEL_SHELL_H

void shell_init(void);      /* prints the first prompt */
void shell_poll(void);      /* reads what has arrived on COM1 and acts on complete lines */

#endif
