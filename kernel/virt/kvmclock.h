/* KVM's paravirtual clock, as KVM documents it (Documentation/virt/kvm/x86/msr.rst, cpuid.rst):
 * the guest learns the TSC rate and the wall clock from Keel instead of calibrating against the
 * PIT or PM timer (which fails when exits are slow, e.g. under nested emulation). */
#ifndef KERNEL_VIRT_KVMCLOCK_H
#define KERNEL_VIRT_KVMCLOCK_H

#include <stdbool.h>
#include <stdint.h>

/* KVM's CPUID leaves, in the second slot of the hypervisor range (Keel's own leaves stay at
 * 0x40000000; Linux scans the range in 0x100 steps for "KVMKVMKVM"). */
#define KVM_CPUID_SIGNATURE         0x40000100u
#define KVM_CPUID_FEATURES          0x40000101u
#define KVM_SIG_EBX                 0x4B4D564Bu     /* "KVMKVMKVM\0\0\0" */
#define KVM_SIG_ECX                 0x564B4D56u
#define KVM_SIG_EDX                 0x0000004Du
#define KVM_FEATURE_CLOCKSOURCE2    (1u << 3)
#define KVM_FEATURE_CLOCKSOURCE_STABLE_BIT (1u << 24)
#define KVMCLOCK_FEATURES   (KVM_FEATURE_CLOCKSOURCE2 | KVM_FEATURE_CLOCKSOURCE_STABLE_BIT)

#define MSR_KVM_WALL_CLOCK_NEW      0x4B564D00u
#define MSR_KVM_SYSTEM_TIME_NEW     0x4B564D01u

struct vcpu;

/* The two MSRs: true if msr is one of them (the access is done), false otherwise. */
bool kvmclock_rdmsr(struct vcpu *v, uint32_t msr, uint64_t *val);
bool kvmclock_wrmsr(struct vcpu *v, uint32_t msr, uint64_t val);

#endif
