/* What an error reply's message says: the reason Jobmon (and hbeatd) put
   in {"error": {"type": ..., "exception_message": ...}}, quoted whole up
   to a bound, and the raw start of any other body. The bodies are the real
   server's, byte for byte. */
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

typedef struct fx {
    peer *p;
    hbeat_gateway *gw;
} fx;

static hbeat_gateway *open_gw(const char *url)
{
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.request_timeout = 10;
    hbeat_gateway *gw = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbeat_gateway_open(&gw, url, &o, &err) != 0)
        fail_msg("open %s: %s", url, err.message);
    return gw;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    f->p = peer_start();
    f->gw = open_gw(peer_url(f->p));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    hbeat_gateway_free(f->gw);
    peer_stop(f->p);
    free(f);
    return 0;
}

/* One beat answered with (status, body); its error. */
static int beat_against(fx *f, hbeat_gateway *gw, int status, const char *content_type,
                        const char *body, hbeat_error *err)
{
    peer_push_reply(f->p, status, content_type, body, 1);
    char out[HBEAT_STATUS_MAX + 1];
    hbeat_error_clear(err);
    return hbeat_gateway_log_heartbeat(gw, 7, "R", 93.0, out, err);
}

static void assert_printable_and_bounded(const char *m)
{
    assert_true(strlen(m) < HBEAT_ERROR_MESSAGE_MAX);
    for (const unsigned char *p = (const unsigned char *)m; *p; p++)
        if (*p < 0x20 || *p >= 0x7f)
            fail_msg("byte 0x%02x in: %s", *p, m);
}

static void expect_in(const char *message, const char *want)
{
    if (strstr(message, want) == NULL)
        fail_msg("\"%s\" not in: %s", want, message);
}

/* Jobmon 3.6 for a run it does not know: the query's exception, 500. */
static void test_jobmon_500_unknown_run(void **state)
{
    fx *f = *state;
    hbeat_error err;
    int rc = beat_against(f, f->gw, 500, "application/custom+json",
                          "{\"error\":{\"type\":\"<class 'sqlalchemy.exc.NoResultFound'>\","
                          "\"exception_message\":\"No row was found when one was required\","
                          "\"status_code\":\"500\"}}",
                          &err);
    assert_int_equal(rc, HBEAT_ESERVER);
    assert_int_equal(err.http_status, 500);
    assert_string_equal(err.message,
                        "rest: HTTP 500 from POST /api/v3/workflow_run/7/log_heartbeat: "
                        "NoResultFound: No row was found when one was required");
}

/* Jobmon 3.6 for a body without next_report_increment: InvalidUsage's
   message is Python's repr of the KeyError text, quotes and all. */
static void test_jobmon_400_malformed(void **state)
{
    fx *f = *state;
    hbeat_error err;
    int rc = beat_against(
        f, f->gw, 400, "application/custom+json",
        "{\"error\":{\"type\":\"<class 'jobmon.server.web.server_side_exception.InvalidUsage'>\","
        "\"exception_message\":\"\\\"'next_report_increment' in request to "
        "/api/v3/workflow_run/7/log_heartbeat\\\"\",\"status_code\":\"400\"}}",
        &err);
    assert_int_equal(rc, HBEAT_EINVAL);
    assert_int_equal(err.http_status, 400);
    expect_in(err.message, "HTTP 400 from POST /api/v3/workflow_run/7/log_heartbeat: "
                           "InvalidUsage: \"'next_report_increment' in request to "
                           "/api/v3/workflow_run/7/log_heartbeat\"");
    assert_printable_and_bounded(err.message);
}

/* hbeatd's REST front end answers in the same envelope. */
static void test_hbeatd_envelope(void **state)
{
    fx *f = *state;
    peer_push_reply(f->p, 404, "application/json",
                    "{\"error\":{\"type\":\"NotFound\",\"exception_message\":\"no workflow run "
                    "999\",\"status_code\":\"404\"}}",
                    0);
    hbeat_run_info run;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_run_get(f->gw, 999, &run, &err), HBEAT_ENOTFOUND);
    assert_string_equal(err.message,
                        "rest: HTTP 404 from GET /api/v3/runs/999: NotFound: no workflow run 999");
}

/* Jobmon's answer for a route it does not have: {"error": "..."}. */
static void test_jobmon_404_route(void **state)
{
    fx *f = *state;
    hbeat_error err;
    int rc = beat_against(
        f, f->gw, 404, "application/json",
        "{\"error\":\"Route http://127.0.0.1:7780/api/v3/workflow_run/7/log_heartbeat not found\"}",
        &err);
    assert_int_equal(rc, HBEAT_ENOTFOUND);
    expect_in(err.message, ": Route http://127.0.0.1:7780/api/v3/workflow_run/7/log_heartbeat "
                           "not found");
}

/* A long reason is quoted up to the bound, cut visibly; the type gives
   way to the message; control bytes and non-ASCII characters cannot
   reach the message. */
static void test_long_message_is_bounded(void **state)
{
    fx *f = *state;
    char msg[401];
    for (size_t i = 0; i < sizeof(msg) - 1; i++)
        msg[i] = (char)('a' + i % 26);
    msg[sizeof(msg) - 1] = '\0';
    memcpy(msg, "first\\nsecond\\t\\u0001caf\\u00e9 ", 31);
    char body[600];
    snprintf(body, sizeof(body),
             "{\"error\":{\"type\":\"<class 'a.VeryLongExceptionName'>\",\"exception_message\":"
             "\"%s\",\"status_code\":\"500\"}}",
             msg);
    hbeat_error err;
    assert_int_equal(beat_against(f, f->gw, 500, "application/custom+json", body, &err),
                     HBEAT_ESERVER);
    assert_printable_and_bounded(err.message);
    expect_in(err.message, "log_heartbeat: first second ?caf? ");
    assert_null(strstr(err.message, "VeryLongExceptionName"));
    size_t n = strlen(err.message);
    assert_true(n > 3 && strcmp(err.message + n - 3, "...") == 0);
    /* 200 bytes of reason, "..." included. */
    const char *reason = strstr(err.message, "first second");
    assert_int_equal(strlen(reason), 200);
}

/* A reason of 190 bytes fits whole, with the route still named. */
static void test_reason_of_190_bytes_is_whole(void **state)
{
    fx *f = *state;
    char msg[191];
    for (size_t i = 0; i < sizeof(msg) - 1; i++)
        msg[i] = (char)('A' + i % 26);
    msg[sizeof(msg) - 2] = '!';
    msg[sizeof(msg) - 1] = '\0';
    char body[400];
    snprintf(body, sizeof(body),
             "{\"error\": {\"type\": \"ServerError\", \"exception_message\": \"%s\", "
             "\"status_code\": \"500\"}}",
             msg);
    hbeat_error err;
    assert_int_equal(beat_against(f, f->gw, 500, "application/custom+json", body, &err),
                     HBEAT_ESERVER);
    assert_printable_and_bounded(err.message);
    expect_in(err.message, msg);
    expect_in(err.message, "log_heartbeat: ");
}

/* Behind a long route prefix the path is cut from the front so that the
   reason stays whole. */
static void test_long_route_gives_way(void **state)
{
    fx *f = *state;
    char url[512];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/%s/api/v3", peer_port(f->p),
             "a-rather-long-reverse-proxy-prefix/that-goes-on/and-on/and-on/for-well-over/"
             "a-hundred-bytes/before-the-api-even-starts");
    hbeat_gateway *gw = open_gw(url);
    char msg[181];
    memset(msg, 'x', sizeof(msg) - 1);
    msg[sizeof(msg) - 1] = '\0';
    msg[sizeof(msg) - 2] = 'Z';
    char body[400];
    snprintf(body, sizeof(body),
             "{\"error\":{\"type\":\"InvalidUsage\",\"exception_message\":\"%s\","
             "\"status_code\":\"400\"}}",
             msg);
    hbeat_error err;
    assert_int_equal(beat_against(f, gw, 400, "application/custom+json", body, &err), HBEAT_EINVAL);
    hbeat_gateway_free(gw);
    assert_printable_and_bounded(err.message);
    expect_in(err.message, msg);
    expect_in(err.message, "log_heartbeat: ");
    expect_in(err.message, "POST ...");
}

/* Anything else: the raw start of the body, as before. */
static const char nginx_502[] = "<html><head><title>502 Bad Gateway</title></head><body><center>"
                                "<h1>502 Bad Gateway</h1></center><hr><center>nginx</center>"
                                "</body></html>";

static void test_other_bodies_fall_back_to_the_raw_start(void **state)
{
    static const char *const bodies[] = {
        nginx_502,
        "{\"error\":{\"type\":\"ServerError\",\"status_code\":\"500\"}}",
        "{\"error\":{\"exception_message\":42}}",
        "{\"error\":[\"a\",\"b\"]}",
        "{\"detail\":\"Not Found\"}",
        "{\"error\":{\"exception_message\":\"cut off",
    };
    fx *f = *state;
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        hbeat_error err;
        assert_int_equal(beat_against(f, f->gw, 502, "text/html", bodies[i], &err), HBEAT_ESERVER);
        assert_printable_and_bounded(err.message);
        char start[41];
        snprintf(start, sizeof(start), "%s", bodies[i]);
        expect_in(err.message, start);
        if (strlen(bodies[i]) > 80)
            expect_in(err.message, "...");
    }
}

/* An envelope with an empty message still says what kind of error. */
static void test_type_alone(void **state)
{
    fx *f = *state;
    hbeat_error err;
    assert_int_equal(beat_against(f, f->gw, 500, "application/custom+json",
                                  "{\"error\":{\"type\":\"<class 'KeyError'>\","
                                  "\"exception_message\":\"\",\"status_code\":\"500\"}}",
                                  &err),
                     HBEAT_ESERVER);
    assert_string_equal(err.message,
                        "rest: HTTP 500 from POST /api/v3/workflow_run/7/log_heartbeat: KeyError");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_jobmon_500_unknown_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_jobmon_400_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hbeatd_envelope, setup, teardown),
        cmocka_unit_test_setup_teardown(test_jobmon_404_route, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_message_is_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reason_of_190_bytes_is_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_route_gives_way, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_bodies_fall_back_to_the_raw_start, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_type_alone, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
