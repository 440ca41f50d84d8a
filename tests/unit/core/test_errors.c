/* Error codes, their strings, and the caller-owned error struct. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "support.h"

static const int all_codes[] = {
    HBEAT_OK,     HBEAT_EINVAL,   HBEAT_ENOMEM,    HBEAT_ETRANSPORT, HBEAT_ETIMEDOUT,
    HBEAT_EPROTO, HBEAT_ESERVER,  HBEAT_ENOTFOUND, HBEAT_ESCHEME,    HBEAT_ENOTBUILT,
    HBEAT_EEXIST, HBEAT_EVERSION, HBEAT_ESTATE,    HBEAT_EFATAL,     HBEAT_ECANCELED,
    HBEAT_EBUSY,  HBEAT_ENOTSUP,  HBEAT_EAUTH,     HBEAT_EFORBIDDEN, HBEAT_ETOOBIG,
    HBEAT_ETLS,   HBEAT_ESYSTEM,
};
#define NCODES (sizeof all_codes / sizeof all_codes[0])

static void test_codes_have_fixed_values(void **state)
{
    (void)state;
    /* Codes are never renumbered: pin every value. */
    for (size_t i = 0; i < NCODES; i++) {
        assert_int_equal(all_codes[i], -(int)i);
    }
}

static void test_every_code_has_its_own_string(void **state)
{
    (void)state;
    const char *unknown = hbeat_strerror(-1000);
    assert_non_null(unknown);
    assert_string_equal(unknown, "unknown error");
    for (size_t i = 0; i < NCODES; i++) {
        const char *s = hbeat_strerror(all_codes[i]);
        assert_non_null(s);
        assert_true(s[0] != '\0');
        if (strcmp(s, unknown) == 0) {
            fail_msg("code %d has no string of its own", all_codes[i]);
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(s, hbeat_strerror(all_codes[j])) == 0) {
                fail_msg("codes %d and %d share \"%s\"", all_codes[i], all_codes[j], s);
            }
        }
    }
    assert_string_equal(hbeat_strerror(HBEAT_EINVAL), "invalid argument");
}

static void test_unknown_codes(void **state)
{
    (void)state;
    const int unknown[] = {1, 42, -22, -23, -1000, INT_MIN, INT_MAX};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        assert_string_equal(hbeat_strerror(unknown[i]), "unknown error");
    }
}

static void test_error_set_and_clear(void **state)
{
    (void)state;
    hbeat_error err = HBEAT_ERROR_INIT;
    err.http_status = 503;
    err.native = 7;
    assert_int_equal(hbeat_error_set(&err, HBEAT_ESERVER, "HTTP %d from %s", 503, "server"),
                     HBEAT_ESERVER);
    assert_int_equal(err.code, HBEAT_ESERVER);
    assert_int_equal(err.http_status, 0);
    assert_int_equal(err.native, 0);
    assert_string_equal(err.message, "HTTP 503 from server");

    hbeat_error_clear(&err);
    assert_int_equal(err.code, 0);
    assert_int_equal(err.http_status, 0);
    assert_int_equal(err.native, 0);
    assert_string_equal(err.message, "");
    hbeat_error_clear(NULL);

    /* NULL err: still returns the code. */
    assert_int_equal(hbeat_error_set(NULL, HBEAT_EINVAL, "x %s", "y"), HBEAT_EINVAL);
}

static void test_error_set_truncates_long_messages(void **state)
{
    (void)state;
    char big[1000];
    memset(big, 'm', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    /* Canary on both sides to catch an overflow without a sanitizer. */
    struct {
        hbeat_error err;
        char canary[16];
    } s;
    memset(&s, 0x5a, sizeof s);
    assert_int_equal(hbeat_error_set(&s.err, HBEAT_EPROTO, "%s", big), HBEAT_EPROTO);
    assert_int_equal(strlen(s.err.message), HBEAT_ERROR_MESSAGE_MAX - 1);
    assert_int_equal(s.err.message[HBEAT_ERROR_MESSAGE_MAX - 1], '\0');
    for (size_t i = 0; i < sizeof s.canary; i++) {
        assert_int_equal((unsigned char)s.canary[i], 0x5a);
    }
    /* Exactly at the limit fits without loss. */
    big[HBEAT_ERROR_MESSAGE_MAX - 1] = '\0';
    assert_int_equal(hbeat_error_set(&s.err, HBEAT_EPROTO, "%s", big), HBEAT_EPROTO);
    assert_string_equal(s.err.message, big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codes_have_fixed_values),
        cmocka_unit_test(test_every_code_has_its_own_string),
        cmocka_unit_test(test_unknown_codes),
        cmocka_unit_test(test_error_set_and_clear),
        cmocka_unit_test(test_error_set_truncates_long_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
