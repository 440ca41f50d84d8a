/* hbeatd's command line and environment. */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hbeat/log.h"
#include "server/options.h"
#include "server/store.h"

static hbd_options o;
static char err[256];

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

static int clear_env(void **state)
{
    unsetenv("HBEATD_LISTEN");
    unsetenv("HBEATD_HTTP");
    unsetenv("HBEATD_DB");
    unsetenv("HBEATD_LOG_LEVEL");
    unsetenv("HBEATD_SYNC");
    return 0;
}

static void test_defaults(void **state)
{
    const char *none[] = {NULL};
    assert_int_equal(parse(none), 0);
    assert_int_equal(o.nlisten, 1);
    assert_string_equal(o.listen[0], "tcp://127.0.0.1:7781");
    assert_true(o.http_enabled);
    assert_string_equal(o.http_host, "127.0.0.1");
    assert_int_equal(o.http_port, 7780);
    assert_string_equal(o.db, "./hbeatd.db");
    assert_true(o.reap_interval == 10.0);
    assert_true(o.reap_grace < 0);
    assert_null(o.ready_file);
    assert_int_equal(o.log_level, HBEAT_LOG_INFO);
}

static void test_flags(void **state)
{
    const char *args[] = {"--listen",
                          "tcp://127.0.0.1:0",
                          "--listen=ipc:///tmp/x.sock",
                          "--http",
                          "[::1]:0",
                          "--db",
                          ":memory:",
                          "--reap-interval",
                          "0.05",
                          "--reap-grace=0",
                          "--ready-file",
                          "/tmp/r",
                          "--log-level",
                          "debug",
                          NULL};
    assert_int_equal(parse(args), 0);
    assert_int_equal(o.nlisten, 2);
    assert_string_equal(o.listen[1], "ipc:///tmp/x.sock");
    assert_string_equal(o.http_host, "::1");
    assert_int_equal(o.http_port, 0);
    assert_string_equal(o.db, ":memory:");
    assert_true(o.reap_interval == 0.05);
    assert_true(o.reap_grace == 0);
    assert_string_equal(o.ready_file, "/tmp/r");
    assert_int_equal(o.log_level, HBEAT_LOG_DEBUG);
    const char *none[] = {"--http", "none", NULL};
    assert_int_equal(parse(none), 0);
    assert_false(o.http_enabled);
    const char *help[] = {"--help", "--version", NULL};
    assert_int_equal(parse(help), 0);
    assert_true(o.help && o.version);
}

static void test_environment(void **state)
{
    setenv("HBEATD_LISTEN", "tcp://127.0.0.1:1, ipc:///tmp/a.sock", 1);
    setenv("HBEATD_HTTP", "0.0.0.0:8080", 1);
    setenv("HBEATD_DB", "/var/lib/hbeatd.db", 1);
    setenv("HBEATD_LOG_LEVEL", "warn", 1);
    /* 0.0.0.0 without a token file needs --allow-remote. */
    const char *none[] = {"--allow-remote", NULL};
    assert_int_equal(parse(none), 0);
    assert_int_equal(o.nlisten, 2);
    assert_string_equal(o.listen[0], "tcp://127.0.0.1:1");
    assert_string_equal(o.listen[1], "ipc:///tmp/a.sock");
    assert_string_equal(o.http_host, "0.0.0.0");
    assert_int_equal(o.http_port, 8080);
    assert_string_equal(o.db, "/var/lib/hbeatd.db");
    assert_int_equal(o.log_level, HBEAT_LOG_WARN);
    /* The command line wins, and its --listen replaces the env list. */
    const char *args[] = {"--listen", "tcp://127.0.0.1:2", "--db", "x.db", "--log-level",
                          "error",    "--allow-remote",    NULL};
    assert_int_equal(parse(args), 0);
    assert_int_equal(o.nlisten, 1);
    assert_string_equal(o.listen[0], "tcp://127.0.0.1:2");
    assert_string_equal(o.db, "x.db");
    assert_int_equal(o.log_level, HBEAT_LOG_ERROR);
    setenv("HBEATD_HTTP", "nonsense", 1);
    assert_int_equal(parse(none), -1);
    assert_non_null(strstr(err, "--http"));
    clear_env(state);
}

