/* VM objects: creation from boot modules, physical CPU assignment, and how a VM ends. */
#include "kernel/virt/vm.h"
#include "kernel/virt/intr.h"
#include "kernel/virt/exit.h"
#include "kernel/loader/guest_load.h"
#include "kernel/log.h"
#include "kernel/percpu.h"
#include "kernel/power.h"
#include "kernel/smp.h"
#include "kernel/trap.h"
#include "kernel/virt/vendor.h"
#include "kernel/lib/fmt.h"
#include "kernel/lib/string.h"
#include "mm/pmm.h"
#include "drivers/lapic.h"

#define VM_CPU_TICK_HZ 100
#define VCPU_PAGES ((sizeof(struct vcpu) + PAGE_SIZE - 1) / PAGE_SIZE)

struct vm vms[VM_MAX];
static bool cpu_vmm_ready[MAX_CPUS];
static bool cpu_taken[MAX_CPUS];
static unsigned next_vcpu_uid = 1;
static unsigned skipped_modules;

/* The tick bounds how long a kick can go unnoticed: an NMI kick that lands between a CPU's
 * last look at its work and its HLT is otherwise lost until the next interrupt. */
static void enable_on_cpu(void *arg)
{
    (void)arg;
    cpu_vmm_ready[cpu_id()] = vendor->cpu_enable() == 0;
    lapic_timer_start(VM_CPU_TICK_HZ);
}

static unsigned enable_cpus(void)
{
    unsigned ok = 0;
    for (unsigned c = 0; c < ncpus; c++) {
        if (percpu_of(c)->state != CPU_ONLINE)
            continue;
        if (!smp_call(c, enable_on_cpu, 0) || !cpu_vmm_ready[c])
            pr_err("cpu %u: could not enable %s; no guests will run on it\n", c, vendor->name);
        ok += cpu_vmm_ready[c];
    }
    return ok;
}

/* APs first; the boot CPU, which also runs the shell, only when nothing else is left. */
static int take_cpus(unsigned n, unsigned *out)
{
    unsigned got = 0;
    for (unsigned pass = 0; pass < 2 && got < n; pass++)
        for (unsigned c = pass ? 0 : 1; c < (pass ? 1 : ncpus) && got < n; c++)
            if (cpu_vmm_ready[c] && !cpu_taken[c])
                out[got++] = c;
    if (got < n)
        return -1;
    for (unsigned i = 0; i < n; i++)
        cpu_taken[out[i]] = true;
    return 0;
}

static unsigned free_cpus(void)
{
    unsigned n = 0;
    for (unsigned c = 0; c < ncpus; c++)
        n += cpu_vmm_ready[c] && !cpu_taken[c];
    return n;
}

struct vm *vm_by_name(const char *name)
{
    for (unsigned i = 0; i < VM_MAX; i++)
        if (vms[i].state != VM_FREE && !strcmp(vms[i].name, name))
            return &vms[i];
    return 0;
}

static struct vm *alloc_slot(void)
{
    for (unsigned i = 0; i < VM_MAX; i++)
        if (vms[i].state == VM_FREE) {
            memset(&vms[i], 0, sizeof vms[i]);
            vms[i].id = i;
            return &vms[i];
        }
    return 0;
}

static int create_vcpus(struct vm *vm, const unsigned *cpus, char *err, size_t errlen)
{
    for (unsigned i = 0; i < vm->cfg.cpus; i++) {
        struct vcpu *v = phys_to_virt(pmm_alloc(VCPU_PAGES, 1, vm_owner(vm)));
        if (!v) {
            ksnprintf(err, errlen, "out of memory for vcpu %u", i);
            return -1;
        }
        v->vm = vm;
        v->id = i;
        v->uid = next_vcpu_uid++;
        v->pcpu = cpus[i];
        v->state = i == 0 ? VCPU_CREATED : VCPU_WAIT_SIPI;
        intr_vcpu_init(v);
        vm->vcpus[vm->nvcpus++] = v;
    }
    return 0;
}

