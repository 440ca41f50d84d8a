/*
 * The SP wire protocol that nng's REQ clients speak, as hbeatd reads it:
 * an 8-byte greeting each way ("\0SP\0", the protocol number, two zero
 * bytes), then frames of a 64-bit big-endian length and a body (over ipc a
 * type byte 1 comes first). A REQ body starts with its backtrace: 4-byte
 * words, the last one (the request id) with its top bit set; the reply
 * carries the same backtrace back.
 *
 * hbeatd speaks this itself instead of through libnng's listeners: libnng
 * 1.5.2 wedges its reaper when a peer vanishes with requests in flight
 * (see docs/security.md). No sockets here, so that the reader can be
 * tested and fuzzed on plain bytes.
 */
#ifndef HBD_SP_WIRE_H
#define HBD_SP_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define HBD_SP_GREETING_LEN 8
#define HBD_SP_PROTO_REQ0   0x30
#define HBD_SP_PROTO_REP0   0x31
/* Hops a backtrace may carry (nng's default max TTL). */
#define HBD_SP_MAX_HOPS      8
#define HBD_SP_MAX_BACKTRACE (4 * HBD_SP_MAX_HOPS)
/* A frame's header: the ipc type byte, then the length. */
#define HBD_SP_MAX_FRAME_HEAD 9

/* Our greeting, for protocol `proto`. */
void hbd_sp_greeting(uint8_t out[HBD_SP_GREETING_LEN], uint16_t proto);
/* 0 when `in` is a greeting from protocol `peer`, else -1. */
int hbd_sp_check_greeting(const uint8_t in[HBD_SP_GREETING_LEN], uint16_t peer);

/* The length of the backtrace at the start of a body: 4 to
   HBD_SP_MAX_BACKTRACE bytes; 0 when there is none (too short, or no
   word with the top bit set within the hop limit). */
size_t hbd_sp_backtrace_len(const uint8_t *body, size_t len);

/* A frame header for a body of `len` bytes; returns its size. */
size_t hbd_sp_frame_head(uint8_t out[HBD_SP_MAX_FRAME_HEAD], int ipc, uint64_t len);

typedef enum hbd_sp_event {
    HBD_SP_MORE,      /* every byte consumed; nothing complete yet */
    HBD_SP_MESSAGE,   /* a whole body: hbd_sp_reader_body() */
    HBD_SP_TOO_LARGE, /* a body over the limit: its backtrace is in
                         hbd_sp_reader_body(); the rest is skipped */
    HBD_SP_BAD        /* not the protocol: drop the connection */
} hbd_sp_event;

/* An incremental frame reader. A body is kept as it arrives, never
   reserved at its declared length: a peer that declares a large frame
   and stalls holds only what it sent. */
typedef struct hbd_sp_reader {
    int ipc;
    size_t max_body;
    /* Private. */
    int state;
    uint8_t head[HBD_SP_MAX_FRAME_HEAD];
    size_t head_got;
    uint64_t body_len, body_got;
    uint8_t *body;
    size_t body_cap;
} hbd_sp_reader;

void hbd_sp_reader_init(hbd_sp_reader *r, int ipc, size_t max_body);
/* Reads from `in` until a frame completes, the input runs out or the
   input is bad; *used gets the bytes consumed. */
hbd_sp_event hbd_sp_reader_feed(hbd_sp_reader *r, const uint8_t *in, size_t len, size_t *used);
/* After MESSAGE or TOO_LARGE: the body (or its first bytes), valid until
   the next feed. */
const uint8_t *hbd_sp_reader_body(const hbd_sp_reader *r, size_t *len);
/* 1 while part of a frame has arrived. */
int hbd_sp_reader_partial(const hbd_sp_reader *r);
void hbd_sp_reader_free(hbd_sp_reader *r);

#endif /* HBD_SP_WIRE_H */
