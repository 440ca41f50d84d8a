/*
 * hbeatd's metrics without a server: what recording does to the rendered
 * text (metrics.h), checked with the same strict reader
 * the integration test uses (tests/integration/metrics/expo.c).
 *
 * The counters are process-wide, so each check compares a render before
 * and after the calls it makes.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hbeat/errors.h"
#include "hbeat/v1/hbeat.pb-c.h"
#include "integration/metrics/expo.h"
#include "metrics.h"

/* ---- recording and rendering --------------------------------------------- */

static void render(expo *e)
{
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(hbd_metrics_render(NULL, &text, &len), 0);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    if (expo_parse(e, text, len) != 0) {
        fprintf(stderr, "%s", text);
        fail_msg("%s", e->error);
    }
    free(text);
}

static double val(const expo *e, const char *name, const char *labels)
{
    double v = expo_get(e, name, labels);
    if (isnan(v)) {
        fail_msg("no series %s{%s}", name, labels);
    }
    return v;
}

#define D(name, labels) (val(&b, name, labels) - val(&a, name, labels))

/* An error series appears once it has happened: absent is 0. */
static double count0(const expo *e, const char *labels)
{
    double v = expo_get(e, "hbeatd_requests_total", labels);
    return isnan(v) ? 0 : v;
}
#define R(labels) (count0(&b, labels) - count0(&a, labels))

static void test_request_counter_and_histogram(void **state)
{
    (void)state;
    expo a, b;
    render(&a);
    hbd_metrics_request(HBD_PROTO_NNG, HBD_CALL_HEARTBEAT, HBD_RESULT_OK, 0.003);
    hbd_metrics_request(HBD_PROTO_NNG, HBD_CALL_HEARTBEAT, HBD_RESULT_OK, 0.0025);
    hbd_metrics_request(HBD_PROTO_NNG, HBD_CALL_HEARTBEAT, HBD_RESULT_NOT_FOUND, 7.0);
    hbd_metrics_request(HBD_PROTO_REST, HBD_ROUTE_STATUS_PAGE, HBD_RESULT_OK, -1.0);
    hbd_metrics_request(HBD_PROTO_REST, HBD_ROUTE_OTHER, HBD_RESULT_TOO_LARGE, NAN);
    /* Out of range: ignored, never a crash. */
    hbd_metrics_request(HBD_PROTO_COUNT, HBD_CALL_HEARTBEAT, HBD_RESULT_OK, 1);
    hbd_metrics_request(HBD_PROTO_NNG, HBD_ROUTE_COUNT, HBD_RESULT_OK, 1);
    hbd_metrics_request(HBD_PROTO_NNG, HBD_CALL_HEARTBEAT, HBD_RESULT_COUNT, 1);
    hbd_metrics_request((hbd_proto)-1, HBD_CALL_HEARTBEAT, HBD_RESULT_OK, 1);
    render(&b);

    assert_true(R("protocol=\"nng\",result=\"ok\",route=\"heartbeat\"") == 2);
    assert_true(R("protocol=\"nng\",result=\"not_found\",route=\"heartbeat\"") == 1);
    assert_true(R("protocol=\"rest\",result=\"ok\",route=\"status_page\"") == 1);
    assert_true(R("protocol=\"rest\",result=\"too_large\",route=\"other\"") == 1);

    static const char bk[] = "hbeatd_request_duration_seconds_bucket";
    static const char hb[] = "protocol=\"nng\",route=\"heartbeat\"";
    /* 0.0025 lands in le=0.0025 (bounds are inclusive), 0.003 in le=0.005,
       7 s only in +Inf. */
    assert_true(D(bk, "le=\"0.001\",protocol=\"nng\",route=\"heartbeat\"") == 0);
    assert_true(D(bk, "le=\"0.0025\",protocol=\"nng\",route=\"heartbeat\"") == 1);
    assert_true(D(bk, "le=\"0.005\",protocol=\"nng\",route=\"heartbeat\"") == 2);
    assert_true(D(bk, "le=\"2.5\",protocol=\"nng\",route=\"heartbeat\"") == 2);
    assert_true(D(bk, "le=\"+Inf\",protocol=\"nng\",route=\"heartbeat\"") == 3);
    assert_true(D("hbeatd_request_duration_seconds_count", hb) == 3);
    assert_true(fabs(D("hbeatd_request_duration_seconds_sum", hb) - 7.0055) < 1e-9);
    /* A negative or NaN latency counts as 0: first bucket, nothing added. */
    static const char sp[] = "protocol=\"rest\",route=\"status_page\"";
    assert_true(D(bk, "le=\"0.0001\",protocol=\"rest\",route=\"status_page\"") == 1);
    assert_true(D("hbeatd_request_duration_seconds_sum", sp) == 0);
    assert_true(D(bk, "le=\"0.0001\",protocol=\"rest\",route=\"other\"") == 1);
    assert_true(D("hbeatd_request_duration_seconds_sum", "protocol=\"rest\",route=\"other\"") == 0);
    /* The bounds as Prometheus writes them. */
    assert_false(isnan(expo_get(&b, bk, "le=\"0.00025\",protocol=\"nng\",route=\"get_run\"")));
    assert_false(isnan(expo_get(&b, bk, "le=\"1\",protocol=\"nng\",route=\"get_run\"")));
    /* nng never serves the HTTP-only routes. */
    assert_true(isnan(expo_get(&b, "hbeatd_request_duration_seconds_count",
                               "protocol=\"nng\",route=\"metrics\"")));
    expo_free(&a);
    expo_free(&b);
}

