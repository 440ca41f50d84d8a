/*
 * The service's bookkeeping on a fake clock (docs/library.md, the semantics):
 * the increment, when a beat is due, the timer, and set_status.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "support.h"

static void test_options_init_has_jobmon_defaults(void **state)
{
    (void)state;
    hbeat_service_options opts = HBEAT_SERVICE_OPTIONS_INIT;
    assert_int_equal(opts.version, HBEAT_SERVICE_OPTIONS_VERSION);
    assert_int_equal(opts.workflow_run_id, 0);
    assert_true(opts.interval == 30.0);
    assert_true(opts.report_by_buffer == 3.1);
    assert_null(opts.initial_status);
    assert_int_equal(opts.max_consecutive_failures, 5);
    assert_null(opts.clock);
    assert_null(opts.on_status_change);
}

static void test_next_report_increment_is_interval_times_buffer(void **state)
{
    (void)state;
    static const double cases[][2] = {{30.0, 3.1}, {10.0, 1.5},    {0.5, 2.5},
                                      {1e-3, 1e3}, {7.25, 1.0001}, {86400.0, 1.0000001}};
    hbeat_clock *clock = t_fake_clock();
    hbeat_gateway *gw = t_fake_gateway(clock, 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double interval = cases[i][0];
        double buffer = cases[i][1];
        hbeat_service *svc = t_service(gw, clock, 5, interval, buffer, 5);
        assert_true(hbeat_service_interval(svc) == interval);
        assert_true(hbeat_service_report_by_buffer(svc) == buffer);
        double want = interval * buffer;
        double got = hbeat_service_next_report_increment(svc);
        assert_true(fabs(got - want) <= 1e-12 * want);
        assert_int_equal(hbeat_service_workflow_run_id(svc), 5);
        hbeat_service_free(svc);
    }
    hbeat_gateway_free(gw);
    hbeat_clock_free(clock);
}

static void test_initial_status_defaults_to_running_and_is_copied(void **state)
{
    (void)state;
    hbeat_clock *clock = t_fake_clock();
    hbeat_gateway *gw = t_fake_gateway(clock, 0);
    char status[HBEAT_STATUS_MAX + 1];

    hbeat_service *svc = t_service(gw, clock, 1, 30, 3.1, 5);
    assert_int_equal(hbeat_service_status(svc, status), 0);
    assert_string_equal(status, "R");
    hbeat_service_free(svc);

    char initial[8] = "B";
    hbeat_service_options opts = HBEAT_SERVICE_OPTIONS_INIT;
    opts.workflow_run_id = 1;
    opts.clock = clock;
    opts.initial_status = initial;
    svc = t_service_opts(gw, &opts);
    initial[0] = 'X'; /* the service must have its own copy */
    assert_int_equal(hbeat_service_status(svc, status), 0);
    assert_string_equal(status, "B");
    hbeat_service_free(svc);

    hbeat_gateway_free(gw);
    hbeat_clock_free(clock);
}

static void test_new_service_is_not_due(void **state)
{
    (void)state;
    hbeat_clock *clock = t_fake_clock();
    hbeat_gateway *gw = t_fake_gateway(clock, 0);
    hbeat_service *svc = t_service(gw, clock, 1, 30, 3.1, 5);

    assert_int_equal(hbeat_service_last_heartbeat_ns(svc), T_START_NS);
    assert_int_equal(hbeat_service_is_heartbeat_due(svc), 0);
    assert_true(hbeat_service_time_since_last_heartbeat(svc) == 0.0);
    assert_int_equal(hbeat_service_consecutive_failures(svc), 0);
    assert_int_equal(hbeat_service_is_running(svc), 0);
    /* Nothing is sent by creating a service. */
    assert_int_equal(hbeat_fake_gateway_call_count(gw), 0);

    hbeat_service_free(svc);
    hbeat_gateway_free(gw);
    hbeat_clock_free(clock);
}

