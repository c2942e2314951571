#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernel/shell/shell_parse.h"

static int ran;
static void fn(int argc, char **argv) { (void)argc; (void)argv; ran++; }

static const struct shell_cmd tab[] = {
    { "help", "[<command>]", "list commands", fn },
    { "version", "", "Keel's version", fn },
    { "regs", "<vm> <vcpu>", "guest registers", fn },
    { "exits", "[<vm>] [clear]", "exit counts", fn },
    { "rdmsr", "[-p <cpu>] <msr>", "read a host MSR", fn },
    { "trace", "<vm> on|off|show", "exit trace", fn },
    { "echo", "<word>...", "any number", fn },
    { "noparams", NULL, "NULL params", fn },
};
#define NTAB (sizeof tab / sizeof tab[0])

static void test_split(void)
{
    char *argv[SHELL_MAX_ARGS];
    char l1[] = "  regs  hello\t0  ";
    CHECK_EQ_U64(shell_split(l1, argv, SHELL_MAX_ARGS), 3);
    CHECK_EQ_STR(argv[0], "regs");
    CHECK_EQ_STR(argv[1], "hello");
    CHECK_EQ_STR(argv[2], "0");
    char l2[] = "";
    CHECK_EQ_U64(shell_split(l2, argv, SHELL_MAX_ARGS), 0);
    char l3[] = " \t \x01 ";
    CHECK_EQ_U64(shell_split(l3, argv, SHELL_MAX_ARGS), 0);
    char l4[] = "a b c d e f g h";
    CHECK_EQ_U64(shell_split(l4, argv, SHELL_MAX_ARGS), 8);
    char l5[] = "a b c d e f g h i";
    CHECK(shell_split(l5, argv, SHELL_MAX_ARGS) == -1);
    char l6[] = "one";
    CHECK_EQ_U64(shell_split(l6, argv, 1), 1);
    CHECK_EQ_STR(argv[0], "one");
    char l7[] = "one two";
    CHECK(shell_split(l7, argv, 1) == -1);
}

static void range(const char *p, int lo, int hi)
{
    int a = -5, b = -5;
    shell_param_range(p, &a, &b);
    CHECK_EQ_U64(a, lo);
    CHECK_EQ_U64(b, hi);
}

static void test_param_range(void)
{
    range(NULL, 0, 0);
    range("", 0, 0);
    range("<vm>", 1, 1);
    range("<vm> <vcpu>", 2, 2);
    range("[<vm>] [clear]", 0, 2);
    range("[-p <cpu>] <msr>", 1, 3);
    range("[-p <cpu>] <msr> <val>", 2, 4);
    range("<vm> on|off|show", 2, 2);
    range("<leaf> [<sub>]", 1, 2);
    range("<word>...", 1, SHELL_MAX_ARGS - 1);
    range("[[<a>] <b>]", 0, 2);
    range("]] <a> [", 1, 1);
    range("a b c d e f g h i...", 9, 9);      /* more required words than "..." allows */
}

static const char *parse(const char *line, int *argc, char **argv, char *err, size_t errlen)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "%s", line);
    const struct shell_cmd *c = shell_parse(tab, NTAB, buf, argc, argv, err, errlen);
    return c ? c->name : NULL;
}

