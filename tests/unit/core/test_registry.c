/*
 * The transport registry: hbeat_gateway_open() by URL scheme, user
 * registrations (looked up first, unique, removable), scheme rules, and
 * "unknown" versus "known but not built in".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support.h"

/* ---- a user transport ---------------------------------------------------- */

typedef struct my_transport {
    int opens;
    char last_url[256];
    unsigned int opts_version;
    int opts_was_null;
    int fail_with;
    void *data_seen;
} my_transport;

static void mine_destroy(void *self)
{
    free(self);
}

static int mine_beat(void *self, const hbeat_heartbeat_request *req, hbeat_heartbeat_reply *reply,
                     hbeat_error *err)
{
    (void)self;
    (void)err;
    snprintf(reply->status, sizeof reply->status, "%s", req->status);
    return 0;
}

static const hbeat_gateway_vtable mine_vtable = {
    .version = HBEAT_GATEWAY_VTABLE_VERSION,
    .name = "mine",
    .destroy = mine_destroy,
    .log_heartbeat = mine_beat,
};

static int mine_open(hbeat_gateway **out, const char *url, const hbeat_gateway_options *opts,
                     void *data, hbeat_error *err)
{
    my_transport *t = data;
    t->opens++;
    t->data_seen = data;
    snprintf(t->last_url, sizeof t->last_url, "%s", url);
    t->opts_was_null = opts == NULL;
    t->opts_version = opts ? opts->version : 0;
    if (t->fail_with) {
        return hbeat_error_set(err, t->fail_with, "mine: refused (test)");
    }
    int *self = malloc(sizeof *self);
    int rc = hbeat_gateway_new(out, &mine_vtable, self, err);
    if (rc != 0) {
        free(self);
    }
    return rc;
}

static void test_unknown_scheme(void **state)
{
    (void)state;
    hbeat_gateway *gw = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_gateway_open(&gw, "nosuch://host:1", NULL, &err), HBEAT_ESCHEME);
    assert_int_equal(err.code, HBEAT_ESCHEME);
    assert_true(err.message[0] != '\0');
    assert_null(gw);
    assert_int_equal(hbeat_transport_lookup("nosuch"), HBEAT_ESCHEME);
    assert_int_equal(hbeat_gateway_open(&gw, "zmq://host:1", NULL, &err), HBEAT_ESCHEME);
}

static void test_malformed_url(void **state)
{
    (void)state;
    /* No "://" or nothing before it: not a URL at all. */
    static const char *const bad[] = {"", "fake", "fake:", "fake:/x", "://x", "://"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hbeat_gateway *gw = NULL;
        hbeat_error err = HBEAT_ERROR_INIT;
        int rc = hbeat_gateway_open(&gw, bad[i], NULL, &err);
        if (rc != HBEAT_EINVAL) {
            hbeat_gateway_free(gw);
            fail_msg("\"%s\": expected HBEAT_EINVAL, got %d", bad[i], rc);
        }
        assert_true(err.message[0] != '\0');
    }
    /* A scheme no one could register: malformed or unknown, either says
       what is wrong. */
    static const char *const odd[] = {" fake://", "fa ke://x", "1fake://x", "f_ake://x"};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        hbeat_gateway *gw = NULL;
        hbeat_error err = HBEAT_ERROR_INIT;
        int rc = hbeat_gateway_open(&gw, odd[i], NULL, &err);
        if (rc != HBEAT_EINVAL && rc != HBEAT_ESCHEME) {
            hbeat_gateway_free(gw);
            fail_msg("\"%s\": expected HBEAT_EINVAL or HBEAT_ESCHEME, got %d", odd[i], rc);
        }
        assert_true(err.message[0] != '\0');
    }
    hbeat_gateway *gw = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_gateway_open(&gw, NULL, NULL, &err), HBEAT_EINVAL);
    assert_true(err.message[0] != '\0');
    assert_int_equal(hbeat_gateway_open(NULL, "fake://", NULL, &err), HBEAT_EINVAL);
    /* A scheme longer than any registrable one is not a crash either. */
    char longurl[512];
    memset(longurl, 'a', 300);
    strcpy(longurl + 300, "://x");
    assert_true(hbeat_gateway_open(&gw, longurl, NULL, &err) < 0);
}

