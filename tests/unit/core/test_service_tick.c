/*
 * hbeat_service_tick(): what a beat sends, what it adopts, what it returns,
 * and that a failed beat changes nothing (docs/library.md, the semantics).
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
    hbeat_service_options opts = HBEAT_SERVICE_OPTIONS_INIT;
    opts.workflow_run_id = 77;
    opts.clock = f->clock;
    opts.on_status_change = t_on_change;
    opts.on_status_change_arg = &f->changes;
    f->svc = t_service_opts(f->gw, &opts);
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

static void fill_junk(hbeat_update *u)
{
    memset(u, 'x', sizeof *u);
    u->changed = 42;
    u->status[HBEAT_STATUS_MAX] = '\0';
    u->previous_status[HBEAT_STATUS_MAX] = '\0';
}

static void test_tick_sends_run_id_status_and_increment(void **state)
{
    fx *f = *state;
    hbeat_error err = HBEAT_ERROR_INIT;

    assert_int_equal(hbeat_fake_clock_advance(f->clock, 3 * NS_PER_S), 0);
    assert_int_equal(hbeat_service_tick(f->svc, NULL, &err), 0);
    assert_int_equal(hbeat_fake_gateway_call_count(f->gw), 1);
    hbeat_fake_call c0 = t_call(f->gw, 0);
    assert_int_equal(c0.kind, HBEAT_FAKE_HEARTBEAT);
    assert_int_equal(c0.workflow_run_id, 77);
    assert_string_equal(c0.status, "R");
    assert_true(fabs(c0.next_report_increment - 30.0 * 3.1) < 1e-9);
    assert_int_equal(c0.time_ns, T_START_NS + 3 * NS_PER_S);
    assert_int_equal(c0.result, 0);

    assert_int_equal(hbeat_service_set_status(f->svc, "B", &err), 0);
    assert_int_equal(hbeat_service_tick(f->svc, NULL, &err), 0);
    hbeat_fake_call c1 = t_call(f->gw, 1);
    assert_string_equal(c1.status, "B");
    assert_int_equal(c1.workflow_run_id, 77);
    /* The sequence number grows by one per beat. */
    assert_int_equal(c1.sequence, c0.sequence + 1);
}

static void test_unchanged_status_returns_an_empty_update(void **state)
{
    fx *f = *state;
    hbeat_update up;
    fill_junk(&up);
    assert_int_equal(hbeat_service_tick(f->svc, &up, NULL), 0);
    assert_int_equal(up.changed, 0);
    assert_string_equal(up.status, "");
    assert_string_equal(up.previous_status, "");
    assert_int_equal(t_changes_count(&f->changes), 0);
}

static void test_changed_status_is_adopted_returned_and_reported_once(void **state)
{
    fx *f = *state;
    hbeat_update up;
    char status[HBEAT_STATUS_MAX + 1];

    assert_int_equal(hbeat_fake_gateway_set_server_status(f->gw, "H"), 0);
    fill_junk(&up);
    assert_int_equal(hbeat_service_tick(f->svc, &up, NULL), 0);
    assert_int_equal(up.changed, 1);
    assert_string_equal(up.status, "H");
    assert_string_equal(up.previous_status, "R");
    assert_int_equal(hbeat_service_status(f->svc, status), 0);
    assert_string_equal(status, "H");
    assert_int_equal(t_changes_count(&f->changes), 1);
    assert_string_equal(f->changes.old_status[0], "R");
    assert_string_equal(f->changes.new_status[0], "H");

    /* The next beat reports the adopted status; no second change. */
    fill_junk(&up);
    assert_int_equal(hbeat_service_tick(f->svc, &up, NULL), 0);
    assert_string_equal(t_call(f->gw, 1).status, "H");
    assert_int_equal(up.changed, 0);
    assert_string_equal(up.status, "");
    assert_int_equal(t_changes_count(&f->changes), 1);

    /* Another server-side change is another callback. */
    assert_int_equal(hbeat_fake_gateway_push_reply(f->gw, "T"), 0);
    assert_int_equal(hbeat_service_tick(f->svc, &up, NULL), 0);
    assert_int_equal(up.changed, 1);
    assert_string_equal(up.status, "T");
    assert_string_equal(up.previous_status, "H");
    assert_int_equal(t_changes_count(&f->changes), 2);
    assert_string_equal(f->changes.old_status[1], "H");
    assert_string_equal(f->changes.new_status[1], "T");
}

static void test_change_without_out_still_adopted_and_reported(void **state)
{
    fx *f = *state;
    char status[HBEAT_STATUS_MAX + 1];
    assert_int_equal(hbeat_fake_gateway_push_reply(f->gw, "C"), 0);
    assert_int_equal(hbeat_service_tick(f->svc, NULL, NULL), 0);
    assert_int_equal(hbeat_service_status(f->svc, status), 0);
    assert_string_equal(status, "C");
    assert_int_equal(t_changes_count(&f->changes), 1);
}

