#include "kernel/shell/shell_parse.h"
#include "kernel/lib/fmt.h"
#include "kernel/lib/parse.h"
#include "kernel/lib/string.h"

static bool is_space(char c)
{
    return c == ' ' || ((unsigned char)c < 0x20 && c != 0) || c == 0x7F;
}

int shell_split(char *line, char **argv, int max)
{
    int argc = 0;
    char *p = line;
    for (;;) {
        while (*p && is_space(*p))
            *p++ = 0;
        if (!*p)
            return argc;
        if (argc == max)
            return -1;
        argv[argc++] = p;
        while (*p && !is_space(*p))
            p++;
    }
}

const struct shell_cmd *shell_lookup(const struct shell_cmd *tab, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (tab[i].name && !strcmp(tab[i].name, name))
            return &tab[i];
    return NULL;
}

void shell_param_range(const char *params, int *min, int *max)
{
    int lo = 0, hi = 0, depth = 0;
    bool in_word = false, varargs = false;
    for (const char *p = params ? params : ""; ; p++) {
        char c = *p;
        if (c == '.' && p[1] == '.' && p[2] == '.')
            varargs = true;
        if (c == '[') {
            depth++;
            in_word = false;
            continue;
        }
        if (c == ']') {
            if (depth)
                depth--;
            in_word = false;
            continue;
        }
        if (c == 0 || c == ' ' || c == '\t') {
            in_word = false;
            if (!c)
                break;
            continue;
        }
        if (!in_word) {
            in_word = true;
            hi++;
            if (!depth)
                lo++;
        }
    }
    *min = lo;
    *max = varargs && hi < SHELL_MAX_ARGS - 1 ? SHELL_MAX_ARGS - 1 : hi;
}

const struct shell_cmd *shell_parse(const struct shell_cmd *tab, size_t n, char *line,
                                    int *argc, char **argv, char *err, size_t errlen)
{
    if (errlen)
        err[0] = 0;
    *argc = 0;
    int c = shell_split(line, argv, SHELL_MAX_ARGS);
    if (c < 0) {
        ksnprintf(err, errlen, "too many words (at most %d)", SHELL_MAX_ARGS);
        return NULL;
    }
    *argc = c;
    if (c == 0)
        return NULL;
    const struct shell_cmd *cmd = shell_lookup(tab, n, argv[0]);
    if (!cmd) {
        ksnprintf(err, errlen, "unknown command '%.32s' (try 'help')", argv[0]);
        return NULL;
    }
    int lo, hi;
    shell_param_range(cmd->params, &lo, &hi);
    if (c - 1 < lo || c - 1 > hi) {
        const char *params = cmd->params ? cmd->params : "";
        ksnprintf(err, errlen, "usage: %s%s%s", cmd->name, params[0] ? " " : "", params);
        return NULL;
    }
    return cmd;
}

bool shell_number(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v;
    if (!s || !parse_u64(s, strlen(s), &v) || v > max)
        return false;
    *out = v;
    return true;
}

size_t shell_hexdump_line(char *out, size_t outlen, uint64_t addr, const uint8_t *p, size_t n)
{
    char buf[96];
    static const char hex[] = "0123456789abcdef";
    size_t k = 0;
    if (n > 16)
        n = 16;
    for (int shift = 60; shift >= 0; shift -= 4)
        buf[k++] = hex[(addr >> shift) & 0xF];
    buf[k++] = ':';
    for (size_t i = 0; i < 16; i++) {
        buf[k++] = ' ';
        if (i < n) {
            buf[k++] = hex[p[i] >> 4];
            buf[k++] = hex[p[i] & 0xF];
        } else {
            buf[k++] = ' ';
            buf[k++] = ' ';
        }
    }
    buf[k++] = ' ';
    buf[k++] = ' ';
    buf[k++] = '|';
    for (size_t i = 0; i < n; i++)
        buf[k++] = p[i] >= 0x20 && p[i] < 0x7F ? (char)p[i] : '.';
    buf[k++] = '|';
    buf[k] = 0;
    if (!outlen)
        return 0;
    if (k >= outlen)
        k = outlen - 1;
    memcpy(out, buf, k);
    out[k] = 0;
    return k;
}
