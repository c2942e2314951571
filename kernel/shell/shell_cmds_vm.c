/* Shell commands about VMs and vCPUs. A vCPU's registers live in its VMCS/VMCB, readable only
 * on the CPU that runs it: `regs` reads them there with smp_call(), which runs in that CPU's
 * exit path (cpu_do_work) while the vCPU is out of the guest. */
#include "kernel/shell/shell_cmds.h"
#include "kernel/shell/shell_parse.h"
#include "kernel/log.h"
#include "kernel/percpu.h"
#include "kernel/smp.h"
#include "kernel/virt/vendor.h"
#include "kernel/virt/vm.h"
#include "kernel/gdb/gdb.h"
#include "kernel/lib/fmt.h"
#include "kernel/lib/string.h"
#include "mm/gpa.h"
#include "drivers/timer.h"

static bool no_vms(void)
{
    for (unsigned i = 0; i < VM_MAX; i++)
        if (vms[i].state != VM_FREE)
            return false;
    kprintf("no VMs\n");
    return true;
}

void cmd_vms(int argc, char **argv)
{
    if (no_vms())
        return;
    kprintf("%-16s %-8s %5s %8s %4s  %s\n", "name", "state", "vcpus", "mem", "post", "status");
    for (unsigned i = 0; i < VM_MAX; i++) {
        struct vm *vm = &vms[i];
        if (vm->state == VM_FREE)
            continue;
        const char *status = vm->state == VM_ENDED ? vm->reason :
                             vm->state == VM_PAUSED ? "paused from the shell" : "-";
        char post[4] = "-";
        if (vm->platform.post_seen)
            ksnprintf(post, sizeof post, "%02x", vm->platform.post);
        kprintf("%-16s %-8s %5u %6luM %4s  %s\n", vm->name, vm_state_name(vm), vm->nvcpus,
                vm->cfg.mem >> 20, post, status);
    }
}

void cmd_vcpus(int argc, char **argv)
{
    struct vm *only = 0;
    if (argc == 2 && !(only = sh_arg_vm(argv[1])))
        return;
    if (!only && no_vms())
        return;
    kprintf("%-16s %4s %4s %-10s %12s\n", "vm", "vcpu", "pcpu", "state", "exits");
    for (unsigned i = 0; i < VM_MAX; i++) {
        struct vm *vm = &vms[i];
        if (vm->state == VM_FREE || (only && vm != only))
            continue;
        for (unsigned k = 0; k < vm->nvcpus; k++) {
            struct vcpu *v = vm->vcpus[k];
            kprintf("%-16s %4u %4u %-10s %12lu\n", vm->name, v->id, v->pcpu,
                    sh_vcpu_state(v->state), v->exits_total);
        }
    }
}

/* ---- regs ---- */

static const enum vreg shown_vregs[] = { VREG_RIP, VREG_RSP, VREG_RFLAGS, VREG_CR0, VREG_CR2,
                                         VREG_CR3, VREG_CR4, VREG_EFER, VREG_CS_SEL };

struct regs_call {
    struct vcpu *v;
    bool ok;
    const char *why;
    uint64_t gpr[GPR_COUNT];
    uint64_t vr[VREG_COUNT];
};

/* On the vCPU's own CPU: either in its exit path (it is this CPU's vCPU and out of the guest
 * while we run) or after it stopped (this CPU runs no vCPU; its VMCS/VMCB is left as it was). */
static void regs_here(void *arg)
{
    struct regs_call *c = arg;
    struct vcpu *v = c->v, *cur = this_cpu()->vcpu;
    if (cur && cur != v) {
        c->why = "its cpu now runs another vcpu";
        return;
    }
    if (v->state == VCPU_CREATED || v->state == VCPU_WAIT_SIPI) {
        c->why = "it has not entered the guest yet";
        return;
    }
    memcpy(c->gpr, v->gpr, sizeof c->gpr);
    for (unsigned i = 0; i < sizeof shown_vregs / sizeof shown_vregs[0]; i++)
        c->vr[shown_vregs[i]] = vendor->get_reg(v, shown_vregs[i]);
    c->ok = true;
}

