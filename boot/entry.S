/* 32-bit entry from either loader: EAX = loader magic, EBX = boot information. Builds boot page
 * tables that identity-map the low 4 GiB with 2 MiB pages, enters long mode and calls kmain.
 * mm/paging.c replaces these tables with final ones (NX, W^X) once memory is known. */
#include "boot/boot.h"

    .section .text.boot, "ax"
    .code32
    .global _start32
_start32:
    cli
    cld
    mov     %eax, %edi                  /* keep magic and info in registers kmain will get */
    mov     %ebx, %esi
    mov     $boot_stack_top, %esp

    /* No long mode: say so on COM1 and stop. */
    mov     $0x80000000, %eax
    cpuid
    cmp     $0x80000001, %eax
    jb      no_long_mode
    mov     $0x80000001, %eax
    cpuid
    bt      $29, %edx
    jnc     no_long_mode

    /* PML4[0] -> PDPT; PDPT[0..3] -> four page directories of 2 MiB pages. */
    mov     $boot_pdpt, %eax
    or      $(PTE_P | PTE_W), %eax
    mov     %eax, boot_pml4
    mov     $boot_pd, %ebx
    xor     %ecx, %ecx
1:  mov     %ebx, %eax
    or      $(PTE_P | PTE_W), %eax
    mov     %eax, boot_pdpt(, %ecx, 8)
    add     $4096, %ebx
    inc     %ecx
    cmp     $4, %ecx
    jb      1b
    xor     %ecx, %ecx                  /* 2048 entries, entry i maps i * 2 MiB */
2:  mov     %ecx, %eax
    shl     $21, %eax
    or      $(PTE_P | PTE_W | PTE_PS), %eax
    mov     %eax, boot_pd(, %ecx, 8)
    mov     %ecx, %eax
    shr     $11, %eax
    mov     %eax, boot_pd + 4(, %ecx, 8)
    inc     %ecx
    cmp     $2048, %ecx
    jb      2b

    mov     $boot_pml4, %eax
    call    enter_long_mode
    lgdt    boot_gdt_ptr
    ljmp    $BOOT_CS64, $start64

/* EAX = PML4. Enables PAE, LME, NXE and paging. Shared with the AP trampoline's 32-bit part. */
    .global enter_long_mode
enter_long_mode:
    mov     %eax, %cr3
    mov     %cr4, %eax
    or      $(CR4_PAE | CR4_PGE | CR4_OSFXSR), %eax
    mov     %eax, %cr4
    mov     $MSR_EFER, %ecx
    rdmsr
    or      $(EFER_LME | EFER_NXE), %eax
    wrmsr
    mov     %cr0, %eax
    or      $(CR0_PG | CR0_PE | CR0_WP), %eax
    mov     %eax, %cr0
    ret

no_long_mode:
    mov     $msg_no_lm, %esi
1:  lodsb
    test    %al, %al
    jz      2f
    mov     $0x3f8, %dx
    out     %al, %dx
    jmp     1b
2:  hlt
    jmp     2b

    .code64
start64:
    mov     $BOOT_DS, %ax
    mov     %ax, %ds
    mov     %ax, %es
    mov     %ax, %ss
    xor     %eax, %eax
    mov     %ax, %fs
    mov     %ax, %gs
    mov     $boot_stack_top, %rsp
    /* edi = magic, esi = info pointer (zero-extended by the 32-bit moves above) */
    mov     %edi, %edi
    mov     %esi, %esi
    call    kmain
3:  cli
    hlt
    jmp     3b

    .section .rodata
msg_no_lm:
    .asciz "Keel: this CPU has no long mode; stopping.\r\n"

    .align 16
    .global boot_gdt
boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff            /* BOOT_CS64: 64-bit code */
    .quad 0x00cf92000000ffff            /* BOOT_DS: flat data */
    .quad 0x00cf9a000000ffff            /* BOOT_CS32: 32-bit code (AP trampoline) */
boot_gdt_end:
    .global boot_gdt_ptr
boot_gdt_ptr:
    .short boot_gdt_end - boot_gdt - 1
    .long boot_gdt

    .section .bss
    .align 4096
    .global boot_pml4
boot_pml4:  .skip 4096
boot_pdpt:  .skip 4096
boot_pd:    .skip 4096 * 4
boot_stack: .skip 16384
    .global boot_stack_top
boot_stack_top:
