/*
 * The example programs, run as a user would run them: each is started as a
 * child process and judged by its output and exit status. Every wait is
 * bounded; a program that hangs fails the test and is killed.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>

#include <cmocka.h>

#include "subprocess.h"

/* Generous: the programs take well under a second; this only bounds a hang. */
#define LIMIT 60.0

static void expect_out(const hb_proc *p, const char *needle)
{
    if (!strstr(p->out, needle))
        fail_msg("stdout lacks \"%s\"; stdout:\n%s\nstderr:\n%s", needle, p->out, p->err);
}

static void expect_err(const hb_proc *p, const char *needle)
{
    if (!strstr(p->err, needle))
        fail_msg("stderr lacks \"%s\"; stderr:\n%s", needle, p->err);
}

static void test_basic_stops_on_the_scripted_change(void **state)
{
    (void)state;
    hb_proc p;
    char *argv[] = {EXAMPLE_BASIC, NULL};
    assert_int_equal(hb_proc_run(&p, argv, NULL, LIMIT), 0);
    expect_out(&p, "heartbeating every 0.2 s");
    expect_out(&p, "beat 1: reported R, next beat expected within 0.62 s\n");
    expect_out(&p, "beat 2: reported R");
    expect_out(&p, "beat 3: reported R");
    expect_out(&p, "status change R -> C (cold resume)");
    /* The change is printed after the beat that brought it. */
    assert_true(strstr(p.out, "status change") > strstr(p.out, "beat 3:"));
    assert_int_equal(p.err_len, 0);
}

static void test_runtime_select_over_fake(void **state)
{
    (void)state;
    hb_proc p;
    char *argv[] = {EXAMPLE_RUNTIME_SELECT, "fake://", "5", "2", NULL};
    assert_int_equal(hb_proc_run(&p, argv, NULL, LIMIT), 0);
    expect_out(&p, "opened fake:// with the fake transport\n");
    expect_out(&p, "beat 1 run 5: server holds R\n");
    expect_out(&p, "beat 2 run 5: server holds R\n");
    assert_int_equal(hb_proc_count_lines(&p, "beat "), 2);
}

static void test_runtime_select_takes_hbeat_url(void **state)
{
    (void)state;
    hb_proc p;
    char *argv[] = {EXAMPLE_RUNTIME_SELECT, NULL};
    const char *env[] = {"HBEAT_URL=FAKE://", NULL};
    assert_int_equal(hb_proc_run(&p, argv, env, LIMIT), 0);
    expect_out(&p, "with the fake transport");
    assert_int_equal(hb_proc_count(&p, "server holds R"), 3);

    const char *unset[] = {"-HBEAT_URL", NULL};
    assert_int_equal(hb_proc_run(&p, argv, unset, LIMIT), 2);
    expect_err(&p, "usage: runtime_select");
}

static void test_runtime_select_reports_bad_urls(void **state)
{
    (void)state;
    hb_proc p;
    char *unknown[] = {EXAMPLE_RUNTIME_SELECT, "bogus://host", NULL};
    assert_int_equal(hb_proc_run(&p, unknown, NULL, LIMIT), 1);
    expect_err(&p, "cannot open bogus://host: unknown URL scheme");
    assert_int_equal(p.out_len, 0);

    char *no_scheme[] = {EXAMPLE_RUNTIME_SELECT, "localhost:7780", NULL};
    assert_int_not_equal(hb_proc_run(&p, no_scheme, NULL, LIMIT), 0);
    expect_err(&p, "cannot open localhost:7780");

    char *bad_run[] = {EXAMPLE_RUNTIME_SELECT, "fake://", "zero", NULL};
    assert_int_equal(hb_proc_run(&p, bad_run, NULL, LIMIT), 2);
}

/* custom_gateway against a socket of ours standing in for systemd. */
typedef struct notify_socket {
    char dir[64];
    char path[128];
    char env[160];
    int fd;
} notify_socket;

