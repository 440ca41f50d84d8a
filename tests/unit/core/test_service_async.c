/*
 * hbeat_service_tick_async(): the callback runs exactly once per accepted
 * call and never inside tick_async; a refused call never calls it; free
 * waits for it. Both paths: the gateway's own asynchronous method (the fake
 * with HBEAT_FAKE_ASYNC, completed by hbeat_fake_gateway_complete) and the
 * service's worker thread (a gateway without one).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support.h"

typedef struct fx {
    hbeat_clock *clock;
    t_gate gate;
    hbeat_gateway *gw;
    hbeat_service *svc;
    t_ticks ticks;
    t_changes changes;
} fx;

static hbeat_service *make_service(fx *f)
{
    hbeat_service_options opts = HBEAT_SERVICE_OPTIONS_INIT;
    opts.workflow_run_id = 21;
    opts.clock = f->clock;
    opts.on_status_change = t_on_change;
    opts.on_status_change_arg = &f->changes;
    return t_service_opts(f->gw, &opts);
}

static fx *fx_new(void)
{
    fx *f = calloc(1, sizeof *f);
    t_ticks_init(&f->ticks);
    t_changes_init(&f->changes);
    t_gate_init(&f->gate, 1);
    f->clock = t_fake_clock();
    return f;
}

/* Worker path: the gate gateway has no async method. */
static int setup_worker(void **state)
{
    fx *f = fx_new();
    f->gw = t_gate_gateway(&f->gate, 0);
    f->svc = make_service(f);
    *state = f;
    return 0;
}

/* The gateway's own asynchronous path. */
static int setup_fake_async(void **state)
{
    fx *f = fx_new();
    f->gw = t_fake_gateway(f->clock, HBEAT_FAKE_ASYNC);
    f->svc = make_service(f);
    *state = f;
    return 0;
}

