/* The gdb packet layer: framing, checksums, escapes and runs, acks, hex, command parsing. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernel/gdb/gdb_packet.h"

static struct gdb_rx rx;

/* Feeds s; returns the last event other than GDB_RX_NONE. */
static enum gdb_rx_event feed(const char *s, size_t n)
{
    enum gdb_rx_event last = GDB_RX_NONE;
    for (size_t i = 0; i < n; i++) {
        enum gdb_rx_event e = gdb_rx_byte(&rx, (uint8_t)s[i]);
        if (e != GDB_RX_NONE)
            last = e;
    }
    return last;
}
#define FEED(s) feed(s, sizeof(s) - 1)

static void test_framing(void)
{
    char out[64];
    size_t n = gdb_frame(out, sizeof out, (const uint8_t *)"OK", 2);
    out[n] = 0;
    CHECK_EQ_STR(out, "$OK#9a");
    n = gdb_frame(out, sizeof out, (const uint8_t *)"a#b$c}d*", 8);
    out[n] = 0;
    CHECK_EQ_STR(out, "$a}\x03" "b}\x04" "c}]d}\x0a#ec");
    CHECK_EQ_U64(gdb_frame(out, 5, (const uint8_t *)"OK", 2), 0);
    CHECK_EQ_U64(gdb_frame(out, 6, (const uint8_t *)"OK", 2), 6);

    gdb_rx_init(&rx);
    CHECK_EQ_U64(FEED("$OK#9a"), GDB_RX_PACKET);
    CHECK_EQ_STR((char *)rx.buf, "OK");
    CHECK_EQ_U64(FEED("$OK#9b"), GDB_RX_BAD);
    CHECK_EQ_U64(FEED("$OK#9A"), GDB_RX_PACKET);        /* upper-case checksum digits */
    CHECK_EQ_U64(FEED("$OK#zz"), GDB_RX_BAD);
    CHECK_EQ_U64(FEED("+"), GDB_RX_ACK);
    CHECK_EQ_U64(FEED("-"), GDB_RX_NACK);
    CHECK_EQ_U64(FEED("\x03"), GDB_RX_INTR);
    CHECK_EQ_U64(FEED("junk"), GDB_RX_NONE);
    /* a '$' inside a packet starts over */
    CHECK_EQ_U64(FEED("$garbage$OK#9a"), GDB_RX_PACKET);
    CHECK_EQ_STR((char *)rx.buf, "OK");
    /* escapes and runs: "0* " is 0 repeated 3 more times */
    CHECK_EQ_U64(FEED("$0* #7a"), GDB_RX_PACKET);
    CHECK_EQ_STR((char *)rx.buf, "0000");
    CHECK_EQ_U64(FEED("$}]#da"), GDB_RX_PACKET);
    CHECK_EQ_STR((char *)rx.buf, "}");
    CHECK_EQ_U64(FEED("$* #4a"), GDB_RX_BAD);            /* run with nothing before it */
    CHECK_EQ_U64(FEED("$a}#de"), GDB_RX_BAD);            /* dangling escape */
    CHECK_EQ_U64(FEED("$a*#8b"), GDB_RX_BAD);            /* dangling run */
}

static void test_roundtrip(void)
{
    static char frame[GDB_TX_MAX];
    static uint8_t data[GDB_PKT_MAX];
    srand(7);
    for (int t = 0; t < 2000; t++) {
        size_t len = (size_t)rand() % (t < 1000 ? 64 : GDB_PKT_MAX + 1);
        for (size_t i = 0; i < len; i++)
            data[i] = (uint8_t)(t & 1 ? "#$}*ab"[rand() % 6] : rand());
        size_t n = gdb_frame(frame, sizeof frame, data, len);
        if (!CHECK(n > 0))
            continue;
        gdb_rx_init(&rx);
        CHECK_EQ_U64(feed(frame, n), GDB_RX_PACKET);
        CHECK_EQ_U64(rx.len, len);
        CHECK(!memcmp(rx.buf, data, len));
    }
    /* one byte over the limit: the receiver refuses it */
    memset(data, 'a', sizeof data);
    static char big[GDB_TX_MAX + 16];
    size_t n = gdb_frame(big, sizeof big, data, GDB_PKT_MAX);
    big[n - 3] = 'a';           /* replace '#': one more byte, then a fresh checksum */
    n = (size_t)(n - 2);
    uint8_t sum = 0;
    for (size_t i = 1; i < n; i++)
        sum += (uint8_t)big[i];
    big[n++] = '#';
    big[n++] = "0123456789abcdef"[sum >> 4];
    big[n++] = "0123456789abcdef"[sum & 15];
    gdb_rx_init(&rx);
    CHECK_EQ_U64(feed(big, n), GDB_RX_BAD);
}

