/*
 * The sd_notify gateway of examples/sdnotify_gateway.c, checked the way
 * systemd would see it: a datagram socket bound in a temp dir (or in the
 * abstract namespace) stands in for systemd's notify socket, and each test
 * reads back exactly what the gateway sent.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <setjmp.h>

#include <cmocka.h>

#include "hbeat/hbeat.h"
#include "hbeat/sys/fake.h"
#include "hbeat/sys/transport.h"
#include "sdnotify_gateway.h"

typedef struct fixture {
    char dir[64];
    char path[128];
    int fd; /* the "systemd" end */
    hbeat_gateway *gw;
} fixture;

/* A receiving datagram socket at @p address ("/path" or "@name"); reads
   give up after 10 s so that a broken gateway fails the test, not hangs it. */
static int bind_receiver(const char *address)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    socklen_t len;
    size_t n = strlen(address);
    if (address[0] == '@') {
        memcpy(sa.sun_path + 1, address + 1, n - 1);
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        memcpy(sa.sun_path, address, n);
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    }
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, len), 0);
    struct timeval tv = {10, 0};
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    return fd;
}

/* The next datagram, NUL-terminated, into @p buf. */
static void recv_datagram(int fd, char *buf, size_t size)
{
    ssize_t n = recv(fd, buf, size - 1, 0);
    assert_true(n >= 0);
    buf[n] = '\0';
}

static void expect_datagram(int fd, const char *want)
{
    char buf[1024];
    recv_datagram(fd, buf, sizeof buf);
    assert_string_equal(buf, want);
}

/* Nothing more has been sent. */
static void expect_no_datagram(int fd)
{
    char buf[64];
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    assert_true(n < 0);
    assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/hbeat-sdnotify-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/notify", f->dir);
    f->fd = bind_receiver(f->path);
    unsetenv("NOTIFY_SOCKET");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    hbeat_gateway_free(f->gw);
    close(f->fd);
    unlink(f->path);
    rmdir(f->dir);
    unsetenv("NOTIFY_SOCKET");
    sdnotify_gateway_unregister(NULL);
    free(f);
    return 0;
}

static void beat(hbeat_gateway *gw, int64_t run, const char *status, double increment)
{
    char held[HBEAT_STATUS_MAX + 1] = "";
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_gateway_log_heartbeat(gw, run, status, increment, held, &err);
    if (rc != 0)
        fail_msg("heartbeat: %s: %s", hbeat_strerror(rc), err.message);
    /* systemd never answers: the gateway echoes what it sent. */
    assert_string_equal(held, status);
}

/* The first beat says READY, every beat WATCHDOG; the window and the status
   are sent only when they change; an end state adds STOPPING once. */
static void test_messages_follow_the_beats(void **state)
{
    fixture *f = *state;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(setenv("NOTIFY_SOCKET", f->path, 1), 0);
    assert_int_equal(sdnotify_gateway_register(&err), 0);
    assert_int_equal(hbeat_gateway_open(&f->gw, "sdnotify://", NULL, &err), 0);
    assert_string_equal(hbeat_gateway_transport(f->gw), "sdnotify");

    beat(f->gw, 42, "R", 93.0);
    expect_datagram(f->fd,
                    "READY=1\nWATCHDOG=1\nWATCHDOG_USEC=93000000\nSTATUS=run 42: R (running)\n");
    beat(f->gw, 42, "R", 93.0);
    expect_datagram(f->fd, "WATCHDOG=1\n");
    beat(f->gw, 42, "R", 0.25);
    expect_datagram(f->fd, "WATCHDOG=1\nWATCHDOG_USEC=250000\n");
    beat(f->gw, 42, "D", 0.25);
    expect_datagram(f->fd, "WATCHDOG=1\nSTATUS=run 42: D (done)\nSTOPPING=1\n");
    beat(f->gw, 42, "E", 0.25);
    expect_datagram(f->fd, "WATCHDOG=1\nSTATUS=run 42: E (error)\n");
    /* A status Jobmon does not name is shown as it is. */
    beat(f->gw, 43, "paused", 0.25);
    expect_datagram(f->fd, "WATCHDOG=1\nSTATUS=run 43: paused\n");
    expect_no_datagram(f->fd);
}

