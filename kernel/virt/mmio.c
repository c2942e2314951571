/* Guest accesses to guest-physical addresses that are not RAM. Neither an EPT violation nor an
 * NPF (without decode assists) says which instruction made the access, so the instruction is
 * fetched and carried out by the emulator (kernel/emul/insn.h): its memory operands go through
 * the guest's own page tables (kernel/emul/gwalk.h), and each access reaches RAM, the device
 * region it falls in, or nothing. The local APIC page is the first such device. */
#include "kernel/virt/exit.h"
#include "kernel/virt/intr.h"
#include "kernel/virt/vendor.h"
#include "kernel/virt/vm.h"
#include "kernel/emul/insn.h"
#include "kernel/emul/gwalk.h"
#include "kernel/lib/string.h"
#include "mm/pmm.h"
#include "kernel/log.h"
#include "kernel/x86.h"

#define CS_ATTR_L       (1u << 13)
#define CS_ATTR_D       (1u << 14)
#define RFLAGS_VM       (1ul << 17)

struct mmio_ctx {
    struct vcpu *v;
    struct vcpu_snapshot st;
    struct gwalk_cpu wc;
    enum emul_mode mode;
    bool stopped;                   /* an access the VM was stopped for */
};

/* ---- guest page tables ---- */

bool guest_pt_read(void *arg, uint64_t gpa, uint64_t *val, unsigned size)
{
    void *p = gpa_host_ptr(arg, gpa, size);
    if (!p)
        return false;
    *val = size == 8 ? *(volatile uint64_t *)p : *(volatile uint32_t *)p;
    return true;
}