/* Fake gateway without HBEAT_FAKE_ASYNC: the worker path again. */
static int setup_fake_sync(void **state)
{
    fx *f = fx_new();
    f->gw = t_fake_gateway(f->clock, 0);
    f->svc = make_service(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    t_gate_set_open(&f->gate, 1);
    hbeat_service_free(f->svc);
    hbeat_gateway_free(f->gw);
    hbeat_clock_free(f->clock);
    t_gate_destroy(&f->gate);
    t_changes_destroy(&f->changes);
    t_ticks_destroy(&f->ticks);
    free(f);
    return 0;
}

/* ---- worker path -------------------------------------------------------- */

static void test_worker_callback_runs_once_off_the_calling_thread(void **state)
{
    fx *f = *state;
    hbeat_error err = HBEAT_ERROR_INIT;
    t_gate_set_open(&f->gate, 0);
    assert_int_equal(hbeat_fake_clock_advance(f->clock, 7 * NS_PER_S), 0);

    assert_int_equal(t_tick_async(f->svc, &f->ticks, &err), 0);
    t_gate_wait_waiting(&f->gate, 1);
    /* The beat is held in the gateway: no callback yet. */
    assert_int_equal(t_ticks_count(&f->ticks), 0);

    t_gate_set_open(&f->gate, 1);
    assert_int_equal(t_ticks_wait(&f->ticks, 1), 1);
    assert_int_equal(f->ticks.rc, 0);
    assert_int_equal(f->ticks.update.changed, 0);
    assert_int_equal(f->ticks.ran_inside, 0);
    assert_false(pthread_equal(f->ticks.thread, pthread_self()));
    assert_int_equal(f->gate.last_run_id, 21);
    assert_string_equal(f->gate.last_status, "R");

    /* Free waits for nothing more and no second callback comes. */
    hbeat_service_free(f->svc);
    f->svc = NULL;
    assert_int_equal(t_ticks_count(&f->ticks), 1);
}

static void test_worker_busy_while_in_flight_never_calls_back(void **state)
{
    fx *f = *state;
    hbeat_error err = HBEAT_ERROR_INIT;
    t_ticks second;
    t_ticks_init(&second);
    t_gate_set_open(&f->gate, 0);

    assert_int_equal(t_tick_async(f->svc, &f->ticks, &err), 0);
    t_gate_wait_waiting(&f->gate, 1);
    hbeat_error_clear(&err);
    assert_int_equal(t_tick_async(f->svc, &second, &err), HBEAT_EBUSY);
    assert_int_equal(err.code, HBEAT_EBUSY);
    assert_true(err.message[0] != '\0');

    t_gate_set_open(&f->gate, 1);
    assert_int_equal(t_ticks_wait(&f->ticks, 1), 1);
    hbeat_service_free(f->svc);
    f->svc = NULL;
    assert_int_equal(t_ticks_count(&f->ticks), 1);
    assert_int_equal(t_ticks_count(&second), 0);
    assert_int_equal(t_gate_calls(&f->gate), 1);
    t_ticks_destroy(&second);
}

static void test_worker_error_reaches_the_callback_once(void **state)
{
    fx *f = *state;
    f->gate.fail_code = HBEAT_ETRANSPORT;
    assert_int_equal(hbeat_fake_clock_advance(f->clock, 40 * NS_PER_S), 0);
    assert_int_equal(t_tick_async(f->svc, &f->ticks, NULL), 0);
    assert_int_equal(t_ticks_wait(&f->ticks, 1), 1);
    assert_int_equal(f->ticks.rc, HBEAT_ETRANSPORT);
    assert_int_equal(f->ticks.err.code, HBEAT_ETRANSPORT);
    assert_non_null(strstr(f->ticks.err.message, "injected failure"));
    /* A failed beat changes nothing. */
    char status[HBEAT_STATUS_MAX + 1];
    assert_int_equal(hbeat_service_status(f->svc, status), 0);
    assert_string_equal(status, "R");
    assert_int_equal(hbeat_service_last_heartbeat_ns(f->svc), T_START_NS);
    assert_int_equal(hbeat_service_consecutive_failures(f->svc), 0);
    hbeat_service_free(f->svc);
    f->svc = NULL;
    assert_int_equal(t_ticks_count(&f->ticks), 1);
}

static void test_worker_change_is_adopted_and_reported(void **state)
{
    fx *f = *state;
    strcpy(f->gate.reply, "H");
    assert_int_equal(hbeat_fake_clock_advance(f->clock, 4 * NS_PER_S), 0);
    assert_int_equal(t_tick_async(f->svc, &f->ticks, NULL), 0);
    assert_int_equal(t_ticks_wait(&f->ticks, 1), 1);
    assert_int_equal(f->ticks.rc, 0);
    assert_int_equal(f->ticks.update.changed, 1);
    assert_string_equal(f->ticks.update.status, "H");
    assert_string_equal(f->ticks.update.previous_status, "R");
    /* The callback may still be running: let a blocking tick (which waits
       for the one in flight) order us after it. */
    assert_int_equal(hbeat_service_tick(f->svc, NULL, NULL), 0);
    assert_int_equal(t_changes_count(&f->changes), 1);
    assert_string_equal(f->changes.new_status[0], "H");
    char status[HBEAT_STATUS_MAX + 1];
    assert_int_equal(hbeat_service_status(f->svc, status), 0);
    assert_string_equal(status, "H");
    assert_int_equal(hbeat_service_last_heartbeat_ns(f->svc), T_START_NS + 4 * NS_PER_S);

    /* Not busy any more. */
    t_ticks again;
    t_ticks_init(&again);
    assert_int_equal(t_tick_async(f->svc, &again, NULL), 0);
    assert_int_equal(t_ticks_wait(&again, 1), 1);
    hbeat_service_free(f->svc);
    f->svc = NULL;
    assert_int_equal(t_ticks_count(&again), 1);
    assert_int_equal(t_ticks_count(&f->ticks), 1);
    t_ticks_destroy(&again);
}

static void test_freed_right_after_tick_async_still_calls_back(void **state)
{
    fx *f = *state;
    for (int i = 0; i < 50; i++) {
        t_ticks t;
        t_ticks_init(&t);
        hbeat_service *svc = make_service(f);
        assert_int_equal(t_tick_async(svc, &t, NULL), 0);
        hbeat_service_free(svc);
        assert_int_equal(t_ticks_count(&t), 1);
        t_ticks_destroy(&t);
    }
}

typedef struct opener {
    t_gate *gate;
} opener;

static void *open_gate(void *arg)
{
    opener *o = arg;
    t_gate_set_open(o->gate, 1);
    return NULL;
}

static void test_free_waits_for_a_beat_held_in_the_gateway(void **state)
{
    fx *f = *state;
    t_gate_set_open(&f->gate, 0);
    assert_int_equal(t_tick_async(f->svc, &f->ticks, NULL), 0);
    t_gate_wait_waiting(&f->gate, 1);
    opener o = {&f->gate};
    pthread_t th = t_thread(open_gate, &o);
    hbeat_service_free(f->svc); /* returns once the callback has run */
    f->svc = NULL;
    assert_int_equal(t_ticks_count(&f->ticks), 1);
    t_join(th);
    assert_int_equal(t_ticks_count(&f->ticks), 1);
}

static void test_stopped_and_freed_right_after_tick_async(void **state)
{
    fx *f = *state;
    for (int i = 0; i < 20; i++) {
        t_ticks t;
        t_ticks_init(&t);
        hbeat_service *svc = make_service(f);
        assert_int_equal(hbeat_service_start(svc, NULL), 0);
        assert_int_equal(t_tick_async(svc, &t, NULL), 0);
        assert_int_equal(hbeat_service_stop(svc, NULL), 0);
        hbeat_service_free(svc);
        assert_int_equal(t_ticks_count(&t), 1);
        t_ticks_destroy(&t);
    }
}

typedef struct ticker {
    hbeat_service *svc;
    int rc;
} ticker;

static void *blocking_tick(void *arg)
{
    ticker *t = arg;
    t->rc = hbeat_service_tick(t->svc, NULL, NULL);
    return NULL;
}

static void test_blocking_tick_waits_for_the_async_one(void **state)
{
    fx *f = *state;
    t_gate_set_open(&f->gate, 0);
    assert_int_equal(t_tick_async(f->svc, &f->ticks, NULL), 0);
    t_gate_wait_waiting(&f->gate, 1);
    ticker tk = {f->svc, 1};
    pthread_t th = t_thread(blocking_tick, &tk);
    t_gate_set_open(&f->gate, 1);
    t_join(th);
    assert_int_equal(tk.rc, 0);
    assert_int_equal(t_ticks_wait(&f->ticks, 1), 1);
    assert_int_equal(t_gate_calls(&f->gate), 2);
    assert_int_equal(f->gate.max_in_method, 1);
}

static void test_fake_without_async_flag_uses_the_worker(void **state)
{
    fx *f = *state;
    assert_int_equal(hbeat_fake_gateway_set_server_status(f->gw, "E"), 0);
    assert_int_equal(t_tick_async(f->svc, &f->ticks, NULL), 0);
    assert_int_equal(t_ticks_wait(&f->ticks, 1), 1);
    assert_int_equal(f->ticks.rc, 0);
    assert_int_equal(f->ticks.update.changed, 1);
    assert_string_equal(f->ticks.update.status, "E");
    assert_int_equal(f->ticks.ran_inside, 0);
    assert_int_equal(hbeat_fake_gateway_pending(f->gw), 0);
    hbeat_service_free(f->svc);
    f->svc = NULL;
    assert_int_equal(t_ticks_count(&f->ticks), 1);
    assert_int_equal(hbeat_fake_gateway_call_count(f->gw), 1);
    assert_int_equal(t_call(f->gw, 0).kind, HBEAT_FAKE_HEARTBEAT);
}

/* ---- the gateway's asynchronous path ------------------------------------ */

static void test_async_completes_only_when_the_gateway_does(void **state)
{
    fx *f = *state;
    assert_int_equal(t_tick_async(f->svc, &f->ticks, NULL), 0);
    assert_int_equal(hbeat_fake_gateway_pending(f->gw), 1);
    assert_int_equal(t_ticks_count(&f->ticks), 0);
    assert_int_equal(f->ticks.ran_inside, 0);

    assert_int_equal(hbeat_fake_gateway_complete(f->gw, 10), 1);
    assert_int_equal(t_ticks_wait(&f->ticks, 1), 1);
    assert_int_equal(f->ticks.rc, 0);
    assert_int_equal(f->ticks.update.changed, 0);
    assert_int_equal(hbeat_fake_gateway_pending(f->gw), 0);
    assert_int_equal(hbeat_fake_gateway_complete(f->gw, 10), 0);

    hbeat_fake_call c = t_call(f->gw, 0);
    assert_int_equal(c.kind, HBEAT_FAKE_HEARTBEAT);
    assert_int_equal(c.workflow_run_id, 21);
    assert_string_equal(c.status, "R");
    hbeat_service_free(f->svc);
    f->svc = NULL;
    assert_int_equal(t_ticks_count(&f->ticks), 1);
}

static void test_async_busy_while_pending(void **state)
{
    fx *f = *state;
    t_ticks second;
    t_ticks_init(&second);
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(t_tick_async(f->svc, &f->ticks, NULL), 0);
    assert_int_equal(t_tick_async(f->svc, &second, &err), HBEAT_EBUSY);
    assert_true(err.message[0] != '\0');
    assert_int_equal(hbeat_fake_gateway_pending(f->gw), 1);
    assert_int_equal(hbeat_fake_gateway_complete(f->gw, 10), 1);
    assert_int_equal(t_ticks_wait(&f->ticks, 1), 1);
    hbeat_service_free(f->svc);
    f->svc = NULL;
    assert_int_equal(t_ticks_count(&second), 0);
    assert_int_equal(t_ticks_count(&f->ticks), 1);
    t_ticks_destroy(&second);
}

static void test_async_change_is_adopted_and_reported(void **state)
{
    fx *f = *state;
    assert_int_equal(hbeat_fake_gateway_set_server_status(f->gw, "C"), 0);
    assert_int_equal(hbeat_fake_clock_advance(f->clock, 9 * NS_PER_S), 0);
    assert_int_equal(t_tick_async(f->svc, &f->ticks, NULL), 0);
    assert_int_equal(hbeat_fake_gateway_complete(f->gw, 1), 1);
    assert_int_equal(t_ticks_wait(&f->ticks, 1), 1);
    assert_int_equal(f->ticks.update.changed, 1);
    assert_string_equal(f->ticks.update.status, "C");
    assert_string_equal(f->ticks.update.previous_status, "R");
    hbeat_service_free(f->svc); /* orders us after the callback */
    f->svc = NULL;
    assert_int_equal(t_changes_count(&f->changes), 1);
    assert_string_equal(f->changes.old_status[0], "R");
    assert_string_equal(f->changes.new_status[0], "C");
}

static void test_async_error_is_delivered_once_or_refused(void **state)
{
    fx *f = *state;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_fake_gateway_fail(f->gw, HBEAT_ETIMEDOUT, 1, 0, "late (test)"), 0);
    int rc = t_tick_async(f->svc, &f->ticks, &err);
    hbeat_fake_gateway_complete(f->gw, 10);
    if (rc != 0) {
        /* Refused at once: the callback must never run. */
        assert_int_equal(rc, HBEAT_ETIMEDOUT);
        assert_non_null(strstr(err.message, "late (test)"));
        hbeat_service_free(f->svc);
        f->svc = NULL;
        assert_int_equal(t_ticks_count(&f->ticks), 0);
        return;
    }
    assert_int_equal(t_ticks_wait(&f->ticks, 1), 1);
    assert_int_equal(f->ticks.rc, HBEAT_ETIMEDOUT);
    assert_non_null(strstr(f->ticks.err.message, "late (test)"));
    hbeat_service_free(f->svc);
    f->svc = NULL;
    assert_int_equal(t_ticks_count(&f->ticks), 1);
}

