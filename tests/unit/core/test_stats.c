/*
 * hbeat_service_get_stats() on the fake clock, field by field.
 *
 * Every round trip here is simulated latency (hbeat_fake_gateway_set_latency
 * advances the fake clock inside the gateway call), so each rtt, slack and
 * age below is an exact number of nanoseconds fixed by the test, never a
 * measurement of how fast this machine is.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hbeat/hbeat.h"
#include "hbeat/sys/fake.h"

#define NS_PER_S  1000000000LL
#define NS_PER_MS 1000000LL
#define T0        (5000 * NS_PER_S) /* the fake clock's start: nothing may assume 0 */
#define WAIT_S    10.0              /* bounds a synchronizing wait; only a bug hits it */
#define EPS       1e-12

typedef struct fx {
    hbeat_clock *clock;
    hbeat_gateway *gw;
    hbeat_service *svc;
} fx;

static int setup_flags(void **state, unsigned int flags)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(hbeat_fake_clock_new(&f->clock, T0, NULL), 0);
    assert_int_equal(hbeat_fake_gateway_new(&f->gw, f->clock, flags, NULL), 0);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_flags(state, 0);
}

static int setup_async(void **state)
{
    return setup_flags(state, HBEAT_FAKE_ASYNC);
}

static int teardown(void **state)
{
    fx *f = *state;
    hbeat_service_free(f->svc);
    hbeat_gateway_free(f->gw);
    hbeat_clock_free(f->clock);
    free(f);
    return 0;
}

/* interval 30 s, report_by_buffer 3.1: the lease is 93 s. Retries every
   15 s without backoff or jitter, so loop times are exact. */
static void make(fx *f, unsigned int max_failures)
{
    hbeat_service_options opts = HBEAT_SERVICE_OPTIONS_INIT;
    opts.workflow_run_id = 42;
    opts.clock = f->clock;
    opts.max_consecutive_failures = max_failures;
    opts.retry_factor = 1.0;
    opts.retry_jitter = 0.0;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_service_new(&f->svc, f->gw, &opts, &err);
    if (rc != 0) {
        fail_msg("hbeat_service_new: %d %s", rc, err.message);
    }
}

static hbeat_service_stats stats_of(fx *f)
{
    hbeat_service_stats st;
    memset(&st, 0xa5, sizeof st); /* junk: every field must be written */
    st.version = HBEAT_SERVICE_STATS_VERSION;
    assert_int_equal(hbeat_service_get_stats(f->svc, &st), 0);
    assert_int_equal(st.version, HBEAT_SERVICE_STATS_VERSION);
    return st;
}

static void advance(fx *f, int64_t ns)
{
    assert_int_equal(hbeat_fake_clock_advance(f->clock, ns), 0);
}

/* One tick that takes `latency` of fake time. */
static int tick(fx *f, int64_t latency, hbeat_update *update)
{
    assert_int_equal(hbeat_fake_gateway_set_latency(f->gw, latency), 0);
    hbeat_error err = HBEAT_ERROR_INIT;
    return hbeat_service_tick(f->svc, update, &err);
}

static void assert_near(double got, double want)
{
    if (!(fabs(got - want) <= EPS)) {
        fail_msg("got %.15g, want %.15g", got, want);
    }
}

static uint64_t bucket_total(const hbeat_service_stats *st)
{
    uint64_t n = 0;
    for (int i = 0; i < HBEAT_RTT_BUCKETS; i++)
        n += st->rtt_buckets[i];
    return n;
}

/* ---- version and arguments -------------------------------------------- */

