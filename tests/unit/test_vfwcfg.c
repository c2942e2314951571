/* kernel/dev/vfwcfg.c: QEMU's fw_cfg I/O interface. Expectations from QEMU's
 * docs/specs/fw_cfg.rst: selector/data ports, the signature, the ID bits, little-endian
 * numeric items, the big-endian file directory, zeros for unknown keys and past an item's end. */
#include "check.h"
#include "kernel/dev/vfwcfg.h"

static struct vfwcfg F;

static void sel(uint16_t key)
{
    vfwcfg_write(&F, FW_CFG_PORT_SEL, 2, key);
}

static void rd(void *buf, unsigned n)
{
    uint8_t *b = buf;
    for (unsigned i = 0; i < n; i++)
        b[i] = (uint8_t)vfwcfg_read(&F, FW_CFG_PORT_DATA, 1);
}

static uint64_t rd_le(unsigned n)
{
    uint8_t b[8];
    uint64_t v = 0;
    rd(b, n);
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)b[i] << 8 * i;
    return v;
}

static uint64_t rd_be(unsigned n)
{
    uint8_t b[8];
    uint64_t v = 0;
    rd(b, n);
    for (unsigned i = 0; i < n; i++)
        v = v << 8 | b[i];
    return v;
}

static void test_basic_items(void)
{
    vfwcfg_reset(&F, 3, 0x123456789ull);
    char sig[5] = { 0 };
    rd(sig, 4);                                  /* signature selected from reset */
    CHECK_EQ_STR(sig, "QEMU");
    CHECK_EQ_U64(rd_le(4), 0);                   /* past the end: zeros */
    sel(FW_CFG_SIGNATURE);
    rd(sig, 4);
    CHECK_EQ_STR(sig, "QEMU");
    sel(FW_CFG_ID);
    CHECK_EQ_U64(rd_le(4), FW_CFG_ID_TRADITIONAL);  /* no DMA bit */
    sel(FW_CFG_NB_CPUS);
    CHECK_EQ_U64(rd_le(2), 3);
    CHECK_EQ_U64(rd_le(1), 0);
    sel(FW_CFG_RAM_SIZE);
    CHECK_EQ_U64(rd_le(8), 0x123456789ull);
    /* Reselecting restarts at offset 0. */
    sel(FW_CFG_RAM_SIZE);
    CHECK_EQ_U64(rd_le(1), 0x89);
    sel(FW_CFG_NB_CPUS | FW_CFG_WRITE_CHANNEL);
    CHECK_EQ_U64(rd_le(2), 3);
    /* Unknown keys and the architecture range read zeros. */
    const uint16_t unknown[] = { 0x0002, 0x0004, 0x0007, 0x0020, 0x7FFF, 0x8000, 0x8003, 0xFFFF };
    for (unsigned i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        sel(unknown[i]);
        CHECK_EQ_U64(rd_le(8), 0);
    }
}

static void test_ports(void)
{
    vfwcfg_reset(&F, 1, 0);
    /* Only 16-bit selector writes select. */
    vfwcfg_write(&F, FW_CFG_PORT_SEL, 1, FW_CFG_NB_CPUS);
    vfwcfg_write(&F, FW_CFG_PORT_SEL, 4, FW_CFG_NB_CPUS);
    vfwcfg_write(&F, FW_CFG_PORT_DATA, 1, 0x55);          /* ignored */
    CHECK_EQ_U64(vfwcfg_read(&F, FW_CFG_PORT_DATA, 1), 'Q');
    CHECK_EQ_U64(vfwcfg_read(&F, FW_CFG_PORT_DATA, 2), 0xFFFF);
    CHECK_EQ_U64(vfwcfg_read(&F, FW_CFG_PORT_DATA, 4), 0xFFFFFFFFu);
    CHECK_EQ_U64(vfwcfg_read(&F, FW_CFG_PORT_SEL, 1), 0xFF);
    /* The combined 16-bit port reads the next two bytes in string order. */
    CHECK_EQ_U64(vfwcfg_read(&F, FW_CFG_PORT_SEL, 2), 'E' << 8 | 'M');
    CHECK_EQ_U64(vfwcfg_read(&F, FW_CFG_PORT_DATA, 1), 'U');
}

static const uint8_t blob_a[] = { 1, 2, 3, 4, 5 };
static const char blob_b[] = "hello";

static void test_files(void)
{
    vfwcfg_reset(&F, 2, 1 << 20);
    sel(FW_CFG_FILE_DIR);
    CHECK_EQ_U64(rd_be(4), 0);                    /* empty directory */
    CHECK_EQ_U64(vfwcfg_add_file(&F, "etc/a", blob_a, sizeof blob_a), FW_CFG_FILE_FIRST);
    CHECK_EQ_U64(vfwcfg_add_file(&F, "opt/keel/b", blob_b, 5), FW_CFG_FILE_FIRST + 1);
    CHECK_EQ_U64((uint64_t)(int64_t)vfwcfg_add_file(&F, "etc/a", blob_a, 1), (uint64_t)-1);
    CHECK_EQ_U64((uint64_t)(int64_t)vfwcfg_add_file(&F, "", blob_a, 1), (uint64_t)-1);
    char longname[80];
    memset(longname, 'x', sizeof longname);
    longname[56] = 0;                             /* 56 characters: no room for the NUL */
    CHECK_EQ_U64((uint64_t)(int64_t)vfwcfg_add_file(&F, longname, blob_a, 1), (uint64_t)-1);
    longname[55] = 0;
    CHECK_EQ_U64(vfwcfg_add_file(&F, longname, blob_a, 1), FW_CFG_FILE_FIRST + 2);

    sel(FW_CFG_FILE_DIR);
    CHECK_EQ_U64(rd_be(4), 3);
    const char *names[] = { "etc/a", "opt/keel/b", longname };
    const uint32_t sizes[] = { 5, 5, 1 };
    for (unsigned i = 0; i < 3; i++) {
        CHECK_EQ_U64(rd_be(4), sizes[i]);
        CHECK_EQ_U64(rd_be(2), FW_CFG_FILE_FIRST + i);
        CHECK_EQ_U64(rd_be(2), 0);                 /* reserved */
        char name[57] = { 0 };
        rd(name, 56);
        CHECK_EQ_STR(name, names[i]);
    }
    CHECK_EQ_U64(rd_le(8), 0);                     /* after the last entry */

    sel(FW_CFG_FILE_FIRST);
    uint8_t buf[8];
    rd(buf, 8);
    CHECK(memcmp(buf, blob_a, 5) == 0 && buf[5] == 0 && buf[6] == 0 && buf[7] == 0);
    sel(FW_CFG_FILE_FIRST + 1);
    char s[6] = { 0 };
    rd(s, 5);
    CHECK_EQ_STR(s, "hello");
    /* A full directory refuses more files. */
    for (int i = 3; i < VFWCFG_MAX_FILES; i++) {
        char n[8] = { 'f', (char)('0' + i), 0 };
        CHECK(vfwcfg_add_file(&F, n, blob_a, 2) == FW_CFG_FILE_FIRST + i);
    }
    CHECK(vfwcfg_add_file(&F, "more", blob_a, 2) == -1);
    sel(FW_CFG_FILE_FIRST + VFWCFG_MAX_FILES);
    CHECK_EQ_U64(rd_le(8), 0);
}

int main(void)
{
    RUN(test_basic_items);
    RUN(test_ports);
    RUN(test_files);
    return check_summary("vfwcfg");
}
