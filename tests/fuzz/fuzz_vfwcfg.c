/* libFuzzer target for fw_cfg (kernel/dev/vfwcfg.c): files added with fuzzed names and sizes,
 * then port accesses of every size. Invariants: every data byte equals what an independent
 * reference built from the same inputs says (signature, ID, numbers, directory, file bytes,
 * zeros elsewhere), the directory count matches the accepted files, and invalid port
 * accesses read all-ones. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/dev/vfwcfg.h"

#define ASSERT(c) do { if (!(c)) { fprintf(stderr, "invariant failed: %s\n", #c); abort(); } } while (0)

static uint8_t pool[256];

struct ref_file { char name[64]; uint32_t size; const uint8_t *data; };

static uint8_t ref_byte(uint16_t key, uint32_t off, uint16_t ncpus, uint64_t ram,
                        const struct ref_file *files, unsigned n)
{
    key &= 0xBFFF;
    uint8_t item[8] = { 0 };
    switch (key) {
    case 0: return off < 4 ? (uint8_t)"QEMU"[off] : 0;
    case 1: return off == 0 ? 1 : 0;
    case 3: memcpy(item, &ram, 8); return off < 8 ? item[off] : 0;
    case 5: memcpy(item, &ncpus, 2); return off < 2 ? item[off] : 0;
    case 0x19: {
        uint8_t dir[4 + 64 * VFWCFG_MAX_FILES] = { 0 };
        dir[3] = (uint8_t)n;
        for (unsigned i = 0; i < n; i++) {
            uint8_t *e = dir + 4 + 64 * i;
            e[0] = (uint8_t)(files[i].size >> 24); e[1] = (uint8_t)(files[i].size >> 16);
            e[2] = (uint8_t)(files[i].size >> 8); e[3] = (uint8_t)files[i].size;
            e[5] = (uint8_t)(0x20 + i);
            strcpy((char *)e + 8, files[i].name);
        }
        return off < sizeof dir ? dir[off] : 0;
    }
    default:
        if (key >= 0x20 && key < 0x20 + n)
            return off < files[key - 0x20].size ? files[key - 0x20].data[off] : 0;
        return 0;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vfwcfg f;
    struct ref_file files[VFWCFG_MAX_FILES];
    unsigned n = 0;
    for (unsigned i = 0; i < sizeof pool; i++)
        pool[i] = (uint8_t)(i * 7 + 3);
    if (size < 11)
        return 0;
    uint16_t ncpus = (uint16_t)(data[0] | data[1] << 8);
    uint64_t ram;
    memcpy(&ram, data + 2, 8);
    unsigned nadd = data[10] & 15;
    data += 11, size -= 11;
    vfwcfg_reset(&f, ncpus, ram);
    /* Files: a name length, name bytes, a size byte. */
    for (unsigned k = 0; k < nadd && size >= 2; k++) {
        unsigned len = data[0] % 64;
        data++, size--;
        if (len + 1 > size)
            break;
        char name[64] = { 0 };
        memcpy(name, data, len);
        uint32_t fsz = data[len];
        data += len + 1, size -= len + 1;
        size_t nlen = strlen(name);
        bool dup = false;
        for (unsigned i = 0; i < n; i++)
            dup |= strcmp(files[i].name, name) == 0;
        bool ok = nlen > 0 && nlen < VFWCFG_NAME_LEN && n < VFWCFG_MAX_FILES && !dup;
        int s = vfwcfg_add_file(&f, name, pool, fsz);
        ASSERT(ok ? s == 0x20 + (int)n : s == -1);
        if (ok) {
            strcpy(files[n].name, name);
            files[n].size = fsz;
            files[n].data = pool;
            n++;
        }
    }
    uint16_t key = 0;
    uint32_t off = 0;
    while (size) {
        uint8_t op = *data++;
        size--;
        unsigned port = 0x510 + (op & 1), sz = 1u << (op >> 1 & 3);
        if (op & 0x80) {
            uint16_t v = size >= 2 ? (uint16_t)(data[0] | data[1] << 8) : op;
            if (size >= 2)
                data += 2, size -= 2;
            if (op & 0x40)
                v = (uint16_t)((v & 0xC000) | (v % 0x28));     /* mostly real keys */
            vfwcfg_write(&f, (uint16_t)port, sz, v);
            if (port == 0x510 && sz == 2)
                key = v, off = 0;
        } else {
            uint32_t r = vfwcfg_read(&f, (uint16_t)port, sz);
            if (port == 0x511 && sz == 1) {
                ASSERT(r == ref_byte(key, off, ncpus, ram, files, n));
                off++;
            } else if (port == 0x510 && sz == 2) {
                ASSERT(r == (uint32_t)(ref_byte(key, off, ncpus, ram, files, n) << 8 |
                                       ref_byte(key, off + 1, ncpus, ram, files, n)));
                off += 2;
            } else {
                ASSERT(r == (sz >= 4 ? 0xFFFFFFFFu : (1u << 8 * sz) - 1));
            }
        }
    }
    return 0;
}