static void test_reaped_commits_connections(void **state)
{
    (void)state;
    expo a, b;
    render(&a);
    hbd_metrics_reaped("R", "E");
    hbd_metrics_reaped("R", "E");
    hbd_metrics_reaped("L", "A");
    hbd_metrics_reaped("C", "T");
    hbd_metrics_reaped("H", "T");
    /* Not a reaper move, or nothing at all: ignored. */
    hbd_metrics_reaped("R", "D");
    hbd_metrics_reaped(NULL, "E");
    hbd_metrics_reaped("R", NULL);
    hbd_metrics_commit(0.004, 3);
    hbd_metrics_commit(0.0001, 1);
    hbd_metrics_commit(30.0, 2);
    hbd_metrics_connection(HBD_PROTO_NNG, 1);
    hbd_metrics_connection(HBD_PROTO_NNG, 1);
    hbd_metrics_connection(HBD_PROTO_REST, 1);
    hbd_metrics_connection(HBD_PROTO_NNG, -1);
    hbd_metrics_connection(HBD_PROTO_COUNT, 1);
    render(&b);

    static const char rp[] = "hbeatd_reaped_runs_total";
    assert_true(D(rp, "from=\"R\",to=\"E\"") == 2);
    assert_true(D(rp, "from=\"L\",to=\"A\"") == 1);
    assert_true(D(rp, "from=\"C\",to=\"T\"") == 1);
    assert_true(D(rp, "from=\"H\",to=\"T\"") == 1);
    assert_int_equal(expo_series(&b, rp), 4);

    static const char cb[] = "hbeatd_store_commit_duration_seconds_bucket";
    assert_true(D(cb, "le=\"0.0001\"") == 1);
    assert_true(D(cb, "le=\"0.005\"") == 2);
    assert_true(D(cb, "le=\"1\"") == 2);
    assert_true(D(cb, "le=\"+Inf\"") == 3);
    assert_true(D("hbeatd_store_commit_duration_seconds_count", "") == 3);
    assert_true(fabs(D("hbeatd_store_commit_duration_seconds_sum", "") - 30.0041) < 1e-9);
    assert_true(D("hbeatd_store_committed_changes_total", "") == 6);

    assert_true(D("hbeatd_open_connections", "protocol=\"nng\"") == 1);
    assert_true(D("hbeatd_open_connections", "protocol=\"rest\"") == 1);
    hbd_metrics_connection(HBD_PROTO_NNG, -1);
    hbd_metrics_connection(HBD_PROTO_REST, -1);

    /* Without counts every status is there, at 0. */
    assert_int_equal(expo_series(&b, "hbeatd_runs"), 13);
    assert_true(val(&b, "hbeatd_runs", "status=\"A\"") == 0);
    expo_free(&a);
    expo_free(&b);
}

/* Runs by status, as the caller counted them. */
static void test_runs_by_status(void **state)
{
    (void)state;
    uint64_t runs[HBD_METRICS_STATUSES] = {0};
    runs[0] = 3;  /* G */
    runs[5] = 70; /* R */
    runs[12] = 1; /* A */
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(hbd_metrics_render(runs, &text, &len), 0);
    expo e;
    if (expo_parse(&e, text, len) != 0) {
        fail_msg("%s", e.error);
    }
    assert_true(val(&e, "hbeatd_runs", "status=\"G\"") == 3);
    assert_true(val(&e, "hbeatd_runs", "status=\"R\"") == 70);
    assert_true(val(&e, "hbeatd_runs", "status=\"A\"") == 1);
    assert_true(val(&e, "hbeatd_runs", "status=\"L\"") == 0);
    expo_free(&e);
    free(text);
}

static void test_render_arguments(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(hbd_metrics_render(NULL, NULL, &len), HBEAT_EINVAL);
    assert_int_equal(hbd_metrics_render(NULL, &text, NULL), HBEAT_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_counter_and_histogram),
        cmocka_unit_test(test_reaped_commits_connections),
        cmocka_unit_test(test_runs_by_status),
        cmocka_unit_test(test_render_arguments),
    };
    return cmocka_run_group_tests_name("hbeatd_metrics", tests, NULL, NULL);
}
