/* The VM a gdb session debugs: stopping and resuming its vCPUs, their registers, guest memory
 * through the guest's page tables, software breakpoints (INT3 written into guest RAM) and
 * hardware ones (the guest's DR0-DR3/DR7, shared by every vCPU as threads of one process).
 *
 * Stopping: a vCPU that hits gdb's breakpoint or finishes gdb's step reports on its own CPU
 * (report()): it marks the VM paused and asks every vCPU of it, itself included, to pause
 * (VCPU_REQ_PAUSE: each stops in root mode at its next exit, kicked by an NMI). The first
 * report since the last resume is the one gdb hears of; a breakpoint another vCPU hits
 * meanwhile is not lost, as its RIP stays on the INT3 and it hits again when resumed (a
 * watchpoint or step report of a second vCPU is dropped). Guest time is not stopped: the
 * vLAPIC timer, PIT and RTC follow the host clock, so a guest sees the time it spent stopped
 * pass at once when resumed (pending timer interrupts arrive then). */
#include "kernel/gdb/gdb_target.h"
#include "kernel/gdb/gdb.h"
#include "kernel/emul/gwalk.h"
#include "kernel/virt/exit.h"
#include "kernel/virt/vendor.h"
#include "kernel/virt/vm.h"
#include "kernel/percpu.h"
#include "kernel/smp.h"
#include "kernel/x86.h"
#include "kernel/lib/string.h"
#include "drivers/timer.h"

#define SW_BPS          64
#define INT3            0xCC
#define STOP_WAIT_US    3000000     /* how long a stop waits for the vCPUs */
#define REKICK_US       10000
#define RFLAGS_AC_BIT   (1ul << 18) /* debugger accesses are explicit supervisor ones: no SMAP */
#define DR7_FIXED       0x400ul
#define DR7_GE          (1ul << 9)
#define DR6_B0_3        0xFul

struct sw_bp { uint64_t la, gpa; uint8_t orig; bool used; };
struct hw_bp { uint64_t addr; unsigned type, len; bool used; };   /* type: Z type 1, 2 or 4 */

static struct {
    struct vm *volatile vm;
    volatile int stop_vcpu;         /* the vCPU whose report gdb hears of; -1: none */
    unsigned kind[VM_MAX_VCPUS];
    uint64_t addr[VM_MAX_VCPUS];
    bool wide;
    bool hw_used;                   /* the debug registers are gdb's (until detach) */
    struct sw_bp sw[SW_BPS];
    struct hw_bp hw[4];
} t = { .stop_vcpu = -1 };

bool tgt_wide(void) { return t.wide; }

/* ---- on a vCPU's own CPU ---- */

static void pause_vm(struct vm *vm)
{
    uint64_t f = spin_lock_irqsave(&vm->lock);
    if (vm->state == VM_RUNNING)
        vm->state = VM_PAUSED;      /* first, so the shell's poll does not wake them again */
    spin_unlock_irqrestore(&vm->lock, f);
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        struct vcpu *u = vm->vcpus[i];
        if (u->state != VCPU_STOPPED && u->state != VCPU_WAIT_SIPI)
            vcpu_request(u, VCPU_REQ_PAUSE);
    }
}

static void report(struct vcpu *v, unsigned kind, uint64_t addr)
{
    int none = -1;
    t.kind[v->id] = kind;
    t.addr[v->id] = addr;
    __atomic_compare_exchange_n(&t.stop_vcpu, &none, (int)v->id, false, __ATOMIC_SEQ_CST,
                                __ATOMIC_SEQ_CST);
    pause_vm(v->vm);
}

static struct sw_bp *sw_find(uint64_t la)
{
    for (unsigned i = 0; i < SW_BPS; i++)
        if (t.sw[i].used && t.sw[i].la == la)
            return &t.sw[i];
    return 0;
}

bool gdb_exception(struct vcpu *v, unsigned vector, uint64_t dr6)
{
    if (t.vm != v->vm || !(v->debug & VCPU_DBG_TRAP))
        return false;
    if (vector == X86_BP) {
        uint64_t la = vendor->get_reg(v, VREG_CS_BASE) + vendor->get_reg(v, VREG_RIP);
        if (!sw_find(la))
            return false;
        report(v, STOP_SWBREAK, 0);     /* RIP stays on the INT3 (gdb is told swbreak) */
        return true;
    }
    if ((dr6 & DR6_BS) && (v->debug & VCPU_DBG_STEP)) {
        gdb_stepped(v);
        return true;
    }
    for (unsigned i = 0; i < 4; i++)
        if ((dr6 & (1ul << i)) && t.hw[i].used) {
            unsigned k = t.hw[i].type == 1 ? STOP_HWBREAK : t.hw[i].type == 2 ? STOP_WATCH :
                         STOP_AWATCH;
            report(v, k, t.hw[i].addr);
            return true;
        }
    return false;
}

