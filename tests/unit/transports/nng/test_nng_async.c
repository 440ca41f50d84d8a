/*
 * log_heartbeat_async on nng's aio, and closing a gateway with calls in
 * flight: done exactly once, never from inside the starting call, never
 * after close returned.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "hbeat/errors.h"
#include "hbeat/gateway.h"
#include "peer.h"
#include "support.h"
#include "transports/nng/nng_internal.h"

/* Records every completion of one async call. */
typedef struct completion {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int calls;
    int rc;
    char status[HBEAT_STATUS_MAX + 1];
    hbeat_error err;
    pthread_t thread;
} completion;

static void completion_init(completion *c)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
}

static void completion_destroy(completion *c)
{
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
}

static void on_done(void *arg, int rc, const hbeat_heartbeat_reply *reply, const hbeat_error *err)
{
    completion *c = arg;
    pthread_mutex_lock(&c->mu);
    c->calls++;
    c->rc = rc;
    c->thread = pthread_self();
    if (rc == 0) {
        snprintf(c->status, sizeof(c->status), "%s", reply->status);
    } else {
        c->err = *err;
    }
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static int completion_calls(completion *c)
{
    pthread_mutex_lock(&c->mu);
    int n = c->calls;
    pthread_mutex_unlock(&c->mu);
    return n;
}

/* Wait (at most 30 s) for the first completion. */
static void completion_wait(completion *c)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 30;
    pthread_mutex_lock(&c->mu);
    while (c->calls == 0) {
        if (pthread_cond_timedwait(&c->cv, &c->mu, &until) != 0) {
            break;
        }
    }
    int n = c->calls;
    pthread_mutex_unlock(&c->mu);
    assert_int_equal(n, 1);
}

static void test_async_good(void **state)
{
    (void)state;
    peer p;
    peer_init(&p, unique_name("async"), NULL);
    assert_int_equal(peer_start(&p), 0);
    hbeat_gateway *gw = open_gw(p.client_url, 0);
    void *self = nng_self(gw);

    completion c;
    completion_init(&c);
    hbeat_heartbeat_request req = beat(4, "R", 9);
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(nng_vtable()->log_heartbeat_async(self, &req, on_done, &c, &err), 0);
    completion_wait(&c);
    assert_int_equal(c.rc, 0);
    assert_string_equal(c.status, "R");
    /* Called on an nng thread, so not from inside log_heartbeat_async. */
    assert_false(pthread_equal(c.thread, pthread_self()));
    assert_int_equal(p.last_sequence, 9);

    /* Errors come through the callback too, once. */
    completion bad;
    completion_init(&bad);
    peer_set_mode(&p, PEER_WRONG_SEQ);
    req.sequence = 10;
    assert_int_equal(nng_vtable()->log_heartbeat_async(self, &req, on_done, &bad, &err), 0);
    completion_wait(&bad);
    assert_int_equal(bad.rc, HBEAT_EPROTO);
    assert_int_equal(bad.err.code, HBEAT_EPROTO);

    hbeat_gateway_free(gw);
    assert_int_equal(completion_calls(&c), 1);
    assert_int_equal(completion_calls(&bad), 1);
    completion_destroy(&c);
    completion_destroy(&bad);
    peer_destroy(&p);
}

static void test_async_start_error_never_calls_done(void **state)
{
    (void)state;
    peer p;
    peer_init(&p, unique_name("async-bad"), NULL);
    assert_int_equal(peer_start(&p), 0);
    hbeat_gateway *gw = open_gw(p.client_url, 0);
    void *self = nng_self(gw);

    completion c;
    completion_init(&c);
    hbeat_heartbeat_request req = beat(4, "not valid", 1);
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(nng_vtable()->log_heartbeat_async(self, &req, on_done, &c, &err),
                     HBEAT_EINVAL);
    req = beat(4, "R", 1);
    req.next_report_increment = -1.0;
    assert_int_equal(nng_vtable()->log_heartbeat_async(self, &req, on_done, &c, &err),
                     HBEAT_EINVAL);
    hbeat_gateway_free(gw);
    assert_int_equal(completion_calls(&c), 0);
    assert_int_equal(peer_requests(&p), 0);
    completion_destroy(&c);
    peer_destroy(&p);
}

