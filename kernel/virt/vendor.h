/* The one interface between common code and vmx/ or svm/. Common code never sees a VMCS or a
 * VMCB: it calls these operations on `vendor`, chosen at boot from CPUID. */
#ifndef KERNEL_VENDOR_H
#define KERNEL_VENDOR_H

#include <stdint.h>
#include <stdbool.h>
#include "kernel/virt/vcpu.h"
#include "mm/pt.h"

struct vm;

/* Guest-physical mapping rights, common to EPT and NPT. */
#define GPA_R   (1u << 0)
#define GPA_W   (1u << 1)
#define GPA_X   (1u << 2)
#define GPA_RWX (GPA_R | GPA_W | GPA_X)
#define GPA_IN_DELIVERY (1u << 3)  /* fault info only: the exit interrupted an event's delivery */

enum gpa_mem_type { GPA_MT_WB, GPA_MT_UC };

struct vcpu_vendor {
    const char *name;                       /* "vmx" or "svm" */
    bool (*probe)(const char **why);        /* does this CPU support us? why not */
    int  (*cpu_enable)(void);               /* this pCPU: VMXON / EFER.SVME + host save area */
    int  (*vcpu_init)(struct vcpu *v);      /* VMCS/VMCB for v, entry state from v->entry_* */
    void (*vcpu_run)(struct vcpu *v);       /* the exit loop; returns when v is stopped */
    uint64_t (*get_reg)(struct vcpu *v, enum vreg r);  /* only on v's own CPU or while paused */
    void (*set_reg)(struct vcpu *v, enum vreg r, uint64_t val);
    void (*vcpu_free)(struct vcpu *v);
    /* On v's own CPU, inside vcpu_run: */
    void (*get_state)(struct vcpu *v, struct vcpu_snapshot *s);    /* for instruction emulation */
    void (*reset)(struct vcpu *v, uint8_t sipi_vector);         /* INIT state, then the SIPI's
                                                                 * real-mode start at vector<<12 */
    void (*set_debug)(struct vcpu *v, unsigned flags);  /* VCPU_DBG_*: intercepts, stepping */

    /* Guest-physical tables (EPT/NPT) built by mm/pt.c with this entry format. */
    const struct pt_format *gpt_format;
    uint64_t (*gpt_leaf)(unsigned rights, enum gpa_mem_type mt);   /* leaf flags */
    unsigned (*gpt_rights)(uint64_t leaf);                         /* inverse, for `gpa` */
    void (*gpt_flush)(struct vm *vm);       /* mappings changed: flush on every CPU of vm */

    /* Exit counters and traces: vendor exit code <-> compact index, and names. */
    unsigned (*exit_index)(uint32_t code);
    const char *(*exit_name)(uint32_t code);
    uint32_t (*exit_code)(unsigned index);  /* inverse of exit_index, for listing */
};

extern const struct vcpu_vendor *vendor;
extern const struct vcpu_vendor vmx_vendor, svm_vendor;

/* Picks vmx or svm for this machine; false (and why) when neither works. */
bool vendor_select(const char **why);

#endif
