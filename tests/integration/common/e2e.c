#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "integration/common/e2e.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* What the transports do differently. */
typedef struct transport {
    const char *scheme;
    /* The loop's beat interval where it runs on its own thread. */
    double interval;
    /* The first call on a connection the killed server left behind may
       fail (nng never resends it): after a restart, beat until the admin
       gateway has redialed. */
    int redial_after_restart;
    /* Takes hbeatd down with SIGTERM, expecting a clean exit, rather than
       with kill -9 (nng: down, not stopped cleanly; the clean stop is
       hbeatd's own test). */
    int clean_stop;
    /* The request timeout while the server is down. */
    double down_timeout;
    /* The transport's own error in the loop's fatal message: every one of
       `down_all`, or one of `down_any`. */
    const char *down_all[2];
    const char *down_any[2];
    /* Words of the transport's message for a 0.3 s timeout. */
    const char *timeout_words;
} transport;

static const transport transports[] = {
    {"nng+", 0.2, 1, 0, 0.2, {NULL}, {"no connection", "nng"}, "no reply within 0.3 s"},
    {"http", 0.1, 0, 1, 0.5, {"rest", "onnect"}, {NULL}, "log_heartbeat"},
};

static const transport *transport_of(const char *url)
{
    for (size_t i = 0; i < sizeof(transports) / sizeof(transports[0]); i++) {
        if (strncmp(url, transports[i].scheme, strlen(transports[i].scheme)) == 0)
            return &transports[i];
    }
    fail_msg("no transport for %s", url);
    return NULL;
}

static int names_down_error(const transport *t, const char *message)
{
    int any = t->down_any[0] == NULL;
    for (int i = 0; i < 2; i++) {
        if (t->down_all[i] != NULL && strstr(message, t->down_all[i]) == NULL)
            return 0;
        if (t->down_any[i] != NULL && strstr(message, t->down_any[i]) != NULL)
            any = 1;
    }
    return any;
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
    if (hbeat_service_new(&svc, gw, &o, &err) != 0)
        fail_msg("service_new: %s", err.message);
    return svc;
}

/* The operator's side: `hbeat run set-status ID STATUS` with HBEAT_URL. */
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
    if (pid < 0 || waitpid(pid, &ws, 0) != pid)
        return -1;
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

void e2e_operator_steers_the_run(const char *url)
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
    assert_string_equal(itest_get(gw, id2).status, "D");
    hbeat_service_free(svc);
    hbeat_gateway_free(gw);
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
    if (run.beats < beats)
        fail_msg("run %lld: %llu beats, expected %llu", (long long)id,
                 (unsigned long long)run.beats, (unsigned long long)beats);
}

void e2e_loop_survives_restart(const char *url)
{
    const transport *t = transport_of(url);
    hbeat_gateway *admin = itest_open(url, 10.0);
    hbeat_gateway *gw = itest_open(url, 5.0);
    int64_t id = itest_new_run(admin, "R");
    /* Up to 100 failures in a row are fine here; the restart costs a few. */
    hbeat_service *svc = new_service(gw, id, t->interval, 100, NULL);
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_service_start(svc, &err), 0);
    wait_for_beats(admin, id, 3);

    hbd_harness_kill9(&itest_h);
    assert_int_equal(hbd_harness_restart(&itest_h), 0);
    if (t->redial_after_restart) {
        char status[HBEAT_STATUS_MAX + 1];
        itest_beat_after_restart(admin, id, 100.0, status);
    }
    uint64_t after_restart = itest_get(admin, id).beats;
    wait_for_beats(admin, id, after_restart + 3);
    assert_true(hbeat_service_is_running(svc));

    assert_int_equal(hbeat_service_stop(svc, &err), 0);
    hbeat_service_free(svc);
    hbeat_gateway_free(gw);
    hbeat_gateway_free(admin);
}

void e2e_loop_goes_fatal_when_server_is_down(const char *url)
{
    const transport *t = transport_of(url);
    hbeat_gateway *gw = itest_open(url, t->down_timeout);
    int64_t id = itest_new_run(gw, "R");
    if (t->clean_stop)
        assert_int_equal(hbd_harness_stop(&itest_h), 0);
    else
        hbd_harness_kill9(&itest_h);
    hbeat_service *svc = new_service(gw, id, t->interval, 3, NULL);
    hbeat_stop_event *stop = NULL;
    assert_int_equal(hbeat_stop_event_new(&stop), 0);
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_service_run(svc, stop, &err), HBEAT_EFATAL);
    assert_int_equal(hbeat_service_consecutive_failures(svc), 3);
    if (!names_down_error(t, err.message))
        fail_msg("message without the transport's error: %s", err.message);
    hbeat_stop_event_free(stop);
    hbeat_service_free(svc);
    hbeat_gateway_free(gw);
}

void e2e_tick_times_out_on_frozen_server(const char *url)
{
    const transport *t = transport_of(url);
    hbeat_gateway *gw = itest_open(url, 0.3);
    int64_t id = itest_new_run(gw, "R");
    hbeat_service *svc = new_service(gw, id, 30.0, 5, NULL);
    hbeat_update up;
    hbeat_error err = HBEAT_ERROR_INIT;
    hbd_harness_sigstop(&itest_h);
    double t0 = itest_now();
    int rc = hbeat_service_tick(svc, &up, &err);
    double elapsed = itest_now() - t0;
    hbd_harness_sigcont(&itest_h);
    assert_int_equal(rc, HBEAT_ETIMEDOUT);
    assert_true(elapsed >= 0.29);
    assert_non_null(strstr(err.message, t->timeout_words));
    assert_int_equal(hbeat_service_tick(svc, &up, &err), 0);
    hbeat_service_free(svc);
    hbeat_gateway_free(gw);
}

typedef struct tick_box {
    itest_done done;
    hbeat_update up;
} tick_box;

static void on_tick(void *arg, int rc, const hbeat_update *update, const hbeat_error *err)
{
    (void)err;
    tick_box *b = arg;
    if (rc == 0)
        b->up = *update;
    itest_done_call(&b->done, rc);
}

void e2e_tick_async(const char *url)
{
    hbeat_gateway *gw = itest_open(url, 10.0);
    int64_t id = itest_new_run(gw, "R");
    hbeat_service *svc = new_service(gw, id, 30.0, 5, NULL);
    assert_int_equal(run_tool(url, id, "H"), 0);
    tick_box b = {ITEST_DONE_INIT, {0, "", ""}};
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_service_tick_async(svc, on_tick, &b, &err), 0);
    assert_int_equal(itest_done_wait(&b.done), 1);
    assert_int_equal(b.done.rc, 0);
    assert_int_equal(b.up.changed, 1);
    assert_string_equal(b.up.status, "H");
    hbeat_service_free(svc);
    assert_int_equal(b.done.calls, 1);
    hbeat_gateway_free(gw);
}
