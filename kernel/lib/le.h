/* Little-endian reads at any byte offset, for parsers of untrusted images and firmware tables
 * (memcpy keeps them free of alignment and aliasing assumptions). */
#ifndef KERNEL_LIB_LE_H
#define KERNEL_LIB_LE_H

#include <stddef.h>
#include <stdint.h>
#include "kernel/lib/string.h"

static inline uint8_t rd8(const uint8_t *p, size_t off) { return p[off]; }

static inline uint16_t rd16(const uint8_t *p, size_t off)
{
    uint16_t v;
    memcpy(&v, p + off, sizeof v);
    return v;
}

static inline uint32_t rd32(const uint8_t *p, size_t off)
{
    uint32_t v;
    memcpy(&v, p + off, sizeof v);
    return v;
}

static inline uint64_t rd64(const uint8_t *p, size_t off)
{
    uint64_t v;
    memcpy(&v, p + off, sizeof v);
    return v;
}

#endif
