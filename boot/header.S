/* Loader headers. The multiboot1 header carries the a.out kludge so that QEMU's -kernel loader,
 * which refuses ELF64, loads the image by addresses instead; GRUB uses the multiboot2 header. */
#include "boot/multiboot.h"

    .section .multiboot, "a"
    .align 4
mb1_header:
    .long MB1_HEADER_MAGIC
    .long MB1_FLAG_PAGE_ALIGN | MB1_FLAG_MEMINFO | MB1_FLAG_AOUT_KLUDGE
    .long -(MB1_HEADER_MAGIC + (MB1_FLAG_PAGE_ALIGN | MB1_FLAG_MEMINFO | MB1_FLAG_AOUT_KLUDGE))
    .long mb1_header            /* header_addr */
    .long _image_start          /* load_addr */
    .long _data_end             /* load_end_addr */
    .long _image_end            /* bss_end_addr */
    .long _start32              /* entry_addr */

    .align 8
mb2_header:
    .long MB2_HEADER_MAGIC
    .long MB2_ARCH_I386
    .long mb2_header_end - mb2_header
    .long -(MB2_HEADER_MAGIC + MB2_ARCH_I386 + (mb2_header_end - mb2_header))
    /* end tag */
    .align 8
    .short 0
    .short 0
    .long 8
mb2_header_end:
