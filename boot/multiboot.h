/* Multiboot v1 and v2 constants (multiboot specification 0.6.96 and 2.0). */
#ifndef BOOT_MULTIBOOT_H
#define BOOT_MULTIBOOT_H

#define MB1_HEADER_MAGIC        0x1BADB002
#define MB1_BOOTLOADER_MAGIC    0x2BADB002
#define MB1_FLAG_PAGE_ALIGN     (1 << 0)
#define MB1_FLAG_MEMINFO        (1 << 1)
#define MB1_FLAG_AOUT_KLUDGE    (1 << 16)

#define MB1_INFO_MEM            (1 << 0)
#define MB1_INFO_CMDLINE        (1 << 2)
#define MB1_INFO_MODS           (1 << 3)
#define MB1_INFO_MMAP           (1 << 6)

#define MB2_HEADER_MAGIC        0xE85250D6
#define MB2_BOOTLOADER_MAGIC    0x36D76289
#define MB2_ARCH_I386           0

#define MB2_TAG_END             0
#define MB2_TAG_CMDLINE         1
#define MB2_TAG_LOADER_NAME     2
#define MB2_TAG_MODULE          3
#define MB2_TAG_BASIC_MEMINFO   4
#define MB2_TAG_MMAP            6
#define MB2_TAG_ACPI_OLD        14
#define MB2_TAG_ACPI_NEW        15
#define MB2_TAG_EFI32           11      /* EFI system table, 32-bit firmware */
#define MB2_TAG_EFI64           12      /* EFI system table, 64-bit firmware */
#define MB2_TAG_EFI_MMAP        17
#define MB2_TAG_EFI_BS          18      /* boot services not terminated */

#endif
