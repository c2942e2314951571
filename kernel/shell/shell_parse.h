/* The debug shell's command-line parsing: splitting a line into words, finding the command in
 * a table, checking the argument count against the command's parameter string, numbers, and
 * the hex dump format. Pure: no kernel state, so it is unit-tested and fuzzed on the host.
 * Only <stdint.h>, <stddef.h>, <stdbool.h> and kernel/lib/ are used. */
#ifndef KERNEL_SHELL_PARSE_H
#define KERNEL_SHELL_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHELL_MAX_ARGS  8       /* words in a line, the command included */

/* One command (ACRN style): name, parameters, one line of help, handler.
 * params: "<x>" is a required word, "[...]" holds optional words (counted one per word inside,
 * e.g. "[-p <cpu>] <msr>" takes 1 to 3 words), "a|b" is one word, "..." allows any number. */
struct shell_cmd {
    const char *name;
    const char *params;
    const char *help;
    void (*fn)(int argc, char **argv);      /* argv[0] is the command's name */
};

/* Splits line in place at spaces/tabs (other control characters count as spaces). Returns the
 * number of words (0 for a blank line), or -1 when there are more than max. */
int shell_split(char *line, char **argv, int max);

/* The command named name (exact match), or NULL. */
const struct shell_cmd *shell_lookup(const struct shell_cmd *tab, size_t n, const char *name);

/* The number of argument words (the name not counted) that params allows. */
void shell_param_range(const char *params, int *min, int *max);

/* Splits line and finds its command; checks the argument count. Returns the command with
 * *argc/argv filled, or NULL: *argc == 0 for a blank line (err empty), else err holds a one-line
 * message without the "error: " prefix. argv must have SHELL_MAX_ARGS slots. */
const struct shell_cmd *shell_parse(const struct shell_cmd *tab, size_t n, char *line,
                                    int *argc, char **argv, char *err, size_t errlen);

/* A number (decimal or 0x hex) no larger than max; false on bad syntax or out of range. */
bool shell_number(const char *s, uint64_t max, uint64_t *out);

/* One hex dump line of n (1..16) bytes at addr:
 * "00000000001000f0: 48 65 6c 6c 6f 00 .. |Hello.|". Returns the length written (the output is
 * NUL-terminated and cut to outlen). */
size_t shell_hexdump_line(char *out, size_t outlen, uint64_t addr, const uint8_t *p, size_t n);

#endif
