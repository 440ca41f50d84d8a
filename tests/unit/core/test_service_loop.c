/*
 * The heartbeat loop on the fake clock: when it beats, how it counts
 * failures, when it retries, and how it stops (docs/library.md, the semantics).
 *
 * The clock is moved only once the loop sleeps on it
 * (hbeat_fake_clock_wait_waiters), and a beat is waited for with
 * hbeat_fake_gateway_wait_calls; assertions about "when" use the times the
 * fake gateway recorded on the fake clock, so nothing depends on speed.
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

typedef struct fx {
    hbeat_clock *clock;
    hbeat_gateway *gw;
    hbeat_service *svc;
    t_changes changes;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    t_changes_init(&f->changes);
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
    t_changes_destroy(&f->changes);
    free(f);
    return 0;
}

/* A service that retries at Jobmon's steady pace, max(0.1 s, interval/2)
   after every failure (retry_factor 1, no jitter); retry_cap 0 keeps the
   default cap (the interval). */
static void make_capped(fx *f, double interval, double report_by_buffer, unsigned int max_failures,
                        double retry_cap)
{
    hbeat_service_options opts = HBEAT_SERVICE_OPTIONS_INIT;
    opts.workflow_run_id = 11;
    opts.interval = interval;
    opts.report_by_buffer = report_by_buffer;
    opts.max_consecutive_failures = max_failures;
    opts.clock = f->clock;
    opts.on_status_change = t_on_change;
    opts.on_status_change_arg = &f->changes;
    opts.retry_factor = 1.0;
    opts.retry_jitter = 0.0;
    opts.retry_cap = retry_cap;
    f->svc = t_service_opts(f->gw, &opts);
}

static void make(fx *f, double interval, unsigned int max_failures)
{
    make_capped(f, interval, 3.1, max_failures, 0.0);
}

static int64_t now(fx *f)
{
    return hbeat_clock_now_ns(f->clock);
}

/*
 * Move the clock forward by `total` in several steps, each taken once the
 * loop sleeps, so that it looks at times just short of the goal; check that
 * no call came early, then take the last nanosecond and wait for call `k`.
 */
static void advance_to_call(fx *f, int64_t total, int k)
{
    int64_t third = (total - 1) / 3;
    int64_t steps[] = {third, third, total - 1 - 2 * third};
    for (size_t i = 0; i < 3; i++) {
        t_settle(f->clock);
        if (steps[i] > 0) {
            assert_int_equal(hbeat_fake_clock_advance(f->clock, steps[i]), 0);
        }
    }
    t_settle(f->clock);
    assert_int_equal(hbeat_fake_gateway_call_count(f->gw), k - 1);
    assert_int_equal(hbeat_fake_clock_advance(f->clock, 1), 0);
    t_wait_calls(f->gw, k);
}

static void test_loop_sends_n_beats_in_n_intervals_none_early(void **state)
{
    fx *f = *state;
    hbeat_error err = HBEAT_ERROR_INIT;
    make(f, 30.0, 5);
    const int n = 6;

    assert_int_equal(hbeat_service_start(f->svc, &err), 0);
    assert_int_equal(hbeat_service_is_running(f->svc), 1);
    for (int k = 1; k <= n; k++) {
        advance_to_call(f, 30 * NS_PER_S, k);
    }
    t_settle(f->clock);
    assert_int_equal(hbeat_service_stop(f->svc, &err), 0);
    assert_int_equal(hbeat_service_is_running(f->svc), 0);

    assert_int_equal(hbeat_fake_gateway_call_count(f->gw), n);
    for (int k = 0; k < n; k++) {
        hbeat_fake_call c = t_call(f->gw, k);
        assert_int_equal(c.kind, HBEAT_FAKE_HEARTBEAT);
        assert_int_equal(c.workflow_run_id, 11);
        assert_string_equal(c.status, "R");
        assert_true(fabs(c.next_report_increment - 93.0) < 1e-9);
        assert_int_equal(c.time_ns, T_START_NS + (k + 1) * 30 * NS_PER_S);
        if (k > 0) {
            assert_int_equal(c.sequence, t_call(f->gw, k - 1).sequence + 1);
        }
    }
    assert_int_equal(hbeat_service_last_heartbeat_ns(f->svc), T_START_NS + n * 30 * NS_PER_S);
    assert_int_equal(hbeat_service_consecutive_failures(f->svc), 0);
    assert_int_equal(t_changes_count(&f->changes), 0);
}

