/*
 * Progress-gated liveness on the fake clock: with progress_timeout set, the
 * loop beats only while hbeat_service_progress() was called within the
 * timeout; it tells on_stall_change once when it stops and once when it
 * resumes, is woken at once by a progress report, and leaves tick() alone.
 *
 * The clock moves only while the loop sleeps on it; a report made while
 * the clock stands still must wake the loop by itself, so a test that
 * waits for the beat after it would hang (and time out) without the wake.
 */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support.h"

/* ---- on_stall_change recorder ------------------------------------------- */

#define MAX_EVENTS 4096

typedef struct stall_log {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    hbeat_clock *clock;
    int count;
    int stalled[MAX_EVENTS];
    int64_t when[MAX_EVENTS];
} stall_log;

static void on_stall(void *arg, int stalled)
{
    stall_log *l = arg;
    pthread_mutex_lock(&l->mu);
    if (l->count < MAX_EVENTS) {
        l->stalled[l->count] = stalled;
        l->when[l->count] = hbeat_clock_now_ns(l->clock);
    }
    l->count++;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

static int stall_events(stall_log *l)
{
    pthread_mutex_lock(&l->mu);
    int n = l->count;
    pthread_mutex_unlock(&l->mu);
    return n;
}

static void wait_stall_events(stall_log *l, int n)
{
    pthread_mutex_lock(&l->mu);
    int got = t_cond_wait_until(&l->cv, &l->mu, &l->count, n, T_TIMEOUT);
    pthread_mutex_unlock(&l->mu);
    if (got < n) {
        fail_msg("expected %d on_stall_change calls, have %d", n, got);
    }
}

/* ---- fixture ------------------------------------------------------------ */

typedef struct fx {
    hbeat_clock *clock;
    hbeat_gateway *gw;
    hbeat_service *svc;
    stall_log stalls;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    pthread_mutex_init(&f->stalls.mu, NULL);
    pthread_cond_init(&f->stalls.cv, NULL);
    f->clock = t_fake_clock();
    f->stalls.clock = f->clock;
    f->gw = t_fake_gateway(f->clock, 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    hbeat_service_free(f->svc);
    hbeat_gateway_free(f->gw);
    hbeat_clock_free(f->clock);
    pthread_cond_destroy(&f->stalls.cv);
    pthread_mutex_destroy(&f->stalls.mu);
    free(f);
    return 0;
}

/* interval 1 s, lease 3.1 s, and the given progress timeout (0: off). */
static void make(fx *f, double progress_timeout)
{
    hbeat_service_options opts = HBEAT_SERVICE_OPTIONS_INIT;
    opts.workflow_run_id = 31;
    opts.interval = 1.0;
    opts.report_by_buffer = 3.1;
    opts.clock = f->clock;
    opts.max_consecutive_failures = 0;
    opts.retry_factor = 1.0;
    opts.retry_jitter = 0.0;
    opts.progress_timeout = progress_timeout;
    opts.on_stall_change = on_stall;
    opts.on_stall_change_arg = &f->stalls;
    f->svc = t_service_opts(f->gw, &opts);
}

static void start(fx *f)
{
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_service_start(f->svc, &err), 0);
}

static void stop(fx *f)
{
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_service_stop(f->svc, &err);
    if (rc != 0) {
        fail_msg("the loop ended with %d: %s", rc, err.message);
    }
}

static int64_t elapsed(fx *f)
{
    return hbeat_clock_now_ns(f->clock) - T_START_NS;
}

/* Moves the clock to T_START_NS + `to` in 100 ms steps, each once the loop
   sleeps, and lets the loop settle at the end. */
static void run_to(fx *f, int64_t to)
{
    const int64_t step = 100 * NS_PER_MS;
    while (elapsed(f) < to) {
        t_settle(f->clock);
        int64_t left = to - elapsed(f);
        assert_int_equal(hbeat_fake_clock_advance(f->clock, left < step ? left : step), 0);
    }
    t_settle(f->clock);
}

static hbeat_service_stats stats_of(fx *f)
{
    hbeat_service_stats st;
    memset(&st, 0xa5, sizeof st);
    st.version = HBEAT_SERVICE_STATS_VERSION;
    assert_int_equal(hbeat_service_get_stats(f->svc, &st), 0);
    return st;
}

static int calls(fx *f)
{
    return hbeat_fake_gateway_call_count(f->gw);
}

/* ---- tests ---------------------------------------------------------------- */

/* progress_timeout 0, the default: the loop beats without any report, and
   the statistics still show how long ago progress was reported. */
static void test_off_by_default(void **state)
{
    fx *f = *state;
    hbeat_service_options defaults = HBEAT_SERVICE_OPTIONS_INIT;
    assert_true(defaults.progress_timeout == 0.0);
    assert_null(defaults.on_stall_change);
    make(f, 0.0);
    start(f);
    run_to(f, 10 * NS_PER_S);
    assert_int_equal(calls(f), 10);
    assert_int_equal(stall_events(&f->stalls), 0);
    hbeat_service_stats st = stats_of(f);
    assert_int_equal(st.stalled, 0);
    assert_int_equal(st.stalls, 0);
    assert_true(st.time_since_progress == 10.0);
    hbeat_service_progress(f->svc);
    st = stats_of(f);
    assert_true(st.time_since_progress == 0.0);
    stop(f);
}

/* No progress: beats at 1, 2 and 3 s, a stall at 3.5 s (told once), no
   beat after it however long the clock runs, the lease lapses. Progress at
   10 s, the clock standing still: the loop wakes, beats at once and tells
   the resumption once; beats then go on at the interval. */
static void test_stall_and_resume(void **state)
{
    fx *f = *state;
    make(f, 3.5);
    start(f);
    run_to(f, 10 * NS_PER_S);
    assert_int_equal(calls(f), 3);
    for (int k = 0; k < 3; k++)
        assert_int_equal(t_call(f->gw, k).time_ns, T_START_NS + (k + 1) * NS_PER_S);
    assert_int_equal(stall_events(&f->stalls), 1);
    assert_int_equal(f->stalls.stalled[0], 1);
    assert_int_equal(f->stalls.when[0], T_START_NS + 3500 * NS_PER_MS);
    hbeat_service_stats st = stats_of(f);
    assert_int_equal(st.stalled, 1);
    assert_int_equal(st.stalls, 1);
    assert_true(st.time_since_progress == 10.0);
    assert_int_equal(hbeat_service_lease_lost(f->svc), 1);

    hbeat_service_progress(f->svc);
    t_wait_calls(f->gw, 4);
    assert_int_equal(t_call(f->gw, 3).time_ns, T_START_NS + 10 * NS_PER_S);
    wait_stall_events(&f->stalls, 2);
    assert_int_equal(f->stalls.stalled[1], 0);
    assert_int_equal(f->stalls.when[1], T_START_NS + 10 * NS_PER_S);

    /* Progress every second from here: a beat every second. */
    for (int k = 1; k <= 5; k++) {
        t_settle(f->clock);
        assert_int_equal(hbeat_fake_clock_advance(f->clock, NS_PER_S), 0);
        t_wait_calls(f->gw, 4 + k);
        hbeat_service_progress(f->svc);
    }
    t_settle(f->clock);
    assert_int_equal(calls(f), 9);
    assert_int_equal(stall_events(&f->stalls), 2);
    st = stats_of(f);
    assert_int_equal(st.stalled, 0);
    assert_int_equal(st.stalls, 1);
    assert_int_equal(hbeat_service_lease_lost(f->svc), 0);
    stop(f);
}

/* Reports within the timeout keep the loop beating as without gating. */
static void test_steady_progress_keeps_beating(void **state)
{
    fx *f = *state;
    make(f, 1.5);
    start(f);
    for (int k = 1; k <= 20; k++) {
        t_settle(f->clock);
        assert_int_equal(hbeat_fake_clock_advance(f->clock, NS_PER_S), 0);
        t_wait_calls(f->gw, k);
        hbeat_service_progress(f->svc);
    }
    t_settle(f->clock);
    assert_int_equal(calls(f), 20);
    assert_int_equal(stall_events(&f->stalls), 0);
    assert_int_equal(stats_of(f).stalls, 0);
    stop(f);
}

/* Each stall is told once and counted: stall, resume, stall again. */
static void test_each_stall_told_once(void **state)
{
    fx *f = *state;
    make(f, 2.5);
    start(f);
    run_to(f, 6 * NS_PER_S);
    assert_int_equal(stall_events(&f->stalls), 1);
    hbeat_service_progress(f->svc); /* at 6 s */
    wait_stall_events(&f->stalls, 2);
    t_wait_calls(f->gw, 3);
    assert_int_equal(t_call(f->gw, 2).time_ns, T_START_NS + 6 * NS_PER_S);
    run_to(f, 12 * NS_PER_S); /* stalls again at 8.5 s */
    assert_int_equal(stall_events(&f->stalls), 3);
    assert_int_equal(f->stalls.stalled[2], 1);
    assert_int_equal(f->stalls.when[2], T_START_NS + 8500 * NS_PER_MS);
    /* beats at 1, 2 (stall at 2.5), 6 (resume), 7, 8 (stall at 8.5) */
    assert_int_equal(calls(f), 5);
    hbeat_service_stats st = stats_of(f);
    assert_int_equal(st.stalled, 1);
    assert_int_equal(st.stalls, 2);
    stop(f);
    /* The stall ends with the loop, untold. */
    assert_int_equal(stats_of(f).stalled, 0);
    assert_int_equal(stall_events(&f->stalls), 3);
}

/* Gating is the loop's: tick() still beats while the loop is stalled, and
   the loop stays stalled. */
static void test_tick_is_not_gated(void **state)
{
    fx *f = *state;
    make(f, 1.5);
    start(f);
    run_to(f, 5 * NS_PER_S);
    assert_int_equal(calls(f), 1);
    assert_int_equal(stats_of(f).stalled, 1);
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_service_tick(f->svc, NULL, &err), 0);
    assert_int_equal(calls(f), 2);
    run_to(f, 9 * NS_PER_S);
    assert_int_equal(calls(f), 2);
    assert_int_equal(stats_of(f).stalled, 1);
    assert_int_equal(stall_events(&f->stalls), 1);
    stop(f);
}