static void test_version_is_checked(void **state)
{
    fx *f = *state;
    make(f, 5);
    hbeat_service_stats st;
    memset(&st, 0, sizeof st);
    st.version = 0;
    assert_int_equal(hbeat_service_get_stats(f->svc, &st), HBEAT_EVERSION);
    st.version = HBEAT_SERVICE_STATS_VERSION + 1;
    assert_int_equal(hbeat_service_get_stats(f->svc, &st), HBEAT_EVERSION);
    /* Refused: nothing written, the version left as the caller set it. */
    assert_int_equal(st.version, HBEAT_SERVICE_STATS_VERSION + 1);
    assert_int_equal(st.beats_sent, 0);
    st.version = HBEAT_SERVICE_STATS_VERSION;
    assert_int_equal(hbeat_service_get_stats(f->svc, &st), 0);
    assert_int_equal(st.version, HBEAT_SERVICE_STATS_VERSION);
    assert_int_equal(hbeat_service_get_stats(NULL, &st), HBEAT_EINVAL);
    assert_int_equal(hbeat_service_get_stats(f->svc, NULL), HBEAT_EINVAL);
}

static void test_a_new_service_has_empty_stats(void **state)
{
    fx *f = *state;
    make(f, 5);
    advance(f, 12 * NS_PER_S);
    hbeat_service_stats st = stats_of(f);
    assert_int_equal(st.beats_sent, 0);
    assert_int_equal(st.beats_acknowledged, 0);
    assert_int_equal(st.beats_failed, 0);
    assert_int_equal(st.consecutive_failures, 0);
    assert_int_equal(st.status_changes, 0);
    assert_true(isnan(st.last_rtt));
    assert_true(isnan(st.rtt_min));
    assert_true(isnan(st.rtt_mean));
    assert_true(isnan(st.rtt_max));
    assert_true(isnan(st.time_since_ack));
    assert_true(isnan(st.lease_slack));
    assert_int_equal(bucket_total(&st), 0);
    assert_int_equal(st.last_error.code, 0);
    assert_string_equal(st.last_error.message, "");
}

/* A caller built against version 1 passes the shorter struct: nothing past
   it is written. */
static void test_version_1_callers_get_version_1_fields(void **state)
{
    fx *f = *state;
    make(f, 5);
    assert_int_equal(hbeat_fake_gateway_fail(f->gw, HBEAT_ETRANSPORT, 1, 0, "down (test)"), 0);
    assert_int_equal(tick(f, 0, NULL), HBEAT_ETRANSPORT);
    hbeat_service_stats st;
    memset(&st, 0xa5, sizeof st);
    st.version = 1;
    assert_int_equal(hbeat_service_get_stats(f->svc, &st), 0);
    assert_int_equal(st.version, 1);
    assert_int_equal(st.beats_failed, 1);
    const unsigned char *tail = (const unsigned char *)&st.last_error;
    for (size_t i = 0; i < sizeof st.last_error; i++)
        assert_int_equal(tail[i], 0xa5);
}

/* A caller built against version 2 gets last_error but nothing of the
   progress fields that version 3 appended. */
static void test_version_2_callers_get_version_2_fields(void **state)
{
    fx *f = *state;
    make(f, 5);
    assert_int_equal(hbeat_fake_gateway_fail(f->gw, HBEAT_ETRANSPORT, 1, 0, "down (test)"), 0);
    assert_int_equal(tick(f, 0, NULL), HBEAT_ETRANSPORT);
    hbeat_service_stats st;
    memset(&st, 0xa5, sizeof st);
    st.version = 2;
    assert_int_equal(hbeat_service_get_stats(f->svc, &st), 0);
    assert_int_equal(st.version, 2);
    assert_int_equal(st.last_error.code, HBEAT_ETRANSPORT);
    const unsigned char *bytes = (const unsigned char *)&st;
    for (size_t i = offsetof(hbeat_service_stats, stalled); i < sizeof st; i++)
        assert_int_equal(bytes[i], 0xa5);
}

/* Version 3: the progress fields. Without a loop nothing stalls, and the
   age of the last progress report counts from creation. */
