/* GDB remote serial protocol packets (see gdb_packet.h). Framing per the gdb manual, "Overview"
 * of the remote protocol: $data#ck with ck the modulo-256 sum of data as sent; '}' escapes the
 * next byte (xor 0x20); '*' repeats the previous byte (count - 29) more times. */
#include "kernel/gdb/gdb_packet.h"
#include "kernel/lib/parse.h"
#include "kernel/lib/string.h"

#define ESC         '}'
#define ESC_XOR     0x20
#define RLE         '*'
#define RLE_BIAS    29

enum { RX_IDLE, RX_DATA, RX_RLE, RX_CK1, RX_CK2 };

void gdb_rx_init(struct gdb_rx *rx)
{
    rx->state = RX_IDLE;
    rx->len = 0;
    rx->bad = rx->esc = false;
    rx->sum = rx->ck = 0;
    rx->buf[0] = 0;
}

static void rx_put(struct gdb_rx *rx, uint8_t c)
{
    if (rx->len >= GDB_PKT_MAX)
        rx->bad = true;
    else
        rx->buf[rx->len++] = c;
}

/* A run: the count byte after '*' repeats the previous byte count - 29 times. Counts that
 * would encode '#' or '$', and a run with nothing before it, make the packet bad. */
static void rx_rle(struct gdb_rx *rx, uint8_t c)
{
    if (c < RLE_BIAS + 3 || c > 126 || rx->len == 0) {
        rx->bad = true;
        return;
    }
    uint8_t prev = rx->buf[rx->len - 1];
    for (int n = c - RLE_BIAS; n > 0; n--)
        rx_put(rx, prev);
}

enum gdb_rx_event gdb_rx_byte(struct gdb_rx *rx, uint8_t c)
{
    int h;
    if (c == '$' && rx->state != RX_CK1 && rx->state != RX_CK2) {
        gdb_rx_init(rx);            /* a new packet: anything unfinished is abandoned */
        rx->state = RX_DATA;
        return GDB_RX_NONE;
    }
    switch (rx->state) {
    case RX_IDLE:
        if (c == GDB_INTR)
            return GDB_RX_INTR;
        if (c == '+')
            return GDB_RX_ACK;
        if (c == '-')
            return GDB_RX_NACK;
        return GDB_RX_NONE;         /* line noise between packets */
    case RX_DATA:
    case RX_RLE:
        if (c == '#') {
            rx->bad |= rx->state == RX_RLE || rx->esc;
            rx->state = RX_CK1;
            return GDB_RX_NONE;
        }
        rx->sum += c;
        if (rx->state == RX_RLE) {
            rx->state = RX_DATA;
            rx_rle(rx, c);
        } else if (rx->esc) {
            rx->esc = false;
            rx_put(rx, c ^ ESC_XOR);
        } else if (c == ESC) {
            rx->esc = true;
        } else if (c == RLE) {
            rx->state = RX_RLE;
        } else {
            rx_put(rx, c);
        }
        return GDB_RX_NONE;
    case RX_CK1:
        h = gdb_hexval(c);
        rx->bad |= h < 0;
        rx->ck = (uint8_t)((h < 0 ? 0 : h) << 4);
        rx->state = RX_CK2;
        return GDB_RX_NONE;
    default:                        /* RX_CK2 */
        h = gdb_hexval(c);
        rx->state = RX_IDLE;
        rx->buf[rx->len] = 0;
        if (h < 0 || rx->bad || (uint8_t)(rx->ck | h) != rx->sum)
            return GDB_RX_BAD;
        return GDB_RX_PACKET;
    }
}

/* ---- sending ---- */

static const char hexdig[] = "0123456789abcdef";

size_t gdb_frame(char *out, size_t cap, const uint8_t *data, size_t len)
{
    size_t o = 0;
    uint8_t sum = 0;
    if (cap < 4)
        return 0;
    out[o++] = '$';
    for (size_t i = 0; i < len; i++) {
        uint8_t c = data[i];
        bool esc = c == '#' || c == '$' || c == ESC || c == RLE;
        if (o + (esc ? 2 : 1) + 3 > cap)
            return 0;
        if (esc) {
            out[o++] = ESC;
            sum += ESC;
            c ^= ESC_XOR;
        }
        out[o++] = (char)c;
        sum += c;
    }
    out[o++] = '#';
    out[o++] = hexdig[sum >> 4];
    out[o++] = hexdig[sum & 15];
    return o;
}

bool gdb_tx_set(struct gdb_tx *tx, const uint8_t *data, size_t len)
{
    tx->len = gdb_frame(tx->frame, sizeof tx->frame, data, len);
    tx->waiting = tx->len != 0;
    tx->retries = 0;
    return tx->len != 0;
}

