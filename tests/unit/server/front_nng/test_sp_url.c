/*
 * hbeatd's nng listen URLs (src/server/front/nng/sp_url.c): the forms it binds, and
 * everything else refused with a reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "sp_url.h"

static void test_forms(void **state)
{
    (void)state;
    hbd_sp_url u;
    char why[256];
    assert_int_equal(hbd_sp_url_parse("tcp://127.0.0.1:7781", &u, why, sizeof why), 0);
    assert_int_equal(u.scheme, HBD_SP_TCP);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 7781);
    assert_int_equal(u.family, 0);

    assert_int_equal(hbd_sp_url_parse("tls+tcp://[::1]:0", &u, why, sizeof why), 0);
    assert_int_equal(u.scheme, HBD_SP_TLS_TCP);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 0);

    assert_int_equal(hbd_sp_url_parse("TCP4://*:5", &u, why, sizeof why), 0);
    assert_string_equal(u.host, "");
    assert_int_equal(u.family, AF_INET);
    assert_int_equal(hbd_sp_url_parse("tcp6://:5", &u, why, sizeof why), 0);
    assert_int_equal(u.family, AF_INET6);

    assert_int_equal(hbd_sp_url_parse("ipc:///run/hbeatd.sock", &u, why, sizeof why), 0);
    assert_int_equal(u.scheme, HBD_SP_IPC);
    assert_string_equal(u.path, "/run/hbeatd.sock");
}

static void test_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "inproc://x",         "ws://127.0.0.1:80/x",    "tcp://127.0.0.1",
        "tcp://127.0.0.1:",   "tcp://127.0.0.1:x",      "tcp://127.0.0.1:65536",
        "tcp://a@b:1",        "tcp://127.0.0.1:1/x",    "tcp://[::1:1",
        "tcp://[::1]1",       "ipc://relative.sock",    "ipc://",
        "nonsense",           "tcp://ho st:1",          "tcp://127.0.0.1:123456",
        "tcp://127.0.0.1:-1", "tcp://%31%32%37.0.0.1:1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hbd_sp_url u;
        char why[256] = "";
        if (hbd_sp_url_parse(bad[i], &u, why, sizeof why) == 0)
            fail_msg("%s was taken", bad[i]);
        assert_true(why[0] != '\0');
    }
    char path[200] = "ipc:///";
    memset(path + 7, 'p', 150);
    hbd_sp_url u;
    assert_int_equal(hbd_sp_url_parse(path, &u, NULL, 0), -1);
}

static void test_local(void **state)
{
    (void)state;
    assert_true(hbd_sp_url_is_local("tcp://127.0.0.1:1"));
    assert_true(hbd_sp_url_is_local("tcp://localhost:1"));
    assert_true(hbd_sp_url_is_local("ipc:///tmp/x"));
    assert_false(hbd_sp_url_is_local("tcp://:1"));
    assert_false(hbd_sp_url_is_local("tcp://0.0.0.0:1"));
    assert_false(hbd_sp_url_is_local("tcp://example.org:1"));
    assert_false(hbd_sp_url_is_local("inproc://x"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forms),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_local),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
