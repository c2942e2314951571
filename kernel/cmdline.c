#include "kernel/cmdline.h"

#include "kernel/lib/fmt.h"
#include "kernel/lib/parse.h"
#include "kernel/lib/string.h"

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Finds the next word at or after *pos; returns its length (0 at the end). */
static size_t next_word(const char *s, size_t *pos, const char **word)
{
    size_t i = *pos, n = 0;

    while (s[i] && is_space(s[i]))
        i++;
    *word = s + i;
    while (s[i + n] && !is_space(s[i + n]))
        n++;
    *pos = i + n;
    return n;
}

static bool word_has(const char *w, size_t len, char c)
{
    for (size_t i = 0; i < len; i++)
        if (w[i] == c)
            return true;
    return false;
}

/* "key=" prefix test; the value goes to *val and *vlen. */
static bool is_opt(const char *w, size_t len, const char *key, const char **val, size_t *vlen)
{
    size_t k = strlen(key);

    if (len <= k || memcmp(w, key, k) != 0 || w[k] != '=')
        return false;
    *val = w + k + 1;
    *vlen = len - k - 1;
    return true;
}

static bool word_is(const char *w, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(w, lit, len) == 0;
}

/* A loader-supplied file path: no '=', and a '/' or a ".elf" ending. */
static bool looks_like_path(const char *w, size_t len)
{
    if (word_has(w, len, '='))
        return false;
    return word_has(w, len, '/') || (len >= 4 && memcmp(w + len - 4, ".elf", 4) == 0);
}

/* Copies a value into a fixed buffer; false if it does not fit. */
static bool copy_val(char *dst, size_t cap, const char *v, size_t vlen)
{
    if (vlen >= cap)
        return false;
    memcpy(dst, v, vlen);
    dst[vlen] = 0;
    return true;
}

static bool parse_loglevel(const char *v, size_t n, int *out)
{
    static const char *const names[] = { "error", "warn", "info", "debug" };
    uint64_t num;

    for (int i = 0; i < 4; i++) {
        if (word_is(v, n, names[i])) {
            *out = i;
            return true;
        }
    }
    if (parse_u64(v, n, &num) && num <= LOG_DEBUG) {
        *out = (int)num;
        return true;
    }
    return false;
}

static const uint16_t com_ports[] = { 0x3F8, 0x2F8, 0x3E8, 0x2E8 };
#define CONSOLE_PORT_MIN 0x100  /* below: PIC, PIT, KBC, DMA... never a UART */
#define CONSOLE_PORT_MAX 0xFFF8 /* the 8 registers must fit in the 64 KiB I/O space */

static bool lower_is(const char *w, size_t len, const char *lit)
{
    if (strlen(lit) != len)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = w[i] >= 'A' && w[i] <= 'Z' ? (char)(w[i] - 'A' + 'a') : w[i];
        if (c != lit[i])
            return false;
    }
    return true;
}

static bool parse_console_port(const char *v, size_t n, int *port)
{
    static const char *const com[] = { "com1", "com2", "com3", "com4" };
    static const char *const tty[] = { "ttys0", "ttys1", "ttys2", "ttys3" };
    uint64_t num;

    if (lower_is(v, n, "none")) {
        *port = CONSOLE_NONE;
        return true;
    }
    for (int i = 0; i < 4; i++) {
        if (lower_is(v, n, com[i]) || lower_is(v, n, tty[i])) {
            *port = com_ports[i];
            return true;
        }
    }
    if (!parse_u64(v, n, &num) || num < CONSOLE_PORT_MIN || num > CONSOLE_PORT_MAX)
        return false;
    *port = (int)num;
    return true;
}

/* console=<port>[,<baud>]; on a bad value the options keep what they had. */
static bool parse_console(const char *v, size_t n, struct keel_opts *o)
{
    size_t comma = 0;
    uint64_t baud = 0;
    int port;

    while (comma < n && v[comma] != ',')
        comma++;
    if (!parse_console_port(v, comma, &port))
        return false;
    if (comma < n && (!parse_u64(v + comma + 1, n - comma - 1, &baud) || baud == 0 ||
                      baud > CONSOLE_BAUD_MAX || CONSOLE_BAUD_MAX % baud != 0))
        return false;
    o->console = port;
    o->console_baud = (uint32_t)baud;
    return true;
}

