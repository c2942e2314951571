/* Shell commands for lazy RAM and asynchronous page faults (kernel/virt/apf.h). */
#include "kernel/shell/shell_cmds.h"
#include "kernel/virt/vm.h"
#include "kernel/log.h"

#define EVICT_MAX_PAGES (1ul << 20)

/* Counters are read without stopping the vCPUs: each is a plain 64-bit load. */
void cmd_apf(int argc, char **argv)
{
    struct vm *vm = sh_arg_vm(argv[1]);
    if (!vm)
        return;
    struct lazy_mem *l = &vm->lazy;
    if (l->backing)
        kprintf("vm %s: lazy RAM, %s tier, %u us; %lu of %lu pages resident (budget %lu); "
                "fetches %lu, host touches %lu, evictions %lu, shootdowns %lu (timeouts %lu)\n",
                vm->name, l->backing->name, vm->cfg.lazy_us, l->resident, l->npages, l->budget,
                l->fetches, l->host_touches, l->evictions, l->shootdowns, l->shoot_timeouts);
    else
        kprintf("vm %s: RAM is not lazy (module option lazy or lazy=slow:<n>us)\n", vm->name);
    kprintf("%4s %3s %4s %11s %11s %11s %11s %5s %5s %7s %4s\n", "vcpu", "on", "vec", "not_present",
            "ready", "acks", "sync_waits", "queue", "fly", "dropped", "bugs");
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        const struct apf_vcpu *a = &vm->vcpus[i]->apf;
        unsigned q = apf_model_queued(a);
        kprintf("%4u %3s %4lu %11lu %11lu %11lu %11lu %5u %5u %7lu %4lu\n", i,
                apf_model_enabled(a) ? "yes" : "no", (unsigned long)(a->msr_int & 0xFF),
                a->c.not_present, a->c.ready, a->c.acks, a->c.sync_waits, q,
                apf_model_outstanding(a) - q, a->c.dropped, a->c.bugs);
    }
}

void cmd_evict(int argc, char **argv)
{
    struct vm *vm = sh_arg_vm(argv[1]);
    uint64_t gpa, n = 1;
    if (!vm || !sh_arg_num(argv[2], "gpa", ~0ul, &gpa) ||
        (argc > 3 && !sh_arg_num(argv[3], "pages", EVICT_MAX_PAGES, &n)))
        return;
    long got = apf_evict(vm, gpa & ~0xFFFul, n);
    if (got < 0)
        sh_error("%#lx is not lazy RAM of vm %s", gpa, vm->name);
    else
        kprintf("vm %s: evicted %ld page(s) from %#lx\n", vm->name, got, gpa & ~0xFFFul);
}