static void test_tx(void)
{
    static struct gdb_tx tx;
    CHECK(gdb_tx_set(&tx, (const uint8_t *)"OK", 2));
    CHECK(tx.waiting);
    CHECK(gdb_tx_ack(&tx, false));      /* '-': send again */
    CHECK(!gdb_tx_ack(&tx, true));      /* '+': done */
    CHECK(!tx.waiting);
    CHECK(!gdb_tx_ack(&tx, false));     /* nothing to resend */
    gdb_tx_set(&tx, (const uint8_t *)"OK", 2);
    int resent = 0;
    while (gdb_tx_ack(&tx, false))
        resent++;
    CHECK_EQ_U64(resent, GDB_TX_RETRIES);
    CHECK(!tx.waiting);
}

static void test_hex(void)
{
    char out[17] = { 0 };
    gdb_hex_le(out, 0x1122334455667788ull, 8);
    CHECK_EQ_STR(out, "8877665544332211");
    uint8_t b[3];
    CHECK(gdb_unhex(b, (const uint8_t *)"a0FF01", 3));
    CHECK(b[0] == 0xa0 && b[1] == 0xff && b[2] == 1);
    CHECK(!gdb_unhex(b, (const uint8_t *)"a0FG", 2));
    gdb_hex(out, b, 3);
    out[6] = 0;
    CHECK_EQ_STR(out, "a0ff01");
}

static struct gdb_cmd cmd;
static uint8_t buf[GDB_PKT_MAX];

static enum gdb_cmd_kind P(const char *s)
{
    gdb_parse((const uint8_t *)s, strlen(s), &cmd, buf, sizeof buf);
    return cmd.kind;
}