static void test_failed_tick_changes_nothing(void **state)
{
    fx *f = *state;
    hbeat_error err = HBEAT_ERROR_INIT;
    char status[HBEAT_STATUS_MAX + 1];

    assert_int_equal(hbeat_fake_clock_advance(f->clock, 31 * NS_PER_S), 0);
    assert_int_equal(hbeat_fake_gateway_push_reply(f->gw, "H"), 0);
    assert_int_equal(
        hbeat_fake_gateway_fail(f->gw, HBEAT_ETRANSPORT, 1, 0, "connection refused (test)"), 0);

    hbeat_update up;
    assert_int_equal(hbeat_service_tick(f->svc, &up, &err), HBEAT_ETRANSPORT);
    assert_int_equal(err.code, HBEAT_ETRANSPORT);
    assert_non_null(strstr(err.message, "connection refused (test)"));
    assert_int_equal(hbeat_service_status(f->svc, status), 0);
    assert_string_equal(status, "R");
    assert_int_equal(hbeat_service_last_heartbeat_ns(f->svc), T_START_NS);
    assert_int_equal(hbeat_service_is_heartbeat_due(f->svc), 1);
    assert_int_equal(hbeat_service_consecutive_failures(f->svc), 0);
    assert_int_equal(t_changes_count(&f->changes), 0);
    assert_int_equal(t_call(f->gw, 0).result, HBEAT_ETRANSPORT);

    /* The failure consumed no queued reply: the next beat gets "H". */
    assert_int_equal(hbeat_service_tick(f->svc, &up, &err), 0);
    assert_int_equal(up.changed, 1);
    assert_string_equal(up.status, "H");
    assert_int_equal(hbeat_service_last_heartbeat_ns(f->svc), T_START_NS + 31 * NS_PER_S);
    assert_int_equal(hbeat_service_consecutive_failures(f->svc), 0);
}

static void test_failed_tick_without_err_struct(void **state)
{
    fx *f = *state;
    assert_int_equal(hbeat_fake_gateway_fail(f->gw, HBEAT_ETIMEDOUT, 1, 0, NULL), 0);
    assert_int_equal(hbeat_service_tick(f->svc, NULL, NULL), HBEAT_ETIMEDOUT);
    assert_int_equal(hbeat_service_tick(f->svc, NULL, NULL), 0);
}

static void test_every_error_code_passes_through_tick(void **state)
{
    fx *f = *state;
    static const int codes[] = {HBEAT_ETRANSPORT, HBEAT_ETIMEDOUT, HBEAT_EPROTO,
                                HBEAT_ESERVER,    HBEAT_ENOTFOUND, HBEAT_EAUTH,
                                HBEAT_EFORBIDDEN, HBEAT_ETOOBIG,   HBEAT_ETLS};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        hbeat_error err = HBEAT_ERROR_INIT;
        assert_int_equal(hbeat_fake_gateway_fail(f->gw, codes[i], 1, 0, "injected"), 0);
        assert_int_equal(hbeat_service_tick(f->svc, NULL, &err), codes[i]);
        assert_int_equal(err.code, codes[i]);
        assert_true(err.message[0] != '\0');
    }
    assert_int_equal(hbeat_service_last_heartbeat_ns(f->svc), T_START_NS);
    assert_int_equal(hbeat_service_consecutive_failures(f->svc), 0);
}

typedef struct thread_seen {
    pthread_t thread;
    int count;
} thread_seen;

static void record_thread(void *arg, const char *old_status, const char *new_status)
{
    thread_seen *t = arg;
    (void)old_status;
    (void)new_status;
    t->thread = pthread_self();
    t->count++;
}

static void test_callback_runs_on_the_ticking_thread(void **state)
{
    /* "on the thread that completed the beat": for a blocking tick, the
       caller's own. */
    (void)state;
    hbeat_clock *clock = t_fake_clock();
    hbeat_gateway *gw = t_fake_gateway(clock, 0);
    thread_seen seen = {0};
    hbeat_service_options opts = HBEAT_SERVICE_OPTIONS_INIT;
    opts.workflow_run_id = 1;
    opts.clock = clock;
    opts.on_status_change = record_thread;
    opts.on_status_change_arg = &seen;
    hbeat_service *svc = t_service_opts(gw, &opts);

    assert_int_equal(hbeat_fake_gateway_set_server_status(gw, "S"), 0);
    assert_int_equal(hbeat_service_tick(svc, NULL, NULL), 0);
    assert_int_equal(seen.count, 1);
    assert_true(pthread_equal(seen.thread, pthread_self()));

    hbeat_service_free(svc);
    hbeat_gateway_free(gw);
    hbeat_clock_free(clock);
}

