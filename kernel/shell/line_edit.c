#include "kernel/shell/line_edit.h"
#include "kernel/lib/string.h"

#define KEY_CTRL_C  0x03
#define KEY_CTRL_H  0x08
#define KEY_CTRL_L  0x0C
#define KEY_CTRL_U  0x15
#define KEY_CTRL_W  0x17
#define KEY_ESC     0x1B
#define KEY_DEL     0x7F

#define ESC_NONE    0
#define ESC_SEEN    1       /* ESC */
#define ESC_CSI     2       /* ESC [ or ESC O, parameters follow */
#define ESC_MAX_LEN 16      /* a longer sequence is abandoned */

static void out(const struct line_edit *le, const char *s, size_t n)
{
    if (le->emit && n)
        le->emit(le->ctx, s, n);
}

static void outs(const struct line_edit *le, const char *s)
{
    out(le, s, strlen(s));
}

void le_init(struct line_edit *le, const char *prompt, le_emit_fn emit, void *ctx)
{
    memset(le, 0, sizeof *le);
    le->prompt = prompt ? prompt : "";
    le->emit = emit;
    le->ctx = ctx;
}

void le_draw(const struct line_edit *le)
{
    outs(le, le->prompt);
    out(le, le->buf, le->len);
}

void le_erase(const struct line_edit *le)
{
    outs(le, "\r\x1b[K");
}

const char *le_history(const struct line_edit *le, unsigned k)
{
    unsigned n = le->hist_count < LE_HISTORY ? le->hist_count : LE_HISTORY;
    if (k == 0 || k > n)
        return NULL;
    return le->hist[(le->hist_count - k) % LE_HISTORY];
}

static void set_buf(struct line_edit *le, const char *s)
{
    size_t n = strlen(s);
    if (n > LE_LINE_MAX - 1)
        n = LE_LINE_MAX - 1;
    memcpy(le->buf, s, n);
    le->buf[n] = 0;
    le->len = n;
}

static void replace_line(struct line_edit *le, const char *s)
{
    set_buf(le, s);
    le_erase(le);
    le_draw(le);
}

static void history_add(struct line_edit *le, const char *s)
{
    bool blank = true;
    for (const char *p = s; *p; p++)
        blank &= *p == ' ';
    if (blank)
        return;
    const char *newest = le_history(le, 1);
    if (newest && !strcmp(newest, s))
        return;
    char *slot = le->hist[le->hist_count % LE_HISTORY];
    size_t n = strlen(s);
    memcpy(slot, s, n + 1);
    le->hist_count++;
}

static void history_move(struct line_edit *le, bool older)
{
    unsigned n = le->hist_count < LE_HISTORY ? le->hist_count : LE_HISTORY;
    if (older) {
        if (le->hist_back >= n)
            return;
        if (le->hist_back == 0)
            memcpy(le->saved, le->buf, le->len + 1);
        le->hist_back++;
        replace_line(le, le_history(le, le->hist_back));
    } else {
        if (le->hist_back == 0)
            return;
        le->hist_back--;
        replace_line(le, le->hist_back ? le_history(le, le->hist_back) : le->saved);
    }
}

static enum le_event finish_line(struct line_edit *le)
{
    memcpy(le->line, le->buf, le->len + 1);
    outs(le, "\n");
    history_add(le, le->line);
    le->len = 0;
    le->buf[0] = 0;
    le->hist_back = 0;
    return LE_LINE;
}

static void backspace(struct line_edit *le, size_t n)
{
    while (n-- && le->len) {
        le->buf[--le->len] = 0;
        outs(le, "\b \b");
    }
}

static void erase_word(struct line_edit *le)
{
    size_t n = 0, i = le->len;
    while (i > 0 && le->buf[i - 1] == ' ')
        i--, n++;
    while (i > 0 && le->buf[i - 1] != ' ')
        i--, n++;
    backspace(le, n);
}

static void escape_byte(struct line_edit *le, uint8_t c)
{
    if (le->esc == ESC_SEEN) {
        le->esc = c == '[' || c == 'O' ? ESC_CSI : ESC_NONE;
        le->esc_len = 0;
        return;
    }
    /* ESC_CSI: parameter and intermediate bytes (0x20-0x3F) until a final byte (0x40-0x7E) */
    if (c >= 0x20 && c <= 0x3F) {
        if (++le->esc_len > ESC_MAX_LEN)
            le->esc = ESC_NONE;
        return;
    }
    le->esc = ESC_NONE;
    if (le->esc_len == 0 && (c == 'A' || c == 'B'))
        history_move(le, c == 'A');
}

enum le_event le_feed(struct line_edit *le, uint8_t c)
{
    bool after_cr = le->last_cr;
    le->last_cr = c == '\r';
    if (le->esc != ESC_NONE) {
        if (c == KEY_ESC) {             /* a new sequence starts */
            le->esc = ESC_SEEN;
            return LE_NONE;
        }
        if (c >= 0x20 && c < 0x7F) {
            escape_byte(le, c);
            return LE_NONE;
        }
        le->esc = ESC_NONE;             /* a control byte ends it; handle that byte below */
    }
    switch (c) {
    case '\n':
        if (after_cr)
            return LE_NONE;
        return finish_line(le);
    case '\r':
        return finish_line(le);
    case KEY_CTRL_C:
        outs(le, "^C\n");
        le->len = 0;
        le->buf[0] = 0;
        le->hist_back = 0;
        return LE_CANCEL;
    case KEY_DEL:
    case KEY_CTRL_H:
        backspace(le, 1);
        return LE_NONE;
    case KEY_CTRL_U:
        backspace(le, le->len);
        return LE_NONE;
    case KEY_CTRL_W:
        erase_word(le);
        return LE_NONE;
    case KEY_CTRL_L:
        le_erase(le);
        le_draw(le);
        return LE_NONE;
    case KEY_ESC:
        le->esc = ESC_SEEN;
        return LE_NONE;
    case '\t':
        c = ' ';
        break;
    default:
        break;
    }
    if (c < 0x20 || c >= 0x7F)
        return LE_NONE;
    if (le->len >= LE_LINE_MAX - 1) {
        outs(le, "\a");
        return LE_NONE;
    }
    le->buf[le->len++] = (char)c;
    le->buf[le->len] = 0;
    char ch = (char)c;
    out(le, &ch, 1);
    return LE_NONE;
}
