/*
 * Bad input at every entry point of the service is HBEAT_EINVAL (or
 * HBEAT_EVERSION) with a message, never a crash.
 */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support.h"

static hbeat_clock *g_clock;
static hbeat_gateway *g_gw;

static int group_setup(void **state)
{
    (void)state;
    g_clock = t_fake_clock();
    g_gw = t_fake_gateway(g_clock, 0);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    hbeat_gateway_free(g_gw);
    hbeat_clock_free(g_clock);
    return 0;
}

static hbeat_service_options good_options(void)
{
    hbeat_service_options opts = HBEAT_SERVICE_OPTIONS_INIT;
    opts.workflow_run_id = 1;
    opts.clock = g_clock;
    return opts;
}

/* Creating with opts must fail with want, a message naming `word`, and no
   service. */
static void expect_refused(const hbeat_service_options *opts, int want, const char *word)
{
    hbeat_service *svc = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_service_new(&svc, g_gw, opts, &err);
    if (rc == 0) {
        hbeat_service_free(svc);
        fail_msg("options accepted; expected %d (%s)", want, word ? word : "");
    }
    assert_int_equal(rc, want);
    assert_int_equal(err.code, want);
    assert_true(err.message[0] != '\0');
    if (word && !strstr(err.message, word)) {
        fail_msg("message \"%s\" does not name \"%s\"", err.message, word);
    }
    /* Also without an error struct. */
    svc = NULL;
    assert_int_equal(hbeat_service_new(&svc, g_gw, opts, NULL), want);
}

static void test_interval_must_be_finite_and_not_negative(void **state)
{
    (void)state;
    const double bad[] = {-1.0, -1e-9, -DBL_MIN, NAN, -NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hbeat_service_options opts = good_options();
        opts.interval = bad[i];
        expect_refused(&opts, HBEAT_EINVAL, "interval");
    }
    /* The smallest positive interval is fine. */
    hbeat_service_options opts = good_options();
    opts.interval = 1e-9;
    hbeat_service_free(t_service_opts(g_gw, &opts));
    /* 0 is Jobmon's "beat on every check", -0.0 the same 0. */
    const double zeros[] = {0.0, -0.0};
    for (size_t i = 0; i < 2; i++) {
        opts = good_options();
        opts.interval = zeros[i];
        hbeat_service *svc = t_service_opts(g_gw, &opts);
        assert_true(hbeat_service_interval(svc) == 0.0);
        assert_false(signbit(hbeat_service_interval(svc)));
        assert_true(hbeat_service_next_report_increment(svc) == 0.0);
        assert_false(signbit(hbeat_service_next_report_increment(svc)));
        hbeat_service_free(svc);
    }
}

static void test_progress_timeout_must_be_finite_and_not_negative(void **state)
{
    (void)state;
    const double bad[] = {-1.0, -1e-9, NAN, INFINITY, -INFINITY, 1e12};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hbeat_service_options opts = good_options();
        opts.progress_timeout = bad[i];
        expect_refused(&opts, HBEAT_EINVAL, "progress_timeout");
    }
    const double good[] = {0.0, -0.0, 1e-9, 0.5, 3600.0};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        hbeat_service_options opts = good_options();
        opts.progress_timeout = good[i];
        hbeat_service_free(t_service_opts(g_gw, &opts));
    }
}

/* A caller built against version 1 of the options passes a shorter struct:
   nothing past it is read. Here the bytes past it hold values that would be
   refused; under ASan the struct is exactly version 1's size. */
static void test_version_1_options_are_read_as_version_1(void **state)
{
    (void)state;
    size_t v1_size = offsetof(hbeat_service_options, progress_timeout);
    hbeat_service_options full = good_options();
    full.version = 1;
    full.progress_timeout = NAN;
    hbeat_service *svc = t_service_opts(g_gw, &full);
    hbeat_service_free(svc);

    unsigned char *bytes = malloc(v1_size);
    assert_non_null(bytes);
    memcpy(bytes, &full, v1_size);
    svc = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_service_new(&svc, g_gw, (const hbeat_service_options *)(void *)bytes, &err);
    if (rc != 0) {
        fail_msg("version 1 options refused: %d %s", rc, err.message);
    }
    hbeat_service_free(svc);
    free(bytes);

    /* The current version reads the new field. */
    full.version = HBEAT_SERVICE_OPTIONS_VERSION;
    expect_refused(&full, HBEAT_EINVAL, "progress_timeout");
}

static void test_report_by_buffer_must_be_finite_and_above_one(void **state)
{
    (void)state;
    /* At exactly 1 every beat would land on the server's deadline. */
    const double bad[] = {0.0, 0.999999, 1.0, -1.0, NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hbeat_service_options opts = good_options();
        opts.report_by_buffer = bad[i];
        expect_refused(&opts, HBEAT_EINVAL, "report_by_buffer");
    }
    hbeat_service_options opts = good_options();
    opts.report_by_buffer = nextafter(1.0, 2.0);
    hbeat_service *svc = t_service_opts(g_gw, &opts);
    assert_true(hbeat_service_next_report_increment(svc) > 30.0);
    hbeat_service_free(svc);
}