/* Low RAM up to VM_LOW_RAM_MAX, the rest from 4 GiB; each block is its own host allocation. */
static int setup_ram(struct vm *vm, char *err, size_t errlen)
{
    uint64_t mem = vm->cfg.mem;
    vm->ram_size = mem < VM_LOW_RAM_MAX ? mem : VM_LOW_RAM_MAX;
    vm->high_size = mem - vm->ram_size;
    vm->ram_hpa = pmm_alloc(vm->ram_size / PAGE_SIZE, PAGE_2M / PAGE_SIZE, vm_owner(vm));
    if (vm->ram_hpa && vm->high_size)
        vm->high_hpa = pmm_alloc(vm->high_size / PAGE_SIZE, PAGE_2M / PAGE_SIZE, vm_owner(vm));
    if (!vm->ram_hpa || (vm->high_size && !vm->high_hpa)) {
        ksnprintf(err, errlen, "not enough free memory for %lu MiB of guest RAM (%lu MiB free)",
                  mem >> 20, pmm_free_pages() * PAGE_SIZE >> 20);
        return -1;
    }
    if (gpa_init(&vm->mem, vm_owner(vm)) != 0 ||
        gpa_add_ram(&vm->mem, 0, vm->ram_size, vm->ram_hpa) != 0 ||
        (vm->high_size &&
         gpa_add_ram(&vm->mem, VM_HIGH_RAM_BASE, vm->high_size, vm->high_hpa) != 0)) {
        ksnprintf(err, errlen, "out of memory for guest page tables");
        return -1;
    }
    return 0;
}

static int setup_vm(struct vm *vm, const unsigned *cpus, char *err, size_t errlen)
{
    if (setup_ram(vm, err, errlen) != 0)
        return -1;
    if (vm->ram_size <= VIOAPIC_DEFAULT_BASE) {
        if (mmio_add_apic(vm) != 0 || platform_map(vm) != 0) {
            ksnprintf(err, errlen, "cannot map the local APIC and IOAPIC pages");
            return -1;
        }
    } else {
        pr_warn("vm %s: its RAM covers 0xfec00000: no xAPIC or IOAPIC page\n", vm->name);
    }
    vuart_init(&vm->uart);
    if (create_vcpus(vm, cpus, err, errlen) != 0 || guest_load(vm, err, errlen) != 0)
        return -1;
    platform_init(vm);
    vm->holes = (struct hole_log){ .lock = SPINLOCK_INIT };
    for (unsigned i = 0; i < vm->nvcpus; i++)
        if (vendor->vcpu_init(vm->vcpus[i]) != 0) {
            ksnprintf(err, errlen, "%s could not set up vcpu %u", vendor->name, i);
            return -1;
        }
    return 0;
}

/* Gives back everything a VM that failed to start had taken. */
static void release_vm(struct vm *vm, const unsigned *cpus, unsigned ncpu)
{
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        if (vendor->vcpu_free)
            vendor->vcpu_free(vm->vcpus[i]);
        pmm_free(virt_to_phys(vm->vcpus[i]), VCPU_PAGES, vm_owner(vm));
    }
    gpa_destroy(&vm->mem);
    if (vm->ram_hpa)
        pmm_free(vm->ram_hpa, vm->ram_size / PAGE_SIZE, vm_owner(vm));
    if (vm->high_hpa)
        pmm_free(vm->high_hpa, vm->high_size / PAGE_SIZE, vm_owner(vm));
    for (unsigned i = 0; i < ncpu; i++)
        cpu_taken[cpus[i]] = false;
    vm->state = VM_FREE;
}

static struct vm *create_vm(const struct boot_module *m, const struct guest_cfg *cfg,
                            char *err, size_t errlen)
{
    unsigned cpus[VM_MAX_VCPUS];
    /* A broken image is the more useful complaint, so check it before any resources. */
    if (guest_load_check(m, cfg->mem, err, errlen) != 0)
        return 0;
    if (vm_by_name(cfg->name)) {
        ksnprintf(err, errlen, "a VM named '%s' already exists", cfg->name);
        return 0;
    }
    if (cfg->cpus > VM_MAX_VCPUS || take_cpus(cfg->cpus, cpus) != 0) {
        ksnprintf(err, errlen, "needs %u cpu(s) but only %u free", cfg->cpus, free_cpus());
        return 0;
    }
    struct vm *vm = alloc_slot();
    if (!vm) {
        ksnprintf(err, errlen, "no free VM slot (at most %d VMs)", VM_MAX);
        for (unsigned i = 0; i < cfg->cpus; i++)
            cpu_taken[cpus[i]] = false;
        return 0;
    }
    vm->state = VM_RUNNING;     /* claims the slot; nothing runs before the vCPUs are handed out */
    vm->cfg = *cfg;
    memcpy(vm->name, cfg->name, sizeof vm->name);
    vm->image = m;
    if (setup_vm(vm, cpus, err, errlen) != 0) {
        release_vm(vm, cpus, cfg->cpus);
        return 0;
    }
    return vm;
}

