/* The gdb remote stub: the serial line (COM2, or the console handed over by `gdb <vm>`), the
 * session, and the answers to gdb's packets. Polled on CPU 0 from the shell's poll; the VM side
 * is gdb_target.c, the packet layer gdb_packet.c.
 *
 * A session starts with the first packet gdb sends (it attaches: every vCPU of the VM stops)
 * and ends with D (detach: breakpoints out, the VM runs on) or k (the VM is killed). Threads
 * are vCPUs, thread id = vCPU index + 1. The target description names only the architecture
 * (i386, or i386:x86-64 when vCPU 0 was in long mode at attach), so gdb uses its default
 * register layout; the g packet carries the GPRs, RIP, EFLAGS and CS; the data segment
 * selectors are reported unavailable (Keel does not keep them in its vendor-neutral state). */
#include "kernel/gdb/gdb.h"
#include "kernel/gdb/gdb_packet.h"
#include "kernel/gdb/gdb_target.h"
#include "kernel/virt/vendor.h"
#include "kernel/virt/vm.h"
#include "kernel/log.h"
#include "kernel/percpu.h"
#include "kernel/x86.h"
#include "kernel/lib/fmt.h"
#include "kernel/lib/string.h"
#include "drivers/timer.h"
#include "drivers/uart.h"

#define COM2_BASE       0x2F8
#define IDLE_US         5000        /* inside a packet: wait this long for its next byte */
#define POLL_BUDGET     (2 * GDB_TX_MAX)
#define SIGINT          2
#define SIGTRAP         5
#define SIGSEGV         11
#define CONSOLE_ESCAPE  0x1D        /* Ctrl-] leaves `gdb <vm>` before gdb has connected */
#define MEM_MAX         ((GDB_PKT_MAX - 8) / 2)

enum { LINE_NONE, LINE_COM2, LINE_CONSOLE };

static struct {
    int line;
    char vm_name[GUEST_NAME_MAX];   /* COM2: the VM named in gdb=, "" = the first VM */
    struct vm *vm;
    bool active, running, busy;
    int gthread, cthread;           /* Hg / Hc as vCPU index; -1: all */
    int stop_vcpu;                  /* the last stop, for '?' */
    unsigned stop_kind;
    uint64_t stop_addr;
    struct gdb_rx rx;
    struct gdb_tx tx;
    struct gdb_cmd cmd;
    uint8_t scratch[GDB_PKT_MAX];
    char out[GDB_PKT_MAX];
} s;

/* ---- the line ---- */

static bool com2_init(void)
{
    if (inb(COM2_BASE + UART_LSR) == 0xFF)
        return false;
    outb(COM2_BASE + UART_IER, 0);
    outb(COM2_BASE + UART_LCR, UART_LCR_DLAB);
    outb(COM2_BASE + 0, 1);         /* divisor 1: 115200 baud */
    outb(COM2_BASE + 1, 0);
    outb(COM2_BASE + UART_LCR, 0x03);       /* 8N1 */
    outb(COM2_BASE + UART_FCR, 0x07);
    outb(COM2_BASE + UART_MCR, 0x03);
    return inb(COM2_BASE + UART_LSR) != 0xFF;
}

static int line_getc(void)
{
    if (s.line == LINE_CONSOLE)
        return uart_getc();
    if (!(inb(COM2_BASE + UART_LSR) & UART_LSR_DR))
        return -1;
    return inb(COM2_BASE + UART_RBR);
}

static void line_write(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s.line == LINE_CONSOLE) {
            uart_putc(p[i]);
            continue;
        }
        for (unsigned spin = 0; !(inb(COM2_BASE + UART_LSR) & UART_LSR_THRE); spin++)
            if (spin > 1000000)
                return;
        outb(COM2_BASE + UART_THR, (uint8_t)p[i]);
    }
}

static void send(const char *data, size_t len)
{
    if (gdb_tx_set(&s.tx, (const uint8_t *)data, len))
        line_write(s.tx.frame, s.tx.len);
}

static void reply(const char *str) { send(str, strlen(str)); }

static void end_session(void)
{
    s.active = s.running = false;
    if (s.line == LINE_CONSOLE) {
        s.line = LINE_NONE;
        console_muted = false;
        kprintf("gdb: session on the console ended\n");
    }
}

/* ---- stops ---- */

static struct vcpu *vcpu_at(int idx)
{
    return s.vm->vcpus[idx >= 0 && (unsigned)idx < s.vm->nvcpus ? idx : 0];
}

static bool vm_live(void)
{
    return s.vm->state == VM_RUNNING || s.vm->state == VM_PAUSED;
}