static void test_progress_fields(void **state)
{
    fx *f = *state;
    make(f, 5);
    advance(f, 12 * NS_PER_S);
    hbeat_service_stats st = stats_of(f);
    assert_int_equal(st.stalled, 0);
    assert_int_equal(st.stalls, 0);
    assert_near(st.time_since_progress, 12.0);
    hbeat_service_progress(f->svc);
    advance(f, 1500 * NS_PER_MS);
    assert_near(stats_of(f).time_since_progress, 1.5);
    /* Beats do not count as progress. */
    assert_int_equal(tick(f, 0, NULL), 0);
    assert_near(stats_of(f).time_since_progress, 1.5);
    hbeat_service_progress(NULL); /* a no-op */
}

/* ---- counts ------------------------------------------------------------ */

static void test_sent_acknowledged_failed(void **state)
{
    fx *f = *state;
    make(f, 5);
    assert_int_equal(tick(f, 0, NULL), 0);
    assert_int_equal(tick(f, 0, NULL), 0);
    assert_int_equal(hbeat_fake_gateway_fail(f->gw, HBEAT_ETRANSPORT, 1, 0, "down (test)"), 0);
    assert_int_equal(tick(f, 0, NULL), HBEAT_ETRANSPORT);
    assert_int_equal(tick(f, 0, NULL), 0);
    assert_int_equal(hbeat_fake_gateway_fail(f->gw, HBEAT_ETIMEDOUT, 1, 1, "slow (test)"), 0);
    assert_int_equal(tick(f, 0, NULL), HBEAT_ETIMEDOUT);
    assert_int_equal(tick(f, 0, NULL), HBEAT_ETIMEDOUT);

    hbeat_service_stats st = stats_of(f);
    assert_int_equal(st.beats_sent, 6);
    assert_int_equal(st.beats_acknowledged, 3);
    assert_int_equal(st.beats_failed, 3);
    assert_int_equal(st.beats_sent, st.beats_acknowledged + st.beats_failed);
    /* Only the loop counts failures in a row; tick leaves the count alone. */
    assert_int_equal(st.consecutive_failures, 0);
    assert_int_equal(hbeat_fake_gateway_call_count(f->gw), 6);
    /* The last failure's reason, as the gateway gave it. */
    assert_int_equal(st.last_error.code, HBEAT_ETIMEDOUT);
    assert_non_null(strstr(st.last_error.message, "slow (test)"));

    /* It stays after a success; beats_failed tells whether it is news. */
    assert_int_equal(hbeat_fake_gateway_heal(f->gw), 0);
    assert_int_equal(tick(f, 0, NULL), 0);
    st = stats_of(f);
    assert_int_equal(st.beats_failed, 3);
    assert_int_equal(st.last_error.code, HBEAT_ETIMEDOUT);
}

/* ---- round trips ------------------------------------------------------- */

static void test_rtt_min_mean_max_last(void **state)
{
    fx *f = *state;
    make(f, 5);
    assert_int_equal(tick(f, 5 * NS_PER_MS, NULL), 0);
    hbeat_service_stats st = stats_of(f);
    assert_near(st.last_rtt, 0.005);
    assert_near(st.rtt_min, 0.005);
    assert_near(st.rtt_mean, 0.005);
    assert_near(st.rtt_max, 0.005);

    assert_int_equal(tick(f, 20 * NS_PER_MS, NULL), 0);
    assert_int_equal(tick(f, 1 * NS_PER_MS, NULL), 0);
    st = stats_of(f);
    assert_near(st.last_rtt, 0.001);
    assert_near(st.rtt_min, 0.001);
    assert_near(st.rtt_max, 0.020);
    assert_near(st.rtt_mean, (0.005 + 0.020 + 0.001) / 3);

    /* A failed beat, however slow, is not a round trip. */
    assert_int_equal(hbeat_fake_gateway_fail(f->gw, HBEAT_ETIMEDOUT, 1, 0, "slow (test)"), 0);
    assert_int_equal(tick(f, 30 * NS_PER_S, NULL), HBEAT_ETIMEDOUT);
    st = stats_of(f);
    assert_near(st.last_rtt, 0.001);
    assert_near(st.rtt_max, 0.020);
    assert_near(st.rtt_mean, (0.005 + 0.020 + 0.001) / 3);
    assert_int_equal(bucket_total(&st), 3);
}

