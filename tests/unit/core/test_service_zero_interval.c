/*
 * interval 0, Jobmon's "beat on every check" (its workflow builder creates
 * HeartbeatService(interval=0.0, ...) and calls tick_sync() repeatedly):
 * a beat is always due, the window sent is 0, and the loop beats at
 * HBEAT_ZERO_INTERVAL_PACE instead of spinning, also when beats fail.
 *
 * Everything runs on the fake clock. The loop is only ever counted while it
 * sleeps on that clock (hbeat_fake_clock_wait_waiters), so "no more beats
 * than the pace" is a count at a settled moment, not a race.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support.h"

#define PACE_NS ((int64_t)(HBEAT_ZERO_INTERVAL_PACE * NS_PER_S))

typedef struct lease_log {
    pthread_mutex_t mu;
    int count;
    int lost[8];
} lease_log;

static void on_lease(void *arg, int lost)
{
    lease_log *l = arg;
    pthread_mutex_lock(&l->mu);
    if (l->count < 8)
        l->lost[l->count] = lost;
    l->count++;
    pthread_mutex_unlock(&l->mu);
}

typedef struct fx {
    hbeat_clock *clock;
    hbeat_gateway *gw;
    hbeat_service *svc;
    lease_log lease;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    pthread_mutex_init(&f->lease.mu, NULL);
    f->clock = t_fake_clock();
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
    pthread_mutex_destroy(&f->lease.mu);
    free(f);
    return 0;
}

static hbeat_service_options zero_options(fx *f)
{
    hbeat_service_options opts = HBEAT_SERVICE_OPTIONS_INIT;
    opts.workflow_run_id = 77;
    opts.interval = 0.0;
    opts.report_by_buffer = 3.1;
    opts.clock = f->clock;
    opts.max_consecutive_failures = 0;
    opts.on_lease_change = on_lease;
    opts.on_lease_change_arg = &f->lease;
    return opts;
}

static void advance(fx *f, int64_t ns)
{
    assert_int_equal(hbeat_fake_clock_advance(f->clock, ns), 0);
}

/* Moves the clock `total` forward in `step`s, each once the loop sleeps. */
static void run_for(fx *f, int64_t total, int64_t step)
{
    for (int64_t done = 0; done < total; done += step) {
        t_settle(f->clock);
        advance(f, step);
    }
    t_settle(f->clock);
}

static int lease_count(fx *f)
{
    pthread_mutex_lock(&f->lease.mu);
    int n = f->lease.count;
    pthread_mutex_unlock(&f->lease.mu);
    return n;
}

/* Jobmon's builder: set the status, tick_sync, again and again, without the
   clock moving. Every tick is due and sends a window of 0. */
static void test_always_due_and_ticks_send_zero(void **state)
{
    fx *f = *state;
    hbeat_service_options opts = zero_options(f);
    f->svc = t_service_opts(f->gw, &opts);
    assert_true(hbeat_service_interval(f->svc) == 0.0);
    assert_true(hbeat_service_report_by_buffer(f->svc) == 3.1);
    assert_true(hbeat_service_next_report_increment(f->svc) == 0.0);
    /* Due at creation already: Jobmon's is_heartbeat_due is elapsed >= 0. */
    assert_int_equal(hbeat_service_is_heartbeat_due(f->svc), 1);
    hbeat_error err = HBEAT_ERROR_INIT;
    for (int i = 0; i < 5; i++) {
        assert_int_equal(hbeat_service_set_status(f->svc, i % 2 ? "B" : "R", &err), 0);
        assert_int_equal(hbeat_service_tick(f->svc, NULL, &err), 0);
        assert_int_equal(hbeat_service_is_heartbeat_due(f->svc), 1);
        assert_true(hbeat_service_time_since_last_heartbeat(f->svc) == 0.0);
    }
    assert_int_equal(hbeat_fake_gateway_call_count(f->gw), 5);
    for (int i = 0; i < 5; i++) {
        hbeat_fake_call c = t_call(f->gw, i);
        assert_true(c.next_report_increment == 0.0);
        assert_int_equal(c.time_ns, T_START_NS);
        assert_string_equal(c.status, i % 2 ? "B" : "R");
    }
    advance(f, 5 * NS_PER_S);
    assert_int_equal(hbeat_service_is_heartbeat_due(f->svc), 1);
}

/* The loop beats once per pace and not more: 10 beats in one second, each
   exactly a pace after the last, and none while the clock stands still. */
static void test_loop_beats_at_the_pace_not_more(void **state)
{
    fx *f = *state;
    hbeat_service_options opts = zero_options(f);
    f->svc = t_service_opts(f->gw, &opts);
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_service_start(f->svc, &err), 0);

    t_settle(f->clock);
    assert_int_equal(hbeat_fake_gateway_call_count(f->gw), 0);
    run_for(f, NS_PER_S, 10 * NS_PER_MS);
    assert_int_equal(hbeat_fake_gateway_call_count(f->gw), 10);
    for (int k = 0; k < 10; k++) {
        hbeat_fake_call c = t_call(f->gw, k);
        assert_int_equal(c.time_ns, T_START_NS + (k + 1) * PACE_NS);
        assert_true(c.next_report_increment == 0.0);
    }
    /* Asleep, not spinning: still 10 while the clock stands still. */
    t_settle(f->clock);
    assert_int_equal(hbeat_fake_gateway_call_count(f->gw), 10);

    /* A big jump makes one beat, not a burst to catch up. */
    advance(f, 10 * NS_PER_S);
    t_wait_calls(f->gw, 11);
    t_settle(f->clock);
    assert_int_equal(hbeat_fake_gateway_call_count(f->gw), 11);
    assert_int_equal(hbeat_service_stop(f->svc, &err), 0);
}