static void test_options_version(void **state)
{
    (void)state;
    hbeat_gateway *gw = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    hbeat_gateway_options opts = HBEAT_GATEWAY_OPTIONS_INIT;
    opts.version = 0;
    assert_int_equal(hbeat_gateway_open(&gw, "fake://", &opts, &err), HBEAT_EVERSION);
    assert_true(err.message[0] != '\0');
    opts.version = HBEAT_GATEWAY_OPTIONS_VERSION + 1;
    assert_int_equal(hbeat_gateway_open(&gw, "fake://", &opts, &err), HBEAT_EVERSION);
}

static void test_scheme_matching_ignores_case(void **state)
{
    (void)state;
    static const char *const urls[] = {"FAKE://", "Fake://x", "fAkE://y"};
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        hbeat_gateway *gw = NULL;
        hbeat_error err = HBEAT_ERROR_INIT;
        assert_int_equal(hbeat_gateway_open(&gw, urls[i], NULL, &err), 0);
        assert_string_equal(hbeat_gateway_transport(gw), "fake");
        hbeat_gateway_free(gw);
    }
    assert_int_equal(hbeat_transport_lookup("FAKE"), 0);
    assert_int_equal(hbeat_transport_lookup("Fake"), 0);
}

static void test_register_open_unregister(void **state)
{
    (void)state;
    my_transport t = {0};
    hbeat_error err = HBEAT_ERROR_INIT;
    hbeat_gateway *gw = NULL;
    char out[HBEAT_STATUS_MAX + 1];

    assert_int_equal(hbeat_transport_register("my-scheme+v1.x", mine_open, &t, &err), 0);
    assert_int_equal(hbeat_transport_lookup("my-scheme+v1.x"), 0);
    assert_int_equal(hbeat_transport_lookup("MY-SCHEME+V1.X"), 0);

    assert_int_equal(hbeat_gateway_open(&gw, "my-scheme+v1.x://host:9/p", NULL, &err), 0);
    assert_int_equal(t.opens, 1);
    assert_ptr_equal(t.data_seen, &t);
    assert_string_equal(t.last_url, "my-scheme+v1.x://host:9/p");
    /* The factory never sees NULL options. */
    assert_int_equal(t.opts_was_null, 0);
    assert_int_equal(t.opts_version, HBEAT_GATEWAY_OPTIONS_VERSION);
    assert_string_equal(hbeat_gateway_transport(gw), "mine");
    assert_int_equal(hbeat_gateway_log_heartbeat(gw, 1, "B", 1.0, out, &err), 0);
    assert_string_equal(out, "B");
    hbeat_gateway_free(gw);

    /* Case-insensitive for user schemes too. */
    gw = NULL;
    assert_int_equal(hbeat_gateway_open(&gw, "MY-Scheme+V1.X://h", NULL, &err), 0);
    assert_int_equal(t.opens, 2);
    hbeat_gateway_free(gw);

    /* The factory's error comes back as is. */
    t.fail_with = HBEAT_ETRANSPORT;
    gw = NULL;
    hbeat_error_clear(&err);
    assert_int_equal(hbeat_gateway_open(&gw, "my-scheme+v1.x://h", NULL, &err), HBEAT_ETRANSPORT);
    assert_non_null(strstr(err.message, "refused (test)"));
    t.fail_with = 0;

    assert_int_equal(hbeat_transport_unregister("my-scheme+v1.x", &err), 0);
    assert_int_equal(hbeat_transport_lookup("my-scheme+v1.x"), HBEAT_ESCHEME);
    assert_int_equal(hbeat_gateway_open(&gw, "my-scheme+v1.x://h", NULL, &err), HBEAT_ESCHEME);
    assert_int_equal(t.opens, 3);
    /* Unregistering again: not registered any more. */
    hbeat_error_clear(&err);
    assert_int_equal(hbeat_transport_unregister("my-scheme+v1.x", &err), HBEAT_ESCHEME);
    assert_true(err.message[0] != '\0');
}

static void test_unregister_is_case_insensitive(void **state)
{
    (void)state;
    my_transport t = {0};
    assert_int_equal(hbeat_transport_register("CaseTest", mine_open, &t, NULL), 0);
    assert_int_equal(hbeat_transport_unregister("casetest", NULL), 0);
    assert_int_equal(hbeat_transport_lookup("CaseTest"), HBEAT_ESCHEME);
}

