#include "kernel/power.h"
#include "kernel/log.h"
#include "kernel/x86.h"
#include "kernel/smp.h"
#include "drivers/acpi.h"
#include "drivers/uart.h"

#define QEMU_DEBUG_EXIT_PORT    0xF4
#define BOCHS_SHUTDOWN_PORT     0x8900
#define QEMU_PIIX_PM1A_CNT      0x604
#define BOCHS_PM1A_CNT          0xB004
#define SLP_EN_S5_LEGACY        0x2000
#define KBC_CMD_PORT            0x64
#define KBC_PULSE_RESET         0xFE
#define PCI_RESET_PORT          0xCF9

bool power_off_when_done;

static void bochs_shutdown(void)
{
    for (const char *s = "Shutdown"; *s; s++)
        outb(BOCHS_SHUTDOWN_PORT, (uint8_t)*s);
}

void power_off(int status)
{
    irq_disable();
    smp_stop_others();
    kprintf("keel: power off status=%d\n", status);
    uart_flush();
    if (power_off_when_done)
        outl(QEMU_DEBUG_EXIT_PORT, (uint32_t)status);
    acpi_power_off();
    bochs_shutdown();
    outw(QEMU_PIIX_PM1A_CNT, SLP_EN_S5_LEGACY);
    outw(BOCHS_PM1A_CNT, SLP_EN_S5_LEGACY);
    kprintf("keel: power-off did not take effect; halting\n");
    for (;;)
        halt();
}

void machine_reboot(void)
{
    irq_disable();
    smp_stop_others();
    kprintf("keel: rebooting\n");
    uart_flush();
    acpi_reset();
    outb(PCI_RESET_PORT, 0x06);
    outb(KBC_CMD_PORT, KBC_PULSE_RESET);
    /* Last resort: a triple fault through an empty IDT. */
    struct { uint16_t limit; uint64_t base; } __attribute__((packed)) none = { 0, 0 };
    __asm__ volatile("lidt %0; int3" :: "m"(none));
    for (;;)
        halt();
}

void machine_stop(int status)
{
    if (power_off_when_done)
        power_off(status);
    irq_disable();
    smp_stop_others();
    kprintf("keel: stopped (status=%d); halting\n", status);
    for (;;)
        halt();
}