static void test_initial_status_must_be_a_valid_token(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",                 /* empty */
        "ABCDEFGHIJKLMNOP", /* 16 bytes */
        "\x01",             /* control */
        "R\t",              /* control */
        "\x7f",             /* DEL */
        "A B",              /* space */
        " ",                /* space only */
        "\xc3\xa9",         /* non-ASCII (UTF-8 e-acute) */
        "R\x80",            /* non-ASCII byte */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hbeat_service_options opts = good_options();
        opts.initial_status = bad[i];
        expect_refused(&opts, HBEAT_EINVAL, "status");
    }
}

static void test_workflow_run_id_must_be_positive(void **state)
{
    (void)state;
    const int64_t bad[] = {0, -1, INT64_MIN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hbeat_service_options opts = good_options();
        opts.workflow_run_id = bad[i];
        expect_refused(&opts, HBEAT_EINVAL, "workflow_run_id");
    }
    hbeat_service_options opts = good_options();
    opts.workflow_run_id = INT64_MAX;
    hbeat_service *svc = t_service_opts(g_gw, &opts);
    assert_true(hbeat_service_workflow_run_id(svc) == INT64_MAX);
    hbeat_service_free(svc);
}

static void test_options_version_is_checked(void **state)
{
    (void)state;
    hbeat_service_options opts = good_options();
    opts.version = 0;
    expect_refused(&opts, HBEAT_EVERSION, NULL);
    opts.version = HBEAT_SERVICE_OPTIONS_VERSION + 1;
    expect_refused(&opts, HBEAT_EVERSION, NULL);
    opts.version = 0xffffffffu;
    expect_refused(&opts, HBEAT_EVERSION, NULL);
}

static void test_new_refuses_null_arguments(void **state)
{
    (void)state;
    hbeat_service_options opts = good_options();
    hbeat_service *svc = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;

    assert_int_equal(hbeat_service_new(NULL, g_gw, &opts, &err), HBEAT_EINVAL);
    assert_true(err.message[0] != '\0');
    hbeat_error_clear(&err);
    assert_int_equal(hbeat_service_new(&svc, NULL, &opts, &err), HBEAT_EINVAL);
    assert_true(err.message[0] != '\0');
    hbeat_error_clear(&err);
    assert_int_equal(hbeat_service_new(&svc, g_gw, NULL, &err), HBEAT_EINVAL);
    assert_true(err.message[0] != '\0');
    assert_int_equal(hbeat_service_new(NULL, NULL, NULL, NULL), HBEAT_EINVAL);
}

static void test_every_call_is_safe_with_null(void **state)
{
    (void)state;
    char status[HBEAT_STATUS_MAX + 1];
    hbeat_update up;
    hbeat_error err = HBEAT_ERROR_INIT;
    hbeat_stop_event *stop = NULL;
    assert_int_equal(hbeat_stop_event_new(&stop), 0);

    hbeat_service_free(NULL);
    assert_int_equal(hbeat_service_workflow_run_id(NULL), 0);
    assert_true(isnan(hbeat_service_interval(NULL)));
    assert_true(isnan(hbeat_service_report_by_buffer(NULL)));
    assert_true(isnan(hbeat_service_next_report_increment(NULL)));
    assert_int_equal(hbeat_service_status(NULL, status), HBEAT_EINVAL);
    assert_int_equal(hbeat_service_set_status(NULL, "R", &err), HBEAT_EINVAL);
    assert_true(err.message[0] != '\0');
    assert_int_equal(hbeat_service_last_heartbeat_ns(NULL), 0);
    assert_true(isnan(hbeat_service_time_since_last_heartbeat(NULL)));
    assert_int_equal(hbeat_service_is_heartbeat_due(NULL), 0);
    hbeat_service_reset_timer(NULL);
    assert_int_equal(hbeat_service_consecutive_failures(NULL), 0);

    hbeat_error_clear(&err);
    assert_int_equal(hbeat_service_tick(NULL, &up, &err), HBEAT_EINVAL);
    assert_true(err.message[0] != '\0');
    hbeat_error_clear(&err);
    assert_int_equal(hbeat_service_tick_async(NULL, t_on_tick, NULL, &err), HBEAT_EINVAL);
    assert_true(err.message[0] != '\0');
    hbeat_error_clear(&err);
    assert_int_equal(hbeat_service_run(NULL, stop, &err), HBEAT_EINVAL);
    assert_true(err.message[0] != '\0');
    hbeat_error_clear(&err);
    assert_int_equal(hbeat_service_start(NULL, &err), HBEAT_EINVAL);
    assert_true(err.message[0] != '\0');
    hbeat_error_clear(&err);
    assert_int_equal(hbeat_service_stop(NULL, &err), HBEAT_EINVAL);
    assert_true(err.message[0] != '\0');
    assert_int_equal(hbeat_service_is_running(NULL), 0);

    hbeat_stop_event_free(stop);
}

