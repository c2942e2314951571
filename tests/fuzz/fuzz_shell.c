/* libFuzzer target for the shell's pure modules: the input is typed into the line editor byte by
 * byte (escape sequences, control keys, history and all); every finished line goes through the
 * command parser against a table shaped like the shell's, and each argument through the number
 * parser and the hex dump formatter. The first byte also picks a parameter string to count, and
 * the whole input is tried as a parameter string. Checks the modules' invariants; ASan/UBSan
 * catch the rest. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/shell/line_edit.h"
#include "kernel/shell/shell_parse.h"

#define ASSERT(c) do { if (!(c)) { fprintf(stderr, "invariant failed: %s\n", #c); abort(); } } while (0)

static size_t echoed;

static void emit(void *ctx, const char *s, size_t n)
{
    (void)ctx;
    ASSERT(s != NULL);
    for (size_t i = 0; i < n; i++)     /* touch every byte: out-of-bounds shows up */
        echoed += (unsigned char)s[i];
}

static int calls;
static void fn(int argc, char **argv)
{
    ASSERT(argc >= 1 && argc <= SHELL_MAX_ARGS);
    for (int i = 0; i < argc; i++)
        ASSERT(argv[i] && argv[i][0]);
    calls++;
}

static const struct shell_cmd tab[] = {
    { "help", "[<command>]", "h", fn },
    { "version", "", "v", fn },
    { "regs", "<vm> <vcpu>", "r", fn },
    { "exits", "[<vm>] [clear]", "e", fn },
    { "trace", "<vm> on|off|show", "t", fn },
    { "dump_guest_mem", "<vm> <gpa> <len>", "d", fn },
    { "rdmsr", "[-p <cpu>] <msr>", "m", fn },
    { "wrmsr", "[-p <cpu>] <msr> <val>", "w", fn },
    { "echo", "<w>...", "any", fn },
    { "null", NULL, "null params", fn },
};
static const char *const params[] = { "", "<a>", "[<a>] [b]", "[-p <cpu>] <msr> <val>",
                                      "<w>...", "[[x] y]", "]]][[[", "a|b|c <d>" };

static void check_range(const char *p)
{
    int lo = -1, hi = -1;
    shell_param_range(p, &lo, &hi);
    ASSERT(lo >= 0 && hi >= lo);
}

static void run_line(const char *line)
{
    char buf[LE_LINE_MAX];
    size_t n = strlen(line);
    ASSERT(n < LE_LINE_MAX);
    memcpy(buf, line, n + 1);
    char *argv[SHELL_MAX_ARGS];
    char err[96];
    int argc = -1;
    const struct shell_cmd *c = shell_parse(tab, sizeof tab / sizeof tab[0], buf, &argc, argv,
                                            err, sizeof err);
    ASSERT(strlen(err) < sizeof err);
    if (!c) {
        ASSERT(argc == 0 ? 1 : err[0] != 0);
        return;
    }
    ASSERT(err[0] == 0 && argc >= 1);
    int lo, hi;
    shell_param_range(c->params, &lo, &hi);
    ASSERT(argc - 1 >= lo && argc - 1 <= hi);
    c->fn(argc, argv);
    for (int i = 0; i < argc; i++) {
        uint64_t v = 12345;
        if (shell_number(argv[i], 0xFFFFFFFFu, &v))
            ASSERT(v <= 0xFFFFFFFFu);
        char out[96];
        size_t len = strlen(argv[i]);
        size_t k = shell_hexdump_line(out, sizeof out, v, (const uint8_t *)argv[i], len);
        ASSERT(k == strlen(out) && k < sizeof out);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct line_edit le;
    le_init(&le, "keel> ", emit, NULL);
    if (size)
        check_range(params[data[0] % (sizeof params / sizeof params[0])]);
    for (size_t i = 0; i < size; i++) {
        enum le_event e = le_feed(&le, data[i]);
        ASSERT(le.len < LE_LINE_MAX && strlen(le.buf) == le.len);
        if (e == LE_LINE)
            run_line(le.line);
        else
            ASSERT(e == LE_NONE || (e == LE_CANCEL && le.len == 0));
    }
    le_erase(&le);
    le_draw(&le);
    for (unsigned k = 0; k <= LE_HISTORY + 1; k++) {
        const char *h = le_history(&le, k);
        ASSERT(!h || strlen(h) < LE_LINE_MAX);
    }
    /* the raw input as one line and as a parameter string */
    char line[LE_LINE_MAX];
    size_t n = size < LE_LINE_MAX - 1 ? size : LE_LINE_MAX - 1;
    memcpy(line, data, n);
    line[n] = 0;
    run_line(line);
    check_range(line);
    return 0;
}
