/* kvmclock. Keel runs guests on the host's TSC (no offset, no scaling), which is constant and the
 * same on every CPU, so one pvclock_vcpu_time_info written when the guest names its address stays
 * valid: guest time is simply TSC / rate since the TSC's zero. */
#include "kernel/virt/kvmclock.h"
#include "kernel/virt/vm.h"
#include "kernel/x86.h"
#include "drivers/timer.h"
#include "drivers/wallclock.h"
#include "kernel/lib/string.h"

#define NSEC_PER_SEC            1000000000ull
#define SYSTEM_TIME_ENABLE      1ull
#define PVCLOCK_TSC_STABLE_BIT  (1u << 0)

struct pvclock_vcpu_time_info {
    uint32_t version, pad0;
    uint64_t tsc_timestamp, system_time;
    uint32_t tsc_to_system_mul;
    int8_t tsc_shift;
    uint8_t flags, pad[2];
};
_Static_assert(sizeof(struct pvclock_vcpu_time_info) == 32, "KVM's layout");

struct pvclock_wall_clock {
    uint32_t version, sec, nsec;
};

static uint64_t tsc_to_ns(uint64_t tsc)
{
    return tsc / tsc_hz * NSEC_PER_SEC + tsc % tsc_hz * NSEC_PER_SEC / tsc_hz;
}

/* ns = ((tsc delta, shifted by shift) * mul) >> 32, as KVM's kvm_get_time_scale picks them. */
static void time_scale(uint64_t hz, int8_t *shift, uint32_t *mul)
{
    uint64_t scaled = NSEC_PER_SEC, tps = hz;
    int s = 0;
    while (tps > scaled * 2 || tps >> 32) {
        tps >>= 1;
        s--;
    }
    while (tps <= scaled || scaled >> 32) {
        if (scaled >> 32 || tps & 0x80000000u)
            scaled >>= 1;
        else
            tps <<= 1;
        s++;
    }
    *shift = (int8_t)s;
    *mul = (uint32_t)((scaled << 32) / tps);
}

/* An odd version while the fields change, as the guest's reader expects. */
static void publish_time(struct vm *vm, uint64_t gpa)
{
    struct pvclock_vcpu_time_info *t = gpa_host_ptr(&vm->mem, gpa, sizeof *t);
    if (!t)
        return;     /* not RAM: KVM leaves the clock unwritten too */
    uint32_t ver = (t->version | 1) + 1;
    __atomic_store_n(&t->version, ver - 1, __ATOMIC_RELEASE);
    uint64_t now = rdtsc();
    t->tsc_timestamp = now;
    t->system_time = tsc_to_ns(now);
    time_scale(tsc_hz, &t->tsc_shift, &t->tsc_to_system_mul);
    t->flags = PVCLOCK_TSC_STABLE_BIT;
    __atomic_store_n(&t->version, ver, __ATOMIC_RELEASE);
}

/* The wall clock at system time 0. */
static void publish_wall(struct vm *vm, uint64_t gpa)
{
    struct pvclock_wall_clock *w = gpa_host_ptr(&vm->mem, gpa, sizeof *w);
    if (!w)
        return;
    uint64_t now = rdtsc();
    uint64_t ns = wallclock_unix(now) * NSEC_PER_SEC - tsc_to_ns(now);
    uint32_t ver = (w->version | 1) + 1;
    __atomic_store_n(&w->version, ver - 1, __ATOMIC_RELEASE);
    w->sec = (uint32_t)(ns / NSEC_PER_SEC);
    w->nsec = (uint32_t)(ns % NSEC_PER_SEC);
    __atomic_store_n(&w->version, ver, __ATOMIC_RELEASE);
}

bool kvmclock_rdmsr(struct vcpu *v, uint32_t msr, uint64_t *val)
{
    if (msr == MSR_KVM_SYSTEM_TIME_NEW)
        *val = v->kvm_system_time;
    else if (msr == MSR_KVM_WALL_CLOCK_NEW)
        *val = v->vm->kvm_wall_clock;
    else
        return false;
    return true;
}

bool kvmclock_wrmsr(struct vcpu *v, uint32_t msr, uint64_t val)
{
    if (msr == MSR_KVM_SYSTEM_TIME_NEW) {
        v->kvm_system_time = val;
        if (val & SYSTEM_TIME_ENABLE)
            publish_time(v->vm, val & ~SYSTEM_TIME_ENABLE);
    } else if (msr == MSR_KVM_WALL_CLOCK_NEW) {
        v->vm->kvm_wall_clock = val;
        publish_wall(v->vm, val);
    } else {
        return false;
    }
    return true;
}
