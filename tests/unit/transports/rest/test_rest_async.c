/* Asynchronous heartbeats, close() cancelling calls in flight, and one
   gateway shared by several threads. The methods are driven through the
   vtable so that the gateway's own guarantees are what is tested. */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pthread.h>

#include <cmocka.h>

#include "core/gateway_internal.h"
#include "hbeat/hbeat.h"
#include "hbeat/sys/gateway.h"
#include "support/rest_peer.h"
#include "transports/rest/rest_internal.h"

typedef struct fx {
    peer *p;
    hbeat_gateway *gw;
    const hbeat_gateway_vtable *vt;
    void *self;
} fx;

static hbeat_gateway *open_gw(const char *url, double timeout)
{
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.request_timeout = timeout;
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
    f->gw = open_gw(peer_url(f->p), 30);
    f->vt = hbeat__gateway_vtable(f->gw);
    f->self = hbeat_gateway_self(f->gw);
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

/* One record per async call: how often and how its callback ran. */
typedef struct call {
    pthread_mutex_t *mu;
    pthread_cond_t *cv;
    int calls;
    int rc;
    char status[HBEAT_STATUS_MAX + 1];
    char message[HBEAT_ERROR_MESSAGE_MAX];
    int had_reply;
    int had_err;
    pthread_t thread;
    int inside;
} call;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
/* Set around the async call, to catch a callback run inside it. */
static int inside_start;
static pthread_t starter;

static void on_done(void *arg, int rc, const hbeat_heartbeat_reply *reply, const hbeat_error *err)
{
    call *c = arg;
    pthread_mutex_lock(&mu);
    c->calls++;
    c->rc = rc;
    c->had_reply = reply != NULL;
    c->had_err = err != NULL;
    if (reply != NULL)
        snprintf(c->status, sizeof(c->status), "%s", reply->status);
    if (err != NULL)
        snprintf(c->message, sizeof(c->message), "%s", err->message);
    c->thread = pthread_self();
    c->inside = inside_start && pthread_equal(c->thread, starter);
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

/* Waits for an event, not for time: the bound only turns a hang into a
   failure. */
static void wait_calls(call *c, int n, int count)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 30;
    pthread_mutex_lock(&mu);
    for (;;) {
        int done = 0;
        for (int i = 0; i < n; i++)
            done += c[i].calls;
        if (done >= count || pthread_cond_timedwait(&cv, &mu, &until) != 0)
            break;
    }
    pthread_mutex_unlock(&mu);
}

static int start(fx *f, int64_t id, const char *status, call *c)
{
    hbeat_heartbeat_request req = {id, status, 30.0, 1};
    hbeat_error err = HBEAT_ERROR_INIT;
    memset(c, 0, sizeof(*c));
    pthread_mutex_lock(&mu);
    starter = pthread_self();
    inside_start = 1;
    pthread_mutex_unlock(&mu);
    int rc = f->vt->log_heartbeat_async(f->self, &req, on_done, c, &err);
    pthread_mutex_lock(&mu);
    inside_start = 0;
    pthread_mutex_unlock(&mu);
    return rc;
}

static void test_async_exactly_once_on_another_thread(void **state)
{
    fx *f = *state;
    call c;
    assert_int_equal(start(f, 11, "R", &c), 0);
    wait_calls(&c, 1, 1);
    assert_int_equal(c.calls, 1);
    assert_false(c.inside);
    assert_int_equal(c.rc, 0);
    assert_true(c.had_reply);
    assert_false(c.had_err);
    assert_string_equal(c.status, "R");
    assert_false(pthread_equal(c.thread, pthread_self()));
    peer_request r;
    assert_int_equal(peer_get(f->p, 0, &r), 0);
    assert_string_equal(r.path, "/api/v3/workflow_run/11/log_heartbeat");
    assert_string_equal(r.body, "{\"status\": \"R\", \"next_report_increment\": 30.0}");
    /* Nothing more arrives, not even at close. */
    hbeat_gateway_free(f->gw);
    f->gw = NULL;
    assert_int_equal(c.calls, 1);
}

static void test_async_error(void **state)
{
    fx *f = *state;
    peer_push_reply(f->p, 500, "application/custom+json", "{\"error\": {}}", 1);
    call c;
    assert_int_equal(start(f, 12, "R", &c), 0);
    wait_calls(&c, 1, 1);
    assert_int_equal(c.rc, HBEAT_ESERVER);
    assert_false(c.had_reply);
    assert_true(c.had_err);
    assert_non_null(strstr(c.message, "HTTP 500"));
    /* And the connection the server dropped is replaced. */
    assert_int_equal(start(f, 12, "R", &c), 0);
    wait_calls(&c, 1, 1);
    assert_int_equal(c.rc, 0);
}

static void test_async_many_in_flight(void **state)
{
    fx *f = *state;
    enum { N = 24 };
    static call c[N];
    static const char *const statuses[] = {"R", "D", "C", "H"};
    for (int i = 0; i < N; i++)
        assert_int_equal(start(f, 100 + i, statuses[i % 4], &c[i]), 0);
    wait_calls(c, N, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(c[i].calls, 1);
        assert_false(c[i].inside);
        assert_int_equal(c[i].rc, 0);
        assert_string_equal(c[i].status, statuses[i % 4]);
    }
    assert_int_equal(peer_request_count(f->p), N);
}

static void test_close_cancels_async_in_flight(void **state)
{
    fx *f = *state;
    peer_action a = {PEER_SILENT, NULL, 0, 0, 0, 0, 0};
    peer_push(f->p, a);
    call c;
    assert_int_equal(start(f, 13, "R", &c), 0);
    assert_int_equal(peer_wait_requests(f->p, 1), 0);
    hbeat_gateway_free(f->gw);
    f->gw = NULL;
    /* Delivered before free returned, exactly once. */
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.rc, HBEAT_ECANCELED);
    assert_true(c.had_err);
}

