/* The loop's failure policy (docs/failure-handling.md), tested on the fake clock: each step
   advances the clock only once the loop sleeps on it, and waits for the beat it expects. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hbeat/hbeat.h"
#include "hbeat/sys/fake.h"

#define S     INT64_C(1000000000)
#define MS    INT64_C(1000000)
#define START (500 * S)
#define BOUND 10.0

typedef struct lease_log {
    pthread_mutex_t mu;
    int events[16];
    int64_t when[16];
    int count;
    hbeat_clock *clock;
} lease_log;

static void on_lease(void *arg, int lost)
{
    lease_log *log = arg;
    pthread_mutex_lock(&log->mu);
    if (log->count < 16) {
        log->events[log->count] = lost;
        log->when[log->count] = hbeat_clock_now_ns(log->clock);
        log->count++;
    }
    pthread_mutex_unlock(&log->mu);
}

static int lease_events(lease_log *log)
{
    pthread_mutex_lock(&log->mu);
    int n = log->count;
    pthread_mutex_unlock(&log->mu);
    return n;
}

typedef struct fx {
    hbeat_clock *clock;
    hbeat_gateway *gw;
    hbeat_service *svc;
    lease_log lease;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    assert_int_equal(hbeat_fake_clock_new(&f->clock, START, NULL), 0);
    assert_int_equal(hbeat_fake_gateway_new(&f->gw, f->clock, 0, NULL), 0);
    pthread_mutex_init(&f->lease.mu, NULL);
    f->lease.clock = f->clock;
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

static hbeat_service_options base_options(fx *f)
{
    hbeat_service_options o = HBEAT_SERVICE_OPTIONS_INIT;
    o.workflow_run_id = 5;
    o.interval = 30;
    o.report_by_buffer = 3.1; /* lease 93 s */
    o.clock = f->clock;
    o.on_lease_change = on_lease;
    o.on_lease_change_arg = &f->lease;
    return o;
}

static void make(fx *f, hbeat_service_options *o)
{
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_service_new(&f->svc, f->gw, o, &err);
    if (rc != 0)
        fail_msg("hbeat_service_new: %s", err.message);
}

/* Moves the clock to `at` in one step once the loop sleeps, then waits for
   the gateway to have seen `calls` calls in all. */
static void step_to(fx *f, int64_t at, int calls)
{
    assert_int_equal(hbeat_fake_clock_wait_waiters(f->clock, 1, BOUND), 0);
    int64_t now = hbeat_clock_now_ns(f->clock);
    assert_true(at >= now);
    assert_int_equal(hbeat_fake_clock_advance(f->clock, at - now), 0);
    assert_int_equal(hbeat_fake_gateway_wait_calls(f->gw, calls, BOUND), 0);
}

/* Moves the clock to just before `at` and checks that no call came. */
static void no_call_before(fx *f, int64_t at, int calls_so_far)
{
    assert_int_equal(hbeat_fake_clock_wait_waiters(f->clock, 1, BOUND), 0);
    int64_t now = hbeat_clock_now_ns(f->clock);
    assert_int_equal(hbeat_fake_clock_advance(f->clock, at - 1 - now), 0);
    assert_int_equal(hbeat_fake_clock_wait_waiters(f->clock, 1, BOUND), 0);
    assert_int_equal(hbeat_fake_gateway_call_count(f->gw), calls_so_far);
}

static int64_t call_time(fx *f, int i)
{
    hbeat_fake_call c;
    assert_int_equal(hbeat_fake_gateway_call(f->gw, i, &c), 0);
    return c.time_ns;
}

/* Backoff doubles from retry_base up to retry_cap, but the retry that would
   land after the lease is sent just before it instead; after the lease has
   lapsed, the backoff goes on. */
