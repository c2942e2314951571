#include "kernel/dev/vfwcfg.h"

#define SIG_LEN     4
#define DIR_HDR     4
#define ENT_SIZE    0       /* offsets in a directory entry */
#define ENT_SELECT  4
#define ENT_NAME    8

void vfwcfg_reset(struct vfwcfg *f, uint16_t ncpus, uint64_t ram_size)
{
    f->sel = FW_CFG_SIGNATURE;
    f->off = 0;
    f->ncpus = ncpus;
    f->ram_size = ram_size;
    f->nfiles = 0;
}

static bool same_name(const char *a, const char *b)
{
    for (unsigned i = 0; i < VFWCFG_NAME_LEN; i++) {
        if (a[i] != b[i])
            return false;
        if (!a[i])
            return true;
    }
    return true;
}

int vfwcfg_add_file(struct vfwcfg *f, const char *name, const void *data, uint32_t size)
{
    unsigned len = 0;
    while (len < VFWCFG_NAME_LEN && name[len])
        len++;
    if (f->nfiles >= VFWCFG_MAX_FILES || len == 0 || len >= VFWCFG_NAME_LEN)
        return -1;
    for (unsigned i = 0; i < f->nfiles; i++)
        if (same_name(f->files[i].name, name))
            return -1;
    struct vfwcfg_file *e = &f->files[f->nfiles];
    for (unsigned i = 0; i < VFWCFG_NAME_LEN; i++)
        e->name[i] = i < len ? name[i] : 0;
    e->data = data;
    e->size = data ? size : 0;
    return FW_CFG_FILE_FIRST + (int)f->nfiles++;
}

/* Byte `off` of `v` stored little- or big-endian in `n` bytes. */
static uint8_t le_byte(uint64_t v, uint32_t off, unsigned n)
{
    return off < n ? (uint8_t)(v >> 8 * off) : 0;
}

static uint8_t be_byte(uint64_t v, uint32_t off, unsigned n)
{
    return off < n ? (uint8_t)(v >> 8 * (n - 1 - off)) : 0;
}

static uint8_t dir_byte(const struct vfwcfg *f, uint32_t off)
{
    if (off < DIR_HDR)
        return be_byte(f->nfiles, off, DIR_HDR);
    uint32_t i = (off - DIR_HDR) / VFWCFG_DIR_ENTRY, o = (off - DIR_HDR) % VFWCFG_DIR_ENTRY;
    if (i >= f->nfiles)
        return 0;
    const struct vfwcfg_file *e = &f->files[i];
    if (o < ENT_SELECT)
        return be_byte(e->size, o - ENT_SIZE, 4);
    if (o < ENT_NAME)
        return be_byte(FW_CFG_FILE_FIRST + i, o - ENT_SELECT, 2);   /* then 2 reserved bytes */
    return (uint8_t)e->name[o - ENT_NAME];
}

uint8_t vfwcfg_item_byte(const struct vfwcfg *f, uint16_t key, uint32_t off)
{
    key &= (uint16_t)~FW_CFG_WRITE_CHANNEL;
    switch (key) {
    case FW_CFG_SIGNATURE:
        return off < SIG_LEN ? (uint8_t)"QEMU"[off] : 0;
    case FW_CFG_ID:
        return le_byte(FW_CFG_ID_TRADITIONAL, off, 4);
    case FW_CFG_RAM_SIZE:
        return le_byte(f->ram_size, off, 8);
    case FW_CFG_NB_CPUS:
        return le_byte(f->ncpus, off, 2);
    case FW_CFG_FILE_DIR:
        return dir_byte(f, off);
    default:
        if (key >= FW_CFG_FILE_FIRST && key - FW_CFG_FILE_FIRST < (int)f->nfiles) {
            const struct vfwcfg_file *e = &f->files[key - FW_CFG_FILE_FIRST];
            return off < e->size ? e->data[off] : 0;
        }
        return 0;
    }
}

static uint8_t next_byte(struct vfwcfg *f)
{
    uint8_t b = vfwcfg_item_byte(f, f->sel, f->off);
    if (f->off != UINT32_MAX)
        f->off++;
    return b;
}

uint32_t vfwcfg_read(struct vfwcfg *f, uint16_t port, unsigned size)
{
    if (port == FW_CFG_PORT_DATA && size == 1)
        return next_byte(f);
    if (port == FW_CFG_PORT_SEL && size == 2) {
        /* QEMU's combined port: item bytes in string order, the first in bits 15:8. */
        uint32_t hi = next_byte(f);
        return hi << 8 | next_byte(f);
    }
    return size >= 4 ? 0xFFFFFFFFu : (1u << 8 * size) - 1;
}

void vfwcfg_write(struct vfwcfg *f, uint16_t port, unsigned size, uint32_t val)
{
    if (port == FW_CFG_PORT_SEL && size == 2) {
        f->sel = (uint16_t)val;
        f->off = 0;
    }
}
