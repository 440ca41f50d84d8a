/*
 * The call vocabulary (src/server/calls): every call has a name and a
 * right, and the outcome table says the same thing on every wire: the nng
 * error code, the HTTP status and the metrics result of each hbeat code.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "calls.h"
#include "hbeat/errors.h"
#include "hbeat/v1/hbeat.pb-c.h"

static void test_every_call_has_a_distinct_name_and_a_right(void **state)
{
    (void)state;
    for (int c = 0; c < HBD_CALL_COUNT; c++) {
        const char *name = hbd_call_name((hbd_call)c);
        assert_non_null(name);
        for (int d = 0; d < c; d++)
            assert_string_not_equal(name, hbd_call_name((hbd_call)d));
        hbd_right r = hbd_call_right((hbd_call)c);
        assert_true(r == HBD_RIGHT_CLIENT || r == HBD_RIGHT_OPERATOR);
    }
    assert_null(hbd_call_name(HBD_CALL_COUNT));
    assert_null(hbd_call_name((hbd_call)-1));
}

/* Jobmon's client calls need a client token; everything else an operator's. */
static void test_rights(void **state)
{
    (void)state;
    static const struct {
        hbd_call call;
        const char *name;
        hbd_right right;
    } want[] = {
        {HBD_CALL_HEARTBEAT, "heartbeat", HBD_RIGHT_CLIENT},
        {HBD_CALL_UPDATE_STATUS, "update_status", HBD_RIGHT_CLIENT},
        {HBD_CALL_CREATE_RUN, "create_run", HBD_RIGHT_OPERATOR},
        {HBD_CALL_GET_RUN, "get_run", HBD_RIGHT_OPERATOR},
        {HBD_CALL_LIST_RUNS, "list_runs", HBD_RIGHT_OPERATOR},
        {HBD_CALL_SET_STATUS, "set_status", HBD_RIGHT_OPERATOR},
    };
    assert_int_equal(sizeof want / sizeof want[0], HBD_CALL_COUNT);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_string_equal(hbd_call_name(want[i].call), want[i].name);
        assert_int_equal(hbd_call_right(want[i].call), want[i].right);
        assert_false(hbd_call_allowed(want[i].call, HBD_RIGHT_NONE));
        assert_true(hbd_call_allowed(want[i].call, HBD_RIGHT_OPERATOR));
        assert_int_equal(hbd_call_allowed(want[i].call, HBD_RIGHT_CLIENT),
                         want[i].right == HBD_RIGHT_CLIENT);
    }
    /* Out of range: only the operator may. */
    assert_false(hbd_call_allowed(HBD_CALL_COUNT, HBD_RIGHT_CLIENT));
}

#define WIRE(name) HBEAT_PB__ERROR_CODE__ERROR_CODE_##name

static void test_outcome_table(void **state)
{
    (void)state;
    static const hbd_outcome want[] = {
        {0, WIRE(UNSPECIFIED), 200, HBD_RESULT_OK},
        {HBEAT_EINVAL, WIRE(INVALID_ARGUMENT), 400, HBD_RESULT_BAD_REQUEST},
        {HBEAT_ENOTFOUND, WIRE(NOT_FOUND), 404, HBD_RESULT_NOT_FOUND},
        {HBEAT_EAUTH, WIRE(UNAUTHENTICATED), 401, HBD_RESULT_UNAUTHORIZED},
        {HBEAT_EFORBIDDEN, WIRE(PERMISSION_DENIED), 403, HBD_RESULT_UNAUTHORIZED},
        {HBEAT_ETOOBIG, WIRE(TOO_LARGE), 413, HBD_RESULT_TOO_LARGE},
        {HBEAT_ENOTSUP, WIRE(UNIMPLEMENTED), 501, HBD_RESULT_BAD_REQUEST},
        {HBEAT_ECANCELED, WIRE(UNAVAILABLE), 503, HBD_RESULT_SERVER_ERROR},
        {HBEAT_EBUSY, WIRE(UNAVAILABLE), 503, HBD_RESULT_SERVER_ERROR},
        {HBEAT_ESYSTEM, WIRE(INTERNAL), 500, HBD_RESULT_SERVER_ERROR},
        /* Codes without a row of their own fall back on INTERNAL / 500. */
        {HBEAT_ENOMEM, WIRE(INTERNAL), 500, HBD_RESULT_SERVER_ERROR},
        {HBEAT_ETIMEDOUT, WIRE(INTERNAL), 500, HBD_RESULT_SERVER_ERROR},
        {-12345, WIRE(INTERNAL), 500, HBD_RESULT_SERVER_ERROR},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const hbd_outcome *o = hbd_outcome_of(want[i].code);
        assert_non_null(o);
        assert_int_equal(o->wire_error, want[i].wire_error);
        assert_int_equal(o->http_status, want[i].http_status);
        assert_int_equal(o->result, want[i].result);
        /* An HTTP status counts as the result of its row. */
        assert_int_equal(hbd_result_of_http(o->http_status), o->result);
    }
}

static void test_http_statuses_without_a_row(void **state)
{
    (void)state;
    assert_int_equal(hbd_result_of_http(204), HBD_RESULT_OK);
    assert_int_equal(hbd_result_of_http(405), HBD_RESULT_BAD_REQUEST);
    assert_int_equal(hbd_result_of_http(411), HBD_RESULT_BAD_REQUEST);
    assert_int_equal(hbd_result_of_http(502), HBD_RESULT_SERVER_ERROR);
    assert_int_equal(hbd_result_of_http(0), HBD_RESULT_SERVER_ERROR);
    assert_int_equal(hbd_result_of_http(100), HBD_RESULT_SERVER_ERROR);
}

static void test_result_names(void **state)
{
    (void)state;
    static const char *const want[] = {"ok",           "bad_request", "not_found",
                                       "unauthorized", "too_large",   "server_error"};
    assert_int_equal(sizeof want / sizeof want[0], HBD_RESULT_COUNT);
    for (int r = 0; r < HBD_RESULT_COUNT; r++)
        assert_string_equal(hbd_result_name((hbd_result)r), want[r]);
    assert_null(hbd_result_name(HBD_RESULT_COUNT));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_call_has_a_distinct_name_and_a_right),
        cmocka_unit_test(test_rights),
        cmocka_unit_test(test_outcome_table),
        cmocka_unit_test(test_http_statuses_without_a_row),
        cmocka_unit_test(test_result_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
