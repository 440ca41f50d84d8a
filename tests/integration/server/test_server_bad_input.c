/*
 * Every kind of bad input over nng gets an error reply
 * with the right code, changes no run, and leaves the server serving.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nng_client.h"
#include "support/hbeatd_harness.h"

static hbd_harness h;
static tc_client c;
static int64_t run_id;
static tc_run before;

enum {
    INVALID = HBEAT_PB__ERROR_CODE__ERROR_CODE_INVALID_ARGUMENT,
    NOT_FOUND = HBEAT_PB__ERROR_CODE__ERROR_CODE_NOT_FOUND,
    TOO_LARGE = HBEAT_PB__ERROR_CODE__ERROR_CODE_TOO_LARGE,
    UNIMPLEMENTED = HBEAT_PB__ERROR_CODE__ERROR_CODE_UNIMPLEMENTED,
};

static int group_setup(void **state)
{
    if (hbd_harness_start(&h, NULL) != 0 || tc_open(&c, h.nng_tcp_url, 10000) != 0)
        return -1;
    /* One run in R with a deadline, which no test may change. */
    const char *path[] = {"L", "B", "I", "O", "R"};
    if (tc_create(&c, 3, "G", &run_id) != 0)
        return -1;
    for (int i = 0; i < 5; i++) {
        if (tc_heartbeat(&c, run_id, path[i], 600.0, (uint64_t)i, NULL, NULL) != 0)
            return -1;
    }
    return tc_get(&c, run_id, &before);
}

static int group_teardown(void **state)
{
    tc_close(&c);
    int rc = hbd_harness_stop(&h);
    hbd_harness_cleanup(&h);
    return rc == 0 ? 0 : -1;
}

/* After every test: the run is exactly as it was, and the server answers. */
static int check_unchanged(void **state)
{
    tc_run now;
    if (tc_get(&c, run_id, &now) != 0 || !tc_run_equal(&now, &before))
        return -1;
    return 0;
}

/* Sends raw bytes; asserts an error reply with `code`. */
static void expect_error_raw(const void *buf, size_t len, int code)
{
    int rv;
    HbeatPb__Reply *reply = tc_raw(&c, buf, len, &rv);
    assert_non_null(reply);
    assert_int_equal(reply->result_case, HBEAT_PB__REPLY__RESULT_ERROR);
    assert_int_equal(reply->error->code, code);
    assert_true(strlen(reply->error->message) > 0);
    tc_free(reply);
}

static void expect_heartbeat_error(int64_t run, const char *status, double inc, int code)
{
    assert_int_equal(tc_heartbeat(&c, run, status, inc, 1, NULL, NULL), code);
}

static void test_malformed_bytes(void **state)
{
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff};
    expect_error_raw(junk, sizeof junk, INVALID);
    /* A length that runs past the end. */
    const uint8_t truncated[] = {0x52, 0x40, 0x08, 0x01};
    expect_error_raw(truncated, sizeof truncated, INVALID);
    const char text[] = "{\"status\": \"R\", \"next_report_increment\": 45.0}";
    expect_error_raw(text, sizeof text - 1, INVALID);
}

static void test_no_call(void **state)
{
    /* The empty message is a valid Request with no call. */
    expect_error_raw("", 0, INVALID);
}

static void test_unknown_call(void **state)
{
    /* Field 99, length-delimited, empty: a call from a future version. */
    const uint8_t future[] = {0x9a, 0x06, 0x00};
    expect_error_raw(future, sizeof future, UNIMPLEMENTED);
}

static void test_too_large(void **state)
{
    /* A well-formed heartbeat for the run, padded past 64 KiB in the token
       field: only the size can make the server refuse it. */
    size_t n = 70 * 1024;
    char *token = malloc(n + 1);
    memset(token, 'a', n);
    token[n] = '\0';
    HbeatPb__Request req = HBEAT_PB__REQUEST__INIT;
    HbeatPb__HeartbeatRequest hb = HBEAT_PB__HEARTBEAT_REQUEST__INIT;
    hb.workflow_run_id = run_id;
    hb.status = "E";
    hb.next_report_increment = 1;
    req.token = token;
    req.call_case = HBEAT_PB__REQUEST__CALL_HEARTBEAT;
    req.heartbeat = &hb;
    int rv;
    HbeatPb__Reply *reply = tc_call(&c, &req, &rv);
    free(token);
    assert_non_null(reply);
    assert_int_equal(reply->result_case, HBEAT_PB__REPLY__RESULT_ERROR);
    assert_int_equal(reply->error->code, TOO_LARGE);
    tc_free(reply);
}

