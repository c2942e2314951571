/* The PC platform of a VM (kernel/virt/platform.h): which device answers which port, how ISA
 * interrupt lines reach the PIC and the IOAPIC, and the device timers, run on vCPU 0's CPU. */
#include "kernel/virt/platform.h"
#include "kernel/virt/intr.h"
#include "kernel/virt/vm.h"
#include "kernel/x86.h"
#include "kernel/percpu.h"
#include "drivers/timer.h"
#include "kernel/dev/vuart.h"
#include "drivers/wallclock.h"

#define PORT_POST       0x80
#define IRQ_PIT         0
#define IOAPIC_PIN_PIT  2           /* the ACPI interrupt source override: IRQ0 -> GSI 2 */

static inline struct platform *pf(struct vm *vm) { return &vm->platform; }

/* vCPU 0 should look at the PIC's output again (POKE_INTR), and also at the device timers
 * (POKE_TIMERS: a timer device was written). */
#define POKE_INTR   1u
#define POKE_TIMERS 2u

static void poke_vcpu0(struct vm *vm, unsigned what)
{
    struct vcpu *v0 = vm->vcpus[0];
    if (this_cpu()->vcpu == v0) {
        if (what & POKE_TIMERS)
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
    /* The SCI is active low at the IOAPIC (the MADT's override): its wire idles high. */
    bool wire = irq == SCI_IRQ ? !level : level;
    struct vioapic_out t;               /* the model refills it: several edges add up in o */
    vioapic_set_irq(&p->ioapic, irq == IRQ_PIT ? IOAPIC_PIN_PIT : irq, wire, &t);
    for (unsigned i = 0; i < t.n && o->n < VIOAPIC_PINS; i++)
        o->msg[o->n++] = t.msg[i];
    return vpic_intr(&p->pic);
}

void platform_set_irq(struct vm *vm, unsigned irq, bool level)
{
    struct platform *p = pf(vm);
    struct vioapic_out o;
    o.n = 0;                            /* only n: the messages are ~300 bytes */
    uint64_t f = spin_lock_irqsave(&p->lock);
    bool intr = set_line(p, irq, level, &o);
    spin_unlock_irqrestore(&p->lock, f);
    send(vm, &o);
    if (intr)
        poke_vcpu0(vm, POKE_INTR);
}

void platform_eoi(struct vm *vm, uint8_t vector)
{
    struct platform *p = pf(vm);
    struct vioapic_out o;
    o.n = 0;                            /* only n: the messages are ~300 bytes */
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
        bool pit = p->pit_idle || p->pit_backlog;
        spin_unlock_irqrestore(&p->lock, f);
        if (pit)
            intr_timer_check(v);        /* IRQ0 can be latched again, or the next owed one */
    }
    return true;
}

/* ---- timers ---- */

/* Missed PIT periods (a late host timer, a vCPU thread the host descheduled) are re-injected as
 * KVM's PIT does: one edge at a time, the next once the guest has taken the previous one (it left
 * the PIC's IRR or the destination vLAPIC's IRR), so a guest counting ticks gets them all. None
 * are owed while IRQ0 reaches no CPU, and at most PIT_BACKLOG_MAX while the guest does not take
 * them (IF=0): a masked or neglected timer builds no unbounded backlog.
 * The host timer is not armed for edges nobody can see (IRQ0 reaches no CPU and the PIC's IRR
 * bit is already set: pit_idle, until a PIC or IOAPIC write or the PIC's INTA), and never more
 * often than every PLATFORM_MIN_US: a guest that programs a 1 MHz PIT gets its edges counted,
 * not a host timer storm. */
#define PIT_BACKLOG_MAX 100u
#define PLATFORM_MIN_US 50              /* also how soon to look again while edges are owed */