static void test_async_after_close_is_refused(void **state)
{
    fx *f = *state;
    f->vt->close(f->self);
    call c;
    assert_int_equal(start(f, 14, "R", &c), HBEAT_ECANCELED);
    hbeat_heartbeat_request req = {14, "R", 30.0, 1};
    hbeat_heartbeat_reply reply;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(f->vt->log_heartbeat(f->self, &req, &reply, &err), HBEAT_ECANCELED);
    hbeat_gateway_free(f->gw);
    f->gw = NULL;
    assert_int_equal(c.calls, 0);
}

typedef struct blocking {
    fx *f;
    int rc;
    hbeat_error err;
} blocking;

static void *blocking_main(void *arg)
{
    blocking *b = arg;
    hbeat_heartbeat_request req = {15, "R", 30.0, 1};
    hbeat_heartbeat_reply reply;
    b->rc = b->f->vt->log_heartbeat(b->f->self, &req, &reply, &b->err);
    return NULL;
}

static void test_close_cancels_blocking_call(void **state)
{
    fx *f = *state;
    peer_action a = {PEER_SILENT, NULL, 0, 0, 0, 0, 0};
    peer_push(f->p, a);
    blocking b = {f, 1, HBEAT_ERROR_INIT};
    pthread_t t;
    pthread_create(&t, NULL, blocking_main, &b);
    assert_int_equal(peer_wait_requests(f->p, 1), 0);
    f->vt->close(f->self);
    pthread_join(t, NULL);
    assert_int_equal(b.rc, HBEAT_ECANCELED);
    assert_non_null(strstr(b.err.message, "canceled"));
}

/* A callback may start the next beat: no lock of the gateway is held. */
typedef struct chain {
    fx *f;
    int left;
    int failures;
    hbeat_heartbeat_request req;
} chain;

static void on_chain(void *arg, int rc, const hbeat_heartbeat_reply *reply, const hbeat_error *err)
{
    (void)reply;
    (void)err;
    chain *ch = arg;
    pthread_mutex_lock(&mu);
    if (rc != 0)
        ch->failures++;
    int again = --ch->left > 0;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    if (again && ch->f->vt->log_heartbeat_async(ch->f->self, &ch->req, on_chain, ch, NULL) != 0) {
        pthread_mutex_lock(&mu);
        ch->failures++;
        ch->left = 0;
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
    }
}

