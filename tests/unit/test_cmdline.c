#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernel/cmdline.h"

/* Collects unknown words as "w1|w2|..." */
struct unk {
    char buf[512];
    int count;
};

static void on_unknown(const char *w, size_t len, void *ctx)
{
    struct unk *u = ctx;
    size_t at = strlen(u->buf);

    if (at + len + 2 < sizeof u->buf) {
        if (at)
            u->buf[at++] = '|';
        memcpy(u->buf + at, w, len);
        u->buf[at + len] = 0;
    }
    u->count++;
}

static struct keel_opts keel(const char *s, struct unk *u)
{
    struct keel_opts o;

    memset(&o, 0x5A, sizeof o);   /* parse must reset everything */
    memset(u, 0, sizeof *u);
    cmdline_parse_keel(s, &o, on_unknown, u);
    return o;
}

static void test_keel_defaults(void)
{
    struct unk u;
    struct keel_opts o = keel(NULL, &u);

    CHECK_EQ_U64(o.loglevel, LOG_INFO);
    CHECK(!o.poweroff && !o.noshell);
    CHECK_EQ_STR(o.test_drop, "");
    CHECK_EQ_STR(o.test_corrupt, "");
    o = keel("", &u);
    CHECK_EQ_U64(o.loglevel, LOG_INFO);
    CHECK_EQ_U64(u.count, 0);
    o = keel("   \t\n ", &u);
    CHECK_EQ_U64(u.count, 0);
}

static void test_keel_options(void)
{
    struct unk u;
    struct keel_opts o = keel("loglevel=debug poweroff noshell nox2apic", &u);

    CHECK_EQ_U64(o.loglevel, LOG_DEBUG);
    CHECK(o.poweroff && o.noshell && o.nox2apic);
    CHECK_EQ_U64(u.count, 0);
    CHECK_EQ_U64(keel("loglevel=error", &u).loglevel, LOG_ERR);
    CHECK_EQ_U64(keel("loglevel=warn", &u).loglevel, LOG_WARN);
    CHECK_EQ_U64(keel("loglevel=info", &u).loglevel, LOG_INFO);
    CHECK_EQ_U64(keel("loglevel=3", &u).loglevel, LOG_DEBUG);
    CHECK_EQ_U64(keel("loglevel=debug loglevel=warn", &u).loglevel, LOG_WARN);
    o = keel("test_drop=cpu1 test_corrupt=madt_checksum", &u);
    CHECK_EQ_STR(o.test_drop, "cpu1");
    CHECK_EQ_STR(o.test_corrupt, "madt_checksum");
    CHECK_EQ_U64(u.count, 0);
}

static void test_keel_console(void)
{
    struct unk u;
    struct keel_opts o = keel("", &u);

    CHECK_EQ_U64(o.console, CONSOLE_AUTO);
    CHECK_EQ_U64(o.console_baud, 0);
    CHECK_EQ_U64(o.maxcpus, 0);
    CHECK_EQ_U64(keel("console=com1", &u).console, 0x3F8);
    CHECK_EQ_U64(keel("console=COM2", &u).console, 0x2F8);
    CHECK_EQ_U64(keel("console=com3", &u).console, 0x3E8);
    CHECK_EQ_U64(keel("console=ttyS3", &u).console, 0x2E8);
    CHECK_EQ_U64(keel("console=none", &u).console, CONSOLE_NONE);
    CHECK_EQ_U64(u.count, 0);
    o = keel("console=0x2f8,9600", &u);
    CHECK_EQ_U64(o.console, 0x2F8);
    CHECK_EQ_U64(o.console_baud, 9600);
    o = keel("console=com2,115200 maxcpus=3", &u);
    CHECK_EQ_U64(o.console_baud, 115200);
    CHECK_EQ_U64(o.maxcpus, 3);
    o = keel("console=760", &u);                    /* decimal I/O address */
    CHECK_EQ_U64(o.console, 760);
    CHECK_EQ_U64(u.count, 0);
    /* bad values: reported, the earlier (or default) console stays */
    o = keel("console=com2 console=com5 console=0x80 console=0xfffa console=com1,1234 "
             "console=com1,0 console=com1,230400 console=com1, console=,9600 console=ttyS4 "
             "maxcpus=0 maxcpus=x", &u);
    CHECK_EQ_U64(u.count, 11);
    CHECK_EQ_U64(o.console, 0x2F8);
    CHECK_EQ_U64(o.console_baud, 0);
    CHECK_EQ_U64(o.maxcpus, 0);
}