static void test_async_timeout(void **state)
{
    (void)state;
    peer p;
    peer_init(&p, unique_name("async-silent"), NULL);
    assert_int_equal(peer_start(&p), 0);
    hbeat_gateway *gw = open_gw(p.client_url, 0.2);
    /* Connected first, so that the time runs out waiting for the reply. */
    char status[HBEAT_STATUS_MAX + 1];
    int rc = HBEAT_ETIMEDOUT;
    for (int i = 0; i < 50 && rc == HBEAT_ETIMEDOUT; i++) {
        rc = hbeat_gateway_log_heartbeat(gw, 4, "R", 10.0, status, NULL);
    }
    assert_int_equal(rc, 0);
    peer_set_mode(&p, PEER_SILENT);
    completion c;
    completion_init(&c);
    hbeat_heartbeat_request req = beat(4, "R", 1);
    hbeat_error err = HBEAT_ERROR_INIT;
    double t0 = now_s();
    assert_int_equal(nng_vtable()->log_heartbeat_async(nng_self(gw), &req, on_done, &c, &err), 0);
    completion_wait(&c);
    assert_true(now_s() - t0 >= 0.19);
    assert_int_equal(c.rc, HBEAT_ETIMEDOUT);
    assert_non_null(strstr(c.err.message, "no reply within 0.2 s"));
    hbeat_gateway_free(gw);
    assert_int_equal(completion_calls(&c), 1);
    completion_destroy(&c);
    peer_destroy(&p);
}

/* Close with async calls in flight, one waiting for a reply and one for a
   connection: both end with ECANCELED before close returns. */
static void test_close_cancels_async(void **state)
{
    (void)state;
    peer p;
    peer_init(&p, unique_name("async-close"), NULL);
    assert_int_equal(peer_start(&p), 0);
    peer_set_mode(&p, PEER_SILENT);
    hbeat_gateway *gw = open_gw(p.client_url, 60.0);
    void *self = nng_self(gw);

    char url[128];
    snprintf(url, sizeof(url), "nng+inproc://%s", unique_name("never"));
    hbeat_gateway *gw2 = open_gw(url, 60.0);
    void *self2 = nng_self(gw2);

    completion c, c2;
    completion_init(&c);
    completion_init(&c2);
    hbeat_heartbeat_request req = beat(4, "R", 1);
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(nng_vtable()->log_heartbeat_async(self, &req, on_done, &c, &err), 0);
    assert_int_equal(nng_vtable()->log_heartbeat_async(self2, &req, on_done, &c2, &err), 0);
    assert_int_equal(peer_wait_requests(&p, 1), 0);

    double t0 = now_s();
    nng_vtable()->close(self);
    nng_vtable()->close(self2);
    assert_int_equal(completion_calls(&c), 1);
    assert_int_equal(completion_calls(&c2), 1);
    assert_int_equal(c.rc, HBEAT_ECANCELED);
    assert_int_equal(c2.rc, HBEAT_ECANCELED);
    assert_int_equal(c.err.code, HBEAT_ECANCELED);
    assert_true(now_s() - t0 < 30.0);

    /* After close: refused at once, done never called. */
    completion late;
    completion_init(&late);
    assert_int_equal(nng_vtable()->log_heartbeat_async(self, &req, on_done, &late, &err),
                     HBEAT_ECANCELED);
    hbeat_heartbeat_reply rep;
    assert_int_equal(nng_vtable()->log_heartbeat(self, &req, &rep, &err), HBEAT_ECANCELED);

    /* hbeat_gateway_free closes again, which is harmless. */
    hbeat_gateway_free(gw);
    hbeat_gateway_free(gw2);
    assert_int_equal(completion_calls(&c), 1);
    assert_int_equal(completion_calls(&late), 0);
    completion_destroy(&c);
    completion_destroy(&c2);
    completion_destroy(&late);
    peer_destroy(&p);
}

