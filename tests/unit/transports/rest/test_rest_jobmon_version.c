/* Jobmon's client_jobmon_version query parameter: hbeat's own version by
   default, the configured one when set (escaped where a URL needs it),
   and a clear refusal of values that are no version at all. */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hbeat/hbeat.h"
#include "support/rest_peer.h"

static int setup(void **state)
{
    *state = peer_start();
    return 0;
}

static int teardown(void **state)
{
    peer_stop(*state);
    return 0;
}

static int open_with(peer *p, hbeat_gateway_options *o, hbeat_gateway **gw, hbeat_error *err)
{
    o->request_timeout = 10;
    *gw = NULL;
    hbeat_error_clear(err);
    return hbeat_gateway_open(gw, peer_url(p), o, err);
}

/* A heartbeat and a status update; the query string of each. */
static void both_queries(peer *p, hbeat_gateway *gw, char beat_q[1024], char update_q[1024])
{
    int first = peer_request_count(p);
    char out[HBEAT_STATUS_MAX + 1];
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbeat_gateway_log_heartbeat(gw, 4, "R", 93.0, out, &err) != 0)
        fail_msg("beat: %s", err.message);
    if (hbeat_gateway_update_status(gw, 4, "D", out, &err) != 0)
        fail_msg("update_status: %s", err.message);
    peer_request r;
    assert_int_equal(peer_get(p, first, &r), 0);
    assert_string_equal(r.path, "/api/v3/workflow_run/4/log_heartbeat");
    memcpy(beat_q, r.query, sizeof(r.query));
    assert_int_equal(peer_get(p, first + 1, &r), 0);
    assert_string_equal(r.path, "/api/v3/workflow_run/4/update_status");
    memcpy(update_q, r.query, sizeof(r.query));
}

static void expect_sent(peer *p, const char *option, const char *on_the_wire)
{
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.client_jobmon_version = option;
    hbeat_gateway *gw;
    hbeat_error err;
    if (open_with(p, &o, &gw, &err) != 0)
        fail_msg("open with \"%s\": %s", option ? option : "(null)", err.message);
    char want[1024], beat_q[1024], update_q[1024];
    snprintf(want, sizeof(want), "client_jobmon_version=%s", on_the_wire);
    both_queries(p, gw, beat_q, update_q);
    hbeat_gateway_free(gw);
    assert_string_equal(beat_q, want);
    assert_string_equal(update_q, want);
}

static void test_default_is_hbeats_version(void **state)
{
    expect_sent(*state, NULL, hbeat_version());
}

static void test_configured_value_is_sent(void **state)
{
    expect_sent(*state, "3.6.0", "3.6.0");
    expect_sent(*state, "3.4.24.dev1", "3.4.24.dev1");
}

/* Characters a query string cannot carry as they are go percent-encoded,
   so the server reads back exactly the value given. */
static void test_value_is_escaped(void **state)
{
    expect_sent(*state, "3.6.0 beta&x=1+y/\xc3\xa9#?%",
                "3.6.0%20beta%26x%3D1%2By%2F%C3%A9%23%3F%25");
}

/* 64 bytes is the longest; escaped, it still fits the URL. */
static void test_longest_value(void **state)
{
    char v[65], wire[3 * 64 + 1];
    memset(v, '&', 64);
    v[64] = '\0';
    for (int i = 0; i < 64; i++)
        memcpy(wire + 3 * i, "%26", 3);
    wire[3 * 64] = '\0';
    expect_sent(*state, v, wire);
}

static void expect_refused(peer *p, const char *value, const char *why)
{
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.client_jobmon_version = value;
    hbeat_gateway *gw;
    hbeat_error err;
    assert_int_equal(open_with(p, &o, &gw, &err), HBEAT_EINVAL);
    assert_null(gw);
    if (strstr(err.message, "client_jobmon_version") == NULL || strstr(err.message, why) == NULL)
        fail_msg("refusal of \"%s\" says: %s", value, err.message);
}

static void test_bad_values_are_refused(void **state)
{
    char long_one[66];
    memset(long_one, '1', 65);
    long_one[65] = '\0';
    expect_refused(*state, "", "empty");
    expect_refused(*state, long_one, "65 bytes long; at most 64");
    expect_refused(*state, "3.6.0\n", "control character");
    expect_refused(*state, "3.6\r\n0", "control character");
    expect_refused(*state, "3.6.0\x7f", "control character");
    assert_int_equal(peer_request_count(*state), 0);
}

/* A caller built against version 1 of the options has no such member:
   whatever lies after the struct is never read. */
static void test_version_1_options_send_the_default(void **state)
{
    peer *p = *state;
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.version = 1;
    o.client_jobmon_version = "not read";
    hbeat_gateway *gw;
    hbeat_error err;
    if (open_with(p, &o, &gw, &err) != 0)
        fail_msg("open with version 1: %s", err.message);
    char beat_q[1024], update_q[1024], want[128];
    both_queries(p, gw, beat_q, update_q);
    hbeat_gateway_free(gw);
    snprintf(want, sizeof(want), "client_jobmon_version=%s", hbeat_version());
    assert_string_equal(beat_q, want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_default_is_hbeats_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_configured_value_is_sent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_value_is_escaped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_longest_value, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_values_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_1_options_send_the_default, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