void cmd_regs(int argc, char **argv)
{
    struct vm *vm = sh_arg_vm(argv[1]);
    struct vcpu *v = vm ? sh_arg_vcpu(vm, argv[2]) : 0;
    if (!v)
        return;
    struct regs_call c = { .v = v };
    if (!smp_call(v->pcpu, regs_here, &c)) {
        sh_error("cpu %u did not answer (vm %s vcpu %u is %s)", v->pcpu, vm->name, v->id,
                 sh_vcpu_state(v->state));
        return;
    }
    if (!c.ok) {
        sh_error("vm %s vcpu %u: no registers to show: %s", vm->name, v->id, c.why);
        return;
    }
    const uint64_t *g = c.gpr, *r = c.vr;
    kprintf("vm %s vcpu %u on cpu %u (%s):\n", vm->name, v->id, v->pcpu, sh_vcpu_state(v->state));
    kprintf("  rax=%016lx rbx=%016lx rcx=%016lx rdx=%016lx\n", g[GPR_RAX], g[GPR_RBX],
            g[GPR_RCX], g[GPR_RDX]);
    kprintf("  rsi=%016lx rdi=%016lx rbp=%016lx rsp=%016lx\n", g[GPR_RSI], g[GPR_RDI],
            g[GPR_RBP], r[VREG_RSP]);
    kprintf("  r8 =%016lx r9 =%016lx r10=%016lx r11=%016lx\n", g[GPR_R8], g[GPR_R9],
            g[GPR_R10], g[GPR_R11]);
    kprintf("  r12=%016lx r13=%016lx r14=%016lx r15=%016lx\n", g[GPR_R12], g[GPR_R13],
            g[GPR_R14], g[GPR_R15]);
    kprintf("  rip=%016lx rflags=%016lx cs=%04lx\n", r[VREG_RIP], r[VREG_RFLAGS], r[VREG_CS_SEL]);
    kprintf("  cr0=%016lx cr2=%016lx cr3=%016lx\n", r[VREG_CR0], r[VREG_CR2], r[VREG_CR3]);
    kprintf("  cr4=%016lx efer=%016lx\n", r[VREG_CR4], r[VREG_EFER]);
}

/* ---- exits and trace ---- */

static void show_exits(struct vm *vm)
{
    for (unsigned k = 0; k < vm->nvcpus; k++) {
        struct vcpu *v = vm->vcpus[k];
        kprintf("vm %s vcpu %u: %lu exits\n", vm->name, v->id, v->exits_total);
        uint64_t sum = 0;
        for (unsigned i = 0; i < EXIT_SLOTS; i++) {
            uint64_t n = v->exits[i];
            if (!n)
                continue;
            sum += n;
            uint32_t code = vendor->exit_code(i);
            kprintf("  %-28s %#6x %12lu\n", vendor->exit_name(code), code, n);
        }
        kprintf("  %-28s %6s %12lu\n", "total", "", sum);
    }
}

static void clear_exits(struct vm *vm)
{
    for (unsigned k = 0; k < vm->nvcpus; k++) {
        struct vcpu *v = vm->vcpus[k];
        memset(v->exits, 0, sizeof v->exits);
        v->exits_total = 0;
    }
    kprintf("vm %s: exit counts cleared\n", vm->name);
}

void cmd_exits(int argc, char **argv)
{
    struct vm *only = 0;
    bool clear = false;
    if (argc == 3) {
        if (strcmp(argv[2], "clear")) {
            sh_error("usage: exits [<vm>] [clear]");
            return;
        }
        clear = true;
    }
    if (argc >= 2) {
        if (argc == 2 && !strcmp(argv[1], "clear") && !vm_by_name("clear"))
            clear = true;
        else if (!(only = sh_arg_vm(argv[1])))
            return;
    }
    if (!only && no_vms())
        return;
    for (unsigned i = 0; i < VM_MAX; i++) {
        struct vm *vm = &vms[i];
        if (vm->state == VM_FREE || (only && vm != only))
            continue;
        if (clear)
            clear_exits(vm);
        else
            show_exits(vm);
    }
}

static void show_trace(struct vm *vm)
{
    for (unsigned k = 0; k < vm->nvcpus; k++) {
        struct vcpu *v = vm->vcpus[k];
        unsigned next = v->trace_next;
        unsigned n = next < TRACE_SLOTS ? next : TRACE_SLOTS;
        kprintf("vm %s vcpu %u: tracing %s, last %u exit(s), oldest first\n", vm->name, v->id,
                v->trace_on ? "on" : "off", n);
        uint64_t t0 = n ? v->trace[(next - n) % TRACE_SLOTS].tsc : 0;
        for (unsigned i = next - n; i != next; i++) {
            const struct exit_trace *t = &v->trace[i % TRACE_SLOTS];
            kprintf("  +%-12lu %-28s rip=%016lx qual=%#lx\n", t->tsc - t0,
                    vendor->exit_name(t->reason), t->rip, t->qual);
        }
    }
}

void cmd_trace(int argc, char **argv)
{
    struct vm *vm = sh_arg_vm(argv[1]);
    if (!vm)
        return;
    bool on = !strcmp(argv[2], "on");
    if (on || !strcmp(argv[2], "off")) {
        for (unsigned k = 0; k < vm->nvcpus; k++) {
            struct vcpu *v = vm->vcpus[k];
            v->trace_on = false;
            if (on) {
                v->trace_next = 0;
                v->trace_on = true;
            }
        }
        kprintf("vm %s: exit tracing %s\n", vm->name, on ? "on" : "off");
    } else if (!strcmp(argv[2], "show")) {
        show_trace(vm);
    } else {
        sh_error("usage: trace <vm> on|off|show");
    }
}

/* ---- guest memory ---- */

static const char *kind_name(enum gpa_kind k)
{
    switch (k) {
    case GPA_RAM:  return "RAM";
    case GPA_LAZY: return "lazy RAM (backed on first touch)";
    case GPA_MMIO: return "emulated MMIO";
    default:       return "none";
    }
}

