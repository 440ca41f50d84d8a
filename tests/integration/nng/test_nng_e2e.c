/*
 * End to end over nng: a heartbeat service talking to the real hbeatd
 * through an nng+tcp or nng+ipc gateway, with an operator steering the run
 * through the `hbeat` tool, and the server crashing, vanishing and
 * freezing under it.
 */
#include <pthread.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

static hbd_harness h;

static int setup(void **state)
{
    (void)state;
    return hbd_harness_start(&h, itest_args) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    hbd_harness_cleanup(&h);
    return 0;
}

typedef struct changes {
    pthread_mutex_t mu;
    int calls;
    char old_status[HBEAT_STATUS_MAX + 1];
    char new_status[HBEAT_STATUS_MAX + 1];
} changes;

static void on_change(void *arg, const char *old_status, const char *new_status)
{
    changes *c = arg;
    pthread_mutex_lock(&c->mu);
    c->calls++;
    snprintf(c->old_status, sizeof(c->old_status), "%s", old_status);
    snprintf(c->new_status, sizeof(c->new_status), "%s", new_status);
    pthread_mutex_unlock(&c->mu);
}

static hbeat_service *new_service(hbeat_gateway *gw, int64_t id, double interval,
                                  unsigned max_failures, changes *c)
{
    hbeat_service_options o = HBEAT_SERVICE_OPTIONS_INIT;
    o.workflow_run_id = id;
    o.interval = interval;
    o.max_consecutive_failures = max_failures;
    if (c != NULL) {
        o.on_status_change = on_change;
        o.on_status_change_arg = c;
    }
    hbeat_service *svc = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbeat_service_new(&svc, gw, &o, &err) != 0) {
        fail_msg("service_new: %s", err.message);
    }
    return svc;
}

/* The operator's side: `hbeat run set-status ID STATUS` against the URL. */
static int run_tool(const char *url, int64_t id, const char *status)
{
#ifdef HBEAT_CLI
    char idbuf[32];
    snprintf(idbuf, sizeof(idbuf), "%lld", (long long)id);
    pid_t pid = fork();
    if (pid == 0) {
        setenv("HBEAT_URL", url, 1);
        execl(HBEAT_CLI, HBEAT_CLI, "run", "set-status", idbuf, status, (char *)NULL);
        _exit(127);
    }
    int ws = 0;
    if (pid < 0 || waitpid(pid, &ws, 0) != pid) {
        return -1;
    }
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
#else
    /* The tool is not built: make the same admin call it would. */
    hbeat_gateway *gw = itest_open(url, 10.0);
    hbeat_run_info run;
    int rc = hbeat_run_set_status(gw, id, status, 0, &run, NULL);
    hbeat_gateway_free(gw);
    return rc == 0 ? 0 : 1;
#endif
}

static void operator_steers_the_run(const char *url)
{
    hbeat_gateway *gw = itest_open(url, 10.0);
    int64_t id = itest_new_run(gw, "R");
    changes c = {PTHREAD_MUTEX_INITIALIZER, 0, "", ""};
    hbeat_service *svc = new_service(gw, id, 30.0, 5, &c);
    hbeat_update up;
    hbeat_error err = HBEAT_ERROR_INIT;

    /* Beats move the deadline by interval * report_by_buffer. */
    assert_int_equal(hbeat_service_tick(svc, &up, &err), 0);
    assert_int_equal(up.changed, 0);
    hbeat_run_info run = itest_get(gw, id);
    assert_int_equal(run.beats, 1);
    double inc = hbeat_service_next_report_increment(svc);
    assert_true(run.deadline - run.last_heartbeat > inc - 1.0);
    assert_true(run.deadline - run.last_heartbeat < inc + 1.0);

    /* The operator asks for a cold resume; the next tick brings it. */
    assert_int_equal(run_tool(url, id, "C"), 0);
    assert_int_equal(hbeat_service_tick(svc, &up, &err), 0);
    assert_int_equal(up.changed, 1);
    assert_string_equal(up.status, "C");
    assert_string_equal(up.previous_status, "R");
    pthread_mutex_lock(&c.mu);
    assert_int_equal(c.calls, 1);
    assert_string_equal(c.old_status, "R");
    assert_string_equal(c.new_status, "C");
    pthread_mutex_unlock(&c.mu);
    hbeat_service_free(svc);

    /* Another run finishes: the client's own R -> D. */
    int64_t id2 = itest_new_run(gw, "R");
    svc = new_service(gw, id2, 30.0, 5, NULL);
    assert_int_equal(hbeat_service_set_status(svc, "D", &err), 0);
    assert_int_equal(hbeat_service_tick(svc, &up, &err), 0);
    assert_int_equal(up.changed, 0);
    run = itest_get(gw, id2);
    assert_string_equal(run.status, "D");
    hbeat_service_free(svc);
    hbeat_gateway_free(gw);
}

static void test_operator_over_tcp(void **state)
{
    (void)state;
    operator_steers_the_run(h.nng_tcp_url);
}

static void test_operator_over_ipc(void **state)
{
    (void)state;
    operator_steers_the_run(h.nng_ipc_url);
}

