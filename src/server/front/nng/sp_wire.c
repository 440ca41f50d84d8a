#include "sp_wire.h"

#include <stdlib.h>
#include <string.h>

/* A body's buffer starts this small and doubles as bytes arrive. */
#define FIRST_CAP 512
/* An idle reader keeps a buffer up to this size for the next frame. */
#define KEEP_CAP 4096

enum { S_HEAD, S_BODY, S_PREFIX, S_SKIP, S_DONE };

void hbd_sp_greeting(uint8_t out[HBD_SP_GREETING_LEN], uint16_t proto)
{
    const uint8_t g[HBD_SP_GREETING_LEN] = {
        0, 'S', 'P', 0, (uint8_t)(proto >> 8), (uint8_t)(proto & 0xff), 0, 0};
    memcpy(out, g, sizeof g);
}

int hbd_sp_check_greeting(const uint8_t in[HBD_SP_GREETING_LEN], uint16_t peer)
{
    uint8_t want[HBD_SP_GREETING_LEN];
    hbd_sp_greeting(want, peer);
    return memcmp(in, want, sizeof want) == 0 ? 0 : -1;
}

size_t hbd_sp_backtrace_len(const uint8_t *body, size_t len)
{
    for (size_t n = 4; n <= HBD_SP_MAX_BACKTRACE && n <= len; n += 4) {
        if (body[n - 4] & 0x80)
            return n;
    }
    return 0;
}

size_t hbd_sp_frame_head(uint8_t out[HBD_SP_MAX_FRAME_HEAD], int ipc, uint64_t len)
{
    size_t n = 0;
    if (ipc)
        out[n++] = 1;
    for (int i = 7; i >= 0; i--)
        out[n++] = (uint8_t)(len >> (8 * i));
    return n;
}

void hbd_sp_reader_init(hbd_sp_reader *r, int ipc, size_t max_body)
{
    memset(r, 0, sizeof *r);
    r->ipc = ipc;
    r->max_body = max_body;
    r->state = S_HEAD;
}

static int reserve(hbd_sp_reader *r, size_t cap)
{
    uint8_t *b = realloc(r->body, cap);
    if (b == NULL)
        return -1;
    r->body = b;
    r->body_cap = cap;
    return 0;
}

/* The header is complete: check it and pick what follows. */
static hbd_sp_event start_body(hbd_sp_reader *r)
{
    const uint8_t *p = r->head;
    if (r->ipc && *p++ != 1)
        return HBD_SP_BAD;
    uint64_t len = 0;
    for (int i = 0; i < 8; i++)
        len = (len << 8) | p[i];
    if (len < 4)
        return HBD_SP_BAD; /* no room for a request id */
    r->body_len = len;
    r->body_got = 0;
    r->state = len > r->max_body ? S_PREFIX : S_BODY;
    return HBD_SP_MORE;
}

/* Copies what fits of `in` into the body, growing it with what arrived. */
static int take(hbd_sp_reader *r, uint64_t want, const uint8_t *in, size_t len, size_t *pos)
{
    size_t n = len - *pos;
    if (n > want - r->body_got)
        n = (size_t)(want - r->body_got);
    size_t need = (size_t)r->body_got + n;
    /* Grow ahead of the bytes by doubling, never past the frame. */
    if (need > r->body_cap) {
        size_t ahead = r->body_cap ? r->body_cap * 2 : FIRST_CAP;
        if (ahead < need)
            ahead = need;
        if (ahead > want)
            ahead = (size_t)want;
        if (reserve(r, ahead) != 0)
            return -1;
    }
    memcpy(r->body + r->body_got, in + *pos, n);
    r->body_got += n;
    *pos += n;
    return 0;
}

hbd_sp_event hbd_sp_reader_feed(hbd_sp_reader *r, const uint8_t *in, size_t len, size_t *used)
{
    size_t pos = 0;
    hbd_sp_event ev = HBD_SP_MORE;
    if (r->state == S_DONE) {
        r->state = S_HEAD;
        if (r->body_cap > KEEP_CAP) {
            free(r->body);
            r->body = NULL;
            r->body_cap = 0;
        }
    }
    while (ev == HBD_SP_MORE && pos < len) {
        size_t head_len = r->ipc ? 9 : 8;
        switch (r->state) {
        case S_HEAD: {
            size_t n = head_len - r->head_got;
            if (n > len - pos)
                n = len - pos;
            memcpy(r->head + r->head_got, in + pos, n);
            r->head_got += n;
            pos += n;
            if (r->head_got == head_len) {
                r->head_got = 0;
                ev = start_body(r);
            }
            break;
        }
        case S_BODY:
            if (take(r, r->body_len, in, len, &pos) != 0)
                ev = HBD_SP_BAD;
            else if (r->body_got == r->body_len) {
                r->state = S_DONE;
                ev = HBD_SP_MESSAGE;
            }
            break;
        case S_PREFIX: {
            uint64_t want = r->body_len < HBD_SP_MAX_BACKTRACE ? r->body_len : HBD_SP_MAX_BACKTRACE;
            if (take(r, want, in, len, &pos) != 0)
                ev = HBD_SP_BAD;
            else if (r->body_got == want) {
                r->state = S_SKIP;
                ev = HBD_SP_TOO_LARGE;
            }
            break;
        }
        case S_SKIP: {
            uint64_t left = r->body_len - r->body_got;
            size_t n = len - pos < left ? len - pos : (size_t)left;
            r->body_got += n;
            pos += n;
            break;
        }
        }
        if (r->state == S_SKIP && r->body_got == r->body_len && ev == HBD_SP_MORE)
            r->state = S_HEAD;
    }
    /* A TOO_LARGE body that the prefix already covered is done too. */
    if (ev == HBD_SP_TOO_LARGE && r->body_got == r->body_len)
        r->state = S_DONE;
    *used = pos;
    return ev;
}

const uint8_t *hbd_sp_reader_body(const hbd_sp_reader *r, size_t *len)
{
    *len = r->state == S_SKIP || r->state == S_DONE
               ? (size_t)(r->body_len < r->body_got ? r->body_len : r->body_got)
               : 0;
    if (r->state == S_SKIP && *len > HBD_SP_MAX_BACKTRACE)
        *len = HBD_SP_MAX_BACKTRACE;
    return r->body;
}

int hbd_sp_reader_partial(const hbd_sp_reader *r)
{
    return r->head_got > 0 || r->state == S_BODY || r->state == S_PREFIX || r->state == S_SKIP;
}

void hbd_sp_reader_free(hbd_sp_reader *r)
{
    free(r->body);
    r->body = NULL;
    r->body_cap = 0;
}
