/* Tests kernel/lib/string.c itself: it is compiled here under renamed
 * symbols so libc's versions stay in use everywhere else. */
#include <stdlib.h>
#include <string.h>

#define memset k_memset
#define memcpy k_memcpy
#define memmove k_memmove
#define memcmp k_memcmp
#define strlen k_strlen
#define strcmp k_strcmp
#define strncmp k_strncmp
#define strchr k_strchr
#include "kernel/lib/string.c"
#undef memset
#undef memcpy
#undef memmove
#undef memcmp
#undef strlen
#undef strcmp
#undef strncmp
#undef strchr

#include "check.h"

static int sgn(int v)
{
    return (v > 0) - (v < 0);
}

static void test_memset_memcpy(void)
{
    unsigned char a[300], b[300];

    for (size_t n = 0; n < 260; n += 7) {
        memset(a, 0xAA, sizeof a);
        CHECK(k_memset(a + 3, 0x5C, n) == a + 3);
        for (size_t i = 0; i < sizeof a; i++)
            if (!CHECK(a[i] == ((i >= 3 && i < 3 + n) ? 0x5C : 0xAA)))
                break;
        rng_fill(b, sizeof b);
        memset(a, 0, sizeof a);
        CHECK(k_memcpy(a + 1, b + 2, n) == a + 1);
        CHECK(memcmp(a + 1, b + 2, n) == 0);
        CHECK(a[0] == 0 && a[1 + n] == 0);
    }
    k_memset(a, 0x1FF, 1);   /* only the low byte counts */
    CHECK(a[0] == 0xFF);
}

static void test_memmove(void)
{
    unsigned char buf[200], ref[200];

    rng_seed(1);
    for (int it = 0; it < 5000; it++) {
        rng_fill(buf, sizeof buf);
        memcpy(ref, buf, sizeof buf);
        size_t n = rng_below(100), d = rng_below(100), s = rng_below(100);
        CHECK(k_memmove(buf + d, buf + s, n) == buf + d);
        memmove(ref + d, ref + s, n);
        if (!CHECK(memcmp(buf, ref, sizeof buf) == 0))
            break;
    }
    /* the direction flag must be left clear for the next string op */
    memcpy(buf, "abcdef", 7);
    k_memmove(buf + 1, buf, 5);
    k_memcpy(ref, buf, 7);
    CHECK(memcmp(ref, "aabcde", 7) == 0);
}

static void test_compare(void)
{
    static const char *words[] = { "", "a", "ab", "abc", "abd", "b", "\xff", "ab\xff", "A" };
    size_t nw = sizeof words / sizeof words[0];

    for (size_t i = 0; i < nw; i++) {
        for (size_t j = 0; j < nw; j++) {
            CHECK(sgn(k_strcmp(words[i], words[j])) == sgn(strcmp(words[i], words[j])));
            for (size_t n = 0; n < 5; n++)
                CHECK(sgn(k_strncmp(words[i], words[j], n)) == sgn(strncmp(words[i], words[j], n)));
            size_t n = strlen(words[i]) < strlen(words[j]) ? strlen(words[i]) : strlen(words[j]);
            CHECK(sgn(k_memcmp(words[i], words[j], n + 1)) == sgn(memcmp(words[i], words[j], n + 1)));
        }
        CHECK_EQ_U64(k_strlen(words[i]), strlen(words[i]));
    }
    CHECK(k_memcmp("x", "y", 0) == 0);
}

static void test_strchr(void)
{
    const char *s = "hello world";

    CHECK(k_strchr(s, 'o') == s + 4);
    CHECK(k_strchr(s, 'd') == s + 10);
    CHECK(k_strchr(s, 'z') == NULL);
    CHECK(k_strchr(s, 0) == s + 11);
    CHECK(k_strchr("\xff", 0xFF) != NULL);
}

int main(void)
{
    RUN(test_memset_memcpy);
    RUN(test_memmove);
    RUN(test_compare);
    RUN(test_strchr);
    return check_summary("test_string");
}
