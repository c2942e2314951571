/* The debug shell's line editor: fed one byte at a time from the serial line, it keeps the line
 * being typed and tells what to echo. Keys: printable characters, Backspace (DEL or ^H),
 * Enter (CR, LF or CRLF), ^C (abandon the line), ^U (erase the line), ^W (erase a word),
 * ^L (redraw), Up/Down arrows (ESC [ A / ESC [ B, or ESC O A / ESC O B) walk the history.
 * Other escape sequences and control bytes are swallowed. The cursor stays at the end.
 * Pure: no kernel state, so it is unit-tested and fuzzed on the host. */
#ifndef KERNEL_LINE_EDIT_H
#define KERNEL_LINE_EDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LE_LINE_MAX     128     /* buffer size: at most LE_LINE_MAX - 1 characters */
#define LE_HISTORY      16

/* Where echo goes (the console). */
typedef void (*le_emit_fn)(void *ctx, const char *s, size_t len);

enum le_event {
    LE_NONE,        /* nothing finished */
    LE_LINE,        /* Enter: the line is in le->line (NUL-terminated); le->buf is empty again */
    LE_CANCEL,      /* ^C: the line was abandoned ("^C" and a newline were echoed) */
};

struct line_edit {
    const char *prompt;
    le_emit_fn emit;
    void *ctx;
    char buf[LE_LINE_MAX];      /* the line being typed, NUL-terminated */
    size_t len;
    char line[LE_LINE_MAX];     /* the last finished line */
    uint8_t esc;                /* escape-sequence state */
    uint8_t esc_len;
    bool last_cr;               /* the previous byte was CR: a following LF is part of it */
    char hist[LE_HISTORY][LE_LINE_MAX];
    unsigned hist_count;        /* entries ever added; the newest is (hist_count - 1) % LE_HISTORY */
    unsigned hist_back;         /* 0: editing a new line; k: showing the k-th newest entry */
    char saved[LE_LINE_MAX];    /* the new line while browsing the history */
};

void le_init(struct line_edit *le, const char *prompt, le_emit_fn emit, void *ctx);
enum le_event le_feed(struct line_edit *le, uint8_t c);
/* Draws the prompt and the line on the current (empty) terminal line. */
void le_draw(const struct line_edit *le);
/* Erases the terminal line (CR, ESC [ K): for output that must appear above the prompt. */
void le_erase(const struct line_edit *le);
/* The history entry k back (1 = newest), or NULL. */
const char *le_history(const struct line_edit *le, unsigned k);

#endif
