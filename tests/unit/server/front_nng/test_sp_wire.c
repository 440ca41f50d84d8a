/*
 * The SP wire reader (src/server/front/nng/sp_wire.c): greetings, backtraces, frames
 * over tcp and ipc, fed whole or a byte at a time; bodies over the limit
 * answered from their first bytes and skipped; memory only for bytes that
 * arrived.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sp_wire.h"

/* A frame: [type byte over ipc] length, then `body`. */
static size_t frame(uint8_t *out, int ipc, const uint8_t *body, size_t len)
{
    size_t n = hbd_sp_frame_head(out, ipc, len);
    memcpy(out + n, body, len);
    return n + len;
}

static void test_greeting(void **state)
{
    (void)state;
    uint8_t g[HBD_SP_GREETING_LEN];
    hbd_sp_greeting(g, HBD_SP_PROTO_REP0);
    static const uint8_t want[] = {0, 'S', 'P', 0, 0x00, 0x31, 0, 0};
    assert_memory_equal(g, want, sizeof want);
    static const uint8_t req[] = {0, 'S', 'P', 0, 0x00, 0x30, 0, 0};
    assert_int_equal(hbd_sp_check_greeting(req, HBD_SP_PROTO_REQ0), 0);
    assert_int_equal(hbd_sp_check_greeting(g, HBD_SP_PROTO_REQ0), -1); /* a REP peer */
    static const uint8_t reserved[] = {0, 'S', 'P', 0, 0x00, 0x30, 0, 1};
    assert_int_equal(hbd_sp_check_greeting(reserved, HBD_SP_PROTO_REQ0), -1);
    static const uint8_t http[] = {'G', 'E', 'T', ' ', '/', ' ', 'H', 'T'};
    assert_int_equal(hbd_sp_check_greeting(http, HBD_SP_PROTO_REQ0), -1);
}

static void test_backtrace(void **state)
{
    (void)state;
    static const uint8_t direct[] = {0x80, 0, 0, 1, 'x'};
    assert_int_equal(hbd_sp_backtrace_len(direct, sizeof direct), 4);
    /* Through a device: one hop before the request id. */
    static const uint8_t hop[] = {0, 0, 0, 7, 0x80, 0, 0, 1};
    assert_int_equal(hbd_sp_backtrace_len(hop, sizeof hop), 8);
    static const uint8_t none[] = {0, 0, 0, 7, 0, 0, 0, 1};
    assert_int_equal(hbd_sp_backtrace_len(none, sizeof none), 0);
    assert_int_equal(hbd_sp_backtrace_len(direct, 3), 0);
    /* More hops than nng's limit: no request id within reach. */
    uint8_t deep[4 * (HBD_SP_MAX_HOPS + 1)] = {0};
    deep[4 * HBD_SP_MAX_HOPS] = 0x80;
    assert_int_equal(hbd_sp_backtrace_len(deep, sizeof deep), 0);
    deep[4 * (HBD_SP_MAX_HOPS - 1)] = 0x80;
    assert_int_equal(hbd_sp_backtrace_len(deep, sizeof deep), HBD_SP_MAX_BACKTRACE);
}

/* Feeds all of `in`, `step` bytes at a time; counts messages and checks
   each body against `want`. */
static int feed_all(hbd_sp_reader *r, const uint8_t *in, size_t len, size_t step,
                    const uint8_t *want, size_t want_len)
{
    int messages = 0;
    size_t pos = 0;
    while (pos < len) {
        size_t n = len - pos < step ? len - pos : step;
        size_t used = 0;
        hbd_sp_event ev = hbd_sp_reader_feed(r, in + pos, n, &used);
        assert_true(used <= n);
        pos += used;
        if (ev == HBD_SP_MESSAGE) {
            size_t blen;
            const uint8_t *body = hbd_sp_reader_body(r, &blen);
            assert_int_equal(blen, want_len);
            assert_memory_equal(body, want, want_len);
            messages++;
        } else {
            assert_int_equal(ev, HBD_SP_MORE);
            assert_int_equal(used, n);
        }
    }
    return messages;
}

static void test_frames_whole_and_in_pieces(void **state)
{
    (void)state;
    static const uint8_t body[] = {0x80, 0, 0, 9, 'h', 'e', 'l', 'l', 'o'};
    for (int ipc = 0; ipc <= 1; ipc++) {
        uint8_t wire[3 * 64];
        size_t n = 0;
        for (int i = 0; i < 3; i++)
            n += frame(wire + n, ipc, body, sizeof body);
        static const size_t steps[] = {1, 2, 7, 64, 1000};
        for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
            hbd_sp_reader r;
            hbd_sp_reader_init(&r, ipc, 1024);
            assert_int_equal(feed_all(&r, wire, n, steps[s], body, sizeof body), 3);
            assert_false(hbd_sp_reader_partial(&r));
            hbd_sp_reader_free(&r);
        }
    }
}

