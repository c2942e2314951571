/* Operator control of VMs from the shell: pause, resume, kill and reset.
 *
 * Pause asks every vCPU to stop at its next exit (VCPU_REQ_PAUSE, acted on in
 * exit_check_requests, after which exit_wait keeps it off the CPU); resume puts them back to
 * running and kicks them. A HLT-waiting vCPU that is paused comes back running, i.e. it
 * resumes after its HLT as if woken (guests loop around HLT, so this is harmless).
 *
 * Reset: the VM is marked ended ("being reset from the shell"), every vCPU is asked to stop
 * and is waited for (bounded) until its CPU has left it (percpu->vcpu no longer points at it);
 * then the vendor state is freed, RAM zeroed, the image reloaded, the vendor state built again
 * from the new entry state (on CPU 0, as at boot), and the vCPUs handed back to their CPUs as
 * at boot. A vCPU on CPU 0 can only leave the guest after the shell returns, so then the
 * reset finishes later from vm_ctl_poll(). */
#include "kernel/virt/vm.h"
#include "kernel/virt/intr.h"
#include "kernel/loader/guest_load.h"
#include "kernel/log.h"
#include "kernel/percpu.h"
#include "kernel/smp.h"
#include "kernel/virt/vendor.h"
#include "kernel/lib/fmt.h"
#include "kernel/lib/string.h"
#include "drivers/timer.h"
#include "mm/pmm.h"

#define PAUSE_WAIT_US   100000      /* how long pause waits to report the vCPUs paused */
#define STOP_WAIT_US    100000      /* how long reset waits in the command itself */
#define RESET_GIVE_UP_US 5000000    /* how long a pending reset waits in all */
#define REKICK_US       10000       /* kicks again while waiting (a kick can be lost) */

static struct vcpu *cpu_current_vcpu(unsigned cpu)
{
    return __atomic_load_n(&percpu_of(cpu)->vcpu, __ATOMIC_ACQUIRE);
}

/* Kicks every vCPU of vm on another CPU again. A kick is an NMI, which cli does not hold off:
 * one that lands between a halting CPU's last look at its requests and its HLT is lost, and a
 * CPU without a vCPU in the guest has no other wake-up. */
static void rekick(struct vm *vm)
{
    for (unsigned i = 0; i < vm->nvcpus; i++)
        if (vm->vcpus[i]->state != VCPU_STOPPED || cpu_current_vcpu(vm->vcpus[i]->pcpu))
            vcpu_kick(vm->vcpus[i]);
}

/* Spins until cond(vm) or the deadline, kicking vm's vCPUs again every REKICK_US, and doing
 * this CPU's cross-CPU work meanwhile so a CPU that calls us (smp_call) is not kept waiting. */
static bool wait_for(bool (*cond)(struct vm *), struct vm *vm, uint64_t us)
{
    uint64_t end = tsc_deadline(us), next_kick = tsc_deadline(REKICK_US);
    for (;;) {
        if (cond(vm))
            return true;
        if (tsc_passed(end))
            return false;
        if (tsc_passed(next_kick)) {
            rekick(vm);
            next_kick = tsc_deadline(REKICK_US);
        }
        if (this_cpu()->work)
            cpu_do_work();
        cpu_relax();
    }
}

/* vCPUs that can only react once the shell returns (they run on this CPU). */
static bool on_this_cpu(const struct vcpu *v)
{
    return v->pcpu == cpu_id();
}

static bool all_paused(struct vm *vm)
{
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        struct vcpu *v = vm->vcpus[i];
        if (on_this_cpu(v) || v->state == VCPU_STOPPED || v->state == VCPU_WAIT_SIPI)
            continue;
        if (v->state != VCPU_PAUSED || cpu_current_vcpu(v->pcpu) != v)
            return false;
    }
    return true;
}

int vm_pause(struct vm *vm, char *err, size_t errlen)
{
    uint64_t f = spin_lock_irqsave(&vm->lock);
    bool ok = vm->state == VM_RUNNING;
    if (ok)
        vm->state = VM_PAUSED;
    spin_unlock_irqrestore(&vm->lock, f);
    if (!ok) {
        ksnprintf(err, errlen, "vm %s is %s, not running", vm->name, vm_state_name(vm));
        return -1;
    }
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        struct vcpu *v = vm->vcpus[i];
        /* A vCPU waiting for its SIPI is not running guest code; pausing it would lose that. */
        if (v->state != VCPU_STOPPED && v->state != VCPU_WAIT_SIPI)
            vcpu_request(v, VCPU_REQ_PAUSE);
    }
    wait_for(all_paused, vm, PAUSE_WAIT_US);
    return 0;
}

/* Wakes paused vCPUs of a VM that is running: also after a pause request that was taken just
 * as resume cleared it. */
