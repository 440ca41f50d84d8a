/*
 * The frames an nng client sends after its greeting, as hbeatd's reader
 * takes them (src/server/front/nng/sp_wire.c). The first input byte picks tcp or ipc
 * framing, the body limit and a chunk size; the rest is the byte stream.
 *
 * Besides "no crash": fed whole and fed in pieces, the reader must find
 * the same events with the same bodies (a peer chooses how its bytes are
 * split); a body is never larger than the limit, a TOO_LARGE prefix never
 * larger than a backtrace, and the reader never holds a buffer larger
 * than the frame it reads (memory follows what arrived).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_support.h"
#include "sp_wire.h"

#define MAX_EVENTS 4096

typedef struct seen {
    int n;
    hbd_sp_event ev[MAX_EVENTS];
    uint32_t sum[MAX_EVENTS]; /* of the body, to compare cheaply */
    size_t len[MAX_EVENTS];
} seen;

static uint32_t checksum(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static void run(const uint8_t *in, size_t len, int ipc, size_t max_body, size_t chunk, seen *out)
{
    hbd_sp_reader r;
    hbd_sp_reader_init(&r, ipc, max_body);
    out->n = 0;
    size_t pos = 0;
    while (pos < len && out->n < MAX_EVENTS) {
        size_t n = len - pos < chunk ? len - pos : chunk;
        size_t used = 0;
        hbd_sp_event ev = hbd_sp_reader_feed(&r, in + pos, n, &used);
        FUZZ_CHECK(used <= n, "used %zu of %zu", used, n);
        FUZZ_CHECK(r.body_cap <= (max_body > 512 ? max_body : 512), "a %zu-byte buffer",
                   r.body_cap);
        pos += used;
        if (ev == HBD_SP_MORE) {
            FUZZ_CHECK(used == n, "MORE after %zu of %zu bytes", used, n);
            continue;
        }
        size_t blen = 0;
        const uint8_t *body = hbd_sp_reader_body(&r, &blen);
        if (ev == HBD_SP_MESSAGE)
            FUZZ_CHECK(blen >= 4 && blen <= max_body, "a %zu-byte body", blen);
        if (ev == HBD_SP_TOO_LARGE)
            FUZZ_CHECK(blen >= 4 && blen <= HBD_SP_MAX_BACKTRACE, "a %zu-byte prefix", blen);
        out->ev[out->n] = ev;
        out->len[out->n] = blen;
        out->sum[out->n] = ev == HBD_SP_BAD ? 0 : checksum(body, blen);
        out->n++;
        if (ev == HBD_SP_BAD)
            break; /* the connection is dropped */
    }
    hbd_sp_reader_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int ipc = data[0] & 1;
    size_t max_body = 4 + ((data[0] >> 1) & 7) * 37;
    size_t chunk = 1 + (data[0] >> 4);
    static seen whole, pieces;
    run(data + 1, size - 1, ipc, max_body, size, &whole);
    run(data + 1, size - 1, ipc, max_body, chunk, &pieces);
    FUZZ_CHECK(whole.n == pieces.n, "%d events whole, %d in pieces of %zu", whole.n, pieces.n,
               chunk);
    for (int i = 0; i < whole.n; i++) {
        FUZZ_CHECK(whole.ev[i] == pieces.ev[i] && whole.len[i] == pieces.len[i] &&
                       whole.sum[i] == pieces.sum[i],
                   "event %d differs between whole and pieces", i);
    }
    return 0;
}