static void test_bad_frames(void **state)
{
    (void)state;
    hbd_sp_reader r;
    size_t used;
    /* ipc: a type byte other than 1. */
    hbd_sp_reader_init(&r, 1, 1024);
    static const uint8_t bad_type[] = {2, 0, 0, 0, 0, 0, 0, 0, 4};
    assert_int_equal(hbd_sp_reader_feed(&r, bad_type, sizeof bad_type, &used), HBD_SP_BAD);
    hbd_sp_reader_free(&r);
    /* A body too short to hold a request id. */
    hbd_sp_reader_init(&r, 0, 1024);
    static const uint8_t short_body[] = {0, 0, 0, 0, 0, 0, 0, 3, 0x80, 0, 0};
    assert_int_equal(hbd_sp_reader_feed(&r, short_body, sizeof short_body, &used), HBD_SP_BAD);
    hbd_sp_reader_free(&r);
}

static void test_too_large_is_answered_from_its_first_bytes(void **state)
{
    (void)state;
    hbd_sp_reader r;
    hbd_sp_reader_init(&r, 0, 16);
    /* 2^40 bytes declared: the request id arrives, the rest is skipped. */
    uint8_t head[HBD_SP_MAX_FRAME_HEAD];
    uint64_t declared = (uint64_t)1 << 40;
    size_t hn = hbd_sp_frame_head(head, 0, declared);
    size_t used;
    assert_int_equal(hbd_sp_reader_feed(&r, head, hn, &used), HBD_SP_MORE);
    uint8_t chunk[4096];
    memset(chunk, 0, sizeof chunk);
    chunk[0] = 0x80;
    chunk[3] = 5;
    assert_int_equal(hbd_sp_reader_feed(&r, chunk, sizeof chunk, &used), HBD_SP_TOO_LARGE);
    assert_int_equal(used, HBD_SP_MAX_BACKTRACE);
    size_t len;
    const uint8_t *prefix = hbd_sp_reader_body(&r, &len);
    assert_int_equal(len, HBD_SP_MAX_BACKTRACE);
    assert_int_equal(hbd_sp_backtrace_len(prefix, len), 4);
    /* The rest is consumed and never stored. */
    for (int i = 0; i < 100; i++) {
        assert_int_equal(hbd_sp_reader_feed(&r, chunk, sizeof chunk, &used), HBD_SP_MORE);
        assert_int_equal(used, sizeof chunk);
    }
    assert_true(r.body_cap <= HBD_SP_MAX_BACKTRACE);
    assert_true(hbd_sp_reader_partial(&r));
    hbd_sp_reader_free(&r);

    /* A small oversized frame is skipped whole; the next one is read. */
    hbd_sp_reader_init(&r, 0, 8);
    uint8_t wire[128];
    static const uint8_t big[] = {0x80, 0, 0, 1, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'};
    static const uint8_t ok[] = {0x80, 0, 0, 2, 'o', 'k'};
    size_t n = frame(wire, 0, big, sizeof big);
    n += frame(wire + n, 0, ok, sizeof ok);
    size_t pos = 0;
    assert_int_equal(hbd_sp_reader_feed(&r, wire, n, &used), HBD_SP_TOO_LARGE);
    pos += used;
    assert_int_equal(hbd_sp_reader_feed(&r, wire + pos, n - pos, &used), HBD_SP_MESSAGE);
    const uint8_t *body = hbd_sp_reader_body(&r, &len);
    assert_int_equal(len, sizeof ok);
    assert_memory_equal(body, ok, sizeof ok);
    hbd_sp_reader_free(&r);
}

static void test_memory_follows_the_bytes_that_arrived(void **state)
{
    (void)state;
    hbd_sp_reader r;
    hbd_sp_reader_init(&r, 1, 1024 * 1024);
    /* A peer declares 1 MiB minus a little and stalls after 10 bytes. */
    uint8_t head[HBD_SP_MAX_FRAME_HEAD];
    size_t hn = hbd_sp_frame_head(head, 1, 1024 * 1024 - 16);
    size_t used;
    assert_int_equal(hbd_sp_reader_feed(&r, head, hn, &used), HBD_SP_MORE);
    static const uint8_t some[10] = {0x80, 0, 0, 1};
    assert_int_equal(hbd_sp_reader_feed(&r, some, sizeof some, &used), HBD_SP_MORE);
    assert_true(r.body_cap <= 512);
    assert_true(hbd_sp_reader_partial(&r));
    hbd_sp_reader_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greeting),
        cmocka_unit_test(test_backtrace),
        cmocka_unit_test(test_frames_whole_and_in_pieces),
        cmocka_unit_test(test_bad_frames),
        cmocka_unit_test(test_too_large_is_answered_from_its_first_bytes),
        cmocka_unit_test(test_memory_follows_the_bytes_that_arrived),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
