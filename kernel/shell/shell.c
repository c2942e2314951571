/* The debug shell on COM1 (CPU 0 only). shell_poll() is non-blocking: it reads what the UART
 * holds, feeds the line editor, and runs each finished line's command, which is bounded in
 * time. The prompt and the partly typed line sit on the console's last line; other output
 * (guest lines, logs from other CPUs) erases them, prints, and redraws them (kernel/log.c's
 * input hook), so the two never garble each other.
 *
 * `console <vm>` hands the serial line to a VM's vUART both ways until Ctrl-] (0x1d). */
#include "kernel/shell/shell.h"
#include "kernel/gdb/gdb.h"
#include "kernel/shell/shell_cmds.h"
#include "kernel/shell/shell_parse.h"
#include "kernel/shell/line_edit.h"
#include "kernel/log.h"
#include "kernel/percpu.h"
#include "kernel/smp.h"
#include "kernel/virt/vendor.h"
#include "kernel/version.h"
#include "kernel/virt/vm.h"
#include "kernel/lib/fmt.h"
#include "kernel/lib/string.h"
#include "drivers/uart.h"

#define PROMPT          "keel> "
#define CONSOLE_ESCAPE  0x1D        /* Ctrl-] */
#define POLL_BUDGET     256         /* bytes handled per poll */

enum shell_mode { SH_OFF, SH_PROMPT, SH_BUSY, SH_CONSOLE, SH_GDB };

static volatile enum shell_mode mode = SH_OFF;
static bool shown;                  /* prompt + line are on the screen (console lock) */
static struct line_edit le;
static struct vm *console_vm;
/* Bytes typed under `console <vm>` that the vUART's 16-byte FIFO had no room for yet: a real
 * serial line is paced by its baud rate, Keel's console hands over a burst (a pasted line). */
#define TYPEAHEAD       256
static uint8_t typeahead[TYPEAHEAD];
static unsigned ta_head, ta_len;
static bool polling;

static void cmd_help(int argc, char **argv);
static void cmd_version(int argc, char **argv);