static void test_overdue_service_beats_as_soon_as_the_loop_starts(void **state)
{
    fx *f = *state;
    make(f, 30.0, 5);
    assert_int_equal(hbeat_fake_clock_advance(f->clock, 100 * NS_PER_S), 0);
    assert_int_equal(hbeat_service_start(f->svc, NULL), 0);
    t_wait_calls(f->gw, 1);
    t_settle(f->clock);
    assert_int_equal(hbeat_service_stop(f->svc, NULL), 0);
    assert_int_equal(hbeat_fake_gateway_call_count(f->gw), 1);
    assert_int_equal(t_call(f->gw, 0).time_ns, T_START_NS + 100 * NS_PER_S);
}

/* ---- run() in the caller's thread, stop set from another ---------------- */

typedef struct driver {
    fx *f;
    hbeat_stop_event *stop;
    int beats;
    int ok;
    char why[128];
} driver;

static void *drive_beats_then_stop(void *arg)
{
    driver *d = arg;
    fx *f = d->f;
    d->ok = 1;
    for (int k = 1; k <= d->beats && d->ok; k++) {
        if (hbeat_fake_clock_wait_waiters(f->clock, 1, T_TIMEOUT) != 0) {
            snprintf(d->why, sizeof d->why, "loop not asleep before beat %d", k);
            d->ok = 0;
            break;
        }
        hbeat_fake_clock_advance(f->clock, 30 * NS_PER_S);
        if (hbeat_fake_gateway_wait_calls(f->gw, k, T_TIMEOUT) != 0) {
            snprintf(d->why, sizeof d->why, "beat %d never came", k);
            d->ok = 0;
        }
    }
    hbeat_fake_clock_wait_waiters(f->clock, 1, T_TIMEOUT);
    hbeat_stop_event_set(d->stop);
    return NULL;
}

static void test_run_in_callers_thread_stopped_from_another(void **state)
{
    fx *f = *state;
    make(f, 30.0, 5);
    hbeat_stop_event *stop = NULL;
    assert_int_equal(hbeat_stop_event_new(&stop), 0);
    driver d = {.f = f, .stop = stop, .beats = 3};
    pthread_t th = t_thread(drive_beats_then_stop, &d);

    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_service_run(f->svc, stop, &err);
    t_join(th);
    assert_int_equal(rc, 0);
    if (!d.ok) {
        fail_msg("%s", d.why);
    }
    assert_int_equal(hbeat_fake_gateway_call_count(f->gw), 3);
    assert_int_equal(t_call(f->gw, 2).time_ns, T_START_NS + 90 * NS_PER_S);
    assert_int_equal(hbeat_service_is_running(f->svc), 0);
    hbeat_stop_event_free(stop);
}

static void test_run_returns_at_once_when_stop_is_already_set(void **state)
{
    fx *f = *state;
    make(f, 30.0, 5);
    hbeat_stop_event *stop = NULL;
    assert_int_equal(hbeat_stop_event_new(&stop), 0);
    hbeat_stop_event_set(stop);
    assert_int_equal(hbeat_fake_clock_advance(f->clock, 60 * NS_PER_S), 0);
    assert_int_equal(hbeat_service_run(f->svc, stop, NULL), 0);
    assert_int_equal(hbeat_fake_gateway_call_count(f->gw), 0);
    hbeat_stop_event_free(stop);
}

/* ---- failures ----------------------------------------------------------- */