static void test_update_status_sends_status_only(void **state)
{
    fixture *f = *state;
    hbeat_error err = HBEAT_ERROR_INIT;
    char held[HBEAT_STATUS_MAX + 1] = "";
    char url[256];
    snprintf(url, sizeof url, "sdnotify://%s", f->path);
    assert_int_equal(sdnotify_gateway_register(&err), 0);
    assert_int_equal(hbeat_gateway_open(&f->gw, url, NULL, &err), 0);

    assert_int_equal(hbeat_gateway_update_status(f->gw, 7, "C", held, &err), 0);
    assert_string_equal(held, "C");
    expect_datagram(f->fd, "STATUS=run 7: C (cold resume)\n");
    /* Nothing new to say: nothing is sent. */
    assert_int_equal(hbeat_gateway_update_status(f->gw, 7, "C", held, &err), 0);
    assert_int_equal(hbeat_gateway_update_status(f->gw, 7, "S", held, &err), 0);
    expect_datagram(f->fd, "STATUS=run 7: S (stopped)\nSTOPPING=1\n");
    expect_no_datagram(f->fd);
}

/* The scheme is matched without regard to case, and a socket named in the
   URL wins over NOTIFY_SOCKET. */
static void test_url_forms(void **state)
{
    fixture *f = *state;
    hbeat_error err = HBEAT_ERROR_INIT;
    char url[256];
    assert_int_equal(setenv("NOTIFY_SOCKET", "/nonexistent/socket", 1), 0);
    assert_int_equal(sdnotify_gateway_register(&err), 0);
    snprintf(url, sizeof url, "SDNotify://%s", f->path);
    assert_int_equal(hbeat_gateway_open(&f->gw, url, NULL, &err), 0);
    beat(f->gw, 1, "R", 3.0);
    expect_datagram(f->fd,
                    "READY=1\nWATCHDOG=1\nWATCHDOG_USEC=3000000\nSTATUS=run 1: R (running)\n");
}

static void test_abstract_socket(void **state)
{
    fixture *f = *state;
    hbeat_error err = HBEAT_ERROR_INIT;
    char name[64], url[128];
    snprintf(name, sizeof name, "@hbeat-test-sdnotify-%ld", (long)getpid());
    int fd = bind_receiver(name);
    assert_int_equal(setenv("NOTIFY_SOCKET", name, 1), 0);
    assert_int_equal(sdnotify_gateway_new(&f->gw, NULL, NULL, &err), 0);
    beat(f->gw, 5, "R", 1.5);
    char buf[256];
    recv_datagram(fd, buf, sizeof buf);
    assert_non_null(strstr(buf, "WATCHDOG=1\n"));
    assert_non_null(strstr(buf, "WATCHDOG_USEC=1500000\n"));
    hbeat_gateway_free(f->gw);
    f->gw = NULL;

    /* The same socket named in the URL. */
    assert_int_equal(sdnotify_gateway_register(&err), 0);
    snprintf(url, sizeof url, "sdnotify://%s", name);
    assert_int_equal(hbeat_gateway_open(&f->gw, url, NULL, &err), 0);
    beat(f->gw, 5, "R", 1.5);
    recv_datagram(fd, buf, sizeof buf);
    assert_non_null(strstr(buf, "READY=1\n"));
    close(fd);
}

static void expect_open_error(const char *url, int code, const char *in_message)
{
    hbeat_gateway *gw = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_gateway_open(&gw, url, NULL, &err);
    if (rc != code)
        fail_msg("%s: got %d (%s: %s), want %d", url, rc, hbeat_strerror(rc), err.message, code);
    assert_null(gw);
    if (!strstr(err.message, in_message))
        fail_msg("%s: message \"%s\" does not mention \"%s\"", url, err.message, in_message);
}