static void test_keel_unknown(void)
{
    struct unk u;
    struct keel_opts o = keel("bogus loglevel=loud poweroff=1 x=y noshell", &u);

    CHECK_EQ_STR(u.buf, "bogus|loglevel=loud|poweroff=1|x=y");
    CHECK_EQ_U64(o.loglevel, LOG_INFO);
    CHECK(o.noshell && !o.poweroff);
    o = keel("loglevel= loglevel=4 Poweroff", &u);
    CHECK_EQ_STR(u.buf, "loglevel=|loglevel=4|Poweroff");
    /* too long for the field: reported, field left empty */
    o = keel("test_drop=0123456789abcdef test_corrupt=0123456789abcdefghijklm", &u);
    CHECK_EQ_STR(u.buf, "test_drop=0123456789abcdef");
    CHECK_EQ_STR(o.test_drop, "");
    CHECK_EQ_STR(o.test_corrupt, "0123456789abcdefghijklm");
    /* a NULL callback is allowed */
    cmdline_parse_keel("what ever", &o, NULL, NULL);
    CHECK(!o.poweroff);
}

static void test_keel_path(void)
{
    struct unk u;
    struct keel_opts o = keel("build/keel.elf poweroff", &u);

    CHECK(o.poweroff);
    CHECK_EQ_U64(u.count, 0);
    keel("keel.elf noshell", &u);
    CHECK_EQ_U64(u.count, 0);
    keel("/boot/keel noshell", &u);
    CHECK_EQ_U64(u.count, 0);
    /* only the first word may be a path; a=b/c is an option */
    keel("noshell build/keel.elf", &u);
    CHECK_EQ_STR(u.buf, "build/keel.elf");
    keel("a=b/c", &u);
    CHECK_EQ_STR(u.buf, "a=b/c");
    keel("keel", &u);
    CHECK_EQ_STR(u.buf, "keel");
}

static int guest(const char *s, struct guest_cfg *c, char *err)
{
    memset(c, 0x5A, sizeof *c);
    strcpy(c->name, "vm0");
    return cmdline_parse_guest(s, c, err, 128);
}

static void test_guest_defaults(void)
{
    struct guest_cfg c;
    char err[128];

    CHECK_EQ_U64(guest(NULL, &c, err), 0);
    CHECK_EQ_STR(c.name, "vm0");
    CHECK_EQ_U64(c.cpus, 1);
    CHECK_EQ_U64(c.mem, 16ull << 20);
    CHECK_EQ_STR(c.module_of, "");
    CHECK_EQ_U64(c.strict_mmio, 0);
    CHECK_EQ_STR(c.args, "");
    CHECK_EQ_U64(guest("", &c, err), 0);
    CHECK_EQ_STR(c.args, "");
}

static void test_guest_options(void)
{
    struct guest_cfg c;
    char err[128];

    CHECK_EQ_U64(guest("name=web cpus=4 mem=64M  hello   world ", &c, err), 0);
    CHECK_EQ_STR(c.name, "web");
    CHECK_EQ_U64(c.cpus, 4);
    CHECK_EQ_U64(c.mem, 64ull << 20);
    CHECK_EQ_STR(c.args, "hello world");
    CHECK_EQ_U64(guest("mem=1M", &c, err), 0);
    CHECK_EQ_U64(c.mem, 2ull << 20);
    CHECK_EQ_U64(guest("mem=3M", &c, err), 0);
    CHECK_EQ_U64(c.mem, 4ull << 20);
    CHECK_EQ_U64(guest("mem=1G", &c, err), 0);
    CHECK_EQ_U64(c.mem, 1ull << 30);
    CHECK_EQ_U64(guest("mem=1025k", &c, err), 0);
    CHECK_EQ_U64(c.mem, 2ull << 20);
    CHECK_EQ_U64(guest("mem=0x200000", &c, err), 0);
    CHECK_EQ_U64(c.mem, 2ull << 20);
    CHECK_EQ_U64(guest("cpus=64 name=A-b_9", &c, err), 0);
    CHECK_EQ_U64(c.cpus, 64);
    CHECK_EQ_STR(c.name, "A-b_9");
    CHECK_EQ_U64(guest("module_of=web data for web", &c, err), 0);
    CHECK_EQ_STR(c.module_of, "web");
    CHECK_EQ_STR(c.args, "data for web");
    CHECK_EQ_U64(guest("name=fifteen_chars_", &c, err), 0);
    /* words that merely contain '=' pass through */
    CHECK_EQ_U64(guest("foo=bar name=x a=b", &c, err), 0);
    CHECK_EQ_STR(c.args, "foo=bar a=b");
    CHECK_EQ_STR(c.name, "x");
    /* strict_mmio is Keel's; strict_mmio=1 or strict_mmiox are the guest's */
    CHECK_EQ_U64(guest("a strict_mmio b strict_mmio=1 strict_mmiox", &c, err), 0);
    CHECK_EQ_U64(c.strict_mmio, 1);
    CHECK_EQ_STR(c.args, "a b strict_mmio=1 strict_mmiox");
}