static void notify_open(notify_socket *n)
{
    snprintf(n->dir, sizeof n->dir, "/tmp/hbeat-example-XXXXXX");
    assert_non_null(mkdtemp(n->dir));
    snprintf(n->path, sizeof n->path, "%s/notify", n->dir);
    snprintf(n->env, sizeof n->env, "NOTIFY_SOCKET=%s", n->path);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, n->path, strlen(n->path) + 1);
    n->fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    assert_true(n->fd >= 0);
    assert_int_equal(bind(n->fd, (struct sockaddr *)&sa, sizeof sa), 0);
    struct timeval tv = {20, 0};
    assert_int_equal(setsockopt(n->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
}

static void notify_close(notify_socket *n)
{
    close(n->fd);
    unlink(n->path);
    rmdir(n->dir);
}

static void notify_recv(notify_socket *n, char *buf, size_t size)
{
    ssize_t got = recv(n->fd, buf, size - 1, 0);
    if (got < 0)
        fail_msg("no datagram from custom_gateway: %s", strerror(errno));
    buf[got] = '\0';
}

static void test_custom_gateway_feeds_the_watchdog_and_stops(void **state)
{
    (void)state;
    notify_socket n;
    hb_proc p;
    char buf[512];
    notify_open(&n);
    char *argv[] = {EXAMPLE_CUSTOM_GATEWAY, "sdnotify://", "0.1", NULL};
    const char *env[] = {n.env, "-WATCHDOG_USEC", "-WATCHDOG_PID", NULL};
    assert_int_equal(hb_proc_start(&p, argv, env), 0);

    notify_recv(&n, buf, sizeof buf);
    assert_string_equal(buf, "READY=1\nWATCHDOG=1\nWATCHDOG_USEC=200000\n"
                             "STATUS=run 1: R (running)\n");
    notify_recv(&n, buf, sizeof buf);
    assert_string_equal(buf, "WATCHDOG=1\n");
    notify_recv(&n, buf, sizeof buf);
    assert_string_equal(buf, "WATCHDOG=1\n");

    hb_proc_signal(&p, SIGTERM);
    /* Beats may still be on their way; the last datagram says it stops. */
    do {
        notify_recv(&n, buf, sizeof buf);
    } while (strcmp(buf, "WATCHDOG=1\n") == 0);
    assert_string_equal(buf, "STATUS=run 1: D (done)\nSTOPPING=1\n");
    assert_int_equal(hb_proc_wait_exit(&p, LIMIT), 0);
    expect_out(&p, "beating run 1 to sdnotify:// every 0.1 s");
    expect_out(&p, "stopped, run 1 is D");
    hb_proc_cleanup(&p);
    notify_close(&n);
}

/* Under systemd the interval comes from WATCHDOG_USEC, but only when
   WATCHDOG_PID is unset or names this process. */
static void test_custom_gateway_follows_watchdog_usec(void **state)
{
    (void)state;
    notify_socket n;
    hb_proc p;
    char buf[512];
    notify_open(&n);
    char *argv[] = {EXAMPLE_CUSTOM_GATEWAY, NULL};
    const char *mine[] = {n.env, "WATCHDOG_USEC=300000", "-WATCHDOG_PID", NULL};
    assert_int_equal(hb_proc_start(&p, argv, mine), 0);
    notify_recv(&n, buf, sizeof buf);
    assert_non_null(strstr(buf, "WATCHDOG_USEC=300000\n"));
    hb_proc_signal(&p, SIGINT);
    assert_int_equal(hb_proc_wait_exit(&p, LIMIT), 0);
    hb_proc_cleanup(&p);

    const char *other[] = {n.env, "WATCHDOG_USEC=300000", "WATCHDOG_PID=1", NULL};
    assert_int_equal(hb_proc_start(&p, argv, other), 0);
    do {
        notify_recv(&n, buf, sizeof buf);
    } while (!strstr(buf, "READY=1"));
    /* Not ours: the default of 1 s, so a 2 s window. */
    assert_non_null(strstr(buf, "WATCHDOG_USEC=2000000\n"));
    hb_proc_signal(&p, SIGTERM);
    assert_int_equal(hb_proc_wait_exit(&p, LIMIT), 0);
    hb_proc_cleanup(&p);
    notify_close(&n);
}

static void test_custom_gateway_without_systemd(void **state)
{
    (void)state;
    hb_proc p;
    char *argv[] = {EXAMPLE_CUSTOM_GATEWAY, NULL};
    const char *env[] = {"-NOTIFY_SOCKET", NULL};
    assert_int_equal(hb_proc_run(&p, argv, env, LIMIT), 1);
    expect_err(&p, "NOTIFY_SOCKET is not set");

    char *bad[] = {EXAMPLE_CUSTOM_GATEWAY, "sdnotify://", "-1", NULL};
    assert_int_equal(hb_proc_run(&p, bad, NULL, LIMIT), 2);
    expect_err(&p, "usage: custom_gateway");
}

static int kill_children(void **state)
{
    (void)state;
    hb_proc_kill_all();
    return 0;
}

int main(void)
{
    /* A child killed by the test must not take the test with it. */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_basic_stops_on_the_scripted_change, kill_children),
        cmocka_unit_test_teardown(test_runtime_select_over_fake, kill_children),
        cmocka_unit_test_teardown(test_runtime_select_takes_hbeat_url, kill_children),
        cmocka_unit_test_teardown(test_runtime_select_reports_bad_urls, kill_children),
        cmocka_unit_test_teardown(test_custom_gateway_feeds_the_watchdog_and_stops, kill_children),
        cmocka_unit_test_teardown(test_custom_gateway_follows_watchdog_usec, kill_children),
        cmocka_unit_test_teardown(test_custom_gateway_without_systemd, kill_children),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
