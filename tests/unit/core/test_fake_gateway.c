/*
 * The fake gateway users test against: scripted replies, a fixed server
 * status, echo by default, injected failures, simulated latency, the call
 * record, wait_calls, and fake:// through the registry.
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
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    f->clock = t_fake_clock();
    f->gw = t_fake_gateway(f->clock, 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    hbeat_gateway_free(f->gw);
    hbeat_clock_free(f->clock);
    free(f);
    return 0;
}

/* One direct beat; returns its rc and puts the answer in out. */
static int beat(fx *f, const char *status, char out[HBEAT_STATUS_MAX + 1], hbeat_error *err)
{
    return hbeat_gateway_log_heartbeat(f->gw, 5, status, 90.0, out, err);
}

static void test_echoes_by_default(void **state)
{
    fx *f = *state;
    char out[HBEAT_STATUS_MAX + 1];
    assert_string_equal(hbeat_gateway_transport(f->gw), "fake");
    assert_int_equal(beat(f, "B", out, NULL), 0);
    assert_string_equal(out, "B");
    assert_int_equal(beat(f, "ABCDEFGHIJKLMNO", out, NULL), 0);
    assert_string_equal(out, "ABCDEFGHIJKLMNO");
}

static void test_scripted_replies_in_order(void **state)
{
    fx *f = *state;
    char out[HBEAT_STATUS_MAX + 1];
    assert_int_equal(hbeat_fake_gateway_push_reply(f->gw, "H"), 0);
    assert_int_equal(hbeat_fake_gateway_push_reply(f->gw, "C"), 0);
    assert_int_equal(hbeat_fake_gateway_push_reply(f->gw, "T"), 0);
    assert_int_equal(beat(f, "R", out, NULL), 0);
    assert_string_equal(out, "H");
    assert_int_equal(beat(f, "R", out, NULL), 0);
    assert_string_equal(out, "C");
    assert_int_equal(beat(f, "R", out, NULL), 0);
    assert_string_equal(out, "T");
    /* Script used up: back to echo. */
    assert_int_equal(beat(f, "O", out, NULL), 0);
    assert_string_equal(out, "O");
}

static void test_server_status_answers_unscripted_calls(void **state)
{
    fx *f = *state;
    char out[HBEAT_STATUS_MAX + 1];
    assert_int_equal(hbeat_fake_gateway_set_server_status(f->gw, "E"), 0);
    assert_int_equal(beat(f, "R", out, NULL), 0);
    assert_string_equal(out, "E");
    assert_int_equal(beat(f, "D", out, NULL), 0);
    assert_string_equal(out, "E");
    /* A queued reply goes first. */
    assert_int_equal(hbeat_fake_gateway_push_reply(f->gw, "S"), 0);
    assert_int_equal(beat(f, "R", out, NULL), 0);
    assert_string_equal(out, "S");
    assert_int_equal(beat(f, "R", out, NULL), 0);
    assert_string_equal(out, "E");
    /* NULL goes back to echoing. */
    assert_int_equal(hbeat_fake_gateway_set_server_status(f->gw, NULL), 0);
    assert_int_equal(beat(f, "L", out, NULL), 0);
    assert_string_equal(out, "L");
}

static void test_fail_the_nth_call_once(void **state)
{
    fx *f = *state;
    char out[HBEAT_STATUS_MAX + 1];
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_fake_gateway_fail(f->gw, HBEAT_ESERVER, 3, 0, "boom (test)"), 0);
    assert_int_equal(beat(f, "R", out, NULL), 0);
    assert_int_equal(beat(f, "R", out, NULL), 0);
    strcpy(out, "untouched");
    assert_int_equal(beat(f, "R", out, &err), HBEAT_ESERVER);
    assert_int_equal(err.code, HBEAT_ESERVER);
    assert_non_null(strstr(err.message, "boom (test)"));
    assert_string_equal(out, "untouched");
    assert_int_equal(beat(f, "R", out, NULL), 0);
    assert_int_equal(beat(f, "R", out, NULL), 0);
    assert_int_equal(hbeat_fake_gateway_call_count(f->gw), 5);
    assert_int_equal(t_call(f->gw, 2).result, HBEAT_ESERVER);
    assert_int_equal(t_call(f->gw, 3).result, 0);

    /* Without a message the error still says something. */
    hbeat_error_clear(&err);
    assert_int_equal(hbeat_fake_gateway_fail(f->gw, HBEAT_ETRANSPORT, 1, 0, NULL), 0);
    assert_int_equal(beat(f, "R", out, &err), HBEAT_ETRANSPORT);
    assert_true(err.message[0] != '\0');
}

