/* The ACPI PM register block of a Keel VM (ACPI 6.5 ch. 4.8, the fixed hardware registers):
 * PM1a_EVT (PM1_STS at +0, PM1_EN at +2), PM1a_CNT (+4) and the 24-bit PM_TMR (+8) counting at
 * 3.579545 MHz. The FADT puts the block at the port the glue chooses (0x600) with
 * PM1_EVT_LEN 4, PM1_CNT_LEN 2, PM_TMR_LEN 4 and TMR_VAL_EXT clear.
 *
 * Pure and tickless: PM_TMR and TMR_STS are computed from `now` (a TSC value; time that seems
 * to run backwards is taken as not moving). The SCI (IRQ 9, level) is asserted while
 * (PM1_STS & PM1_EN) != 0 and SCI_EN is set; the caller arms a timer for vpm_next_event() and
 * calls vpm_tick() when it expires.
 *
 * Modelling choices:
 * - The FADT has SMI_CMD = 0 (no legacy/ACPI mode switch), so the VM is always in ACPI mode:
 *   SCI_EN reads 1 from reset (ACPI: "hardware sets SCI_EN"). It stays writable.
 * - Writing SLP_EN with SLP_TYP = VPM_SLP_TYP_S5 asks for power-off (out->poweroff); the DSDT's
 *   \_S5 package must give that same value (0). Other sleep types are not supported: SLP_EN
 *   with them does nothing. SLP_EN reads 0.
 * - Any access size at any offset works byte by byte (PM1_STS bits are write-1-to-clear);
 *   offsets outside the block read 0xFF and ignore writes. */
#ifndef KERNEL_DEV_VPMTIMER_H
#define KERNEL_DEV_VPMTIMER_H

#include <stdint.h>
#include <stdbool.h>

#define PM_TMR_HZ           3579545u
#define PM_TMR_BITS         24
#define VPM_BLOCK_LEN       12u         /* EVT 0-3, CNT 4-5, (6-7 unused), TMR 8-11 */

#define VPM_PM1_STS         0x0
#define VPM_PM1_EN          0x2
#define VPM_PM1_CNT         0x4
#define VPM_PM_TMR          0x8

/* PM1_STS / PM1_EN bits. */
#define PM1_TMR             (1u << 0)
#define PM1_GBL             (1u << 5)
#define PM1_PWRBTN          (1u << 8)
#define PM1_SLPBTN          (1u << 9)
#define PM1_RTC             (1u << 10)
#define PM1_STS_WAK         (1u << 15)
#define PM1_EVT_BITS        (PM1_TMR | PM1_GBL | PM1_PWRBTN | PM1_SLPBTN | PM1_RTC)

/* PM1_CNT bits. */
#define PM1_CNT_SCI_EN      (1u << 0)
#define PM1_CNT_BM_RLD      (1u << 1)
#define PM1_CNT_GBL_RLS     (1u << 2)
#define PM1_CNT_SLP_TYP_SHIFT 10
#define PM1_CNT_SLP_TYP_MASK  (7u << 10)
#define PM1_CNT_SLP_EN      (1u << 13)
#define VPM_SLP_TYP_S5      0u          /* the DSDT's \_S5 package must say the same */

struct vpm_out {
    bool sci;               /* SCI level after the access */
    bool poweroff;          /* the guest entered S5 */
};

struct vpm {
    uint64_t tsc_hz;        /* clamped to [PM_TMR_HZ, 2^40]: tick counts cannot overflow */
    uint64_t epoch;         /* TSC of PM timer tick 0 */
    uint64_t last;          /* latest `now` seen */
    uint64_t wraps_seen;    /* bit-23 toggles accounted in TMR_STS */
    uint16_t sts, en, cnt;
};

void vpm_reset(struct vpm *pm, uint64_t tsc_hz, uint64_t now);
/* off: offset in the block (0 to VPM_BLOCK_LEN - 1); size 1, 2 or 4. */
uint32_t vpm_read(struct vpm *pm, unsigned off, unsigned size, uint64_t now);
void vpm_write(struct vpm *pm, unsigned off, unsigned size, uint32_t val, uint64_t now,
               struct vpm_out *out);
/* Accounts TMR_STS up to now; returns the SCI level. */
bool vpm_tick(struct vpm *pm, uint64_t now);
/* TSC of the next TMR_STS event if it would raise the SCI, else UINT64_MAX. */
uint64_t vpm_next_event(struct vpm *pm, uint64_t now);
bool vpm_sci(const struct vpm *pm);
/* The operator pressed the power button: PWRBTN_STS. */
void vpm_power_button(struct vpm *pm, uint64_t now, struct vpm_out *out);
/* PM timer ticks since reset (the full count; PM_TMR is its low 24 bits). */
uint64_t vpm_ticks(struct vpm *pm, uint64_t now);

#endif
