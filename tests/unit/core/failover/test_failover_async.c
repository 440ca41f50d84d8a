/* The failover gateway's asynchronous heartbeat (tick_async and the
   loop's path) on fake members that hold each call until the test
   completes it: the failover starts the next member from the failed
   member's completion, on that thread, with no thread of its own. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/gateway_internal.h"
#include "fixture.h"

typedef struct ticks {
    int count;
    int rc;
    hbeat_error err;
    pthread_t thread;
} ticks;

static void on_tick(void *arg, int rc, const hbeat_update *update, const hbeat_error *err)
{
    (void)update;
    ticks *t = arg;
    t->count++;
    t->rc = rc;
    if (err != NULL)
        t->err = *err;
    t->thread = pthread_self();
}

static void the_next_server_starts_from_the_failed_completion(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, 2, HBEAT_FAKE_ASYNC);
    assert_true(hbeat__gateway_has_async(f.gw));
    hbeat_service *svc = fx_service(&f, 5);
    hbeat_fake_gateway_fail(f.member[0], HBEAT_ETRANSPORT, 1, 0, "connection reset");
    ticks t = {0, 1, HBEAT_ERROR_INIT, 0};
    assert_int_equal(hbeat_service_tick_async(svc, on_tick, &t, NULL), 0);
    assert_int_equal(hbeat_fake_gateway_pending(f.member[0]), 1);
    assert_int_equal(hbeat_fake_gateway_pending(f.member[1]), 0);

    /* h1's failure, delivered on this thread, starts the beat on h2. */
    assert_int_equal(hbeat_fake_gateway_complete(f.member[0], 1), 1);
    assert_int_equal(t.count, 0);
    assert_int_equal(hbeat_fake_gateway_pending(f.member[1]), 1);
    hbeat_fake_call c;
    assert_int_equal(hbeat_fake_gateway_call(f.member[1], 0, &c), 0);
    assert_int_equal(c.sequence, 1);

    assert_int_equal(hbeat_fake_gateway_complete(f.member[1], 1), 1);
    assert_int_equal(t.count, 1);
    assert_int_equal(t.rc, 0);
    assert_true(pthread_equal(t.thread, pthread_self()));
    assert_int_equal(hbeat_failover_gateway_current(f.gw), 1);
    hbeat_service_stats st = fx_stats(svc);
    assert_string_equal(st.server, "h2");
    assert_int_equal(st.beats_failed, 0);
    hbeat_service_free(svc);
    fx_free(&f);
}

static void an_answer_comes_back_without_moving_on(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, 2, HBEAT_FAKE_ASYNC);
    hbeat_service *svc = fx_service(&f, 5);
    hbeat_fake_gateway_fail(f.member[0], HBEAT_ENOTFOUND, 1, 0, "no such run");
    ticks t = {0, 1, HBEAT_ERROR_INIT, 0};
    assert_int_equal(hbeat_service_tick_async(svc, on_tick, &t, NULL), 0);
    assert_int_equal(hbeat_fake_gateway_complete(f.member[0], 1), 1);
    assert_int_equal(t.count, 1);
    assert_int_equal(t.rc, HBEAT_ENOTFOUND);
    assert_string_equal(t.err.message, "h1: fake gateway: no such run");
    assert_int_equal(fx_calls(&f, 1), 0);
    hbeat_service_free(svc);
    fx_free(&f);
}

/* The lease counts from the start of the beat: a failure that comes
   after the lease (less the loop's 10 ms guard) starts no further
   server, and the next beat starts on the next server. */
static void the_lease_bounds_the_asynchronous_path(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, 2, HBEAT_FAKE_ASYNC);
    hbeat_service *svc = fx_service(&f, 5); /* a 30 s lease */
    hbeat_fake_clock_advance(f.clock, 29950 * FX_MS);
    hbeat_fake_gateway_fail(f.member[0], HBEAT_ETIMEDOUT, 1, 0, NULL);
    ticks t = {0, 1, HBEAT_ERROR_INIT, 0};
    assert_int_equal(hbeat_service_tick_async(svc, on_tick, &t, NULL), 0);
    hbeat_fake_clock_advance(f.clock, 40 * FX_MS);
    assert_int_equal(hbeat_fake_gateway_complete(f.member[0], 1), 1);
    assert_int_equal(t.count, 1);
    assert_int_equal(t.rc, HBEAT_ETIMEDOUT);
    assert_non_null(strstr(t.err.message, "no time was left"));
    assert_int_equal(fx_calls(&f, 1), 0);
    assert_int_equal(hbeat_failover_gateway_current(f.gw), 1);
    assert_int_equal(hbeat_service_tick_async(svc, on_tick, &t, NULL), 0);
    assert_int_equal(hbeat_fake_gateway_pending(f.member[1]), 1);
    assert_int_equal(hbeat_fake_gateway_complete(f.member[1], 1), 1);
    assert_int_equal(t.rc, 0);
    hbeat_service_free(svc);
    fx_free(&f);
}