static void test_null_out_pointers_and_stop_event(void **state)
{
    (void)state;
    hbeat_service_options opts = good_options();
    hbeat_service *svc = t_service_opts(g_gw, &opts);
    hbeat_error err = HBEAT_ERROR_INIT;

    assert_int_equal(hbeat_service_status(svc, NULL), HBEAT_EINVAL);
    assert_int_equal(hbeat_service_set_status(svc, NULL, &err), HBEAT_EINVAL);
    assert_true(err.message[0] != '\0');
    hbeat_error_clear(&err);
    assert_int_equal(hbeat_service_run(svc, NULL, &err), HBEAT_EINVAL);
    assert_true(err.message[0] != '\0');
    hbeat_error_clear(&err);
    /* tick_async without a callback is refused and sends nothing. */
    int calls = hbeat_fake_gateway_call_count(g_gw);
    assert_int_equal(hbeat_service_tick_async(svc, NULL, NULL, &err), HBEAT_EINVAL);
    assert_true(err.message[0] != '\0');
    assert_int_equal(hbeat_fake_gateway_call_count(g_gw), calls);
    /* Optional out/err are optional. */
    assert_int_equal(hbeat_service_tick(svc, NULL, NULL), 0);
    assert_int_equal(hbeat_service_is_running(svc), 0);
    hbeat_service_free(svc);
}

static void test_gateway_calls_validate_their_input(void **state)
{
    (void)state;
    char out[HBEAT_STATUS_MAX + 1];
    hbeat_error err = HBEAT_ERROR_INIT;
    int calls = hbeat_fake_gateway_call_count(g_gw);

    assert_int_equal(hbeat_gateway_log_heartbeat(NULL, 1, "R", 90, out, &err), HBEAT_EINVAL);
    assert_true(err.message[0] != '\0');
    assert_int_equal(hbeat_gateway_log_heartbeat(g_gw, 1, NULL, 90, out, &err), HBEAT_EINVAL);
    assert_int_equal(hbeat_gateway_log_heartbeat(g_gw, 1, "", 90, out, &err), HBEAT_EINVAL);
    assert_int_equal(hbeat_gateway_log_heartbeat(g_gw, 1, "A B", 90, out, &err), HBEAT_EINVAL);
    assert_int_equal(hbeat_gateway_log_heartbeat(g_gw, 1, "ABCDEFGHIJKLMNOP", 90, out, &err),
                     HBEAT_EINVAL);
    assert_int_equal(hbeat_gateway_log_heartbeat(g_gw, 0, "R", 90, out, &err), HBEAT_EINVAL);
    assert_int_equal(hbeat_gateway_log_heartbeat(g_gw, -5, "R", 90, out, &err), HBEAT_EINVAL);
    assert_int_equal(hbeat_gateway_log_heartbeat(g_gw, 1, "R", NAN, out, &err), HBEAT_EINVAL);
    assert_int_equal(hbeat_gateway_log_heartbeat(g_gw, 1, "R", INFINITY, out, &err), HBEAT_EINVAL);
    assert_int_equal(hbeat_gateway_log_heartbeat(g_gw, 1, "R", -1.0, out, &err), HBEAT_EINVAL);
    assert_int_equal(hbeat_gateway_log_heartbeat(g_gw, 1, "R", -1e-9, out, &err), HBEAT_EINVAL);
    assert_int_equal(hbeat_gateway_log_heartbeat(g_gw, 1, "R", 90, NULL, &err), HBEAT_EINVAL);
    assert_int_equal(hbeat_gateway_update_status(NULL, 1, "R", out, &err), HBEAT_EINVAL);
    assert_int_equal(hbeat_gateway_update_status(g_gw, 1, "", out, &err), HBEAT_EINVAL);
    assert_int_equal(hbeat_gateway_update_status(g_gw, 0, "R", out, &err), HBEAT_EINVAL);
    assert_int_equal(hbeat_gateway_update_status(g_gw, 1, "R", NULL, &err), HBEAT_EINVAL);
    /* None of them reached the gateway. */
    assert_int_equal(hbeat_fake_gateway_call_count(g_gw), calls);
    /* An increment of 0 is Jobmon's interval 0: sent as it is. */
    assert_int_equal(hbeat_gateway_log_heartbeat(g_gw, 1, "R", 0.0, out, &err), 0);
    assert_int_equal(hbeat_fake_gateway_call_count(g_gw), calls + 1);
    assert_true(t_call(g_gw, calls).next_report_increment == 0.0);
    (void)hbeat_gateway_transport(NULL); /* must not crash */
    hbeat_gateway_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_interval_must_be_finite_and_not_negative),
        cmocka_unit_test(test_progress_timeout_must_be_finite_and_not_negative),
        cmocka_unit_test(test_version_1_options_are_read_as_version_1),
        cmocka_unit_test(test_report_by_buffer_must_be_finite_and_above_one),
        cmocka_unit_test(test_initial_status_must_be_a_valid_token),
        cmocka_unit_test(test_workflow_run_id_must_be_positive),
        cmocka_unit_test(test_options_version_is_checked),
        cmocka_unit_test(test_new_refuses_null_arguments),
        cmocka_unit_test(test_every_call_is_safe_with_null),
        cmocka_unit_test(test_null_out_pointers_and_stop_event),
        cmocka_unit_test(test_gateway_calls_validate_their_input),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
