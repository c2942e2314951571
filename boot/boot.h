/* Constants shared by the boot assembly and C (selectors, control-register bits, trampoline
 * layout). Kept free of C so .S files can include it. */
#ifndef BOOT_BOOT_H
#define BOOT_BOOT_H

#define BOOT_CS64       0x08
#define BOOT_DS         0x10
#define BOOT_CS32       0x18

#define PTE_P           0x1
#define PTE_W           0x2
#define PTE_PS          0x80

#ifdef __ASSEMBLY__     /* C code has these in kernel/x86.h */
#define CR0_PE          (1 << 0)
#define CR0_WP          (1 << 16)
#define CR0_PG          (1 << 31)
#define CR4_PAE         (1 << 5)
#define CR4_PGE         (1 << 7)
#define CR4_OSFXSR      (1 << 9)    /* FXSAVE/FXRSTOR switch XMM and MXCSR (kernel/virt/vcpu_state.c) */
#define MSR_EFER        0xC0000080
#define EFER_LME        (1 << 8)
#define EFER_NXE        (1 << 11)
#endif

/* The AP trampoline is copied to this page (below 1 MiB, SIPI vector = page number). Its
 * parameter block sits at TRAMP_PARAMS inside the page, filled by kernel/smp.c. */
#define TRAMP_BASE      0x8000
#define TRAMP_PARAMS    0xF00
#define TP_CR3          0x00    /* boot page tables (below 4 GiB) */
#define TP_STACK        0x08    /* top of the AP's stack */
#define TP_ENTRY        0x10    /* 64-bit C entry: void ap_main(unsigned cpu) */
#define TP_CPU          0x18    /* logical CPU index */
#define TP_GDT          0x20    /* 10-byte GDT pointer (boot_gdt) */

#endif
