#include "kernel/lib/fmt.h"

#include <stdbool.h>
#include <stdint.h>

/* Output sink: counts every byte, stores only what fits (keeping room for NUL). */
struct out {
    char *buf;
    size_t cap;
    size_t len;
};

static void put(struct out *o, char c)
{
    if (o->len + 1 < o->cap)
        o->buf[o->len] = c;
    o->len++;
}

static void pad(struct out *o, char c, int count)
{
    while (count-- > 0)
        put(o, c);
}

struct spec {
    bool left, zero, alt;
    int width;
    int prec;   /* -1: none */
    int len;    /* -2 hh, -1 h, 0 int, 1 l, 2 ll / z */
    char conv;
};

static void emit_str(struct out *o, const struct spec *sp, const char *s)
{
    size_t n = 0;

    if (!s)
        s = "(null)";
    while (s[n] && (sp->prec < 0 || n < (size_t)sp->prec))
        n++;
    int padn = sp->width > (int)n ? sp->width - (int)n : 0;
    if (!sp->left)
        pad(o, ' ', padn);
    for (size_t i = 0; i < n; i++)
        put(o, s[i]);
    if (sp->left)
        pad(o, ' ', padn);
}

/* Formats magnitude v in base 10 or 16, with sign and "0x" prefix as given. */
static void emit_num(struct out *o, const struct spec *sp, uint64_t v, bool neg,
                     unsigned base, bool upper, const char *prefix)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char tmp[24];
    int nd = 0;

    do {
        tmp[nd++] = digits[v % base];
        v /= base;
    } while (v);
    if (sp->prec == 0 && nd == 1 && tmp[0] == '0')
        nd = 0;   /* C rule: precision 0 prints nothing for 0 */

    int zeros = sp->prec > nd ? sp->prec - nd : 0;
    int plen = 0;
    while (prefix[plen])
        plen++;
    int body = (neg ? 1 : 0) + plen + zeros + nd;
    int padn = sp->width > body ? sp->width - body : 0;
    bool zpad = sp->zero && !sp->left && sp->prec < 0;

    if (!sp->left && !zpad)
        pad(o, ' ', padn);
    if (neg)
        put(o, '-');
    for (int i = 0; i < plen; i++)
        put(o, prefix[i]);
    if (zpad)
        pad(o, '0', padn);
    pad(o, '0', zeros);
    while (nd > 0)
        put(o, tmp[--nd]);
    if (sp->left)
        pad(o, ' ', padn);
}

static uint64_t get_unsigned(const struct spec *sp, va_list *ap)
{
    switch (sp->len) {
    case -2: return (unsigned char)va_arg(*ap, unsigned int);
    case -1: return (unsigned short)va_arg(*ap, unsigned int);
    case 0:  return va_arg(*ap, unsigned int);
    case 1:  return va_arg(*ap, unsigned long);
    default: return va_arg(*ap, unsigned long long);
    }
}

static int64_t get_signed(const struct spec *sp, va_list *ap)
{
    switch (sp->len) {
    case -2: return (signed char)va_arg(*ap, int);
    case -1: return (short)va_arg(*ap, int);
    case 0:  return va_arg(*ap, int);
    case 1:  return va_arg(*ap, long);
    default: return va_arg(*ap, long long);
    }
}

/* Reads decimal digits into *v, saturating so absurd widths cannot overflow. */
static const char *parse_int(const char *f, int *v)
{
    for (; *f >= '0' && *f <= '9'; f++)
        *v = *v < 100000 ? *v * 10 + (*f - '0') : 1000000;
    return f;
}

/* Parses flags, width, precision and length; returns the conversion char's position. */
static const char *parse_spec(const char *f, struct spec *sp, va_list *ap)
{
    *sp = (struct spec){ .prec = -1 };
    for (;; f++) {
        if (*f == '-') sp->left = true;
        else if (*f == '0') sp->zero = true;
        else if (*f == '#') sp->alt = true;
        else break;
    }
    if (*f == '*') {
        sp->width = va_arg(*ap, int);
        if (sp->width < 0) {
            sp->left = true;
            sp->width = sp->width == INT32_MIN ? 0 : -sp->width;
        }
        f++;
    } else {
        f = parse_int(f, &sp->width);
    }
    if (*f == '.') {
        f++;
        sp->prec = 0;
        if (*f == '*') {
            sp->prec = va_arg(*ap, int);
            if (sp->prec < 0)
                sp->prec = -1;
            f++;
        } else {
            f = parse_int(f, &sp->prec);
        }
    }
    if (*f == 'h') {
        sp->len = -1;
        if (*++f == 'h') { sp->len = -2; f++; }
    } else if (*f == 'l') {
        sp->len = 1;
        if (*++f == 'l') { sp->len = 2; f++; }
    } else if (*f == 'z') {
        sp->len = 2;   /* size_t is 64-bit on every target we build */
        f++;
    }
    return f;
}

static void convert(struct out *o, struct spec *sp, va_list *ap)
{
    switch (sp->conv) {
    case 'd':
    case 'i': {
        int64_t v = get_signed(sp, ap);
        uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
        emit_num(o, sp, mag, v < 0, 10, false, "");
        break;
    }
    case 'u':
        emit_num(o, sp, get_unsigned(sp, ap), false, 10, false, "");
        break;
    case 'x':
    case 'X': {
        uint64_t v = get_unsigned(sp, ap);
        const char *pre = sp->alt && v ? (sp->conv == 'x' ? "0x" : "0X") : "";
        emit_num(o, sp, v, false, 16, sp->conv == 'X', pre);
        break;
    }
    case 'p':
        emit_num(o, sp, (uintptr_t)va_arg(*ap, void *), false, 16, false, "0x");
        break;
    case 'c': {
        char c[2] = { (char)va_arg(*ap, int), 0 };
        sp->prec = 1;
        if (c[0]) {
            emit_str(o, sp, c);
        } else {   /* a NUL char still counts as one output byte */
            if (!sp->left) pad(o, ' ', sp->width - 1);
            put(o, 0);
            if (sp->left) pad(o, ' ', sp->width - 1);
        }
        break;
    }
    case 's':
        emit_str(o, sp, va_arg(*ap, const char *));
        break;
    case '%':
        put(o, '%');
        break;
    default:
        put(o, '%');
        if (sp->conv)
            put(o, sp->conv);
        break;
    }
}

int kvsnprintf(char *buf, size_t n, const char *fmt, va_list ap)
{
    struct out o = { buf, n, 0 };
    va_list aq;

    va_copy(aq, ap);
    while (*fmt) {
        if (*fmt != '%') {
            put(&o, *fmt++);
            continue;
        }
        struct spec sp;
        fmt = parse_spec(fmt + 1, &sp, &aq);
        sp.conv = *fmt;
        if (*fmt)
            fmt++;
        convert(&o, &sp, &aq);
    }
    va_end(aq);
    if (n > 0)
        buf[o.len < n ? o.len : n - 1] = 0;
    return o.len > INT32_MAX ? INT32_MAX : (int)o.len;
}

int ksnprintf(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    int r = kvsnprintf(buf, n, fmt, ap);
    va_end(ap);
    return r;
}