void cmd_dump_guest_mem(int argc, char **argv)
{
    struct vm *vm = sh_arg_vm(argv[1]);
    uint64_t gpa, len;
    if (!vm || !sh_arg_num(argv[2], "gpa", ~0ul, &gpa) ||
        !sh_arg_num(argv[3], "length", SH_DUMP_MAX, &len))
        return;
    if (!len) {
        sh_error("length must be at least 1");
        return;
    }
    const uint8_t *p = gpa_host_ptr(&vm->mem, gpa, len);
    if (!p) {
        const struct gpa_region *r = gpa_find(&vm->mem, gpa);
        if (r && r->kind == GPA_RAM)
            sh_error("gpa %#lx + %#lx runs past the end of vm %s's RAM at %#lx", gpa, len,
                     vm->name, r->base + r->size);
        else
            sh_error("gpa %#lx is not RAM of vm %s (%s)", gpa, vm->name,
                     r ? kind_name(r->kind) : "unmapped");
        return;
    }
    char line[96];
    for (uint64_t off = 0; off < len; off += 16) {
        uint64_t n = len - off < 16 ? len - off : 16;
        shell_hexdump_line(line, sizeof line, gpa + off, p + off, n);
        kprintf("%s\n", line);
    }
}

static const char *mem_type(uint64_t leaf, unsigned rights)
{
    uint64_t wb = vendor->gpt_leaf(rights, GPA_MT_WB), uc = vendor->gpt_leaf(rights, GPA_MT_UC);
    uint64_t diff = wb ^ uc;
    if (!diff)
        return "?";
    if ((leaf & diff) == (wb & diff))
        return "WB";
    if ((leaf & diff) == (uc & diff))
        return "UC";
    return "other";
}

void cmd_gpa(int argc, char **argv)
{
    struct vm *vm = sh_arg_vm(argv[1]);
    uint64_t gpa;
    if (!vm || !sh_arg_num(argv[2], "gpa", ~0ul, &gpa))
        return;
    const struct gpa_region *r = gpa_find(&vm->mem, gpa);
    char region[80];
    if (r)
        ksnprintf(region, sizeof region, "region %s %#lx-%#lx", kind_name(r->kind), r->base,
                  r->base + r->size);
    else
        ksnprintf(region, sizeof region, "%s", vm->cfg.strict_mmio ?
                  "no region: an access stops the VM" : "no region: reads all-ones");
    uint64_t hpa, leaf;
    int level;
    if (gpa >= (1ul << 48) || !gpa_walk(&vm->mem, gpa, &hpa, &leaf, &level)) {
        kprintf("vm %s gpa %#lx: not mapped (%s)\n", vm->name, gpa, region);
        return;
    }
    unsigned rights = vendor->gpt_rights(leaf);
    char rs[4] = { rights & GPA_R ? 'r' : '-', rights & GPA_W ? 'w' : '-',
                   rights & GPA_X ? 'x' : '-', 0 };
    const char *size = level == 1 ? "4K" : level == 2 ? "2M" : level == 3 ? "1G" : "?";
    kprintf("vm %s gpa %#lx -> hpa %#lx: %s page (level %d), %s, %s, leaf %#lx, %s\n", vm->name,
            gpa, hpa, size, level, rs, mem_type(leaf, rights), leaf, region);
}

/* ---- control ---- */

typedef int (*vm_op)(struct vm *, char *, size_t);

static struct vm *control(const char *name, vm_op op, int *rc)
{
    struct vm *vm = sh_arg_vm(name);
    if (!vm)
        return 0;
    char err[112];
    *rc = op(vm, err, sizeof err);
    if (*rc < 0) {
        sh_error("%s", err);
        return 0;
    }
    return vm;
}

void cmd_pause(int argc, char **argv)
{
    int rc;
    struct vm *vm = control(argv[1], vm_pause, &rc);
    if (vm)
        kprintf("vm %s paused\n", vm->name);
}

void cmd_resume(int argc, char **argv)
{
    int rc;
    struct vm *vm = control(argv[1], vm_resume, &rc);
    if (vm)
        kprintf("vm %s resumed\n", vm->name);
}

void cmd_kill(int argc, char **argv)
{
    int rc;
    control(argv[1], vm_kill, &rc);     /* vm_stop prints `vm <name> stopped: ...` */
}

void cmd_reset(int argc, char **argv)
{
    int rc;
    struct vm *vm = control(argv[1], vm_reset, &rc);
    if (vm && rc == 1)
        kprintf("vm %s: reset under way; it starts again once its vcpus have stopped\n",
                vm->name);
}

void cmd_console(int argc, char **argv)
{
    struct vm *vm = sh_arg_vm(argv[1]);
    if (!vm)
        return;
    if (vm->state != VM_RUNNING && vm->state != VM_PAUSED) {
        sh_error("vm %s has ended (%s)", vm->name, vm->reason);
        return;
    }
    sh_console_enter(vm);
}

void cmd_gdb(int argc, char **argv)
{
    struct vm *vm = sh_arg_vm(argv[1]);
    char err[96];
    if (!vm)
        return;
    if (gdb_console_start(vm, err, sizeof err) != 0) {
        sh_error("%s", err);
        return;
    }
    sh_gdb_enter();
}