static void stop_reply(void)
{
    if (!vm_live() && s.vm->exited) {
        ksnprintf(s.out, sizeof s.out, "W%02x", s.vm->status & 0xFF);
    } else if (!vm_live()) {
        ksnprintf(s.out, sizeof s.out, "T%02xthread:%x;", SIGSEGV, s.stop_vcpu + 1);
    } else {
        static const char *const why[] = { [STOP_SWBREAK] = "swbreak:;",
                                           [STOP_HWBREAK] = "hwbreak:;" };
        int n = ksnprintf(s.out, sizeof s.out, "T%02xthread:%x;",
                          s.stop_kind == STOP_SIGINT ? SIGINT : SIGTRAP, s.stop_vcpu + 1);
        if (s.stop_kind == STOP_WATCH || s.stop_kind == STOP_AWATCH)
            ksnprintf(s.out + n, sizeof s.out - n, "%s:%lx;",
                      s.stop_kind == STOP_WATCH ? "watch" : "awatch", s.stop_addr);
        else if (s.stop_kind == STOP_SWBREAK || s.stop_kind == STOP_HWBREAK)
            ksnprintf(s.out + n, sizeof s.out - n, "%s", why[s.stop_kind]);
    }
    s.gthread = s.stop_vcpu;
    reply(s.out);
}

/* While running: a vCPU's report, the VM's end, or (intr) Ctrl-C. */
static void check_stop(bool intr)
{
    int v;
    unsigned kind;
    uint64_t addr;
    bool reported = tgt_reported(&v, &kind, &addr);
    if (!reported && !intr && vm_live())
        return;
    if (!tgt_stop_all())
        kprintf("gdb: vm %s: a vcpu did not stop\n", s.vm->name);
    if (reported || tgt_reported(&v, &kind, &addr)) {
        s.stop_vcpu = v;
        s.stop_kind = kind;
        s.stop_addr = addr;
    } else {
        s.stop_vcpu = s.gthread >= 0 ? s.gthread : 0;
        s.stop_kind = STOP_SIGINT;
    }
    s.running = false;
    stop_reply();
}

static struct vm *pick_vm(void)
{
    if (s.line == LINE_CONSOLE)
        return s.vm;
    if (s.vm_name[0])
        return vm_by_name(s.vm_name);
    for (unsigned i = 0; i < VM_MAX; i++)
        if (vms[i].state != VM_FREE)
            return &vms[i];
    return 0;
}

static bool attach(void)
{
    struct vm *vm = pick_vm();
    if (!vm || !vm->nvcpus)
        return false;
    s.vm = vm;
    tgt_attach(vm);
    s.active = true;
    s.running = false;
    s.gthread = 0;
    s.cthread = -1;
    s.stop_vcpu = 0;
    s.stop_kind = STOP_NONE;
    if (!tgt_stop_all())
        kprintf("gdb: vm %s: a vcpu did not stop\n", vm->name);
    return true;
}

/* ---- resuming ---- */

static void resume(uint32_t step_mask)
{
    if (!vm_live()) {
        reply(s.vm->exited ? "W00" : "X0b");
        end_session();
        return;
    }
    tgt_resume(step_mask);
    s.running = true;
}

static void vcont(const struct gdb_cmd *c)
{
    uint32_t mask = 0;
    for (unsigned i = 0; i < s.vm->nvcpus; i++)
        for (unsigned k = 0; k < c->nvcont; k++)
            if (c->vcont[k].thread == GDB_THREAD_ALL || c->vcont[k].thread == i + 1) {
                mask |= c->vcont[k].action == 's' ? 1u << i : 0;
                break;
            }
    resume(mask);
}

/* ---- registers and memory ---- */

static int reg_size(unsigned n)
{
    unsigned ngpr = tgt_wide() ? 16 : 8;
    return n >= tgt_nregs() ? -1 : tgt_wide() && n <= ngpr ? 8 : 4;
}

static void read_regs(struct vcpu *v)
{
    size_t o = 0;
    for (unsigned n = 0; n < tgt_nregs(); n++) {
        uint64_t val;
        int size = tgt_get_reg(v, n, &val);
        if (size > 0) {
            gdb_hex_le(s.out + o, val, (unsigned)size);
        } else {
            size = reg_size(n);
            memset(s.out + o, 'x', 2 * (size_t)size);
        }
        o += 2 * (size_t)size;
    }
    send(s.out, o);
}

static uint64_t le_value(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;)
        v = v << 8 | p[i];
    return v;
}

static void write_regs(struct vcpu *v, const struct gdb_cmd *c)
{
    size_t off = 0;
    for (unsigned n = 0; n < tgt_nregs(); n++) {
        int size = reg_size(n);
        if (off + (size_t)size > c->dlen)
            break;
        uint64_t val;
        /* Unchanged registers are not written back: CS cannot be written at all. */
        if (tgt_get_reg(v, n, &val) > 0 && val != le_value(c->data + off, (size_t)size))
            tgt_set_reg(v, n, le_value(c->data + off, (size_t)size));
        off += (size_t)size;
    }
    reply("OK");
}