static void test_fatal_exactly_on_the_nth_consecutive_failure(void **state)
{
    fx *f = *state;
    hbeat_error err = HBEAT_ERROR_INIT;
    make(f, 30.0, 3);
    assert_int_equal(hbeat_fake_gateway_fail(f->gw, HBEAT_ETRANSPORT, 1, 1, "backend down (test)"),
                     0);
    assert_int_equal(hbeat_service_start(f->svc, &err), 0);

    advance_to_call(f, 30 * NS_PER_S, 1);
    t_settle(f->clock); /* still looping: waits to retry */
    assert_int_equal(hbeat_service_is_running(f->svc), 1);
    assert_int_equal(hbeat_service_consecutive_failures(f->svc), 1);

    advance_to_call(f, 15 * NS_PER_S, 2);
    t_settle(f->clock);
    assert_int_equal(hbeat_service_is_running(f->svc), 1);
    assert_int_equal(hbeat_service_consecutive_failures(f->svc), 2);

    advance_to_call(f, 15 * NS_PER_S, 3);
    /* The third failure in a row ends the loop by itself... */
    t_wait_not_running(f->svc);
    /* ...and stop returns its result. */
    int rc = hbeat_service_stop(f->svc, &err);
    assert_int_equal(rc, HBEAT_EFATAL);
    assert_int_equal(err.code, HBEAT_EFATAL);
    if (!strstr(err.message, "backend down (test)")) {
        fail_msg("fatal error does not carry the transport's message: \"%s\"", err.message);
    }
    assert_int_equal(hbeat_service_is_running(f->svc), 0);
    assert_int_equal(hbeat_fake_gateway_call_count(f->gw), 3);
    assert_int_equal(hbeat_service_consecutive_failures(f->svc), 3);
    /* Nothing was adopted; the last beat time is still creation. */
    assert_int_equal(hbeat_service_last_heartbeat_ns(f->svc), T_START_NS);
    /* The thread is gone: a second stop has nothing to stop. */
    assert_int_equal(hbeat_service_stop(f->svc, NULL), HBEAT_ESTATE);
}

static void test_fatal_via_run_in_callers_thread(void **state)
{
    fx *f = *state;
    make(f, 30.0, 2);
    hbeat_stop_event *stop = NULL;
    assert_int_equal(hbeat_stop_event_new(&stop), 0);
    assert_int_equal(hbeat_fake_gateway_fail(f->gw, HBEAT_ESERVER, 1, 1, "HTTP 503 (test)"), 0);
    t_runner r;
    t_runner_start(&r, f->svc, stop);
    advance_to_call(f, 30 * NS_PER_S, 1);
    advance_to_call(f, 15 * NS_PER_S, 2);
    assert_int_equal(t_runner_join(&r), HBEAT_EFATAL);
    assert_int_equal(r.err.code, HBEAT_EFATAL);
    assert_non_null(strstr(r.err.message, "HTTP 503 (test)"));
    assert_int_equal(hbeat_stop_event_is_set(stop), 0);
    hbeat_stop_event_free(stop);
}

static void test_default_is_five_failures(void **state)
{
    fx *f = *state;
    hbeat_service_options opts = HBEAT_SERVICE_OPTIONS_INIT;
    opts.workflow_run_id = 11;
    opts.clock = f->clock;
    opts.retry_factor = 1.0;
    opts.retry_jitter = 0.0;
    f->svc = t_service_opts(f->gw, &opts);
    assert_int_equal(hbeat_fake_gateway_fail(f->gw, HBEAT_ETIMEDOUT, 1, 1, "slow (test)"), 0);
    assert_int_equal(hbeat_service_start(f->svc, NULL), 0);
    advance_to_call(f, 30 * NS_PER_S, 1);
    for (int k = 2; k <= 5; k++) {
        t_settle(f->clock);
        assert_int_equal(hbeat_service_is_running(f->svc), 1);
        advance_to_call(f, 15 * NS_PER_S, k);
    }
    t_wait_not_running(f->svc);
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_service_stop(f->svc, &err), HBEAT_EFATAL);
    assert_non_null(strstr(err.message, "slow (test)"));
    assert_int_equal(hbeat_fake_gateway_call_count(f->gw), 5);
}

