/* Loading a multiboot guest image into a VM's RAM and building what it finds in EBX. */
#ifndef KERNEL_GUEST_LOAD_H
#define KERNEL_GUEST_LOAD_H

#include <stddef.h>

struct vm;

/* Copies the image's segments, the VM's modules and the multiboot info into guest RAM and sets
 * vCPU 0's entry state. Returns 0, or -1 with a one-line reason in err. */
int guest_load(struct vm *vm, char *err, size_t errlen);

#endif