typedef struct completer {
    hbeat_gateway *gw;
    int completed;
} completer;

static void *complete_one(void *arg)
{
    completer *c = arg;
    c->completed = hbeat_fake_gateway_complete(c->gw, 1);
    return NULL;
}

static void test_async_free_waits_for_the_pending_callback(void **state)
{
    fx *f = *state;
    assert_int_equal(t_tick_async(f->svc, &f->ticks, NULL), 0);
    assert_int_equal(hbeat_fake_gateway_pending(f->gw), 1);
    completer c = {f->gw, -1};
    pthread_t th = t_thread(complete_one, &c);
    hbeat_service_free(f->svc);
    f->svc = NULL;
    assert_int_equal(t_ticks_count(&f->ticks), 1);
    t_join(th);
    assert_int_equal(c.completed, 1);
    assert_int_equal(t_ticks_count(&f->ticks), 1);
}

static void test_async_stopped_and_freed_right_after(void **state)
{
    fx *f = *state;
    assert_int_equal(hbeat_service_start(f->svc, NULL), 0);
    assert_int_equal(t_tick_async(f->svc, &f->ticks, NULL), 0);
    assert_int_equal(hbeat_service_stop(f->svc, NULL), 0);
    completer c = {f->gw, -1};
    pthread_t th = t_thread(complete_one, &c);
    hbeat_service_free(f->svc);
    f->svc = NULL;
    t_join(th);
    assert_int_equal(t_ticks_count(&f->ticks), 1);
}