/* lazy RAM options (issue 9): Keel's words, not the guest's */
static void test_guest_lazy(void)
{
    struct guest_cfg c;
    char err[128];

    CHECK_EQ_U64(guest("a b", &c, err), 0);
    CHECK_EQ_U64(c.lazy, 0);
    CHECK_EQ_U64(c.lazy_budget, 0);
    CHECK_EQ_U64(guest("lazy x", &c, err), 0);
    CHECK_EQ_U64(c.lazy, 1);
    CHECK_EQ_STR(c.args, "x");
    CHECK_EQ_U64(guest("lazy=zero", &c, err), 0);
    CHECK_EQ_U64(c.lazy, 1);
    CHECK_EQ_U64(guest("lazy=slow", &c, err), 0);
    CHECK_EQ_U64(c.lazy, 2);
    CHECK_EQ_U64(c.lazy_us, 200);
    CHECK_EQ_U64(guest("lazy=slow:35us", &c, err), 0);
    CHECK_EQ_U64(c.lazy_us, 35);
    CHECK_EQ_U64(guest("lazy=slow:20ms lazy_budget=384K", &c, err), 0);
    CHECK_EQ_U64(c.lazy_us, 20000);
    CHECK_EQ_U64(c.lazy_budget, 384 << 10);
    CHECK_EQ_U64(guest("lazy=slow:1000ms", &c, err), 0);
    CHECK_EQ_U64(c.lazy_us, 1000000);
    CHECK(guest("lazy=slow:1001ms", &c, err) != 0);
    CHECK(guest("lazy=slow:20", &c, err) != 0);
    CHECK(guest("lazy=slow:us", &c, err) != 0);
    CHECK(guest("lazy=slowx", &c, err) != 0);
    CHECK(guest("lazy=fast", &c, err) != 0);
    CHECK(guest("lazy_budget=lots", &c, err) != 0);
    CHECK_EQ_U64(guest("lazyx lazy_x=1", &c, err), 0);     /* the guest's words */
    CHECK_EQ_U64(c.lazy, 0);
    CHECK_EQ_STR(c.args, "lazyx lazy_x=1");
}

static void test_guest_path(void)
{
    struct guest_cfg c;
    char err[128];

    CHECK_EQ_U64(guest("build/guests/hello.elf cpus=2 x", &c, err), 0);
    CHECK_EQ_STR(c.name, "hello");
    CHECK_EQ_STR(c.args, "x");
    CHECK_EQ_U64(c.cpus, 2);
    CHECK_EQ_U64(guest("/boot/hello-2.elf name=other", &c, err), 0);
    CHECK_EQ_STR(c.name, "other");
    CHECK_EQ_STR(c.args, "");
    CHECK_EQ_U64(guest("guest.elf", &c, err), 0);
    CHECK_EQ_STR(c.name, "guest");
    /* an unusable file name keeps the caller's default */
    CHECK_EQ_U64(guest("dir/a+b.elf", &c, err), 0);
    CHECK_EQ_STR(c.name, "vm0");
    CHECK_EQ_U64(guest("dir/very_long_file_name_here.elf", &c, err), 0);
    CHECK_EQ_STR(c.name, "vm0");
    CHECK_EQ_U64(guest("dir/", &c, err), 0);
    CHECK_EQ_STR(c.name, "vm0");
    /* not first: an ordinary argument */
    CHECK_EQ_U64(guest("x /etc/passwd", &c, err), 0);
    CHECK_EQ_STR(c.args, "x /etc/passwd");
}

static void bad(const char *s, const char *want_in_err)
{
    struct guest_cfg c;
    char err[128];

    if (!CHECK(guest(s, &c, err) == -1))
        return;
    if (!CHECK(strstr(err, want_in_err) != NULL))
        fprintf(stderr, "    for \"%s\": err \"%s\"\n", s, err);
    CHECK(strchr(err, '\n') == NULL);
}

