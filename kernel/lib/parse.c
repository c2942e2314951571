#include "kernel/lib/parse.h"

int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool parse_u64(const char *s, size_t len, uint64_t *out)
{
    uint64_t base = 10, v = 0;

    if (!s)
        return false;
    if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
        len -= 2;
    }
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        int h = hex_digit(s[i]);
        uint64_t d = (uint64_t)h;
        if (h < 0 || d >= base || v > (UINT64_MAX - d) / base)
            return false;
        v = v * base + d;
    }
    *out = v;
    return true;
}

bool parse_size(const char *s, size_t len, uint64_t *out)
{
    unsigned shift = 0;
    uint64_t v;

    if (!s || len == 0)
        return false;
    switch (s[len - 1]) {
    case 'k': case 'K': shift = 10; break;
    case 'm': case 'M': shift = 20; break;
    case 'g': case 'G': shift = 30; break;
    }
    if (shift)
        len--;
    if (!parse_u64(s, len, &v) || v > (UINT64_MAX >> shift))
        return false;
    *out = v << shift;
    return true;
}