/* Wait (at most 30 s) until the server has counted `beats` for the run. */
static void wait_for_beats(hbeat_gateway *gw, int64_t id, uint64_t beats)
{
    hbeat_stop_event *pause = NULL;
    assert_int_equal(hbeat_stop_event_new(&pause), 0);
    double t0 = itest_now();
    hbeat_run_info run = itest_get(gw, id);
    while (run.beats < beats && itest_now() - t0 < 30.0) {
        hbeat_stop_event_wait(pause, 0.02);
        run = itest_get(gw, id);
    }
    hbeat_stop_event_free(pause);
    if (run.beats < beats) {
        fail_msg("run %lld: %llu beats, expected %llu", (long long)id,
                 (unsigned long long)run.beats, (unsigned long long)beats);
    }
}

/* hbeatd is killed and restarted under a running loop: the loop carries on
   with the same gateway. */
static void test_loop_survives_restart(void **state)
{
    (void)state;
    hbeat_gateway *admin = itest_open(h.nng_tcp_url, 10.0);
    hbeat_gateway *gw = itest_open(h.nng_tcp_url, 5.0);
    int64_t id = itest_new_run(admin, "R");
    /* Up to 100 failures in a row are fine here; the restart costs a few. */
    hbeat_service *svc = new_service(gw, id, 0.2, 100, NULL);
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_service_start(svc, &err), 0);
    wait_for_beats(admin, id, 3);

    hbd_harness_kill9(&h);
    assert_int_equal(hbd_harness_restart(&h), 0);
    char status[HBEAT_STATUS_MAX + 1];
    itest_beat_after_restart(admin, id, 100.0, status);
    uint64_t after_restart = itest_get(admin, id).beats;
    wait_for_beats(admin, id, after_restart + 3);
    assert_true(hbeat_service_is_running(svc));

    assert_int_equal(hbeat_service_stop(svc, &err), 0);
    hbeat_service_free(svc);
    hbeat_gateway_free(gw);
    hbeat_gateway_free(admin);
}

/* hbeatd gone for good: the loop gives up after max_consecutive_failures,
   with nng's error in the message. */
static void test_loop_goes_fatal_when_server_is_down(void **state)
{
    (void)state;
    hbeat_gateway *gw = itest_open(h.nng_ipc_url, 0.2);
    int64_t id = itest_new_run(gw, "R");
    /* Down, not stopped cleanly: the clean stop is hbeatd's own test. */
    hbd_harness_kill9(&h);
    hbeat_service *svc = new_service(gw, id, 0.2, 3, NULL);
    hbeat_stop_event *stop = NULL;
    assert_int_equal(hbeat_stop_event_new(&stop), 0);
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_service_run(svc, stop, &err), HBEAT_EFATAL);
    assert_int_equal(hbeat_service_consecutive_failures(svc), 3);
    if (strstr(err.message, "no connection") == NULL && strstr(err.message, "nng") == NULL) {
        fail_msg("message without the transport's error: %s", err.message);
    }
    hbeat_stop_event_free(stop);
    hbeat_service_free(svc);
    hbeat_gateway_free(gw);
}

/* A server that accepts and never answers: the tick times out in the
   configured time. */
static void test_tick_times_out_on_frozen_server(void **state)
{
    (void)state;
    hbeat_gateway *gw = itest_open(h.nng_tcp_url, 0.3);
    int64_t id = itest_new_run(gw, "R");
    hbeat_service *svc = new_service(gw, id, 30.0, 5, NULL);
    hbeat_update up;
    hbeat_error err = HBEAT_ERROR_INIT;
    hbd_harness_sigstop(&h);
    double t0 = itest_now();
    int rc = hbeat_service_tick(svc, &up, &err);
    double elapsed = itest_now() - t0;
    hbd_harness_sigcont(&h);
    assert_int_equal(rc, HBEAT_ETIMEDOUT);
    assert_true(elapsed >= 0.29);
    assert_non_null(strstr(err.message, "no reply within 0.3 s"));
    assert_int_equal(hbeat_service_tick(svc, &up, &err), 0);
    hbeat_service_free(svc);
    hbeat_gateway_free(gw);
}

/* tick_async takes nng's own asynchronous path. */
typedef struct tick_box {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int calls;
    int rc;
    hbeat_update up;
} tick_box;

static void on_tick(void *arg, int rc, const hbeat_update *update, const hbeat_error *err)
{
    (void)err;
    tick_box *b = arg;
    pthread_mutex_lock(&b->mu);
    b->calls++;
    b->rc = rc;
    if (rc == 0) {
        b->up = *update;
    }
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

static void test_tick_async(void **state)
{
    (void)state;
    hbeat_gateway *gw = itest_open(h.nng_tcp_url, 10.0);
    int64_t id = itest_new_run(gw, "R");
    hbeat_service *svc = new_service(gw, id, 30.0, 5, NULL);
    assert_int_equal(run_tool(h.nng_tcp_url, id, "H"), 0);
    tick_box b = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 1, {0, "", ""}};
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_service_tick_async(svc, on_tick, &b, &err), 0);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 30;
    pthread_mutex_lock(&b.mu);
    while (b.calls == 0 && pthread_cond_timedwait(&b.cv, &b.mu, &until) == 0) {
    }
    pthread_mutex_unlock(&b.mu);
    assert_int_equal(b.calls, 1);
    assert_int_equal(b.rc, 0);
    assert_int_equal(b.up.changed, 1);
    assert_string_equal(b.up.status, "H");
    hbeat_service_free(svc);
    assert_int_equal(b.calls, 1);
    hbeat_gateway_free(gw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_operator_over_tcp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_operator_over_ipc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loop_survives_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loop_goes_fatal_when_server_is_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tick_times_out_on_frozen_server, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tick_async, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