static void test_a_success_resets_the_failure_count(void **state)
{
    fx *f = *state;
    make(f, 30.0, 3);
    assert_int_equal(hbeat_service_start(f->svc, NULL), 0);
    int k = 0;
    int64_t t = T_START_NS;
    for (int round = 0; round < 3; round++) {
        /* N-1 failures ... */
        assert_int_equal(hbeat_fake_gateway_fail(f->gw, HBEAT_ETRANSPORT, 1, 1, "down (test)"), 0);
        advance_to_call(f, 30 * NS_PER_S, ++k);
        t += 30 * NS_PER_S;
        assert_int_equal(t_call(f->gw, k - 1).time_ns, t);
        t_settle(f->clock);
        assert_int_equal(hbeat_service_consecutive_failures(f->svc), 1);
        advance_to_call(f, 15 * NS_PER_S, ++k);
        t += 15 * NS_PER_S;
        assert_int_equal(t_call(f->gw, k - 1).time_ns, t);
        t_settle(f->clock);
        assert_int_equal(hbeat_service_consecutive_failures(f->svc), 2);
        /* ... then a success: the count starts over. */
        assert_int_equal(hbeat_fake_gateway_heal(f->gw), 0);
        advance_to_call(f, 15 * NS_PER_S, ++k);
        t += 15 * NS_PER_S;
        assert_int_equal(t_call(f->gw, k - 1).time_ns, t);
        assert_int_equal(t_call(f->gw, k - 1).result, 0);
        t_settle(f->clock);
        assert_int_equal(hbeat_service_consecutive_failures(f->svc), 0);
        assert_int_equal(hbeat_service_is_running(f->svc), 1);
        assert_int_equal(hbeat_service_last_heartbeat_ns(f->svc), t);
    }
    assert_int_equal(hbeat_service_stop(f->svc, NULL), 0);
    assert_int_equal(hbeat_fake_gateway_call_count(f->gw), 9);
}

static void test_zero_max_failures_never_goes_fatal(void **state)
{
    fx *f = *state;
    /* A lease (3000 s) long enough for every retry at the steady pace. */
    make_capped(f, 30.0, 100.0, 0, 0.0);
    assert_int_equal(hbeat_fake_gateway_fail(f->gw, HBEAT_ETRANSPORT, 1, 1, "down (test)"), 0);
    assert_int_equal(hbeat_service_start(f->svc, NULL), 0);
    advance_to_call(f, 30 * NS_PER_S, 1);
    for (int k = 2; k <= 25; k++) {
        advance_to_call(f, 15 * NS_PER_S, k);
    }
    t_settle(f->clock);
    assert_int_equal(hbeat_service_is_running(f->svc), 1);
    assert_int_equal(hbeat_service_consecutive_failures(f->svc), 25);
    assert_int_equal(hbeat_service_stop(f->svc, NULL), 0);
}

/* After a failure at time t the next try is at t + max(0.1 s, interval/2). */
static void check_retry_delay(fx *f, double interval, int64_t interval_ns, int64_t retry_ns)
{
    /* The cap defaults to the interval; raise it so that the 0.1 s floor
       shows for short intervals too, and make the lease long enough that it
       does not pull the retry earlier. */
    make_capped(f, interval, 10.0, 5, interval * 10.0);
    assert_int_equal(hbeat_fake_gateway_fail(f->gw, HBEAT_ETRANSPORT, 1, 0, "once (test)"), 0);
    assert_int_equal(hbeat_service_start(f->svc, NULL), 0);
    advance_to_call(f, interval_ns, 1);
    advance_to_call(f, retry_ns, 2);
    int64_t t1 = t_call(f->gw, 0).time_ns;
    int64_t t2 = t_call(f->gw, 1).time_ns;
    assert_int_equal(t_call(f->gw, 0).result, HBEAT_ETRANSPORT);
    assert_int_equal(t_call(f->gw, 1).result, 0);
    assert_int_equal(t2 - t1, retry_ns);
    /* After the retry succeeds the ordinary interval applies again. */
    advance_to_call(f, interval_ns, 3);
    assert_int_equal(t_call(f->gw, 2).time_ns - t2, interval_ns);
    t_settle(f->clock);
    assert_int_equal(hbeat_service_stop(f->svc, NULL), 0);
    hbeat_service_free(f->svc);
    f->svc = NULL;
    assert_int_equal(hbeat_fake_gateway_clear_calls(f->gw), 0);
}