static void test_fail_for_good_until_healed(void **state)
{
    fx *f = *state;
    char out[HBEAT_STATUS_MAX + 1];
    assert_int_equal(hbeat_fake_gateway_fail(f->gw, HBEAT_ETIMEDOUT, 2, 1, "down (test)"), 0);
    assert_int_equal(beat(f, "R", out, NULL), 0);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(beat(f, "R", out, NULL), HBEAT_ETIMEDOUT);
    }
    assert_int_equal(hbeat_fake_gateway_heal(f->gw), 0);
    assert_int_equal(beat(f, "R", out, NULL), 0);
    /* heal also cancels a failure that has not happened yet. */
    assert_int_equal(hbeat_fake_gateway_fail(f->gw, HBEAT_ETIMEDOUT, 2, 0, NULL), 0);
    assert_int_equal(hbeat_fake_gateway_heal(f->gw), 0);
    assert_int_equal(beat(f, "R", out, NULL), 0);
    assert_int_equal(beat(f, "R", out, NULL), 0);
}

static void test_failing_call_consumes_no_reply(void **state)
{
    fx *f = *state;
    char out[HBEAT_STATUS_MAX + 1];
    assert_int_equal(hbeat_fake_gateway_push_reply(f->gw, "H"), 0);
    assert_int_equal(hbeat_fake_gateway_fail(f->gw, HBEAT_ETRANSPORT, 1, 0, NULL), 0);
    assert_int_equal(beat(f, "R", out, NULL), HBEAT_ETRANSPORT);
    assert_int_equal(beat(f, "R", out, NULL), 0);
    assert_string_equal(out, "H");
}

static void test_call_record(void **state)
{
    fx *f = *state;
    char out[HBEAT_STATUS_MAX + 1];
    assert_int_equal(hbeat_fake_gateway_call_count(f->gw), 0);
    assert_int_equal(hbeat_fake_clock_advance(f->clock, 3 * NS_PER_S), 0);
    assert_int_equal(hbeat_gateway_log_heartbeat(f->gw, 123, "O", 45.5, out, NULL), 0);
    assert_int_equal(hbeat_fake_clock_advance(f->clock, 1), 0);
    assert_int_equal(hbeat_gateway_update_status(f->gw, 124, "D", out, NULL), 0);
    assert_string_equal(out, "D");
    assert_int_equal(hbeat_fake_gateway_call_count(f->gw), 2);

    hbeat_fake_call c = t_call(f->gw, 0);
    assert_int_equal(c.kind, HBEAT_FAKE_HEARTBEAT);
    assert_int_equal(c.workflow_run_id, 123);
    assert_string_equal(c.status, "O");
    assert_true(c.next_report_increment == 45.5);
    assert_int_equal(c.time_ns, T_START_NS + 3 * NS_PER_S);
    assert_int_equal(c.result, 0);

    c = t_call(f->gw, 1);
    assert_int_equal(c.kind, HBEAT_FAKE_UPDATE_STATUS);
    assert_int_equal(c.workflow_run_id, 124);
    assert_string_equal(c.status, "D");
    assert_true(c.next_report_increment == 0.0);
    assert_int_equal(c.sequence, 0);
    assert_int_equal(c.time_ns, T_START_NS + 3 * NS_PER_S + 1);

    hbeat_fake_call junk;
    assert_int_equal(hbeat_fake_gateway_call(f->gw, 2, &junk), HBEAT_EINVAL);
    assert_int_equal(hbeat_fake_gateway_call(f->gw, -1, &junk), HBEAT_EINVAL);
    assert_int_equal(hbeat_fake_gateway_call(f->gw, 0, NULL), HBEAT_EINVAL);

    assert_int_equal(hbeat_fake_gateway_clear_calls(f->gw), 0);
    assert_int_equal(hbeat_fake_gateway_call_count(f->gw), 0);
    assert_int_equal(hbeat_fake_gateway_call(f->gw, 0, &junk), HBEAT_EINVAL);
    assert_int_equal(hbeat_gateway_log_heartbeat(f->gw, 1, "R", 1.0, out, NULL), 0);
    assert_int_equal(hbeat_fake_gateway_call_count(f->gw), 1);
}