static void check_due_boundary(double interval, int64_t interval_ns)
{
    hbeat_clock *clock = t_fake_clock();
    hbeat_gateway *gw = t_fake_gateway(clock, 0);
    hbeat_service *svc = t_service(gw, clock, 1, interval, 3.1, 5);

    assert_int_equal(hbeat_fake_clock_advance(clock, interval_ns - 1), 0);
    assert_int_equal(hbeat_service_is_heartbeat_due(svc), 0);
    assert_true(hbeat_service_time_since_last_heartbeat(svc) < interval);

    assert_int_equal(hbeat_fake_clock_advance(clock, 1), 0);
    assert_int_equal(hbeat_service_is_heartbeat_due(svc), 1);
    assert_true(fabs(hbeat_service_time_since_last_heartbeat(svc) - interval) < 1e-9);

    /* Long overdue is still due. */
    assert_int_equal(hbeat_fake_clock_advance(clock, 1000 * NS_PER_S), 0);
    assert_int_equal(hbeat_service_is_heartbeat_due(svc), 1);

    /* Being due sends nothing by itself. */
    assert_int_equal(hbeat_fake_gateway_call_count(gw), 0);
    hbeat_service_free(svc);
    hbeat_gateway_free(gw);
    hbeat_clock_free(clock);
}

static void test_due_exactly_at_interval_not_a_nanosecond_before(void **state)
{
    (void)state;
    check_due_boundary(30.0, 30 * NS_PER_S);
    check_due_boundary(0.25, 250 * NS_PER_MS);
    check_due_boundary(2.5, 2500 * NS_PER_MS);
    check_due_boundary(0.1, 100 * NS_PER_MS);
    check_due_boundary(7.3, 7300 * NS_PER_MS);
}

static void test_time_since_last_heartbeat_follows_clock(void **state)
{
    (void)state;
    hbeat_clock *clock = t_fake_clock();
    hbeat_gateway *gw = t_fake_gateway(clock, 0);
    hbeat_service *svc = t_service(gw, clock, 1, 30, 3.1, 5);

    assert_int_equal(hbeat_fake_clock_advance(clock, 1500 * NS_PER_MS), 0);
    assert_true(fabs(hbeat_service_time_since_last_heartbeat(svc) - 1.5) < 1e-9);
    assert_int_equal(hbeat_fake_clock_advance(clock, 40 * NS_PER_S), 0);
    assert_true(fabs(hbeat_service_time_since_last_heartbeat(svc) - 41.5) < 1e-9);

    /* A successful tick restarts it from the tick's time. */
    assert_int_equal(hbeat_service_tick(svc, NULL, NULL), 0);
    assert_int_equal(hbeat_service_last_heartbeat_ns(svc), T_START_NS + 41500 * NS_PER_MS);
    assert_true(hbeat_service_time_since_last_heartbeat(svc) == 0.0);
    assert_int_equal(hbeat_service_is_heartbeat_due(svc), 0);
    assert_int_equal(hbeat_fake_clock_advance(clock, 2 * NS_PER_S), 0);
    assert_true(fabs(hbeat_service_time_since_last_heartbeat(svc) - 2.0) < 1e-9);

    hbeat_service_free(svc);
    hbeat_gateway_free(gw);
    hbeat_clock_free(clock);
}

static void test_reset_timer_restarts_the_interval(void **state)
{
    (void)state;
    hbeat_clock *clock = t_fake_clock();
    hbeat_gateway *gw = t_fake_gateway(clock, 0);
    hbeat_service *svc = t_service(gw, clock, 1, 30, 3.1, 5);

    assert_int_equal(hbeat_fake_clock_advance(clock, 45 * NS_PER_S), 0);
    assert_int_equal(hbeat_service_is_heartbeat_due(svc), 1);

    hbeat_service_reset_timer(svc);
    assert_int_equal(hbeat_service_last_heartbeat_ns(svc), T_START_NS + 45 * NS_PER_S);
    assert_int_equal(hbeat_service_is_heartbeat_due(svc), 0);
    assert_true(hbeat_service_time_since_last_heartbeat(svc) == 0.0);

    assert_int_equal(hbeat_fake_clock_advance(clock, 30 * NS_PER_S - 1), 0);
    assert_int_equal(hbeat_service_is_heartbeat_due(svc), 0);
    assert_int_equal(hbeat_fake_clock_advance(clock, 1), 0);
    assert_int_equal(hbeat_service_is_heartbeat_due(svc), 1);

    /* reset_timer sends nothing and leaves the status alone. */
    char status[HBEAT_STATUS_MAX + 1];
    assert_int_equal(hbeat_service_status(svc, status), 0);
    assert_string_equal(status, "R");
    assert_int_equal(hbeat_fake_gateway_call_count(gw), 0);

    hbeat_service_reset_timer(NULL); /* no-op */
    hbeat_service_free(svc);
    hbeat_gateway_free(gw);
    hbeat_clock_free(clock);
}