void gdb_stepped(struct vcpu *v)
{
    v->debug &= ~VCPU_DBG_STEP;
    vendor->set_debug(v, v->debug);
    report(v, STOP_STEP, 0);
}

/* Debug state into a vCPU, on its CPU (a cross-CPU call while it is paused). */
static uint64_t dr7_value(void)
{
    uint64_t dr7 = DR7_FIXED;
    for (unsigned i = 0; i < 4; i++) {
        const struct hw_bp *b = &t.hw[i];
        if (!b->used)
            continue;
        dr7 |= DR7_GE;
        unsigned rw = b->type == 1 ? 0 : b->type == 2 ? 1 : 3;
        unsigned len = b->len == 1 ? 0 : b->len == 2 ? 1 : b->len == 8 ? 2 : 3;
        dr7 |= 2ul << (2 * i) | (uint64_t)(rw | len << 2) << (16 + 4 * i);   /* Gn, R/Wn, LENn */
    }
    return dr7;
}

struct apply { struct vcpu *v; unsigned flags; };

static void apply_here(void *arg)
{
    struct apply *a = arg;
    struct vcpu *v = a->v;
    if (this_cpu()->vcpu != v)
        return;
    if (t.hw_used) {
        write_dr0(t.hw[0].addr);
        write_dr1(t.hw[1].addr);
        write_dr2(t.hw[2].addr);
        write_dr3(t.hw[3].addr);
        vendor->set_reg(v, VREG_DR7, dr7_value());
    }
    v->debug = (uint8_t)a->flags;
    vendor->set_debug(v, a->flags);
}

static void apply(struct vcpu *v, unsigned flags)
{
    struct apply a = { v, flags };
    if (v->state == VCPU_CREATED || v->state == VCPU_STOPPED)
        return;
    smp_call(v->pcpu, apply_here, &a);
}

/* ---- stopping and resuming (CPU 0) ---- */

static bool all_paused(struct vm *vm)
{
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        struct vcpu *v = vm->vcpus[i];
        if (v->pcpu == cpu_id() || v->state == VCPU_STOPPED || v->state == VCPU_WAIT_SIPI ||
            v->state == VCPU_CREATED)
            continue;
        if (v->state != VCPU_PAUSED || percpu_of(v->pcpu)->vcpu != v)
            return false;
    }
    return true;
}

bool tgt_stop_all(void)
{
    struct vm *vm = t.vm;
    if (vm->state != VM_RUNNING && vm->state != VM_PAUSED)
        return true;                /* ended: nothing runs */
    pause_vm(vm);
    uint64_t end = tsc_deadline(STOP_WAIT_US), kick = tsc_deadline(REKICK_US);
    while (!all_paused(vm)) {
        if (tsc_passed(end))
            return false;
        if (tsc_passed(kick)) {
            for (unsigned i = 0; i < vm->nvcpus; i++)
                if (vm->vcpus[i]->state != VCPU_PAUSED)
                    vcpu_kick(vm->vcpus[i]);
            kick = tsc_deadline(REKICK_US);
        }
        if (this_cpu()->work)
            cpu_do_work();
        cpu_relax();
    }
    return true;
}

bool tgt_reported(int *vcpu, unsigned *kind, uint64_t *addr)
{
    int id = __atomic_load_n(&t.stop_vcpu, __ATOMIC_SEQ_CST);
    if (id < 0)
        return false;
    *vcpu = id;
    *kind = t.kind[id];
    *addr = t.addr[id];
    return true;
}

/* Once, unlike vm_resume (which wakes twice, 1 ms apart, and so would also undo the pause of
 * a vCPU that finished a single step meanwhile). Every vCPU was seen paused. */
static void run_vm(struct vm *vm)
{
    uint64_t f = spin_lock_irqsave(&vm->lock);
    bool paused = vm->state == VM_PAUSED;
    if (paused)
        vm->state = VM_RUNNING;
    spin_unlock_irqrestore(&vm->lock, f);
    for (unsigned i = 0; paused && i < vm->nvcpus; i++) {
        struct vcpu *u = vm->vcpus[i];
        __atomic_and_fetch(&u->requests, ~VCPU_REQ_PAUSE, __ATOMIC_SEQ_CST);
        if (u->state == VCPU_PAUSED) {
            u->state = VCPU_RUNNING;
            vcpu_request(u, VCPU_REQ_EVENT);
        }
    }
}

