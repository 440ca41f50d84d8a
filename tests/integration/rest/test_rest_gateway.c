/*
 * The REST gateway against the real hbeatd (started by the harness on a
 * free loopback port): Jobmon's routes, the admin routes, errors the
 * server gives, and the server dying, restarting and freezing under one
 * gateway.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdlib.h>

#include "integration/common/itest.h"

static void test_beats_move_the_deadline(void **state)
{
    (void)state;
    hbeat_gateway *gw = itest_open(itest_h.rest_url, 10);
    int64_t id = itest_new_run(gw, "R");
    hbeat_run_info before = itest_get(gw, id);
    assert_int_equal(before.beats, 0);

    char out[HBEAT_STATUS_MAX + 1] = "";
    hbeat_error err = HBEAT_ERROR_INIT;
    double t0 = itest_unix();
    assert_int_equal(itest_beat(gw, id, "R", 100.0, out, &err), 0);
    double t1 = itest_unix();
    assert_string_equal(out, "R");
    hbeat_run_info run = itest_get(gw, id);
    assert_int_equal(run.beats, 1);
    assert_true(run.last_heartbeat >= t0 - 1 && run.last_heartbeat <= t1 + 1);
    assert_true(run.deadline - run.last_heartbeat > 99.0);
    assert_true(run.deadline - run.last_heartbeat < 101.0);

    assert_int_equal(itest_beat(gw, id, "R", 1000.0, out, &err), 0);
    hbeat_run_info later = itest_get(gw, id);
    assert_int_equal(later.beats, 2);
    assert_true(later.deadline > run.deadline + 800);
    hbeat_gateway_free(gw);
}

static void test_update_status(void **state)
{
    (void)state;
    hbeat_gateway *gw = itest_open(itest_h.rest_url, 10);
    int64_t id = itest_new_run(gw, "R");
    char out[HBEAT_STATUS_MAX + 1] = "";
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_gateway_update_status(gw, id, "D", out, &err), 0);
    assert_string_equal(out, "D");
    /* D -> R is not a transition: still 200, with the status held. */
    assert_int_equal(hbeat_gateway_update_status(gw, id, "R", out, &err), 0);
    assert_string_equal(out, "D");
    assert_string_equal(itest_get(gw, id).status, "D");
    hbeat_gateway_free(gw);
}

static void test_operator_status_reaches_the_beat(void **state)
{
    (void)state;
    hbeat_gateway *gw = itest_open(itest_h.rest_url, 10);
    int64_t id = itest_new_run(gw, "R");
    hbeat_run_info run;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_run_set_status(gw, id, "C", 0, &run, &err), 0);
    assert_string_equal(run.status, "C");
    char out[HBEAT_STATUS_MAX + 1] = "";
    assert_int_equal(itest_beat(gw, id, "R", 30, out, &err), 0);
    assert_string_equal(out, "C");
    /* Not a transition from C: the operator is refused (400) unless
       forcing it. */
    assert_int_equal(hbeat_run_set_status(gw, id, "R", 0, &run, &err), HBEAT_EINVAL);
    assert_non_null(strstr(err.message, "HTTP 400"));
    assert_string_equal(itest_get(gw, id).status, "C");
    assert_int_equal(hbeat_run_set_status(gw, id, "R", 1, &run, &err), 0);
    assert_string_equal(run.status, "R");
    hbeat_gateway_free(gw);
}

static void test_list_runs_pages(void **state)
{
    (void)state;
    hbeat_gateway *gw = itest_open(itest_h.rest_url, 10);
    enum { N = 230 };
    for (int i = 0; i < N; i++)
        itest_new_run(gw, i % 2 ? "G" : "R");
    hbeat_run_info *runs = NULL;
    size_t n = 0;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_run_list(gw, NULL, &runs, &n, &err), 0);
    assert_int_equal(n, N);
    for (size_t i = 1; i < n; i++)
        assert_true(runs[i].workflow_run_id > runs[i - 1].workflow_run_id);
    hbeat_run_list_free(runs);
    assert_int_equal(hbeat_run_list(gw, "G", &runs, &n, &err), 0);
    assert_int_equal(n, N / 2);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(runs[i].status, "G");
    hbeat_run_list_free(runs);
    assert_int_equal(hbeat_run_list(gw, "T", &runs, &n, &err), 0);
    assert_int_equal(n, 0);
    hbeat_run_list_free(runs);
    hbeat_gateway_free(gw);
}