static void test_guest_errors(void)
{
    bad("cpus=0", "cpus=");
    bad("cpus=65", "cpus=");
    bad("cpus=", "cpus=");
    bad("cpus=two", "two");
    bad("cpus=18446744073709551617", "cpus=");
    bad("mem=0", "mem=");
    bad("mem=512K", "1M");
    bad("mem=lots", "mem=");
    bad("mem=16T", "mem=");
    bad("mem=0xffffffffffffffff", "mem=");
    bad("name=", "name=");
    bad("name=has.dot", "name=");
    bad("name=sixteen_chars_xx", "name=");
    bad("name=a/b", "name=");
    bad("module_of=", "module_of=");
    bad("module_of=bad!", "module_of=");

    struct guest_cfg c;
    char err[128];
    memset(&c, 0, sizeof c);   /* no default name */
    CHECK_EQ_U64(cmdline_parse_guest("cpus=1", &c, err, sizeof err), -1);
    CHECK(strstr(err, "name") != NULL);

    /* args overflow: up to 4095 bytes fit (GRUB passes command lines of 4 KiB and more) */
    static char big[GUEST_ARGS_MAX + 600];
    CHECK(GUEST_ARGS_MAX >= 4096);
    memset(big, 'a', sizeof big);
    big[sizeof big - 1] = 0;
    big[GUEST_ARGS_MAX - 100] = ' ';
    bad(big, "longer");
    memset(big, 0, sizeof big);
    memset(big, 'b', GUEST_ARGS_MAX - 1);
    CHECK_EQ_U64(guest(big, &c, err), 0);
    CHECK_EQ_U64(strlen(c.args), GUEST_ARGS_MAX - 1);
    big[GUEST_ARGS_MAX - 1] = 'b';
    CHECK_EQ_U64(guest(big, &c, err), -1);
    /* many words joined by single spaces, right up to the limit */
    memset(big, 0, sizeof big);
    for (size_t i = 0; i < GUEST_ARGS_MAX - 1; i++)
        big[i] = i % 8 == 7 ? ' ' : (char)('a' + i % 8);
    CHECK_EQ_U64(guest(big, &c, err), 0);
    CHECK_EQ_U64(strlen(c.args), GUEST_ARGS_MAX - 1);
    CHECK(!strcmp(c.args, big));
    /* a 300-byte module string (skipped before the limit was raised) */
    memset(big, 0, sizeof big);
    memset(big, 'm', 300);
    CHECK_EQ_U64(guest(big, &c, err), 0);
    CHECK_EQ_U64(strlen(c.args), 300);

    /* tiny error buffers are still terminated */
    char small[4] = "xxx";
    memset(&c, 0, sizeof c);
    strcpy(c.name, "vm0");
    CHECK_EQ_U64(cmdline_parse_guest("cpus=0", &c, small, sizeof small), -1);
    CHECK(small[3] == 0);
    CHECK_EQ_U64(cmdline_parse_guest("cpus=0", &c, NULL, 0), -1);
}

/* Random strings built from option fragments: must not crash, results stay in range. */
static void test_random(void)
{
    static const char *frags[] = { "name=", "cpus=", "mem=", "module_of=", "loglevel=", "poweroff",
                                   "noshell", "test_drop=", "test_corrupt=", " ", "  ", "\t", "/",
                                   ".elf", "x", "abc", "0", "1", "64", "65", "16M", "2G", "0x",
                                   "=", "-", "_", "K", "\xff", "verylongwordverylongword" };
    char s[700], err[64];

    rng_seed(11);
    for (int it = 0; it < 20000; it++) {
        size_t n = 0, k = rng_below(40);
        for (size_t i = 0; i < k; i++) {
            const char *f = frags[rng_below(sizeof frags / sizeof frags[0])];
            size_t fl = strlen(f);
            if (n + fl >= sizeof s)
                break;
            memcpy(s + n, f, fl);
            n += fl;
        }
        s[n] = 0;
        struct guest_cfg c;
        memset(&c, 0, sizeof c);
        strcpy(c.name, "vm1");
        int r = cmdline_parse_guest(s, &c, err, sizeof err);
        CHECK(strlen(err) < sizeof err);
        if (r == 0) {
            CHECK(c.cpus >= 1 && c.cpus <= 64);
            CHECK(c.mem >= (2ull << 20) && c.mem % (2ull << 20) == 0);
            CHECK(strlen(c.name) >= 1 && strlen(c.name) < GUEST_NAME_MAX);
            CHECK(strlen(c.args) < GUEST_ARGS_MAX);
            CHECK(err[0] == 0);
        } else {
            CHECK(r == -1 && err[0] != 0);
        }
        struct unk u;
        struct keel_opts o = keel(s, &u);
        CHECK(o.loglevel >= LOG_ERR && o.loglevel <= LOG_DEBUG);
        CHECK(memchr(o.test_drop, 0, sizeof o.test_drop) != NULL);
        CHECK(memchr(o.test_corrupt, 0, sizeof o.test_corrupt) != NULL);
    }
}

int main(void)
{
    RUN(test_keel_defaults);
    RUN(test_keel_options);
    RUN(test_keel_console);
    RUN(test_keel_unknown);
    RUN(test_keel_path);
    RUN(test_guest_defaults);
    RUN(test_guest_options);
    RUN(test_guest_lazy);
    RUN(test_guest_path);
    RUN(test_guest_errors);
    RUN(test_random);
    return check_summary("test_cmdline");
}
