/*
 * The heartbeat loop over REST against a hostile HTTP peer (issue 5,
 * point 6): random bytes, a truncated body, a 100 MB body (with a length
 * and chunked), HTTP 500, 200 with the wrong JSON, a connection closed in
 * the status line or in the headers. Each time the beat fails with the right code, the loop goes
 * on, and once the peer is honest again the loop succeeds again, on the
 * same service and gateway. The transport's own unit tests check single
 * calls against the same faults; these check the loop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "hbeat/hbeat.h"
#include "hostile_http.h"
#include "observe.h"

typedef struct fixture {
    hh_peer *peer;
    fx_observer obs;
    hbeat_gateway *gw;
    hh_mode mode; /* the fault of the running test */
} fixture;

static fixture f;

static int setup(void **state)
{
    (void)state;
    f.peer = hh_start();
    fx_observe_begin(&f.obs);
    f.gw = fx_open(hh_url(f.peer), 0.5);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fx_drop_loop(&f.obs);
    hbeat_gateway_free(f.gw);
    /* After the gateway: its connections are gone, so no peer thread is
       left blocked on a client that stopped reading. */
    unsigned unexpected = hh_unexpected(f.peer);
    hh_stop(f.peer);
    fx_observe_end(&f.obs);
    if (unexpected != 0) {
        fprintf(stderr, "%u requests were not heartbeats\n", unexpected);
        return -1;
    }
    return 0;
}

static void set_mode(void *peer, int hostile)
{
    hh_set_mode(peer, hostile ? f.mode : HH_HONEST);
}

static void run(hh_mode mode, int code, const char *phrase, int http_status)
{
    f.mode = mode;
    fx_case c = {code, phrase, http_status};
    fx_run_case(f.gw, &f.obs, &c, set_mode, f.peer);
    assert_true(hh_answered(f.peer, mode) >= 4);
}

/* Not HTTP at all: curl takes it for HTTP/0.9, which it refuses. */
static void test_random_bytes(void **state)
{
    (void)state;
    run(HH_GARBAGE, HBEAT_EPROTO, "HTTP/0.9", 0);
}

/* 10 of 64 announced body bytes, then the connection closes. */
static void test_truncated_body(void **state)
{
    (void)state;
    run(HH_TRUNCATED, HBEAT_ETRANSPORT, "partial file", 200);
}

/* The body is refused at the 64 KiB cap, without reading the 100 MB: the
   client closes the connection, so the peer gets out no more than the
   socket buffers hold. */
static void expect_huge_cut_off(void)
{
    double until = fx_now() + FX_WAIT_S;
    while (hh_huge_done(f.peer) < 3 && fx_now() < until)
        fx_sleep_ms(5);
    assert_true(hh_huge_done(f.peer) >= 3);
    uint64_t sent = hh_huge_sent_max(f.peer);
    if (sent >= HH_HUGE_LEN / 4)
        fail_msg("the peer sent %llu bytes of one 100 MB body", (unsigned long long)sent);
}

static void test_huge_body(void **state)
{
    (void)state;
    run(HH_HUGE, HBEAT_ETOOBIG, "larger than the 65536-byte limit", 200);
    expect_huge_cut_off();
}

static void test_huge_chunked_body(void **state)
{
    (void)state;
    run(HH_HUGE_CHUNKED, HBEAT_ETOOBIG, "larger than the 65536-byte limit", 200);
    expect_huge_cut_off();
}

static void test_http_500(void **state)
{
    (void)state;
    run(HH_500, HBEAT_ESERVER, "HTTP 500", 500);
}

/* Wrong member, wrong type, not a token, not an object, not JSON, a member
   too many, empty: each beat meets the next of them. */
static void test_wrong_json(void **state)
{
    (void)state;
    run(HH_WRONG_JSON, HBEAT_EPROTO, "HTTP 200 from POST", 200);
}

/* Closed in the status line: nothing that is a reply came back. */
static void test_closed_in_status_line(void **state)
{
    (void)state;
    run(HH_CLOSE_IN_STATUS, HBEAT_ETRANSPORT, "Empty reply from server", 0);
}

/*
 * Closed in the middle of a header. libcurl 7.88 takes a header section cut
 * off by the close for a complete reply with an empty body (RFC 9112 §8
 * calls it incomplete), so the transport sees "200, empty body" and fails
 * the beat as a protocol error rather than a lost connection. Still a
 * failure with a clear code and the loop goes on; the message names the
 * empty body. See the report of issue 5 (point 6).
 */
static void test_closed_in_headers(void **state)
{
    (void)state;
    run(HH_CLOSE_IN_HEAD, HBEAT_EPROTO, "(empty body)", 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_random_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_huge_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_huge_chunked_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_500, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_closed_in_status_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_closed_in_headers, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
