/* hbeatd's admin routes over REST: request shapes, RUN parsing, paging. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "hbeat/hbeat.h"
#include "support/rest_peer.h"

typedef struct fx {
    peer *p;
    hbeat_gateway *gw;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    f->p = peer_start();
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.request_timeout = 10;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbeat_gateway_open(&f->gw, peer_url(f->p), &o, &err) != 0)
        fail_msg("open: %s", err.message);
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

#define RUN_JSON(id, st)                                                                           \
    "{\"workflow_run_id\":" #id ",\"workflow_id\":7,\"status\":\"" st "\","                        \
    "\"deadline\":1764280000.25,\"last_heartbeat\":1764279950.1,\"beats\":3}"

static void push_ok(fx *f, const char *body)
{
    peer_push_reply(f->p, 200, "application/json", body, 0);
}

static void test_create_run(void **state)
{
    fx *f = *state;
    push_ok(f, "{\"run\":" RUN_JSON(12, "G") "}");
    hbeat_run_info run;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_run_create(f->gw, 7, "G", &run, &err), 0);
    assert_int_equal(run.workflow_run_id, 12);
    assert_int_equal(run.workflow_id, 7);
    assert_string_equal(run.status, "G");
    assert_true(run.deadline == 1764280000.25);
    assert_true(run.last_heartbeat == 1764279950.1);
    assert_int_equal(run.beats, 3);
    peer_request r;
    assert_int_equal(peer_get(f->p, 0, &r), 0);
    assert_string_equal(r.method, "POST");
    assert_string_equal(r.path, "/api/v3/runs");
    assert_string_equal(r.query, "");
    json_t *j = json_loads(r.body, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "workflow_id")), 7);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "G");
    /* A new run gets the default first deadline. */
    assert_true(json_real_value(json_object_get(j, "next_report_increment")) ==
                HBEAT_RUN_DEFAULT_INCREMENT);
    assert_int_equal(json_object_size(j), 3);
    json_decref(j);
}

/* The body of one create_with; the request's JSON (json_decref it). */
static json_t *create_body(fx *f, const hbeat_run_create_options *o)
{
    int first = peer_request_count(f->p);
    push_ok(f, "{\"run\":" RUN_JSON(12, "L") "}");
    hbeat_run_info run;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbeat_run_create_with(f->gw, 7, o, &run, &err) != 0)
        fail_msg("create_with: %s", err.message);
    peer_request r;
    assert_int_equal(peer_get(f->p, first, &r), 0);
    json_t *j = json_loads(r.body, 0, NULL);
    assert_non_null(j);
    return j;
}

/* next_report_increment, as Jobmon's POST /workflow_run names it, and
   nothing of it when no deadline is asked for. */
static void test_create_with_first_deadline(void **state)
{
    fx *f = *state;
    hbeat_run_create_options o = HBEAT_RUN_CREATE_OPTIONS_INIT;
    o.status = "L";
    o.next_report_increment = 12.5;
    json_t *j = create_body(f, &o);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "L");
    assert_true(json_is_real(json_object_get(j, "next_report_increment")));
    assert_true(json_real_value(json_object_get(j, "next_report_increment")) == 12.5);
    json_decref(j);

    o.next_report_increment = 0;
    j = create_body(f, &o);
    assert_true(json_is_real(json_object_get(j, "next_report_increment")));
    assert_true(json_real_value(json_object_get(j, "next_report_increment")) == 0);
    json_decref(j);

    o.no_deadline = 1;
    o.next_report_increment = NAN; /* not looked at */
    j = create_body(f, &o);
    assert_null(json_object_get(j, "next_report_increment"));
    assert_int_equal(json_object_size(j), 2);
    json_decref(j);

    /* NULL options: the defaults. */
    j = create_body(f, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "G");
    assert_true(json_real_value(json_object_get(j, "next_report_increment")) ==
                HBEAT_RUN_DEFAULT_INCREMENT);
    json_decref(j);
}

