/* Shell commands about the machine itself: CPUs, memory, CPUID, MSRs, log level, power. */
#include "kernel/shell/shell_cmds.h"
#include "kernel/shell/shell_parse.h"
#include "kernel/log.h"
#include "kernel/percpu.h"
#include "kernel/power.h"
#include "kernel/smp.h"
#include "kernel/virt/vm.h"
#include "kernel/x86.h"
#include "kernel/lib/fmt.h"
#include "kernel/lib/string.h"
#include "mm/paging.h"
#include "mm/pmm.h"

#define CANONICAL_LOW_END   (1ul << 47)

static const char *cpu_state_name(enum cpu_state s)
{
    switch (s) {
    case CPU_ABSENT:   return "absent";
    case CPU_STARTING: return "starting";
    case CPU_ONLINE:   return "online";
    case CPU_FAILED:   return "failed";
    case CPU_STOPPED:  return "stopped";
    default:           return "?";
    }
}

void cmd_cpus(int argc, char **argv)
{
    kprintf("cpu  apic  state     runs\n");
    for (unsigned c = 0; c < ncpus; c++) {
        struct percpu *p = percpu_of(c);
        struct vcpu *v = __atomic_load_n(&p->vcpu, __ATOMIC_ACQUIRE);
        char runs[64];
        if (v)
            ksnprintf(runs, sizeof runs, "vm %s vcpu %u (%s)", v->vm->name, v->id,
                      sh_vcpu_state(v->state));
        else
            ksnprintf(runs, sizeof runs, "idle");
        kprintf("%3u  %4u  %-8s  %s%s\n", c, p->apic_id, cpu_state_name(p->state), runs,
                c == 0 ? ", shell" : "");
    }
}

static void mem_line(const char *who, uint64_t pages)
{
    kprintf("  %-20s %8lu pages  %6lu MiB\n", who, pages, pages * PAGE_SIZE >> 20);
}

void cmd_mem(int argc, char **argv)
{
    uint64_t total = pmm_total_pages(), free = pmm_free_pages();
    kprintf("frames: %lu total (%lu MiB), %lu used, %lu free (%lu MiB)\n", total,
            total * PAGE_SIZE >> 20, total - free, free, free * PAGE_SIZE >> 20);
    mem_line("keel", pmm_owner_pages(PMM_OWNER_KEEL));
    for (unsigned owner = 1; owner < PMM_MAX_OWNERS; owner++) {
        uint64_t n = pmm_owner_pages(owner);
        unsigned id = owner - 1;
        if (!n && (id >= VM_MAX || vms[id].state == VM_FREE))
            continue;
        char who[40];
        if (id < VM_MAX && vms[id].state != VM_FREE)
            ksnprintf(who, sizeof who, "vm %s", vms[id].name);
        else
            ksnprintf(who, sizeof who, "owner %u", owner);
        mem_line(who, n);
    }
}

/* Every page of [addr, addr+len) mapped as ordinary memory; else an error line. */
static bool host_range_ok(uint64_t addr, uint64_t len)
{
    if (addr + len < addr) {
        sh_error("%#lx + %#lx wraps around", addr, len);
        return false;
    }
    if (addr + len > CANONICAL_LOW_END) {      /* page walks ignore the upper bits */
        sh_error("%#lx is not mapped", addr < CANONICAL_LOW_END ? CANONICAL_LOW_END : addr);
        return false;
    }
    for (uint64_t page = addr & ~(PAGE_SIZE - 1); page < addr + len; page += PAGE_SIZE) {
        uint64_t pa, entry;
        uint64_t at = page < addr ? addr : page;
        if (!paging_lookup(page, &pa, &entry)) {
            sh_error("%#lx is not mapped", at);
            return false;
        }
        if (entry & (HPTE_PCD | HPTE_PWT)) {
            sh_error("%#lx is device memory (uncached); not dumped", at);
            return false;
        }
        if (page + PAGE_SIZE < page)
            break;
    }
    return true;
}

void cmd_dump_host_mem(int argc, char **argv)
{
    uint64_t addr, len;
    if (!sh_arg_num(argv[1], "address", ~0ul, &addr) ||
        !sh_arg_num(argv[2], "length", SH_DUMP_MAX, &len))
        return;
    if (!len) {
        sh_error("length must be at least 1");
        return;
    }
    if (!host_range_ok(addr, len))
        return;
    char line[96];
    for (uint64_t off = 0; off < len; off += 16) {
        uint64_t n = len - off < 16 ? len - off : 16;
        shell_hexdump_line(line, sizeof line, addr + off, (const uint8_t *)(addr + off), n);
        kprintf("%s\n", line);
    }
}