static void wake_paused(struct vm *vm)
{
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        struct vcpu *v = vm->vcpus[i];
        __atomic_and_fetch(&v->requests, ~VCPU_REQ_PAUSE, __ATOMIC_SEQ_CST);
        if (v->state == VCPU_PAUSED) {
            v->state = VCPU_RUNNING;
            __atomic_or_fetch(&v->requests, VCPU_REQ_EVENT, __ATOMIC_SEQ_CST);
            vcpu_kick(v);
        }
    }
}

int vm_resume(struct vm *vm, char *err, size_t errlen)
{
    uint64_t f = spin_lock_irqsave(&vm->lock);
    bool ok = vm->state == VM_PAUSED;
    if (ok)
        vm->state = VM_RUNNING;
    spin_unlock_irqrestore(&vm->lock, f);
    if (!ok) {
        ksnprintf(err, errlen, "vm %s is %s, not paused", vm->name, vm_state_name(vm));
        return -1;
    }
    wake_paused(vm);
    udelay(1000);
    wake_paused(vm);
    return 0;
}

/* Every vCPU not on this CPU has left its CPU. */
static bool all_out_elsewhere(struct vm *vm)
{
    for (unsigned i = 0; i < vm->nvcpus; i++)
        if (!on_this_cpu(vm->vcpus[i]) && cpu_current_vcpu(vm->vcpus[i]->pcpu) == vm->vcpus[i])
            return false;
    return true;
}

int vm_kill(struct vm *vm, char *err, size_t errlen)
{
    if (vm->state != VM_RUNNING && vm->state != VM_PAUSED) {
        ksnprintf(err, errlen, "vm %s has already ended", vm->name);
        return -1;
    }
    vm_stop(vm, "killed from the shell");
    /* vm_stop spares the vCPU of the CPU it runs on (it assumes that vCPU is the caller and
     * stops by itself); the shell runs on CPU 0 in the exit path of the vCPU there, if any. */
    for (unsigned i = 0; i < vm->nvcpus; i++)
        vcpu_request(vm->vcpus[i], VCPU_REQ_STOP);
    wait_for(all_out_elsewhere, vm, STOP_WAIT_US);
    return 0;
}

/* ---- reset ---- */

static struct {
    struct vm *vm;
    uint64_t give_up;
} pending;

/* A reset that failed after the vendor state was freed leaves nothing to free or reuse. */
static bool reset_broken[VM_MAX];

static bool all_out(struct vm *vm)
{
    for (unsigned i = 0; i < vm->nvcpus; i++)
        if (cpu_current_vcpu(vm->vcpus[i]->pcpu) == vm->vcpus[i])
            return false;
    return true;
}

static void clear_vcpu(struct vcpu *v)
{
    memset(v->gpr, 0, sizeof v->gpr);
    v->state = v->id == 0 ? VCPU_CREATED : VCPU_WAIT_SIPI;
    v->requests = 0;
    v->ev_head = v->ev_tail = 0;
    v->exits_total = 0;
    memset(v->exits, 0, sizeof v->exits);
    v->trace_next = 0;
    memset(v->trace, 0, sizeof v->trace);
    v->entry_rip = v->entry_rax = v->entry_rbx = 0;
    v->kvm_system_time = 0;
    v->entry_cr3 = 0;
    intr_vcpu_init(v);
    vcpu_state_reset(v);
}

static void zero_block(uint64_t hpa, uint64_t size)
{
    void *p = phys_to_virt(hpa);
    uint64_t n = size / 8;
    __asm__ volatile("rep stosq" : "+D"(p), "+c"(n) : "a"(0ul) : "memory");
}

static void zero_ram(struct vm *vm)
{
    zero_block(vm->ram_hpa, vm->ram_size);
    if (vm->high_size)
        zero_block(vm->high_hpa, vm->high_size);
}

/* Every vCPU is off its CPU: rebuild the VM from its image and start it again. */
static int reset_finish(struct vm *vm, char *err, size_t errlen)
{
    /* As at boot, the vendor state is built here (CPU 0); the vendors load it on the vCPU's
     * own CPU at its first entry. */
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        struct vcpu *v = vm->vcpus[i];
        if (vendor->vcpu_free)
            vendor->vcpu_free(v);
        clear_vcpu(v);
    }
    apf_vm_unload(vm);          /* the loader writes frames directly; launch rescans */
    zero_ram(vm);
    vuart_init(&vm->uart);
    platform_init(vm);
    vm->holes = (struct hole_log){ .lock = SPINLOCK_INIT };
    if (guest_load(vm, err, errlen) != 0)
        return -1;
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        if (vendor->vcpu_init(vm->vcpus[i]) != 0) {
            ksnprintf(err, errlen, "%s could not set up vcpu %u again", vendor->name, i);
            return -1;
        }
    }
    if (vendor->gpt_flush)
        vendor->gpt_flush(vm);
    uint64_t f = spin_lock_irqsave(&vm->lock);
    vm->exited = false;
    vm->status = 0;
    vm->reason[0] = 0;
    vm->state = VM_RUNNING;
    spin_unlock_irqrestore(&vm->lock, f);
    vm_launch(vm);
    return 0;
}

