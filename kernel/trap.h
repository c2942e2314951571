/* Host interrupt and exception handling. */
#ifndef KERNEL_TRAP_H
#define KERNEL_TRAP_H

#include <stdint.h>
#include <stdbool.h>

/* Saved by kernel/isr.S, in push order reversed. */
struct trap_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error;
    uint64_t rip, cs, rflags, rsp, ss;
};

/* Host interrupt vectors. */
#define VEC_TIMER       0xF0    /* LAPIC timer tick */
#define VEC_SPURIOUS    0xFF

void idt_init(void);            /* builds the shared IDT once */
void idt_load(void);            /* on each CPU */
void gdt_load(unsigned cpu);    /* per-CPU GDT with its TSS */
/* #DB on its own IST stack, like NMI, #DF and #MC. Only where the host's TR is valid at every
 * instruction: not under SVM, whose world switch runs a few instructions with the guest's TR
 * loaded (kernel/isr.S drops a #DB there). */
void idt_db_ist(bool on);

#endif