static void test_duplicate_registration(void **state)
{
    (void)state;
    my_transport t = {0};
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_transport_register("dup", mine_open, &t, &err), 0);
    assert_int_equal(hbeat_transport_register("dup", mine_open, &t, &err), HBEAT_EEXIST);
    assert_int_equal(err.code, HBEAT_EEXIST);
    assert_true(err.message[0] != '\0');
    assert_int_equal(hbeat_transport_register("DUP", mine_open, &t, &err), HBEAT_EEXIST);
    assert_int_equal(hbeat_transport_unregister("dup", &err), 0);
    /* Free again after unregistering. */
    assert_int_equal(hbeat_transport_register("dup", mine_open, &t, &err), 0);
    assert_int_equal(hbeat_transport_unregister("dup", &err), 0);
}

static void test_user_registration_comes_before_builtins(void **state)
{
    (void)state;
    my_transport t = {0};
    hbeat_error err = HBEAT_ERROR_INIT;
    hbeat_gateway *gw = NULL;

    /* Overriding a built-in is allowed (it is not a user duplicate). */
    assert_int_equal(hbeat_transport_register("fake", mine_open, &t, &err), 0);
    assert_int_equal(hbeat_gateway_open(&gw, "fake://", NULL, &err), 0);
    assert_int_equal(t.opens, 1);
    assert_string_equal(hbeat_gateway_transport(gw), "mine");
    hbeat_gateway_free(gw);
    gw = NULL;
    assert_int_equal(hbeat_gateway_open(&gw, "FAKE://", NULL, &err), 0);
    assert_int_equal(t.opens, 2);
    hbeat_gateway_free(gw);
    assert_int_equal(hbeat_transport_register("fake", mine_open, &t, &err), HBEAT_EEXIST);

    /* Removing the user's brings the built-in back. */
    assert_int_equal(hbeat_transport_unregister("fake", &err), 0);
    gw = NULL;
    assert_int_equal(hbeat_gateway_open(&gw, "fake://", NULL, &err), 0);
    assert_string_equal(hbeat_gateway_transport(gw), "fake");
    assert_int_equal(t.opens, 2);
    hbeat_gateway_free(gw);

    /* A built-in can be overridden even where it is not built in. */
    assert_int_equal(hbeat_transport_register("nng+tcp", mine_open, &t, &err), 0);
    gw = NULL;
    assert_int_equal(hbeat_gateway_open(&gw, "nng+tcp://127.0.0.1:1", NULL, &err), 0);
    assert_string_equal(hbeat_gateway_transport(gw), "mine");
    hbeat_gateway_free(gw);
    assert_int_equal(hbeat_transport_lookup("nng+tcp"), 0);
    assert_int_equal(hbeat_transport_unregister("nng+tcp", &err), 0);
}

static void test_builtins_cannot_be_unregistered(void **state)
{
    (void)state;
    static const char *const builtins[] = {"fake",    "http",    "https",
                                           "nng+tcp", "nng+ipc", "nng+inproc"};
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++) {
        hbeat_error err = HBEAT_ERROR_INIT;
        int before = hbeat_transport_lookup(builtins[i]);
        assert_int_equal(hbeat_transport_unregister(builtins[i], &err), HBEAT_ESCHEME);
        assert_true(err.message[0] != '\0');
        assert_int_equal(hbeat_transport_lookup(builtins[i]), before);
    }
    hbeat_gateway *gw = NULL;
    assert_int_equal(hbeat_gateway_open(&gw, "fake://", NULL, NULL), 0);
    hbeat_gateway_free(gw);
}

