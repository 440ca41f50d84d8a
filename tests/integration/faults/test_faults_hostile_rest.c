/*
 * The heartbeat loop over REST against a hostile HTTP peer: random bytes, a truncated body, a 100
 * MB body (with a length and chunked), HTTP 500, 200 with the wrong JSON, a connection closed in
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

static fx_hostile_fixture f;

static int setup(void **state)
{
    (void)state;
    fx_hostile_setup(&f, hh_start());
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return fx_hostile_teardown(&f);
}

static void run(hh_mode mode, int code, const char *phrase, int http_status)
{
    fx_case c = {code, phrase, http_status};
    fx_hostile_run(&f, mode, &c);
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
    fx_hostile_expect_huge_cut_off(&f, HH_HUGE_LEN);
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
 * calls it incomplete); the transport sees that the section never ended
 * (954a130) and fails the beat as a lost connection, with the status seen
 * so far.
 */
static void test_closed_in_headers(void **state)
{
    (void)state;
    run(HH_CLOSE_IN_HEAD, HBEAT_ETRANSPORT, "closed in the middle of the reply's headers", 200);
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