/* Refused before anything goes on the wire, with a message that says why. */
static void test_create_with_bad_increments(void **state)
{
    fx *f = *state;
    const double bad[] = {-1.0, -1e-300, NAN, INFINITY, -INFINITY, 31536000.5, 1e300};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        hbeat_run_create_options o = HBEAT_RUN_CREATE_OPTIONS_INIT;
        o.next_report_increment = bad[i];
        hbeat_run_info run;
        hbeat_error err = HBEAT_ERROR_INIT;
        assert_int_equal(hbeat_run_create_with(f->gw, 7, &o, &run, &err), HBEAT_EINVAL);
        assert_non_null(strstr(err.message, "next_report_increment must be a number of seconds "
                                            "from 0 to 31536000"));
    }
    hbeat_run_create_options o = HBEAT_RUN_CREATE_OPTIONS_INIT;
    hbeat_run_info run;
    hbeat_error err = HBEAT_ERROR_INIT;
    o.version = 0;
    assert_int_equal(hbeat_run_create_with(f->gw, 7, &o, &run, &err), HBEAT_EVERSION);
    o.version = HBEAT_RUN_CREATE_OPTIONS_VERSION + 1;
    assert_int_equal(hbeat_run_create_with(f->gw, 7, &o, &run, &err), HBEAT_EVERSION);
    o = (hbeat_run_create_options)HBEAT_RUN_CREATE_OPTIONS_INIT;
    o.status = "bad status";
    assert_int_equal(hbeat_run_create_with(f->gw, 7, &o, &run, &err), HBEAT_EINVAL);
    assert_int_equal(hbeat_run_create_with(f->gw, 0, NULL, &run, &err), HBEAT_EINVAL);
    assert_int_equal(peer_request_count(f->p), 0);
}

static void test_get_and_set_status(void **state)
{
    fx *f = *state;
    /* Unset times may come as null; unknown RUN fields are ignored. */
    push_ok(f, "{\"run\":{\"workflow_run_id\":5,\"workflow_id\":1,\"status\":\"G\","
               "\"deadline\":null,\"last_heartbeat\":null,\"beats\":0,\"future\":true}}");
    hbeat_run_info run;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_run_get(f->gw, 5, &run, &err), 0);
    assert_true(run.deadline == 0);
    assert_int_equal(run.beats, 0);
    push_ok(f, "{\"run\":" RUN_JSON(5, "C") "}");
    assert_int_equal(hbeat_run_set_status(f->gw, 5, "C", 1, &run, &err), 0);
    assert_string_equal(run.status, "C");
    peer_request r;
    assert_int_equal(peer_get(f->p, 0, &r), 0);
    assert_string_equal(r.method, "GET");
    assert_string_equal(r.path, "/api/v3/runs/5");
    assert_int_equal(peer_get(f->p, 1, &r), 0);
    assert_string_equal(r.method, "PUT");
    assert_string_equal(r.path, "/api/v3/runs/5/status");
    json_t *j = json_loads(r.body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "C");
    assert_true(json_is_true(json_object_get(j, "force")));
    json_decref(j);
}

static void test_unknown_run(void **state)
{
    fx *f = *state;
    peer_push_reply(f->p, 404, "application/json",
                    "{\"error\": {\"type\": \"NotFound\", \"exception_message\": \"no run 9\", "
                    "\"status_code\": \"404\"}}",
                    0);
    hbeat_run_info run;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_run_get(f->gw, 9, &run, &err), HBEAT_ENOTFOUND);
    assert_int_equal(err.http_status, 404);
    assert_non_null(strstr(err.message, "no run 9"));
}

static void test_bad_run_replies(void **state)
{
    static const char *const bodies[] = {
        "{}",
        "{\"run\":null}",
        "{\"run\":{\"workflow_run_id\":\"5\",\"workflow_id\":1,\"status\":\"G\",\"beats\":0}}",
        "{\"run\":{\"workflow_run_id\":5,\"workflow_id\":1,\"status\":\"no way\",\"beats\":0}}",
        "{\"run\":{\"workflow_run_id\":5,\"workflow_id\":1,\"status\":\"G\",\"beats\":-1}}",
        ("{\"run\":{\"workflow_run_id\":5,\"workflow_id\":1,\"status\":\"G\",\"beats\":0,"
         "\"deadline\":\"soon\"}}"),
        "{\"run\":{\"workflow_run_id\":5,\"workflow_id\":1,\"status\":\"G\"}}",
        "{\"run\":{\"workflow_run_id\":0,\"workflow_id\":1,\"status\":\"G\",\"beats\":0}}",
    };
    fx *f = *state;
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        push_ok(f, bodies[i]);
        hbeat_run_info run;
        hbeat_error err = HBEAT_ERROR_INIT;
        int rc = hbeat_run_get(f->gw, 5, &run, &err);
        if (rc != HBEAT_EPROTO)
            fail_msg("'%s': rc %d %s", bodies[i], rc, err.message);
    }
}