static void test_far_too_large_is_refused(void **state)
{
    /* Far past the limit: answered TOO_LARGE from its first bytes, the
       rest skipped as it arrives, and the server goes on serving others. */
    tc_client big;
    assert_int_equal(tc_open(&big, h.nng_tcp_url, 1000), 0);
    size_t n = 4 * 1024 * 1024;
    uint8_t *buf = calloc(1, n);
    int rv;
    HbeatPb__Reply *reply = tc_raw(&big, buf, n, &rv);
    free(buf);
    assert_non_null(reply);
    assert_int_equal(reply->result_case, HBEAT_PB__REPLY__RESULT_ERROR);
    assert_int_equal(reply->error->code, TOO_LARGE);
    tc_free(reply);
    tc_close(&big);
}

static void test_unknown_run(void **state)
{
    expect_heartbeat_error(run_id + 1000000, "R", 10, NOT_FOUND);
    assert_int_equal(tc_update_status(&c, run_id + 1000000, "R", NULL), NOT_FOUND);
    tc_run r;
    assert_int_equal(tc_get(&c, run_id + 1000000, &r), NOT_FOUND);
    assert_int_equal(tc_set_status(&c, run_id + 1000000, "R", 1, &r), NOT_FOUND);
}

static void test_invalid_status(void **state)
{
    const char *bad[] = {"", "X", "RR", "r", "running", " R", "\x01"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_heartbeat_error(run_id, bad[i], 10, INVALID);
        assert_int_equal(tc_update_status(&c, run_id, bad[i], NULL), INVALID);
        assert_int_equal(tc_set_status(&c, run_id, bad[i], 1, NULL), INVALID);
    }
    int64_t id;
    assert_int_equal(tc_create(&c, 3, "X", &id), INVALID);
}

static void test_bad_increment(void **state)
{
    const double bad[] = {-1.0, -1e-9, NAN, INFINITY, -INFINITY, 365.0 * 24 * 3600 + 1, 1e300};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_heartbeat_error(run_id, "R", bad[i], INVALID);
}

static void test_bad_run_id(void **state)
{
    expect_heartbeat_error(0, "R", 10, INVALID);
    expect_heartbeat_error(-5, "R", 10, INVALID);
    assert_int_equal(tc_update_status(&c, 0, "R", NULL), INVALID);
    tc_run r;
    assert_int_equal(tc_get(&c, 0, &r), INVALID);
    int64_t id;
    assert_int_equal(tc_create(&c, 0, "G", &id), INVALID);
    assert_int_equal(tc_create(&c, -1, "G", &id), INVALID);
}

static void test_bad_list(void **state)
{
    HbeatPb__Request req = HBEAT_PB__REQUEST__INIT;
    HbeatPb__ListRunsRequest lr = HBEAT_PB__LIST_RUNS_REQUEST__INIT;
    lr.status = "nope";
    req.call_case = HBEAT_PB__REQUEST__CALL_LIST_RUNS;
    req.list_runs = &lr;
    int rv;
    HbeatPb__Reply *reply = tc_call(&c, &req, &rv);
    assert_non_null(reply);
    assert_int_equal(reply->result_case, HBEAT_PB__REPLY__RESULT_ERROR);
    assert_int_equal(reply->error->code, INVALID);
    tc_free(reply);
    lr.status = "";
    lr.after_id = -3;
    reply = tc_call(&c, &req, &rv);
    assert_non_null(reply);
    assert_int_equal(reply->result_case, HBEAT_PB__REPLY__RESULT_ERROR);
    assert_int_equal(reply->error->code, INVALID);
    tc_free(reply);
}

static void test_still_serving(void **state)
{
    /* After all of the above, a good beat still works, over both URLs. */
    char st[16];
    assert_int_equal(tc_heartbeat(&c, run_id, "R", 600.0, 77, st, NULL), 0);
    assert_string_equal(st, "R");
    tc_client ipc;
    assert_int_equal(tc_open(&ipc, h.nng_ipc_url, 10000), 0);
    assert_int_equal(tc_get(&ipc, run_id, &before), 0);
    tc_close(&ipc);
}

#define T(f) cmocka_unit_test_teardown(f, check_unchanged)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_malformed_bytes),
        T(test_no_call),
        T(test_unknown_call),
        T(test_too_large),
        T(test_far_too_large_is_refused),
        T(test_unknown_run),
        T(test_invalid_status),
        T(test_bad_increment),
        T(test_bad_run_id),
        T(test_bad_list),
        cmocka_unit_test(test_still_serving),
    };
    int failed = cmocka_run_group_tests(tests, group_setup, group_teardown);
    tc_fini();
    return failed;
}