static void test_tick_with_latency_advances_fake_clock(void **state)
{
    fx *f = *state;
    assert_int_equal(hbeat_fake_gateway_set_latency(f->gw, 2 * NS_PER_S), 0);
    assert_int_equal(hbeat_service_tick(f->svc, NULL, NULL), 0);
    assert_int_equal(hbeat_clock_now_ns(f->clock), T_START_NS + 2 * NS_PER_S);
    /* The beat was recorded when it arrived... */
    assert_int_equal(t_call(f->gw, 0).time_ns, T_START_NS);
    /* ...and its time is recorded within the call's span. */
    int64_t last = hbeat_service_last_heartbeat_ns(f->svc);
    assert_true(last >= T_START_NS && last <= T_START_NS + 2 * NS_PER_S);
}

static void test_invalid_reply_from_a_gateway_is_an_error(void **state)
{
    (void)state;
    /* (The gate cuts replies to the buffer, so "too long" cannot be sent.) */
    static const char *const bad[] = {"", "a b", "\x01", "R\x80"};
    hbeat_clock *clock = t_fake_clock();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        t_gate g;
        t_gate_init(&g, 1);
        snprintf(g.reply, sizeof g.reply, "%s", bad[i]);
        hbeat_gateway *gw = t_gate_gateway(&g, 0);
        t_changes ch;
        t_changes_init(&ch);
        hbeat_service_options opts = HBEAT_SERVICE_OPTIONS_INIT;
        opts.workflow_run_id = 1;
        opts.clock = clock;
        opts.on_status_change = t_on_change;
        opts.on_status_change_arg = &ch;
        hbeat_service *svc = t_service_opts(gw, &opts);
        int64_t last = hbeat_service_last_heartbeat_ns(svc);
        assert_int_equal(hbeat_fake_clock_advance(clock, NS_PER_S), 0);

        hbeat_error err = HBEAT_ERROR_INIT;
        hbeat_update up;
        int rc = hbeat_service_tick(svc, &up, &err);
        assert_true(rc < 0);
        assert_true(err.message[0] != '\0');
        char status[HBEAT_STATUS_MAX + 1];
        assert_int_equal(hbeat_service_status(svc, status), 0);
        assert_string_equal(status, "R");
        assert_int_equal(hbeat_service_last_heartbeat_ns(svc), last);
        assert_int_equal(t_changes_count(&ch), 0);

        hbeat_service_free(svc);
        hbeat_gateway_free(gw);
        t_changes_destroy(&ch);
        t_gate_destroy(&g);
    }
    hbeat_clock_free(clock);
}

static void test_many_services_share_one_gateway(void **state)
{
    (void)state;
    hbeat_clock *clock = t_fake_clock();
    hbeat_gateway *gw = t_fake_gateway(clock, 0);
    hbeat_service *a = t_service(gw, clock, 101, 30, 3.1, 5);
    hbeat_service *b = t_service(gw, clock, 202, 10, 1.5, 5);
    assert_int_equal(hbeat_service_set_status(b, "O", NULL), 0);
    assert_int_equal(hbeat_service_tick(a, NULL, NULL), 0);
    assert_int_equal(hbeat_service_tick(b, NULL, NULL), 0);
    hbeat_fake_call ca = t_call(gw, 0);
    hbeat_fake_call cb = t_call(gw, 1);
    assert_int_equal(ca.workflow_run_id, 101);
    assert_string_equal(ca.status, "R");
    assert_true(fabs(ca.next_report_increment - 93.0) < 1e-9);
    assert_int_equal(cb.workflow_run_id, 202);
    assert_string_equal(cb.status, "O");
    assert_true(fabs(cb.next_report_increment - 15.0) < 1e-9);
    hbeat_service_free(a);
    hbeat_service_free(b);
    hbeat_gateway_free(gw);
    hbeat_clock_free(clock);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tick_sends_run_id_status_and_increment, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unchanged_status_returns_an_empty_update, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_changed_status_is_adopted_returned_and_reported_once,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_change_without_out_still_adopted_and_reported, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_failed_tick_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_tick_without_err_struct, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_error_code_passes_through_tick, setup, teardown),
        cmocka_unit_test(test_callback_runs_on_the_ticking_thread),
        cmocka_unit_test_setup_teardown(test_tick_with_latency_advances_fake_clock, setup,
                                        teardown),
        cmocka_unit_test(test_invalid_reply_from_a_gateway_is_an_error),
        cmocka_unit_test(test_many_services_share_one_gateway),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
