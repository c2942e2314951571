#include "kernel/vm.h"
#include "kernel/log.h"

void vm_start_all(const struct boot_module *mods, unsigned n)
{
    (void)mods;
    if (n)
        pr_warn("vm: %u module(s) given; guests are not supported yet\n", n);
}

unsigned vm_count_running(void) { return 0; }
int vm_exit_status(void) { return 0; }
bool vm_cpu_has_vcpu(void) { return false; }
void vm_cpu_run(void) {}
