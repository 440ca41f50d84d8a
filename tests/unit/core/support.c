#include "support.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

hbeat_clock *t_fake_clock(void)
{
    hbeat_clock *clock = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_fake_clock_new(&clock, T_START_NS, &err), 0);
    assert_non_null(clock);
    return clock;
}

hbeat_gateway *t_fake_gateway(hbeat_clock *clock, unsigned int flags)
{
    hbeat_gateway *gw = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_fake_gateway_new(&gw, clock, flags, &err), 0);
    assert_non_null(gw);
    return gw;
}

hbeat_service *t_service_opts(hbeat_gateway *gw, hbeat_service_options *opts)
{
    hbeat_service *svc = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_service_new(&svc, gw, opts, &err);
    if (rc != 0) {
        fail_msg("hbeat_service_new: %d %s", rc, err.message);
    }
    assert_non_null(svc);
    return svc;
}

hbeat_service *t_service(hbeat_gateway *gw, hbeat_clock *clock, int64_t run_id, double interval,
                         double report_by_buffer, unsigned int max_failures)
{
    hbeat_service_options opts = HBEAT_SERVICE_OPTIONS_INIT;
    opts.workflow_run_id = run_id;
    opts.interval = interval;
    opts.report_by_buffer = report_by_buffer;
    opts.max_consecutive_failures = max_failures;
    opts.clock = clock;
    /* Jobmon's pace: every retry after max(0.1 s, interval / 2), without
       backoff or jitter, so that retry times are exact. */
    opts.retry_factor = 1.0;
    opts.retry_jitter = 0.0;
    return t_service_opts(gw, &opts);
}

void t_settle(hbeat_clock *clock)
{
    int rc = hbeat_fake_clock_wait_waiters(clock, 1, T_TIMEOUT);
    if (rc != 0) {
        fail_msg("the loop never went to sleep on the fake clock (%d)", rc);
    }
}

void t_wait_calls(hbeat_gateway *gw, int n)
{
    int rc = hbeat_fake_gateway_wait_calls(gw, n, T_TIMEOUT);
    if (rc != 0) {
        fail_msg("expected %d gateway calls, have %d (%d)", n, hbeat_fake_gateway_call_count(gw),
                 rc);
    }
}

void t_wait_not_running(hbeat_service *svc)
{
    struct timespec start, now, pause = {0, 200000};
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (hbeat_service_is_running(svc)) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec > (time_t)T_TIMEOUT) {
            fail_msg("the loop did not end by itself");
        }
        nanosleep(&pause, NULL);
    }
}

hbeat_fake_call t_call(hbeat_gateway *gw, int i)
{
    hbeat_fake_call call;
    memset(&call, 0, sizeof call);
    assert_int_equal(hbeat_fake_gateway_call(gw, i, &call), 0);
    return call;
}

/* ---- status-change recorder ------------------------------------------- */

void t_changes_init(t_changes *c)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
}

void t_changes_destroy(t_changes *c)
{
    pthread_mutex_destroy(&c->mu);
}

int t_changes_count(t_changes *c)
{
    pthread_mutex_lock(&c->mu);
    int n = c->count;
    pthread_mutex_unlock(&c->mu);
    return n;
}

void t_on_change(void *arg, const char *old_status, const char *new_status)
{
    t_changes *c = arg;
    pthread_mutex_lock(&c->mu);
    if (c->count < 8) {
        snprintf(c->old_status[c->count], sizeof c->old_status[0], "%s",
                 old_status ? old_status : "(null)");
        snprintf(c->new_status[c->count], sizeof c->new_status[0], "%s",
                 new_status ? new_status : "(null)");
    }
    c->count++;
    pthread_mutex_unlock(&c->mu);
}

/* ---- tick_async recorder ---------------------------------------------- */

void t_ticks_init(t_ticks *t)
{
    memset(t, 0, sizeof *t);
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    t->rc = 1; /* no result yet */
}

void t_ticks_destroy(t_ticks *t)
{
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
}

int t_ticks_count(t_ticks *t)
{
    pthread_mutex_lock(&t->mu);
    int n = t->count;
    pthread_mutex_unlock(&t->mu);
    return n;
}

int t_ticks_wait(t_ticks *t, int n)
{
    pthread_mutex_lock(&t->mu);
    int got = t_cond_wait_until(&t->cv, &t->mu, &t->count, n, T_TIMEOUT);
    pthread_mutex_unlock(&t->mu);
    return got;
}