static void test_bad_schemes_are_refused(void **state)
{
    (void)state;
    my_transport t = {0};
    static const char *const bad[] = {"",       "1abc",  "+abc", "-abc",
                                      ".abc",   "a b",   "a_b",  "a/b",
                                      "a:b",    "ab://", "a\tb", "\xc3\xa9t\xc3\xa9",
                                      "ab\x7f", "a@b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hbeat_error err = HBEAT_ERROR_INIT;
        int rc = hbeat_transport_register(bad[i], mine_open, &t, &err);
        if (rc != HBEAT_EINVAL) {
            if (rc == 0) {
                hbeat_transport_unregister(bad[i], NULL);
            }
            fail_msg("scheme \"%s\": expected HBEAT_EINVAL, got %d", bad[i], rc);
        }
        assert_true(err.message[0] != '\0');
    }
    /* Length: HBEAT_SCHEME_MAX bytes is the most. */
    char scheme[HBEAT_SCHEME_MAX + 2];
    memset(scheme, 'z', sizeof scheme);
    scheme[HBEAT_SCHEME_MAX] = '\0';
    assert_int_equal(hbeat_transport_register(scheme, mine_open, &t, NULL), 0);
    assert_int_equal(hbeat_transport_lookup(scheme), 0);
    assert_int_equal(hbeat_transport_unregister(scheme, NULL), 0);
    scheme[HBEAT_SCHEME_MAX] = 'z';
    scheme[HBEAT_SCHEME_MAX + 1] = '\0';
    assert_int_equal(hbeat_transport_register(scheme, mine_open, &t, NULL), HBEAT_EINVAL);

    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_transport_register(NULL, mine_open, &t, &err), HBEAT_EINVAL);
    assert_true(err.message[0] != '\0');
    assert_int_equal(hbeat_transport_register("okscheme", NULL, &t, &err), HBEAT_EINVAL);
    assert_int_equal(hbeat_transport_lookup("okscheme"), HBEAT_ESCHEME);
    assert_true(hbeat_transport_unregister(NULL, &err) < 0);
    /* NULL data is allowed: it is the factory's business. */
    assert_int_equal(hbeat_transport_register("nulldata", mine_open, NULL, &err), 0);
    assert_int_equal(hbeat_transport_unregister("nulldata", &err), 0);
    assert_true(hbeat_transport_lookup(NULL) < 0);
    assert_true(hbeat_transport_lookup("") < 0);
}

static void check_builtin(const char *scheme, const char *url, int built)
{
    int want = built ? 0 : HBEAT_ENOTBUILT;
    int got = hbeat_transport_lookup(scheme);
    if (got != want) {
        fail_msg("lookup(\"%s\") = %d, want %d", scheme, got, want);
    }
    if (!built) {
        hbeat_gateway *gw = NULL;
        hbeat_error err = HBEAT_ERROR_INIT;
        int rc = hbeat_gateway_open(&gw, url, NULL, &err);
        if (rc != HBEAT_ENOTBUILT) {
            hbeat_gateway_free(gw);
            fail_msg("open(\"%s\") = %d, want HBEAT_ENOTBUILT", url, rc);
        }
        assert_true(err.message[0] != '\0');
    }
}

static void test_known_but_not_built_in(void **state)
{
    (void)state;
#ifdef HBEAT_WITH_REST
    const int rest = 1;
#else
    const int rest = 0;
#endif
#ifdef HBEAT_WITH_NNG
    const int nng = 1;
#else
    const int nng = 0;
#endif
#ifdef HBEAT_WITH_GRPC
    const int grpc = 1;
#else
    const int grpc = 0;
#endif
    check_builtin("fake", "fake://", 1);
    check_builtin("http", "http://127.0.0.1:1/api/v3", rest);
    check_builtin("https", "https://127.0.0.1:1/api/v3", rest);
    check_builtin("HTTP", "HTTP://127.0.0.1:1/api/v3", rest);
    check_builtin("nng+tcp", "nng+tcp://127.0.0.1:1", nng);
    check_builtin("nng+ipc", "nng+ipc:///tmp/hbeat-no-such.sock", nng);
    check_builtin("nng+inproc", "nng+inproc://hbeat-no-such", nng);
    check_builtin("NNG+TCP", "NNG+TCP://127.0.0.1:1", nng);
    check_builtin("grpc", "grpc://127.0.0.1:1", grpc);
    check_builtin("grpcs", "grpcs://127.0.0.1:1", grpc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown_scheme),
        cmocka_unit_test(test_malformed_url),
        cmocka_unit_test(test_options_version),
        cmocka_unit_test(test_scheme_matching_ignores_case),
        cmocka_unit_test(test_register_open_unregister),
        cmocka_unit_test(test_unregister_is_case_insensitive),
        cmocka_unit_test(test_duplicate_registration),
        cmocka_unit_test(test_user_registration_comes_before_builtins),
        cmocka_unit_test(test_builtins_cannot_be_unregistered),
        cmocka_unit_test(test_bad_schemes_are_refused),
        cmocka_unit_test(test_known_but_not_built_in),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
