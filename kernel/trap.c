#include "kernel/trap.h"
#include "kernel/percpu.h"
#include "kernel/log.h"
#include "kernel/power.h"
#include "kernel/x86.h"
#include "kernel/lib/string.h"
#include "drivers/lapic.h"
#include "boot/boot.h"

struct idt_entry {
    uint16_t off_lo, sel;
    uint8_t ist, type;
    uint16_t off_mid;
    uint32_t off_hi, zero;
} __attribute__((packed));

struct desc_ptr { uint16_t limit; uint64_t base; } __attribute__((packed));

#define IDT_INTERRUPT_GATE  0x8E
#define IST_DF              1
#define IST_NMI             2
#define IST_MC              3
#define IST_DB              4
#define GDT_TSS             5   /* index of the TSS descriptor (two slots) */

extern const uint64_t isr_table[32];
extern const char isr_stubs_32[];
#define ISR_STUB_SIZE 16
static struct idt_entry idt[256] __attribute__((aligned(16)));

/* .extable entries: a faulting instruction address and where to resume. */
struct extable_entry { uint64_t insn, fixup; };
extern const struct extable_entry __extable_start[], __extable_end[];

static const char *const exc_names[32] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS", "#NP", "#SS",
    "#GP", "#PF", "res", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
};

void idt_init(void)
{
    for (int v = 0; v < 256; v++) {
        uint64_t a = v < 32 ? isr_table[v] : (uint64_t)isr_stubs_32 + (v - 32) * ISR_STUB_SIZE;
        idt[v] = (struct idt_entry){
            .off_lo = (uint16_t)a, .sel = BOOT_CS64, .type = IDT_INTERRUPT_GATE,
            .off_mid = (uint16_t)(a >> 16), .off_hi = (uint32_t)(a >> 32),
        };
    }
    idt[X86_DF].ist = IST_DF;
    idt[X86_NMI].ist = IST_NMI;
    idt[X86_MC].ist = IST_MC;
}

void idt_db_ist(bool on)
{
    idt[X86_DB].ist = on ? IST_DB : 0;
}

void idt_load(void)
{
    struct desc_ptr p = { sizeof idt - 1, (uint64_t)idt };
    __asm__ volatile("lidt %0" :: "m"(p));
}

/* Per-CPU GDT: the boot selectors plus this CPU's TSS (a TSS descriptor is per CPU because
 * loading it marks it busy). VMX also needs a non-zero host TR. */
void gdt_load(unsigned cpu)
{
    struct percpu *pc = percpu_of(cpu);
    extern const uint64_t boot_gdt[4];
    memcpy(pc->gdt, boot_gdt, sizeof boot_gdt);
    uint64_t base = (uint64_t)&pc->tss, limit = sizeof pc->tss - 1;
    pc->gdt[GDT_TSS] = (limit & 0xFFFF) | ((base & 0xFFFFFF) << 16) | (0x89ull << 40) |
                       (((limit >> 16) & 0xF) << 48) | (((base >> 24) & 0xFF) << 56);
    pc->gdt[GDT_TSS + 1] = base >> 32;
    pc->tss.iomap_base = sizeof pc->tss;
    struct desc_ptr p = { sizeof pc->gdt - 1, (uint64_t)pc->gdt };
    __asm__ volatile("lgdt %0" :: "m"(p));
    __asm__ volatile("ltr %w0" :: "r"(GDT_TSS * 8));
}

static bool fixup(struct trap_frame *f)
{
    for (const struct extable_entry *e = __extable_start; e < __extable_end; e++) {
        if (e->insn == f->rip) {
            f->rip = e->fixup;
            f->rdi = 1;         /* the *_safe wrappers read their fault flag from RDI */
            return true;
        }
    }
    return false;
}

static void dump_and_stop(struct trap_frame *f)
{
    unsigned cpu = cpu_id();
    kprintf("EXCEPTION %lu (%s) err=%#lx rip=%#lx cr2=%#lx on cpu %u\n", f->vector,
            f->vector < 32 && exc_names[f->vector] ? exc_names[f->vector] : "?", f->error,
            f->rip, read_cr2(), cpu);
    kprintf("  rax=%016lx rbx=%016lx rcx=%016lx rdx=%016lx\n", f->rax, f->rbx, f->rcx, f->rdx);
    kprintf("  rsi=%016lx rdi=%016lx rbp=%016lx rsp=%016lx\n", f->rsi, f->rdi, f->rbp, f->rsp);
    kprintf("  r8 =%016lx r9 =%016lx r10=%016lx r11=%016lx\n", f->r8, f->r9, f->r10, f->r11);
    kprintf("  r12=%016lx r13=%016lx r14=%016lx r15=%016lx\n", f->r12, f->r13, f->r14, f->r15);
    kprintf("  cs=%lx ss=%lx rflags=%lx cr0=%lx cr3=%lx cr4=%lx\n", f->cs, f->ss, f->rflags,
            read_cr0(), read_cr3(), read_cr4());
    kprintf("cpu %u stopped\n", cpu);
    percpu_of(cpu)->state = CPU_STOPPED;
    /* A test run must end rather than wait for its timeout. */
    if (power_off_when_done)
        machine_stop(1);
    for (;;)
        halt();
}

void trap_dispatch(struct trap_frame *f)
{
    switch (f->vector) {
    case VEC_TIMER:
        lapic_timer_interrupt();
        lapic_eoi();
        return;
    case VEC_SPURIOUS:
    case X86_NMI:           /* a kick (kernel/smp.c cpu_kick): the interrupted code looks at its work */
        return;
    }
    if (f->vector < 32 && fixup(f))
        return;
    if (f->vector >= 32) {
        /* A stray vector (e.g. a legacy PIC line): acknowledge and carry on. */
        lapic_eoi();
        return;
    }
    dump_and_stop(f);
}

bool rdmsr_safe(uint32_t msr, uint64_t *v)
{
    uint32_t lo = 0, hi = 0;
    uint64_t fault;
    __asm__ volatile("xor %%edi, %%edi\n"
                     "1: rdmsr\n2:\n"
                     ".pushsection .extable, \"a\"\n.quad 1b, 2b\n.popsection"
                     : "=a"(lo), "=d"(hi), "=&D"(fault) : "c"(msr));
    *v = ((uint64_t)hi << 32) | lo;
    return !fault;
}

bool wrmsr_safe(uint32_t msr, uint64_t v)
{
    uint64_t fault;
    __asm__ volatile("xor %%edi, %%edi\n"
                     "1: wrmsr\n2:\n"
                     ".pushsection .extable, \"a\"\n.quad 1b, 2b\n.popsection"
                     : "=&D"(fault) : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
    return !fault;
}
