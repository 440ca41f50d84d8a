/*
 * Watching (hbeat_service_options.watch) on the fake clock: a gateway that
 * can push (vtable version 4, here a wrapper over the fake gateway whose
 * push the test calls) makes the loop beat at once when the pushed status
 * differs from the service's, without the clock moving; the beat brings
 * the change as any beat does. A push of the status the service already
 * has changes nothing; a gateway that cannot push leaves the loop as it is;
 * the watch ends with the loop.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "support.h"

/* A gateway that forwards beats to the fake gateway and lets the test push. */
typedef struct pusher {
    hbeat_gateway *inner;
    pthread_mutex_t mu;
    hbeat_status_push_fn push;
    void *push_arg;
    int watches, unwatches;
} pusher;

static void p_destroy(void *self)
{
    (void)self;
}

static int p_beat(void *self, const hbeat_heartbeat_request *req, hbeat_heartbeat_reply *reply,
                  hbeat_error *err)
{
    pusher *p = self;
    return hbeat_gateway_log_heartbeat(p->inner, req->workflow_run_id, req->status,
                                       req->next_report_increment, reply->status, err);
}

static int p_watch(void *self, int64_t run, hbeat_status_push_fn push, void *arg, void **handle,
                   hbeat_error *err)
{
    (void)run;
    (void)err;
    pusher *p = self;
    pthread_mutex_lock(&p->mu);
    p->push = push;
    p->push_arg = arg;
    p->watches++;
    pthread_mutex_unlock(&p->mu);
    *handle = p;
    return 0;
}

static void p_unwatch(void *self, void *handle)
{
    (void)handle;
    pusher *p = self;
    pthread_mutex_lock(&p->mu);
    p->push = NULL;
    p->unwatches++;
    pthread_mutex_unlock(&p->mu);
}

static const hbeat_gateway_vtable pusher_vtable = {
    .version = 4,
    .name = "pusher",
    .flags = HBEAT_GATEWAY_THREAD_SAFE,
    .destroy = p_destroy,
    .log_heartbeat = p_beat,
    .watch = p_watch,
    .unwatch = p_unwatch,
};

/* A version-3 table: no watch. */
static const hbeat_gateway_vtable plain_vtable = {
    .version = 3,
    .name = "plain",
    .flags = HBEAT_GATEWAY_THREAD_SAFE,
    .destroy = p_destroy,
    .log_heartbeat = p_beat,
};

typedef struct fixture {
    hbeat_clock *clock;
    hbeat_gateway *fake, *gw;
    pusher p;
    hbeat_service *svc;
    t_changes changes;
} fixture;

static void push(fixture *f, const char *status)
{
    pthread_mutex_lock(&f->p.mu);
    hbeat_status_push_fn fn = f->p.push;
    void *arg = f->p.push_arg;
    pthread_mutex_unlock(&f->p.mu);
    assert_non_null(fn);
    fn(arg, 42, status);
}

static void start(fixture *f, const hbeat_gateway_vtable *vt)
{
    memset(f, 0, sizeof *f);
    f->clock = t_fake_clock();
    f->fake = t_fake_gateway(f->clock, 0);
    f->p.inner = f->fake;
    pthread_mutex_init(&f->p.mu, NULL);
    assert_int_equal(hbeat_gateway_new(&f->gw, vt, &f->p, NULL), 0);
    t_changes_init(&f->changes);
    hbeat_service_options o = HBEAT_SERVICE_OPTIONS_INIT;
    o.workflow_run_id = 42;
    o.interval = 30.0;
    o.clock = f->clock;
    o.watch = 1;
    o.on_status_change = t_on_change;
    o.on_status_change_arg = &f->changes;
    f->svc = t_service_opts(f->gw, &o);
    assert_int_equal(hbeat_service_start(f->svc, NULL), 0);
    t_settle(f->clock);
}

static void finish(fixture *f)
{
    assert_int_equal(hbeat_service_stop(f->svc, NULL), 0);
    hbeat_service_free(f->svc);
    hbeat_gateway_free(f->gw);
    hbeat_gateway_free(f->fake);
    hbeat_clock_free(f->clock);
    t_changes_destroy(&f->changes);
    pthread_mutex_destroy(&f->p.mu);
}

static void test_a_pushed_change_makes_the_loop_beat_at_once(void **state)
{
    (void)state;
    static fixture f;
    start(&f, &pusher_vtable);
    assert_int_equal(f.p.watches, 1);
    /* No beat is due for 30 s, and the clock does not move. */
    assert_int_equal(hbeat_fake_gateway_call_count(f.fake), 0);
    hbeat_fake_gateway_set_server_status(f.fake, "C");
    push(&f, "C");
    t_wait_calls(f.fake, 1);
    t_settle(f.clock);
    assert_int_equal(t_changes_count(&f.changes), 1);
    assert_string_equal(f.changes.new_status[0], "C");
    char now[HBEAT_STATUS_MAX + 1];
    assert_int_equal(hbeat_service_status(f.svc, now), 0);
    assert_string_equal(now, "C");
    /* The status the service has: no beat. */
    push(&f, "C");
    t_settle(f.clock);
    assert_int_equal(hbeat_fake_gateway_call_count(f.fake), 1);
    finish(&f);
    assert_int_equal(f.p.unwatches, 1);
}

static void test_a_gateway_that_cannot_push_beats_as_usual(void **state)
{
    (void)state;
    static fixture f;
    start(&f, &plain_vtable);
    assert_int_equal(f.p.watches, 0);
    assert_int_equal(hbeat_fake_gateway_call_count(f.fake), 0);
    hbeat_fake_clock_advance(f.clock, 30 * NS_PER_S);
    t_wait_calls(f.fake, 1);
    t_settle(f.clock);
    finish(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_pushed_change_makes_the_loop_beat_at_once),
        cmocka_unit_test(test_a_gateway_that_cannot_push_beats_as_usual),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