static void read_mem(struct vcpu *v, const struct gdb_cmd *c)
{
    static uint8_t buf[MEM_MAX];
    size_t len = c->len < MEM_MAX ? (size_t)c->len : MEM_MAX;
    size_t n = len ? tgt_read_mem(v, c->addr, buf, len) : 0;
    if (len && !n) {
        reply("E14");
        return;
    }
    gdb_hex(s.out, buf, n);
    send(s.out, 2 * n);
}

/* ---- queries ---- */

static const char xml32[] = "<?xml version=\"1.0\"?><!DOCTYPE target SYSTEM \"gdb-target.dtd\">"
                            "<target><architecture>i386</architecture></target>";
static const char xml64[] = "<?xml version=\"1.0\"?><!DOCTYPE target SYSTEM \"gdb-target.dtd\">"
                            "<target><architecture>i386:x86-64</architecture></target>";

static void xfer(const struct gdb_cmd *c)
{
    const char *x = tgt_wide() ? xml64 : xml32;
    size_t total = tgt_wide() ? sizeof xml64 - 1 : sizeof xml32 - 1;
    if (strcmp(c->annex, "target.xml")) {
        reply("E00");
        return;
    }
    size_t off = c->addr < total ? (size_t)c->addr : total;
    size_t n = total - off < c->len ? total - off : (size_t)c->len;
    if (n > sizeof s.out - 1)
        n = sizeof s.out - 1;
    s.out[0] = off + n < total ? 'm' : 'l';
    memcpy(s.out + 1, x + off, n);
    send(s.out, n + 1);
}

static void thread_list(void)
{
    size_t o = 0;
    s.out[o++] = 'm';
    for (unsigned i = 0; i < s.vm->nvcpus; i++)
        o += (size_t)ksnprintf(s.out + o, sizeof s.out - o, i ? ",%x" : "%x", i + 1);
    send(s.out, o);
}

/* Thread id -> vCPU index: -1 for all/any, -2 for no such thread. */
static int thread_index(int64_t tid)
{
    if (tid == GDB_THREAD_ALL || tid == GDB_THREAD_ANY)
        return -1;
    return tid <= s.vm->nvcpus ? (int)tid - 1 : -2;
}

/* ---- packets ---- */

static void packet(void)
{
    struct gdb_cmd *c = &s.cmd;
    gdb_parse(s.rx.buf, s.rx.len, c, s.scratch, sizeof s.scratch);
    if (!s.active && !attach()) {
        reply("E01");
        return;
    }
    if (s.running && c->kind != GDB_STATUS) {
        reply("E01");               /* all-stop: only Ctrl-C while running */
        return;
    }
    struct vcpu *v = vcpu_at(s.gthread);
    uint64_t val;
    int r, idx;
    switch (c->kind) {
    case GDB_BAD:           reply("E01"); break;
    case GDB_UNKNOWN:       reply(""); break;
    case GDB_STATUS:        if (!s.running) stop_reply(); break;
    case GDB_READ_REGS:     read_regs(v); break;
    case GDB_WRITE_REGS:    write_regs(v, c); break;
    case GDB_READ_REG:
        r = tgt_get_reg(v, c->reg, &val);
        if (r < 0) {
            reply("E01");
        } else if (r == 0) {
            memset(s.out, 'x', 8);
            send(s.out, 8);
        } else {
            gdb_hex_le(s.out, val, (unsigned)r);
            send(s.out, 2 * (size_t)r);
        }
        break;
    case GDB_WRITE_REG:
        r = reg_size(c->reg);
        reply(r > 0 && c->dlen == (size_t)r &&
              tgt_set_reg(v, c->reg, le_value(c->data, c->dlen)) > 0 ? "OK" : "E01");
        break;
    case GDB_READ_MEM:      read_mem(v, c); break;
    case GDB_WRITE_MEM:     reply(tgt_write_mem(v, c->addr, c->data, c->dlen) ? "E14" : "OK");
                            break;
    case GDB_CONT:
    case GDB_STEP:
        idx = s.cthread >= 0 ? s.cthread : s.gthread;
        if (c->has_addr)
            vendor->set_reg(vcpu_at(idx), VREG_RIP, c->addr);
        resume(c->kind == GDB_STEP ? 1u << (idx >= 0 ? idx : 0) : 0);
        break;
    case GDB_VCONT:         vcont(c); break;
    case GDB_VCONT_QUERY:   reply("vCont;c;C;s;S"); break;
    case GDB_INSERT:
    case GDB_REMOVE:
        r = tgt_breakpoint(v, c->kind == GDB_INSERT, c->type, c->addr, c->len);
        reply(r == 0 ? "OK" : r > 0 ? "" : "E01");
        break;
    case GDB_SET_THREAD:
        idx = thread_index(c->thread);
        if (idx == -2) {
            reply("E01");
            break;
        }
        if (c->type == 'g')
            s.gthread = idx >= 0 ? idx : s.gthread;
        else
            s.cthread = idx;
        reply("OK");
        break;
    case GDB_THREAD_ALIVE:  reply(thread_index(c->thread) >= 0 ? "OK" : "E01"); break;
    case GDB_SUPPORTED:
        ksnprintf(s.out, sizeof s.out, "PacketSize=%x;qXfer:features:read+;swbreak+;hwbreak+",
                  GDB_PKT_MAX);
        reply(s.out);
        break;
    case GDB_THREADS_FIRST: thread_list(); break;
    case GDB_THREADS_NEXT:  reply("l"); break;
    case GDB_CURRENT_THREAD:
        ksnprintf(s.out, sizeof s.out, "QC%x", (s.gthread >= 0 ? s.gthread : 0) + 1);
        reply(s.out);
        break;
    case GDB_ATTACHED:      reply("1"); break;
    case GDB_XFER_FEATURES: xfer(c); break;
    case GDB_DETACH:
        tgt_detach();
        reply("OK");
        end_session();
        break;
    case GDB_KILL: {
        char err[112];
        tgt_detach();
        if (vm_live())
            vm_kill(s.vm, err, sizeof err);
        end_session();
        break;
    }
    }
}

