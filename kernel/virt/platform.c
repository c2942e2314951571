/* The PC platform of a VM (kernel/virt/platform.h): which device answers which port, how ISA
 * interrupt lines reach the PIC and the IOAPIC, and the device timers, run on vCPU 0's CPU. */
#include "kernel/virt/platform.h"
#include "kernel/virt/intr.h"
#include "kernel/virt/vm.h"
#include "kernel/x86.h"
#include "kernel/percpu.h"
#include "drivers/timer.h"

#define PORT_POST       0x80
#define IRQ_PIT         0
#define IOAPIC_PIN_PIT  2           /* the ACPI interrupt source override: IRQ0 -> GSI 2 */

static inline struct platform *pf(struct vm *vm) { return &vm->platform; }

/* A vCPU should look at the PIC (vCPU 0) or its timers again. */
static void poke_vcpu0(struct vm *vm)
{
    struct vcpu *v0 = vm->vcpus[0];
    if (this_cpu()->vcpu == v0) {
        intr_timer_check(v0);
        v0->intr_check = true;
    } else {
        vcpu_request(v0, VCPU_REQ_INTR);
    }
}

static void send(struct vm *vm, const struct vioapic_out *o)
{
    for (unsigned i = 0; i < o->n; i++)
        apic_bus_send(vm, 0, &o->msg[i]);
}

/* ---- interrupt lines ---- */

/* Called with the lock held; returns whether the PIC's output is asserted afterwards. */
static bool set_line(struct platform *p, unsigned irq, bool level, struct vioapic_out *o)
{
    if (level)
        p->lines |= (uint16_t)(1u << irq);
    else
        p->lines &= (uint16_t)~(1u << irq);
    vpic_set_irq(&p->pic, irq, level);
    vioapic_set_irq(&p->ioapic, irq == IRQ_PIT ? IOAPIC_PIN_PIT : irq, level, o);
    return vpic_intr(&p->pic);
}

void platform_set_irq(struct vm *vm, unsigned irq, bool level)
{
    struct platform *p = pf(vm);
    struct vioapic_out o = { 0 };
    uint64_t f = spin_lock_irqsave(&p->lock);
    bool intr = set_line(p, irq, level, &o);
    spin_unlock_irqrestore(&p->lock, f);
    send(vm, &o);
    if (intr)
        poke_vcpu0(vm);
}

void platform_eoi(struct vm *vm, uint8_t vector)
{
    struct platform *p = pf(vm);
    struct vioapic_out o = { 0 };
    uint64_t f = spin_lock_irqsave(&p->lock);
    vioapic_eoi(&p->ioapic, vector, &o);
    spin_unlock_irqrestore(&p->lock, f);
    send(vm, &o);
}

/* LINT0 passes the PIC's INTR when the APIC is globally disabled, or when its LVT says ExtINT
 * and is not masked (a software-disabled APIC keeps every LVT masked). */
static bool lint0_extint(const struct vlapic *l)
{
    uint32_t lvt = l->lvt[LVT_LINT0];
    return !vlapic_hw_enabled(l) ||
           (lvt & (APIC_LVT_MASKED | APIC_DM_MASK)) == (APIC_DM_EXTINT << APIC_DM_SHIFT);
}

bool platform_extint(struct vcpu *v, bool take, uint8_t *vector)
{
    struct platform *p = pf(v->vm);
    if (v->id != 0 || !lint0_extint(&v->lapic) || !vpic_intr(&p->pic))
        return false;
    if (take) {
        uint64_t f = spin_lock_irqsave(&p->lock);
        *vector = vpic_ack(&p->pic);
        spin_unlock_irqrestore(&p->lock, f);
    }
    return true;
}

/* ---- timers ---- */

uint64_t platform_timers(struct vm *vm, uint64_t now)
{
    struct platform *p = pf(vm);
    struct vioapic_out o = { 0 };
    uint64_t f = spin_lock_irqsave(&p->lock);
    if (vpit_irq0_edges(&p->pit, now)) {
        set_line(p, IRQ_PIT, true, &o);         /* a pulse: edge-triggered on both chips */
        set_line(p, IRQ_PIT, false, &o);
    }
    uint64_t next = vpit_next_irq0(&p->pit, now);
    bool intr = vpic_intr(&p->pic);
    spin_unlock_irqrestore(&p->lock, f);
    send(vm, &o);
    if (intr)
        vm->vcpus[0]->intr_check = true;
    return next;
}

