#include "conformance/gateway_conformance.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "hbeat/sys/fake.h"

#define NS_PER_S 1000000000LL

typedef struct conf_fx {
    const hbeat_conformance_target *t;
    hbeat_gateway *gw;
    int64_t run;
} conf_fx;

/* ---- helpers ------------------------------------------------------------ */

/* Waits on cv until *value >= want or the suite's timeout; mu is held. */
static int wait_at_least(pthread_cond_t *cv, pthread_mutex_t *mu, const int *value, int want)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)HBEAT_CONFORMANCE_TIMEOUT;
    while (*value < want) {
        if (pthread_cond_timedwait(cv, mu, &until) == ETIMEDOUT) {
            break;
        }
    }
    return *value;
}

typedef struct recorder {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int ticks;
    int tick_rc;
    hbeat_update update;
    hbeat_error err;
    int changes;
    char old_status[HBEAT_STATUS_MAX + 1];
    char new_status[HBEAT_STATUS_MAX + 1];
} recorder;

static void recorder_init(recorder *r)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->tick_rc = 1;
}

static void recorder_destroy(recorder *r)
{
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
}

static void on_tick(void *arg, int rc, const hbeat_update *update, const hbeat_error *err)
{
    recorder *r = arg;
    pthread_mutex_lock(&r->mu);
    r->ticks++;
    r->tick_rc = rc;
    if (rc == 0 && update) {
        r->update = *update;
    }
    if (rc != 0 && err) {
        r->err = *err;
    }
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static void on_change(void *arg, const char *old_status, const char *new_status)
{
    recorder *r = arg;
    pthread_mutex_lock(&r->mu);
    r->changes++;
    snprintf(r->old_status, sizeof r->old_status, "%s", old_status);
    snprintf(r->new_status, sizeof r->new_status, "%s", new_status);
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static int ticks_wait(recorder *r, int n)
{
    pthread_mutex_lock(&r->mu);
    int got = wait_at_least(&r->cv, &r->mu, &r->ticks, n);
    pthread_mutex_unlock(&r->mu);
    return got;
}

static int changes_wait(recorder *r, int n)
{
    pthread_mutex_lock(&r->mu);
    int got = wait_at_least(&r->cv, &r->mu, &r->changes, n);
    pthread_mutex_unlock(&r->mu);
    return got;
}

static int count_of(recorder *r, const int *field)
{
    pthread_mutex_lock(&r->mu);
    int n = *field;
    pthread_mutex_unlock(&r->mu);
    return n;
}

static hbeat_service *make_service(conf_fx *f, int64_t run, hbeat_clock *clock, recorder *r)
{
    hbeat_service_options opts = HBEAT_SERVICE_OPTIONS_INIT;
    opts.workflow_run_id = run;
    opts.clock = clock;
    if (r) {
        opts.on_status_change = on_change;
        opts.on_status_change_arg = r;
    }
    hbeat_service *svc = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_service_new(&svc, f->gw, &opts, &err);
    if (rc != 0) {
        fail_msg("hbeat_service_new: %d %s", rc, err.message);
    }
    return svc;
}

/* Skips the running case, saying on stdout which target, which case and
   why, so that a case that does not apply never passes in silence. */
static void conf_skip(const conf_fx *f, const char *test, const char *why)
{
    print_message("[  SKIP    ] %s: %s does not apply: %s\n", f->t->name, test, why);
    skip();
}

/* For the cases that change a run behind the client's back. */
static void need_server(const conf_fx *f, const char *test)
{
    if (f->t->server_set_status == NULL) {
        conf_skip(f, test, f->t->why_no_server);
    }
}

static void server_set(conf_fx *f, const char *status)
{
    int rc = f->t->server_set_status(f->t->ctx, f->gw, f->run, status);
    if (rc != 0) {
        fail_msg("%s: server_set_status(%lld, %s) failed: %d", f->t->name, (long long)f->run,
                 status, rc);
    }
}

static void beat_expect(conf_fx *f, const char *send, const char *want)
{
    char out[HBEAT_STATUS_MAX + 1] = "";
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_gateway_log_heartbeat(f->gw, f->run, send, 93.0, out, &err);
    if (rc != 0) {
        fail_msg("%s: beat %s: %d %s", f->t->name, send, rc, err.message);
    }
    if (strcmp(out, want) != 0) {
        fail_msg("%s: beat %s answered \"%s\", want \"%s\"", f->t->name, send, out, want);
    }
}

static int64_t unknown_run(const conf_fx *f)
{
    return f->t->unknown_run_id ? f->t->unknown_run_id : INT64_C(4000000000000000);
}

/* ---- fixture ------------------------------------------------------------ */

static int conf_setup(void **state)
{
    const hbeat_conformance_target *t = *state;
    conf_fx *f = calloc(1, sizeof *f);
    if (f == NULL) {
        return -1;
    }
    f->t = t;
    int rc = t->setup(t->ctx, &f->gw, &f->run);
    if (rc != 0 || f->gw == NULL || f->run <= 0) {
        fprintf(stderr, "%s: setup failed: %d\n", t->name, rc);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int conf_teardown(void **state)
{
    conf_fx *f = *state;
    f->t->teardown(f->t->ctx, f->gw);
    free(f);
    return 0;
}

/* ---- the suite ---------------------------------------------------------- */

static void conf_beat_returns_the_status_the_server_holds(void **state)
{
    conf_fx *f = *state;
    beat_expect(f, "R", "R");
    beat_expect(f, "R", "R");
}

static void conf_beat_reports_an_operator_change(void **state)
{
    conf_fx *f = *state;
    need_server(f, __func__);
    beat_expect(f, "R", "R");
    server_set(f, "H");
    /* The client still says "R"; the server holds "H" and says so. */
    beat_expect(f, "R", "H");
    beat_expect(f, "H", "H");
}

static void conf_many_beats_in_a_row(void **state)
{
    conf_fx *f = *state;
    for (int i = 0; i < 200; i++) {
        beat_expect(f, "R", "R");
    }
}

static void conf_increments_of_any_sensible_size(void **state)
{
    conf_fx *f = *state;
    const double inc[] = {0.001, 0.5, 45.0, 93.0, 3600.0, 86400.0 * 30};
    for (size_t i = 0; i < sizeof inc / sizeof inc[0]; i++) {
        char out[HBEAT_STATUS_MAX + 1];
        hbeat_error err = HBEAT_ERROR_INIT;
        int rc = hbeat_gateway_log_heartbeat(f->gw, f->run, "R", inc[i], out, &err);
        if (rc != 0) {
            fail_msg("%s: increment %g: %d %s", f->t->name, inc[i], rc, err.message);
        }
        assert_string_equal(out, "R");
    }
    /* Leave the run with a long deadline for the rest of the test run. */
    beat_expect(f, "R", "R");
}

static void conf_tick_adopts_a_server_change_and_reports_it_once(void **state)
{
    conf_fx *f = *state;
    need_server(f, __func__);
    recorder r;
    recorder_init(&r);
    hbeat_service *svc = make_service(f, f->run, NULL, &r);
    hbeat_update up;
    hbeat_error err = HBEAT_ERROR_INIT;

    assert_int_equal(hbeat_service_tick(svc, &up, &err), 0);
    assert_int_equal(up.changed, 0);
    assert_string_equal(up.status, "");

    server_set(f, "C");
    int rc = hbeat_service_tick(svc, &up, &err);
    if (rc != 0) {
        fail_msg("%s: tick: %d %s", f->t->name, rc, err.message);
    }
    assert_int_equal(up.changed, 1);
    assert_string_equal(up.status, "C");
    assert_string_equal(up.previous_status, "R");
    assert_int_equal(count_of(&r, &r.changes), 1);
    assert_string_equal(r.old_status, "R");
    assert_string_equal(r.new_status, "C");
    char status[HBEAT_STATUS_MAX + 1];
    assert_int_equal(hbeat_service_status(svc, status), 0);
    assert_string_equal(status, "C");

    /* Now it reports "C", which the server holds: nothing new. */
    assert_int_equal(hbeat_service_tick(svc, &up, &err), 0);
    assert_int_equal(up.changed, 0);
    assert_int_equal(count_of(&r, &r.changes), 1);
    assert_true(hbeat_service_time_since_last_heartbeat(svc) >= 0.0);
    hbeat_service_free(svc);
    recorder_destroy(&r);
}

static void conf_tick_async_calls_back_exactly_once(void **state)
{
    conf_fx *f = *state;
    recorder r;
    recorder_init(&r);
    hbeat_service *svc = make_service(f, f->run, NULL, &r);
    hbeat_error err = HBEAT_ERROR_INIT;

    int rc = hbeat_service_tick_async(svc, on_tick, &r, &err);
    if (rc != 0) {
        fail_msg("%s: tick_async: %d %s", f->t->name, rc, err.message);
    }
    assert_int_equal(ticks_wait(&r, 1), 1);
    assert_int_equal(r.tick_rc, 0);
    assert_int_equal(r.update.changed, 0);

    /* A second one once the first is over (a blocking tick waits for one
       in flight). */
    assert_int_equal(hbeat_service_tick(svc, NULL, NULL), 0);
    assert_int_equal(hbeat_service_tick_async(svc, on_tick, &r, &err), 0);
    assert_int_equal(ticks_wait(&r, 2), 2);
    assert_int_equal(r.tick_rc, 0);
    assert_int_equal(r.update.changed, 0);

    hbeat_service_free(svc);
    assert_int_equal(count_of(&r, &r.ticks), 2);
    assert_int_equal(count_of(&r, &r.changes), 0);
    recorder_destroy(&r);
}

static void conf_tick_async_carries_a_server_change(void **state)
{
    conf_fx *f = *state;
    need_server(f, __func__);
    recorder r;
    recorder_init(&r);
    hbeat_service *svc = make_service(f, f->run, NULL, &r);
    hbeat_error err = HBEAT_ERROR_INIT;

    assert_int_equal(hbeat_service_tick(svc, NULL, NULL), 0);
    server_set(f, "H");
    int rc = hbeat_service_tick_async(svc, on_tick, &r, &err);
    if (rc != 0) {
        fail_msg("%s: tick_async: %d %s", f->t->name, rc, err.message);
    }
    assert_int_equal(ticks_wait(&r, 1), 1);
    assert_int_equal(r.tick_rc, 0);
    assert_int_equal(r.update.changed, 1);
    assert_string_equal(r.update.status, "H");
    assert_string_equal(r.update.previous_status, "R");

    hbeat_service_free(svc);
    assert_int_equal(count_of(&r, &r.ticks), 1);
    assert_int_equal(count_of(&r, &r.changes), 1);
    assert_string_equal(r.old_status, "R");
    assert_string_equal(r.new_status, "H");
    recorder_destroy(&r);
}

static void conf_tick_async_then_free_at_once(void **state)
{
    conf_fx *f = *state;
    for (int i = 0; i < 10; i++) {
        recorder r;
        recorder_init(&r);
        hbeat_service *svc = make_service(f, f->run, NULL, NULL);
        assert_int_equal(hbeat_service_tick_async(svc, on_tick, &r, NULL), 0);
        hbeat_service_free(svc); /* must wait for the callback */
        assert_int_equal(count_of(&r, &r.ticks), 1);
        recorder_destroy(&r);
    }
}

static void conf_update_status(void **state)
{
    conf_fx *f = *state;
    char out[HBEAT_STATUS_MAX + 1] = "";
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_gateway_update_status(f->gw, f->run, "D", out, &err);
    if (rc == HBEAT_ENOTSUP && !f->t->has_update_status) {
        conf_skip(f, __func__,
                  "the gateway has no update_status (HBEAT_ENOTSUP), which the target allows");
    }
    if (rc != 0) {
        fail_msg("%s: update_status: %d %s", f->t->name, rc, err.message);
    }
    /* R -> D is a valid transition. */
    assert_string_equal(out, "D");
    beat_expect(f, "D", "D");
}

static void conf_unknown_run(void **state)
{
    conf_fx *f = *state;
    if (!f->t->knows_runs) {
        conf_skip(f, __func__,
                  f->t->why_any_run ? f->t->why_any_run
                                    : "the target answers any run id (knows_runs is 0)");
    }
    int64_t id = unknown_run(f);
    char out[HBEAT_STATUS_MAX + 1] = "untouched";
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_gateway_log_heartbeat(f->gw, id, "R", 93.0, out, &err), HBEAT_ENOTFOUND);
    assert_int_equal(err.code, HBEAT_ENOTFOUND);
    assert_true(err.message[0] != '\0');
    assert_string_equal(out, "untouched");

    if (f->t->has_update_status) {
        hbeat_error_clear(&err);
        assert_int_equal(hbeat_gateway_update_status(f->gw, id, "D", out, &err), HBEAT_ENOTFOUND);
    }

    /* Through a service: nothing changes, and async says so exactly once. */
    recorder r;
    recorder_init(&r);
    hbeat_service *svc = make_service(f, id, NULL, &r);
    int64_t last = hbeat_service_last_heartbeat_ns(svc);
    assert_int_equal(hbeat_service_tick(svc, NULL, &err), HBEAT_ENOTFOUND);
    assert_int_equal(hbeat_service_last_heartbeat_ns(svc), last);
    assert_int_equal(hbeat_service_tick_async(svc, on_tick, &r, NULL), 0);
    assert_int_equal(ticks_wait(&r, 1), 1);
    assert_int_equal(r.tick_rc, HBEAT_ENOTFOUND);
    hbeat_service_free(svc);
    assert_int_equal(count_of(&r, &r.ticks), 1);
    assert_int_equal(count_of(&r, &r.changes), 0);
    recorder_destroy(&r);

    /* The gateway still serves the known run. */
    beat_expect(f, "R", "R");
}

typedef struct beater {
    conf_fx *f;
    hbeat_service *svc; /* NULL: direct gateway calls */
    pthread_barrier_t *go;
    int n;
    int failures;
    char why[160];
} beater;

static void *beat_many(void *arg)
{
    beater *b = arg;
    pthread_barrier_wait(b->go);
    for (int i = 0; i < b->n; i++) {
        hbeat_error err = HBEAT_ERROR_INIT;
        int rc;
        if (b->svc) {
            hbeat_update up;
            rc = hbeat_service_tick(b->svc, &up, &err);
            if (rc == 0 && up.changed) {
                rc = -1000;
            }
        } else {
            char out[HBEAT_STATUS_MAX + 1] = "";
            rc = hbeat_gateway_log_heartbeat(b->f->gw, b->f->run, "R", 93.0, out, &err);
            if (rc == 0 && strcmp(out, "R") != 0) {
                rc = -1001;
            }
        }
        if (rc != 0) {
            b->failures++;
            snprintf(b->why, sizeof b->why, "%d %.120s", rc, err.message);
        }
    }
    return NULL;
}

static void conf_several_threads_beat_through_one_gateway(void **state)
{
    conf_fx *f = *state;
    enum { N = 8, BEATS = 25 };
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, N);
    beater b[N];
    pthread_t th[N];
    hbeat_service *svc[N] = {0};
    for (int i = 0; i < N; i++) {
        /* Half of them call the gateway directly, half through services. */
        if (i % 2) {
            svc[i] = make_service(f, f->run, NULL, NULL);
        }
        b[i] = (beater){.f = f, .svc = svc[i], .go = &go, .n = BEATS};
        assert_int_equal(pthread_create(&th[i], NULL, beat_many, &b[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
    }
    pthread_barrier_destroy(&go);
    for (int i = 0; i < N; i++) {
        hbeat_service_free(svc[i]);
    }
    for (int i = 0; i < N; i++) {
        if (b[i].failures) {
            fail_msg("%s: thread %d: %d of %d beats failed (last: %s)", f->t->name, i,
                     b[i].failures, BEATS, b[i].why);
        }
    }
}

static void conf_several_services_tick_async_at_once(void **state)
{
    conf_fx *f = *state;
    enum { N = 6 };
    recorder r[N];
    hbeat_service *svc[N];
    for (int i = 0; i < N; i++) {
        recorder_init(&r[i]);
        svc[i] = make_service(f, f->run, NULL, NULL);
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(hbeat_service_tick_async(svc[i], on_tick, &r[i], NULL), 0);
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(ticks_wait(&r[i], 1), 1);
        assert_int_equal(r[i].tick_rc, 0);
    }
    for (int i = 0; i < N; i++) {
        hbeat_service_free(svc[i]);
        assert_int_equal(count_of(&r[i], &r[i].ticks), 1);
        recorder_destroy(&r[i]);
    }
}

static void conf_loop_on_a_fake_clock_beats_once_per_interval(void **state)
{
    /* The loop's timing comes from a fake clock, its beats go over the
       real gateway: each interval of fake time makes exactly one beat,
       none comes early, and the service keeps the status it reports. */
    conf_fx *f = *state;
    hbeat_clock *clock = NULL;
    assert_int_equal(hbeat_fake_clock_new(&clock, 0, NULL), 0);
    recorder r;
    recorder_init(&r);
    hbeat_service *svc = make_service(f, f->run, clock, &r);
    assert_int_equal(hbeat_service_start(svc, NULL), 0);
    for (int64_t i = 1; i <= 3; i++) {
        assert_int_equal(hbeat_fake_clock_wait_waiters(clock, 1, HBEAT_CONFORMANCE_TIMEOUT), 0);
        /* Asleep at the end of the previous interval: nothing sent early. */
        hbeat_service_stats st = {.version = HBEAT_SERVICE_STATS_VERSION};
        assert_int_equal(hbeat_service_get_stats(svc, &st), 0);
        assert_int_equal(st.beats_sent, (uint64_t)(i - 1));
        assert_int_equal(hbeat_fake_clock_advance(clock, 29 * NS_PER_S), 0);
        assert_int_equal(hbeat_fake_clock_wait_waiters(clock, 1, HBEAT_CONFORMANCE_TIMEOUT), 0);
        assert_int_equal(hbeat_service_get_stats(svc, &st), 0);
        assert_int_equal(st.beats_sent, (uint64_t)(i - 1));
        assert_int_equal(hbeat_fake_clock_advance(clock, NS_PER_S), 0);
        /* The loop goes back to sleep once the beat is over. */
        assert_int_equal(hbeat_fake_clock_wait_waiters(clock, 1, HBEAT_CONFORMANCE_TIMEOUT), 0);
        assert_int_equal(hbeat_service_get_stats(svc, &st), 0);
        if (st.beats_acknowledged != (uint64_t)i) {
            fail_msg("%s: after %lld intervals %llu beats acknowledged (%llu failed: %s)",
                     f->t->name, (long long)i, (unsigned long long)st.beats_acknowledged,
                     (unsigned long long)st.beats_failed, st.last_error.message);
        }
        assert_int_equal(hbeat_service_last_heartbeat_ns(svc), i * 30 * NS_PER_S);
    }
    assert_int_equal(hbeat_service_stop(svc, NULL), 0);
    char status[HBEAT_STATUS_MAX + 1];
    assert_int_equal(hbeat_service_status(svc, status), 0);
    assert_string_equal(status, "R");
    hbeat_service_free(svc);
    hbeat_clock_free(clock);
    assert_int_equal(count_of(&r, &r.changes), 0);
    recorder_destroy(&r);
}

static void conf_loop_on_a_fake_clock_adopts_a_change(void **state)
{
    /* The loop's timing comes from a fake clock, its beats go over the
       real gateway: advancing the clock makes exactly one real beat. */
    conf_fx *f = *state;
    need_server(f, __func__);
    hbeat_clock *clock = NULL;
    assert_int_equal(hbeat_fake_clock_new(&clock, 0, NULL), 0);
    recorder r;
    recorder_init(&r);
    hbeat_service *svc = make_service(f, f->run, clock, &r);
    server_set(f, "S");
    assert_int_equal(hbeat_service_start(svc, NULL), 0);
    assert_int_equal(hbeat_fake_clock_wait_waiters(clock, 1, HBEAT_CONFORMANCE_TIMEOUT), 0);
    assert_int_equal(hbeat_fake_clock_advance(clock, 30 * NS_PER_S), 0);
    assert_int_equal(changes_wait(&r, 1), 1);
    assert_string_equal(r.old_status, "R");
    assert_string_equal(r.new_status, "S");
    assert_int_equal(hbeat_fake_clock_wait_waiters(clock, 1, HBEAT_CONFORMANCE_TIMEOUT), 0);
    assert_int_equal(hbeat_service_stop(svc, NULL), 0);
    assert_int_equal(hbeat_service_last_heartbeat_ns(svc), 30 * NS_PER_S);
    hbeat_service_free(svc);
    hbeat_clock_free(clock);
    assert_int_equal(count_of(&r, &r.changes), 1);
    recorder_destroy(&r);
}

static void conf_bad_input_is_refused_before_the_wire(void **state)
{
    conf_fx *f = *state;
    char out[HBEAT_STATUS_MAX + 1];
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_gateway_log_heartbeat(f->gw, f->run, "A B", 93.0, out, &err),
                     HBEAT_EINVAL);
    assert_int_equal(hbeat_gateway_log_heartbeat(f->gw, f->run, "", 93.0, out, &err), HBEAT_EINVAL);
    assert_int_equal(hbeat_gateway_log_heartbeat(f->gw, 0, "R", 93.0, out, &err), HBEAT_EINVAL);
    assert_int_equal(hbeat_gateway_log_heartbeat(f->gw, f->run, "R", NAN, out, &err), HBEAT_EINVAL);
    /* And the gateway is none the worse for it. */
    beat_expect(f, "R", "R");
}

static void conf_free_with_nothing_in_flight(void **state)
{
    conf_fx *f = *state;
    assert_non_null(hbeat_gateway_transport(f->gw));
    beat_expect(f, "R", "R");
    hbeat_gateway_free(f->gw);
    f->gw = NULL;
}

static void conf_free_unused(void **state)
{
    conf_fx *f = *state;
    hbeat_gateway_free(f->gw);
    f->gw = NULL;
}

#define CONF_TEST(fn)                                                                              \
    {                                                                                              \
#fn, fn, conf_setup, conf_teardown, NULL                                                   \
    }

int hbeat_conformance_run(const hbeat_conformance_target *t)
{
    struct CMUnitTest tests[] = {
        CONF_TEST(conf_beat_returns_the_status_the_server_holds),
        CONF_TEST(conf_beat_reports_an_operator_change),
        CONF_TEST(conf_many_beats_in_a_row),
        CONF_TEST(conf_increments_of_any_sensible_size),
        CONF_TEST(conf_tick_adopts_a_server_change_and_reports_it_once),
        CONF_TEST(conf_tick_async_calls_back_exactly_once),
        CONF_TEST(conf_tick_async_carries_a_server_change),
        CONF_TEST(conf_tick_async_then_free_at_once),
        CONF_TEST(conf_update_status),
        CONF_TEST(conf_unknown_run),
        CONF_TEST(conf_several_threads_beat_through_one_gateway),
        CONF_TEST(conf_several_services_tick_async_at_once),
        CONF_TEST(conf_loop_on_a_fake_clock_beats_once_per_interval),
        CONF_TEST(conf_loop_on_a_fake_clock_adopts_a_change),
        CONF_TEST(conf_bad_input_is_refused_before_the_wire),
        CONF_TEST(conf_free_with_nothing_in_flight),
        CONF_TEST(conf_free_unused),
    };
    size_t n = sizeof tests / sizeof tests[0];
    if (t->server_set_status == NULL && (t->why_no_server == NULL || t->why_no_server[0] == '\0')) {
        print_error("%s: a target without server_set_status must say why (why_no_server)\n",
                    t->name);
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        /* cmocka hands initial_state to the setup, which swaps in a fixture. */
        tests[i].initial_state = (void *)t;
    }
    return _cmocka_run_group_tests(t->name, tests, n, NULL, NULL);
}