/* ---- a gateway that refuses an async call at once ------------------------ */

static void refuse_destroy(void *self)
{
    (void)self;
}

static int refuse_log_heartbeat(void *self, const hbeat_heartbeat_request *req,
                                hbeat_heartbeat_reply *reply, hbeat_error *err)
{
    (void)self;
    (void)req;
    strcpy(reply->status, "R");
    (void)err;
    return 0;
}

static int refuse_async(void *self, const hbeat_heartbeat_request *req, hbeat_gateway_done_fn done,
                        void *arg, hbeat_error *err)
{
    (void)self;
    (void)req;
    (void)done;
    (void)arg;
    return hbeat_error_set(err, HBEAT_ETRANSPORT, "queue full (test)");
}

static const hbeat_gateway_vtable refuse_vtable = {
    .version = HBEAT_GATEWAY_VTABLE_VERSION,
    .name = "refuse",
    .flags = HBEAT_GATEWAY_THREAD_SAFE,
    .destroy = refuse_destroy,
    .log_heartbeat = refuse_log_heartbeat,
    .log_heartbeat_async = refuse_async,
};

static void test_gateway_refusal_is_returned_and_never_called_back(void **state)
{
    (void)state;
    static int self;
    hbeat_gateway *gw = NULL;
    assert_int_equal(hbeat_gateway_new(&gw, &refuse_vtable, &self, NULL), 0);
    hbeat_clock *clock = t_fake_clock();
    hbeat_service *svc = t_service(gw, clock, 1, 30, 3.1, 5);
    t_ticks t;
    t_ticks_init(&t);
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(t_tick_async(svc, &t, &err), HBEAT_ETRANSPORT);
    assert_non_null(strstr(err.message, "queue full (test)"));
    /* Refused means not in flight: the next one is not busy either. */
    assert_int_equal(t_tick_async(svc, &t, &err), HBEAT_ETRANSPORT);
    hbeat_service_free(svc);
    assert_int_equal(t_ticks_count(&t), 0);
    t_ticks_destroy(&t);
    hbeat_gateway_free(gw);
    hbeat_clock_free(clock);
}