static bool parse_maxcpus(const char *v, size_t n, unsigned *out)
{
    uint64_t num;

    if (!parse_u64(v, n, &num) || num < 1 || num > UINT32_MAX)
        return false;
    *out = (unsigned)num;
    return true;
}

/* Applies one word; false if it is not a valid Keel option. */
static bool keel_word(const char *w, size_t n, struct keel_opts *o)
{
    const char *v;
    size_t vn;

    if (word_is(w, n, "poweroff")) {
        o->poweroff = true;
        return true;
    }
    if (word_is(w, n, "noshell")) {
        o->noshell = true;
        return true;
    }
    if (word_is(w, n, "nox2apic")) {
        o->nox2apic = true;
        return true;
    }
    if (is_opt(w, n, "loglevel", &v, &vn))
        return parse_loglevel(v, vn, &o->loglevel);
    if (is_opt(w, n, "console", &v, &vn))
        return parse_console(v, vn, o);
    if (is_opt(w, n, "maxcpus", &v, &vn))
        return parse_maxcpus(v, vn, &o->maxcpus);
    if (is_opt(w, n, "test_drop", &v, &vn))
        return copy_val(o->test_drop, sizeof o->test_drop, v, vn);
    if (is_opt(w, n, "test_corrupt", &v, &vn))
        return copy_val(o->test_corrupt, sizeof o->test_corrupt, v, vn);
    if (is_opt(w, n, "gdb", &v, &vn))
        return copy_val(o->gdb, sizeof o->gdb, v, vn);
    return false;
}

void cmdline_parse_keel(const char *s, struct keel_opts *o,
                        void (*unknown)(const char *word, size_t len, void *ctx), void *ctx)
{
    size_t pos = 0, n;
    const char *w;

    *o = (struct keel_opts){ .loglevel = LOG_INFO, .console = CONSOLE_AUTO };
    if (!s)
        return;
    for (bool first = true; (n = next_word(s, &pos, &w)) != 0; first = false) {
        if (first && looks_like_path(w, n))
            continue;
        if (!keel_word(w, n, o) && unknown)
            unknown(w, n, ctx);
    }
}

