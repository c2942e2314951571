#include "drivers/timer.h"
#include "kernel/x86.h"
#include "kernel/log.h"

#define PIT_HZ              1193182
#define PIT_CH2             0x42
#define PIT_CMD             0x43
#define PIT_CMD_CH2_MODE0   0xB0    /* channel 2, lo/hi byte, mode 0, binary */
#define PORT_B              0x61
#define PORT_B_GATE2        0x01
#define PORT_B_SPEAKER      0x02
#define PORT_B_OUT2         0x20
#define PM_TIMER_HZ         3579545
#define CALIBRATE_MS        10
#define SPIN_LIMIT          50000000u

uint64_t tsc_hz;

static uint64_t pit_measure(void)
{
    uint16_t count = PIT_HZ * CALIBRATE_MS / 1000;
    outb(PORT_B, (inb(PORT_B) & ~PORT_B_SPEAKER) | PORT_B_GATE2);
    outb(PIT_CMD, PIT_CMD_CH2_MODE0);
    outb(PIT_CH2, count & 0xFF);
    outb(PIT_CH2, count >> 8);
    uint64_t t0 = rdtsc();
    for (unsigned spin = 0; !(inb(PORT_B) & PORT_B_OUT2); spin++)
        if (spin > SPIN_LIMIT)
            return 0;
    return (rdtsc() - t0) * (1000 / CALIBRATE_MS);
}

static uint64_t pm_measure(uint32_t port)
{
    uint32_t want = PM_TIMER_HZ / 1000 * CALIBRATE_MS;
    uint32_t start = inl((uint16_t)port) & 0xFFFFFF;
    uint64_t t0 = rdtsc();
    for (unsigned spin = 0; ((inl((uint16_t)port) - start) & 0xFFFFFF) < want; spin++)
        if (spin > SPIN_LIMIT)
            return 0;
    return (rdtsc() - t0) * (1000 / CALIBRATE_MS);
}

void tsc_calibrate(uint32_t pm_tmr_port, bool prefer_pm)
{
    const char *src = "ACPI PM timer";
    tsc_hz = 0;
    if (prefer_pm && pm_tmr_port)
        tsc_hz = pm_measure(pm_tmr_port);
    if (!tsc_hz) {
        src = "PIT";
        tsc_hz = pit_measure();
    }
    if (!tsc_hz && pm_tmr_port && !prefer_pm) {
        src = "ACPI PM timer";
        tsc_hz = pm_measure(pm_tmr_port);
    }
    if (!tsc_hz) {
        tsc_hz = 1000000000ull;
        pr_warn("keel: no PIT or PM timer answered; assuming a 1 GHz TSC\n");
        return;
    }
    pr_info("keel: TSC %lu kHz (calibrated against the %s)\n", tsc_hz / 1000, src);
}

void udelay(uint64_t us)
{
    uint64_t end = tsc_deadline(us);
    while (!tsc_passed(end))
        cpu_relax();
}

uint64_t tsc_to_us(uint64_t ticks)
{
    return tsc_hz ? ticks / (tsc_hz / 1000000 ? tsc_hz / 1000000 : 1) : 0;
}
