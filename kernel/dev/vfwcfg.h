/* QEMU's fw_cfg interface, the traditional I/O-port form (QEMU docs/specs/fw_cfg.rst): a 16-bit
 * selector at 0x510 and an 8-bit data port at 0x511 that reads the selected item a byte at a
 * time and auto-increments. No DMA interface (the ID item says so).
 *
 * Items: 0x0000 signature "QEMU", 0x0001 feature ID (bit 0: traditional interface), 0x0003 RAM
 * size (64-bit LE), 0x0005 CPU count (16-bit LE), 0x0019 the file directory (a big-endian count
 * and entries of big-endian size, select, reserved and a 56-byte name) and the files the caller
 * added, selectors 0x0020 and up. Unknown items (the architecture-local 0x8000 range included)
 * read zeros, and so do reads past an item's end, as on QEMU. Bit 14 of the selector (the
 * write channel) is ignored; writes to the data port are ignored (QEMU >= 2.4).
 *
 * Pure: the file data stays the caller's (vfwcfg_add_file keeps the pointer). */
#ifndef KERNEL_DEV_VFWCFG_H
#define KERNEL_DEV_VFWCFG_H

#include <stdint.h>
#include <stdbool.h>

#define FW_CFG_PORT_SEL     0x510
#define FW_CFG_PORT_DATA    0x511

#define FW_CFG_SIGNATURE    0x0000
#define FW_CFG_ID           0x0001
#define FW_CFG_RAM_SIZE     0x0003
#define FW_CFG_NB_CPUS      0x0005
#define FW_CFG_FILE_DIR     0x0019
#define FW_CFG_FILE_FIRST   0x0020
#define FW_CFG_WRITE_CHANNEL 0x4000
#define FW_CFG_ID_TRADITIONAL 0x1u

#define VFWCFG_MAX_FILES    8
#define VFWCFG_NAME_LEN     56          /* including the terminating NUL */
#define VFWCFG_DIR_ENTRY    64

struct vfwcfg_file {
    char name[VFWCFG_NAME_LEN];
    const uint8_t *data;
    uint32_t size;
};

struct vfwcfg {
    uint16_t sel;           /* the key as written */
    uint32_t off;           /* next byte of the selected item */
    uint16_t ncpus;
    uint64_t ram_size;
    unsigned nfiles;
    struct vfwcfg_file files[VFWCFG_MAX_FILES];
};

void vfwcfg_reset(struct vfwcfg *f, uint16_t ncpus, uint64_t ram_size);
/* Adds a file; its data is read from `data` whenever the guest reads it. Returns its selector,
 * or -1 if the directory is full, the name empty or too long (55 characters at most) or taken. */
int vfwcfg_add_file(struct vfwcfg *f, const char *name, const void *data, uint32_t size);

/* Port accesses: a 16-bit write to 0x510 selects, an 8-bit read of 0x511 reads data (a 16-bit
 * read of 0x510 reads two data bytes, the first in bits 15:8, as QEMU's combined port does).
 * Other combinations read all-ones and are ignored. */
uint32_t vfwcfg_read(struct vfwcfg *f, uint16_t port, unsigned size);
void vfwcfg_write(struct vfwcfg *f, uint16_t port, unsigned size, uint32_t val);

/* Byte `off` of item `key` (0 past its end or for unknown keys), for the data port and tests. */
uint8_t vfwcfg_item_byte(const struct vfwcfg *f, uint16_t key, uint32_t off);

#endif