static void test_records_many_calls(void **state)
{
    fx *f = *state;
    char out[HBEAT_STATUS_MAX + 1];
    for (int i = 0; i < 5000; i++) {
        assert_int_equal(hbeat_gateway_log_heartbeat(f->gw, i + 1, "R", 1.0, out, NULL), 0);
    }
    assert_int_equal(hbeat_fake_gateway_call_count(f->gw), 5000);
    assert_int_equal(t_call(f->gw, 4999).workflow_run_id, 5000);
}

static void test_latency_advances_the_fake_clock(void **state)
{
    fx *f = *state;
    char out[HBEAT_STATUS_MAX + 1];
    assert_int_equal(hbeat_fake_gateway_set_latency(f->gw, 250 * NS_PER_MS), 0);
    assert_int_equal(beat(f, "R", out, NULL), 0);
    assert_int_equal(hbeat_clock_now_ns(f->clock), T_START_NS + 250 * NS_PER_MS);
    assert_int_equal(beat(f, "R", out, NULL), 0);
    assert_int_equal(hbeat_clock_now_ns(f->clock), T_START_NS + 500 * NS_PER_MS);
    assert_int_equal(t_call(f->gw, 0).time_ns, T_START_NS);
    assert_int_equal(t_call(f->gw, 1).time_ns, T_START_NS + 250 * NS_PER_MS);
    /* A failing call takes its time too. */
    assert_int_equal(hbeat_fake_gateway_fail(f->gw, HBEAT_ETIMEDOUT, 1, 0, NULL), 0);
    assert_int_equal(beat(f, "R", out, NULL), HBEAT_ETIMEDOUT);
    assert_int_equal(hbeat_clock_now_ns(f->clock), T_START_NS + 750 * NS_PER_MS);
    assert_int_equal(hbeat_fake_gateway_set_latency(f->gw, 0), 0);
    assert_int_equal(beat(f, "R", out, NULL), 0);
    assert_int_equal(hbeat_clock_now_ns(f->clock), T_START_NS + 750 * NS_PER_MS);
    assert_int_equal(hbeat_fake_gateway_set_latency(f->gw, -1), HBEAT_EINVAL);
}

static void test_latency_on_the_system_clock_is_ignored(void **state)
{
    (void)state;
    hbeat_gateway *gw = t_fake_gateway(NULL, 0);
    char out[HBEAT_STATUS_MAX + 1];
    /* An hour of simulated latency must not be slept on the real clock. */
    assert_int_equal(hbeat_fake_gateway_set_latency(gw, 3600 * NS_PER_S), 0);
    assert_int_equal(hbeat_gateway_log_heartbeat(gw, 1, "R", 1.0, out, NULL), 0);
    assert_string_equal(out, "R");
    hbeat_gateway_free(gw);
}

typedef struct caller {
    hbeat_gateway *gw;
    int n;
} caller;

static void *make_calls(void *arg)
{
    caller *c = arg;
    char out[HBEAT_STATUS_MAX + 1];
    for (int i = 0; i < c->n; i++) {
        hbeat_gateway_log_heartbeat(c->gw, 1, "R", 1.0, out, NULL);
    }
    return NULL;
}

static void test_wait_calls(void **state)
{
    fx *f = *state;
    char out[HBEAT_STATUS_MAX + 1];
    /* Already there: returns at once. */
    assert_int_equal(hbeat_fake_gateway_wait_calls(f->gw, 0, 0.0), 0);
    assert_int_equal(beat(f, "R", out, NULL), 0);
    assert_int_equal(hbeat_fake_gateway_wait_calls(f->gw, 1, 0.0), 0);
    /* Never coming: times out (the wait itself is what is tested). */
    assert_int_equal(hbeat_fake_gateway_wait_calls(f->gw, 2, 0.01), HBEAT_ETIMEDOUT);
    /* Made by another thread: wakes the waiter. */
    caller c = {f->gw, 10};
    pthread_t th = t_thread(make_calls, &c);
    assert_int_equal(hbeat_fake_gateway_wait_calls(f->gw, 11, T_TIMEOUT), 0);
    t_join(th);
    assert_int_equal(hbeat_fake_gateway_call_count(f->gw), 11);
}