void cmd_cpuid(int argc, char **argv)
{
    uint64_t leaf, sub = 0;
    if (!sh_arg_num(argv[1], "leaf", 0xFFFFFFFFu, &leaf) ||
        (argc == 3 && !sh_arg_num(argv[2], "subleaf", 0xFFFFFFFFu, &sub)))
        return;
    struct cpuid_regs r;
    cpuid_count((uint32_t)leaf, (uint32_t)sub, &r);
    kprintf("cpuid %#lx.%lu: eax=%08x ebx=%08x ecx=%08x edx=%08x\n", leaf, sub, r.eax, r.ebx,
            r.ecx, r.edx);
}

struct msr_call {
    uint32_t msr;
    uint64_t val;
    bool write, ok;
};

static void msr_here(void *arg)
{
    struct msr_call *c = arg;
    c->ok = c->write ? wrmsr_safe(c->msr, c->val) : rdmsr_safe(c->msr, &c->val);
}

/* [-p <cpu>] then `nvals` words; fills cpu and the words' positions. */
static bool msr_args(int argc, char **argv, int nvals, unsigned *cpu, char ***vals)
{
    uint64_t c = 0;
    if (argc == 1 + nvals) {
        *vals = argv + 1;
    } else if (argc == 3 + nvals && !strcmp(argv[1], "-p")) {
        if (!sh_arg_num(argv[2], "cpu", ~0ul, &c))
            return false;
        *vals = argv + 3;
    } else {
        sh_error("usage: %s [-p <cpu>] <msr>%s", argv[0], nvals == 2 ? " <val>" : "");
        return false;
    }
    if (c >= ncpus) {
        sh_error("no cpu %lu (there are %u)", c, ncpus);
        return false;
    }
    if (percpu_of(c)->state != CPU_ONLINE) {
        sh_error("cpu %lu is %s", c, cpu_state_name(percpu_of(c)->state));
        return false;
    }
    *cpu = (unsigned)c;
    return true;
}

static void do_msr(int argc, char **argv, bool write)
{
    unsigned cpu;
    char **vals;
    uint64_t msr, val = 0;
    if (!msr_args(argc, argv, write ? 2 : 1, &cpu, &vals) ||
        !sh_arg_num(vals[0], "msr", 0xFFFFFFFFu, &msr) ||
        (write && !sh_arg_num(vals[1], "value", ~0ul, &val)))
        return;
    struct msr_call c = { (uint32_t)msr, val, write, false };
    if (!smp_call(cpu, msr_here, &c)) {
        sh_error("cpu %u did not answer", cpu);
        return;
    }
    if (!c.ok) {
        sh_error("%s %#lx faulted (#GP) on cpu %u", write ? "wrmsr" : "rdmsr", msr, cpu);
        return;
    }
    if (write)
        kprintf("cpu %u: msr %#lx <- 0x%016lx\n", cpu, msr, val);
    else
        kprintf("cpu %u: msr %#lx = 0x%016lx\n", cpu, msr, c.val);
}

void cmd_rdmsr(int argc, char **argv)
{
    do_msr(argc, argv, false);
}

void cmd_wrmsr(int argc, char **argv)
{
    do_msr(argc, argv, true);
}

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void cmd_loglevel(int argc, char **argv)
{
    if (argc == 2) {
        int level = -1;
        for (int i = 0; i < 4; i++)
            if (!strcmp(argv[1], level_names[i]))
                level = i;
        uint64_t n;
        if (level < 0 && shell_number(argv[1], LOG_DEBUG, &n))
            level = (int)n;
        if (level < 0) {
            sh_error("unknown log level '%.16s' (error, warn, info, debug or 0-3)", argv[1]);
            return;
        }
        log_level = level;
    }
    kprintf("loglevel %s\n", level_names[log_level >= 0 && log_level <= 3 ? log_level : 2]);
}

void cmd_reboot(int argc, char **argv)
{
    machine_reboot();
}

void cmd_poweroff(int argc, char **argv)
{
    power_off(0);
}