static void test_backoff_is_clamped_to_the_lease(void **state)
{
    fx *f = *state;
    hbeat_service_options o = base_options(f);
    o.retry_base = 5;
    o.retry_factor = 2;
    o.retry_cap = 30;
    o.retry_jitter = 0;
    o.max_consecutive_failures = 0;
    make(f, &o);
    assert_int_equal(hbeat_fake_gateway_fail(f->gw, HBEAT_ETRANSPORT, 1, 1, "down"), 0);
    assert_int_equal(hbeat_service_start(f->svc, NULL), 0);

    step_to(f, START + 30 * S, 1); /* the beat fails */
    no_call_before(f, START + 35 * S, 1);
    step_to(f, START + 35 * S, 2); /* +5 */
    no_call_before(f, START + 45 * S, 2);
    step_to(f, START + 45 * S, 3); /* +10 */
    no_call_before(f, START + 65 * S, 3);
    step_to(f, START + 65 * S, 4); /* +20 */
    /* +30 would be 95 s, after the lease (creation + 93 s): sent 10 ms
       before the lease runs out instead. */
    int64_t send_by = START + 93 * S - 10 * MS;
    no_call_before(f, send_by, 4);
    step_to(f, send_by, 5);
    assert_int_equal(call_time(f, 4), send_by);
    assert_int_equal(lease_events(&f->lease), 0);
    /* The lease lapses with no beat acknowledged: the loop wakes for it. */
    assert_int_equal(hbeat_fake_clock_wait_waiters(f->clock, 1, BOUND), 0);
    assert_int_equal(hbeat_fake_clock_advance(f->clock, 10 * MS), 0);
    assert_int_equal(hbeat_fake_clock_wait_waiters(f->clock, 1, BOUND), 0);
    assert_int_equal(lease_events(&f->lease), 1);
    assert_int_equal(f->lease.events[0], 1);
    assert_int_equal(f->lease.when[0], START + 93 * S);
    assert_int_equal(hbeat_service_lease_lost(f->svc), 1);
    /* Past the lease the backoff is not clamped any more. */
    no_call_before(f, send_by + 30 * S, 5);
    step_to(f, send_by + 30 * S, 6);

    /* The server comes back: the lease is regained, once. */
    assert_int_equal(hbeat_fake_gateway_heal(f->gw), 0);
    step_to(f, send_by + 60 * S, 7);
    assert_int_equal(hbeat_fake_clock_wait_waiters(f->clock, 1, BOUND), 0);
    assert_int_equal(lease_events(&f->lease), 2);
    assert_int_equal(f->lease.events[1], 0);
    assert_int_equal(hbeat_service_lease_lost(f->svc), 0);
    assert_true(fabs(hbeat_service_lease_remaining(f->svc) - 93.0) < 1e-6);
    assert_int_equal(hbeat_service_stop(f->svc, NULL), 0);
}

/* With the defaults a fleet that failed together does not retry together:
   the first retry lands between 80% and 100% of interval / 2. */
static void test_default_retry_is_jittered_within_bounds(void **state)
{
    fx *f = *state;
    hbeat_service_options o = base_options(f);
    o.seed = 42;
    make(f, &o);
    assert_int_equal(hbeat_fake_gateway_fail(f->gw, HBEAT_ETIMEDOUT, 1, 0, "once"), 0);
    assert_int_equal(hbeat_service_start(f->svc, NULL), 0);
    step_to(f, START + 30 * S, 1);
    /* Walk in 100 ms steps until the retry comes. */
    int64_t t = START + 30 * S;
    while (hbeat_fake_gateway_call_count(f->gw) < 2 && t < START + 46 * S) {
        assert_int_equal(hbeat_fake_clock_wait_waiters(f->clock, 1, BOUND), 0);
        assert_int_equal(hbeat_fake_clock_advance(f->clock, 100 * MS), 0);
        t += 100 * MS;
        if (hbeat_fake_gateway_call_count(f->gw) < 2)
            hbeat_fake_gateway_wait_calls(f->gw, 2, 0.05);
    }
    assert_int_equal(hbeat_fake_gateway_wait_calls(f->gw, 2, BOUND), 0);
    int64_t delay = call_time(f, 1) - call_time(f, 0);
    assert_true(delay >= 12 * S && delay <= 15 * S);
    assert_int_equal(hbeat_service_stop(f->svc, NULL), 0);
}

/* Steady-state jitter brings beats early, never late, and the same seed
   gives the same schedule. */
static void record_schedule(fx *f, uint64_t seed, int64_t out[5])
{
    hbeat_service_options o = base_options(f);
    o.jitter = 0.5;
    o.seed = seed;
    make(f, &o);
    assert_int_equal(hbeat_service_start(f->svc, NULL), 0);
    int64_t t = hbeat_clock_now_ns(f->clock);
    for (int k = 0; k < 5; k++) {
        int64_t last = k == 0 ? t : call_time(f, k - 1);
        /* Walk one second at a time through the window [0.5, 1] interval. */
        int64_t at = last + 15 * S;
        step_to(f, at - 1, k); /* never before half the interval */
        while (hbeat_fake_gateway_call_count(f->gw) == k) {
            assert_true(at <= last + 30 * S);
            assert_int_equal(hbeat_fake_clock_wait_waiters(f->clock, 1, BOUND), 0);
            int64_t now = hbeat_clock_now_ns(f->clock);
            assert_int_equal(hbeat_fake_clock_advance(f->clock, at - now), 0);
            hbeat_fake_gateway_wait_calls(f->gw, k + 1, 0.05);
            at += S / 4;
        }
        out[k] = call_time(f, k) - last;
        assert_true(out[k] >= 15 * S && out[k] <= 30 * S);
    }
    assert_int_equal(hbeat_service_stop(f->svc, NULL), 0);
    hbeat_service_free(f->svc);
    f->svc = NULL;
    hbeat_fake_gateway_clear_calls(f->gw);
}

static void test_jitter_is_early_only_and_seeded(void **state)
{
    fx *f = *state;
    int64_t a[5], b[5];
    record_schedule(f, 7, a);
    record_schedule(f, 7, b);
    int spread = 0;
    for (int k = 0; k < 5; k++) {
        /* Same seed, same offsets (to the quarter second we walked in). */
        assert_true(llabs(a[k] - b[k]) <= S / 4);
        spread |= a[k] != a[0];
    }
    assert_true(spread); /* it is not a constant offset */
}