/* Within the lease, a failure after a long wait still moves on. */
static void a_late_failure_within_the_lease_moves_on(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, 2, HBEAT_FAKE_ASYNC);
    hbeat_service *svc = fx_service(&f, 5);
    hbeat_fake_gateway_fail(f.member[0], HBEAT_ETIMEDOUT, 1, 0, NULL);
    ticks t = {0, 1, HBEAT_ERROR_INIT, 0};
    assert_int_equal(hbeat_service_tick_async(svc, on_tick, &t, NULL), 0);
    hbeat_fake_clock_advance(f.clock, (int64_t)(FX_TIMEOUT * 1e9));
    assert_int_equal(hbeat_fake_gateway_complete(f.member[0], 1), 1);
    assert_int_equal(t.count, 0);
    assert_int_equal(hbeat_fake_gateway_complete(f.member[1], 1), 1);
    assert_int_equal(t.rc, 0);
    hbeat_service_free(svc);
    fx_free(&f);
}

/* Two beats in flight on h1 both fail, the first one's completion first.
   It hands the first place to h2; h2 fails it too, and hands it to h3.
   The second one's late failure on h1 must not take the first place back
   to h2, a server known to have failed since. */
static void a_late_failure_does_not_move_the_first_place_back(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, 3, HBEAT_FAKE_ASYNC);
    hbeat_service *a = fx_service(&f, 5);
    hbeat_service *b = fx_service(&f, 6);
    hbeat_fake_gateway_fail(f.member[0], HBEAT_ETRANSPORT, 1, 1, NULL);
    hbeat_fake_gateway_fail(f.member[1], HBEAT_ETRANSPORT, 1, 1, NULL);
    ticks ta = {0, 1, HBEAT_ERROR_INIT, 0}, tb = {0, 1, HBEAT_ERROR_INIT, 0};
    assert_int_equal(hbeat_service_tick_async(a, on_tick, &ta, NULL), 0);
    assert_int_equal(hbeat_service_tick_async(b, on_tick, &tb, NULL), 0);
    assert_int_equal(hbeat_fake_gateway_complete(f.member[0], 1), 1); /* a on h1 */
    assert_int_equal(hbeat_failover_gateway_current(f.gw), 1);
    assert_int_equal(hbeat_fake_gateway_complete(f.member[1], 1), 1); /* a on h2 */
    assert_int_equal(hbeat_failover_gateway_current(f.gw), 2);
    assert_int_equal(hbeat_fake_gateway_complete(f.member[0], 1), 1); /* b on h1 */
    assert_int_equal(hbeat_failover_gateway_current(f.gw), 2);
    assert_int_equal(hbeat_fake_gateway_complete(f.member[1], 1), 1); /* b on h2 */
    assert_int_equal(hbeat_failover_gateway_current(f.gw), 2);
    assert_int_equal(hbeat_fake_gateway_complete(f.member[2], 2), 2);
    assert_int_equal(ta.rc, 0);
    assert_int_equal(tb.rc, 0);
    hbeat_service_free(a);
    hbeat_service_free(b);
    fx_free(&f);
}

/* A member whose asynchronous path refuses every call at once, as a
   transport does that knows it has no connection. */
static void refuser_destroy(void *self)
{
    (void)self;
}

static int refuser_beat(void *self, const hbeat_heartbeat_request *req,
                        hbeat_heartbeat_reply *reply, hbeat_error *err)
{
    (void)self;
    (void)req;
    (void)reply;
    return hbeat_error_set(err, HBEAT_ETRANSPORT, "refused");
}

static int refuser_async(void *self, const hbeat_heartbeat_request *req, hbeat_gateway_done_fn done,
                         void *arg, hbeat_error *err)
{
    (void)self;
    (void)req;
    (void)done;
    (void)arg;
    return hbeat_error_set(err, HBEAT_ETRANSPORT, "refused at once");
}

static const hbeat_gateway_vtable refuser_vtable = {
    .version = HBEAT_GATEWAY_VTABLE_VERSION,
    .name = "refuser",
    .flags = HBEAT_GATEWAY_THREAD_SAFE,
    .destroy = refuser_destroy,
    .log_heartbeat = refuser_beat,
    .log_heartbeat_async = refuser_async,
};

static hbeat_gateway *refuser(void)
{
    hbeat_gateway *gw = NULL;
    assert_int_equal(hbeat_gateway_new(&gw, &refuser_vtable, NULL, NULL), 0);
    return gw;
}

static hbeat_gateway *over(hbeat_gateway *a, hbeat_gateway *b, hbeat_clock *clock)
{
    hbeat_gateway *m[2] = {a, b};
    const char *names[2] = {"h1", "h2"};
    hbeat_failover_options o = HBEAT_FAILOVER_OPTIONS_INIT;
    o.clock = clock;
    hbeat_gateway *gw = NULL;
    assert_int_equal(hbeat_failover_gateway_new(&gw, m, names, 2, &o, NULL), 0);
    return gw;
}

