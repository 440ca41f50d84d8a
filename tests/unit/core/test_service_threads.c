/*
 * The service from several threads at once: set_status racing the loop,
 * concurrent ticks, and the rule that the core never runs two methods of a
 * gateway that is not thread-safe at once. Meant to be run under TSan too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support.h"

static const char *const statuses[] = {"R", "D", "S", "E", "C", "ABCDEFGHIJKLMNO"};
#define NSTATUSES (sizeof statuses / sizeof statuses[0])

static int is_known_status(const char *s)
{
    for (size_t i = 0; i < NSTATUSES; i++) {
        if (strcmp(s, statuses[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

typedef struct racer {
    hbeat_service *svc;
    atomic_int stop;
    int bad; /* calls that failed or read garbage */
    char why[96];
    long rounds;
} racer;

static void *set_status_racer(void *arg)
{
    racer *r = arg;
    char status[HBEAT_STATUS_MAX + 1];
    while (!atomic_load(&r->stop)) {
        const char *s = statuses[r->rounds % NSTATUSES];
        hbeat_error err = HBEAT_ERROR_INIT;
        int rc = hbeat_service_set_status(r->svc, s, &err);
        if (rc != 0) {
            r->bad++;
            snprintf(r->why, sizeof r->why, "set_status(%s): %d %.60s", s, rc, err.message);
        }
        rc = hbeat_service_status(r->svc, status);
        if (rc != 0 || !is_known_status(status)) {
            r->bad++;
            snprintf(r->why, sizeof r->why, "status: %d \"%.20s\"", rc, status);
        }
        r->rounds++;
    }
    return NULL;
}

static void *reader_racer(void *arg)
{
    racer *r = arg;
    while (!atomic_load(&r->stop)) {
        /* Never negative: the last beat cannot be later than now. */
        double since = hbeat_service_time_since_last_heartbeat(r->svc);
        if (!(since >= 0.0)) {
            r->bad++;
            snprintf(r->why, sizeof r->why, "time_since_last_heartbeat() = %g", since);
        }
        (void)hbeat_service_is_heartbeat_due(r->svc);
        (void)hbeat_service_last_heartbeat_ns(r->svc);
        (void)hbeat_service_consecutive_failures(r->svc);
        (void)hbeat_service_is_running(r->svc);
        (void)hbeat_service_next_report_increment(r->svc);
        r->rounds++;
    }
    return NULL;
}

static void test_set_status_races_the_loop(void **state)
{
    (void)state;
    hbeat_clock *clock = t_fake_clock();
    hbeat_gateway *gw = t_fake_gateway(clock, 0);
    hbeat_service *svc = t_service(gw, clock, 31, 30, 3.1, 5);
    racer setter = {.svc = svc};
    racer reader = {.svc = svc};
    atomic_init(&setter.stop, 0);
    atomic_init(&reader.stop, 0);

    assert_int_equal(hbeat_service_start(svc, NULL), 0);
    pthread_t t1 = t_thread(set_status_racer, &setter);
    pthread_t t2 = t_thread(reader_racer, &reader);
    const int beats = 60;
    for (int k = 1; k <= beats; k++) {
        t_settle(clock);
        assert_int_equal(hbeat_fake_clock_advance(clock, 30 * NS_PER_S), 0);
        t_wait_calls(gw, k);
    }
    atomic_store(&setter.stop, 1);
    atomic_store(&reader.stop, 1);
    t_join(t1);
    t_join(t2);
    t_settle(clock);
    assert_int_equal(hbeat_service_stop(svc, NULL), 0);

    if (setter.bad || reader.bad) {
        fail_msg("%d bad set_status/status calls (%s), %d bad reads (%s)", setter.bad, setter.why,
                 reader.bad, reader.why);
    }
    assert_int_equal(hbeat_fake_gateway_call_count(gw), beats);
    for (int k = 0; k < beats; k++) {
        hbeat_fake_call c = t_call(gw, k);
        if (!is_known_status(c.status)) {
            fail_msg("beat %d carried a torn status \"%s\"", k, c.status);
        }
        assert_int_equal(c.workflow_run_id, 31);
    }
    /* The echo never changes the status, so no beat failed either. */
    assert_int_equal(hbeat_service_consecutive_failures(svc), 0);
    hbeat_service_free(svc);
    hbeat_gateway_free(gw);
    hbeat_clock_free(clock);
}

typedef struct tick_worker {
    hbeat_service *svc;
    int n;
    int failures;
} tick_worker;

static void *ticks(void *arg)
{
    tick_worker *w = arg;
    for (int i = 0; i < w->n; i++) {
        if (hbeat_service_tick(w->svc, NULL, NULL) != 0) {
            w->failures++;
        }
    }
    return NULL;
}

static void test_concurrent_ticks_on_one_service_are_serialized(void **state)
{
    (void)state;
    t_gate g;
    t_gate_init(&g, 1);
    hbeat_gateway *gw = t_gate_gateway(&g, 0);
    hbeat_clock *clock = t_fake_clock();
    hbeat_service *svc = t_service(gw, clock, 1, 30, 3.1, 5);
    tick_worker w[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (tick_worker){svc, 100, 0};
        th[i] = t_thread(ticks, &w[i]);
    }
    for (int i = 0; i < 4; i++) {
        t_join(th[i]);
        assert_int_equal(w[i].failures, 0);
    }
    assert_int_equal(t_gate_calls(&g), 400);
    assert_int_equal(g.max_in_method, 1);
    hbeat_service_free(svc);
    hbeat_gateway_free(gw);
    assert_int_equal(g.closes, 1);
    assert_int_equal(g.destroys, 1);
    hbeat_clock_free(clock);
    t_gate_destroy(&g);
}