static void test_retry_after_half_the_interval(void **state)
{
    fx *f = *state;
    check_retry_delay(f, 10.0, 10 * NS_PER_S, 5 * NS_PER_S);
    check_retry_delay(f, 30.0, 30 * NS_PER_S, 15 * NS_PER_S);
}

static void test_retry_never_sooner_than_a_tenth_of_a_second(void **state)
{
    fx *f = *state;
    check_retry_delay(f, 0.05, 50 * NS_PER_MS, 100 * NS_PER_MS);
    check_retry_delay(f, 0.15, 150 * NS_PER_MS, 100 * NS_PER_MS);
    check_retry_delay(f, 0.2, 200 * NS_PER_MS, 100 * NS_PER_MS);
}

/* ---- stopping ----------------------------------------------------------- */

static void test_stop_is_prompt_mid_wait(void **state)
{
    fx *f = *state;
    make(f, 30.0, 5);
    assert_int_equal(hbeat_service_start(f->svc, NULL), 0);
    t_settle(f->clock);
    int64_t before = now(f);
    /* Nobody moves the clock: stop must not wait for the interval. */
    assert_int_equal(hbeat_service_stop(f->svc, NULL), 0);
    assert_int_equal(now(f), before);
    assert_int_equal(hbeat_fake_gateway_call_count(f->gw), 0);
    assert_int_equal(hbeat_fake_clock_waiters(f->clock), 0);
}

static void test_stop_event_is_prompt_mid_wait(void **state)
{
    fx *f = *state;
    make(f, 30.0, 5);
    hbeat_stop_event *stop = NULL;
    assert_int_equal(hbeat_stop_event_new(&stop), 0);
    t_runner r;
    t_runner_start(&r, f->svc, stop);
    t_settle(f->clock);
    assert_int_equal(hbeat_service_is_running(f->svc), 1);
    hbeat_stop_event_set(stop);
    assert_int_equal(t_runner_join(&r), 0);
    assert_int_equal(hbeat_fake_gateway_call_count(f->gw), 0);
    assert_int_equal(hbeat_service_is_running(f->svc), 0);

    /* The same event, cleared, runs the loop again. */
    hbeat_stop_event_clear(stop);
    t_runner_start(&r, f->svc, stop);
    advance_to_call(f, 30 * NS_PER_S, 1);
    t_settle(f->clock);
    hbeat_stop_event_set(stop);
    assert_int_equal(t_runner_join(&r), 0);
    hbeat_stop_event_free(stop);
}

static void test_stop_is_prompt_mid_retry_wait(void **state)
{
    fx *f = *state;
    make(f, 30.0, 5);
    hbeat_stop_event *stop = NULL;
    assert_int_equal(hbeat_stop_event_new(&stop), 0);
    assert_int_equal(hbeat_fake_gateway_fail(f->gw, HBEAT_ETRANSPORT, 1, 1, "down (test)"), 0);
    t_runner r;
    t_runner_start(&r, f->svc, stop);
    advance_to_call(f, 30 * NS_PER_S, 1);
    t_settle(f->clock); /* now waiting to retry */
    hbeat_stop_event_set(stop);
    /* Stopped on request: 0, even though the last beat failed. */
    assert_int_equal(t_runner_join(&r), 0);
    assert_int_equal(hbeat_fake_gateway_call_count(f->gw), 1);
    hbeat_stop_event_free(stop);

    /* And through start/stop. */
    assert_int_equal(hbeat_service_start(f->svc, NULL), 0);
    t_settle(f->clock);
    assert_int_equal(hbeat_service_stop(f->svc, NULL), 0);
}

