#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernel/shell/line_edit.h"

static char echo[8192];
static size_t echo_len;

static void emit(void *ctx, const char *s, size_t n)
{
    (void)ctx;
    if (echo_len + n < sizeof echo) {
        memcpy(echo + echo_len, s, n);
        echo_len += n;
        echo[echo_len] = 0;
    }
}

static struct line_edit le;

static void reset(void)
{
    le_init(&le, "keel> ", emit, NULL);
    echo_len = 0;
    echo[0] = 0;
}

/* Feeds s; returns the last event other than LE_NONE (or LE_NONE). */
static enum le_event feed(const char *s)
{
    enum le_event last = LE_NONE;
    for (; *s; s++) {
        enum le_event e = le_feed(&le, (uint8_t)*s);
        if (e != LE_NONE)
            last = e;
    }
    return last;
}

static void test_basic(void)
{
    reset();
    CHECK(feed("help") == LE_NONE);
    CHECK_EQ_STR(le.buf, "help");
    CHECK_EQ_STR(echo, "help");
    CHECK(feed("\r") == LE_LINE);
    CHECK_EQ_STR(le.line, "help");
    CHECK_EQ_STR(le.buf, "");
    CHECK_EQ_STR(echo, "help\n");
    /* CRLF is one Enter, LF alone is one, CR alone is one */
    CHECK(feed("\n") == LE_NONE);
    CHECK(feed("a\r\n") == LE_LINE);
    CHECK_EQ_STR(le.line, "a");
    CHECK(feed("b\n") == LE_LINE);
    CHECK_EQ_STR(le.line, "b");
    CHECK(feed("\n") == LE_LINE);
    CHECK_EQ_STR(le.line, "");
    CHECK(feed("\r") == LE_LINE);
    CHECK(feed("\r") == LE_LINE);
    CHECK_EQ_STR(le.line, "");
    /* tab becomes a space; other control bytes and 8-bit bytes are dropped */
    CHECK(feed("x\ty\x01\x02\x80\xff") == LE_NONE);
    CHECK_EQ_STR(le.buf, "x y");
}

static void test_editing(void)
{
    reset();
    feed("helpx\x7f");
    CHECK_EQ_STR(le.buf, "help");
    CHECK(strstr(echo, "\b \b") != NULL);
    feed("\b\b\b\b\b\b");       /* more backspaces than characters */
    CHECK_EQ_STR(le.buf, "");
    feed("regs hello 0\x15");   /* ^U */
    CHECK_EQ_STR(le.buf, "");
    feed("regs hello  \x17");   /* ^W: word and the spaces after it */
    CHECK_EQ_STR(le.buf, "regs ");
    feed("\x17\x17\x17");
    CHECK_EQ_STR(le.buf, "");
    feed("abc");
    echo_len = 0;
    CHECK(feed("\x03") == LE_CANCEL);
    CHECK_EQ_STR(echo, "^C\n");
    CHECK_EQ_STR(le.buf, "");
    CHECK(le_history(&le, 1) == NULL);      /* a cancelled line is not history */
    feed("xy");
    echo_len = 0;
    feed("\x0c");                           /* ^L redraws */
    CHECK_EQ_STR(echo, "\r\x1b[Kkeel> xy");
}

static void test_long_line(void)
{
    reset();
    for (int i = 0; i < 300; i++)
        le_feed(&le, 'a' + i % 26);
    CHECK_EQ_U64(le.len, LE_LINE_MAX - 1);
    CHECK_EQ_U64(strlen(le.buf), LE_LINE_MAX - 1);
    CHECK(strchr(echo, '\a') != NULL);
    CHECK(feed("\r") == LE_LINE);
    CHECK_EQ_U64(strlen(le.line), LE_LINE_MAX - 1);
    CHECK_EQ_STR(le_history(&le, 1), le.line);
}