static void test_update_status_follows_the_script(void **state)
{
    fx *f = *state;
    char out[HBEAT_STATUS_MAX + 1];
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_gateway_update_status(f->gw, 5, "D", out, &err), 0);
    assert_string_equal(out, "D");
    assert_int_equal(hbeat_fake_gateway_push_reply(f->gw, "R"), 0);
    assert_int_equal(hbeat_gateway_update_status(f->gw, 5, "D", out, &err), 0);
    assert_string_equal(out, "R");
    assert_int_equal(hbeat_fake_gateway_fail(f->gw, HBEAT_ENOTFOUND, 1, 0, "no run"), 0);
    assert_int_equal(hbeat_gateway_update_status(f->gw, 5, "D", out, &err), HBEAT_ENOTFOUND);
    assert_int_equal(t_call(f->gw, 2).kind, HBEAT_FAKE_UPDATE_STATUS);
    assert_int_equal(t_call(f->gw, 2).result, HBEAT_ENOTFOUND);
}

static void test_bad_arguments(void **state)
{
    fx *f = *state;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_fake_gateway_new(NULL, f->clock, 0, &err), HBEAT_EINVAL);
    assert_int_equal(hbeat_fake_gateway_push_reply(f->gw, NULL), HBEAT_EINVAL);
    assert_int_equal(hbeat_fake_gateway_push_reply(f->gw, ""), HBEAT_EINVAL);
    assert_int_equal(hbeat_fake_gateway_push_reply(f->gw, "A B"), HBEAT_EINVAL);
    assert_int_equal(hbeat_fake_gateway_push_reply(f->gw, "ABCDEFGHIJKLMNOP"), HBEAT_EINVAL);
    assert_int_equal(hbeat_fake_gateway_set_server_status(f->gw, ""), HBEAT_EINVAL);
    assert_int_equal(hbeat_fake_gateway_set_server_status(f->gw, "\x01"), HBEAT_EINVAL);
    assert_int_equal(hbeat_fake_gateway_fail(f->gw, 0, 1, 0, NULL), HBEAT_EINVAL);
    assert_int_equal(hbeat_fake_gateway_fail(f->gw, 5, 1, 0, NULL), HBEAT_EINVAL);
    assert_int_equal(hbeat_fake_gateway_fail(f->gw, HBEAT_ETRANSPORT, 0, 0, NULL), HBEAT_EINVAL);
    assert_true(hbeat_fake_gateway_wait_calls(f->gw, 1, -1.0) != 0);
    /* None of the refused scripts took effect. */
    char out[HBEAT_STATUS_MAX + 1];
    assert_int_equal(beat(f, "R", out, NULL), 0);
    assert_string_equal(out, "R");

    /* NULL handle everywhere. */
    hbeat_fake_call c;
    assert_int_equal(hbeat_fake_gateway_push_reply(NULL, "R"), HBEAT_EINVAL);
    assert_int_equal(hbeat_fake_gateway_set_server_status(NULL, "R"), HBEAT_EINVAL);
    assert_int_equal(hbeat_fake_gateway_fail(NULL, HBEAT_ETRANSPORT, 1, 0, NULL), HBEAT_EINVAL);
    assert_int_equal(hbeat_fake_gateway_heal(NULL), HBEAT_EINVAL);
    assert_int_equal(hbeat_fake_gateway_set_latency(NULL, 1), HBEAT_EINVAL);
    assert_int_equal(hbeat_fake_gateway_complete(NULL, 1), HBEAT_EINVAL);
    assert_true(hbeat_fake_gateway_pending(NULL) < 0);
    assert_int_equal(hbeat_fake_gateway_call_count(NULL), HBEAT_EINVAL);
    assert_int_equal(hbeat_fake_gateway_call(NULL, 0, &c), HBEAT_EINVAL);
    assert_int_equal(hbeat_fake_gateway_clear_calls(NULL), HBEAT_EINVAL);
    assert_int_equal(hbeat_fake_gateway_wait_calls(NULL, 1, 0.0), HBEAT_EINVAL);
}