static void attach_modules(const struct boot_module *mods, unsigned n,
                           const struct guest_cfg *cfgs)
{
    for (unsigned i = 0; i < n; i++) {
        if (!cfgs[i].module_of[0])
            continue;
        struct vm *vm = vm_by_name(cfgs[i].module_of);
        if (!vm) {
            kprintf("module %u: module_of=%s names no VM; skipped\n", i + 1, cfgs[i].module_of);
            skipped_modules++;
        } else if (vm->nmods == VM_MAX_MODS) {
            kprintf("module %u: VM %s already has %d modules; skipped\n", i + 1, vm->name,
                    VM_MAX_MODS);
            skipped_modules++;
        } else {
            vm->mod_strings[vm->nmods] = cfgs[i].args;
            vm->mods[vm->nmods++] = &mods[i];
        }
    }
}

void vm_launch(struct vm *vm)
{
    apf_vm_loaded(vm);
    kprintf("vm %s started: %u vcpu(s), %lu MiB, entry %#lx\n", vm->name, vm->nvcpus,
            vm->cfg.mem >> 20, vm->vcpus[0]->entry_rip);
    pr_debug("vm %s: launched at tsc %lu\n", vm->name, rdtsc());  /* for boot benchmarks */
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        struct vcpu *v = vm->vcpus[i];
        __atomic_store_n(&percpu_of(v->pcpu)->vcpu, v, __ATOMIC_RELEASE);
        cpu_kick(v->pcpu);
    }
}

const char *vm_state_name(const struct vm *vm)
{
    switch (vm->state) {
    case VM_RUNNING: return "running";
    case VM_PAUSED:  return "paused";
    case VM_ENDED:   return "ended";
    default:         return "free";
    }
}

static bool parse_cfgs(const struct boot_module *mods, unsigned n, struct guest_cfg *cfgs,
                       bool *bad)
{
    bool any = false;
    char err[96];
    for (unsigned i = 0; i < n; i++) {
        memset(&cfgs[i], 0, sizeof cfgs[i]);
        ksnprintf(cfgs[i].name, sizeof cfgs[i].name, "vm%u", i + 1);
        bad[i] = cmdline_parse_guest(mods[i].cmdline, &cfgs[i], err, sizeof err) != 0;
        if (bad[i]) {
            kprintf("module %u: %s; skipped\n", i + 1, err);
            skipped_modules++;
        }
        any |= !bad[i] && !cfgs[i].module_of[0];
    }
    return any;
}

void vm_start_all(const struct boot_module *mods, unsigned n)
{
    static struct guest_cfg cfgs[BOOT_MAX_MODULES];
    static struct vm *created[BOOT_MAX_MODULES];
    bool bad[BOOT_MAX_MODULES];
    const char *why = "";
    char err[128];
    if (!parse_cfgs(mods, n, cfgs, bad))
        return;
    if (!vendor_select(&why)) {
        kprintf("vm: this machine cannot run guests (%s); %u module(s) skipped\n", why, n);
        skipped_modules += n;
        return;
    }
    idt_db_ist(vendor == &vmx_vendor);
    pr_info("vm: %s on %u cpu(s)\n", vendor->name, enable_cpus());
    /* Guests first, so module_of= may name a VM that comes later on the loader's list. */
    for (unsigned i = 0; i < n; i++) {
        if (bad[i] || cfgs[i].module_of[0])
            continue;
        created[i] = create_vm(&mods[i], &cfgs[i], err, sizeof err);
        if (!created[i]) {
            kprintf("module %u: %s; skipped\n", i + 1, err);
            skipped_modules++;
        }
    }
    attach_modules(mods, n, cfgs);
    for (unsigned i = 0; i < n; i++)
        if (created[i] && created[i]->nmods && guest_load(created[i], err, sizeof err) != 0) {
            vm_stop(created[i], "%s", err);
            created[i] = 0;
        }
    for (unsigned i = 0; i < n; i++)
        if (created[i])
            vm_launch(created[i]);
}