static void test_history(void)
{
    reset();
    feed("one\r");
    feed("two\r");
    feed("two\r");          /* a repeat is stored once */
    feed("   \r");          /* blank lines are not stored */
    feed("three\r");
    CHECK_EQ_STR(le_history(&le, 1), "three");
    CHECK_EQ_STR(le_history(&le, 2), "two");
    CHECK_EQ_STR(le_history(&le, 3), "one");
    CHECK(le_history(&le, 4) == NULL);
    CHECK(le_history(&le, 0) == NULL);
    feed("par");            /* a partly typed line comes back after browsing */
    feed("\x1b[A");
    CHECK_EQ_STR(le.buf, "three");
    feed("\x1bOA");          /* application-mode arrows too */
    CHECK_EQ_STR(le.buf, "two");
    feed("\x1b[A\x1b[A\x1b[A");
    CHECK_EQ_STR(le.buf, "one");     /* stops at the oldest */
    feed("\x1b[B");
    CHECK_EQ_STR(le.buf, "two");
    feed("\x1b[B\x1b[B");
    CHECK_EQ_STR(le.buf, "par");
    feed("\x1b[B");
    CHECK_EQ_STR(le.buf, "par");
    echo_len = 0;
    feed("\x1b[A");
    CHECK_EQ_STR(echo, "\r\x1b[Kkeel> three");
    CHECK(feed("\r") == LE_LINE);
    CHECK_EQ_STR(le.line, "three");
    feed("\x1b[A");
    CHECK_EQ_STR(le.buf, "three");
    feed("\x03");
    feed("\x1b[B");
    CHECK_EQ_STR(le.buf, "");
    /* other sequences are swallowed whole */
    feed("\x1b[C\x1b[D\x1b[3~\x1b[1;5A\x1b[200~x");
    CHECK_EQ_STR(le.buf, "x");
    feed("\x1bZy");         /* ESC + other byte: both dropped */
    CHECK_EQ_STR(le.buf, "xy");
    feed("\x1b[\x1b[A");    /* a new ESC restarts the sequence */
    CHECK_EQ_STR(le.buf, "three");
    feed("\x15");
    feed("\x1b[12345678901234567890A");   /* too long: abandoned, the rest is typed */
    CHECK(strchr(le.buf, 'A') != NULL || le.len == 0);
    feed("\x15\x1b[\r");    /* a control byte ends a sequence and still counts */
    CHECK_EQ_STR(le.line, "");
}

static void test_history_ring(void)
{
    reset();
    char line[16];
    for (int i = 0; i < LE_HISTORY + 5; i++) {
        snprintf(line, sizeof line, "cmd%d\r", i);
        feed(line);
    }
    CHECK_EQ_STR(le_history(&le, 1), "cmd20");
    CHECK_EQ_STR(le_history(&le, LE_HISTORY), "cmd5");
    CHECK(le_history(&le, LE_HISTORY + 1) == NULL);
    for (int i = 0; i < LE_HISTORY + 3; i++)
        feed("\x1b[A");
    CHECK_EQ_STR(le.buf, "cmd5");
}

static void test_draw(void)
{
    reset();
    feed("ab");
    echo_len = 0;
    le_erase(&le);
    le_draw(&le);
    CHECK_EQ_STR(echo, "\r\x1b[Kkeel> ab");
    struct line_edit quiet;
    le_init(&quiet, NULL, NULL, NULL);      /* no emitter, no prompt: still works */
    CHECK(le_feed(&quiet, 'z') == LE_NONE);
    CHECK(le_feed(&quiet, '\r') == LE_LINE);
    CHECK_EQ_STR(quiet.line, "z");
    le_draw(&quiet);
}

/* Random bytes never break the invariants. */
static void test_random(void)
{
    reset();
    srand(1234);
    for (int i = 0; i < 200000; i++) {
        int r = rand();
        uint8_t c = r % 4 == 0 ? (uint8_t)"\r\n\x1b[AB\x7f\x03\x15"[r / 4 % 10] : (uint8_t)r;
        le_feed(&le, c);
        if (echo_len > 4096)
            echo_len = 0;
        if (le.len >= LE_LINE_MAX || strlen(le.buf) != le.len) {
            CHECK(0);
            break;
        }
    }
    CHECK(1);
}

int main(void)
{
    RUN(test_basic);
    RUN(test_editing);
    RUN(test_long_line);
    RUN(test_history);
    RUN(test_history_ring);
    RUN(test_draw);
    RUN(test_random);
    return check_summary("test_line_edit");
}
