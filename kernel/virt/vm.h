/* Virtual machines: one per guest module, each on its own physical CPUs. */
#ifndef KERNEL_VM_H
#define KERNEL_VM_H

#include <stdbool.h>
#include <stdint.h>
#include "kernel/bootinfo.h"
#include "kernel/cmdline.h"
#include "kernel/spinlock.h"
#include "kernel/virt/vcpu.h"
#include "kernel/virt/platform.h"
#include "kernel/virt/apf.h"
#include "kernel/dev/vuart.h"
#include "mm/gpa.h"

#define VM_MAX          16
#define VM_MAX_VCPUS    16
#define VM_MAX_MODS     4
/* Guest RAM as on a PC: low RAM from 0 up to the hole below 4 GiB (PCI/MMIO window, IOAPIC,
 * LAPIC, firmware), the rest from 4 GiB. */
#define VM_LOW_RAM_MAX  0xC0000000ull
#define VM_HIGH_RAM_BASE (1ull << 32)

enum vm_state {
    VM_FREE,            /* slot unused */
    VM_RUNNING,
    VM_PAUSED,
    VM_ENDED,           /* exited with a status or stopped; see status/reason */
};

/* Accesses to guest-physical memory where nothing answers (kernel/virt/mmio.c). */
#define HOLE_SLOTS 8
struct hole_log {
    spinlock_t lock;
    unsigned n;
    uint64_t first[HOLE_SLOTS];     /* page addresses, in the order first touched */
    uint64_t total, writes;
};

struct vm {
    unsigned id;                    /* slot index; pmm owner is id + 1 */
    char name[GUEST_NAME_MAX];
    volatile enum vm_state state;
    spinlock_t lock;
    struct guest_cfg cfg;
    const struct boot_module *image;        /* for `reset` */
    unsigned nmods;
    const struct boot_module *mods[VM_MAX_MODS];   /* the guest's own modules */
    const char *mod_strings[VM_MAX_MODS];           /* their strings, without module_of= */

    unsigned nvcpus;
    struct vcpu *vcpus[VM_MAX_VCPUS];

    struct gpa_space mem;
    uint64_t ram_hpa, ram_size;     /* low RAM: guest [0, ram_size) */
    uint64_t high_hpa, high_size;   /* RAM at guest [4 GiB, 4 GiB + high_size), 0 if none */
    struct vuart uart;
    struct platform platform;
    struct hole_log holes;
    struct lazy_mem lazy;           /* lazy RAM and async PF (kernel/virt/apf.c) */

    uint64_t kvm_wall_clock;        /* MSR_KVM_WALL_CLOCK_NEW (kvmclock.c) */
    bool emul_warned;               /* the emulator's one warning for this VM was printed */
    volatile bool guest_reset;      /* the guest asked for a reset: vCPUs are leaving */
    unsigned reset_left;            /* vCPUs still to leave before the reset is done */
    bool exited;                    /* ended through the debug-exit port or a clean halt */
    int status;                     /* exit status; -1 when stopped for a fault */
    char reason[112];               /* why it stopped, for `vms` */
};

extern struct vm vms[VM_MAX];

void vm_start_all(const struct boot_module *mods, unsigned n);
unsigned vm_count_running(void);
int vm_exit_status(void);               /* 0 if every VM ended with status 0 */
bool vm_cpu_has_vcpu(void);             /* a vCPU is assigned to this CPU and can run */
void vm_cpu_run(void);                  /* runs it until it stops */

static inline uint64_t vm_gpt_root(const struct vm *vm) { return vm->mem.pt.root; }
static inline unsigned vm_owner(const struct vm *vm) { return vm->id + 1; }

/* Ending a VM. Safe from any of its vCPUs' CPUs or from the shell; idempotent. */
void vm_exit(struct vm *vm, int status, const char *note);       /* guest asked to end */
void vm_stop(struct vm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
struct vm *vm_by_name(const char *name);
/* Prints `vm <name> started: ...` and hands every vCPU to its CPU (boot and reset). */
void vm_launch(struct vm *vm);
const char *vm_state_name(const struct vm *vm);     /* running, paused, ended, free */
/* v halted with interrupts off: true, and the VM ended (status 0), when no vCPU of it can ever
 * run again. */
bool vm_vcpu_halted(struct vcpu *v);

/* Operator control from the shell (kernel/virt/vm_ctl.c). Each returns 0, or -1 with a one-line
 * reason in err. vm_reset returns 1 when it had to leave the reload to vm_ctl_poll() (a vCPU
 * still on its way out of the guest, e.g. one on CPU 0 under the shell); it prints
 * `vm <name> started: ...` again once the VM runs from the start. */
int vm_pause(struct vm *vm, char *err, size_t errlen);
int vm_resume(struct vm *vm, char *err, size_t errlen);
int vm_kill(struct vm *vm, char *err, size_t errlen);
int vm_reset(struct vm *vm, char *err, size_t errlen);
void vm_ctl_poll(void);     /* CPU 0, from the shell: carries on a pending reset */
void vm_guest_reset(struct vcpu *v);    /* the guest reset the machine (port 0xCF9) */
void vm_vcpu_left(struct vcpu *v);      /* v's loop ended; the last one out finishes a reset */

#endif