static void byte(uint8_t c)
{
    switch (gdb_rx_byte(&s.rx, c)) {
    case GDB_RX_PACKET:
        line_write("+", 1);
        packet();
        break;
    case GDB_RX_BAD:
        line_write("-", 1);
        break;
    case GDB_RX_NACK:
        if (gdb_tx_ack(&s.tx, false))
            line_write(s.tx.frame, s.tx.len);
        break;
    case GDB_RX_ACK:
        gdb_tx_ack(&s.tx, true);
        break;
    case GDB_RX_INTR:
        if (s.active && s.running)
            check_stop(true);
        break;
    default:
        if (c == CONSOLE_ESCAPE && s.line == LINE_CONSOLE && !s.active)
            end_session();
        break;
    }
}

void gdb_poll(void)
{
    if (s.line == LINE_NONE || s.busy || cpu_id() != 0)
        return;
    s.busy = true;
    if (s.active && s.running)
        check_stop(false);
    uint64_t idle_end = 0;
    for (unsigned budget = POLL_BUDGET; budget && s.line != LINE_NONE; budget--) {
        int c = line_getc();
        if (c >= 0) {
            idle_end = 0;
            byte((uint8_t)c);
            continue;
        }
        /* Inside a packet the rest follows at line speed: wait for it rather than let the
         * UART's FIFO overflow until the next poll. */
        if (!gdb_rx_busy(&s.rx))
            break;
        if (!idle_end)
            idle_end = tsc_deadline(IDLE_US);
        else if (tsc_passed(idle_end))
            break;
        cpu_relax();
    }
    s.busy = false;
}

/* ---- starting ---- */

bool gdb_setup(const char *value)
{
    if (strncmp(value, "com2", 4) || (value[4] && value[4] != ':'))
        return false;
    if (value[4] == ':') {
        size_t n = strlen(value + 5);
        if (!n || n >= sizeof s.vm_name)
            return false;
        memcpy(s.vm_name, value + 5, n + 1);
    }
    if (!com2_init()) {
        kprintf("gdb: no UART at %#x; gdb=%s ignored\n", COM2_BASE, value);
        return true;
    }
    gdb_rx_init(&s.rx);
    s.line = LINE_COM2;
    kprintf("gdb: stub on COM2 (%#x) for vm %s\n", COM2_BASE,
            s.vm_name[0] ? s.vm_name : "(the first)");
    return true;
}

int gdb_console_start(struct vm *vm, char *err, size_t errlen)
{
    if (s.line != LINE_NONE) {
        ksnprintf(err, errlen, "a gdb stub is already on %s", s.line == LINE_COM2 ? "COM2" :
                  "the console");
        return -1;
    }
    kprintf("gdb: the console is vm %s's gdb line now: connect gdb (Ctrl-] returns first)\n",
            vm->name);
    gdb_rx_init(&s.rx);
    s.vm = vm;
    s.active = false;
    s.line = LINE_CONSOLE;
    console_muted = true;           /* other output would break gdb's packets */
    return 0;
}

bool gdb_console_active(void)
{
    return s.line == LINE_CONSOLE;
}
