/* Internal to the shell: helpers shared by kernel/shell/shell.c and the command files, and the
 * command handlers the table in kernel/shell/shell.c lists. */
#ifndef KERNEL_SHELL_CMDS_H
#define KERNEL_SHELL_CMDS_H

#include <stdbool.h>
#include <stdint.h>
#include "kernel/virt/vcpu.h"

struct vm;

/* "error: <message>" on its own line. */
void sh_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Argument helpers: print an error line and return NULL/false when the word is not valid. */
struct vm *sh_arg_vm(const char *word);
struct vcpu *sh_arg_vcpu(struct vm *vm, const char *word);
bool sh_arg_num(const char *word, const char *what, uint64_t max, uint64_t *out);
const char *sh_vcpu_state(enum vcpu_state s);
/* Hands the console to vm until Ctrl-] (kernel/shell/shell.c). */
void sh_console_enter(struct vm *vm);
void sh_gdb_enter(void);        /* the stub has the console (kernel/gdb) */

/* kernel/shell/shell_cmds_host.c */
void cmd_cpus(int argc, char **argv);
void cmd_mem(int argc, char **argv);
void cmd_dump_host_mem(int argc, char **argv);
void cmd_cpuid(int argc, char **argv);
void cmd_rdmsr(int argc, char **argv);
void cmd_wrmsr(int argc, char **argv);
void cmd_loglevel(int argc, char **argv);
void cmd_reboot(int argc, char **argv);
void cmd_poweroff(int argc, char **argv);

/* kernel/shell/shell_cmds_vm.c */
void cmd_vms(int argc, char **argv);
void cmd_vcpus(int argc, char **argv);
void cmd_regs(int argc, char **argv);
void cmd_exits(int argc, char **argv);
void cmd_trace(int argc, char **argv);
void cmd_dump_guest_mem(int argc, char **argv);
void cmd_gpa(int argc, char **argv);
void cmd_vlapic(int argc, char **argv);
void cmd_vioapic(int argc, char **argv);
void cmd_ports(int argc, char **argv);
void cmd_holes(int argc, char **argv);
void cmd_pause(int argc, char **argv);
void cmd_resume(int argc, char **argv);
void cmd_reset(int argc, char **argv);
void cmd_kill(int argc, char **argv);
void cmd_console(int argc, char **argv);
void cmd_gdb(int argc, char **argv);

/* kernel/shell/shell_cmds_apf.c */
void cmd_apf(int argc, char **argv);
void cmd_evict(int argc, char **argv);

#define SH_DUMP_MAX 4096        /* bytes one dump command shows */

#endif
