/* hbeatd's sd_notify messages, read from a datagram socket standing in for
   systemd's, on a fake clock. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "service_notify.h"

static char dir[64], path[96];
static int fd = -1;

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/hbeat-notify-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/notify", dir);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    setenv("NOTIFY_SOCKET", path, 1);
    unsetenv("WATCHDOG_PID");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    close(fd);
    unlink(path);
    rmdir(dir);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    return 0;
}

/* The next datagram, or "" when none is waiting. */
static const char *next(void)
{
    static char buf[1024];
    ssize_t n = recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT);
    if (n < 0) {
        assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
        n = 0;
    }
    buf[n] = '\0';
    return buf;
}

static void test_ready_and_stopping(void **state)
{
    (void)state;
    hbd_service_notify_ready("serving nng tcp://127.0.0.1:1");
    assert_string_equal(next(), "READY=1\nSTATUS=serving nng tcp://127.0.0.1:1");
    hbd_service_notify_stopping("stopping (SIGTERM)");
    assert_string_equal(next(), "STOPPING=1\nSTATUS=stopping (SIGTERM)");
    assert_string_equal(next(), "");
}

/* WATCHDOG=1 at half the interval, and only while healthy. */
static void test_watchdog_follows_the_clock_and_health(void **state)
{
    (void)state;
    setenv("WATCHDOG_USEC", "2000000", 1);
    hbd_service_notify n;
    hbd_service_notify_init(&n);
    assert_int_equal(n.watchdog_usec, 2000000);
    hbd_service_notify_tick(&n, 100.0, 1);
    assert_string_equal(next(), "WATCHDOG=1");
    hbd_service_notify_tick(&n, 100.9, 1);
    assert_string_equal(next(), "");
    hbd_service_notify_tick(&n, 101.0, 1);
    assert_string_equal(next(), "WATCHDOG=1");
    hbd_service_notify_tick(&n, 105.0, 0);
    assert_string_equal(next(), "");
    hbd_service_notify_tick(&n, 105.2, 1);
    assert_string_equal(next(), "WATCHDOG=1");
}

/* No WATCHDOG_USEC, or one meant for another process: no pings. */
static void test_no_watchdog(void **state)
{
    (void)state;
    hbd_service_notify n;
    unsetenv("WATCHDOG_USEC");
    hbd_service_notify_init(&n);
    hbd_service_notify_tick(&n, 1.0, 1);
    assert_string_equal(next(), "");
    setenv("WATCHDOG_USEC", "2000000", 1);
    char other[32];
    snprintf(other, sizeof other, "%ld", (long)getpid() + 1);
    setenv("WATCHDOG_PID", other, 1);
    hbd_service_notify_init(&n);
    hbd_service_notify_tick(&n, 1.0, 1);
    assert_string_equal(next(), "");
}

/* Without NOTIFY_SOCKET (not under systemd) nothing is sent, nothing fails. */
static void test_without_systemd(void **state)
{
    (void)state;
    unsetenv("NOTIFY_SOCKET");
    setenv("WATCHDOG_USEC", "2000000", 1);
    hbd_service_notify n;
    hbd_service_notify_init(&n);
    hbd_service_notify_ready("x");
    hbd_service_notify_tick(&n, 1.0, 1);
    hbd_service_notify_stopping("y");
    assert_string_equal(next(), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ready_and_stopping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watchdog_follows_the_clock_and_health, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_no_watchdog, setup, teardown),
        cmocka_unit_test_setup_teardown(test_without_systemd, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