#define W(fn) cmocka_unit_test_setup_teardown(fn, setup_worker, teardown)
#define A(fn) cmocka_unit_test_setup_teardown(fn, setup_fake_async, teardown)
#define S(fn) cmocka_unit_test_setup_teardown(fn, setup_fake_sync, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        W(test_worker_callback_runs_once_off_the_calling_thread),
        W(test_worker_busy_while_in_flight_never_calls_back),
        W(test_worker_error_reaches_the_callback_once),
        W(test_worker_change_is_adopted_and_reported),
        W(test_freed_right_after_tick_async_still_calls_back),
        S(test_freed_right_after_tick_async_still_calls_back),
        W(test_free_waits_for_a_beat_held_in_the_gateway),
        W(test_stopped_and_freed_right_after_tick_async),
        S(test_stopped_and_freed_right_after_tick_async),
        W(test_blocking_tick_waits_for_the_async_one),
        S(test_fake_without_async_flag_uses_the_worker),
        A(test_async_completes_only_when_the_gateway_does),
        A(test_async_busy_while_pending),
        A(test_async_change_is_adopted_and_reported),
        A(test_async_error_is_delivered_once_or_refused),
        A(test_async_free_waits_for_the_pending_callback),
        A(test_async_stopped_and_freed_right_after),
        cmocka_unit_test(test_gateway_refusal_is_returned_and_never_called_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