static bool valid_name(const char *v, size_t n)
{
    if (n == 0 || n >= GUEST_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* Sets name from a path's last component minus its extension, if valid. */
static void name_from_path(char *name, const char *w, size_t n)
{
    size_t b = n, e;

    while (b > 0 && w[b - 1] != '/')
        b--;
    for (e = b; e < n && w[e] != '.'; e++)
        ;
    if (valid_name(w + b, e - b))
        copy_val(name, GUEST_NAME_MAX, w + b, e - b);
}

static int fail(char *err, size_t errlen, const char *what, const char *v, size_t n)
{
    ksnprintf(err, errlen, "%s '%.*s'", what, (int)(n > 64 ? 64 : n), v);
    return -1;
}

static int set_mem(struct guest_cfg *cfg, const char *v, size_t n, char *err, size_t errlen)
{
    uint64_t mem;

    if (!parse_size(v, n, &mem))
        return fail(err, errlen, "bad mem= size", v, n);
    if (mem < GUEST_MEM_MIN)
        return fail(err, errlen, "mem= below the 1M minimum:", v, n);
    if (mem > UINT64_MAX - (GUEST_MEM_ALIGN - 1))
        return fail(err, errlen, "mem= too large:", v, n);
    cfg->mem = (mem + GUEST_MEM_ALIGN - 1) & ~(GUEST_MEM_ALIGN - 1);
    return 0;
}

static int set_cpus(struct guest_cfg *cfg, const char *v, size_t n, char *err, size_t errlen)
{
    uint64_t c;

    if (!parse_u64(v, n, &c) || c < 1 || c > GUEST_CPUS_MAX)
        return fail(err, errlen, "cpus= must be 1..64, not", v, n);
    cfg->cpus = (unsigned)c;
    return 0;
}

#define LAZY_SLOW_DEFAULT_US 200
#define LAZY_MAX_US 1000000

/* lazy, lazy=zero, lazy=slow, lazy=slow:<n>us, lazy=slow:<n>ms */
static int set_lazy(struct guest_cfg *cfg, const char *v, size_t n, char *err, size_t errlen)
{
    uint64_t us = LAZY_SLOW_DEFAULT_US, mul = 1;
    if (n == 4 && !memcmp(v, "zero", 4)) {
        cfg->lazy = 1;
        return 0;
    }
    if (n < 4 || memcmp(v, "slow", 4) || (n > 4 && (v[4] != ':' || n < 8)))
        return fail(err, errlen, "lazy= wants zero, slow or slow:<n>us|ms, not", v, n);
    if (n > 4) {
        if (!memcmp(v + n - 2, "ms", 2))
            mul = 1000;
        else if (memcmp(v + n - 2, "us", 2))
            return fail(err, errlen, "lazy=slow: latency needs us or ms:", v, n);
        if (!parse_u64(v + 5, n - 7, &us) || us > LAZY_MAX_US / mul)
            return fail(err, errlen, "bad lazy=slow latency (at most 1s)", v, n);
    }
    cfg->lazy = 2;
    cfg->lazy_us = (uint32_t)(us * mul);
    return 0;
}

static int add_arg(struct guest_cfg *cfg, const char *w, size_t n, char *err, size_t errlen)
{
    size_t used = strlen(cfg->args), sep = used ? 1 : 0;

    if (used + sep + n >= GUEST_ARGS_MAX) {
        ksnprintf(err, errlen, "guest command line longer than %d bytes", GUEST_ARGS_MAX - 1);
        return -1;
    }
    if (sep)
        cfg->args[used] = ' ';
    memcpy(cfg->args + used + sep, w, n);
    cfg->args[used + sep + n] = 0;
    return 0;
}

/* Applies one option word, or appends it to args. */
static int guest_word(struct guest_cfg *cfg, const char *w, size_t n, char *err, size_t errlen)
{
    const char *v;
    size_t vn;

    if (is_opt(w, n, "name", &v, &vn)) {
        if (!valid_name(v, vn))
            return fail(err, errlen, "bad name= (want 1-15 of A-Za-z0-9_-):", v, vn);
        copy_val(cfg->name, sizeof cfg->name, v, vn);
        return 0;
    }
    if (is_opt(w, n, "module_of", &v, &vn)) {
        if (!valid_name(v, vn))
            return fail(err, errlen, "bad module_of= name", v, vn);
        copy_val(cfg->module_of, sizeof cfg->module_of, v, vn);
        return 0;
    }
    if (n == 11 && !memcmp(w, "strict_mmio", 11)) {
        cfg->strict_mmio = true;
        return 0;
    }
    if (n == 4 && !memcmp(w, "lazy", 4)) {
        cfg->lazy = 1;
        return 0;
    }
    if (is_opt(w, n, "lazy", &v, &vn))
        return set_lazy(cfg, v, vn, err, errlen);
    if (is_opt(w, n, "lazy_budget", &v, &vn)) {
        if (!parse_size(v, vn, &cfg->lazy_budget))
            return fail(err, errlen, "bad lazy_budget= size", v, vn);
        return 0;
    }
    if (is_opt(w, n, "cpus", &v, &vn))
        return set_cpus(cfg, v, vn, err, errlen);
    if (is_opt(w, n, "mem", &v, &vn))
        return set_mem(cfg, v, vn, err, errlen);
    return add_arg(cfg, w, n, err, errlen);
}

int cmdline_parse_guest(const char *s, struct guest_cfg *cfg, char *err, size_t errlen)
{
    size_t pos = 0, n;
    const char *w;

    if (errlen)
        err[0] = 0;
    cfg->name[GUEST_NAME_MAX - 1] = 0;
    cfg->cpus = 1;
    cfg->mem = GUEST_MEM_DEFAULT;
    cfg->module_of[0] = 0;
    cfg->strict_mmio = false;
    cfg->lazy = 0;
    cfg->lazy_us = 0;
    cfg->lazy_budget = 0;
    cfg->args[0] = 0;
    for (bool first = true; s && (n = next_word(s, &pos, &w)) != 0; first = false) {
        if (first && looks_like_path(w, n)) {
            name_from_path(cfg->name, w, n);
            continue;
        }
        if (guest_word(cfg, w, n, err, errlen) < 0)
            return -1;
    }
    if (!valid_name(cfg->name, strlen(cfg->name))) {
        ksnprintf(err, errlen, "no valid name (give name=)");
        return -1;
    }
    return 0;
}