static void test_set_status_changes_what_the_next_beat_reports(void **state)
{
    (void)state;
    hbeat_clock *clock = t_fake_clock();
    hbeat_gateway *gw = t_fake_gateway(clock, 0);
    hbeat_service *svc = t_service(gw, clock, 9, 30, 3.1, 5);
    hbeat_error err = HBEAT_ERROR_INIT;
    char status[HBEAT_STATUS_MAX + 1];

    assert_int_equal(hbeat_fake_clock_advance(clock, 10 * NS_PER_S), 0);
    assert_int_equal(hbeat_service_set_status(svc, "D", &err), 0);
    assert_int_equal(hbeat_service_status(svc, status), 0);
    assert_string_equal(status, "D");
    /* set_status neither beats nor restarts the timer. */
    assert_int_equal(hbeat_fake_gateway_call_count(gw), 0);
    assert_int_equal(hbeat_service_last_heartbeat_ns(svc), T_START_NS);

    assert_int_equal(hbeat_service_tick(svc, NULL, &err), 0);
    assert_string_equal(t_call(gw, 0).status, "D");

    /* A token of the longest length and of any printable ASCII is fine. */
    assert_int_equal(hbeat_service_set_status(svc, "ABCDEFGHIJKLMNO", &err), 0);
    assert_int_equal(hbeat_service_status(svc, status), 0);
    assert_string_equal(status, "ABCDEFGHIJKLMNO");
    assert_int_equal(hbeat_service_set_status(svc, "!~{}", &err), 0);
    assert_int_equal(hbeat_service_tick(svc, NULL, &err), 0);
    assert_string_equal(t_call(gw, 1).status, "!~{}");

    /* An invalid token is refused and changes nothing. */
    static const char *const bad[] = {"",     "ABCDEFGHIJKLMNOP", "a b", "R\n",
                                      "\x7f", "\xc3\xa9",         " R"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hbeat_error e = HBEAT_ERROR_INIT;
        assert_int_equal(hbeat_service_set_status(svc, bad[i], &e), HBEAT_EINVAL);
        assert_int_equal(e.code, HBEAT_EINVAL);
        assert_true(e.message[0] != '\0');
        assert_int_equal(hbeat_service_status(svc, status), 0);
        assert_string_equal(status, "!~{}");
    }
    assert_int_equal(hbeat_service_set_status(svc, NULL, &err), HBEAT_EINVAL);
    assert_int_equal(hbeat_service_set_status(svc, "", NULL), HBEAT_EINVAL);
    assert_int_equal(hbeat_service_status(svc, status), 0);
    assert_string_equal(status, "!~{}");

    hbeat_service_free(svc);
    hbeat_gateway_free(gw);
    hbeat_clock_free(clock);
}

static void test_system_clock_is_the_default(void **state)
{
    (void)state;
    hbeat_gateway *gw = t_fake_gateway(NULL, 0);
    int64_t before = hbeat_clock_now_ns(hbeat_clock_system());
    hbeat_service *svc = t_service(gw, NULL, 3, 3600, 3.1, 5);
    int64_t after = hbeat_clock_now_ns(hbeat_clock_system());

    int64_t last = hbeat_service_last_heartbeat_ns(svc);
    assert_true(last >= before && last <= after);
    assert_true(hbeat_service_time_since_last_heartbeat(svc) >= 0.0);
    assert_int_equal(hbeat_service_is_heartbeat_due(svc), 0);

    hbeat_service_free(svc);
    hbeat_gateway_free(gw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options_init_has_jobmon_defaults),
        cmocka_unit_test(test_next_report_increment_is_interval_times_buffer),
        cmocka_unit_test(test_initial_status_defaults_to_running_and_is_copied),
        cmocka_unit_test(test_new_service_is_not_due),
        cmocka_unit_test(test_due_exactly_at_interval_not_a_nanosecond_before),
        cmocka_unit_test(test_time_since_last_heartbeat_follows_clock),
        cmocka_unit_test(test_reset_timer_restarts_the_interval),
        cmocka_unit_test(test_set_status_changes_what_the_next_beat_reports),
        cmocka_unit_test(test_system_clock_is_the_default),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
