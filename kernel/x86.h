/* x86-64 instruction wrappers and architectural constants used by host code. Names follow the
 * Intel SDM / AMD APM. */
#ifndef KERNEL_X86_H
#define KERNEL_X86_H

#include <stdint.h>
#include <stdbool.h>

#define MSR_IA32_APIC_BASE      0x0000001B
#define MSR_IA32_FEATURE_CONTROL 0x0000003A
#define MSR_IA32_PAT            0x00000277
#define MSR_IA32_TSC_DEADLINE   0x000006E0
#define MSR_EFER                0xC0000080
#define MSR_STAR                0xC0000081
#define MSR_LSTAR               0xC0000082
#define MSR_CSTAR               0xC0000083
#define MSR_SFMASK              0xC0000084
#define MSR_FS_BASE             0xC0000100
#define MSR_GS_BASE             0xC0000101
#define MSR_KERNEL_GS_BASE      0xC0000102

#define EFER_SCE                (1ul << 0)
#define EFER_LME                (1ul << 8)
#define EFER_LMA                (1ul << 10)
#define EFER_NXE                (1ul << 11)
#define EFER_SVME               (1ul << 12)

#define CR0_PE                  (1ul << 0)
#define CR0_MP                  (1ul << 1)
#define CR0_EM                  (1ul << 2)
#define CR0_TS                  (1ul << 3)
#define CR0_ET                  (1ul << 4)
#define CR0_NE                  (1ul << 5)
#define CR0_WP                  (1ul << 16)
#define CR0_AM                  (1ul << 18)
#define CR0_NW                  (1ul << 29)
#define CR0_CD                  (1ul << 30)
#define CR0_PG                  (1ul << 31)

#define CR4_PAE                 (1ul << 5)
#define CR4_PGE                 (1ul << 7)
#define CR4_OSFXSR              (1ul << 9)
#define CR4_OSXMMEXCPT          (1ul << 10)
#define CR4_VMXE                (1ul << 13)

#define RFLAGS_TF               (1ul << 8)
#define RFLAGS_IF               (1ul << 9)
#define DR6_BS                  (1ul << 14)     /* single step */

#define CPUID_1_ECX_VMX         (1u << 5)
#define CPUID_1_ECX_X2APIC      (1u << 21)
#define CPUID_1_ECX_TSC_DEADLINE (1u << 24)
#define CPUID_1_ECX_HYPERVISOR  (1u << 31)
#define CPUID_1_EDX_APIC        (1u << 9)
#define CPUID_8000_0001_ECX_SVM (1u << 2)
#define CPUID_8000_0001_EDX_LM  (1u << 29)

/* Exception vectors. */
#define X86_DE 0
#define X86_DB 1
#define X86_NMI 2
#define X86_BP 3
#define X86_UD 6
#define X86_DF 8
#define X86_TS 10
#define X86_NP 11
#define X86_SS 12
#define X86_GP 13
#define X86_PF 14
#define X86_MC 18

struct cpuid_regs { uint32_t eax, ebx, ecx, edx; };

static inline void cpuid_count(uint32_t leaf, uint32_t sub, struct cpuid_regs *r)
{
    __asm__ volatile("cpuid" : "=a"(r->eax), "=b"(r->ebx), "=c"(r->ecx), "=d"(r->edx)
                     : "a"(leaf), "c"(sub));
}

static inline uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return ((uint64_t)hi << 32) | lo;
}

static inline void wrmsr(uint32_t msr, uint64_t v)
{
    __asm__ volatile("wrmsr" :: "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
}

/* rdmsr/wrmsr that return false instead of faulting (for the shell); see kernel/trap.c. */
bool rdmsr_safe(uint32_t msr, uint64_t *v);
bool wrmsr_safe(uint32_t msr, uint64_t v);

static inline uint8_t inb(uint16_t p) { uint8_t v; __asm__ volatile("inb %1,%0" : "=a"(v) : "Nd"(p)); return v; }
static inline uint16_t inw(uint16_t p) { uint16_t v; __asm__ volatile("inw %1,%0" : "=a"(v) : "Nd"(p)); return v; }
static inline uint32_t inl(uint16_t p) { uint32_t v; __asm__ volatile("inl %1,%0" : "=a"(v) : "Nd"(p)); return v; }
static inline void outb(uint16_t p, uint8_t v) { __asm__ volatile("outb %0,%1" :: "a"(v), "Nd"(p)); }
static inline void outw(uint16_t p, uint16_t v) { __asm__ volatile("outw %0,%1" :: "a"(v), "Nd"(p)); }
static inline void outl(uint16_t p, uint32_t v) { __asm__ volatile("outl %0,%1" :: "a"(v), "Nd"(p)); }

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

#define DEFINE_CR(n) \
    static inline uint64_t read_cr##n(void) { uint64_t v; __asm__ volatile("mov %%cr" #n ",%0" : "=r"(v)); return v; } \
    static inline void write_cr##n(uint64_t v) { __asm__ volatile("mov %0,%%cr" #n :: "r"(v) : "memory"); }
DEFINE_CR(0)
DEFINE_CR(2)
DEFINE_CR(3)
DEFINE_CR(4)
#undef DEFINE_CR

#define DEFINE_DR(n) \
    static inline uint64_t read_dr##n(void) { uint64_t v; __asm__ volatile("mov %%db" #n ",%0" : "=r"(v)); return v; } \
    static inline void write_dr##n(uint64_t v) { __asm__ volatile("mov %0,%%db" #n :: "r"(v) : "memory"); }
DEFINE_DR(0)
DEFINE_DR(1)
DEFINE_DR(2)
DEFINE_DR(3)
DEFINE_DR(6)
#undef DEFINE_DR

static inline uint64_t read_rflags(void) { uint64_t v; __asm__ volatile("pushfq; popq %0" : "=r"(v)); return v; }
static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }
static inline void irq_enable(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void irq_disable(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void halt(void) { __asm__ volatile("hlt" ::: "memory"); }
/* sti takes effect after the next instruction, so no interrupt slips in before the hlt. */
static inline void safe_halt(void) { __asm__ volatile("sti; hlt" ::: "memory"); }
static inline void barrier(void) { __asm__ volatile("" ::: "memory"); }

static inline bool cpu_has(uint32_t leaf, int reg, uint32_t bit)
{
    struct cpuid_regs r;
    cpuid_count(leaf, 0, &r);
    uint32_t v = reg == 0 ? r.eax : reg == 1 ? r.ebx : reg == 2 ? r.ecx : r.edx;
    return v & bit;
}

static inline uint64_t irq_save(void) { uint64_t f = read_rflags(); irq_disable(); return f; }
static inline void irq_restore(uint64_t f) { if (f & RFLAGS_IF) irq_enable(); }

#endif