bool gdb_tx_ack(struct gdb_tx *tx, bool ack)
{
    if (!tx->waiting)
        return false;
    if (ack || ++tx->retries > GDB_TX_RETRIES) {
        tx->waiting = false;
        return false;
    }
    return true;
}

/* ---- hex ---- */

int gdb_hexval(uint8_t c)
{
    return hex_digit((char)c);
}

void gdb_hex(char *out, const uint8_t *bytes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexdig[bytes[i] >> 4];
        out[2 * i + 1] = hexdig[bytes[i] & 15];
    }
}

bool gdb_unhex(uint8_t *out, const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int h = gdb_hexval(s[2 * i]), l = gdb_hexval(s[2 * i + 1]);
        if (h < 0 || l < 0)
            return false;
        out[i] = (uint8_t)(h << 4 | l);
    }
    return true;
}

void gdb_hex_le(char *out, uint64_t val, unsigned nbytes)
{
    for (unsigned i = 0; i < nbytes; i++, val >>= 8) {
        out[2 * i] = hexdig[(val >> 4) & 15];
        out[2 * i + 1] = hexdig[val & 15];
    }
}

/* ---- parsing ---- */

struct cur {
    const uint8_t *p, *end;
};

static bool at_end(const struct cur *c) { return c->p >= c->end; }

static bool eat(struct cur *c, uint8_t ch)
{
    if (at_end(c) || *c->p != ch)
        return false;
    c->p++;
    return true;
}

/* A hex number of 1-16 digits. */
static bool num(struct cur *c, uint64_t *out)
{
    uint64_t v = 0;
    unsigned n = 0;
    int h;
    while (!at_end(c) && (h = gdb_hexval(*c->p)) >= 0) {
        if (++n > 16)
            return false;
        v = v << 4 | (uint64_t)h;
        c->p++;
    }
    *out = v;
    return n > 0;
}

/* A thread id: -1 (all), or a hex number (0 = any). */
static bool thread_id(struct cur *c, int64_t *out)
{
    uint64_t v;
    if (eat(c, '-')) {
        if (!eat(c, '1'))
            return false;
        *out = GDB_THREAD_ALL;
        return true;
    }
    if (!num(c, &v) || v > INT32_MAX)
        return false;
    *out = (int64_t)v;
    return true;
}

static bool prefix(const struct cur *c, const char *s)
{
    size_t n = strlen(s);
    return (size_t)(c->end - c->p) >= n && !memcmp(c->p, s, n);
}

/* Hex bytes up to the end of the packet into buf. */
static bool hex_tail(struct cur *c, struct gdb_cmd *cmd, uint8_t *buf, size_t cap)
{
    size_t n = (size_t)(c->end - c->p);
    if (n % 2 || n / 2 > cap || !gdb_unhex(buf, c->p, n / 2))
        return false;
    cmd->data = buf;
    cmd->dlen = n / 2;
    c->p = c->end;
    return true;
}

static enum gdb_cmd_kind parse_vcont(struct cur *c, struct gdb_cmd *cmd)
{
    if (eat(c, '?'))
        return at_end(c) ? GDB_VCONT_QUERY : GDB_BAD;
    while (eat(c, ';')) {
        if (cmd->nvcont == GDB_VCONT_MAX || at_end(c))
            return GDB_BAD;
        struct gdb_vcont *a = &cmd->vcont[cmd->nvcont++];
        a->action = (char)*c->p++;
        uint64_t sig;
        if (a->action == 'C' || a->action == 'S') {
            /* A VM has no signals to deliver: C and S are c and s (gdb wants all four). */
            if (!num(c, &sig) || sig > 255)
                return GDB_BAD;
            a->action = a->action == 'C' ? 'c' : 's';
        }
        if (a->action != 'c' && a->action != 's')
            return GDB_UNKNOWN;     /* t, r: not offered in vCont? */
        a->thread = GDB_THREAD_ALL;
        if (eat(c, ':') && !thread_id(c, &a->thread))
            return GDB_BAD;
    }
    return at_end(c) && cmd->nvcont ? GDB_VCONT : GDB_BAD;
}

