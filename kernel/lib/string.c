/* Kernel-only string functions. The compiler itself emits calls to
 * memcpy/memset/memmove/memcmp, so these must never be compiled into calls
 * to themselves: the copy loops use "rep movsb/stosb" (fast on every CPU
 * with ERMSB and immune to loop-to-call idiom recognition), and the byte
 * loops below disable loop distribution for the same reason. */
#include "kernel/lib/string.h"

#define NO_IDIOM __attribute__((optimize("no-tree-loop-distribute-patterns")))

void *memset(void *dst, int c, size_t n)
{
    void *d = dst;
    __asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
    return dst;
}

void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
    void *d = dst;
    __asm__ volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(n) : : "memory");
    return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;

    if (d <= s || d >= s + n)
        return memcpy(dst, src, n);
    /* Overlap with dst above src: copy backwards from the last byte. */
    d += n - 1;
    s += n - 1;
    __asm__ volatile("std; rep movsb; cld" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
    return dst;
}

NO_IDIOM int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;

    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    return 0;
}

NO_IDIOM size_t strlen(const char *s)
{
    size_t n = 0;

    while (s[n])
        n++;
    return n;
}

NO_IDIOM int strcmp(const char *a, const char *b)
{
    return strncmp(a, b, (size_t)-1);
}

NO_IDIOM int strncmp(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x != y)
            return x < y ? -1 : 1;
        if (!x)
            break;
    }
    return 0;
}

NO_IDIOM char *strchr(const char *s, int c)
{
    for (;; s++) {
        if (*s == (char)c)
            return (char *)s;
        if (!*s)
            return NULL;
    }
}