static void test_server_errors(void **state)
{
    (void)state;
    hbeat_gateway *gw = itest_open(itest_h.rest_url, 10);
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(itest_beat(gw, 987654, "R", 30, NULL, &err), HBEAT_ENOTFOUND);
    assert_int_equal(err.http_status, 404);
    assert_non_null(strstr(err.message, "HTTP 404"));
    hbeat_run_info run;
    assert_int_equal(hbeat_run_get(gw, 987654, &run, &err), HBEAT_ENOTFOUND);
    char out[HBEAT_STATUS_MAX + 1];
    assert_int_equal(hbeat_gateway_update_status(gw, 987654, "D", out, &err), HBEAT_ENOTFOUND);

    /* More than a year: the server's 400, with its words. */
    int64_t id = itest_new_run(gw, "R");
    assert_int_equal(itest_beat(gw, id, "R", 1e9, NULL, &err), HBEAT_EINVAL);
    assert_int_equal(err.http_status, 400);
    assert_non_null(strstr(err.message, "InvalidUsage"));
    /* And the gateway carries on. */
    assert_int_equal(itest_beat(gw, id, "R", 30, out, &err), 0);
    hbeat_gateway_free(gw);
}

/* Several threads, one gateway, one server. */
typedef struct worker {
    hbeat_gateway *gw;
    int64_t id;
    int failures;
    char last[HBEAT_ERROR_MESSAGE_MAX];
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < 20; i++) {
        hbeat_error err = HBEAT_ERROR_INIT;
        char out[HBEAT_STATUS_MAX + 1] = "";
        if (itest_beat(w->gw, w->id, "R", 60, out, &err) != 0 || strcmp(out, "R") != 0) {
            w->failures++;
            snprintf(w->last, sizeof(w->last), "%s", err.message);
        }
    }
    return NULL;
}

static void test_threads_share_a_gateway(void **state)
{
    (void)state;
    hbeat_gateway *gw = itest_open(itest_h.rest_url, 10);
    enum { T = 4 };
    pthread_t t[T];
    worker w[T];
    for (int i = 0; i < T; i++) {
        w[i] = (worker){gw, itest_new_run(gw, "R"), 0, ""};
        pthread_create(&t[i], NULL, worker_main, &w[i]);
    }
    for (int i = 0; i < T; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < T; i++) {
        if (w[i].failures)
            fail_msg("thread %d: %d failures, last %s", i, w[i].failures, w[i].last);
        assert_int_equal(itest_get(gw, w[i].id).beats, 20);
    }
    hbeat_gateway_free(gw);
}

/* kill -9 and a restart on the same port: the same gateway works again,
   without being recreated, from the first beat after the restart. */
static void test_kill9_and_restart(void **state)
{
    (void)state;
    hbeat_gateway *gw = itest_open(itest_h.rest_url, 5);
    int64_t id = itest_new_run(gw, "R");
    hbeat_error err = HBEAT_ERROR_INIT;
    char out[HBEAT_STATUS_MAX + 1];
    assert_int_equal(itest_beat(gw, id, "R", 60, out, &err), 0);
    assert_int_equal(itest_beat(gw, id, "R", 60, out, &err), 0);

    hbd_harness_kill9(&itest_h);
    int rc = itest_beat(gw, id, "R", 60, out, &err);
    assert_int_equal(rc, HBEAT_ETRANSPORT);
    assert_int_equal(hbd_harness_restart(&itest_h), 0);
    rc = itest_beat(gw, id, "R", 60, out, &err);
    if (rc != 0)
        fail_msg("first beat after the restart: %s", err.message);
    assert_string_equal(out, "R");
    hbeat_gateway_free(gw);
}

/* A server that accepts and never answers (SIGSTOP): the beat times out in
   the configured time; after SIGCONT the same gateway works. */
static void test_frozen_server_times_out(void **state)
{
    (void)state;
    hbeat_gateway *gw = itest_open(itest_h.rest_url, 0.5);
    int64_t id = itest_new_run(gw, "R");
    hbeat_error err = HBEAT_ERROR_INIT;
    char out[HBEAT_STATUS_MAX + 1];
    assert_int_equal(itest_beat(gw, id, "R", 60, out, &err), 0);
    hbd_harness_sigstop(&itest_h);
    double t0 = itest_now();
    int rc = itest_beat(gw, id, "R", 60, out, &err);
    double took = itest_now() - t0;
    hbd_harness_sigcont(&itest_h);
    assert_int_equal(rc, HBEAT_ETIMEDOUT);
    assert_true(took >= 0.49);
    assert_true(took < 30);
    rc = itest_beat(gw, id, "R", 60, out, &err);
    if (rc != 0)
        fail_msg("after SIGCONT: %s", err.message);
    hbeat_gateway_free(gw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ITEST_REST_CASE(test_beats_move_the_deadline),
        ITEST_REST_CASE(test_update_status),
        ITEST_REST_CASE(test_operator_status_reaches_the_beat),
        ITEST_REST_CASE(test_list_runs_pages),
        ITEST_REST_CASE(test_server_errors),
        ITEST_REST_CASE(test_threads_share_a_gateway),
        ITEST_REST_CASE(test_kill9_and_restart),
        ITEST_REST_CASE(test_frozen_server_times_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