void tgt_resume(uint32_t step_mask)
{
    struct vm *vm = t.vm;
    if (vm->state != VM_PAUSED)
        return;
    for (unsigned i = 0; i < vm->nvcpus; i++)
        apply(vm->vcpus[i], VCPU_DBG_TRAP | (step_mask >> i & 1 ? VCPU_DBG_STEP : 0));
    __atomic_store_n(&t.stop_vcpu, -1, __ATOMIC_SEQ_CST);
    run_vm(vm);
}

void tgt_attach(struct vm *vm)
{
    memset(&t, 0, sizeof t);
    t.stop_vcpu = -1;
    t.vm = vm;
    t.wide = vendor->get_reg(vm->vcpus[0], VREG_EFER) & EFER_LMA;
}

void tgt_detach(void)
{
    struct vm *vm = t.vm;
    if (!vm)
        return;
    for (unsigned i = 0; i < SW_BPS; i++)
        if (t.sw[i].used) {
            uint8_t *p = gpa_host_ptr(&vm->mem, t.sw[i].gpa, 1);
            if (p)
                *p = t.sw[i].orig;
            t.sw[i].used = false;
        }
    memset(t.hw, 0, sizeof t.hw);
    bool running = vm->state == VM_RUNNING || vm->state == VM_PAUSED;
    for (unsigned i = 0; running && i < vm->nvcpus; i++)
        apply(vm->vcpus[i], 0);     /* DR7 back to no breakpoints if gdb had set any */
    t.hw_used = false;
    __atomic_store_n(&t.stop_vcpu, -1, __ATOMIC_SEQ_CST);
    t.vm = 0;
    run_vm(vm);
}

/* ---- registers ---- */

/* gdb's amd64 order of the general registers. */
static const uint8_t amd64_gpr[16] = { GPR_RAX, GPR_RBX, GPR_RCX, GPR_RDX, GPR_RSI, GPR_RDI,
                                       GPR_RBP, GPR_RSP, GPR_R8, GPR_R9, GPR_R10, GPR_R11,
                                       GPR_R12, GPR_R13, GPR_R14, GPR_R15 };

/* 16 (or 8) GPRs, RIP, EFLAGS, CS, SS, DS, ES, FS, GS. */
unsigned tgt_nregs(void) { return t.wide ? 24 : 16; }

/* Which register n is: a GPR (*gpr), a vendor register (*vr), or a segment (neither). */
static int reg_kind(unsigned n, int *gpr, int *vr)
{
    unsigned ngpr = t.wide ? 16 : 8;
    *gpr = *vr = -1;
    if (n < ngpr)
        *gpr = t.wide ? amd64_gpr[n] : (int)n;
    else if (n == ngpr)
        *vr = VREG_RIP;
    else if (n == ngpr + 1)
        *vr = VREG_RFLAGS;
    else if (n == ngpr + 2)
        *vr = VREG_CS_SEL;
    else if (n >= tgt_nregs())
        return -1;
    if (*gpr == GPR_RSP)
        *gpr = -1, *vr = VREG_RSP;      /* RSP lives in the VMCS/VMCB */
    return t.wide && n <= ngpr ? 8 : 4;     /* RIP is 8 bytes too in amd64 */
}

int tgt_get_reg(struct vcpu *v, unsigned n, uint64_t *val)
{
    int gpr, vr, size = reg_kind(n, &gpr, &vr);
    if (size < 0)
        return -1;
    if (gpr >= 0)
        *val = v->gpr[gpr];
    else if (vr >= 0)
        *val = vendor->get_reg(v, (enum vreg)vr);
    else
        return 0;                       /* data segment selectors: not kept by Keel */
    return size;
}

int tgt_set_reg(struct vcpu *v, unsigned n, uint64_t val)
{
    int gpr, vr, size = reg_kind(n, &gpr, &vr);
    if (size < 0 || vr == VREG_CS_SEL)
        return -1;
    if (gpr >= 0)
        v->gpr[gpr] = t.wide ? val : (v->gpr[gpr] & ~0xFFFFFFFFul) | (uint32_t)val;
    else if (vr >= 0)
        vendor->set_reg(v, (enum vreg)vr, val);
    return size;                        /* a write to DS..GS is accepted and ignored */
}

/* ---- memory ---- */