/* A random first phase puts the first beat somewhere in the first interval. */
static void test_random_phase_spreads_the_first_beat(void **state)
{
    fx *f = *state;
    int64_t first[4];
    for (int i = 0; i < 4; i++) {
        hbeat_service_options o = base_options(f);
        o.random_phase = 1;
        o.seed = (uint64_t)(100 + i);
        make(f, &o);
        int64_t created = hbeat_clock_now_ns(f->clock);
        assert_int_equal(hbeat_service_start(f->svc, NULL), 0);
        int64_t at = created;
        while (hbeat_fake_gateway_call_count(f->gw) == 0) {
            at += S;
            assert_true(at <= created + 30 * S);
            assert_int_equal(hbeat_fake_clock_wait_waiters(f->clock, 1, BOUND), 0);
            assert_int_equal(hbeat_fake_clock_advance(f->clock, at - hbeat_clock_now_ns(f->clock)),
                             0);
            hbeat_fake_gateway_wait_calls(f->gw, 1, 0.05);
        }
        first[i] = call_time(f, 0) - created;
        assert_int_equal(hbeat_service_stop(f->svc, NULL), 0);
        hbeat_service_free(f->svc);
        f->svc = NULL;
        hbeat_fake_gateway_clear_calls(f->gw);
    }
    assert_false(first[0] == first[1] && first[1] == first[2] && first[2] == first[3]);
}

/* A stop while a beat is in flight returns at once; the beat still lands. */
static void test_stop_is_prompt_while_a_beat_is_in_flight(void **state)
{
    fx *f = *state;
    hbeat_gateway_free(f->gw);
    assert_int_equal(hbeat_fake_gateway_new(&f->gw, f->clock, HBEAT_FAKE_ASYNC, NULL), 0);
    assert_int_equal(hbeat_fake_gateway_push_reply(f->gw, "C"), 0);
    hbeat_service_options o = base_options(f);
    make(f, &o);
    assert_int_equal(hbeat_service_start(f->svc, NULL), 0);
    step_to(f, START + 30 * S, 1);
    assert_int_equal(hbeat_fake_gateway_pending(f->gw), 1);
    /* The beat never completes by itself: stop must not wait for it. */
    assert_int_equal(hbeat_service_stop(f->svc, NULL), 0);
    assert_int_equal(hbeat_service_is_running(f->svc), 0);
    assert_int_equal(hbeat_fake_gateway_complete(f->gw, 1), 1);
    char status[HBEAT_STATUS_MAX + 1];
    assert_int_equal(hbeat_service_status(f->svc, status), 0);
    assert_string_equal(status, "C");
}

static void expect_invalid(fx *f, hbeat_service_options *o, const char *needle)
{
    hbeat_error err = HBEAT_ERROR_INIT;
    hbeat_service *svc = NULL;
    assert_int_equal(hbeat_service_new(&svc, f->gw, o, &err), HBEAT_EINVAL);
    assert_null(svc);
    if (strstr(err.message, needle) == NULL)
        fail_msg("message \"%s\" does not name \"%s\"", err.message, needle);
}

static void test_configuration_checks_say_what_to_change(void **state)
{
    fx *f = *state;
    hbeat_service_options o = base_options(f);
    o.report_by_buffer = 1;
    expect_invalid(f, &o, "report_by_buffer");
    o = base_options(f);
    o.retry_cap = 94; /* the lease is 93 s */
    expect_invalid(f, &o, "retry_cap");
    o = base_options(f);
    o.retry_base = 40;
    expect_invalid(f, &o, "retry_base");
    o = base_options(f);
    o.retry_factor = 0.5;
    expect_invalid(f, &o, "retry_factor");
    o = base_options(f);
    o.retry_factor = NAN;
    expect_invalid(f, &o, "retry_factor");
    o = base_options(f);
    o.retry_base = -1;
    expect_invalid(f, &o, "retry_base");
    o = base_options(f);
    o.retry_jitter = 1.5;
    expect_invalid(f, &o, "retry_jitter");
    o = base_options(f);
    o.jitter = 0.6;
    expect_invalid(f, &o, "jitter");
    o = base_options(f);
    o.retry_cap = INFINITY;
    expect_invalid(f, &o, "retry_cap");
    /* Defaults always fit, even for intervals below Jobmon's 0.1 s floor. */
    o = base_options(f);
    o.interval = 0.01;
    make(f, &o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_backoff_is_clamped_to_the_lease, setup, teardown),
        cmocka_unit_test_setup_teardown(test_default_retry_is_jittered_within_bounds, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_jitter_is_early_only_and_seeded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_phase_spreads_the_first_beat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_is_prompt_while_a_beat_is_in_flight, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_configuration_checks_say_what_to_change, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
