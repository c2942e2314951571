/* The vendor-neutral exit handlers that are not about one device or register file, and the
 * blocking/request side of the exit loop. */
#include "kernel/virt/exit.h"
#include "kernel/gdb/gdb.h"
#include "kernel/virt/apf.h"
#include "kernel/virt/intr.h"
#include "kernel/virt/vendor.h"
#include "kernel/virt/vm.h"
#include "kernel/log.h"
#include "kernel/percpu.h"
#include "kernel/shell/shell.h"
#include "kernel/smp.h"
#include "kernel/x86.h"

#define KEEL_HC_PING        0
#define KEEL_HC_PING_REPLY  0x4B45454Cu     /* "KEEL" */
#define KEEL_HC_ENOSYS      ((uint64_t)-1000)

static const char *access_name(unsigned access)
{
    return access & GPA_X ? "exec" : access & GPA_W ? "write" : "read";
}

/* HLT sleeps until something the CPU would wake for: with IF=1 an interrupt the vLAPIC would
 * deliver, an NMI, INIT; with IF=0 only an NMI or INIT. When every vCPU of the VM sleeps with
 * nothing that could wake it, the guest has finished (vm_vcpu_halted ends it, status 0). */
int exit_hlt(struct vcpu *v)
{
    if (vcpu_has_event(v))
        return EXIT_NEXT;
    v->hlt_noirq = !(vendor->get_reg(v, VREG_RFLAGS) & RFLAGS_IF);
    intr_sync(v);
    if (v->hlt_noirq ? v->nmi_pending != 0 : intr_wakeup_pending(v))
        return EXIT_NEXT;
    v->state = VCPU_HALTED;
    if (v->hlt_noirq && vm_vcpu_halted(v))
        return EXIT_STOP;
    __atomic_or_fetch(&v->requests, VCPU_REQ_EVENT, __ATOMIC_SEQ_CST);
    return EXIT_NEXT;       /* the loop sees the request, blocks, and resumes after the HLT */
}

void exit_single_step(struct vcpu *v)
{
    if (v->debug & VCPU_DBG_STEP) {     /* gdb's step, not the guest's TF */
        gdb_stepped(v);
        return;
    }
    vendor->set_reg(v, VREG_DR6, vendor->get_reg(v, VREG_DR6) | DR6_BS);
    vcpu_inject_exception(v, X86_DB, false, 0);
}

int exit_hypercall(struct vcpu *v)
{
    /* Only the guest's kernel may call Keel (as with KVM): from CPL > 0 nothing is done. */
    if (vendor->get_reg(v, VREG_CPL) != 0) {
        v->gpr[GPR_RAX] = KEEL_HC_ENOSYS;
        return EXIT_NEXT;
    }
    switch (v->gpr[GPR_RAX]) {
    case KEEL_HC_PING:
        v->gpr[GPR_RAX] = KEEL_HC_PING_REPLY;
        break;
    default:
        v->gpr[GPR_RAX] = KEEL_HC_ENOSYS;
        break;
    }
    return EXIT_NEXT;
}

/* Devices and the empty bus alike: the instruction is emulated (kernel/virt/mmio.c), which also
 * applies strict_mmio. A fetch from outside RAM is stopped here only under strict_mmio. */
int exit_gpa_fault(struct vcpu *v, uint64_t gpa, unsigned access)
{
    if (apf_is_lazy(v->vm, gpa))
        return apf_fault(v, gpa, access);
    access &= GPA_RWX;
    if (v->vm->cfg.strict_mmio && !gpa_find(&v->vm->mem, gpa)) {
        vm_stop(v->vm, "access to unmapped gpa %#lx (%s) at rip=%#lx", gpa, access_name(access),
                vendor->get_reg(v, VREG_RIP));
        return EXIT_STOP;
    }
    return mmio_exit(v, gpa, access);
}

int exit_exception(struct vcpu *v, unsigned vector, uint32_t error)
{
    /* Keel intercepts no exceptions it cannot reflect: give it back to the guest. */
    bool has_error = vector == X86_DF || (vector >= X86_TS && vector <= X86_PF) || vector == 17;
    vcpu_inject_exception(v, (uint8_t)vector, has_error, error);
    return EXIT_RETRY;
}

int exit_triple_fault(struct vcpu *v)
{
    vm_stop(v->vm, "triple fault at rip=%#lx", vendor->get_reg(v, VREG_RIP));
    return EXIT_STOP;
}

int exit_init_signal(struct vcpu *v)
{
    /* Guest SMP start-up is a later feature; until then INIT parks the vCPU. */
    v->state = VCPU_WAIT_SIPI;
    __atomic_or_fetch(&v->requests, VCPU_REQ_EVENT, __ATOMIC_SEQ_CST);
    return EXIT_RETRY;
}

int exit_extint(struct vcpu *v)
{
    /* The interrupt is still pending in the local APIC: open a window to take it. */
    __asm__ volatile("sti; nop; cli" ::: "memory");
    if (this_cpu()->work)
        cpu_do_work();
    if (this_cpu()->id == 0)
        shell_poll();
    if (v->host_deadline != UINT64_MAX)
        intr_timer_check(v);
    return v->requests ? exit_check_requests(v) : EXIT_RETRY;
}

int exit_unhandled(struct vcpu *v, uint32_t code)
{
    vm_stop(v->vm, "unhandled exit %s (%#x) at rip=%#lx", vendor->exit_name(code), code,
            vendor->get_reg(v, VREG_RIP));
    return EXIT_STOP;
}

static bool blocked(struct vcpu *v)
{
    switch (v->state) {
    case VCPU_HALTED:
        return !vcpu_has_event(v) && !(v->hlt_noirq ? v->nmi_pending : intr_wakeup_pending(v));
    case VCPU_PAUSED:
    case VCPU_WAIT_SIPI:
        return true;
    default:
        return apf_blocked(v);          /* waits for a fetch in root mode */
    }
}

int exit_check_requests(struct vcpu *v)
{
    if (this_cpu()->work)
        cpu_do_work();
    uint32_t r = __atomic_exchange_n(&v->requests, 0, __ATOMIC_SEQ_CST);
    /* After taking the requests: a shootdown's request that comes later stays pending. Root
     * mode, and the vendor loop flushes before it enters. */
    apf_shoot_ack(v);
    if (r & VCPU_REQ_STOP || v->state == VCPU_STOPPED) {
        v->state = VCPU_STOPPED;
        return EXIT_STOP;
    }
    if (r & VCPU_REQ_PAUSE)
        v->state = VCPU_PAUSED;
    intr_sync(v);
    if (v->state == VCPU_HALTED && !blocked(v))
        v->state = VCPU_RUNNING;
    return blocked(v) ? EXIT_BLOCK : EXIT_RETRY;
}

/* Sleeps until something changes for v. Host interrupts (timer, kicks) wake the hlt. */
int exit_wait(struct vcpu *v)
{
    for (;;) {
        safe_halt();
        irq_disable();
        if (this_cpu()->id == 0)
            shell_poll();
        int a = exit_check_requests(v);
        if (a != EXIT_BLOCK)
            return a;
    }
}
