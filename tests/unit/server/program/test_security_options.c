/*
 * hbeatd's security flags (src/server/options.c): which listen addresses
 * count as local, the loopback-only rule without a token file, the TLS
 * flags that go together, and the limits' bounds and defaults.
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "options.h"
#include "sp_url.h"

static hbd_options o;
static char err[512];

static int parse(const char *const *args)
{
    char *argv[64];
    int argc = 0;
    argv[argc++] = "hbeatd";
    for (; *args != NULL; args++)
        argv[argc++] = (char *)*args;
    argv[argc] = NULL;
    err[0] = '\0';
    return hbd_options_parse(&o, argc, argv, err, sizeof err);
}

static int clean_env(void **state)
{
    (void)state;
    const char *vars[] = {"HBEATD_LISTEN",    "HBEATD_HTTP",         "HBEATD_DB",
                          "HBEATD_LOG_LEVEL", "HBEATD_TOKEN_FILE",   "HBEATD_TLS_CERT",
                          "HBEATD_TLS_KEY",   "HBEATD_TLS_CLIENT_CA"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
    return 0;
}

static void test_local_addresses(void **state)
{
    (void)state;
    const char *local[] = {"tcp://127.0.0.1:7781", "tcp://127.1.2.3:1",     "tcp://[::1]:7781",
                           "tcp://localhost:7781", "tls+tcp://127.0.0.1:0", "ipc:///tmp/x.sock",
                           "tcp4://127.0.0.1:5",   "tcp6://[::1]:5",        "IPC:///tmp/x.sock",
                           "TCP://127.0.0.1:1"};
    for (size_t i = 0; i < sizeof local / sizeof local[0]; i++) {
        if (!hbd_sp_url_is_local(local[i]))
            fail_msg("%s should count as local", local[i]);
    }
    const char *remote[] = {"tcp://127.0.0.1@0.0.0.0:7781",
                            "ws://[::1]@0.0.0.0:7781/hbeat",
                            "tcp://127.0.0.1:1@",
                            "TCP://0.0.0.0:1",
                            "tcp://0.0.0.0:7781",
                            "tcp://[::]:7781",
                            "tcp://*:7781",
                            "tcp://:7781",
                            "tcp://10.0.0.1:7781",
                            "tcp://example.org:1",
                            "tls+tcp://[::ffff:127.0.0.1]:1",
                            "zt://abc",
                            "inproc://x",
                            "ws://127.0.0.1:80/x",
                            "tcp://127.0.0.1:7781/x",
                            "ipc://relative.sock",
                            "nonsense",
                            "tcp://[::1:7781",
                            "tcp://128.0.0.1:7781",
                            "tcp://localhost.evil:1"};
    for (size_t i = 0; i < sizeof remote / sizeof remote[0]; i++) {
        if (hbd_sp_url_is_local(remote[i]))
            fail_msg("%s should count as remote", remote[i]);
    }
    assert_true(hbd_host_is_loopback("127.0.0.1"));
    assert_true(hbd_host_is_loopback("::1"));
    assert_false(hbd_host_is_loopback("0.0.0.0"));
    assert_false(hbd_host_is_loopback("::"));
}

static void test_loopback_only_without_tokens(void **state)
{
    (void)state;
    const char *defaults[] = {NULL};
    assert_int_equal(parse(defaults), 0);
    assert_null(o.token_file);
    assert_false(o.allow_remote);

    const char *remote_nng[] = {"--listen", "tcp://0.0.0.0:7781", NULL};
    assert_int_equal(parse(remote_nng), -1);
    assert_non_null(strstr(err, "tcp://0.0.0.0:7781 is not a loopback address"));
    assert_non_null(strstr(err, "--token-file"));
    assert_non_null(strstr(err, "--allow-remote"));
    const char *remote_http[] = {"--http", "[::]:7780", NULL};
    assert_int_equal(parse(remote_http), -1);
    assert_non_null(strstr(err, "--http ::"));
    const char *allowed[] = {"--listen",     "tcp://0.0.0.0:7781", "--http",
                             "0.0.0.0:7780", "--allow-remote",     NULL};
    assert_int_equal(parse(allowed), 0);
    assert_true(o.allow_remote);
    const char *with_tokens[] = {"--listen", "tcp://0.0.0.0:7781", "--token-file", "/t", NULL};
    assert_int_equal(parse(with_tokens), 0);
    assert_string_equal(o.token_file, "/t");
    /* The environment counts as much as the flag. */
    setenv("HBEATD_HTTP", "0.0.0.0:80", 1);
    assert_int_equal(parse(defaults), -1);
    setenv("HBEATD_TOKEN_FILE", "/etc/hbeatd/tokens", 1);
    assert_int_equal(parse(defaults), 0);
    assert_string_equal(o.token_file, "/etc/hbeatd/tokens");
    clean_env(NULL);
}

