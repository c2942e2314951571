/* libFuzzer target for the gdb packet layer (kernel/gdb/gdb_packet.c). The input is fed byte by
 * byte to the receiver as it would arrive on the serial line; every complete packet is parsed,
 * and every packet (good or bad) is checked: a good one's data re-framed and received again
 * gives the same bytes (encode -> decode round trip), and the parser's result is consistent
 * (lengths within the packet, data inside the packet or the parse buffer, payload lengths as the
 * command says). The whole input is also framed and received as one packet's data. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/gdb/gdb_packet.h"

#define ASSERT(c) do { if (!(c)) { fprintf(stderr, "invariant failed: %s\n", #c); abort(); } } while (0)

static struct gdb_rx rx, rx2;
static char frame[GDB_TX_MAX];
static uint8_t buf[GDB_PKT_MAX];

static void check_roundtrip(const uint8_t *data, size_t len)
{
    size_t n = gdb_frame(frame, sizeof frame, data, len);
    ASSERT(n > 0 || len > GDB_PKT_MAX);
    if (!n)
        return;
    ASSERT(frame[0] == '$' && frame[n - 3] == '#');
    gdb_rx_init(&rx2);
    enum gdb_rx_event last = GDB_RX_NONE;
    for (size_t i = 0; i < n; i++) {
        enum gdb_rx_event e = gdb_rx_byte(&rx2, (uint8_t)frame[i]);
        ASSERT(e == GDB_RX_NONE || i == n - 1);
        last = e;
    }
    ASSERT(last == GDB_RX_PACKET);
    ASSERT(rx2.len == len && !memcmp(rx2.buf, data, len));
}

static void check_cmd(const uint8_t *pkt, size_t len)
{
    struct gdb_cmd c;
    gdb_parse(pkt, len, &c, buf, sizeof buf);
    ASSERT(c.kind >= GDB_BAD && c.kind <= GDB_KILL);
    if (c.data) {
        bool in_pkt = c.data >= pkt && c.data + c.dlen <= pkt + len;
        bool in_buf = c.data >= buf && c.data + c.dlen <= buf + sizeof buf;
        ASSERT(in_pkt || in_buf);
    }
    switch (c.kind) {
    case GDB_WRITE_MEM:
        ASSERT(c.data && c.dlen == c.len);
        break;
    case GDB_WRITE_REG:
        ASSERT(c.data && c.dlen > 0 && c.reg <= 255);
        break;
    case GDB_WRITE_REGS:
        ASSERT(c.data && c.dlen * 2 == len - 1);
        break;
    case GDB_INSERT: case GDB_REMOVE:
        ASSERT(c.type <= 4);
        break;
    case GDB_VCONT:
        ASSERT(c.nvcont >= 1 && c.nvcont <= GDB_VCONT_MAX);
        for (unsigned i = 0; i < c.nvcont; i++)
            ASSERT((c.vcont[i].action == 'c' || c.vcont[i].action == 's') &&
                   c.vcont[i].thread >= GDB_THREAD_ALL);
        break;
    case GDB_SET_THREAD:
        ASSERT((c.type == 'g' || c.type == 'c') && c.thread >= GDB_THREAD_ALL);
        break;
    case GDB_XFER_FEATURES:
        ASSERT(strlen(c.annex) < sizeof c.annex);
        break;
    default:
        break;
    }
    /* The same bytes with one more trailing junk byte never crash either. */
    (void)c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gdb_rx_init(&rx);
    for (size_t i = 0; i < size; i++) {
        enum gdb_rx_event e = gdb_rx_byte(&rx, data[i]);
        ASSERT(rx.len <= GDB_PKT_MAX);
        if (e == GDB_RX_PACKET) {
            ASSERT(rx.buf[rx.len] == 0);
            check_roundtrip(rx.buf, rx.len);
            check_cmd(rx.buf, rx.len);
        } else if (e == GDB_RX_INTR) {
            ASSERT(data[i] == GDB_INTR);
        } else if (e == GDB_RX_ACK || e == GDB_RX_NACK) {
            ASSERT(data[i] == (e == GDB_RX_ACK ? '+' : '-'));
        }
    }
    /* The raw input as a command and as packet data. */
    check_cmd(data, size);
    if (size <= GDB_PKT_MAX)
        check_roundtrip(data, size);
    /* Hex helpers: unhex of hex is the identity. */
    static char hex[2 * 64];
    uint8_t back[64];
    size_t n = size < 64 ? size : 64;
    gdb_hex(hex, data, n);
    ASSERT(gdb_unhex(back, (const uint8_t *)hex, n) && !memcmp(back, data, n));
    return 0;
}
