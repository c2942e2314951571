#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernel/lib/parse.h"

static int u64_ok(const char *s, uint64_t want)
{
    uint64_t v = 0xDEAD;
    return parse_u64(s, strlen(s), &v) && v == want;
}

static int u64_bad(const char *s)
{
    uint64_t v = 0xDEAD;
    return !parse_u64(s, strlen(s), &v) && v == 0xDEAD;   /* *out untouched on error */
}

static int size_ok(const char *s, uint64_t want)
{
    uint64_t v = 0xDEAD;
    return parse_size(s, strlen(s), &v) && v == want;
}

static int size_bad(const char *s)
{
    uint64_t v = 0xDEAD;
    return !parse_size(s, strlen(s), &v) && v == 0xDEAD;
}

static void test_u64(void)
{
    CHECK(u64_ok("0", 0));
    CHECK(u64_ok("42", 42));
    CHECK(u64_ok("007", 7));
    CHECK(u64_ok("0x0", 0));
    CHECK(u64_ok("0x1F", 31));
    CHECK(u64_ok("0Xabc", 0xabc));
    CHECK(u64_ok("18446744073709551615", UINT64_MAX));
    CHECK(u64_ok("0xffffffffffffffff", UINT64_MAX));
    CHECK(u64_ok("0x0000000000000000000001", 1));
    CHECK(u64_bad(""));
    CHECK(u64_bad("0x"));
    CHECK(u64_bad("x1"));
    CHECK(u64_bad("-1"));
    CHECK(u64_bad("+1"));
    CHECK(u64_bad(" 1"));
    CHECK(u64_bad("1 "));
    CHECK(u64_bad("12a"));
    CHECK(u64_bad("0x1g"));
    CHECK(u64_bad("18446744073709551616"));
    CHECK(u64_bad("99999999999999999999"));
    CHECK(u64_bad("0x10000000000000000"));
    CHECK(u64_bad("1K"));
    /* the length bounds the word: no NUL needed */
    uint64_t v;
    CHECK(parse_u64("123junk", 3, &v) && v == 123);
    CHECK(!parse_u64("123", 0, &v));
    CHECK(!parse_u64(NULL, 0, &v));
}

static void test_size(void)
{
    CHECK(size_ok("16M", 16ull << 20));
    CHECK(size_ok("16m", 16ull << 20));
    CHECK(size_ok("1G", 1ull << 30));
    CHECK(size_ok("3g", 3ull << 30));
    CHECK(size_ok("512K", 512ull << 10));
    CHECK(size_ok("4k", 4096));
    CHECK(size_ok("4096", 4096));
    CHECK(size_ok("0x10M", 16ull << 20));
    CHECK(size_ok("0", 0));
    CHECK(size_ok("17179869183G", 17179869183ull << 30));
    CHECK(size_bad("17179869184G"));
    CHECK(size_bad("18014398509481984K"));
    CHECK(size_bad(""));
    CHECK(size_bad("M"));
    CHECK(size_bad("16MB"));
    CHECK(size_bad("16 M"));
    CHECK(size_bad("16T"));
    CHECK(size_bad("0xM"));
    CHECK(size_bad("-1M"));
    CHECK(size_bad("1.5G"));
    uint64_t v;
    CHECK(parse_size("2Mxyz", 2, &v) && v == 2ull << 20);
}

/* Random words of digits/letters: agree with strtoull where strtoull is strict. */
static void test_random(void)
{
    static const char alphabet[] = "0123456789abcdefxXKMGkmg -+";
    char w[32];

    rng_seed(7);
    for (int it = 0; it < 50000; it++) {
        size_t n = rng_below(24);
        for (size_t i = 0; i < n; i++)
            w[i] = alphabet[rng_below(sizeof alphabet - 1)];
        w[n] = 0;
        uint64_t v = 0, sz = 0;
        bool ok = parse_u64(w, n, &v);
        bool sok = parse_size(w, n, &sz);
        /* reference: all-digit decimal, or 0x + hex digits, checked by strtoull */
        bool hex = n > 2 && w[0] == '0' && (w[1] == 'x' || w[1] == 'X');
        const char *d = hex ? w + 2 : w;
        bool digits = *d != 0 && strspn(d, hex ? "0123456789abcdef" : "0123456789") == strlen(d);
        errno = 0;
        unsigned long long ref = digits ? strtoull(w, NULL, hex ? 16 : 10) : 0;
        bool ref_ok = digits && errno == 0;
        CHECK(ok == ref_ok);
        if (ok && ref_ok)
            CHECK_EQ_U64(v, ref);
        if (ok)
            CHECK(sok && sz == v);
    }
}

int main(void)
{
    RUN(test_u64);
    RUN(test_size);
    RUN(test_random);
    return check_summary("test_parse");
}