unsigned vm_count_running(void)
{
    unsigned n = 0;
    for (unsigned i = 0; i < VM_MAX; i++)
        n += vms[i].state == VM_RUNNING || vms[i].state == VM_PAUSED;
    return n;
}

int vm_exit_status(void)
{
    if (skipped_modules)
        return 1;
    for (unsigned i = 0; i < VM_MAX; i++)
        if (vms[i].state == VM_ENDED && (!vms[i].exited || vms[i].status != 0))
            return 1;
    return 0;
}

bool vm_cpu_has_vcpu(void)
{
    struct vcpu *v = this_cpu()->vcpu;
    return v && v->state != VCPU_STOPPED;
}

/* Secondary vCPUs enter the loop in wait-for-SIPI: the request makes it look at their state
 * (and block) before the first entry; the guest's SIPI starts them (kernel/virt/intr.c). */
void vm_cpu_run(void)
{
    struct percpu *pc = this_cpu();
    struct vcpu *v = pc->vcpu;
    if (v->state == VCPU_WAIT_SIPI)
        __atomic_or_fetch(&v->requests, VCPU_REQ_EVENT, __ATOMIC_SEQ_CST);
    else
        v->state = VCPU_RUNNING;
    vcpu_state_load(v);
    vendor->vcpu_run(v);
    vcpu_state_save(v);
    intr_vcpu_stopped(v);
    v->state = VCPU_STOPPED;
    pc->vcpu = 0;
    cpu_taken[pc->id] = false;
    vm_vcpu_left(v);
}

/* Marks the VM ended once; the caller prints why. False if it had already ended. */
static bool end_vm(struct vm *vm, bool exited, int status)
{
    uint64_t f = spin_lock_irqsave(&vm->lock);
    bool first = vm->state == VM_RUNNING || vm->state == VM_PAUSED;
    if (first) {
        vm->state = VM_ENDED;
        vm->exited = exited;
        vm->status = status;
    }
    spin_unlock_irqrestore(&vm->lock, f);
    if (first)
        vuart_flush(vm);
    return first;
}

/* Every vCPU gets the request, the caller's own too: the caller may be the shell running in
 * the exit path of one of this VM's vCPUs, which must not re-enter the guest afterwards. */
static void after_end(struct vm *vm)
{
    for (unsigned i = 0; i < vm->nvcpus; i++)
        vcpu_request(vm->vcpus[i], VCPU_REQ_STOP);
    if (power_off_when_done && vm_count_running() == 0)
        power_off(vm_exit_status());
}

void vm_exit(struct vm *vm, int status, const char *note)
{
    if (!end_vm(vm, true, status))
        return;
    ksnprintf(vm->reason, sizeof vm->reason, "exited status=%d%s", status, note ? note : "");
    kprintf("vm %s %s\n", vm->name, vm->reason);
    after_end(vm);
}

void vm_stop(struct vm *vm, const char *fmt, ...)
{
    if (!end_vm(vm, false, -1))
        return;
    va_list ap;
    va_start(ap, fmt);
    kvsnprintf(vm->reason, sizeof vm->reason, fmt, ap);
    va_end(ap);
    kprintf("vm %s stopped: %s\n", vm->name, vm->reason);
    after_end(vm);
}

/* Nothing can wake a vCPU that is stopped, waits for a SIPI, or sleeps with IF=0 and no NMI or
 * INIT on its way; when that holds for every vCPU, no vCPU can send one either. */
static bool cannot_run(const struct vcpu *d)
{
    switch (d->state) {
    case VCPU_STOPPED:
    case VCPU_WAIT_SIPI:
        return true;
    case VCPU_HALTED:
        return d->hlt_noirq && !d->nmi_pending && d->sig_head == d->sig_tail;
    default:
        return false;
    }
}

bool vm_vcpu_halted(struct vcpu *v)
{
    struct vm *vm = v->vm;
    bool all = true;
    uint64_t f = spin_lock_irqsave(&vm->lock);
    for (unsigned i = 0; i < vm->nvcpus && all; i++)
        all = cannot_run(vm->vcpus[i]);
    spin_unlock_irqrestore(&vm->lock, f);
    if (all)
        vm_exit(vm, 0, " (halted)");
    return all;
}
