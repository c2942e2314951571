/* The GDB remote serial protocol's packet layer: framing ($data#ck), checksums, acks and
 * retransmission, escape (}) and run-length (*) decoding, hex helpers, and parsing of the
 * commands Keel's stub answers into a struct. Pure: compiles in the kernel and on the host
 * (unit tests, libFuzzer). The stub (gdb_stub.c) does the rest. */
#ifndef KERNEL_GDB_PACKET_H
#define KERNEL_GDB_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GDB_PKT_MAX     4096    /* decoded packet data we accept; announced as PacketSize */
#define GDB_INTR        0x03    /* Ctrl-C outside a packet */
#define GDB_VCONT_MAX   8

/* ---- receiving: one byte at a time ---- */
enum gdb_rx_event {
    GDB_RX_NONE,        /* nothing complete yet */
    GDB_RX_PACKET,      /* a packet with a good checksum: data in rx->buf, rx->len (send '+') */
    GDB_RX_BAD,         /* a packet with a bad checksum, bad escape or too long (send '-') */
    GDB_RX_INTR,        /* Ctrl-C */
    GDB_RX_ACK,         /* '+' */
    GDB_RX_NACK,        /* '-' */
};

struct gdb_rx {
    int state;
    uint8_t sum, ck;
    bool bad, esc;
    size_t len;
    uint8_t buf[GDB_PKT_MAX + 1];   /* NUL-terminated for convenience; data may hold NULs */
};

void gdb_rx_init(struct gdb_rx *rx);
/* In the middle of a packet (state 0 is the idle state between packets). */
static inline bool gdb_rx_busy(const struct gdb_rx *rx) { return rx->state != 0; }
enum gdb_rx_event gdb_rx_byte(struct gdb_rx *rx, uint8_t c);

/* ---- sending ---- */
/* Frames data as $<escaped data>#ck into out (cap bytes). Returns the frame's length, or 0 if
 * it does not fit. '#', '$', '}' and '*' are escaped. */
size_t gdb_frame(char *out, size_t cap, const uint8_t *data, size_t len);

/* The last frame sent, kept until it is acked; a '-' (or silence, see the stub) resends it. */
#define GDB_TX_MAX      (2 * GDB_PKT_MAX + 8)
#define GDB_TX_RETRIES  8
struct gdb_tx {
    char frame[GDB_TX_MAX];
    size_t len;
    bool waiting;       /* sent, not yet acked */
    unsigned retries;
};
/* Returns false when the frame did not fit (then nothing is kept). */
bool gdb_tx_set(struct gdb_tx *tx, const uint8_t *data, size_t len);
/* A '+' or '-' (ack = false) arrived: true when the frame must be sent again (a '-' while
 * waiting, at most GDB_TX_RETRIES times; then it is dropped). */
bool gdb_tx_ack(struct gdb_tx *tx, bool ack);

/* ---- hex ---- */
int gdb_hexval(uint8_t c);                                          /* -1 if not hex */
void gdb_hex(char *out, const uint8_t *bytes, size_t n);           /* 2n chars, no NUL */
/* Parses n hex pairs from s into out; false on a non-hex character. */
bool gdb_unhex(uint8_t *out, const uint8_t *s, size_t n);
/* A value as n little-endian bytes in hex (register format). */
void gdb_hex_le(char *out, uint64_t val, unsigned nbytes);

/* ---- commands ---- */
enum gdb_cmd_kind {
    GDB_BAD,            /* malformed: answer E01 */
    GDB_UNKNOWN,        /* not supported: answer with an empty packet */
    GDB_STATUS,         /* ? */
    GDB_READ_REGS,      /* g */
    GDB_WRITE_REGS,     /* G data */
    GDB_READ_REG,       /* p reg */
    GDB_WRITE_REG,      /* P reg=data */
    GDB_READ_MEM,       /* m addr,len */
    GDB_WRITE_MEM,      /* M addr,len:hex and X addr,len:binary */
    GDB_CONT,           /* c [addr] */
    GDB_STEP,           /* s [addr] */
    GDB_VCONT,          /* vCont;action[:thread]... */
    GDB_VCONT_QUERY,    /* vCont? */
    GDB_INSERT,         /* Z type,addr,kind */
    GDB_REMOVE,         /* z type,addr,kind */
    GDB_SET_THREAD,     /* H op thread */
    GDB_THREAD_ALIVE,   /* T thread */
    GDB_SUPPORTED,      /* qSupported[:features] */
    GDB_THREADS_FIRST,  /* qfThreadInfo */
    GDB_THREADS_NEXT,   /* qsThreadInfo */
    GDB_CURRENT_THREAD, /* qC */
    GDB_ATTACHED,       /* qAttached */
    GDB_XFER_FEATURES,  /* qXfer:features:read:annex:offset,length */
    GDB_DETACH,         /* D */
    GDB_KILL,           /* k */
};

#define GDB_THREAD_ALL  (-1)
#define GDB_THREAD_ANY  0

struct gdb_vcont {
    char action;        /* 'c' or 's' */
    int64_t thread;     /* GDB_THREAD_ALL when the action has no thread */
};

struct gdb_cmd {
    enum gdb_cmd_kind kind;
    uint64_t addr, len;         /* m M X Z z; qXfer offset and length */
    bool has_addr;              /* c/s with an address */
    unsigned type;              /* Z/z type 0-4; H operation ('g', 'c') */
    unsigned reg;               /* p P */
    int64_t thread;             /* H T */
    const uint8_t *data;        /* G P M X: the bytes to write (in the parse buffer) */
    size_t dlen;
    unsigned nvcont;
    struct gdb_vcont vcont[GDB_VCONT_MAX];
    char annex[32];             /* qXfer */
};

/* Parses one packet's data (as gdb_rx delivered it). Hex payloads are decoded into buf (cap
 * bytes); cmd->data may point there or into pkt. Never reads beyond pkt[len]. */
void gdb_parse(const uint8_t *pkt, size_t len, struct gdb_cmd *cmd, uint8_t *buf, size_t cap);

#endif