/* Returns the TSC at which to look at the PIT again. Called with the lock held. */
static uint64_t pit_timer(struct vm *vm, struct platform *p, uint64_t now, struct vioapic_out *o)
{
    const struct vpic_chip *m = &p->pic.chip[0];
    uint64_t e = p->ioapic.redtbl[IOAPIC_PIN_PIT];
    bool pic = !(m->imr & 1u << IRQ_PIT) && lint0_extint(&vm->vcpus[0]->lapic);
    bool ioapic = !(e & IOREDTBL_MASK);
    bool irr = m->irr & 1u << IRQ_PIT;
    uint64_t n = vpit_irq0_edges(&p->pit, now) + p->pit_backlog;
    /* An edge goes out unless the last one still waits (or, with no CPU to take it, the PIC
     * already latched one: the edge would change nothing). */
    if (n && !(irr && (pic || !ioapic)) &&
        !(ioapic && apic_bus_pending(vm, (uint8_t)(e & IOREDTBL_VECTOR_MASK),
                                     (uint32_t)(e >> IOREDTBL_DEST_SHIFT) & 0xFF,
                                     (e & IOREDTBL_DESTMOD) != 0))) {
        set_line(p, IRQ_PIT, true, o);          /* a pulse: edge-triggered on both chips */
        set_line(p, IRQ_PIT, false, o);
        n--;
    }
    if (!pic && !ioapic)
        n = 0;                                  /* nobody to owe them to */
    p->pit_dropped += n > PIT_BACKLOG_MAX ? n - PIT_BACKLOG_MAX : 0;
    p->pit_backlog = n > PIT_BACKLOG_MAX ? PIT_BACKLOG_MAX : (uint32_t)n;
    p->pit_idle = !pic && !ioapic && (m->irr & 1u << IRQ_PIT);
    if (p->pit_idle)
        return UINT64_MAX;
    return p->pit_backlog ? now : vpit_next_irq0(&p->pit, now);
}