static void test_parse(void)
{
    char *argv[SHELL_MAX_ARGS];
    char err[96];
    int argc;
    CHECK_EQ_STR(parse("help", &argc, argv, err, sizeof err), "help");
    CHECK_EQ_U64(argc, 1);
    CHECK_EQ_STR(parse("help regs", &argc, argv, err, sizeof err), "help");
    CHECK(parse("help regs x", &argc, argv, err, sizeof err) == NULL);
    CHECK_EQ_STR(err, "usage: help [<command>]");
    CHECK(parse("version 1", &argc, argv, err, sizeof err) == NULL);
    CHECK_EQ_STR(err, "usage: version");
    CHECK(parse("noparams 1", &argc, argv, err, sizeof err) == NULL);
    CHECK_EQ_STR(err, "usage: noparams");
    CHECK_EQ_STR(parse("noparams", &argc, argv, err, sizeof err), "noparams");
    CHECK(parse("regs hello", &argc, argv, err, sizeof err) == NULL);
    CHECK_EQ_STR(err, "usage: regs <vm> <vcpu>");
    CHECK_EQ_STR(parse(" regs hello 0 ", &argc, argv, err, sizeof err), "regs");
    CHECK_EQ_U64(argc, 3);
    CHECK_EQ_STR(argv[1], "hello");
    CHECK_EQ_STR(argv[2], "0");
    CHECK_EQ_STR(parse("rdmsr 0x10", &argc, argv, err, sizeof err), "rdmsr");
    CHECK_EQ_STR(parse("rdmsr -p 1 0x10", &argc, argv, err, sizeof err), "rdmsr");
    CHECK(parse("rdmsr -p 1 0x10 4", &argc, argv, err, sizeof err) == NULL);
    CHECK(parse("rdmsr", &argc, argv, err, sizeof err) == NULL);
    CHECK_EQ_STR(parse("exits", &argc, argv, err, sizeof err), "exits");
    CHECK_EQ_STR(parse("exits hello clear", &argc, argv, err, sizeof err), "exits");
    CHECK_EQ_STR(parse("echo a b c d e f g", &argc, argv, err, sizeof err), "echo");
    CHECK(parse("echo", &argc, argv, err, sizeof err) == NULL);
    /* unknown, blank, too long */
    CHECK(parse("frobnicate 1 2", &argc, argv, err, sizeof err) == NULL);
    CHECK_EQ_STR(err, "unknown command 'frobnicate' (try 'help')");
    CHECK(parse("HELP", &argc, argv, err, sizeof err) == NULL);
    CHECK(parse("hel", &argc, argv, err, sizeof err) == NULL);
    CHECK(parse("   ", &argc, argv, err, sizeof err) == NULL);
    CHECK_EQ_U64(argc, 0);
    CHECK_EQ_STR(err, "");
    CHECK(parse("echo 1 2 3 4 5 6 7 8", &argc, argv, err, sizeof err) == NULL);
    CHECK_EQ_STR(err, "too many words (at most 8)");
    /* a long unknown name is cut, and a small err buffer is respected */
    CHECK(parse("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &argc, argv, err,
                sizeof err) == NULL);
    CHECK_EQ_STR(err, "unknown command 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' (try 'help')");
    char small[8];
    CHECK(parse("nope", &argc, argv, small, sizeof small) == NULL);
    CHECK_EQ_STR(small, "unknown");
    CHECK(parse("nope", &argc, argv, small, 0) == NULL);
    CHECK_EQ_U64(ran, 0);
}

static void test_number(void)
{
    uint64_t v = 77;
    CHECK(shell_number("0", 0, &v) && v == 0);
    CHECK(shell_number("255", 255, &v) && v == 255);
    CHECK(!shell_number("256", 255, &v) && v == 255);
    CHECK(shell_number("0xff", 255, &v) && v == 255);
    CHECK(shell_number("18446744073709551615", UINT64_MAX, &v) && v == UINT64_MAX);
    CHECK(!shell_number("18446744073709551616", UINT64_MAX, &v));
    CHECK(!shell_number("", 10, &v));
    CHECK(!shell_number("-1", 10, &v));
    CHECK(!shell_number("1x", 10, &v));
    CHECK(!shell_number(NULL, 10, &v));
    CHECK(v == UINT64_MAX);
}

static void test_hexdump(void)
{
    char out[128];
    const uint8_t data[16] = "Hello\0\x01\x7f\x80 world!";
    size_t n = shell_hexdump_line(out, sizeof out, 0x1000f0, data, 16);
    CHECK_EQ_STR(out, "00000000001000f0: 48 65 6c 6c 6f 00 01 7f 80 20 77 6f 72 6c 64 21"
                      "  |Hello.... world!|");
    CHECK_EQ_U64(n, strlen(out));
    n = shell_hexdump_line(out, sizeof out, 0xffffffffffffffffull, data, 3);
    char want[128];
    snprintf(want, sizeof want, "ffffffffffffffff: 48 65 6c%*s  |Hel|", 13 * 3, "");
    CHECK_EQ_STR(out, want);
    shell_hexdump_line(out, sizeof out, 0, data, 99);     /* clamps to 16 */
    CHECK(strstr(out, "|Hello.... world!|") != NULL);
    n = shell_hexdump_line(out, 10, 0, data, 16);
    CHECK_EQ_U64(n, 9);
    CHECK_EQ_STR(out, "000000000");
    CHECK_EQ_U64(shell_hexdump_line(out, 0, 0, data, 16), 0);
    n = shell_hexdump_line(out, sizeof out, 0, data, 0);
    snprintf(want, sizeof want, "0000000000000000:%*s  ||", 16 * 3, "");
    CHECK_EQ_STR(out, want);
}

int main(void)
{
    RUN(test_split);
    RUN(test_param_range);
    RUN(test_parse);
    RUN(test_number);
    RUN(test_hexdump);
    return check_summary("test_shell_parse");
}