static void test_bad_addresses_are_refused_at_open(void **state)
{
    (void)state;
    hbeat_error err = HBEAT_ERROR_INIT;
    char url[300];
    assert_int_equal(sdnotify_gateway_register(&err), 0);
    expect_open_error("sdnotify://", HBEAT_EINVAL, "NOTIFY_SOCKET is not set");
    expect_open_error("sdnotify:", HBEAT_EINVAL, "not a URL"); /* the core checks "://" */
    expect_open_error("sdnotify://relative/path", HBEAT_EINVAL, "absolute path");
    expect_open_error("sdnotify://vsock:2:1234", HBEAT_EINVAL, "absolute path");
    expect_open_error("sdnotify://@", HBEAT_EINVAL, "abstract");
    snprintf(url, sizeof url, "sdnotify:///%0200d", 0);
    expect_open_error(url, HBEAT_EINVAL, "at most");
    assert_int_equal(setenv("NOTIFY_SOCKET", "not-a-path", 1), 0);
    expect_open_error("sdnotify://", HBEAT_EINVAL, "absolute path");

    hbeat_gateway *gw = NULL;
    hbeat_gateway_options bad = HBEAT_GATEWAY_OPTIONS_INIT;
    bad.version = 999;
    assert_int_equal(sdnotify_gateway_new(&gw, "/tmp/x", &bad, &err), HBEAT_EVERSION);
    bad.version = 0;
    assert_int_equal(sdnotify_gateway_new(&gw, "/tmp/x", &bad, &err), HBEAT_EVERSION);
    /* A program built when the options were at version 1 still opens it. */
    hbeat_gateway_options v1 = HBEAT_GATEWAY_OPTIONS_INIT;
    v1.version = 1;
    assert_int_equal(sdnotify_gateway_new(&gw, "/tmp/x", &v1, &err), 0);
    hbeat_gateway_free(gw);
    gw = NULL;
    assert_int_equal(sdnotify_gateway_new(NULL, "/tmp/x", NULL, &err), HBEAT_EINVAL);
}

/* Nobody bound at the address: the beat fails with a transport error that
   names the socket and keeps errno; once systemd is there, READY=1 still
   comes first. */
static void test_no_listener_is_a_transport_error(void **state)
{
    fixture *f = *state;
    hbeat_error err = HBEAT_ERROR_INIT;
    char missing[160], held[HBEAT_STATUS_MAX + 1] = "unchanged";
    snprintf(missing, sizeof missing, "%s/absent", f->dir);
    assert_int_equal(sdnotify_gateway_new(&f->gw, missing, NULL, &err), 0);
    int rc = hbeat_gateway_log_heartbeat(f->gw, 1, "R", 10.0, held, &err);
    assert_int_equal(rc, HBEAT_ETRANSPORT);
    assert_int_equal(err.code, HBEAT_ETRANSPORT);
    assert_true(err.native == ENOENT || err.native == ECONNREFUSED);
    assert_non_null(strstr(err.message, missing));
    assert_string_equal(held, "unchanged");

    int fd = bind_receiver(missing);
    beat(f->gw, 1, "R", 10.0);
    char buf[256];
    recv_datagram(fd, buf, sizeof buf);
    assert_non_null(strstr(buf, "READY=1\n"));
    close(fd);
    unlink(missing);
}

/* systemd stops reading: once its queue is full a send waits at most the
   request timeout and fails with HBEAT_ETIMEDOUT instead of hanging. */