static enum gdb_cmd_kind parse_q(struct cur *c, struct gdb_cmd *cmd)
{
    static const char xfer[] = "qXfer:features:read:";
    if (prefix(c, "qSupported"))
        return GDB_SUPPORTED;
    if (prefix(c, "qfThreadInfo"))
        return GDB_THREADS_FIRST;
    if (prefix(c, "qsThreadInfo"))
        return GDB_THREADS_NEXT;
    if (prefix(c, "qAttached"))
        return GDB_ATTACHED;
    if (c->end - c->p == 2 && prefix(c, "qC"))
        return GDB_CURRENT_THREAD;
    if (!prefix(c, xfer))
        return GDB_UNKNOWN;
    c->p += sizeof xfer - 1;
    size_t n = 0;
    while (!at_end(c) && *c->p != ':') {
        if (n + 1 >= sizeof cmd->annex)
            return GDB_BAD;
        cmd->annex[n++] = (char)*c->p++;
    }
    cmd->annex[n] = 0;
    if (!eat(c, ':') || !num(c, &cmd->addr) || !eat(c, ',') || !num(c, &cmd->len) ||
        !at_end(c))
        return GDB_BAD;
    return GDB_XFER_FEATURES;
}

static enum gdb_cmd_kind parse(struct cur *c, struct gdb_cmd *cmd, uint8_t *buf, size_t cap)
{
    if (at_end(c))
        return GDB_UNKNOWN;
    uint8_t op = *c->p;
    uint64_t v;
    switch (op) {
    case '?': c->p++; return at_end(c) ? GDB_STATUS : GDB_BAD;
    case 'g': c->p++; return at_end(c) ? GDB_READ_REGS : GDB_BAD;
    case 'G': c->p++; return hex_tail(c, cmd, buf, cap) ? GDB_WRITE_REGS : GDB_BAD;
    case 'D': c->p++; return GDB_DETACH;        /* D;pid is multiprocess only: ignored */
    case 'k': c->p++; return GDB_KILL;
    case 'p':
        c->p++;
        if (!num(c, &v) || v > 255 || !at_end(c))
            return GDB_BAD;
        cmd->reg = (unsigned)v;
        return GDB_READ_REG;
    case 'P':
        c->p++;
        if (!num(c, &v) || v > 255 || !eat(c, '='))
            return GDB_BAD;
        cmd->reg = (unsigned)v;
        return hex_tail(c, cmd, buf, cap) && cmd->dlen ? GDB_WRITE_REG : GDB_BAD;
    case 'm': case 'M': case 'X':
        c->p++;
        if (!num(c, &cmd->addr) || !eat(c, ',') || !num(c, &cmd->len))
            return GDB_BAD;
        if (op == 'm')
            return at_end(c) ? GDB_READ_MEM : GDB_BAD;
        if (!eat(c, ':'))
            return GDB_BAD;
        if (op == 'M') {
            if (!hex_tail(c, cmd, buf, cap))
                return GDB_BAD;
        } else {
            cmd->data = c->p;
            cmd->dlen = (size_t)(c->end - c->p);
        }
        return cmd->dlen == cmd->len ? GDB_WRITE_MEM : GDB_BAD;
    case 'c': case 's':
        c->p++;
        if (!at_end(c)) {
            if (!num(c, &cmd->addr) || !at_end(c))
                return GDB_BAD;
            cmd->has_addr = true;
        }
        return op == 'c' ? GDB_CONT : GDB_STEP;
    case 'Z': case 'z':
        c->p++;
        if (!num(c, &v) || v > 4 || !eat(c, ',') || !num(c, &cmd->addr) || !eat(c, ',') ||
            !num(c, &cmd->len))
            return GDB_BAD;
        cmd->type = (unsigned)v;
        /* Conditions and commands (";X...") are an optional extension we do not announce. */
        return op == 'Z' ? GDB_INSERT : GDB_REMOVE;
    case 'H':
        c->p++;
        if (at_end(c) || (*c->p != 'g' && *c->p != 'c'))
            return GDB_BAD;
        cmd->type = *c->p++;
        return thread_id(c, &cmd->thread) && at_end(c) ? GDB_SET_THREAD : GDB_BAD;
    case 'T':
        c->p++;
        return thread_id(c, &cmd->thread) && at_end(c) ? GDB_THREAD_ALIVE : GDB_BAD;
    case 'v':
        if (prefix(c, "vCont")) {
            c->p += 5;
            return parse_vcont(c, cmd);
        }
        return GDB_UNKNOWN;
    case 'q':
        return parse_q(c, cmd);
    default:
        return GDB_UNKNOWN;
    }
}

void gdb_parse(const uint8_t *pkt, size_t len, struct gdb_cmd *cmd, uint8_t *buf, size_t cap)
{
    memset(cmd, 0, sizeof *cmd);
    struct cur c = { pkt, pkt + len };
    cmd->kind = parse(&c, cmd, buf, cap);
}
