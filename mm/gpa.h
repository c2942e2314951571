/* A VM's guest-physical address space: a short list of regions, each with a state (RAM backed
 * by host frames, lazy RAM to be backed on first touch, or an emulated MMIO device), and the
 * EPT/NPT tables that implement it, built with mm/pt.c in the vendor's entry format. */
#ifndef MM_GPA_H
#define MM_GPA_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include "mm/pt.h"
#include "kernel/spinlock.h"

enum gpa_kind { GPA_NONE, GPA_RAM, GPA_LAZY, GPA_MMIO };

struct vcpu;
struct mmio_ops {
    /* size 1, 2, 4 or 8; return false to stop the VM (bad access) */
    bool (*read)(struct vcpu *v, void *dev, uint64_t off, unsigned size, uint64_t *val);
    bool (*write)(struct vcpu *v, void *dev, uint64_t off, unsigned size, uint64_t val);
};

struct gpa_region {
    uint64_t base, size;
    enum gpa_kind kind;
    uint64_t hpa;                   /* GPA_RAM: host-physical base */
    const struct mmio_ops *ops;     /* GPA_MMIO */
    void *dev;
};

#define GPA_MAX_REGIONS 16

struct gpa_space {
    struct pt_ctx pt;               /* pt.root is the EPT PML4 / NPT nCR3 */
    unsigned owner;                 /* pmm owner for the tables */
    unsigned n;
    struct gpa_region r[GPA_MAX_REGIONS];
    /* Lazy RAM (kernel/virt/apf.c): called before Keel touches [gpa, gpa+len) of the RAM region
     * at 0, so the pages are there. */
    void (*touch)(void *ctx, uint64_t gpa, uint64_t len);
    void *touch_ctx;
};

int gpa_init(struct gpa_space *s, unsigned owner);
/* RAM at [base, base+size) backed by host [hpa, hpa+size), mapped RWX write-back. */
int gpa_add_ram(struct gpa_space *s, uint64_t base, uint64_t size, uint64_t hpa);
/* An MMIO device region: left unmapped so every access exits to ops. */
int gpa_add_mmio(struct gpa_space *s, uint64_t base, uint64_t size,
                 const struct mmio_ops *ops, void *dev);
const struct gpa_region *gpa_find(const struct gpa_space *s, uint64_t gpa);
/* Host pointer for [gpa, gpa+len) when it lies inside one RAM region, else NULL. */
void *gpa_host_ptr(const struct gpa_space *s, uint64_t gpa, uint64_t len);
/* Copies to/from guest RAM; false if any byte is outside RAM. */
bool gpa_write(const struct gpa_space *s, uint64_t gpa, const void *src, size_t len);
bool gpa_read(const struct gpa_space *s, uint64_t gpa, void *dst, size_t len);
/* Walks EPT/NPT for the shell: true with host address, leaf entry and level when mapped. */
bool gpa_walk(const struct gpa_space *s, uint64_t gpa, uint64_t *hpa, uint64_t *leaf, int *level);
void gpa_destroy(struct gpa_space *s);     /* frees tables and RAM */

#endif