/* A failing server is retried at the pace too (retry_cap and retry_base
   default to it), never in a tight loop; the defaults' jitter only
   shortens a wait, by at most 20 %. */
static void test_failures_are_retried_at_the_pace(void **state)
{
    fx *f = *state;
    hbeat_service_options opts = zero_options(f);
    f->svc = t_service_opts(f->gw, &opts);
    assert_int_equal(hbeat_fake_gateway_fail(f->gw, HBEAT_ETRANSPORT, 1, 1, "down (test)"), 0);
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_service_start(f->svc, &err), 0);
    run_for(f, 2 * NS_PER_S, 5 * NS_PER_MS);
    int n = hbeat_fake_gateway_call_count(f->gw);
    /* First try at one pace, then one retry every 80 to 100 ms. */
    assert_true(n >= 1 + (2 * NS_PER_S - PACE_NS) / PACE_NS);
    assert_true(n <= 1 + (2 * NS_PER_S - PACE_NS) / (PACE_NS * 8 / 10) + 1);
    for (int k = 1; k < n; k++) {
        int64_t gap = t_call(f->gw, k).time_ns - t_call(f->gw, k - 1).time_ns;
        if (gap < PACE_NS * 8 / 10 - 5 * NS_PER_MS || gap > PACE_NS + 5 * NS_PER_MS) {
            fail_msg("retry %d came %lld ns after the last try", k, (long long)gap);
        }
    }
    assert_true(hbeat_service_consecutive_failures(f->svc) == (unsigned int)n);
    assert_int_equal(hbeat_service_stop(f->svc, &err), 0);
}

/* A window of 0 is lapsed from the start: the lease is lost once and stays
   lost, however many beats are acknowledged; it never flaps. */
static void test_lease_is_lost_once_and_stays_lost(void **state)
{
    fx *f = *state;
    hbeat_service_options opts = zero_options(f);
    f->svc = t_service_opts(f->gw, &opts);
    assert_int_equal(hbeat_service_lease_lost(f->svc), 1);
    assert_true(hbeat_service_lease_remaining(f->svc) <= 0.0);
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_service_start(f->svc, &err), 0);
    run_for(f, NS_PER_S, 10 * NS_PER_MS);
    assert_int_equal(hbeat_fake_gateway_call_count(f->gw), 10);
    assert_int_equal(hbeat_service_stop(f->svc, &err), 0);
    assert_int_equal(hbeat_service_tick(f->svc, NULL, &err), 0);
    assert_int_equal(lease_count(f), 1);
    assert_int_equal(f->lease.lost[0], 1);
    assert_int_equal(hbeat_service_lease_lost(f->svc), 1);

    hbeat_service_stats st;
    memset(&st, 0, sizeof st);
    st.version = HBEAT_SERVICE_STATS_VERSION;
    assert_int_equal(hbeat_service_get_stats(f->svc, &st), 0);
    assert_int_equal(st.beats_acknowledged, 11);
    assert_true(st.lease_slack <= 0.0);
}

/* Stopping is as prompt with interval 0 as with any other: run() returns
   once the stop event is set, and start/stop joins at once. */
static void test_stop_is_prompt(void **state)
{
    fx *f = *state;
    hbeat_service_options opts = zero_options(f);
    f->svc = t_service_opts(f->gw, &opts);
    hbeat_stop_event *stop = NULL;
    assert_int_equal(hbeat_stop_event_new(&stop), 0);
    t_runner r;
    t_runner_start(&r, f->svc, stop);
    run_for(f, 3 * PACE_NS, PACE_NS);
    assert_int_equal(hbeat_fake_gateway_call_count(f->gw), 3);
    hbeat_stop_event_set(stop);
    assert_int_equal(t_runner_join(&r), 0);
    assert_int_equal(hbeat_service_is_running(f->svc), 0);
    hbeat_stop_event_free(stop);

    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_service_start(f->svc, &err), 0);
    t_settle(f->clock);
    assert_int_equal(hbeat_service_stop(f->svc, &err), 0);
    assert_int_equal(hbeat_fake_gateway_call_count(f->gw), 3);
}

/* retry_cap is measured against the lease, which interval 0 does not have:
   any cap is accepted, and retry_base still may not exceed it. */
static void test_retry_options_with_interval_zero(void **state)
{
    fx *f = *state;
    hbeat_service_options opts = zero_options(f);
    opts.retry_cap = 5.0;
    hbeat_service_free(t_service_opts(f->gw, &opts));
    opts = zero_options(f);
    opts.retry_base = 1.0; /* above the default cap, the pace */
    hbeat_service *svc = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_service_new(&svc, f->gw, &opts, &err), HBEAT_EINVAL);
    assert_non_null(strstr(err.message, "retry_base"));
    assert_null(svc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_always_due_and_ticks_send_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loop_beats_at_the_pace_not_more, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failures_are_retried_at_the_pace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_is_lost_once_and_stays_lost, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_is_prompt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_options_with_interval_zero, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
