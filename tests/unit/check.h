/* Tiny host unit-test framework: CHECK macros, a summary line, and a
 * seeded PRNG so randomized tests are reproducible. */
#ifndef KEEL_TEST_CHECK_H
#define KEEL_TEST_CHECK_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static unsigned long check_passed, check_failed;

/* Only the first failures are printed so a broken loop cannot flood the log. */
#define CHECK_REPORT_MAX 30

static inline int check_note(int ok, const char *file, int line, const char *what)
{
    if (ok) {
        check_passed++;
        return 1;
    }
    if (++check_failed <= CHECK_REPORT_MAX)
        fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, what);
    return 0;
}

#define CHECK(cond) check_note(!!(cond), __FILE__, __LINE__, #cond)

#define CHECK_EQ_U64(a, b)                                                           \
    do {                                                                             \
        uint64_t check_a_ = (uint64_t)(a), check_b_ = (uint64_t)(b);                 \
        if (!check_note(check_a_ == check_b_, __FILE__, __LINE__, #a " == " #b) &&   \
            check_failed <= CHECK_REPORT_MAX)                                        \
            fprintf(stderr, "    0x%" PRIx64 " (%" PRIu64 ") != 0x%" PRIx64 " (%" PRIu64 ")\n", \
                    check_a_, check_a_, check_b_, check_b_);                         \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                           \
    do {                                                                             \
        const char *check_a_ = (a), *check_b_ = (b);                                 \
        int check_ok_ = check_a_ && check_b_ && strcmp(check_a_, check_b_) == 0;      \
        if (!check_note(check_ok_, __FILE__, __LINE__, #a " == " #b) &&              \
            check_failed <= CHECK_REPORT_MAX)                                        \
            fprintf(stderr, "    \"%s\" != \"%s\"\n", check_a_ ? check_a_ : "(null)",  \
                    check_b_ ? check_b_ : "(null)");                                 \
    } while (0)

/* Runs one test function and names it in the log. */
#define RUN(fn)                                                                      \
    do {                                                                             \
        unsigned long check_before_ = check_failed;                                  \
        fn();                                                                        \
        printf("%-40s %s\n", #fn, check_failed == check_before_ ? "ok" : "FAILED");  \
    } while (0)

/* Prints "<name>: N passed, N failed" and gives the exit status. */
static inline int check_summary(const char *name)
{
    printf("%s: %lu passed, %lu failed\n", name, check_passed, check_failed);
    return check_failed ? 1 : 0;
}

/* xorshift64*: fixed seeds make every randomized test reproducible. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static inline void rng_seed(uint64_t s)
{
    rng_state = s ? s : 0x9E3779B97F4A7C15ull;
}

static inline uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

/* Uniform-ish value in [0, n); n == 0 gives 0. */
static inline uint64_t rng_below(uint64_t n)
{
    return n ? rng_next() % n : 0;
}

static inline void rng_fill(void *p, size_t n)
{
    uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)rng_next();
}

/* Flips/overwrites a few random bytes: the mutation step of fuzz loops. */
static inline void rng_mutate(void *p, size_t n)
{
    uint8_t *b = p;
    unsigned k = 1 + (unsigned)rng_below(4);
    if (!n)
        return;
    for (unsigned i = 0; i < k; i++) {
        size_t at = (size_t)rng_below(n);
        switch (rng_below(4)) {
        case 0: b[at] ^= (uint8_t)(1u << rng_below(8)); break;
        case 1: b[at] = (uint8_t)rng_next(); break;
        case 2: b[at] = 0xFF; break;
        default: b[at] = 0; break;
        }
    }
}

#endif