typedef struct blocking_call {
    void *self;
    int rc;
    hbeat_error err;
} blocking_call;

static void *blocking_beat(void *arg)
{
    blocking_call *b = arg;
    hbeat_heartbeat_request req = beat(4, "R", 1);
    hbeat_heartbeat_reply rep;
    b->rc = nng_vtable()->log_heartbeat(b->self, &req, &rep, &b->err);
    return NULL;
}

static void test_close_cancels_blocking(void **state)
{
    (void)state;
    peer p;
    peer_init(&p, unique_name("block-close"), NULL);
    assert_int_equal(peer_start(&p), 0);
    peer_set_mode(&p, PEER_SILENT);
    hbeat_gateway *gw = open_gw(p.client_url, 60.0);
    blocking_call b = {nng_self(gw), 1, HBEAT_ERROR_INIT};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, blocking_beat, &b), 0);
    assert_int_equal(peer_wait_requests(&p, 1), 0);
    nng_vtable()->close(b.self);
    pthread_join(t, NULL);
    assert_int_equal(b.rc, HBEAT_ECANCELED);
    assert_non_null(strstr(b.err.message, "closed"));
    hbeat_gateway_free(gw);
    peer_destroy(&p);
}

/* Many async beats at once: each completes exactly once with its own reply. */
#define MANY 64
static void test_many_async(void **state)
{
    (void)state;
    peer p;
    peer_init(&p, unique_name("async-many"), NULL);
    assert_int_equal(peer_start(&p), 0);
    hbeat_gateway *gw = open_gw(p.client_url, 0);
    void *self = nng_self(gw);
    static completion c[MANY];
    char status[MANY][8];
    for (int i = 0; i < MANY; i++) {
        completion_init(&c[i]);
        snprintf(status[i], sizeof(status[i]), "S%d", i);
        hbeat_heartbeat_request req = beat(i + 1, status[i], (uint64_t)i);
        hbeat_error err = HBEAT_ERROR_INIT;
        assert_int_equal(nng_vtable()->log_heartbeat_async(self, &req, on_done, &c[i], &err), 0);
    }
    for (int i = 0; i < MANY; i++) {
        completion_wait(&c[i]);
        assert_int_equal(c[i].rc, 0);
        assert_string_equal(c[i].status, status[i]);
    }
    /* The second round reuses the pooled contexts. */
    for (int i = 0; i < MANY; i++) {
        hbeat_heartbeat_request req = beat(i + 1, status[i], (uint64_t)i + 1000);
        hbeat_error err = HBEAT_ERROR_INIT;
        pthread_mutex_lock(&c[i].mu);
        c[i].calls = 0;
        pthread_mutex_unlock(&c[i].mu);
        assert_int_equal(nng_vtable()->log_heartbeat_async(self, &req, on_done, &c[i], &err), 0);
    }
    for (int i = 0; i < MANY; i++) {
        completion_wait(&c[i]);
        assert_int_equal(c[i].rc, 0);
    }
    hbeat_gateway_free(gw);
    for (int i = 0; i < MANY; i++) {
        assert_int_equal(completion_calls(&c[i]), 1);
        completion_destroy(&c[i]);
    }
    assert_int_equal(peer_requests(&p), 2 * MANY);
    peer_destroy(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_async_good),
        cmocka_unit_test(test_async_start_error_never_calls_done),
        cmocka_unit_test(test_async_timeout),
        cmocka_unit_test(test_close_cancels_async),
        cmocka_unit_test(test_close_cancels_blocking),
        cmocka_unit_test(test_many_async),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