static void test_rtt_bucket_bounds(void **state)
{
    (void)state;
    const double want[HBEAT_RTT_BUCKETS - 1] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                0.01,   0.025,   0.05,   0.1,   1.0};
    for (int i = 0; i < HBEAT_RTT_BUCKETS - 1; i++)
        assert_near(hbeat_rtt_bucket_bound(i), want[i]);
    assert_true(isinf(hbeat_rtt_bucket_bound(HBEAT_RTT_BUCKETS - 1)));
    assert_true(hbeat_rtt_bucket_bound(HBEAT_RTT_BUCKETS - 1) > 0);
    assert_true(isnan(hbeat_rtt_bucket_bound(-1)));
    assert_true(isnan(hbeat_rtt_bucket_bound(HBEAT_RTT_BUCKETS)));
}

/* Each rtt lands in the first bucket whose bound it does not exceed. */
static void test_rtt_buckets(void **state)
{
    fx *f = *state;
    make(f, 5);
    static const struct {
        int64_t rtt_ns;
        int bucket;
    } cases[] = {
        {0, 0},               /* instant */
        {100 * 1000, 0},      /* exactly the first bound: 0.1 ms */
        {100 * 1000 + 1, 1},  /* just above it */
        {1 * NS_PER_MS, 3},   /* exactly 1 ms */
        {5 * NS_PER_MS, 5},   /* exactly 5 ms */
        {20 * NS_PER_MS, 7},  /* 20 ms: (10 ms, 25 ms] */
        {100 * NS_PER_MS, 9}, /* exactly 100 ms */
        {NS_PER_S, 10},       /* exactly the last finite bound */
        {NS_PER_S + 1, 11},   /* beyond every finite bound */
        {90 * NS_PER_S, 11},  /* very slow */
    };
    uint64_t want[HBEAT_RTT_BUCKETS] = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(tick(f, cases[i].rtt_ns, NULL), 0);
        want[cases[i].bucket]++;
        hbeat_service_stats st = stats_of(f);
        for (int b = 0; b < HBEAT_RTT_BUCKETS; b++) {
            if (st.rtt_buckets[b] != want[b]) {
                fail_msg("after rtt %lld ns: bucket %d holds %llu, want %llu",
                         (long long)cases[i].rtt_ns, b, (unsigned long long)st.rtt_buckets[b],
                         (unsigned long long)want[b]);
            }
        }
        assert_int_equal(bucket_total(&st), st.beats_acknowledged);
    }
    hbeat_service_stats st = stats_of(f);
    assert_near(st.rtt_min, 0.0);
    assert_near(st.rtt_max, 90.0);
}

/* ---- time since the last acknowledgement ------------------------------- */

static void test_time_since_ack(void **state)
{
    fx *f = *state;
    make(f, 5);
    advance(f, 3 * NS_PER_S);
    /* The ack comes at the end of the 250 ms round trip. */
    assert_int_equal(tick(f, 250 * NS_PER_MS, NULL), 0);
    assert_near(stats_of(f).time_since_ack, 0.0);
    advance(f, 7 * NS_PER_S);
    assert_near(stats_of(f).time_since_ack, 7.0);
    /* Failures do not reset it: it is the age of the last good answer. */
    assert_int_equal(hbeat_fake_gateway_fail(f->gw, HBEAT_ETRANSPORT, 1, 0, "down (test)"), 0);
    assert_int_equal(tick(f, 2 * NS_PER_S, NULL), HBEAT_ETRANSPORT);
    assert_near(stats_of(f).time_since_ack, 9.0);
    assert_int_equal(tick(f, 500 * NS_PER_MS, NULL), 0);
    assert_near(stats_of(f).time_since_ack, 0.0);
    advance(f, 1500 * NS_PER_MS);
    assert_near(stats_of(f).time_since_ack, 1.5);
}