/* The guest reset its machine (port 0xCF9): every vCPU leaves, and the last one out rebuilds the
 * VM from its image, as `reset` does, on its own CPU. */
void vm_guest_reset(struct vcpu *v)
{
    struct vm *vm = v->vm;
    if (__atomic_exchange_n(&vm->guest_reset, true, __ATOMIC_SEQ_CST))
        return;
    __atomic_store_n(&vm->reset_left, vm->nvcpus, __ATOMIC_SEQ_CST);
    kprintf("vm %s: reset by the guest\n", vm->name);
    vuart_flush(vm);
    for (unsigned i = 0; i < vm->nvcpus; i++)
        vcpu_request(vm->vcpus[i], VCPU_REQ_STOP);
}

static void reset_failed(struct vm *vm, const char *why, bool broken);

void vm_vcpu_left(struct vcpu *v)
{
    struct vm *vm = v->vm;
    if (!vm->guest_reset || __atomic_sub_fetch(&vm->reset_left, 1, __ATOMIC_SEQ_CST) != 0)
        return;
    vm->guest_reset = false;
    char err[112];
    uint64_t f = spin_lock_irqsave(&vm->lock);
    bool running = vm->state == VM_RUNNING || vm->state == VM_PAUSED;
    if (running)
        vm->state = VM_ENDED;           /* reset_finish starts it again */
    spin_unlock_irqrestore(&vm->lock, f);
    if (running && reset_finish(vm, err, sizeof err) != 0)
        reset_failed(vm, err, true);
}

static void reset_failed(struct vm *vm, const char *why, bool broken)
{
    reset_broken[vm->id] |= broken;
    ksnprintf(vm->reason, sizeof vm->reason, "reset failed: %s", why);
    kprintf("vm %s: reset failed: %s\n", vm->name, why);
}

int vm_reset(struct vm *vm, char *err, size_t errlen)
{
    if (!vendor) {
        ksnprintf(err, errlen, "this machine cannot run guests");
        return -1;
    }
    if (reset_broken[vm->id]) {
        ksnprintf(err, errlen, "vm %s cannot be reset after its failed reset", vm->name);
        return -1;
    }
    if (pending.vm) {
        ksnprintf(err, errlen, "a reset of vm %s is still under way", pending.vm->name);
        return -1;
    }
    /* End it quietly if it runs (no power-off check: it is about to run again). */
    uint64_t f = spin_lock_irqsave(&vm->lock);
    bool was_running = vm->state == VM_RUNNING || vm->state == VM_PAUSED;
    if (was_running) {
        vm->state = VM_ENDED;
        vm->exited = false;
        vm->status = -1;
        ksnprintf(vm->reason, sizeof vm->reason, "being reset from the shell");
    }
    spin_unlock_irqrestore(&vm->lock, f);
    if (was_running)
        vuart_flush(vm);
    for (unsigned i = 0; i < vm->nvcpus; i++)
        vcpu_request(vm->vcpus[i], VCPU_REQ_STOP);
    /* vCPUs elsewhere leave within a kick; one on this CPU only after we return. */
    if (!wait_for(all_out, vm, STOP_WAIT_US)) {
        for (unsigned i = 0; i < vm->nvcpus; i++) {
            struct vcpu *v = vm->vcpus[i];
            if (!on_this_cpu(v) && cpu_current_vcpu(v->pcpu) == v) {
                ksnprintf(err, errlen, "vcpu %u on cpu %u did not stop; vm %s stays ended", i,
                          v->pcpu, vm->name);
                reset_failed(vm, "a vcpu did not stop", false);
                return -1;
            }
        }
        pending.vm = vm;
        pending.give_up = tsc_deadline(RESET_GIVE_UP_US);
        return 1;
    }
    if (reset_finish(vm, err, errlen) != 0) {
        reset_failed(vm, err, true);
        return -1;
    }
    return 0;
}

void vm_ctl_poll(void)
{
    /* A pause request taken just as `resume` cleared it leaves a vCPU paused in a running VM. */
    for (unsigned i = 0; i < VM_MAX; i++)
        if (vms[i].state == VM_RUNNING)
            for (unsigned k = 0; k < vms[i].nvcpus; k++)
                if (vms[i].vcpus[k]->state == VCPU_PAUSED &&
                    !(vms[i].vcpus[k]->requests & VCPU_REQ_PAUSE)) {
                    wake_paused(&vms[i]);
                    break;
                }
    struct vm *vm = pending.vm;
    if (!vm)
        return;
    char err[112];
    if (all_out(vm)) {
        pending.vm = 0;
        if (reset_finish(vm, err, sizeof err) != 0)
            reset_failed(vm, err, true);
    } else if (!tsc_passed(pending.give_up)) {
        rekick(vm);
    } else {
        pending.vm = 0;
        reset_failed(vm, "a vcpu did not stop", false);
    }
}