/* ---- ports ---- */

static void count_unhandled(struct platform *p, uint16_t port, bool write)
{
    for (unsigned i = 0; i < PLATFORM_PORT_SLOTS; i++) {
        struct port_count *c = &p->unhandled[i];
        if (c->reads + c->writes == 0)
            c->port = port;
        else if (c->port != port)
            continue;
        if (write)
            c->writes++;
        else
            c->reads++;
        return;
    }
    p->unhandled_other++;
}

/* One byte-wide port. Devices on the ISA bus are 8 bits wide: wider accesses are split. */
static uint8_t read8(struct vcpu *v, struct platform *p, uint16_t port, uint64_t now)
{
    if (vpic_port(port))
        return vpic_read(&p->pic, port);
    if (vpit_port(port))
        return vpit_read(&p->pit, port, now);
    if (port == PORT_POST)
        return p->post;
    count_unhandled(p, port, false);
    return 0xFF;                        /* nothing there: the bus floats high */
}

/* Returns true when the write may have changed a device's timer or interrupt output. */
static bool write8(struct vcpu *v, struct platform *p, uint16_t port, uint8_t val, uint64_t now)
{
    if (vpic_port(port)) {
        vpic_write(&p->pic, port, val);
        return true;
    }
    if (vpit_port(port)) {
        vpit_write(&p->pit, port, val, now);
        return true;
    }
    if (port == PORT_POST) {
        p->post = val;
        p->post_seen = true;
        return false;
    }
    count_unhandled(p, port, true);
    return false;
}

bool platform_port_read(struct vcpu *v, uint16_t port, unsigned size, uint32_t *val)
{
    struct platform *p = pf(v->vm);
    uint64_t now = rdtsc();
    uint32_t r = 0;
    uint64_t f = spin_lock_irqsave(&p->lock);
    for (unsigned i = 0; i < size; i++)
        r |= (uint32_t)read8(v, p, (uint16_t)(port + i), now) << (8 * i);
    spin_unlock_irqrestore(&p->lock, f);
    *val = r;
    return true;
}

bool platform_port_write(struct vcpu *v, uint16_t port, unsigned size, uint32_t val)
{
    struct platform *p = pf(v->vm);
    uint64_t now = rdtsc();
    bool changed = false;
    uint64_t f = spin_lock_irqsave(&p->lock);
    for (unsigned i = 0; i < size; i++)
        changed |= write8(v, p, (uint16_t)(port + i), (uint8_t)(val >> (8 * i)), now);
    spin_unlock_irqrestore(&p->lock, f);
    if (changed)
        poke_vcpu0(v->vm);
    return true;
}

/* ---- the IOAPIC's page ---- */

static bool ioapic_read(struct vcpu *v, void *dev, uint64_t off, unsigned size, uint64_t *val)
{
    struct platform *p = pf(v->vm);
    uint64_t f = spin_lock_irqsave(&p->lock);
    vioapic_mmio_read(&p->ioapic, (uint32_t)off, size, val);
    spin_unlock_irqrestore(&p->lock, f);
    return true;
}

static bool ioapic_write(struct vcpu *v, void *dev, uint64_t off, unsigned size, uint64_t val)
{
    struct platform *p = pf(v->vm);
    struct vioapic_out o = { 0 };
    uint64_t f = spin_lock_irqsave(&p->lock);
    vioapic_mmio_write(&p->ioapic, (uint32_t)off, size, val, &o);
    spin_unlock_irqrestore(&p->lock, f);
    send(v->vm, &o);
    return true;
}

static const struct mmio_ops ioapic_ops = { .read = ioapic_read, .write = ioapic_write };

void platform_init(struct vm *vm)
{
    struct platform *p = pf(vm);
    *p = (struct platform){ .lock = SPINLOCK_INIT };
    vioapic_reset(&p->ioapic, (uint8_t)vm->nvcpus);     /* the MADT gives it the next ID */
    vpic_reset(&p->pic);
    struct vpit_clock clk = { .tsc_hz = tsc_hz };
    vpit_reset(&p->pit, &clk, rdtsc());
}

int platform_map(struct vm *vm)
{
    return gpa_add_mmio(&vm->mem, VIOAPIC_DEFAULT_BASE, VIOAPIC_MMIO_SIZE, &ioapic_ops, 0);
}