/* ---- lease slack ------------------------------------------------------- */

static void test_lease_slack(void **state)
{
    fx *f = *state;
    make(f, 5); /* lease: 93 s */
    /* The first lease runs from creation (T0) to T0 + 93. */
    advance(f, 10 * NS_PER_S);
    assert_int_equal(tick(f, 2 * NS_PER_S, NULL), 0); /* sent T0+10, acked T0+12 */
    assert_near(stats_of(f).lease_slack, 93.0 - 12.0);

    /* The new lease counts from the send time: T0+10+93 = T0+103. */
    advance(f, 48 * NS_PER_S);                        /* T0+60 */
    assert_int_equal(tick(f, 1 * NS_PER_S, NULL), 0); /* acked T0+61 */
    assert_near(stats_of(f).lease_slack, 103.0 - 61.0);

    /* A failure leaves the slack as it was at the last acknowledgement. */
    assert_int_equal(hbeat_fake_gateway_fail(f->gw, HBEAT_ETRANSPORT, 1, 0, "down (test)"), 0);
    assert_int_equal(tick(f, 0, NULL), HBEAT_ETRANSPORT);
    assert_near(stats_of(f).lease_slack, 42.0);

    /* Lease T0+60+93 = T0+153; an ack at T0+200 comes 47 s too late. */
    advance(f, 139 * NS_PER_S); /* T0+200 */
    assert_int_equal(tick(f, 0, NULL), 0);
    assert_near(stats_of(f).lease_slack, 153.0 - 200.0);
    assert_true(stats_of(f).lease_slack < 0);
}

/* ---- status changes ---------------------------------------------------- */

static void test_status_changes(void **state)
{
    fx *f = *state;
    make(f, 5);
    hbeat_update u;
    /* An echo is no change. */
    assert_int_equal(tick(f, 0, &u), 0);
    assert_int_equal(u.changed, 0);
    assert_int_equal(stats_of(f).status_changes, 0);
    /* The server says C: adopted, counted once. */
    assert_int_equal(hbeat_fake_gateway_push_reply(f->gw, "C"), 0);
    assert_int_equal(tick(f, 0, &u), 0);
    assert_int_equal(u.changed, 1);
    assert_int_equal(stats_of(f).status_changes, 1);
    /* Reporting C and hearing C back is no change. */
    assert_int_equal(tick(f, 0, &u), 0);
    assert_int_equal(u.changed, 0);
    assert_int_equal(stats_of(f).status_changes, 1);
    /* A server that holds H: one change, then agreement. */
    assert_int_equal(hbeat_fake_gateway_set_server_status(f->gw, "H"), 0);
    assert_int_equal(tick(f, 0, &u), 0);
    assert_int_equal(u.changed, 1);
    assert_int_equal(tick(f, 0, &u), 0);
    assert_int_equal(u.changed, 0);
    /* A failed beat changes nothing. */
    assert_int_equal(hbeat_fake_gateway_fail(f->gw, HBEAT_ESERVER, 1, 0, "503 (test)"), 0);
    assert_int_equal(tick(f, 0, &u), HBEAT_ESERVER);
    hbeat_service_stats st = stats_of(f);
    assert_int_equal(st.status_changes, 2);
    assert_int_equal(st.beats_acknowledged, 5);
    assert_int_equal(st.beats_failed, 1);
}

/* ---- the loop: consecutive failures ------------------------------------- */

static void settle(fx *f)
{
    int rc = hbeat_fake_clock_wait_waiters(f->clock, 1, WAIT_S);
    if (rc != 0) {
        fail_msg("the loop never went to sleep on the fake clock (%d)", rc);
    }
}

/* Once the loop sleeps, move the clock and wait for call `n` and for the
   loop to have handled it (it sleeps again). */
