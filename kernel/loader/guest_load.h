/* Loading a multiboot guest image into a VM's RAM and building what it finds in EBX. */
#ifndef KERNEL_GUEST_LOAD_H
#define KERNEL_GUEST_LOAD_H

#include <stddef.h>
#include <stdint.h>

struct vm;
struct boot_module;

/* Checks that module m is an image Keel can load into a VM with mem bytes of RAM (a multiboot
 * ELF or a Linux bzImage), before anything is allocated for it. 0, or -1 with a reason. */
int guest_load_check(const struct boot_module *m, uint64_t mem, char *err, size_t errlen);

/* A Linux bzImage instead gets its zero page, command line and initrd (the VM's modules).
 * Otherwise: copies the image's segments, the VM's modules and the multiboot info into guest RAM and sets
 * vCPU 0's entry state. Returns 0, or -1 with a one-line reason in err. */
int guest_load(struct vm *vm, char *err, size_t errlen);

#endif
