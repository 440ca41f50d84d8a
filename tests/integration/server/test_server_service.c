/*
 * hbeatd as a systemd service, without systemd: a datagram socket in a temp
 * dir stands in for systemd's notify socket ($NOTIFY_SOCKET, with
 * $WATCHDOG_USEC), and the real hbeatd is started with a configuration
 * file (--config) that SIGHUP then reports on.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/hbeatd_harness.h"

static hbd_harness h;
static char dir[64], sock_path[96], conf_path[96];
static int fd = -1;

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/hbeat-service-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(sock_path, sizeof sock_path, "%s/notify", dir);
    snprintf(conf_path, sizeof conf_path, "%s/hbeatd.conf", dir);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock_path);
    fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    /* A broken hbeatd fails the test rather than hanging it. */
    struct timeval tv = {20, 0};
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hbd_harness_cleanup(&h);
    close(fd);
    unlink(sock_path);
    unlink(conf_path);
    rmdir(dir);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    return 0;
}

static const char *next_datagram(void)
{
    static char buf[2048];
    ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
    if (n < 0)
        fail_msg("no datagram from hbeatd: %s", strerror(errno));
    buf[n] = '\0';
    return buf;
}

static void write_conf(const char *text)
{
    FILE *f = fopen(conf_path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* READY=1 first, with what hbeatd serves; then WATCHDOG=1 again and again;
   STOPPING=1 on SIGTERM. */
static void test_notify_protocol(void **state)
{
    (void)state;
    setenv("NOTIFY_SOCKET", sock_path, 1);
    setenv("WATCHDOG_USEC", "300000", 1);
    assert_int_equal(hbd_harness_start(&h, NULL), 0);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");

    const char *first = next_datagram();
    if (strncmp(first, "READY=1\nSTATUS=hbeatd ", 22) != 0)
        fail_msg("the first message is not READY=1 with a status: '%s'", first);
    char want[512];
    snprintf(want, sizeof want, " http %s", h.rest_url);
    assert_non_null(strstr(first, want));
    snprintf(want, sizeof want, " nng tcp://127.0.0.1:%d", h.tcp_port);
    assert_non_null(strstr(first, want));
    assert_non_null(strstr(first, " nng ipc://"));

    for (int i = 0; i < 3; i++)
        assert_string_equal(next_datagram(), "WATCHDOG=1");

    kill(h.pid, SIGTERM);
    const char *msg;
    while (strcmp(msg = next_datagram(), "WATCHDOG=1") == 0)
        ;
    assert_string_equal(msg, "STOPPING=1\nSTATUS=stopping (SIGTERM)");
    assert_int_equal(hbd_harness_stop(&h), 0);
}

/* Polls hbeatd's log for `text`, for at most 10 s. */
static int log_says(const char *text)
{
    for (int i = 0; i < 200; i++) {
        FILE *f = fopen(h.log_path, "r");
        if (f != NULL) {
            char line[1024];
            int found = 0;
            while (!found && fgets(line, sizeof line, f) != NULL)
                found = strstr(line, text) != NULL;
            fclose(f);
            if (found)
                return 1;
        }
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

/* The file's settings apply (the harness's own flags win over it); SIGHUP
   names what changed in it and was not reloaded. */
static void test_config_file_and_sighup(void **state)
{
    (void)state;
    write_conf("# hbeatd under test\nlog-level = debug\nmax-request = 4096\ndb = ignored.db\n");
    const char *args[] = {"--config", conf_path, NULL};
    assert_int_equal(hbd_harness_start(&h, args), 0);
    kill(h.pid, SIGHUP);
    char want[256];
    snprintf(want, sizeof want, "SIGHUP: %s is unchanged", conf_path);
    assert_true(log_says(want));
    assert_true(log_says("SIGHUP: no --token-file to reload"));

    write_conf("log-level = debug\nmax-request = 8192\nread-timeout = 5\ndb = ignored.db\n");
    kill(h.pid, SIGHUP);
    snprintf(want, sizeof want, "not reloaded, restart hbeatd to apply: max-request, read-timeout");
    assert_true(log_says(want));

    write_conf("bogus = 1\n");
    kill(h.pid, SIGHUP);
    snprintf(want, sizeof want, "SIGHUP: %s:1: unknown key 'bogus'", conf_path);
    assert_true(log_says(want));
    /* Still serving, and still stops cleanly. */
    assert_int_equal(hbd_harness_stop(&h), 0);
    /* The store went where the harness's --db said, not the file's. */
    assert_int_equal(access(h.db_path, F_OK), 0);
}

/* A bad file stops hbeatd before it serves, exit status 2, naming the
   file and line. */
static void test_bad_config_file(void **state)
{
    (void)state;
    write_conf("listen = tcp://127.0.0.1:0\n\nmax-connections = lots\n");
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s --config %s 2>&1", HBEATD_PATH, conf_path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char out[1024] = "";
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 2);
    char want[256];
    snprintf(want, sizeof want, "%s:3: max-connections: expected a whole number", conf_path);
    if (strstr(out, want) == NULL)
        fail_msg("hbeatd said '%s', not '%s'", out, want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_notify_protocol, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_file_and_sighup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_config_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