static void test_parse(void)
{
    CHECK_EQ_U64(P("?"), GDB_STATUS);
    CHECK_EQ_U64(P("g"), GDB_READ_REGS);
    CHECK_EQ_U64(P("gx"), GDB_BAD);
    CHECK_EQ_U64(P("G0011"), GDB_WRITE_REGS);
    CHECK(cmd.dlen == 2 && cmd.data[1] == 0x11);
    CHECK_EQ_U64(P("G001"), GDB_BAD);
    CHECK_EQ_U64(P("p10"), GDB_READ_REG);
    CHECK_EQ_U64(cmd.reg, 16);
    CHECK_EQ_U64(P("p"), GDB_BAD);
    CHECK_EQ_U64(P("P8=78563412"), GDB_WRITE_REG);
    CHECK(cmd.reg == 8 && cmd.dlen == 4 && cmd.data[0] == 0x78);
    CHECK_EQ_U64(P("P8="), GDB_BAD);
    CHECK_EQ_U64(P("m100000,40"), GDB_READ_MEM);
    CHECK(cmd.addr == 0x100000 && cmd.len == 0x40);
    CHECK_EQ_U64(P("m100000"), GDB_BAD);
    CHECK_EQ_U64(P("m,4"), GDB_BAD);
    CHECK_EQ_U64(P("m11112222333344445,4"), GDB_BAD);     /* 17 digits */
    CHECK_EQ_U64(P("M1000,2:cc90"), GDB_WRITE_MEM);
    CHECK(cmd.addr == 0x1000 && cmd.dlen == 2 && cmd.data[0] == 0xcc);
    CHECK_EQ_U64(P("M1000,3:cc90"), GDB_BAD);
    gdb_parse((const uint8_t *)"X10,3:a\0b", 9, &cmd, buf, sizeof buf);
    CHECK(cmd.kind == GDB_WRITE_MEM && cmd.dlen == 3 && cmd.data[1] == 0);
    CHECK_EQ_U64(P("X10,0:"), GDB_WRITE_MEM);
    CHECK_EQ_U64(P("c"), GDB_CONT);
    CHECK(!cmd.has_addr);
    CHECK_EQ_U64(P("s1234"), GDB_STEP);
    CHECK(cmd.has_addr && cmd.addr == 0x1234);
    CHECK_EQ_U64(P("Z0,101234,1"), GDB_INSERT);
    CHECK(cmd.type == 0 && cmd.addr == 0x101234 && cmd.len == 1);
    CHECK_EQ_U64(P("z2,2000,4"), GDB_REMOVE);
    CHECK_EQ_U64(P("Z5,2000,4"), GDB_BAD);
    CHECK_EQ_U64(P("Z1,2000"), GDB_BAD);
    CHECK_EQ_U64(P("Hg2"), GDB_SET_THREAD);
    CHECK(cmd.type == 'g' && cmd.thread == 2);
    CHECK_EQ_U64(P("Hc-1"), GDB_SET_THREAD);
    CHECK_EQ_U64(cmd.thread, (uint64_t)GDB_THREAD_ALL);
    CHECK_EQ_U64(P("Hx1"), GDB_BAD);
    CHECK_EQ_U64(P("Hc-2"), GDB_BAD);
    CHECK_EQ_U64(P("T2"), GDB_THREAD_ALIVE);
    CHECK_EQ_U64(P("vCont?"), GDB_VCONT_QUERY);
    CHECK_EQ_U64(P("vCont;s:2;c"), GDB_VCONT);
    CHECK(cmd.nvcont == 2 && cmd.vcont[0].action == 's' && cmd.vcont[0].thread == 2 &&
          cmd.vcont[1].action == 'c' && cmd.vcont[1].thread == GDB_THREAD_ALL);
    CHECK_EQ_U64(P("vCont;"), GDB_BAD);
    CHECK_EQ_U64(P("vCont"), GDB_BAD);
    CHECK_EQ_U64(P("vCont;c;c;c;c;c;c;c;c;c"), GDB_BAD);
    CHECK_EQ_U64(P("vCont;C05:1;S0b"), GDB_VCONT);
    CHECK(cmd.nvcont == 2 && cmd.vcont[0].action == 'c' && cmd.vcont[0].thread == 1 &&
          cmd.vcont[1].action == 's');
    CHECK_EQ_U64(P("vCont;C"), GDB_BAD);
    CHECK_EQ_U64(P("vCont;t"), GDB_UNKNOWN);
    CHECK_EQ_U64(P("vMustReplyEmpty"), GDB_UNKNOWN);
    CHECK_EQ_U64(P("qSupported:multiprocess+;swbreak+"), GDB_SUPPORTED);
    CHECK_EQ_U64(P("qfThreadInfo"), GDB_THREADS_FIRST);
    CHECK_EQ_U64(P("qsThreadInfo"), GDB_THREADS_NEXT);
    CHECK_EQ_U64(P("qC"), GDB_CURRENT_THREAD);
    CHECK_EQ_U64(P("qCRC:1,2"), GDB_UNKNOWN);
    CHECK_EQ_U64(P("qAttached"), GDB_ATTACHED);
    CHECK_EQ_U64(P("qXfer:features:read:target.xml:0,ffb"), GDB_XFER_FEATURES);
    CHECK(!strcmp(cmd.annex, "target.xml") && cmd.addr == 0 && cmd.len == 0xffb);
    CHECK_EQ_U64(P("qXfer:features:read:target.xml:0"), GDB_BAD);
    CHECK_EQ_U64(P("qXfer:features:read:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:0,1"), GDB_BAD);
    CHECK_EQ_U64(P("D"), GDB_DETACH);
    CHECK_EQ_U64(P("k"), GDB_KILL);
    CHECK_EQ_U64(P(""), GDB_UNKNOWN);
    CHECK_EQ_U64(P("!"), GDB_UNKNOWN);
}

int main(void)
{
    RUN(test_framing);
    RUN(test_roundtrip);
    RUN(test_tx);
    RUN(test_hex);
    RUN(test_parse);
    return check_summary("gdb_packet");
}