static void test_full_queue_times_out(void **state)
{
    fixture *f = *state;
    hbeat_error err = HBEAT_ERROR_INIT;
    hbeat_gateway_options opts = HBEAT_GATEWAY_OPTIONS_INIT;
    opts.request_timeout = 0.05;
    assert_int_equal(sdnotify_gateway_new(&f->gw, f->path, &opts, &err), 0);
    char held[HBEAT_STATUS_MAX + 1];
    int rc = 0, sent = 0;
    while (sent < 1000000 &&
           (rc = hbeat_gateway_log_heartbeat(f->gw, 1, "R", 10.0, held, &err)) == 0)
        sent++;
    assert_int_equal(rc, HBEAT_ETIMEDOUT);
    assert_true(err.native == EAGAIN || err.native == EWOULDBLOCK);
    assert_true(sent > 0);
    assert_non_null(strstr(err.message, "systemd"));
}

static void test_admin_calls_are_not_supported(void **state)
{
    fixture *f = *state;
    hbeat_error err = HBEAT_ERROR_INIT;
    hbeat_run_info run;
    assert_int_equal(sdnotify_gateway_new(&f->gw, f->path, NULL, &err), 0);
    assert_int_equal(hbeat_run_get(f->gw, 1, &run, &err), HBEAT_ENOTSUP);
    assert_int_equal(hbeat_run_create(f->gw, 1, "G", &run, &err), HBEAT_ENOTSUP);
    expect_no_datagram(f->fd);
}

static void test_register_twice_is_an_error(void **state)
{
    (void)state;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_transport_lookup("sdnotify"), HBEAT_ESCHEME);
    assert_int_equal(sdnotify_gateway_register(&err), 0);
    assert_int_equal(hbeat_transport_lookup("sdnotify"), 0);
    assert_int_equal(sdnotify_gateway_register(&err), HBEAT_EEXIST);
    assert_int_equal(sdnotify_gateway_unregister(&err), 0);
    assert_int_equal(hbeat_transport_lookup("sdnotify"), HBEAT_ESCHEME);
}

/* The gateway under the heartbeat loop, on the fake clock: one WATCHDOG per
   interval, none early, and the service sees no status change. */
static void test_service_loop_feeds_the_watchdog(void **state)
{
    fixture *f = *state;
    hbeat_error err = HBEAT_ERROR_INIT;
    hbeat_clock *clock = NULL;
    hbeat_service *svc = NULL;
    const int64_t interval_ns = 2000000000; /* 2 s of fake time */
    assert_int_equal(hbeat_fake_clock_new(&clock, 0, &err), 0);
    assert_int_equal(sdnotify_gateway_new(&f->gw, f->path, NULL, &err), 0);

    hbeat_service_options opts = HBEAT_SERVICE_OPTIONS_INIT;
    opts.workflow_run_id = 9;
    opts.interval = 2.0;
    opts.report_by_buffer = 2.0;
    opts.clock = clock;
    assert_int_equal(hbeat_service_new(&svc, f->gw, &opts, &err), 0);
    assert_int_equal(hbeat_service_start(svc, &err), 0);

    for (int i = 0; i < 3; i++) {
        assert_int_equal(hbeat_fake_clock_wait_waiters(clock, 1, 10.0), 0);
        expect_no_datagram(f->fd);
        assert_int_equal(hbeat_fake_clock_advance(clock, interval_ns), 0);
        expect_datagram(f->fd, i == 0 ? "READY=1\nWATCHDOG=1\nWATCHDOG_USEC=4000000\n"
                                        "STATUS=run 9: R (running)\n"
                                      : "WATCHDOG=1\n");
    }
    assert_int_equal(hbeat_service_stop(svc, &err), 0);
    char status[HBEAT_STATUS_MAX + 1];
    assert_int_equal(hbeat_service_status(svc, status), 0);
    assert_string_equal(status, "R");
    hbeat_service_free(svc);
    hbeat_clock_free(clock);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_messages_follow_the_beats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_status_sends_status_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_url_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abstract_socket, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_addresses_are_refused_at_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_listener_is_a_transport_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_queue_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admin_calls_are_not_supported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_register_twice_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_service_loop_feeds_the_watchdog, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
