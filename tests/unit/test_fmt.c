#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "kernel/lib/fmt.h"

/* ksnprintf must match C's snprintf byte for byte. */
#define SAME(...)                                                                \
    do {                                                                         \
        char ka_[256], ca_[256];                                                 \
        int kr_ = ksnprintf(ka_, sizeof ka_, __VA_ARGS__);                       \
        int cr_ = snprintf(ca_, sizeof ca_, __VA_ARGS__);                        \
        CHECK_EQ_U64(kr_, cr_);                                                  \
        CHECK_EQ_STR(ka_, ca_);                                                  \
    } while (0)

static void test_basic(void)
{
    SAME("plain text");
    SAME("%d %i %u", 42, -7, 3000000000u);
    SAME("%x %X %#x %#X %#x", 0xbeefu, 0xbeefu, 255u, 255u, 0u);
    SAME("%c%c%c", 'K', 'e', 'l');
    SAME("[%s] [%10s] [%-10s] [%.3s] [%-6.2s]", "keel", "keel", "keel", "keel", "keel");
    SAME("100%%");
    SAME("%ld %lu %lx", LONG_MIN, ULONG_MAX, ULONG_MAX);
    SAME("%lld %llu %llx", LLONG_MIN, ULLONG_MAX, 0x123456789abcdefull);
    SAME("%zu %zx %zd", (size_t)-1, (size_t)4096, (long)-5);
    SAME("%d %d", INT_MIN, INT_MAX);
    SAME("%hhd %hhu %hd %hu", 300, 300, 70000, 70000);
    SAME("[%05d] [%-5d] [%5d] [%05x]", -42, -42, -42, 0xabu);
    SAME("[%.5d] [%8.3d] [%-8.3x] [%.0d] [%.0x]", 12, -12, 0xfu, 0, 0u);
    SAME("[%*d] [%-*d] [%*d] [%.*s] [%.*d]", 6, 1, 6, 1, -6, 1, 2, "abc", 4, 7);
    SAME("[%.*s]", -1, "negative precision is none");
    SAME("[%p] [%20p] [%-20p]", (void *)0x1234, (void *)0xffff800000000000ull, (void *)1);
    SAME("%s", "");
}

/* These deliberately pass what the compiler's format checker rejects. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-overflow"
static void test_special(void)
{
    char b[64];

    CHECK_EQ_U64(ksnprintf(b, sizeof b, "%s", (char *)NULL), 6);
    CHECK_EQ_STR(b, "(null)");
    CHECK_EQ_U64(ksnprintf(b, sizeof b, "%p", (void *)0), 3);
    CHECK_EQ_STR(b, "0x0");
    /* unknown conversions are copied, not interpreted */
    const char *odd = "a%qb%";
    _Pragma("GCC diagnostic push")
    _Pragma("GCC diagnostic ignored \"-Wformat-security\"")
    _Pragma("GCC diagnostic ignored \"-Wformat-nonliteral\"")
    CHECK_EQ_U64(ksnprintf(b, sizeof b, odd), 5);
    _Pragma("GCC diagnostic pop")
    CHECK_EQ_STR(b, "a%qb%");
    CHECK_EQ_U64(ksnprintf(b, 4, "%c%c%c", 'a', 0, 'b'), 3);
    CHECK(b[0] == 'a' && b[1] == 0 && b[2] == 'b' && b[3] == 0);
    /* huge widths saturate instead of overflowing */
    CHECK_EQ_U64(ksnprintf(b, sizeof b, "%99999999999d", 1), 1000000);
    CHECK_EQ_U64(strlen(b), sizeof b - 1);
}
#pragma GCC diagnostic pop

static void test_truncation(void)
{
    char b[32];

    for (size_t n = 0; n < 20; n++) {
        memset(b, 'Z', sizeof b);
        int r = ksnprintf(b, n, "value=%d/%s", 12345, "tail");
        CHECK_EQ_U64(r, 16);
        if (n == 0) {
            CHECK(b[0] == 'Z');
        } else {
            size_t k = n - 1 < 16 ? n - 1 : 16;
            CHECK(memcmp(b, "value=12345/tail", k) == 0);
            CHECK(b[k] == 0);
            CHECK(b[k + 1] == 'Z');
        }
    }
    CHECK_EQ_U64(ksnprintf(NULL, 0, "%d", 123), 3);
}

/* Builds a random, well-defined conversion spec and compares with libc. */
static void random_one(void)
{
    static const char *lens[] = { "", "hh", "h", "l", "ll", "z" };
    static const char convs[] = "diuxXcsp";
    char fmt[48], *f = fmt;
    char conv = convs[rng_below(sizeof convs - 1)];
    bool is_int = strchr("diuxX", conv) != NULL;
    int width = rng_below(3) ? -1 : (int)rng_below(25);
    int prec = (is_int || conv == 's') && rng_below(2) ? (int)rng_below(22) : -1;
    const char *len = is_int ? lens[rng_below(6)] : "";

    *f++ = '%';
    if (rng_below(3) == 0)
        *f++ = '-';
    if (is_int && rng_below(3) == 0)
        *f++ = '0';
    if ((conv == 'x' || conv == 'X') && rng_below(3) == 0)
        *f++ = '#';
    f += width >= 0 ? sprintf(f, "%d", width) : 0;
    f += prec >= 0 ? sprintf(f, ".%d", prec) : 0;
    sprintf(f, "%s%c|", len, conv);

    uint64_t v = rng_next() >> rng_below(64);
    if (rng_below(4) == 0)
        v = rng_below(3);
    char str[24];
    for (size_t i = 0; i < sizeof str - 1; i++)
        str[i] = (char)('a' + rng_below(26));
    str[rng_below(sizeof str)] = 0;

    char ka[128], ca[128];
    size_t n = rng_below(sizeof ka + 1);
    int kr, cr;
#define BOTH(arg) (kr = ksnprintf(ka, n, fmt, arg), cr = snprintf(ca, n, fmt, arg))
    _Pragma("GCC diagnostic push")
    _Pragma("GCC diagnostic ignored \"-Wformat-nonliteral\"")
    int ch = (int)('!' + rng_below(90));
    if (conv == 's')
        BOTH(str);
    else if (conv == 'p')
        BOTH((void *)(uintptr_t)(v | 1));
    else if (conv == 'c')
        BOTH(ch);
    else if (!strcmp(len, "ll") || !strcmp(len, "l") || !strcmp(len, "z"))
        BOTH((long long)v);
    else
        BOTH((int)v);
    _Pragma("GCC diagnostic pop")
    CHECK_EQ_U64(kr, cr);
    if (n) {
        if (!CHECK(strcmp(ka, ca) == 0) && check_failed <= CHECK_REPORT_MAX)
            fprintf(stderr, "    fmt \"%s\" n=%zu: \"%s\" vs \"%s\"\n", fmt, n, ka, ca);
    }
}

static void test_random_vs_libc(void)
{
    rng_seed(42);
    for (int i = 0; i < 20000; i++)
        random_one();
}

int main(void)
{
    RUN(test_basic);
    RUN(test_special);
    RUN(test_truncation);
    RUN(test_random_vs_libc);
    return check_summary("test_fmt");
}