static hbeat_service *service_on(hbeat_gateway *gw, hbeat_clock *clock)
{
    hbeat_service_options o = HBEAT_SERVICE_OPTIONS_INIT;
    o.workflow_run_id = 5;
    o.interval = 10.0;
    o.clock = clock;
    hbeat_service *svc = NULL;
    assert_int_equal(hbeat_service_new(&svc, gw, &o, NULL), 0);
    return svc;
}

/* A member that refuses at once is passed over inside tick_async; when
   every member refuses, tick_async returns the error and never calls
   back. */
static void members_that_refuse_at_once(void **state)
{
    (void)state;
    hbeat_clock *clock = NULL;
    assert_int_equal(hbeat_fake_clock_new(&clock, 0, NULL), 0);
    hbeat_gateway *fake = NULL;
    assert_int_equal(hbeat_fake_gateway_new(&fake, clock, HBEAT_FAKE_ASYNC, NULL), 0);
    hbeat_gateway *gw = over(refuser(), fake, clock);
    hbeat_service *svc = service_on(gw, clock);
    ticks t = {0, 1, HBEAT_ERROR_INIT, 0};
    assert_int_equal(hbeat_service_tick_async(svc, on_tick, &t, NULL), 0);
    assert_int_equal(hbeat_fake_gateway_pending(fake), 1);
    assert_int_equal(hbeat_fake_gateway_complete(fake, 1), 1);
    assert_int_equal(t.rc, 0);
    hbeat_service_free(svc);
    hbeat_gateway_free(gw);

    gw = over(refuser(), refuser(), clock);
    svc = service_on(gw, clock);
    hbeat_error err = HBEAT_ERROR_INIT;
    t.count = 0;
    assert_int_equal(hbeat_service_tick_async(svc, on_tick, &t, &err), HBEAT_ETRANSPORT);
    assert_string_equal(err.message, "h1 (transport failure) failed, then h2: refused at once");
    assert_int_equal(t.count, 0);
    hbeat_service_free(svc);
    hbeat_gateway_free(gw);
    hbeat_clock_free(clock);
}

static void on_done(void *arg, int rc, const hbeat_heartbeat_reply *reply, const hbeat_error *err)
{
    (void)reply;
    (void)err;
    ticks *t = arg;
    t->count++;
    t->rc = rc;
}

/* Freeing the gateway with a beat in flight delivers it cancelled, once. */
static void closing_cancels_a_beat_in_flight(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, 2, HBEAT_FAKE_ASYNC);
    hbeat_heartbeat_request req = {.workflow_run_id = 4,
                                   .status = "R",
                                   .next_report_increment = 9.0,
                                   .sequence = 1,
                                   .lease_remaining = 1e9};
    ticks t = {0, 1, HBEAT_ERROR_INIT, 0};
    assert_int_equal(hbeat__gateway_heartbeat_async(f.gw, &req, on_done, &t, NULL), 0);
    assert_int_equal(hbeat_fake_gateway_pending(f.member[0]), 1);
    fx_free(&f);
    assert_int_equal(t.count, 1);
    assert_int_equal(t.rc, HBEAT_ECANCELED);
}

/* A member without an asynchronous path takes it from the failover
   gateway too; the service then uses its worker thread. */
static void no_asynchronous_path_unless_every_member_has_one(void **state)
{
    (void)state;
    hbeat_clock *clock = NULL;
    assert_int_equal(hbeat_fake_clock_new(&clock, 0, NULL), 0);
    hbeat_gateway *m[2] = {NULL, NULL};
    assert_int_equal(hbeat_fake_gateway_new(&m[0], clock, HBEAT_FAKE_ASYNC, NULL), 0);
    assert_int_equal(hbeat_fake_gateway_new(&m[1], clock, 0, NULL), 0);
    hbeat_gateway *gw = NULL;
    assert_int_equal(hbeat_failover_gateway_new(&gw, m, NULL, 2, NULL, NULL), 0);
    assert_false(hbeat__gateway_has_async(gw));
    hbeat_gateway_free(gw);
    hbeat_clock_free(clock);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_next_server_starts_from_the_failed_completion),
        cmocka_unit_test(an_answer_comes_back_without_moving_on),
        cmocka_unit_test(the_lease_bounds_the_asynchronous_path),
        cmocka_unit_test(a_late_failure_within_the_lease_moves_on),
        cmocka_unit_test(a_late_failure_does_not_move_the_first_place_back),
        cmocka_unit_test(members_that_refuse_at_once),
        cmocka_unit_test(closing_cancels_a_beat_in_flight),
        cmocka_unit_test(no_asynchronous_path_unless_every_member_has_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