static void test_list_follows_pages(void **state)
{
    fx *f = *state;
    push_ok(f, "{\"runs\":[" RUN_JSON(1, "R") "," RUN_JSON(2, "R") "],\"next_after_id\":2}");
    push_ok(f, "{\"runs\":[" RUN_JSON(3, "R") "],\"next_after_id\":0}");
    hbeat_run_info *runs = NULL;
    size_t n = 0;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_run_list(f->gw, "R", &runs, &n, &err), 0);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(runs[i].workflow_run_id, (int64_t)i + 1);
    hbeat_run_list_free(runs);
    peer_request r;
    assert_int_equal(peer_get(f->p, 0, &r), 0);
    assert_string_equal(r.method, "GET");
    assert_string_equal(r.path, "/api/v3/runs");
    assert_string_equal(r.query, "status=R&after_id=0&limit=100");
    assert_int_equal(peer_get(f->p, 1, &r), 0);
    assert_string_equal(r.query, "status=R&after_id=2&limit=100");
    assert_int_equal(peer_request_count(f->p), 2);
}

static void test_list_all_and_empty(void **state)
{
    fx *f = *state;
    push_ok(f, "{\"runs\":[],\"next_after_id\":0}");
    hbeat_run_info *runs = NULL;
    size_t n = 1;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_run_list(f->gw, NULL, &runs, &n, &err), 0);
    assert_int_equal(n, 0);
    hbeat_run_list_free(runs);
    peer_request r;
    assert_int_equal(peer_get(f->p, 0, &r), 0);
    assert_string_equal(r.query, "after_id=0&limit=100");
}

static void test_list_status_is_escaped(void **state)
{
    fx *f = *state;
    push_ok(f, "{\"runs\":[],\"next_after_id\":0}");
    hbeat_run_info *runs = NULL;
    size_t n = 0;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_run_list(f->gw, "a&b=c%", &runs, &n, &err), 0);
    hbeat_run_list_free(runs);
    peer_request r;
    assert_int_equal(peer_get(f->p, 0, &r), 0);
    assert_string_equal(r.query, "status=a%26b%3Dc%25&after_id=0&limit=100");
}

static void test_list_cursor_must_advance(void **state)
{
    fx *f = *state;
    push_ok(f, "{\"runs\":[" RUN_JSON(1, "R") "],\"next_after_id\":4}");
    push_ok(f, "{\"runs\":[" RUN_JSON(1, "R") "],\"next_after_id\":4}");
    hbeat_run_info *runs = NULL;
    size_t n = 0;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_run_list(f->gw, NULL, &runs, &n, &err), HBEAT_EPROTO);
    assert_non_null(strstr(err.message, "next_after_id"));
    assert_null(runs);
    assert_int_equal(peer_request_count(f->p), 2);
}

static void test_list_bad_pages(void **state)
{
    static const char *const bodies[] = {
        "{\"runs\":{},\"next_after_id\":0}",
        "{\"runs\":[],\"next_after_id\":-1}",
        "{\"runs\":[]}",
        "{\"runs\":[1],\"next_after_id\":0}",
        "[]",
    };
    fx *f = *state;
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        push_ok(f, bodies[i]);
        hbeat_run_info *runs = NULL;
        size_t n = 0;
        hbeat_error err = HBEAT_ERROR_INIT;
        int rc = hbeat_run_list(f->gw, NULL, &runs, &n, &err);
        if (rc != HBEAT_EPROTO)
            fail_msg("'%s': rc %d %s", bodies[i], rc, err.message);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_with_first_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_with_bad_increments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_and_set_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_run_replies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_follows_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_all_and_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_status_is_escaped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_cursor_must_advance, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_bad_pages, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