/* The debugger looks without leaving traces: no accessed/dirty bits. */
static bool pt_keep(void *ctx, uint64_t gpa, uint64_t old, uint64_t bits, unsigned size)
{
    return true;
}

static uint8_t *host_byte(struct vcpu *v, uint64_t la, size_t want, size_t *n, uint64_t *gpa_out)
{
    struct gwalk_cpu c = {
        .cr0 = vendor->get_reg(v, VREG_CR0), .cr3 = vendor->get_reg(v, VREG_CR3),
        .cr4 = vendor->get_reg(v, VREG_CR4), .efer = vendor->get_reg(v, VREG_EFER),
        .rflags = RFLAGS_AC_BIT, .maxphyaddr = (uint8_t)guest_maxphyaddr(),
    };
    struct gwalk_mem m = { .ctx = &v->vm->mem, .read = guest_pt_read, .set_bits = pt_keep };
    uint64_t gpa;
    uint32_t err;
    if (gwalk(&c, &m, la, 0, &gpa, &err) != GW_OK)
        return 0;
    *n = want < gwalk_page_left(la) ? want : gwalk_page_left(la);
    if (gpa_out)
        *gpa_out = gpa;
    return gpa_host_ptr(&v->vm->mem, gpa, *n);
}

size_t tgt_read_mem(struct vcpu *v, uint64_t la, uint8_t *buf, size_t len)
{
    size_t done = 0, n;
    while (done < len) {
        const uint8_t *p = host_byte(v, la + done, len - done, &n, 0);
        if (!p)
            break;
        memcpy(buf + done, p, n);
        done += n;
    }
    /* gdb sees the original bytes under its breakpoints. */
    for (unsigned i = 0; i < SW_BPS; i++)
        if (t.sw[i].used && t.sw[i].la - la < done)
            buf[t.sw[i].la - la] = t.sw[i].orig;
    return done;
}

int tgt_write_mem(struct vcpu *v, uint64_t la, const uint8_t *buf, size_t len)
{
    size_t done = 0, n;
    while (done < len) {
        uint8_t *p = host_byte(v, la + done, len - done, &n, 0);
        if (!p)
            return -1;
        memcpy(p, buf + done, n);
        done += n;
    }
    for (unsigned i = 0; i < SW_BPS; i++)       /* a breakpoint written over stays in */
        if (t.sw[i].used && t.sw[i].la - la < len) {
            uint8_t *p = gpa_host_ptr(&v->vm->mem, t.sw[i].gpa, 1);
            t.sw[i].orig = buf[t.sw[i].la - la];
            if (p)
                *p = INT3;
        }
    return 0;
}

/* ---- breakpoints ---- */

static int sw_breakpoint(struct vcpu *v, bool insert, uint64_t la)
{
    struct sw_bp *b = sw_find(la);
    size_t n;
    if (!insert) {
        if (b) {
            uint8_t *p = gpa_host_ptr(&v->vm->mem, b->gpa, 1);
            if (p)
                *p = b->orig;
            b->used = false;
        }
        return 0;
    }
    if (b)
        return 0;
    for (unsigned i = 0; i < SW_BPS && !b; i++)
        if (!t.sw[i].used)
            b = &t.sw[i];
    uint64_t gpa;
    uint8_t *p = b ? host_byte(v, la, 1, &n, &gpa) : 0;
    if (!p)
        return -1;
    *b = (struct sw_bp){ .la = la, .gpa = gpa, .orig = *p, .used = true };
    *p = INT3;
    return 0;
}

static int hw_breakpoint(bool insert, unsigned type, uint64_t addr, uint64_t len)
{
    if (type == 1)
        len = 1;
    if (len != 1 && len != 2 && len != 4 && len != 8)
        return -1;
    if (addr & (len - 1))
        return -1;                      /* the debug registers want aligned ranges */
    for (unsigned i = 0; i < 4; i++) {
        struct hw_bp *b = &t.hw[i];
        if (insert ? !b->used : (b->used && b->addr == addr && b->type == type && b->len == len)) {
            *b = (struct hw_bp){ .addr = addr, .type = type, .len = (unsigned)len,
                                 .used = insert };
            t.hw_used = true;
            return 0;
        }
    }
    return insert ? -1 : 0;
}

int tgt_breakpoint(struct vcpu *v, bool insert, unsigned type, uint64_t addr, uint64_t kind)
{
    if (type == 0)
        return sw_breakpoint(v, insert, addr);
    if (type == 3)
        return 1;                       /* x86 has no read-only watchpoints */
    return hw_breakpoint(insert, type, addr, kind);
}