static void test_stop_is_prompt_on_the_system_clock(void **state)
{
    /* An hour's interval on the real clock: stop must not sleep it out
       (the test's own CTest timeout is the bound). */
    fx *f = *state;
    hbeat_service_options opts = HBEAT_SERVICE_OPTIONS_INIT;
    opts.workflow_run_id = 11;
    opts.interval = 3600.0;
    f->svc = t_service_opts(f->gw, &opts);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(hbeat_service_start(f->svc, NULL), 0);
        assert_int_equal(hbeat_service_stop(f->svc, NULL), 0);
    }
    assert_int_equal(hbeat_fake_gateway_call_count(f->gw), 0);
}

static void test_start_stop_state_errors(void **state)
{
    fx *f = *state;
    hbeat_error err = HBEAT_ERROR_INIT;
    make(f, 30.0, 5);

    assert_int_equal(hbeat_service_stop(f->svc, &err), HBEAT_ESTATE);
    assert_int_equal(err.code, HBEAT_ESTATE);
    assert_true(err.message[0] != '\0');

    assert_int_equal(hbeat_service_start(f->svc, NULL), 0);
    hbeat_error_clear(&err);
    assert_int_equal(hbeat_service_start(f->svc, &err), HBEAT_ESTATE);
    assert_true(err.message[0] != '\0');

    hbeat_stop_event *stop = NULL;
    assert_int_equal(hbeat_stop_event_new(&stop), 0);
    hbeat_error_clear(&err);
    assert_int_equal(hbeat_service_run(f->svc, stop, &err), HBEAT_ESTATE);
    assert_true(err.message[0] != '\0');

    assert_int_equal(hbeat_service_stop(f->svc, NULL), 0);
    assert_int_equal(hbeat_service_stop(f->svc, NULL), HBEAT_ESTATE);

    /* A stopped service can be started again. */
    assert_int_equal(hbeat_service_start(f->svc, NULL), 0);
    advance_to_call(f, 30 * NS_PER_S, 1);
    t_settle(f->clock);
    assert_int_equal(hbeat_service_stop(f->svc, NULL), 0);

    /* While run() runs elsewhere, start and a second run are refused. */
    t_runner r;
    t_runner_start(&r, f->svc, stop);
    t_settle(f->clock);
    assert_int_equal(hbeat_service_is_running(f->svc), 1);
    assert_int_equal(hbeat_service_start(f->svc, NULL), HBEAT_ESTATE);
    assert_int_equal(hbeat_service_run(f->svc, stop, NULL), HBEAT_ESTATE);
    /* stop() is for start()'s thread only. */
    assert_int_equal(hbeat_service_stop(f->svc, NULL), HBEAT_ESTATE);
    hbeat_stop_event_set(stop);
    assert_int_equal(t_runner_join(&r), 0);
    hbeat_stop_event_free(stop);
}

static void test_free_while_the_loop_runs_stops_it(void **state)
{
    fx *f = *state;
    make(f, 30.0, 5);
    assert_int_equal(hbeat_service_start(f->svc, NULL), 0);
    advance_to_call(f, 30 * NS_PER_S, 1);
    t_settle(f->clock);
    hbeat_service_free(f->svc); /* no stop first */
    f->svc = NULL;
    assert_int_equal(hbeat_fake_clock_waiters(f->clock), 0);
    assert_int_equal(hbeat_fake_gateway_call_count(f->gw), 1);

    /* Also in the middle of a retry wait. */
    make(f, 30.0, 5);
    assert_int_equal(hbeat_fake_gateway_fail(f->gw, HBEAT_ETRANSPORT, 1, 1, "down (test)"), 0);
    assert_int_equal(hbeat_service_start(f->svc, NULL), 0);
    assert_int_equal(hbeat_fake_gateway_clear_calls(f->gw), 0);
    advance_to_call(f, 30 * NS_PER_S, 1);
    t_settle(f->clock);
    hbeat_service_free(f->svc);
    f->svc = NULL;
    assert_int_equal(hbeat_fake_clock_waiters(f->clock), 0);
}