static void test_errors(void **state)
{
    const char *const bad[][3] = {
        {"--nope", NULL},
        {"stray", NULL},
        {"--db", NULL},
        {"--db", "", NULL},
        {"--reap-interval", "0", NULL},
        {"--reap-interval", "1e9", NULL},
        {"--reap-interval", "inf", NULL},
        {"--reap-interval", "1s", NULL},
        {"--reap-grace", "-0.5", NULL},
        {"--http", ":80", NULL},
        {"--http", "1.2.3.4", NULL},
        {"--http", "1.2.3.4:", NULL},
        {"--http", "1.2.3.4:65536", NULL},
        {"--http", "host.example:80", NULL},
        {"--listen", "127.0.0.1:7781", NULL},
        {"--log-level", "verbose", NULL},
        {"--ready-file", "", NULL},
        {"--a-very-long-option-name-that-is-unknown", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (parse(bad[i]) != -1)
            fail_msg("accepted: %s %s", bad[i][0], bad[i][1] ? bad[i][1] : "");
        assert_true(strlen(err) > 0);
    }
    /* Nothing to serve at all. */
    setenv("HBEATD_LISTEN", " , ", 1);
    const char *none[] = {"--http", "none", NULL};
    assert_int_equal(parse(none), -1);
    clear_env(state);
    /* Too many listeners. */
    const char *many[2 * HBD_MAX_LISTEN + 3];
    int n = 0;
    for (int i = 0; i <= HBD_MAX_LISTEN; i++) {
        many[n++] = "--listen";
        many[n++] = "inproc://x";
    }
    many[n] = NULL;
    assert_int_equal(parse(many), -1);
}

/* --sync and HBEATD_SYNC: the flag wins; a bad value is a usage error. */
static void test_sync(void **state)
{
    (void)state;
    assert_int_equal(parse((const char *const[]){NULL}), 0);
    assert_int_equal(o.sync, HBD_SYNC_DEFAULT);
    assert_int_equal(parse((const char *const[]){"--sync", "full", NULL}), 0);
    assert_int_equal(o.sync, HBD_SYNC_FULL);
    assert_int_equal(parse((const char *const[]){"--sync=normal", NULL}), 0);
    assert_int_equal(o.sync, HBD_SYNC_NORMAL);
    setenv("HBEATD_SYNC", "changes", 1);
    assert_int_equal(parse((const char *const[]){NULL}), 0);
    assert_int_equal(o.sync, HBD_SYNC_CHANGES);
    assert_int_equal(parse((const char *const[]){"--sync", "full", NULL}), 0);
    assert_int_equal(o.sync, HBD_SYNC_FULL);
    setenv("HBEATD_SYNC", "always", 1);
    assert_int_equal(parse((const char *const[]){NULL}), -1);
    assert_non_null(strstr(err, "HBEATD_SYNC"));
    unsetenv("HBEATD_SYNC");
    assert_int_equal(parse((const char *const[]){"--sync", "FULL", NULL}), -1);
    assert_non_null(strstr(err, "--sync"));
}

/* --min-request-rate: REST's minimum rate for a request, 0 to turn it off;
   whole bytes per second. */
static void test_min_request_rate(void **state)
{
    (void)state;
    assert_int_equal(parse((const char *const[]){NULL}), 0);
    assert_int_equal(o.min_request_rate, HBD_DEFAULT_MIN_REQUEST_RATE);
    assert_int_equal(o.min_request_rate, 500);
    assert_int_equal(parse((const char *const[]){"--min-request-rate", "2048", NULL}), 0);
    assert_int_equal(o.min_request_rate, 2048);
    assert_int_equal(parse((const char *const[]){"--min-request-rate=0", NULL}), 0);
    assert_int_equal(o.min_request_rate, 0);
    const char *const bad[][3] = {
        {"--min-request-rate", "-1", NULL},   {"--min-request-rate", "1.5", NULL},
        {"--min-request-rate", "fast", NULL}, {"--min-request-rate", "1073741825", NULL},
        {"--min-request-rate", "", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (parse(bad[i]) != -1)
            fail_msg("--min-request-rate '%s' was accepted", bad[i][1]);
        assert_non_null(strstr(err, "--min-request-rate"));
    }
    assert_int_equal(parse((const char *const[]){"--min-request-rate", NULL}), -1);
    assert_non_null(strstr(err, "--min-request-rate needs a value"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, clear_env),
        cmocka_unit_test_setup(test_flags, clear_env),
        cmocka_unit_test_setup(test_environment, clear_env),
        cmocka_unit_test_setup(test_errors, clear_env),
        cmocka_unit_test_setup(test_sync, clear_env),
        cmocka_unit_test_setup(test_min_request_rate, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