uint64_t platform_timers(struct vm *vm, uint64_t now)
{
    struct platform *p = pf(vm);
    struct vioapic_out o;
    o.n = 0;                            /* only n: the messages are ~300 bytes */
    uint64_t f = spin_lock_irqsave(&p->lock);
    uint64_t next = pit_timer(vm, p, now, &o);
    bool rtc = vrtc_tick(&p->rtc, now), sci = vpm_tick(&p->pm, now);
    if (rtc != !!(p->lines >> RTC_IRQ & 1))
        set_line(p, RTC_IRQ, rtc, &o);
    if (sci != !!(p->lines >> SCI_IRQ & 1))
        set_line(p, SCI_IRQ, sci, &o);
    uint64_t t = vrtc_next_event(&p->rtc, now);
    if (t < next)
        next = t;
    t = vpm_next_event(&p->pm, now);
    if (t < next)
        next = t;
    t = now + tsc_hz / 1000000 * PLATFORM_MIN_US;
    if (next < t)
        next = t;
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

/* What one port access did, for after the lock is dropped. */
struct io {
    struct vioapic_out o;
    unsigned poke;              /* POKE_*: what vCPU 0 should look at again */
    bool poweroff, reset;
    int tx;                     /* a byte COM1 transmitted, or -1 */
};

/* A device drove one of its lines: the PIC and IOAPIC follow. */
static void drive(struct platform *p, unsigned irq, bool level, struct io *io)
{
    if (level != !!(p->lines >> irq & 1)) {
        set_line(p, irq, level, &io->o);
        io->poke |= POKE_INTR;
    }
}

/* Not `= { 0 }`: zeroing the message array would cost more than the whole port access. */
static inline void io_init(struct io *io)
{
    io->o.n = 0;
    io->poke = 0;
    io->poweroff = io->reset = false;
    io->tx = -1;
}

#define PORT_RESET      0xCF9       /* reset control: RST_CPU (bit 2) resets the VM */
#define RESET_RST_CPU   0x04
#define PORT_FWCFG_LAST 0x511

/* A byte at 0xCF9 is the PIIX reset control register, not part of the PCI configuration window
 * (CONFIG_ADDRESS at 0xCF8 answers dword accesses only). */
static bool pci_port(uint16_t port, unsigned size)
{
    return port >= PCI_CONFIG_ADDRESS && port <= PCI_CONFIG_DATA + 3 &&
           !(port == PORT_RESET && size == 1);
}

/* Devices that take whole accesses (the PCI window, fw_cfg, the PM block); true if claimed. */
static bool wide_read(struct platform *p, uint16_t port, unsigned size, uint32_t *val,
                      uint64_t now)
{
    if (pci_port(port, size))
        *val = vpci_read(&p->pci, port, size);
    else if (port >= FW_CFG_PORT_SEL && port <= PORT_FWCFG_LAST)
        *val = vfwcfg_read(&p->fwcfg, port, size);
    else if (port >= PM_BASE && port < PM_BASE + VPM_BLOCK_LEN)
        *val = vpm_read(&p->pm, port - PM_BASE, size, now);    /* may latch TMR_STS */
    else
        return false;
    return true;
}

static bool wide_write(struct platform *p, uint16_t port, unsigned size, uint32_t val,
                       uint64_t now, struct io *io)
{
    if (pci_port(port, size)) {
        vpci_write(&p->pci, port, size, val);
    } else if (port >= FW_CFG_PORT_SEL && port <= PORT_FWCFG_LAST) {
        vfwcfg_write(&p->fwcfg, port, size, val);
    } else if (port >= PM_BASE && port < PM_BASE + VPM_BLOCK_LEN) {
        struct vpm_out po = { 0 };
        vpm_write(&p->pm, port - PM_BASE, size, val, now, &po);
        drive(p, SCI_IRQ, po.sci, io);
        io->poweroff |= po.poweroff;
        io->poke |= POKE_TIMERS;
    } else {
        return false;
    }
    return true;
}

/* One byte-wide port. Devices on the ISA bus are 8 bits wide: wider accesses are split. */
static uint8_t read8(struct platform *p, uint16_t port, uint64_t now, struct io *io)
{
    if ((unsigned)(port - VUART_BASE) < VUART_PORTS) {
        struct vuart16550_out uo = { 0 };
        uint8_t b = vuart16550_read(&p->uart, port - VUART_BASE, &uo);
        drive(p, VUART_IRQ, uo.irq, io);
        return b;
    }
    if (vpic_port(port))
        return vpic_read(&p->pic, port);
    if (vpit_port(port))
        return vpit_read(&p->pit, port, now);
    if (port == RTC_PORT_INDEX || port == RTC_PORT_DATA) {
        struct vrtc_out ro = { 0 };
        uint8_t b = vrtc_read(&p->rtc, port, now, &ro);
        drive(p, RTC_IRQ, ro.irq, io);
        io->poke |= ro.timer_changed ? POKE_TIMERS : 0;
        return b;
    }
    if (port == PORT_POST)
        return p->post;
    if (port == PORT_RESET)
        return 0;
    count_unhandled(p, port, false);
    return 0xFF;                        /* nothing there: the bus floats high */
}

static void write8(struct platform *p, uint16_t port, uint8_t val, uint64_t now, struct io *io)
{
    if ((unsigned)(port - VUART_BASE) < VUART_PORTS) {
        struct vuart16550_out uo = { 0 };
        vuart16550_write(&p->uart, port - VUART_BASE, val, &uo);
        drive(p, VUART_IRQ, uo.irq, io);
        if (uo.tx_valid)
            io->tx = uo.tx;
    } else if (vpic_port(port)) {
        vpic_write(&p->pic, port, val);
        io->poke |= p->pit_idle || p->pit_backlog ? POKE_TIMERS : POKE_INTR;
    } else if (vpit_port(port)) {
        vpit_write(&p->pit, port, val, now);
        /* Only channel 0 drives an interrupt: channel 2, port 0x61 and latch commands need no
         * timer work, and keep the exits of calibration loops as short as their reads. */
        if (port == PIT_CH0_PORT) {
            p->pit_backlog = 0;         /* a new count: old periods are not owed (as KVM) */
        }
        if (port == PIT_CH0_PORT || (port == PIT_MODE_PORT && !(val >> PIT_CW_SC_SHIFT) &&
                                     (val >> PIT_CW_RW_SHIFT & 3) != PIT_RW_LATCH))
            io->poke |= POKE_TIMERS;
    } else if (port == RTC_PORT_INDEX || port == RTC_PORT_DATA) {
        struct vrtc_out ro = { 0 };
        vrtc_write(&p->rtc, port, val, now, &ro);
        drive(p, RTC_IRQ, ro.irq, io);
        io->poke |= ro.timer_changed ? POKE_TIMERS : 0;
    } else if (port == PORT_POST) {
        p->post = val;
        p->post_seen = true;
    } else if (port == PORT_RESET) {
        io->reset |= val & RESET_RST_CPU;
    } else {
        count_unhandled(p, port, true);
    }
}

/* After the lock: messages, vCPU 0, the console, and the ends of the VM. False: it ended. */
static bool io_done(struct vcpu *v, struct io *io)
{
    struct vm *vm = v->vm;
    send(vm, &io->o);
    if (io->poke)
        poke_vcpu0(vm, io->poke);
    if (io->tx >= 0)
        vuart_put(vm, (uint8_t)io->tx);
    if (io->poweroff) {
        vm_exit(vm, 0, " (ACPI S5)");
        return false;
    }
    if (io->reset) {
        vm_guest_reset(v);
        return false;
    }
    return true;
}

bool platform_port_read(struct vcpu *v, uint16_t port, unsigned size, uint32_t *val)
{
    struct platform *p = pf(v->vm);
    struct io io;
    io_init(&io);
    uint64_t now = rdtsc();
    uint32_t r = 0;
    uint64_t f = spin_lock_irqsave(&p->lock);
    if (wide_read(p, port, size, &r, now))
        drive(p, SCI_IRQ, vpm_sci(&p->pm), &io);
    else
        for (unsigned i = 0; i < size; i++)
            r |= (uint32_t)read8(p, (uint16_t)(port + i), now, &io) << (8 * i);
    spin_unlock_irqrestore(&p->lock, f);
    *val = r;
    return io_done(v, &io);
}

bool platform_port_write(struct vcpu *v, uint16_t port, unsigned size, uint32_t val)
{
    struct platform *p = pf(v->vm);
    struct io io;
    io_init(&io);
    uint64_t now = rdtsc();
    uint64_t f = spin_lock_irqsave(&p->lock);
    if (!wide_write(p, port, size, val, now, &io))
        for (unsigned i = 0; i < size; i++)
            write8(p, (uint16_t)(port + i), (uint8_t)(val >> (8 * i)), now, &io);
    spin_unlock_irqrestore(&p->lock, f);
    return io_done(v, &io);
}

bool platform_uart_input(struct vm *vm, uint8_t c)
{
    struct platform *p = pf(vm);
    struct io io;
    io_init(&io);
    struct vuart16550_out uo = { 0 };
    uint64_t f = spin_lock_irqsave(&p->lock);
    bool ok = vuart16550_rx_push(&p->uart, c, &uo);
    drive(p, VUART_IRQ, uo.irq, &io);
    spin_unlock_irqrestore(&p->lock, f);
    send(vm, &io.o);
    if (io.poke)
        poke_vcpu0(vm, io.poke);
    return ok;
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
    struct vioapic_out o;
    o.n = 0;                            /* only n: the messages are ~300 bytes */
    uint64_t f = spin_lock_irqsave(&p->lock);
    vioapic_mmio_write(&p->ioapic, (uint32_t)off, size, val, &o);
    bool pit = p->pit_idle || p->pit_backlog;
    spin_unlock_irqrestore(&p->lock, f);
    send(v->vm, &o);
    if (pit)
        poke_vcpu0(v->vm, POKE_TIMERS);         /* pin 2 may have been unmasked */
    return true;
}

static const struct mmio_ops ioapic_ops = { .read = ioapic_read, .write = ioapic_write };

void platform_init(struct vm *vm)
{
    struct platform *p = pf(vm);
    *p = (struct platform){ .lock = SPINLOCK_INIT };
    vioapic_reset(&p->ioapic, 0);       /* the MADT's IOAPIC ID, as QEMU's and KVM's */
    vpic_reset(&p->pic);
    uint64_t now = rdtsc();
    struct vpit_clock clk = { .tsc_hz = tsc_hz };
    vpit_reset(&p->pit, &clk, now);
    struct vrtc_config rc = { .tsc_hz = tsc_hz, .unix_time = wallclock_unix(now), .ram_below_4g = vm->ram_size,
                              .ram_above_4g = vm->high_size };
    vrtc_reset(&p->rtc, &rc, now);
    vpm_reset(&p->pm, tsc_hz, now);
    vuart16550_reset(&p->uart);
    vpci_reset(&p->pci);
    vfwcfg_reset(&p->fwcfg, (uint16_t)vm->nvcpus, vm->ram_size + vm->high_size);
    struct vioapic_out o;
    vioapic_set_irq(&p->ioapic, SCI_IRQ, true, &o);     /* the idle level of an active-low line */
}

int platform_map(struct vm *vm)
{
    return gpa_add_mmio(&vm->mem, VIOAPIC_DEFAULT_BASE, VIOAPIC_MMIO_SIZE, &ioapic_ops, 0);
}