static void test_free_after_the_loop_went_fatal(void **state)
{
    fx *f = *state;
    make(f, 30.0, 1);
    assert_int_equal(hbeat_fake_gateway_fail(f->gw, HBEAT_ETRANSPORT, 1, 1, "down (test)"), 0);
    assert_int_equal(hbeat_service_start(f->svc, NULL), 0);
    advance_to_call(f, 30 * NS_PER_S, 1);
    /* The loop ends by itself; free must join it without a stop. */
    hbeat_service_free(f->svc);
    f->svc = NULL;
}

typedef struct gate_opener {
    t_gate *gate;
} gate_opener;

static void *open_the_gate(void *arg)
{
    t_gate_set_open(((gate_opener *)arg)->gate, 1);
    return NULL;
}

static void test_stop_is_prompt_while_a_beat_is_in_flight(void **state)
{
    /* The beat is held in the gateway; stop must not wait for it, and free
       must (the gateway is freed right after and must not be used again). */
    fx *f = *state;
    t_gate g;
    t_gate_init(&g, 0);
    hbeat_gateway *gw = t_gate_gateway(&g, 0);
    hbeat_service *svc = t_service(gw, f->clock, 11, 30, 3.1, 5);

    assert_int_equal(hbeat_service_start(svc, NULL), 0);
    t_settle(f->clock);
    assert_int_equal(hbeat_fake_clock_advance(f->clock, 30 * NS_PER_S), 0);
    t_gate_wait_waiting(&g, 1);
    assert_int_equal(hbeat_service_stop(svc, NULL), 0);
    assert_int_equal(hbeat_service_is_running(svc), 0);

    gate_opener o = {&g};
    pthread_t th = t_thread(open_the_gate, &o);
    hbeat_service_free(svc);
    t_join(th);
    hbeat_gateway_free(gw);
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.destroys, 1);

    /* And free without stop, the beat still held. */
    t_gate_destroy(&g);
    t_gate_init(&g, 0);
    gw = t_gate_gateway(&g, 0);
    svc = t_service(gw, f->clock, 11, 30, 3.1, 5);
    assert_int_equal(hbeat_service_start(svc, NULL), 0);
    t_settle(f->clock);
    assert_int_equal(hbeat_fake_clock_advance(f->clock, 30 * NS_PER_S), 0);
    t_gate_wait_waiting(&g, 1);
    th = t_thread(open_the_gate, &o);
    hbeat_service_free(svc);
    t_join(th);
    hbeat_gateway_free(gw);
    assert_int_equal(g.calls, 1);
    t_gate_destroy(&g);
}

/* ---- status changes and the loop ---------------------------------------- */

static void test_loop_adopts_server_status_and_reports_once(void **state)
{
    fx *f = *state;
    make(f, 30.0, 5);
    assert_int_equal(hbeat_fake_gateway_set_server_status(f->gw, "H"), 0);
    assert_int_equal(hbeat_service_start(f->svc, NULL), 0);
    advance_to_call(f, 30 * NS_PER_S, 1);
    t_settle(f->clock);
    assert_int_equal(t_changes_count(&f->changes), 1);
    assert_string_equal(f->changes.old_status[0], "R");
    assert_string_equal(f->changes.new_status[0], "H");
    char status[HBEAT_STATUS_MAX + 1];
    assert_int_equal(hbeat_service_status(f->svc, status), 0);
    assert_string_equal(status, "H");
    advance_to_call(f, 30 * NS_PER_S, 2);
    t_settle(f->clock);
    assert_string_equal(t_call(f->gw, 1).status, "H");
    assert_int_equal(t_changes_count(&f->changes), 1);
    assert_int_equal(hbeat_service_stop(f->svc, NULL), 0);
}