static bool pt_set_bits(void *arg, uint64_t gpa, uint64_t old, uint64_t bits, unsigned size)
{
    void *p = gpa_host_ptr(arg, gpa, size);
    if (!p)
        return false;
    if (size == 8)
        return __atomic_compare_exchange_n((uint64_t *)p, &old, old | bits, false,
                                           __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    uint32_t o = (uint32_t)old;
    return __atomic_compare_exchange_n((uint32_t *)p, &o, o | (uint32_t)bits, false,
                                       __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

static int translate(struct mmio_ctx *c, uint64_t la, unsigned acc, uint64_t *gpa,
                     struct emul_fault *f)
{
    if (!(c->st.cr0 & CR0_PG)) {        /* no paging: the walker would say the same */
        *gpa = c->st.efer & EFER_LMA ? la : (uint32_t)la;
        return EMUL_OK;
    }
    struct gwalk_mem mem = { .ctx = &c->v->vm->mem, .read = guest_pt_read,
                             .set_bits = pt_set_bits };
    uint32_t err;
    if (c->st.cpl == 3)
        acc |= GW_USER;
    if (gwalk(&c->wc, &mem, la, acc, gpa, &err) == GW_OK)
        return EMUL_OK;
    *f = (struct emul_fault){ .vector = X86_PF, .has_error = true, .error = err, .cr2 = la };
    return EMUL_FAULT;
}

/* ---- one physical access (within a page) ---- */

static int phys_access(struct mmio_ctx *c, uint64_t gpa, void *buf, unsigned len, bool write)
{
    struct vm *vm = c->v->vm;
    const struct gpa_region *r = gpa_find(&vm->mem, gpa);
    if (r && r->kind == GPA_RAM && len <= r->size - (gpa - r->base)) {
        void *p = phys_to_virt(r->hpa + (gpa - r->base));
        if (write)
            memcpy(p, buf, len);
        else
            memcpy(buf, p, len);
        return EMUL_OK;
    }
    if (r && r->kind == GPA_MMIO) {
        uint64_t val = 0;
        bool ok;
        if (write) {
            memcpy(&val, buf, len);
            ok = r->ops->write(c->v, r->dev, gpa - r->base, len, val);
        } else {
            ok = r->ops->read(c->v, r->dev, gpa - r->base, len, &val);
            memcpy(buf, &val, len);
        }
        if (ok)
            return EMUL_OK;
    }
    if (vm->cfg.strict_mmio) {
        vm_stop(vm, "access to unmapped gpa %#lx (%s) at rip=%#lx", gpa, write ? "write" : "read",
                c->st.rip);
        c->stopped = true;
        return EMUL_UNHANDLED;
    }
    /* Nothing answers: an empty bus reads all-ones and drops writes. */
    mmio_count_hole(vm, gpa, write);
    if (!write)
        memset(buf, 0xFF, len);
    return EMUL_OK;
}

/* A linear access of up to 8 bytes, split where it crosses a page. */
static int lin_access(struct mmio_ctx *c, uint64_t la, void *buf, unsigned len, bool write,
                      struct emul_fault *f)
{
    unsigned first = gwalk_page_left(la);
    if (first > len)
        first = len;
    uint64_t gpa[2];
    int r = translate(c, la, write ? GW_WRITE : 0, &gpa[0], f);
    if (r == EMUL_OK && first < len)
        r = translate(c, la + first, write ? GW_WRITE : 0, &gpa[1], f);
    if (r != EMUL_OK)
        return r;
    r = phys_access(c, gpa[0], buf, first, write);
    if (r == EMUL_OK && first < len)
        r = phys_access(c, gpa[1], (uint8_t *)buf + first, len - first, write);
    return r;
}

static int op_read(void *ctx, uint64_t la, void *buf, unsigned len, struct emul_fault *f)
{
    return lin_access(ctx, la, buf, len, false, f);
}

static int op_write(void *ctx, uint64_t la, const void *buf, unsigned len, struct emul_fault *f)
{
    return lin_access(ctx, la, (void *)buf, len, true, f);
}

/* The instruction bytes. The second page is read only when the instruction reaches into it, so
 * an instruction at the end of the last mapped page does not fault on the page after it. */
static int op_fetch(void *ctx, uint64_t la, void *buf, unsigned len, struct emul_fault *f)
{
    struct mmio_ctx *c = ctx;
    unsigned first = gwalk_page_left(la);
    if (first > len)
        first = len;
    uint64_t gpa;
    int r = translate(c, la, GW_FETCH, &gpa, f);
    if (r != EMUL_OK)
        return r;
    void *p = gpa_host_ptr(&c->v->vm->mem, gpa, first);
    if (!p) {
        /* Code from an empty bus or a device: the bytes it reads (FF..., which decodes as an
         * invalid instruction: #UD), or the VM stops when it asked to. */
        r = phys_access(c, gpa, buf, first, false);
        if (r != EMUL_OK)
            return r;
    } else {
        memcpy(buf, p, first);
    }
    memset((uint8_t *)buf + first, 0, len - first);
    if (first == len)
        return EMUL_OK;
    struct insn in;
    if (insn_decode(buf, first, c->mode, &in) > 0)
        return EMUL_OK;                 /* complete in the first page */
    r = translate(c, la + first, GW_FETCH, &gpa, f);
    if (r != EMUL_OK)
        return r;
    p = gpa_host_ptr(&c->v->vm->mem, gpa, len - first);
    if (p)
        memcpy((uint8_t *)buf + first, p, len - first);
    return EMUL_OK;
}

/* String I/O reaches the same port handlers as IN/OUT. */
static int op_pio_in(void *ctx, uint16_t port, unsigned len, uint32_t *val, struct emul_fault *f)
{
    struct mmio_ctx *c = ctx;
    return guest_port_read(c->v, port, len, val) ? EMUL_OK : (c->stopped = true, EMUL_UNHANDLED);
}

static int op_pio_out(void *ctx, uint16_t port, unsigned len, uint32_t val, struct emul_fault *f)
{
    struct mmio_ctx *c = ctx;
    return guest_port_write(c->v, port, len, val) ? EMUL_OK : (c->stopped = true, EMUL_UNHANDLED);
}

static const struct emul_ops ops = {
    .fetch = op_fetch, .read = op_read, .write = op_write,
    .pio_in = op_pio_in, .pio_out = op_pio_out,
};


static enum emul_mode mode_of(const struct vcpu_snapshot *st)
{
    if (!(st->cr0 & CR0_PE) || (st->rflags & RFLAGS_VM))
        return EMUL_MODE_REAL;
    if ((st->efer & EFER_LMA) && (st->cs_attr & CS_ATTR_L))
        return EMUL_MODE_LONG64;
    return st->cs_attr & CS_ATTR_D ? EMUL_MODE_PROT32 : EMUL_MODE_PROT16;
}

static void ctx_init(struct mmio_ctx *c, struct vcpu *v)
{
    c->v = v;
    c->stopped = false;
    vendor->get_state(v, &c->st);
    c->wc = (struct gwalk_cpu){ .cr0 = c->st.cr0, .cr3 = c->st.cr3, .cr4 = c->st.cr4,
                                .efer = c->st.efer, .rflags = c->st.rflags,
                                .maxphyaddr = (uint8_t)guest_maxphyaddr() };
    c->mode = mode_of(&c->st);
}

static uint64_t code_la(const struct mmio_ctx *c)
{
    uint64_t la = c->st.rip;
    if (c->mode != EMUL_MODE_LONG64)
        la = (uint32_t)(la + c->st.seg_base[SEG_CS]);
    return la;
}

int vcpu_peek_code(struct vcpu *v, uint8_t *buf, unsigned n)
{
    struct mmio_ctx c;
    struct emul_fault f;
    ctx_init(&c, v);
    uint64_t la = code_la(&c), gpa;
    if (n > gwalk_page_left(la) || translate(&c, la, GW_FETCH, &gpa, &f) != EMUL_OK)
        return -1;
    const uint8_t *p = gpa_host_ptr(&v->vm->mem, gpa, n);
    if (!p)
        return -1;
    for (unsigned i = 0; i < n; i++)
        buf[i] = p[i];
    return (int)n;
}

int vcpu_read_linear(struct vcpu *v, uint64_t la, void *buf, unsigned len)
{
    struct mmio_ctx c;
    struct emul_fault f;
    uint8_t *out = buf;
    ctx_init(&c, v);
    while (len) {
        unsigned n = gwalk_page_left(la) < len ? gwalk_page_left(la) : len;
        uint64_t gpa;
        if (translate(&c, la, 0, &gpa, &f) != EMUL_OK)
            return -1;
        const void *p = gpa_host_ptr(&v->vm->mem, gpa, n);
        if (!p)
            return -1;
        memcpy(out, p, n);
        out += n;
        la += n;
        len -= n;
    }
    return 0;
}

int vcpu_fetch_insn(struct vcpu *v, uint8_t *buf, unsigned len)
{
    struct mmio_ctx c;
    struct emul_fault f;
    ctx_init(&c, v);
    return op_fetch(&c, code_la(&c), buf, len, &f) == EMUL_OK ? 0 : -1;
}

int vcpu_insn_length(struct vcpu *v)
{
    struct mmio_ctx c;
    struct emul_fault f;
    uint8_t b[INSN_MAX_LEN];
    struct insn in;
    ctx_init(&c, v);
    if (op_fetch(&c, code_la(&c), b, sizeof b, &f) != EMUL_OK) {
        if (!c.stopped) {
            vendor->set_reg(v, VREG_CR2, f.cr2);
            vcpu_inject_exception(v, f.vector, f.has_error, f.error);
        }
        return -1;
    }
    return insn_decode(b, sizeof b, c.mode, &in);
}

/* Emulates the instruction at the guest's RIP; the vCPU's state follows it. */
int emulate_insn(struct vcpu *v)
{
    struct mmio_ctx c;
    ctx_init(&c, v);
    struct emul_cpu cpu = { .gpr = v->gpr, .rip = c.st.rip, .rflags = c.st.rflags,
                            .mode = c.mode, .cpl = c.st.cpl };
    for (int i = 0; i < SEG_COUNT; i++)
        cpu.seg_base[i] = c.st.seg_base[i];
    v->gpr[GPR_RSP] = c.st.rsp;
    struct emul_fault f;
    struct insn in = { .len = 0 };
    int r = emul_step(&cpu, &ops, &c, &f, &in);
    if (c.stopped)
        return EXIT_STOP;
    switch (r) {
    case EMUL_OK:
        vendor->set_reg(v, VREG_RIP, cpu.rip);
        if (cpu.rflags != c.st.rflags)
            vendor->set_reg(v, VREG_RFLAGS, cpu.rflags);
        if (v->gpr[GPR_RSP] != c.st.rsp)
            vendor->set_reg(v, VREG_RSP, v->gpr[GPR_RSP]);
        if (cpu.rip != c.st.rip)
            exit_insn_done(v, cpu.rflags);     /* single-step over an emulated access */
        return EXIT_EMULATED;
    case EMUL_FAULT:
        if (f.vector == X86_PF)
            vendor->set_reg(v, VREG_CR2, f.cr2);
        vcpu_inject_exception(v, f.vector, f.has_error, f.error);
        return EXIT_RETRY;
    default:
        if (!v->vm->emul_warned) {
            v->vm->emul_warned = true;
            pr_warn("vm %s: cannot emulate the instruction at rip=%#lx (%02x %02x %02x %02x %02x "
                    "%02x) touching device memory; #UD\n", v->vm->name, c.st.rip, in.bytes[0],
                    in.bytes[1], in.bytes[2], in.bytes[3], in.bytes[4], in.bytes[5]);
        }
        vcpu_inject_exception(v, X86_UD, false, 0);
        return EXIT_RETRY;
    }
}


/* The first few addresses a VM touched where nothing answers, and how often (`holes` in the
 * shell). Only this VM's vCPUs write it; a lock keeps the slots consistent. */
void mmio_count_hole(struct vm *vm, uint64_t gpa, bool write)
{
    struct hole_log *h = &vm->holes;
    uint64_t f = spin_lock_irqsave(&h->lock);
    h->total++;
    unsigned i;
    for (i = 0; i < h->n && h->first[i] != (gpa & ~0xFFFul); i++)
        ;
    if (i == h->n && h->n < HOLE_SLOTS)
        h->first[h->n++] = gpa & ~0xFFFul;
    if (write)
        h->writes++;
    spin_unlock_irqrestore(&h->lock, f);
}

int mmio_exit(struct vcpu *v, uint64_t gpa, unsigned access)
{
    return emulate_insn(v);
}

/* ---- the local APIC page: each vCPU reaches its own vLAPIC at the same address ---- */

static bool apic_read(struct vcpu *v, void *dev, uint64_t off, unsigned size, uint64_t *val)
{
    uint32_t esr = v->lapic.esr_pending;
    vlapic_mmio_read(&v->lapic, (uint32_t)off, size, val, rdtsc());
    if (v->lapic.esr_pending != esr)
        v->intr_check = true;       /* an illegal register: the error LVT may have fired */
    return true;
}

static bool apic_write(struct vcpu *v, void *dev, uint64_t off, unsigned size, uint64_t val)
{
    struct vlapic_out out = { .eoi_vector = -1 };
    vlapic_mmio_write(&v->lapic, (uint32_t)off, size, val, rdtsc(), &out);
    intr_apic_out(v, &out);
    if ((off & ~0xFul) == APIC_LVT_LINT0 || (off & ~0xFul) == APIC_SVR)
        v->intr_check = true;       /* may open LINT0 to the PIC's INTR */
    return true;
}

static const struct mmio_ops apic_ops = { .read = apic_read, .write = apic_write };

int mmio_add_apic(struct vm *vm)
{
    return gpa_add_mmio(&vm->mem, APIC_DEFAULT_BASE, APIC_PAGE_SIZE, &apic_ops, 0);
}