void t_on_tick(void *arg, int rc, const hbeat_update *update, const hbeat_error *err)
{
    t_ticks *t = arg;
    pthread_mutex_lock(&t->mu);
    t->count++;
    t->rc = rc;
    t->thread = pthread_self();
    /* On a worker the callback may legitimately finish before tick_async
       returns; only the calling thread's own stack counts as "inside". */
    if (t->inside_call && pthread_equal(t->caller, pthread_self())) {
        t->ran_inside = 1;
    }
    if (rc == 0 && update) {
        t->update = *update;
    }
    if (rc != 0 && err) {
        t->err = *err;
    }
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

int t_tick_async(hbeat_service *svc, t_ticks *t, hbeat_error *err)
{
    pthread_mutex_lock(&t->mu);
    t->inside_call = 1;
    t->caller = pthread_self();
    pthread_mutex_unlock(&t->mu);
    /* A callback run from inside this call would deadlock on t->mu if we
       held it, so it is released; the flag tells the callback where it is. */
    int rc = hbeat_service_tick_async(svc, t_on_tick, t, err);
    pthread_mutex_lock(&t->mu);
    t->inside_call = 0;
    pthread_mutex_unlock(&t->mu);
    return rc;
}

/* ---- the gate gateway -------------------------------------------------- */

static void gate_destroy(void *self)
{
    t_gate *g = self;
    pthread_mutex_lock(&g->mu);
    g->destroys++;
    pthread_mutex_unlock(&g->mu);
}

static void gate_close(void *self)
{
    t_gate *g = self;
    pthread_mutex_lock(&g->mu);
    g->closes++;
    pthread_mutex_unlock(&g->mu);
}

static int gate_log_heartbeat(void *self, const hbeat_heartbeat_request *req,
                              hbeat_heartbeat_reply *reply, hbeat_error *err)
{
    t_gate *g = self;
    pthread_mutex_lock(&g->mu);
    g->calls++;
    g->in_method++;
    if (g->in_method > g->max_in_method) {
        g->max_in_method = g->in_method;
    }
    g->last_run_id = req->workflow_run_id;
    snprintf(g->last_status, sizeof g->last_status, "%s", req->status);
    g->waiting++;
    pthread_cond_broadcast(&g->cv);
    while (!g->open) {
        pthread_cond_wait(&g->cv, &g->mu);
    }
    g->waiting--;
    int code = g->fail_code;
    if (code == 0) {
        memset(reply->status, 0, sizeof reply->status);
        memcpy(reply->status, g->reply,
               strlen(g->reply) < sizeof reply->status ? strlen(g->reply)
                                                       : sizeof reply->status - 1);
    }
    g->in_method--;
    pthread_mutex_unlock(&g->mu);
    if (code != 0) {
        return hbeat_error_set(err, code, "gate: injected failure");
    }
    return 0;
}

const hbeat_gateway_vtable t_gate_vtable = {
    .version = HBEAT_GATEWAY_VTABLE_VERSION,
    .name = "gate",
    .flags = 0,
    .destroy = gate_destroy,
    .log_heartbeat = gate_log_heartbeat,
    .close = gate_close,
};

static const hbeat_gateway_vtable gate_vtable_thread_safe = {
    .version = HBEAT_GATEWAY_VTABLE_VERSION,
    .name = "gate",
    .flags = HBEAT_GATEWAY_THREAD_SAFE,
    .destroy = gate_destroy,
    .log_heartbeat = gate_log_heartbeat,
    .close = gate_close,
};

void t_gate_init(t_gate *g, int open)
{
    memset(g, 0, sizeof *g);
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->open = open;
    strcpy(g->reply, "R");
}

void t_gate_destroy(t_gate *g)
{
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
}

void t_gate_set_open(t_gate *g, int open)
{
    pthread_mutex_lock(&g->mu);
    g->open = open;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

void t_gate_wait_waiting(t_gate *g, int n)
{
    pthread_mutex_lock(&g->mu);
    int got = t_cond_wait_until(&g->cv, &g->mu, &g->waiting, n, T_TIMEOUT);
    pthread_mutex_unlock(&g->mu);
    if (got < n) {
        fail_msg("expected %d beats blocked on the gate, have %d", n, got);
    }
}

int t_gate_calls(t_gate *g)
{
    pthread_mutex_lock(&g->mu);
    int n = g->calls;
    pthread_mutex_unlock(&g->mu);
    return n;
}

hbeat_gateway *t_gate_gateway(t_gate *g, unsigned int flags)
{
    hbeat_gateway *gw = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    const hbeat_gateway_vtable *vt =
        (flags & HBEAT_GATEWAY_THREAD_SAFE) ? &gate_vtable_thread_safe : &t_gate_vtable;
    assert_int_equal(hbeat_gateway_new(&gw, vt, g, &err), 0);
    assert_non_null(gw);
    return gw;
}

/* ---- run() on a helper thread ------------------------------------------ */

static void *runner_main(void *arg)
{
    t_runner *r = arg;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_service_run(r->svc, r->stop, &err);
    pthread_mutex_lock(&r->mu);
    r->rc = rc;
    r->err = err;
    r->done = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

void t_runner_start(t_runner *r, hbeat_service *svc, hbeat_stop_event *stop)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->svc = svc;
    r->stop = stop;
    assert_int_equal(pthread_create(&r->thread, NULL, runner_main, r), 0);
    r->started = 1;
}

int t_runner_done(t_runner *r)
{
    pthread_mutex_lock(&r->mu);
    int d = r->done;
    pthread_mutex_unlock(&r->mu);
    return d;
}

int t_runner_join(t_runner *r)
{
    pthread_mutex_lock(&r->mu);
    int done = t_cond_wait_until(&r->cv, &r->mu, &r->done, 1, T_TIMEOUT);
    pthread_mutex_unlock(&r->mu);
    if (!done) {
        fail_msg("hbeat_service_run() did not return");
    }
    pthread_join(r->thread, NULL);
    r->started = 0;
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    return r->rc;
}

/* ---- small thread helpers ---------------------------------------------- */

pthread_t t_thread(t_thread_fn fn, void *arg)
{
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, fn, arg), 0);
    return th;
}

void t_join(pthread_t th)
{
    assert_int_equal(pthread_join(th, NULL), 0);
}

int t_cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, const int *flag, int want,
                      double timeout_seconds)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += (time_t)timeout_seconds;
    while (*flag < want) {
        if (pthread_cond_timedwait(cv, mu, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    return *flag;
}
