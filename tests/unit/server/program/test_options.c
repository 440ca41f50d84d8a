/* hbeatd's command line and environment. */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hbeat/log.h"
#include "options.h"
#include "store.h"

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

/* Every flag's variable, as --help names them. */
static const char *const variables[] = {"HBEATD_CONFIG",
                                        "HBEATD_LISTEN",
                                        "HBEATD_HTTP",
                                        "HBEATD_DB",
                                        "HBEATD_SYNC",
                                        "HBEATD_REAP_INTERVAL",
                                        "HBEATD_REAP_GRACE",
                                        "HBEATD_READY_FILE",
                                        "HBEATD_LOG_LEVEL",
                                        "HBEATD_TLS_CERT",
                                        "HBEATD_TLS_KEY",
                                        "HBEATD_TLS_CLIENT_CA",
                                        "HBEATD_TOKEN_FILE",
                                        "HBEATD_ALLOW_REMOTE",
                                        "HBEATD_MAX_REQUEST",
                                        "HBEATD_MAX_CONNECTIONS",
                                        "HBEATD_MAX_CONNECTIONS_PER_IP",
                                        "HBEATD_READ_TIMEOUT",
                                        "HBEATD_MIN_REQUEST_RATE"};

static int clear_env(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof variables / sizeof variables[0]; i++)
        unsetenv(variables[i]);
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

/* Every flag has its variable, which the command line overrides, and a
   bad value in a variable names the variable. */
static void test_every_flag_has_its_variable(void **state)
{
    (void)state;
    static const char *const values[][2] = {
        {"HBEATD_REAP_INTERVAL", "3"},   {"HBEATD_REAP_GRACE", "7"},
        {"HBEATD_READY_FILE", "/tmp/r"}, {"HBEATD_TLS_CERT", "c.pem"},
        {"HBEATD_TLS_KEY", "k.pem"},     {"HBEATD_TLS_CLIENT_CA", "ca.pem"},
        {"HBEATD_ALLOW_REMOTE", "yes"},  {"HBEATD_MAX_REQUEST", "2048"},
        {"HBEATD_MAX_CONNECTIONS", "9"}, {"HBEATD_MAX_CONNECTIONS_PER_IP", "4"},
        {"HBEATD_READ_TIMEOUT", "2.5"},  {"HBEATD_MIN_REQUEST_RATE", "100"},
        {"HBEATD_TOKEN_FILE", "/t"}};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
        setenv(values[i][0], values[i][1], 1);
    assert_int_equal(parse((const char *const[]){NULL}), 0);
    assert_true(o.reap_interval == 3.0);
    assert_true(o.reap_grace == 7.0);
    assert_string_equal(o.ready_file, "/tmp/r");
    assert_string_equal(o.tls_cert, "c.pem");
    assert_string_equal(o.tls_key, "k.pem");
    assert_string_equal(o.tls_client_ca, "ca.pem");
    assert_true(o.allow_remote);
    assert_int_equal(o.max_request, 2048);
    assert_int_equal(o.max_connections, 9);
    assert_int_equal(o.max_connections_per_ip, 4);
    assert_true(o.read_timeout == 2.5);
    assert_int_equal(o.min_request_rate, 100);
    assert_string_equal(o.token_file, "/t");
    /* The command line wins. */
    assert_int_equal(
        parse((const char *const[]){"--max-request", "4096", "--read-timeout", "1", NULL}), 0);
    assert_int_equal(o.max_request, 4096);
    assert_true(o.read_timeout == 1.0);
    setenv("HBEATD_ALLOW_REMOTE", "0", 1);
    assert_int_equal(parse((const char *const[]){NULL}), 0);
    assert_false(o.allow_remote);
    clear_env(NULL);

    /* A bad value names its variable. */
    static const char *const bad[][2] = {{"HBEATD_MAX_REQUEST", "12k"},
                                         {"HBEATD_READ_TIMEOUT", "0"},
                                         {"HBEATD_ALLOW_REMOTE", "maybe"},
                                         {"HBEATD_REAP_INTERVAL", "nan"},
                                         {"HBEATD_MAX_CONNECTIONS", "0"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv(bad[i][0], bad[i][1], 1);
        if (parse((const char *const[]){NULL}) != -1)
            fail_msg("%s=%s was accepted", bad[i][0], bad[i][1]);
        assert_non_null(strstr(err, bad[i][0]));
        unsetenv(bad[i][0]);
    }
    /* A switch takes no value on the command line. */
    assert_int_equal(parse((const char *const[]){"--allow-remote=1", NULL}), -1);
    assert_non_null(strstr(err, "--allow-remote takes no value"));
}

/* --help is written from the same table: each flag with its variable and,
   where there is one, its default. */
static void test_help_names_every_variable_and_default(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    hbd_options_usage(f);
    fclose(f);
    for (size_t i = 0; i < sizeof variables / sizeof variables[0]; i++) {
        if (strstr(text, variables[i]) == NULL)
            fail_msg("--help does not name %s", variables[i]);
    }
    static const char *const defaults[] = {
        "(default 65536)", "(default 1024)", "(default 256)",  "(default 30)",
        "(default 500)",   "(default 10)",   "(default info)", "(default ./hbeatd.db)"};
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
        if (strstr(text, defaults[i]) == NULL)
            fail_msg("--help does not say %s", defaults[i]);
    }
    free(text);
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
        cmocka_unit_test_setup(test_every_flag_has_its_variable, clear_env),
        cmocka_unit_test_setup(test_help_names_every_variable_and_default, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
