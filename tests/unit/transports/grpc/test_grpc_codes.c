/* The gRPC status <-> hbeat code table (src/common/grpc_codes.c), both
   ways, as the client reads statuses and a server sends them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/grpc_codes.h"
#include "hbeat/errors.h"

static void test_round_trips(void **state)
{
    (void)state;
    static const int codes[] = {0,
                                HBEAT_EINVAL,
                                HBEAT_ENOTFOUND,
                                HBEAT_EAUTH,
                                HBEAT_EFORBIDDEN,
                                HBEAT_ETOOBIG,
                                HBEAT_ETIMEDOUT,
                                HBEAT_ENOTSUP,
                                HBEAT_ESERVER};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        int status = hbeat__grpc_status_from_code(codes[i]);
        assert_int_equal(hbeat__grpc_code_from_status(status), codes[i]);
    }
}

static void test_client_reading(void **state)
{
    (void)state;
    assert_int_equal(hbeat__grpc_code_from_status(HBEAT__GRPC_NOT_FOUND), HBEAT_ENOTFOUND);
    assert_int_equal(hbeat__grpc_code_from_status(HBEAT__GRPC_UNAUTHENTICATED), HBEAT_EAUTH);
    assert_int_equal(hbeat__grpc_code_from_status(HBEAT__GRPC_PERMISSION_DENIED), HBEAT_EFORBIDDEN);
    assert_int_equal(hbeat__grpc_code_from_status(HBEAT__GRPC_DEADLINE_EXCEEDED), HBEAT_ETIMEDOUT);
    assert_int_equal(hbeat__grpc_code_from_status(HBEAT__GRPC_RESOURCE_EXHAUSTED), HBEAT_ETOOBIG);
    /* The library's own "no connection", or a server draining: try again. */
    assert_int_equal(hbeat__grpc_code_from_status(HBEAT__GRPC_UNAVAILABLE), HBEAT_ETRANSPORT);
    assert_int_equal(hbeat__grpc_code_from_status(HBEAT__GRPC_CANCELLED), HBEAT_ECANCELED);
    /* Anything without a row is the server's error. */
    assert_int_equal(hbeat__grpc_code_from_status(HBEAT__GRPC_UNKNOWN), HBEAT_ESERVER);
    assert_int_equal(hbeat__grpc_code_from_status(10), HBEAT_ESERVER);
    assert_int_equal(hbeat__grpc_code_from_status(99), HBEAT_ESERVER);
    assert_int_equal(hbeat__grpc_code_from_status(-1), HBEAT_ESERVER);
}

static void test_server_sending(void **state)
{
    (void)state;
    /* Shutting down or busy: UNAVAILABLE, which clients retry. */
    assert_int_equal(hbeat__grpc_status_from_code(HBEAT_ECANCELED), HBEAT__GRPC_UNAVAILABLE);
    assert_int_equal(hbeat__grpc_status_from_code(HBEAT_EBUSY), HBEAT__GRPC_UNAVAILABLE);
    /* No transport failure is a server's answer: it becomes INTERNAL. */
    assert_int_equal(hbeat__grpc_status_from_code(HBEAT_ETRANSPORT), HBEAT__GRPC_INTERNAL);
    assert_int_equal(hbeat__grpc_status_from_code(HBEAT_ESYSTEM), HBEAT__GRPC_INTERNAL);
    assert_int_equal(hbeat__grpc_status_from_code(HBEAT_ENOMEM), HBEAT__GRPC_INTERNAL);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(hbeat__grpc_status_name(HBEAT__GRPC_NOT_FOUND), "NOT_FOUND");
    assert_string_equal(hbeat__grpc_status_name(HBEAT__GRPC_UNAUTHENTICATED), "UNAUTHENTICATED");
    assert_string_equal(hbeat__grpc_status_name(HBEAT__GRPC_OK), "OK");
    assert_string_equal(hbeat__grpc_status_name(17), "UNKNOWN");
    assert_string_equal(hbeat__grpc_status_name(-3), "UNKNOWN");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_client_reading),
        cmocka_unit_test(test_server_sending),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
