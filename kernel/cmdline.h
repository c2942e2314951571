/* Keel's own command line and guest module command lines (doc/CONTRACT.md). */
#ifndef KEEL_CMDLINE_H
#define KEEL_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { LOG_ERR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

struct keel_opts {
    int loglevel;           /* default LOG_INFO */
    bool poweroff;
    bool noshell;
    bool nox2apic;          /* keep the host LAPIC in xAPIC (MMIO) mode */
    unsigned maxcpus;       /* maxcpus=<n>: start at most n CPUs (BSP included); 0 = all */
    int console;            /* console=: CONSOLE_AUTO, CONSOLE_NONE or a 16550's I/O port */
    uint32_t console_baud;  /* console=<port>,<baud>; 0 = as the port's default (115200) */
    char test_drop[16];     /* test_drop=<word>, "" if absent */
    char test_corrupt[24];  /* test_corrupt=<word>, "" if absent */
    char gdb[24];           /* gdb=com2[:<vm>]: a gdb stub on COM2 (kernel/gdb); "" if absent */
};

#define CONSOLE_AUTO    (-1)    /* ACPI SPCR's port if there is one, else COM1 */
#define CONSOLE_NONE    0
#define CONSOLE_BAUD_MAX 115200u /* 16550 clock 1.8432 MHz / 16: divisor 1 */

/* console=<port>[,<baud>]: port is com1-com4 (COM1-COM4, ttyS0-ttyS3) = 0x3f8, 0x2f8, 0x3e8,
 * 0x2e8, or an I/O address (0x100-0xfff8), or none; baud divides 115200. maxcpus=<n>: n >= 1.
 * Resets *o to the defaults, then parses Keel's command line s (may be NULL).
 * Words are separated by spaces/tabs/newlines. Unknown words, and known
 * options with a bad value (loglevel=loud, a too-long test_* value), are
 * reported through unknown (may be NULL). QEMU's multiboot1 cmdline starts
 * with the kernel's path (a first word without '=' that contains '/' or
 * ends in .elf): it is skipped. */
void cmdline_parse_keel(const char *s, struct keel_opts *o,
                        void (*unknown)(const char *word, size_t len, void *ctx), void *ctx);

#define GUEST_NAME_MAX 16
/* The guest's command line and module strings: as long as GRUB passes them. */
#define GUEST_ARGS_MAX 4096
#define GUEST_MEM_DEFAULT (16ull << 20)
#define GUEST_MEM_MIN (1ull << 20)
#define GUEST_MEM_ALIGN (2ull << 20)
#define GUEST_CPUS_MAX 64

struct guest_cfg {
    char name[GUEST_NAME_MAX];
    unsigned cpus;
    uint64_t mem;
    char module_of[GUEST_NAME_MAX];   /* "" unless module_of= was given */
    bool strict_mmio;                 /* an access to nothing stops the VM (else all-ones) */
    uint8_t lazy;                     /* 0 = off, 1 = zero tier, 2 = slow tier (enum lazy_tier) */
    uint32_t lazy_us;                 /* slow tier fetch latency */
    uint64_t lazy_budget;             /* bytes of lazy RAM kept resident, 0 = no limit */
    char args[GUEST_ARGS_MAX];
};

/* Parses a module's command line s (may be NULL) into cfg: name=, cpus=,
 * mem=, module_of=, strict_mmio, lazy[=zero|slow[:<n>us|ms]] (slow default 200us, at most
 * 1s), lazy_budget=<size>; the remaining words, joined by single spaces, go to args
 * (the caller adds the "<name> " prefix the guest sees). cfg->name must hold
 * the caller's default name on entry; it is replaced by name=, or else by the
 * file name (no directory/extension) when the first word looks like a path
 * (QEMU mb1 module strings start with the file path; GRUB's do not); a path
 * first word never goes into args. Defaults: cpus=1, mem=16M. mem must be
 * >= 1M and is rounded up to 2 MiB; cpus 1..64; names [A-Za-z0-9_-], 1..15
 * chars. Returns 0, or -1 with a one-line message in err (cfg then holds
 * partial results and must not be used). */
int cmdline_parse_guest(const char *s, struct guest_cfg *cfg, char *err, size_t errlen);

#endif