static void loop_beat(fx *f, int64_t ns, int n)
{
    settle(f);
    advance(f, ns);
    int rc = hbeat_fake_gateway_wait_calls(f->gw, n, WAIT_S);
    if (rc != 0) {
        fail_msg("expected call %d, have %d", n, hbeat_fake_gateway_call_count(f->gw));
    }
    settle(f);
}

static void test_loop_counts_consecutive_failures(void **state)
{
    fx *f = *state;
    make(f, 0); /* never fatal */
    assert_int_equal(hbeat_fake_gateway_fail(f->gw, HBEAT_ETRANSPORT, 1, 1, "down (test)"), 0);
    assert_int_equal(hbeat_service_start(f->svc, NULL), 0);

    loop_beat(f, 30 * NS_PER_S, 1); /* T0+30, fails */
    hbeat_service_stats st = stats_of(f);
    assert_int_equal(st.consecutive_failures, 1);
    assert_int_equal(st.beats_failed, 1);
    loop_beat(f, 15 * NS_PER_S, 2); /* T0+45, retry fails */
    st = stats_of(f);
    assert_int_equal(st.consecutive_failures, 2);
    assert_int_equal(st.beats_failed, 2);
    assert_int_equal(st.beats_acknowledged, 0);
    assert_true(isnan(st.lease_slack));

    assert_int_equal(hbeat_fake_gateway_heal(f->gw), 0);
    loop_beat(f, 15 * NS_PER_S, 3); /* T0+60, succeeds */
    st = stats_of(f);
    assert_int_equal(st.consecutive_failures, 0);
    assert_int_equal(st.beats_sent, 3);
    assert_int_equal(st.beats_acknowledged, 1);
    assert_int_equal(st.beats_failed, 2);
    assert_near(st.lease_slack, 93.0 - 60.0);
    assert_near(st.time_since_ack, 0.0);
    assert_int_equal(hbeat_service_stop(f->svc, NULL), 0);
    /* The count is kept after the loop ends. */
    assert_int_equal(stats_of(f).consecutive_failures, 0);
}

/* ---- the asynchronous path counts the same way ------------------------- */

typedef struct done_rec {
    int calls;
    int rc;
} done_rec;

static void on_done(void *arg, int rc, const hbeat_update *update, const hbeat_error *err)
{
    (void)update;
    (void)err;
    done_rec *d = arg;
    d->calls++;
    d->rc = rc;
}

static void test_async_tick_counts(void **state)
{
    fx *f = *state;
    make(f, 5);
    done_rec d = {0, 1};
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_service_tick_async(f->svc, on_done, &d, &err), 0);
    assert_int_equal(hbeat_fake_gateway_wait_calls(f->gw, 1, WAIT_S), 0);
    /* In flight: sent, not yet answered. */
    hbeat_service_stats st = stats_of(f);
    assert_int_equal(st.beats_sent, 1);
    assert_int_equal(st.beats_acknowledged, 0);
    assert_true(isnan(st.last_rtt));
    /* The answer comes 40 ms of fake time later. */
    advance(f, 40 * NS_PER_MS);
    assert_int_equal(hbeat_fake_gateway_complete(f->gw, 1), 1);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.rc, 0);
    st = stats_of(f);
    assert_int_equal(st.beats_acknowledged, 1);
    assert_near(st.last_rtt, 0.040);
    assert_int_equal(st.rtt_buckets[8], 1); /* (25 ms, 50 ms] */
    assert_near(st.lease_slack, 93.0 - 0.040);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_version_is_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_2_callers_get_version_2_fields, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_progress_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_1_callers_get_version_1_fields, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_new_service_has_empty_stats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sent_acknowledged_failed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rtt_min_mean_max_last, setup, teardown),
        cmocka_unit_test(test_rtt_bucket_bounds),
        cmocka_unit_test_setup_teardown(test_rtt_buckets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_time_since_ack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_slack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loop_counts_consecutive_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_async_tick_counts, setup_async, teardown),
    };
    return cmocka_run_group_tests_name("stats", tests, NULL, NULL);
}
