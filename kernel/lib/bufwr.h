/* A bounded writer for tables Keel builds in a guest's memory (ACPI, multiboot information):
 * space is taken in order, any overflow sets `bad` and later writes do nothing, so a builder
 * checks once at the end. Pure: compiles in the kernel and on the host. */
#ifndef KERNEL_LIB_BUFWR_H
#define KERNEL_LIB_BUFWR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernel/lib/string.h"

struct bufwr {
    uint8_t *buf;
    size_t cap, pos;
    uint64_t gpa;       /* guest address of buf[0]; alignment is of guest addresses */
    bool bad;
};

/* n zeroed bytes at the next guest address aligned to `align`; their offset in buf. */
static inline size_t bw_take(struct bufwr *w, size_t n, size_t align)
{
    size_t pad = (align - (size_t)((w->gpa + w->pos) % align)) % align;

    if (w->bad || pad > w->cap - w->pos || n > w->cap - w->pos - pad) {
        w->bad = true;
        return 0;
    }
    memset(w->buf + w->pos, 0, pad + n);
    w->pos += pad + n;
    return w->pos - n;
}

static inline void bw_put(struct bufwr *w, size_t off, const void *v, size_t n)
{
    if (!w->bad)
        memcpy(w->buf + off, v, n);
}

static inline void bw_put8(struct bufwr *w, size_t off, uint8_t v) { bw_put(w, off, &v, 1); }
static inline void bw_put16(struct bufwr *w, size_t off, uint16_t v) { bw_put(w, off, &v, 2); }
static inline void bw_put32(struct bufwr *w, size_t off, uint32_t v) { bw_put(w, off, &v, 4); }
static inline void bw_put64(struct bufwr *w, size_t off, uint64_t v) { bw_put(w, off, &v, 8); }

#endif
