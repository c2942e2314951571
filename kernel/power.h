/* Ending the machine: power-off with a status for test runs, reset, or halting every CPU. */
#ifndef KERNEL_POWER_H
#define KERNEL_POWER_H

#include <stdbool.h>

extern bool power_off_when_done;    /* the `poweroff` option */

/* Prints `keel: power off status=<s>`; on QEMU the isa-debug-exit port carries the status. */
void power_off(int status) __attribute__((noreturn));
void machine_reboot(void) __attribute__((noreturn));
/* End of Keel's work or a fatal error: power off if asked to, else halt every CPU. */
void machine_stop(int status) __attribute__((noreturn));

#endif