static void test_services_sharing_an_unsafe_gateway_never_overlap(void **state)
{
    (void)state;
    t_gate g;
    t_gate_init(&g, 1);
    hbeat_gateway *gw = t_gate_gateway(&g, 0);
    hbeat_clock *clock = t_fake_clock();
    hbeat_service *svc[4];
    tick_worker w[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        svc[i] = t_service(gw, clock, i + 1, 30, 3.1, 5);
        w[i] = (tick_worker){svc[i], 100, 0};
        th[i] = t_thread(ticks, &w[i]);
    }
    for (int i = 0; i < 4; i++) {
        t_join(th[i]);
        assert_int_equal(w[i].failures, 0);
        hbeat_service_free(svc[i]);
    }
    assert_int_equal(t_gate_calls(&g), 400);
    assert_int_equal(g.max_in_method, 1);
    hbeat_gateway_free(gw);
    hbeat_clock_free(clock);
    t_gate_destroy(&g);
}

typedef struct direct_worker {
    hbeat_gateway *gw;
    int64_t run_id;
    int n;
    int failures;
} direct_worker;

static void *direct_beats(void *arg)
{
    direct_worker *w = arg;
    char out[HBEAT_STATUS_MAX + 1];
    for (int i = 0; i < w->n; i++) {
        if (hbeat_gateway_log_heartbeat(w->gw, w->run_id, "R", 93.0, out, NULL) != 0 ||
            strcmp(out, "R") != 0) {
            w->failures++;
        }
    }
    return NULL;
}

static void test_direct_calls_on_an_unsafe_gateway_are_serialized(void **state)
{
    (void)state;
    t_gate g;
    t_gate_init(&g, 1);
    hbeat_gateway *gw = t_gate_gateway(&g, 0);
    direct_worker w[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (direct_worker){gw, i + 1, 100, 0};
        th[i] = t_thread(direct_beats, &w[i]);
    }
    for (int i = 0; i < 4; i++) {
        t_join(th[i]);
        assert_int_equal(w[i].failures, 0);
    }
    assert_int_equal(t_gate_calls(&g), 400);
    assert_int_equal(g.max_in_method, 1);
    hbeat_gateway_free(gw);
    t_gate_destroy(&g);
}

static void test_a_thread_safe_gateway_may_run_calls_at_once(void **state)
{
    /* Two beats held in a thread-safe gateway at the same time: the core
       must not serialize them (it would deadlock here if it did). */
    (void)state;
    t_gate g;
    t_gate_init(&g, 0);
    hbeat_gateway *gw = t_gate_gateway(&g, HBEAT_GATEWAY_THREAD_SAFE);
    direct_worker w[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        w[i] = (direct_worker){gw, i + 1, 1, 0};
        th[i] = t_thread(direct_beats, &w[i]);
    }
    t_gate_wait_waiting(&g, 2);
    t_gate_set_open(&g, 1);
    for (int i = 0; i < 2; i++) {
        t_join(th[i]);
        assert_int_equal(w[i].failures, 0);
    }
    assert_int_equal(g.max_in_method, 2);
    hbeat_gateway_free(gw);
    t_gate_destroy(&g);
}

typedef struct async_worker {
    hbeat_service *svc;
    t_ticks *ticks;
    int accepted;
    int busy;
    int other;
} async_worker;

static void *async_storm(void *arg)
{
    async_worker *w = arg;
    for (int i = 0; i < 200; i++) {
        int rc = hbeat_service_tick_async(w->svc, t_on_tick, w->ticks, NULL);
        if (rc == 0) {
            w->accepted++;
        } else if (rc == HBEAT_EBUSY) {
            w->busy++;
        } else {
            w->other++;
        }
    }
    return NULL;
}

static void test_tick_async_from_many_threads_calls_back_once_per_accept(void **state)
{
    (void)state;
    hbeat_clock *clock = t_fake_clock();
    hbeat_gateway *gw = t_fake_gateway(clock, 0);
    hbeat_service *svc = t_service(gw, clock, 1, 30, 3.1, 5);
    t_ticks t;
    t_ticks_init(&t);
    async_worker w[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (async_worker){svc, &t, 0, 0, 0};
        th[i] = t_thread(async_storm, &w[i]);
    }
    int accepted = 0;
    for (int i = 0; i < 4; i++) {
        t_join(th[i]);
        assert_int_equal(w[i].other, 0);
        accepted += w[i].accepted;
    }
    hbeat_service_free(svc); /* waits for the last callback */
    assert_true(accepted >= 1);
    assert_int_equal(t_ticks_count(&t), accepted);
    assert_int_equal(hbeat_fake_gateway_call_count(gw), accepted);
    t_ticks_destroy(&t);
    hbeat_gateway_free(gw);
    hbeat_clock_free(clock);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_status_races_the_loop),
        cmocka_unit_test(test_concurrent_ticks_on_one_service_are_serialized),
        cmocka_unit_test(test_services_sharing_an_unsafe_gateway_never_overlap),
        cmocka_unit_test(test_direct_calls_on_an_unsafe_gateway_are_serialized),
        cmocka_unit_test(test_a_thread_safe_gateway_may_run_calls_at_once),
        cmocka_unit_test(test_tick_async_from_many_threads_calls_back_once_per_accept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
