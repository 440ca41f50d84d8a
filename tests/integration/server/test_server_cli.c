/*
 * hbeatd's command line as a user meets it: --help, --version, usage
 * errors (exit 2), runtime failures (exit 1), environment fallbacks.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "nng_client.h"
#include "support/hbeatd_harness.h"

static hbd_harness h;
static char out[8192];

static int teardown(void **state)
{
    hbd_harness_cleanup(&h);
    return 0;
}

/* "K=V" into the environment (in a child). */
static void set_env(const char *kv)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", kv);
    char *eq = strchr(buf, '=');
    if (eq != NULL) {
        *eq = '\0';
        setenv(buf, eq + 1, 1);
    }
}

/* Runs hbeatd with argv (NULL-terminated) and env overrides ("K=V"...),
   its stdout+stderr into `out`. Returns the exit status, or -1 when it was
   still running after 10 s (then it is killed) or died by a signal. */
static int run(const char *const *argv, const char *const *env)
{
    char path[] = "/tmp/hbd-cli-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        for (; env != NULL && *env != NULL; env++)
            set_env(*env);
        const char *args[32];
        int n = 0;
        args[n++] = HBEATD_PATH;
        for (; argv[n - 1] != NULL && n < 31; n++)
            args[n] = argv[n - 1];
        args[n] = NULL;
        execv(HBEATD_PATH, (char *const *)args);
        _exit(127);
    }
    int status = 0, exited = 0;
    for (int waited = 0; waited < 10000 && !exited; waited += 5) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            exited = 1;
        else
            tc_sleep_ms(5);
    }
    if (!exited) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    ssize_t len = pread(fd, out, sizeof out - 1, 0);
    out[len > 0 ? len : 0] = '\0';
    close(fd);
    if (!exited || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

static void test_help_and_version(void **state)
{
    const char *help[] = {"--help", NULL};
    assert_int_equal(run(help, NULL), 0);
    const char *flags[] = {"--listen",     "--http",       "--db",        "--reap-interval",
                           "--reap-grace", "--ready-file", "--log-level", "--version",
                           "HBEATD_DB",    "Exit status"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        if (strstr(out, flags[i]) == NULL)
            fail_msg("--help does not mention %s", flags[i]);
    }
    const char *version[] = {"--version", NULL};
    assert_int_equal(run(version, NULL), 0);
    assert_non_null(strstr(out, "hbeatd "));
}

static void test_usage_errors_exit_2(void **state)
{
    const char *const cases[][5] = {
        {"--bogus", NULL},
        {"extra-argument", NULL},
        {"--listen", NULL},
        {"--reap-interval", "0", NULL},
        {"--reap-interval", "-1", NULL},
        {"--reap-interval", "soon", NULL},
        {"--reap-interval", "nan", NULL},
        {"--reap-grace", "-1", NULL},
        {"--http", "localhost", NULL},
        {"--http", "127.0.0.1:99999", NULL},
        {"--http", "example.com:80", NULL},
        {"--log-level", "loud", NULL},
        {"--listen", "not-a-url", NULL},
        {"--listen", "bogus://x", "--http", "none"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = run(cases[i], NULL);
        if (rc != 2)
            fail_msg("hbeatd %s %s: exit %d, expected 2; output:\n%s", cases[i][0],
                     cases[i][1] ? cases[i][1] : "", rc, out);
        if (strlen(out) == 0)
            fail_msg("hbeatd %s: no message", cases[i][0]);
    }
    const char *env_bad[] = {"HBEATD_LOG_LEVEL=chatty", NULL};
    const char *none[] = {NULL};
    assert_int_equal(run(none, env_bad), 2);
    assert_non_null(strstr(out, "HBEATD_LOG_LEVEL"));
#ifdef HBEAT_TEST_NO_GRPC
    /* Built without gRPC: --grpc is a usage error that says so. */
    const char *grpc[] = {
        "--grpc", "127.0.0.1:0", "--listen", "tcp://127.0.0.1:0", "--http", "none",
        "--db",   ":memory:",    NULL};
    assert_int_equal(run(grpc, NULL), 2);
    assert_non_null(strstr(out, "built without gRPC"));
#endif
}

static void test_runtime_failures_exit_1(void **state)
{
    /* A store that cannot be opened. */
    const char *nodir[] = {"--db",     "/nonexistent-dir/hbeatd.db", "--http", "none",
                           "--listen", "tcp://127.0.0.1:0",          NULL};
    assert_int_equal(run(nodir, NULL), 1);
    assert_non_null(strstr(out, "store"));

    /* An address in use, and a store in use by another hbeatd. */
    assert_int_equal(hbd_harness_start(&h, NULL), 0);
    char busy[64];
    snprintf(busy, sizeof busy, "tcp://127.0.0.1:%d", h.tcp_port);
    const char *inuse[] = {"--listen", busy, "--http", "none", "--db", ":memory:", NULL};
    assert_int_equal(run(inuse, NULL), 1);
    const char *locked[] = {"--listen", "tcp://127.0.0.1:0", "--http", "none",
                            "--db",     h.db_path,           NULL};
    assert_int_equal(run(locked, NULL), 1);
    assert_non_null(strstr(out, "locked"));
    assert_int_equal(hbd_harness_stop(&h), 0);
}

static void test_environment(void **state)
{
    /* Start through the harness for a temp dir, then run a second server
       configured by environment only. */
    assert_int_equal(hbd_harness_start(&h, NULL), 0);
    char db[600], ready[600], env_db[700], listen[] = "HBEATD_LISTEN=tcp://127.0.0.1:0";
    snprintf(db, sizeof db, "%s/env.db", h.dir);
    snprintf(ready, sizeof ready, "%s/env-ready", h.dir);
    snprintf(env_db, sizeof env_db, "HBEATD_DB=%s", db);
    const char *env[] = {listen, env_db, "HBEATD_HTTP=none", "HBEATD_LOG_LEVEL=debug", NULL};
    const char *argv[] = {"--ready-file", ready, NULL};

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, STDERR_FILENO);
        for (const char *const *e = env; *e != NULL; e++)
            set_env(*e);
        execl(HBEATD_PATH, HBEATD_PATH, argv[0], argv[1], (char *)NULL);
        _exit(127);
    }
    FILE *f = NULL;
    for (int waited = 0; waited < 10000 && f == NULL; waited += 5) {
        if ((f = fopen(ready, "r")) == NULL)
            tc_sleep_ms(5);
    }
    int ok = f != NULL;
    char line[256] = "";
    if (f != NULL) {
        ok = fgets(line, sizeof line, f) != NULL;
        fclose(f);
    }
    struct stat st;
    int db_made = stat(db, &st) == 0;
    kill(pid, SIGTERM);
    int status;
    waitpid(pid, &status, 0);
    assert_true(ok);
    /* Listening where HBEATD_LISTEN said, with a free port picked. */
    assert_non_null(strstr(line, "nng tcp://127.0.0.1:"));
    assert_null(strstr(line, ":0\n"));
    assert_true(db_made);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* The ready file goes away with a clean stop. */
    assert_int_not_equal(access(ready, F_OK), 0);
    assert_int_equal(hbd_harness_stop(&h), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_and_version),
        cmocka_unit_test(test_usage_errors_exit_2),
        cmocka_unit_test_teardown(test_runtime_failures_exit_1, teardown),
        cmocka_unit_test_teardown(test_environment, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
