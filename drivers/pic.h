/* The legacy 8259 PICs: masked, since Keel uses the local APIC. The BIOS leaves IRQ0 unmasked
 * and its vector would collide with #DF. */
#ifndef DRIVERS_PIC_H
#define DRIVERS_PIC_H

#include "kernel/x86.h"

#define PIC1_DATA 0x21
#define PIC2_DATA 0xA1

static inline void pic_mask_all(void)
{
    outb(PIC1_DATA, 0xFF);
    outb(PIC2_DATA, 0xFF);
}

#endif
