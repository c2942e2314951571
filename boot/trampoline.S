/* AP trampoline: copied to TRAMP_BASE and started by SIPI in real mode. Goes to protected mode
 * with the boot GDT, then to long mode with the CR3 the BSP left in the parameter block, and
 * jumps to the 64-bit C entry with that CPU's stack. Position-dependent only on TRAMP_BASE. */
#include "boot/boot.h"

#define T(x) ((x) - trampoline + TRAMP_BASE)
#define P(off) (TRAMP_BASE + TRAMP_PARAMS + (off))

    .section .trampoline, "aw"
    .code16
    .global trampoline
trampoline:
    cli
    cld
    xor     %ax, %ax
    mov     %ax, %ds
    lgdtl   P(TP_GDT)
    mov     %cr0, %eax
    or      $CR0_PE, %eax
    mov     %eax, %cr0
    ljmpl   $BOOT_CS32, $T(tramp32)

    .code32
tramp32:
    mov     $BOOT_DS, %ax
    mov     %ax, %ds
    mov     %ax, %es
    mov     %ax, %ss
    mov     $(TRAMP_BASE + 0x1000), %esp  /* APs start one at a time: a shared scratch stack */
    mov     P(TP_CR3), %eax
    mov     $enter_long_mode, %ebx      /* absolute: this code runs from a copy */
    call    *%ebx
    ljmp    $BOOT_CS64, $T(tramp64)

    .code64
tramp64:
    xor     %eax, %eax
    mov     %ax, %fs
    mov     %ax, %gs
    mov     P(TP_STACK), %rsp
    mov     P(TP_CPU), %edi
    mov     P(TP_ENTRY), %rax
    call    *%rax
1:  cli
    hlt
    jmp     1b
    .global trampoline_end
trampoline_end:
