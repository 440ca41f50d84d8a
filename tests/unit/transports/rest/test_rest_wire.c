/* What the REST transport puts on the wire, and how it reads every kind
   of answer the hostile peer (peer.c) gives it. */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "hbeat/hbeat.h"
#include "support/rest_peer.h"

typedef struct fx {
    peer *p;
    hbeat_gateway *gw;
} fx;

static hbeat_gateway *open_gw(const char *url, hbeat_gateway_options *o)
{
    hbeat_gateway_options def = HBEAT_GATEWAY_OPTIONS_INIT;
    if (o == NULL)
        o = &def;
    if (o->request_timeout == 0)
        o->request_timeout = 10;
    hbeat_gateway *gw = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_gateway_open(&gw, url, o, &err);
    if (rc != 0)
        fail_msg("open %s: %s", url, err.message);
    return gw;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    f->p = peer_start();
    f->gw = open_gw(peer_url(f->p), NULL);
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

static int beat(hbeat_gateway *gw, int64_t id, const char *status, double inc, char *out,
                hbeat_error *err)
{
    char tmp[HBEAT_STATUS_MAX + 1];
    hbeat_error_clear(err);
    return hbeat_gateway_log_heartbeat(gw, id, status, inc, out != NULL ? out : tmp, err);
}

static const char *hdr(const peer_request *r, const char *name)
{
    static char buf[512];
    return peer_header(r, name, buf, sizeof(buf));
}

static void test_success_and_request_shape(void **state)
{
    fx *f = *state;
    char out[HBEAT_STATUS_MAX + 1] = "";
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(beat(f->gw, 42, "R", 45.0, out, &err), 0);
    assert_string_equal(out, "R");

    peer_request r;
    assert_int_equal(peer_get(f->p, 0, &r), 0);
    assert_string_equal(r.method, "POST");
    assert_string_equal(r.path, "/api/v3/workflow_run/42/log_heartbeat");
    char q[128];
    snprintf(q, sizeof(q), "client_jobmon_version=%s", hbeat_version());
    assert_string_equal(r.query, q);
    assert_string_equal(hdr(&r, "Content-Type"), "application/json");
    assert_string_equal(hdr(&r, "Accept"), "application/json");
    char ua[64];
    snprintf(ua, sizeof(ua), "hbeat/%s", hbeat_version());
    assert_string_equal(hdr(&r, "User-Agent"), ua);
    assert_null(hdr(&r, "Authorization"));
    assert_null(hdr(&r, "Expect"));
    /* Byte for byte what Jobmon's client sends. */
    assert_string_equal(r.body, "{\"status\": \"R\", \"next_report_increment\": 45.0}");
    json_error_t je;
    json_t *j = json_loads(r.body, 0, &je);
    assert_non_null(j);
    assert_true(json_is_real(json_object_get(j, "next_report_increment")));
    assert_true(json_real_value(json_object_get(j, "next_report_increment")) == 45.0);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "R");
    assert_int_equal(json_object_size(j), 2);
    json_decref(j);
}

static void test_server_status_is_returned(void **state)
{
    fx *f = *state;
    peer_push_reply(f->p, 200, "application/json", "{\"status\":\"C\"}", 0);
    char out[HBEAT_STATUS_MAX + 1] = "";
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(beat(f->gw, 1, "R", 30, out, &err), 0);
    assert_string_equal(out, "C");
}

static void test_keepalive_reuses_one_connection(void **state)
{
    fx *f = *state;
    hbeat_error err = HBEAT_ERROR_INIT;
    for (int i = 0; i < 6; i++)
        assert_int_equal(beat(f->gw, 3 + i % 2, "R", 10, NULL, &err), 0);
    assert_int_equal(peer_request_count(f->p), 6);
    assert_int_equal(peer_connection_count(f->p), 1);
}

static const char *const jobmon_400 =
    "{\"error\": {\"type\": \"InvalidUsage\", \"exception_message\": \"Missing "
    "next_report_increment\", \"status_code\": \"400\"}}";
static const char *const jobmon_500 =
    "{\"error\": {\"type\": \"ServerError\", \"exception_message\": \"No workflow run "
    "99\", \"status_code\": \"500\"}}";

/* The real server answers an error and drops the connection without
   "Connection: close"; the next beat must go through on a new one. */
static void test_error_then_transparent_reconnect(void **state)
{
    fx *f = *state;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(beat(f->gw, 5, "R", 10, NULL, &err), 0);
    for (int round = 0; round < 10; round++) {
        int status = round % 2 ? 500 : 400;
        peer_push_reply(f->p, status, "application/custom+json",
                        round % 2 ? jobmon_500 : jobmon_400, 1);
        int rc = beat(f->gw, 5, "R", 10, NULL, &err);
        assert_int_equal(rc, round % 2 ? HBEAT_ESERVER : HBEAT_EINVAL);
        assert_int_equal(err.http_status, status);
        char want[16];
        snprintf(want, sizeof(want), "HTTP %d", status);
        assert_non_null(strstr(err.message, want));
        assert_non_null(strstr(err.message, round % 2 ? "ServerError" : "InvalidUsage"));
        assert_non_null(strstr(err.message, "log_heartbeat"));
        char out[HBEAT_STATUS_MAX + 1] = "";
        rc = beat(f->gw, 5, "R", 10, out, &err);
        if (rc != 0)
            fail_msg("beat after HTTP %d failed: %s", status, err.message);
        assert_string_equal(out, "R");
    }
    assert_int_equal(peer_connection_count(f->p), 11);
}

/* The race behind the above: the server resets a kept-alive connection
   just as the next request goes out on it. The request is sent again on
   a new connection, once. */
static void test_reset_on_reuse_is_retried_once(void **state)
{
    fx *f = *state;
    hbeat_error err = HBEAT_ERROR_INIT;
    char ok[256];
    peer_jobmon_ok(ok, sizeof(ok), "R");
    for (int round = 0; round < 5; round++) {
        peer_action a = {PEER_RESPOND, ok, 0, 0, 0, 0, 1};
        peer_push(f->p, a);
        assert_int_equal(beat(f->gw, 6, "R", 10, NULL, &err), 0);
        int rc = beat(f->gw, 6, "R", 10, NULL, &err);
        if (rc != 0)
            fail_msg("round %d: %s", round, err.message);
    }
    assert_int_equal(peer_connection_count(f->p), 6);
    /* The peer never read the requests it reset; each was sent again. */
    assert_int_equal(peer_request_count(f->p), 10);

    /* Only once: when the new connection fails too, the beat fails. */
    peer_action a = {PEER_RESPOND, ok, 0, 0, 0, 0, 1};
    peer_action b = {PEER_CLOSE, NULL, 0, 0, 0, 0, 0};
    peer_push(f->p, a);
    peer_push(f->p, b);
    assert_int_equal(beat(f->gw, 6, "R", 10, NULL, &err), 0);
    assert_int_equal(beat(f->gw, 6, "R", 10, NULL, &err), HBEAT_ETRANSPORT);
    assert_int_equal(peer_request_count(f->p), 12);
}

static void test_bad_json_on_200(void **state)
{
    static const char *const bodies[] = {
        "[\"R\"]",
        "\"R\"",
        "{\"status\":5}",
        "{}",
        "{\"state\":\"R\"}",
        "{\"status\":\"bad token\"}",
        "{\"status\":\"\"}",
        "{\"status\":\"R\"} trailing",
        "{\"status\":\"R\"}{\"status\":\"R\"}",
        "{\"status\":\"R\",\"extra\":1}",
        "{\"status\":\"R\",\"status\":\"D\"}",
        "<html>oops</html>",
        "",
        "{\"status\":\"ABCDEFGHIJKLMNOPQ\"}",
        "{\"status\":null}",
        "{\"status\":[\"R\"]}",
        "{\"status\":\"R\\u0000\"}",
        "{\"status\":\"\\u00e9\"}",
        "{\"status\":\"R\"",
    };
    fx *f = *state;
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        peer_push_reply(f->p, 200, "application/json", bodies[i], 0);
        hbeat_error err = HBEAT_ERROR_INIT;
        char out[HBEAT_STATUS_MAX + 1] = "untouched";
        int rc = beat(f->gw, 8, "R", 10, out, &err);
        if (rc != HBEAT_EPROTO)
            fail_msg("body '%s': rc %d (%s)", bodies[i], rc, err.message);
        assert_int_equal(err.http_status, 200);
        assert_string_equal(out, "untouched");
        assert_non_null(strstr(err.message, "HTTP 200"));
    }
    /* None of that broke the connection. */
    assert_int_equal(peer_connection_count(f->p), 1);
}

static void test_http_status_mapping(void **state)
{
    static const struct {
        int status;
        int code;
    } cases[] = {
        {401, HBEAT_EAUTH},     {403, HBEAT_EFORBIDDEN}, {404, HBEAT_ENOTFOUND},
        {413, HBEAT_ETOOBIG},   {405, HBEAT_ENOTSUP},    {409, HBEAT_EINVAL},
        {422, HBEAT_EINVAL},    {423, HBEAT_ESERVER},    {429, HBEAT_ESERVER},
        {500, HBEAT_ESERVER},   {502, HBEAT_ESERVER},    {503, HBEAT_ESERVER},
        {302, HBEAT_EPROTO},    {201, HBEAT_EPROTO},     {299, HBEAT_EPROTO},
        {408, HBEAT_ETIMEDOUT},
    };
    fx *f = *state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        peer_push_reply(f->p, cases[i].status, "application/json", "{\"status\":\"R\"}", 0);
        hbeat_error err = HBEAT_ERROR_INIT;
        int rc = beat(f->gw, 9, "R", 10, NULL, &err);
        if (rc != cases[i].code)
            fail_msg("HTTP %d: rc %d (%s)", cases[i].status, rc, err.message);
        assert_int_equal(err.code, cases[i].code);
        assert_int_equal(err.http_status, cases[i].status);
        char want[16];
        snprintf(want, sizeof(want), "HTTP %d", cases[i].status);
        assert_non_null(strstr(err.message, want));
    }
}

static void test_error_message_is_sanitized_and_bounded(void **state)
{
    fx *f = *state;
    char body[400];
    memset(body, 'A', sizeof(body) - 1);
    body[sizeof(body) - 1] = '\0';
    memcpy(body, "line1\nline2\r\t\x01\x7f\x80\xff", 15);
    peer_push_reply(f->p, 500, "text/plain", body, 0);
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(beat(f->gw, 9, "R", 10, NULL, &err), HBEAT_ESERVER);
    assert_true(strlen(err.message) < HBEAT_ERROR_MESSAGE_MAX);
    for (const unsigned char *p = (const unsigned char *)err.message; *p; p++)
        assert_true(*p >= 0x20 && *p < 0x7f);
    assert_non_null(strstr(err.message, "line1.line2"));
    assert_non_null(strstr(err.message, "..."));
    /* Only the start of the body is quoted. */
    assert_null(strstr(err.message,
                       "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                       "AAAAAAAAAAAAAAAAA"));
}

static void test_empty_error_body(void **state)
{
    fx *f = *state;
    peer_push_reply(f->p, 404, "application/json", "", 0);
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(beat(f->gw, 9, "R", 10, NULL, &err), HBEAT_ENOTFOUND);
    assert_non_null(strstr(err.message, "empty body"));
}

static void test_token_and_user_agent(void **state)
{
    fx *f = *state;
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.token = "s3cret.token-value";
    o.user_agent = "my agent/1.0";
    hbeat_gateway *gw = open_gw(peer_url(f->p), &o);
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(beat(gw, 1, "R", 10, NULL, &err), 0);
    hbeat_run_info run;
    peer_push_reply(f->p, 404, "application/json", "{}", 0);
    assert_int_equal(hbeat_run_get(gw, 1, &run, &err), HBEAT_ENOTFOUND);
    hbeat_gateway_free(gw);

    char path[] = "/tmp/hbeat-token-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char text[] = "  filetoken  \r\nsecond line\n";
    assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
    close(fd);
    hbeat_gateway_options o2 = HBEAT_GATEWAY_OPTIONS_INIT;
    o2.token_file = path;
    gw = open_gw(peer_url(f->p), &o2);
    unlink(path);
    assert_int_equal(beat(gw, 1, "R", 10, NULL, &err), 0);
    hbeat_gateway_free(gw);

    peer_request r;
    assert_int_equal(peer_get(f->p, 0, &r), 0);
    assert_string_equal(hdr(&r, "Authorization"), "Bearer s3cret.token-value");
    assert_string_equal(hdr(&r, "User-Agent"), "my agent/1.0");
    assert_int_equal(peer_get(f->p, 1, &r), 0);
    assert_string_equal(r.method, "GET");
    assert_string_equal(hdr(&r, "Authorization"), "Bearer s3cret.token-value");
    assert_null(hdr(&r, "Content-Type"));
    assert_int_equal(peer_get(f->p, 2, &r), 0);
    assert_string_equal(hdr(&r, "Authorization"), "Bearer filetoken");
}

static void test_update_status_and_method_switching(void **state)
{
    fx *f = *state;
    hbeat_error err = HBEAT_ERROR_INIT;
    char out[HBEAT_STATUS_MAX + 1] = "";
    assert_int_equal(beat(f->gw, 7, "R", 10, NULL, &err), 0);
    assert_int_equal(hbeat_gateway_update_status(f->gw, 7, "D", out, &err), 0);
    assert_string_equal(out, "D");
    peer_push_reply(f->p, 200, "application/json",
                    "{\"run\":{\"workflow_run_id\":7,\"workflow_id\":1,\"status\":\"D\","
                    "\"deadline\":null,\"last_heartbeat\":5.5,\"beats\":1}}",
                    0);
    hbeat_run_info run;
    assert_int_equal(hbeat_run_get(f->gw, 7, &run, &err), 0);
    assert_int_equal(beat(f->gw, 7, "R", 10, NULL, &err), 0);

    peer_request r;
    assert_int_equal(peer_get(f->p, 1, &r), 0);
    assert_string_equal(r.method, "PUT");
    assert_string_equal(r.path, "/api/v3/workflow_run/7/update_status");
    assert_non_null(strstr(r.query, "client_jobmon_version="));
    assert_string_equal(r.body, "{\"status\": \"D\"}");
    assert_string_equal(hdr(&r, "Content-Type"), "application/json");
    assert_int_equal(peer_get(f->p, 2, &r), 0);
    assert_string_equal(r.method, "GET");
    assert_string_equal(r.path, "/api/v3/runs/7");
    assert_int_equal((int)r.body_len, 0);
    assert_int_equal(peer_get(f->p, 3, &r), 0);
    assert_string_equal(r.method, "POST");
    assert_string_equal(r.body, "{\"status\": \"R\", \"next_report_increment\": 10.0}");
    assert_int_equal(peer_connection_count(f->p), 1);
}

static void test_increment_is_a_json_real(void **state)
{
    static const struct {
        double v;
        const char *text;
    } cases[] = {
        {45.0, "45.0"},       {30, "30.0"},    {0.1, "0.1"},         {1e-7, "1e-07"},
        {123.456, "123.456"}, {1e20, "1e+20"}, {86400.5, "86400.5"},
    };
    fx *f = *state;
    hbeat_error err = HBEAT_ERROR_INIT;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(beat(f->gw, 1, "R", cases[i].v, NULL, &err), 0);
        peer_request r;
        assert_int_equal(peer_get(f->p, (int)i, &r), 0);
        char want[128];
        snprintf(want, sizeof(want), "{\"status\": \"R\", \"next_report_increment\": %s}",
                 cases[i].text);
        assert_string_equal(r.body, want);
        json_t *j = json_loads(r.body, 0, NULL);
        assert_true(json_is_real(json_object_get(j, "next_report_increment")));
        assert_true(json_real_value(json_object_get(j, "next_report_increment")) == cases[i].v);
        json_decref(j);
    }
}

static void test_status_token_is_escaped(void **state)
{
    fx *f = *state;
    hbeat_error err = HBEAT_ERROR_INIT;
    peer_push_reply(f->p, 200, "application/json", "{\"status\":\"q\\\"b\\\\\"}", 0);
    char out[HBEAT_STATUS_MAX + 1] = "";
    assert_int_equal(beat(f->gw, 1, "a\"b\\c", 10, out, &err), 0);
    assert_string_equal(out, "q\"b\\");
    peer_request r;
    assert_int_equal(peer_get(f->p, 0, &r), 0);
    json_t *j = json_loads(r.body, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "a\"b\\c");
    json_decref(j);
}

static void test_base_url_forms(void **state)
{
    fx *f = *state;
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/api/v3/", (unsigned)peer_port(f->p));
    hbeat_gateway *gw = open_gw(url, NULL);
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(beat(gw, 2, "R", 10, NULL, &err), 0);
    hbeat_gateway_free(gw);
    snprintf(url, sizeof(url), "HTTP://127.0.0.1:%u", (unsigned)peer_port(f->p));
    gw = open_gw(url, NULL);
    assert_string_equal(hbeat_gateway_transport(gw), "rest");
    assert_int_equal(beat(gw, 2, "R", 10, NULL, &err), 0);
    hbeat_gateway_free(gw);
    peer_request r;
    assert_int_equal(peer_get(f->p, 0, &r), 0);
    assert_string_equal(r.path, "/api/v3/workflow_run/2/log_heartbeat");
    assert_int_equal(peer_get(f->p, 1, &r), 0);
    assert_string_equal(r.path, "/workflow_run/2/log_heartbeat");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_success_and_request_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_status_is_returned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keepalive_reuses_one_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_then_transparent_reconnect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset_on_reuse_is_retried_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_json_on_200, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_status_mapping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_message_is_sanitized_and_bounded, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_empty_error_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_and_user_agent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_status_and_method_switching, setup, teardown),
        cmocka_unit_test_setup_teardown(test_increment_is_a_json_real, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_token_is_escaped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_base_url_forms, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