static void test_set_status_and_reset_timer_while_the_loop_waits(void **state)
{
    fx *f = *state;
    make(f, 30.0, 5);
    assert_int_equal(hbeat_service_start(f->svc, NULL), 0);
    t_settle(f->clock);
    assert_int_equal(hbeat_fake_clock_advance(f->clock, 20 * NS_PER_S), 0);
    /* A beat sent elsewhere at t=20: the loop's next is due at t=50. */
    hbeat_service_reset_timer(f->svc);
    assert_int_equal(hbeat_service_set_status(f->svc, "D", NULL), 0);
    advance_to_call(f, 30 * NS_PER_S, 1);
    t_settle(f->clock);
    hbeat_fake_call c = t_call(f->gw, 0);
    assert_int_equal(c.time_ns, T_START_NS + 50 * NS_PER_S);
    assert_string_equal(c.status, "D");
    assert_int_equal(hbeat_service_stop(f->svc, NULL), 0);
}

static void test_tick_does_not_touch_the_loops_failure_count(void **state)
{
    fx *f = *state;
    make(f, 30.0, 5);
    assert_int_equal(hbeat_fake_gateway_fail(f->gw, HBEAT_ETRANSPORT, 1, 1, "down (test)"), 0);
    assert_int_equal(hbeat_service_start(f->svc, NULL), 0);
    advance_to_call(f, 30 * NS_PER_S, 1);
    advance_to_call(f, 15 * NS_PER_S, 2);
    t_settle(f->clock); /* the loop waits to retry */
    assert_int_equal(hbeat_service_consecutive_failures(f->svc), 2);

    /* A failed tick does not add to it... */
    assert_int_equal(hbeat_service_tick(f->svc, NULL, NULL), HBEAT_ETRANSPORT);
    assert_int_equal(hbeat_service_consecutive_failures(f->svc), 2);
    /* ...and a successful one does not reset it. */
    assert_int_equal(hbeat_fake_gateway_heal(f->gw), 0);
    assert_int_equal(hbeat_service_tick(f->svc, NULL, NULL), 0);
    assert_int_equal(hbeat_service_consecutive_failures(f->svc), 2);
    assert_int_equal(hbeat_service_is_running(f->svc), 1);
    assert_int_equal(hbeat_service_stop(f->svc, NULL), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_loop_sends_n_beats_in_n_intervals_none_early),
        T(test_overdue_service_beats_as_soon_as_the_loop_starts),
        T(test_run_in_callers_thread_stopped_from_another),
        T(test_run_returns_at_once_when_stop_is_already_set),
        T(test_fatal_exactly_on_the_nth_consecutive_failure),
        T(test_fatal_via_run_in_callers_thread),
        T(test_default_is_five_failures),
        T(test_a_success_resets_the_failure_count),
        T(test_zero_max_failures_never_goes_fatal),
        T(test_retry_after_half_the_interval),
        T(test_retry_never_sooner_than_a_tenth_of_a_second),
        T(test_stop_is_prompt_mid_wait),
        T(test_stop_event_is_prompt_mid_wait),
        T(test_stop_is_prompt_mid_retry_wait),
        T(test_stop_is_prompt_on_the_system_clock),
        T(test_start_stop_state_errors),
        T(test_free_while_the_loop_runs_stops_it),
        T(test_free_after_the_loop_went_fatal),
        T(test_stop_is_prompt_while_a_beat_is_in_flight),
        T(test_loop_adopts_server_status_and_reports_once),
        T(test_set_status_and_reset_timer_while_the_loop_waits),
        T(test_tick_does_not_touch_the_loops_failure_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
