/* Shell commands about a VM's virtual devices: its vLAPICs, its IOAPIC, the ports it pokes that
 * no device answers. */
#include "kernel/shell/shell_cmds.h"
#include "kernel/log.h"
#include "kernel/percpu.h"
#include "kernel/smp.h"
#include "kernel/virt/vm.h"
#include "kernel/lib/fmt.h"
#include "kernel/lib/string.h"
#include "drivers/timer.h"

/* ---- the vLAPIC, copied on its vCPU's own CPU (it is touched only there) ---- */

struct vlapic_call {
    struct vcpu *v;
    struct vlapic l;
    uint64_t now;
};

static void vlapic_here(void *arg)
{
    struct vlapic_call *c = arg;
    c->l = c->v->lapic;
    c->now = rdtsc();
}

static void print_vectors(const char *what, const uint32_t *bits)
{
    char line[200];
    size_t n = ksnprintf(line, sizeof line, "  %s:", what);
    for (unsigned vec = 0; vec < 256 && n < sizeof line - 6; vec++)
        if (bits[vec / 32] >> (vec % 32) & 1)
            n += ksnprintf(line + n, sizeof line - n, " %#x", vec);
    kprintf("%s%s\n", line, n == strlen(what) + 3 ? " none" : "");
}

void cmd_vlapic(int argc, char **argv)
{
    struct vm *vm = sh_arg_vm(argv[1]);
    struct vcpu *v = vm ? sh_arg_vcpu(vm, argv[2]) : 0;
    if (!v)
        return;
    struct vlapic_call c = { .v = v };
    if (!smp_call(v->pcpu, vlapic_here, &c)) {
        sh_error("cpu %u did not answer (vm %s vcpu %u is %s)", v->pcpu, vm->name, v->id,
                 sh_vcpu_state(v->state));
        return;
    }
    const struct vlapic *l = &c.l;
    static const char *const modes[] = { "one-shot", "periodic", "tsc-deadline", "reserved" };
    kprintf("vm %s vcpu %u vlapic: %s, id %#x, base %#lx, svr %#x (%s)\n", vm->name, v->id,
            !vlapic_hw_enabled(l) ? "disabled" : vlapic_x2apic(l) ? "x2APIC" : "xAPIC", l->id,
            l->base, l->svr, vlapic_sw_enabled(l) ? "enabled" : "software-disabled");
    kprintf("  tpr %#x ppr %#x ldr %#x dfr %#x esr %#x icr %#x:%08x\n", l->tpr, vlapic_ppr(l),
            l->ldr, l->dfr, l->esr, l->icr_hi, l->icr_lo);
    kprintf("  lvt timer %#x thermal %#x perf %#x lint0 %#x lint1 %#x error %#x cmci %#x\n",
            l->lvt[LVT_TIMER], l->lvt[LVT_THERMAL], l->lvt[LVT_PERF], l->lvt[LVT_LINT0],
            l->lvt[LVT_LINT1], l->lvt[LVT_ERROR], l->lvt[LVT_CMCI]);
    uint64_t d = vlapic_timer_deadline(l);
    kprintf("  timer %s, initial %#x, current %#x, divide %#x, tsc deadline %#lx, %s",
            modes[(l->lvt[LVT_TIMER] & APIC_TIMER_MODE_MASK) >> 17], l->timer_icr,
            vlapic_timer_ccr(l, c.now), l->timer_dcr, vlapic_tsc_deadline_read(l),
            d == UINT64_MAX ? "not armed\n" : "");
    if (d != UINT64_MAX)
        kprintf("fires in %lu us\n", d > c.now ? tsc_to_us(d - c.now) : 0);
    print_vectors("irr", l->irr);
    print_vectors("isr", l->isr);
    print_vectors("tmr", l->tmr);
}

/* ---- the IOAPIC ---- */

void cmd_vioapic(int argc, char **argv)
{
    struct vm *vm = sh_arg_vm(argv[1]);
    if (!vm)
        return;
    struct platform *p = &vm->platform;
    struct vioapic io;
    uint64_t f = spin_lock_irqsave(&p->lock);
    io = p->ioapic;
    uint16_t lines = p->lines;
    spin_unlock_irqrestore(&p->lock, f);
    kprintf("vm %s vioapic: id %u, version %#x, %u pins, %lu messages sent, ISA lines high %#x\n",
            vm->name, io.id >> 24 & 0xF, VIOAPIC_VERSION, VIOAPIC_PINS, io.sent, lines);
    for (unsigned pin = 0; pin < VIOAPIC_PINS; pin++) {
        unsigned long e = io.redtbl[pin];
        if ((e & IOREDTBL_MASK) && !(io.wire >> pin & 1))
            continue;               /* masked and idle: the reset state */
        kprintf("  pin %2u: vector %#04lx %s %s %s %s dest %#lx%s%s%s\n", pin,
                (unsigned long)(e & IOREDTBL_VECTOR_MASK),
                (const char *[]){ "fixed", "lowest", "smi", "rsvd", "nmi", "init", "rsvd",
                                  "extint" }[(e & IOREDTBL_DM_MASK) >> IOREDTBL_DM_SHIFT],
                e & IOREDTBL_DESTMOD ? "logical" : "physical",
                e & IOREDTBL_TRIGGER ? "level" : "edge", e & IOREDTBL_INTPOL ? "low" : "high",
                e >> IOREDTBL_DEST_SHIFT, e & IOREDTBL_MASK ? " masked" : "",
                e & IOREDTBL_REMOTE_IRR ? " remote-irr" : "",
                io.wire >> pin & 1 ? " asserted" : "");
    }
}

/* ---- ports nothing answers ---- */

void cmd_ports(int argc, char **argv)
{
    struct vm *vm = sh_arg_vm(argv[1]);
    if (!vm)
        return;
    struct platform *p = &vm->platform;
    struct port_count c[PLATFORM_PORT_SLOTS];
    uint64_t f = spin_lock_irqsave(&p->lock);
    memcpy(c, p->unhandled, sizeof c);
    uint64_t other = p->unhandled_other;
    spin_unlock_irqrestore(&p->lock, f);
    kprintf("vm %s: ports with no device (reads give all-ones, writes are dropped):\n", vm->name);
    unsigned n = 0;
    for (unsigned i = 0; i < PLATFORM_PORT_SLOTS; i++) {
        if (c[i].reads + c[i].writes == 0)
            continue;
        kprintf("  port %#06x: %u reads, %u writes\n", c[i].port, c[i].reads, c[i].writes);
        n++;
    }
    if (!n)
        kprintf("  none\n");
    if (other)
        kprintf("  and %lu accesses to other ports\n", other);
}