static void test_not_a_fake_is_refused(void **state)
{
    (void)state;
    t_gate g;
    t_gate_init(&g, 1);
    hbeat_gateway *gw = t_gate_gateway(&g, 0);
    hbeat_fake_call c;
    assert_int_equal(hbeat_fake_gateway_push_reply(gw, "R"), HBEAT_EINVAL);
    assert_int_equal(hbeat_fake_gateway_set_server_status(gw, "R"), HBEAT_EINVAL);
    assert_int_equal(hbeat_fake_gateway_fail(gw, HBEAT_ETRANSPORT, 1, 0, NULL), HBEAT_EINVAL);
    assert_int_equal(hbeat_fake_gateway_heal(gw), HBEAT_EINVAL);
    assert_int_equal(hbeat_fake_gateway_set_latency(gw, 1), HBEAT_EINVAL);
    assert_int_equal(hbeat_fake_gateway_complete(gw, 1), HBEAT_EINVAL);
    assert_int_equal(hbeat_fake_gateway_call_count(gw), HBEAT_EINVAL);
    assert_int_equal(hbeat_fake_gateway_call(gw, 0, &c), HBEAT_EINVAL);
    assert_int_equal(hbeat_fake_gateway_clear_calls(gw), HBEAT_EINVAL);
    assert_int_equal(hbeat_fake_gateway_wait_calls(gw, 1, 0.0), HBEAT_EINVAL);
    hbeat_gateway_free(gw);
    t_gate_destroy(&g);
}

static void test_open_fake_by_url(void **state)
{
    (void)state;
    hbeat_gateway *gw = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    char out[HBEAT_STATUS_MAX + 1];
    assert_int_equal(hbeat_gateway_open(&gw, "fake://", NULL, &err), 0);
    assert_non_null(gw);
    assert_string_equal(hbeat_gateway_transport(gw), "fake");
    /* It is a full fake: scriptable and recording. */
    assert_int_equal(hbeat_fake_gateway_push_reply(gw, "H"), 0);
    assert_int_equal(hbeat_gateway_log_heartbeat(gw, 9, "R", 93.0, out, &err), 0);
    assert_string_equal(out, "H");
    assert_int_equal(hbeat_fake_gateway_call_count(gw), 1);
    assert_int_equal(t_call(gw, 0).workflow_run_id, 9);
    hbeat_gateway_free(gw);

    hbeat_gateway_options opts = HBEAT_GATEWAY_OPTIONS_INIT;
    gw = NULL;
    assert_int_equal(hbeat_gateway_open(&gw, "fake://anything/at/all", &opts, &err), 0);
    assert_int_equal(hbeat_gateway_log_heartbeat(gw, 9, "D", 93.0, out, &err), 0);
    assert_string_equal(out, "D");
    hbeat_gateway_free(gw);
}

static void test_async_flag_and_pending(void **state)
{
    (void)state;
    hbeat_gateway *gw = t_fake_gateway(NULL, HBEAT_FAKE_ASYNC);
    assert_int_equal(hbeat_fake_gateway_pending(gw), 0);
    assert_int_equal(hbeat_fake_gateway_complete(gw, 5), 0);
    /* The blocking call still works on an async fake. */
    char out[HBEAT_STATUS_MAX + 1];
    assert_int_equal(hbeat_gateway_log_heartbeat(gw, 1, "R", 1.0, out, NULL), 0);
    assert_string_equal(out, "R");
    assert_int_equal(hbeat_fake_gateway_pending(gw), 0);
    hbeat_gateway_free(gw);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_echoes_by_default),
        T(test_scripted_replies_in_order),
        T(test_server_status_answers_unscripted_calls),
        T(test_fail_the_nth_call_once),
        T(test_fail_for_good_until_healed),
        T(test_failing_call_consumes_no_reply),
        T(test_call_record),
        T(test_records_many_calls),
        T(test_latency_advances_the_fake_clock),
        cmocka_unit_test(test_latency_on_the_system_clock_is_ignored),
        T(test_wait_calls),
        T(test_update_status_follows_the_script),
        T(test_bad_arguments),
        cmocka_unit_test(test_not_a_fake_is_refused),
        cmocka_unit_test(test_open_fake_by_url),
        cmocka_unit_test(test_async_flag_and_pending),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