/* A stop is as prompt while stalled as otherwise. */
static void test_stop_while_stalled(void **state)
{
    fx *f = *state;
    make(f, 0.5);
    hbeat_stop_event *ev = NULL;
    assert_int_equal(hbeat_stop_event_new(&ev), 0);
    t_runner r;
    t_runner_start(&r, f->svc, ev);
    run_to(f, 3 * NS_PER_S);
    assert_int_equal(calls(f), 0);
    assert_int_equal(stall_events(&f->stalls), 1);
    hbeat_stop_event_set(ev);
    assert_int_equal(t_runner_join(&r), 0);
    hbeat_stop_event_free(ev);
    assert_int_equal(stats_of(f).stalled, 0);
}

/* ---- threads ---------------------------------------------------------- */

typedef struct reporter {
    hbeat_service *svc;
    int rounds;
} reporter;

static void *report_progress(void *arg)
{
    reporter *r = arg;
    for (int i = 0; i < r->rounds; i++)
        hbeat_service_progress(r->svc);
    return NULL;
}

/* Several threads report progress while the loop stalls and resumes and
   the clock moves; TSan checks the accesses. Once all is quiet, the told
   changes alternate, start with a stall and match the statistics. */
static void test_progress_from_many_threads(void **state)
{
    fx *f = *state;
    make(f, 0.5);
    start(f);
    run_to(f, 1 * NS_PER_S); /* stalled at 0.5 s */
    assert_int_equal(stall_events(&f->stalls), 1);

    enum { THREADS = 4 };
    reporter rep = {f->svc, 20000};
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        th[i] = t_thread(report_progress, &rep);
    wait_stall_events(&f->stalls, 2); /* the first report woke the loop */
    for (int i = 0; i < 40; i++) {
        assert_int_equal(hbeat_fake_clock_advance(f->clock, 300 * NS_PER_MS), 0);
        hbeat_service_stats st = stats_of(f);
        assert_true(st.stalled <= 1);
        assert_true(st.time_since_progress >= 0.0);
    }
    for (int i = 0; i < THREADS; i++)
        t_join(th[i]);
    hbeat_service_progress(f->svc);
    stop(f);

    int n = stall_events(&f->stalls);
    assert_true(n >= 2);
    int stalls = 0;
    for (int i = 0; i < n && i < MAX_EVENTS; i++) {
        assert_int_equal(f->stalls.stalled[i], i % 2 == 0);
        stalls += f->stalls.stalled[i];
    }
    hbeat_service_stats st = stats_of(f);
    assert_int_equal(st.stalls, (uint64_t)stalls);
    assert_int_equal(st.stalled, 0);
    assert_true(st.time_since_progress == 0.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_off_by_default, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stall_and_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_steady_progress_keeps_beating, setup, teardown),
        cmocka_unit_test_setup_teardown(test_each_stall_told_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tick_is_not_gated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_while_stalled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_progress_from_many_threads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