static void test_callback_starts_next_beat(void **state)
{
    fx *f = *state;
    chain ch = {f, 5, 0, {16, "R", 30.0, 1}};
    assert_int_equal(f->vt->log_heartbeat_async(f->self, &ch.req, on_chain, &ch, NULL), 0);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 30;
    pthread_mutex_lock(&mu);
    while (ch.left > 0 && pthread_cond_timedwait(&cv, &mu, &until) == 0)
        ;
    pthread_mutex_unlock(&mu);
    assert_int_equal(ch.left, 0);
    assert_int_equal(ch.failures, 0);
    assert_int_equal(peer_request_count(f->p), 5);
    /* The worker's connection was kept alive from beat to beat. */
    assert_int_equal(peer_connection_count(f->p), 1);
}

enum { THREADS = 4, BEATS = 25 };

typedef struct worker {
    hbeat_gateway *gw;
    int index;
    int failures;
    char last_error[HBEAT_ERROR_MESSAGE_MAX];
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    static const char *const statuses[] = {"R", "D", "C", "H"};
    for (int i = 0; i < BEATS; i++) {
        char out[HBEAT_STATUS_MAX + 1] = "";
        hbeat_error err = HBEAT_ERROR_INIT;
        const char *st = statuses[(w->index + i) % 4];
        int rc = hbeat_gateway_log_heartbeat(w->gw, 1000 + w->index, st, 30, out, &err);
        if (rc != 0 || strcmp(out, st) != 0) {
            w->failures++;
            snprintf(w->last_error, sizeof(w->last_error), "%s", err.message);
        }
    }
    return NULL;
}

static void test_threads_share_one_gateway(void **state)
{
    fx *f = *state;
    pthread_t t[THREADS];
    worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){f->gw, i, 0, ""};
        pthread_create(&t[i], NULL, worker_main, &w[i]);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < THREADS; i++) {
        if (w[i].failures != 0)
            fail_msg("thread %d: %d failures, last: %s", i, w[i].failures, w[i].last_error);
    }
    assert_int_equal(peer_request_count(f->p), THREADS * BEATS);
    /* Each pooled handle keeps its own connection: never more than one
       per thread. */
    assert_true(peer_connection_count(f->p) <= THREADS);
}

/* Through the service, which uses the gateway's async path because the
   gateway says it is thread-safe. */
typedef struct tick {
    int calls;
    int rc;
    hbeat_update update;
} tick;

static void on_tick(void *arg, int rc, const hbeat_update *update, const hbeat_error *err)
{
    (void)err;
    tick *t = arg;
    pthread_mutex_lock(&mu);
    t->calls++;
    t->rc = rc;
    if (update != NULL)
        t->update = *update;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void test_service_tick_async_over_rest(void **state)
{
    fx *f = *state;
    hbeat_service_options so = HBEAT_SERVICE_OPTIONS_INIT;
    so.workflow_run_id = 17;
    so.interval = 10;
    hbeat_service *svc = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbeat_service_new(&svc, f->gw, &so, &err) != 0)
        fail_msg("service: %s", err.message);
    peer_push_reply(f->p, 200, "application/json", "{\"status\":\"C\"}", 0);
    tick t = {0, 1, {0, "", ""}};
    assert_int_equal(hbeat_service_tick_async(svc, on_tick, &t, &err), 0);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 30;
    pthread_mutex_lock(&mu);
    while (t.calls == 0 && pthread_cond_timedwait(&cv, &mu, &until) == 0)
        ;
    pthread_mutex_unlock(&mu);
    assert_int_equal(t.calls, 1);
    assert_int_equal(t.rc, 0);
    assert_true(t.update.changed);
    assert_string_equal(t.update.status, "C");
    hbeat_service_free(svc);
    peer_request r;
    assert_int_equal(peer_get(f->p, 0, &r), 0);
    assert_string_equal(r.path, "/api/v3/workflow_run/17/log_heartbeat");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_async_exactly_once_on_another_thread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_async_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_async_many_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_cancels_async_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_async_after_close_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_cancels_blocking_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_callback_starts_next_beat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads_share_one_gateway, setup, teardown),
        cmocka_unit_test_setup_teardown(test_service_tick_async_over_rest, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