static const struct shell_cmd commands[] = {
    { "help",           "[<command>]",            "list the commands, or show one", cmd_help },
    { "version",        "",                       "Keel's version, vendor and CPU count", cmd_version },
    { "cpus",           "",                       "physical CPUs: APIC id, state, what each runs", cmd_cpus },
    { "vms",            "",                       "VMs: state, vCPUs, memory, status or why they ended", cmd_vms },
    { "vcpus",          "[<vm>]",                 "vCPUs: VM, id, physical CPU, state, exits", cmd_vcpus },
    { "regs",           "<vm> <vcpu>",            "a vCPU's registers (read on its own CPU)", cmd_regs },
    { "exits",          "[<vm>] [clear]",         "exit counts by reason per vCPU; 'clear' zeroes them", cmd_exits },
    { "trace",          "<vm> on|off|show",       "record the last exits (reason, RIP, qualification)", cmd_trace },
    { "mem",            "",                       "physical frames: total, free, used by Keel and each VM", cmd_mem },
    { "dump_host_mem",  "<addr> <len>",           "hex dump of host memory (len <= 4096)", cmd_dump_host_mem },
    { "dump_guest_mem", "<vm> <gpa> <len>",       "hex dump of guest RAM (len <= 4096)", cmd_dump_guest_mem },
    { "gpa",            "<vm> <gpa>",             "walk EPT/NPT: host address, page size, rights, type", cmd_gpa },
    { "vlapic",         "<vm> <vcpu>",            "a vCPU's virtual local APIC", cmd_vlapic },
    { "vioapic",        "<vm>",                   "a VM's virtual I/O APIC: pins in use", cmd_vioapic },
    { "ports",          "<vm>",                   "ports a VM used that no device answers", cmd_ports },
    { "holes",          "<vm>",                   "guest-physical pages a VM used where nothing is", cmd_holes },
    { "apf",            "<vm>",                   "lazy RAM and async page faults: counters per vCPU", cmd_apf },
    { "evict",          "<vm> <gpa> [<pages>]",   "take lazy RAM pages away (TLB shootdown first)", cmd_evict },
    { "cpuid",          "<leaf> [<sub>]",         "host CPUID on CPU 0", cmd_cpuid },
    { "rdmsr",          "[-p <cpu>] <msr>",       "read a host MSR (on CPU 0 or <cpu>)", cmd_rdmsr },
    { "wrmsr",          "[-p <cpu>] <msr> <val>", "write a host MSR (on CPU 0 or <cpu>)", cmd_wrmsr },
    { "loglevel",       "[error|warn|info|debug]", "show or set the console log level", cmd_loglevel },
    { "pause",          "<vm>",                   "stop a VM's vCPUs until 'resume'", cmd_pause },
    { "resume",         "<vm>",                   "continue a paused VM", cmd_resume },
    { "reset",          "<vm>",                   "restart a VM from its image (RAM zeroed)", cmd_reset },
    { "kill",           "<vm>",                   "end a VM", cmd_kill },
    { "console",        "<vm>",                   "connect the serial line to a VM's UART; Ctrl-] returns", cmd_console },
    { "gdb",            "<vm>",                   "debug a VM with gdb over this serial line until it detaches", cmd_gdb },
    { "reboot",         "",                       "reset the machine", cmd_reboot },
    { "poweroff",       "",                       "power the machine off", cmd_poweroff },
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

/* ---- helpers for the commands ---- */

void sh_error(const char *fmt, ...)
{
    char buf[160];
    va_list ap;
    va_start(ap, fmt);
    kvsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    kprintf("error: %s\n", buf);
}

static bool any_vm(void)
{
    for (unsigned i = 0; i < VM_MAX; i++)
        if (vms[i].state != VM_FREE)
            return true;
    return false;
}

struct vm *sh_arg_vm(const char *word)
{
    struct vm *vm = vm_by_name(word);
    if (vm)
        return vm;
    if (!any_vm())
        sh_error("no VM named '%.20s': there are no VMs", word);
    else
        sh_error("no VM named '%.20s' (see 'vms')", word);
    return 0;
}

struct vcpu *sh_arg_vcpu(struct vm *vm, const char *word)
{
    uint64_t n;
    if (!shell_number(word, ~0ul, &n)) {
        sh_error("'%.20s' is not a vcpu number", word);
        return 0;
    }
    if (n >= vm->nvcpus) {
        sh_error("vm %s has no vcpu %lu (it has %u)", vm->name, n, vm->nvcpus);
        return 0;
    }
    return vm->vcpus[n];
}

bool sh_arg_num(const char *word, const char *what, uint64_t max, uint64_t *out)
{
    uint64_t v;
    if (!shell_number(word, ~0ul, &v)) {
        sh_error("%s '%.24s' is not a number (decimal or 0x hex)", what, word);
        return false;
    }
    if (v > max) {
        sh_error("%s %#lx is out of range (at most %#lx)", what, v, max);
        return false;
    }
    *out = v;
    return true;
}

const char *sh_vcpu_state(enum vcpu_state s)
{
    switch (s) {
    case VCPU_CREATED:   return "created";
    case VCPU_RUNNING:   return "running";
    case VCPU_HALTED:    return "halted";
    case VCPU_PAUSED:    return "paused";
    case VCPU_WAIT_SIPI: return "wait-sipi";
    case VCPU_STOPPED:   return "stopped";
    default:             return "?";
    }
}

/* ---- commands that belong to the shell itself ---- */

static void cmd_help(int argc, char **argv)
{
    if (argc == 2) {
        const struct shell_cmd *c = shell_lookup(commands, NCOMMANDS, argv[1]);
        if (!c) {
            sh_error("unknown command '%.32s' (try 'help')", argv[1]);
            return;
        }
        kprintf("%s %s\n    %s\n", c->name, c->params, c->help);
        return;
    }
    kprintf("commands (numbers are decimal or 0x hex):\n");
    for (size_t i = 0; i < NCOMMANDS; i++) {
        char head[48];
        ksnprintf(head, sizeof head, "%s %s", commands[i].name, commands[i].params);
        kprintf("  %-38s %s\n", head, commands[i].help);
    }
    kprintf("line editing: Backspace, Ctrl-U, Ctrl-W, Ctrl-C, Up/Down for history\n");
}

static void cmd_version(int argc, char **argv)
{
    kprintf("Keel %s x86-64 microhypervisor; %s; %u cpu(s) online\n", KEEL_VERSION,
            vendor ? vendor->name : "no vmx/svm in use", cpus_online);
}

/* ---- input ---- */

static void emit_locked(void *ctx, const char *s, size_t n)
{
    (void)ctx;
    console_put_locked(s, n);
}

/* Runs under the console lock, before and after every other console write. */
static void input_hook(bool redraw)
{
    if (!redraw) {
        if (shown) {
            le_erase(&le);
            shown = false;
        }
    } else if (mode == SH_PROMPT && !shown) {
        le_draw(&le);
        shown = true;
    }
}

struct feed {
    const uint8_t *bytes;
    unsigned n;
    unsigned used;
    enum le_event ev;
};

/* Feeds bytes until a line is finished or cancelled, under the console lock so the echo and
 * the line's state change together. */
static void feed_locked(void *arg)
{
    struct feed *f = arg;
    f->ev = LE_NONE;
    if (mode != SH_PROMPT)
        return;
    if (!shown) {
        le_draw(&le);
        shown = true;
    }
    while (f->used < f->n && f->ev == LE_NONE)
        f->ev = le_feed(&le, f->bytes[f->used++]);
    if (f->ev == LE_LINE) {
        mode = SH_BUSY;
        shown = false;
    } else if (f->ev == LE_CANCEL) {
        le_draw(&le);
    }
}

static void prompt_locked(void *arg)
{
    (void)arg;
    if (mode == SH_BUSY)
        mode = SH_PROMPT;
    if (mode == SH_PROMPT && !shown) {
        le_draw(&le);
        shown = true;
    }
}

static void run_line(char *line)
{
    char *argv[SHELL_MAX_ARGS];
    char err[96];
    int argc;
    const struct shell_cmd *c = shell_parse(commands, NCOMMANDS, line, &argc, argv, err,
                                            sizeof err);
    if (c)
        c->fn(argc, argv);
    else if (argc || err[0])
        kprintf("error: %s\n", err);
}

static void console_leave(const char *why)
{
    struct vm *vm = console_vm;
    vm->uart.direct = false;
    console_vm = 0;
    ta_len = 0;
    kprintf("\nconsole: %s; back in the shell\n", why);
    mode = SH_BUSY;
    console_locked(prompt_locked, 0);
}

void sh_console_enter(struct vm *vm)
{
    kprintf("console: connected to vm %s; Ctrl-] returns to the shell\n", vm->name);
    console_vm = vm;
    mode = SH_CONSOLE;
    vm->uart.direct = true;
}

/* One byte typed in console mode; false once it ended console mode. */
static bool console_byte(uint8_t c)
{
    if (c == CONSOLE_ESCAPE) {
        console_leave("disconnected");
        return false;
    }
    if (ta_len < TYPEAHEAD)         /* beyond that, bytes are dropped as by a UART overrun */
        typeahead[(ta_head + ta_len++) % TYPEAHEAD] = c;
    return true;
}

static void console_feed(struct vm *vm)
{
    for (; ta_len && vuart_push_input(vm, typeahead[ta_head]); ta_len--)
        ta_head = (ta_head + 1) % TYPEAHEAD;
}

static void console_poll(void)
{
    struct vm *vm = console_vm;
    for (int budget = POLL_BUDGET; budget > 0; budget--) {
        if (vm->state != VM_RUNNING && vm->state != VM_PAUSED) {
            char why[64];
            ksnprintf(why, sizeof why, "vm %s has ended", vm->name);
            console_leave(why);
            return;
        }
        console_feed(vm);
        int c = uart_getc();
        if (c < 0 || !console_byte((uint8_t)c))
            return;
    }
}

void shell_init(void)
{
    le_init(&le, PROMPT, emit_locked, 0);
    console_set_input_hook(input_hook);
    kprintf("keel: debug shell on this console; 'help' lists the commands\n");
    mode = SH_BUSY;
    console_locked(prompt_locked, 0);
}

void sh_gdb_enter(void)
{
    mode = SH_GDB;
}

void shell_poll(void)
{
    if (polling || cpu_id() != 0)
        return;
    gdb_poll();         /* with noshell too: gdb=com2 */
    if (mode == SH_OFF)
        return;
    polling = true;
    vm_ctl_poll();
    if (mode == SH_GDB) {
        if (!gdb_console_active()) {
            mode = SH_BUSY;
            console_locked(prompt_locked, 0);
        }
        polling = false;
        return;
    }
    if (mode == SH_CONSOLE) {
        console_poll();
        polling = false;
        return;
    }
    uint8_t bytes[POLL_BUDGET];
    unsigned n = 0;
    int c;
    while (n < POLL_BUDGET && (c = uart_getc()) >= 0)
        bytes[n++] = (uint8_t)c;
    struct feed f = { bytes, n, 0, LE_NONE };
    while (f.used < f.n && mode == SH_PROMPT) {
        console_locked(feed_locked, &f);
        if (f.ev == LE_LINE) {
            char line[LE_LINE_MAX];
            memcpy(line, le.line, sizeof line);
            run_line(line);
            if (mode == SH_GDB)
                break;              /* the rest of the line's bytes are gdb's: dropped */
            if (mode == SH_CONSOLE) {
                /* what was typed after `console <vm>` goes to the VM */
                while (f.used < f.n && console_byte(f.bytes[f.used++]))
                    ;
                continue;
            }
            console_locked(prompt_locked, 0);
        }
    }
    polling = false;
}