static void test_tls_flags(void **state)
{
    (void)state;
    const char *ok[] = {"--tls-cert",
                        "c.pem",
                        "--tls-key",
                        "k.pem",
                        "--tls-client-ca",
                        "ca.pem",
                        "--listen",
                        "tls+tcp://127.0.0.1:7781",
                        NULL};
    assert_int_equal(parse(ok), 0);
    assert_string_equal(o.tls_cert, "c.pem");
    assert_string_equal(o.tls_key, "k.pem");
    assert_string_equal(o.tls_client_ca, "ca.pem");
    const char *cert_only[] = {"--tls-cert", "c.pem", NULL};
    assert_int_equal(parse(cert_only), -1);
    assert_non_null(strstr(err, "--tls-cert and --tls-key go together"));
    const char *key_only[] = {"--tls-key", "k.pem", NULL};
    assert_int_equal(parse(key_only), -1);
    const char *ca_only[] = {"--tls-client-ca", "ca.pem", NULL};
    assert_int_equal(parse(ca_only), -1);
    assert_non_null(strstr(err, "--tls-client-ca needs"));
    const char *tls_url[] = {"--listen", "tls+tcp://127.0.0.1:1", NULL};
    assert_int_equal(parse(tls_url), -1);
    assert_non_null(strstr(err, "needs --tls-cert and --tls-key"));
    const char *empty[] = {"--tls-cert=", "--tls-key", "k", NULL};
    assert_int_equal(parse(empty), -1);
    assert_non_null(strstr(err, "empty path"));
}

static void test_limits(void **state)
{
    (void)state;
    const char *defaults[] = {NULL};
    assert_int_equal(parse(defaults), 0);
    assert_int_equal(o.max_request, 65536);
    assert_int_equal(o.max_connections, 1024);
    assert_int_equal(o.max_connections_per_ip, 256);
    assert_true(o.read_timeout == 30.0);
    const char *set[] = {"--max-request=1024",
                         "--max-connections",
                         "1",
                         "--max-connections-per-ip",
                         "0",
                         "--read-timeout",
                         "0.5",
                         NULL};
    assert_int_equal(parse(set), 0);
    assert_int_equal(o.max_request, 1024);
    assert_int_equal(o.max_connections, 1);
    assert_int_equal(o.max_connections_per_ip, 0);
    assert_true(o.read_timeout == 0.5);
    const char *const bad[][3] = {
        {"--max-request", "1023", NULL},
        {"--max-request", "67108865", NULL},
        {"--max-request", "-5", NULL},
        {"--max-request", "12k", NULL},
        {"--max-connections", "0", NULL},
        {"--max-connections", "1000001", NULL},
        {"--max-connections-per-ip", "x", NULL},
        {"--read-timeout", "0", NULL},
        {"--read-timeout", "3601", NULL},
        {"--read-timeout", "nan", NULL},
        {"--max-request", "99999999999999999999999", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (parse(bad[i]) != -1)
            fail_msg("%s %s was accepted", bad[i][0], bad[i][1]);
        assert_non_null(strstr(err, bad[i][0]));
    }
}

static void test_allow_remote_takes_no_value(void **state)
{
    (void)state;
    const char *args[] = {"--allow-remote", "--db", ":memory:", NULL};
    assert_int_equal(parse(args), 0);
    assert_true(o.allow_remote);
    assert_string_equal(o.db, ":memory:");
}

int main(void)
{
    clean_env(NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_local_addresses),
        cmocka_unit_test(test_loopback_only_without_tokens),
        cmocka_unit_test(test_tls_flags),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_allow_remote_takes_no_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
