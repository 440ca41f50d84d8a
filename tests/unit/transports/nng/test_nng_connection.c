/*
 * The nng gateway's connection: URLs and options checked at open, a server
 * that comes later or restarts, no resend over a new connection, and many
 * threads sharing one gateway.
 */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/builtins.h"
#include "hbeat/errors.h"
#include "hbeat/gateway.h"
#include "peer.h"
#include "support.h"
#include "transports/nng/nng_internal.h"

static void expect_open_fails(const char *url, const hbeat_gateway_options *o, int code,
                              const char *needle)
{
    hbeat_gateway *gw = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_gateway_open(&gw, url, o, &err);
    if (rc != code) {
        fail_msg("open \"%s\": %d (%s), expected %d", url, rc, err.message, code);
    }
    assert_null(gw);
    if (needle != NULL && strstr(err.message, needle) == NULL) {
        fail_msg("open \"%s\": message \"%s\" lacks \"%s\"", url, err.message, needle);
    }
}

static void test_bad_urls(void **state)
{
    (void)state;
    expect_open_fails("nng+tcp://", NULL, HBEAT_EINVAL, "empty host");
    expect_open_fails("nng+tcp://:7781", NULL, HBEAT_EINVAL, "empty host");
    expect_open_fails("nng+tcp://127.0.0.1", NULL, HBEAT_EINVAL, "missing port");
    expect_open_fails("nng+tcp://127.0.0.1:", NULL, HBEAT_EINVAL, "missing port");
    expect_open_fails("nng+tcp://127.0.0.1:0", NULL, HBEAT_EINVAL, "port out of range");
    expect_open_fails("nng+tcp://127.0.0.1:65536", NULL, HBEAT_EINVAL, "port out of range");
    expect_open_fails("nng+tcp://127.0.0.1:99999999999999999999", NULL, HBEAT_EINVAL,
                      "port out of range");
    expect_open_fails("nng+tcp://127.0.0.1:77a", NULL, HBEAT_EINVAL, "must be a number");
    expect_open_fails("nng+tcp://127.0.0.1:7781/path", NULL, HBEAT_EINVAL, "must be a number");
    expect_open_fails("nng+tcp://[::1", NULL, HBEAT_EINVAL, "unterminated");
    expect_open_fails("nng+tcp://[]:7781", NULL, HBEAT_EINVAL, "empty host");
    expect_open_fails("nng+tcp://::1:7781", NULL, HBEAT_EINVAL, "brackets");
    expect_open_fails("nng+tcp://host name:7781", NULL, HBEAT_EINVAL, "spaces");
    expect_open_fails("nng+ipc://", NULL, HBEAT_EINVAL, "missing socket path");
    expect_open_fails("nng+inproc://", NULL, HBEAT_EINVAL, "missing name");
    char longpath[300] = "nng+ipc:///tmp/";
    memset(longpath + strlen(longpath), 'a', 200);
    longpath[sizeof(longpath) - 1] = '\0';
    expect_open_fails(longpath, NULL, HBEAT_EINVAL, "longer than");

    /* The entry point on its own, for a scheme it was registered under by
       mistake. */
    hbeat_gateway *gw = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    assert_int_equal(hbeat__nng_open(&gw, "nng+ws://x:1", &o, NULL, &err), HBEAT_EINVAL);
    assert_non_null(strstr(err.message, "expected nng+tcp://HOST:PORT"));
}

static void test_good_urls_open_without_server(void **state)
{
    (void)state;
    /* Dialing is in the background: a server that is down is no error. */
    const char *urls[] = {"nng+tcp://127.0.0.1:1", "NNG+TCP://localhost:65535",
                          "nng+tcp://[::1]:7781", "nng+ipc:///tmp/no/such/hbeatd.sock",
                          "nng+inproc://nobody-home"};
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        hbeat_gateway *gw = open_gw(urls[i], 0);
        hbeat_gateway_free(gw);
    }
}

static void test_bad_options(void **state)
{
    (void)state;
    const char *url = "nng+inproc://options";
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.request_timeout = -1.0;
    expect_open_fails(url, &o, HBEAT_EINVAL, "request_timeout");
    o.request_timeout = INFINITY;
    expect_open_fails(url, &o, HBEAT_EINVAL, "request_timeout");
    o.request_timeout = NAN;
    expect_open_fails(url, &o, HBEAT_EINVAL, "request_timeout");
    o.request_timeout = 1e12;
    expect_open_fails(url, &o, HBEAT_EINVAL, "request_timeout");
    o.request_timeout = 0.0;
    o.ca_file = "/etc/ssl/certs/ca.pem";
    expect_open_fails(url, &o, HBEAT_EINVAL, "no TLS");
    o.ca_file = NULL;
    o.insecure = 1;
    expect_open_fails(url, &o, HBEAT_EINVAL, "no TLS");
}

/* A caller built against an older version of the options struct is
   served; one that claims a newer version is refused. */
static void test_options_versions(void **state)
{
    (void)state;
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.version = 1;
    hbeat_gateway *gw = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbeat_gateway_open(&gw, "nng+inproc://options-v1", &o, &err) != 0)
        fail_msg("version 1 options: %s", err.message);
    hbeat_gateway_free(gw);
    o.version = HBEAT_GATEWAY_OPTIONS_VERSION + 1;
    expect_open_fails("nng+inproc://options-v1", &o, HBEAT_EVERSION, "not supported");
}

/* Open while nobody listens; the server appears later; then it goes away
   and comes back. The same gateway works throughout. */
static void test_server_comes_later_and_restarts(void **state)
{
    (void)state;
    peer p;
    peer_init(&p, unique_name("late"), NULL);
    hbeat_gateway *gw = open_gw(p.client_url, 0.1);
    char status[HBEAT_STATUS_MAX + 1] = "";
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_gateway_log_heartbeat(gw, 1, "R", 10.0, status, &err), HBEAT_ETIMEDOUT);
    hbeat_gateway_free(gw);

    /* A generous timeout: nng redials at least once a second. */
    gw = open_gw(p.client_url, 20.0);
    assert_int_equal(peer_start(&p), 0);
    assert_int_equal(hbeat_gateway_log_heartbeat(gw, 1, "R", 10.0, status, &err), 0);
    assert_string_equal(status, "R");

    peer_stop(&p);
    assert_int_equal(peer_start(&p), 0);
    peer_set_status(&p, "H");
    /* A beat sent before nng noticed the old connection was gone fails as
       a transport error (it is not resent); the next one gets through. */
    int rc = HBEAT_ETRANSPORT;
    for (int i = 0; i < 3 && rc == HBEAT_ETRANSPORT; i++) {
        rc = hbeat_gateway_log_heartbeat(gw, 1, "R", 10.0, status, &err);
    }
    assert_int_equal(rc, 0);
    assert_string_equal(status, "H");
    hbeat_gateway_free(gw);
    peer_destroy(&p);
}

/* A connection that drops with the request unanswered: nng's REQ would
   resend the request over the next connection, delivering the beat twice.
   The gateway fails the call instead and the server sees it once. */
static void test_no_resend_after_drop(void **state)
{
    (void)state;
    peer p;
    peer_init(&p, unique_name("drop"), NULL);
    assert_int_equal(peer_start(&p), 0);
    peer_set_mode(&p, PEER_DROP);
    hbeat_gateway *gw = open_gw(p.client_url, 2.0);
    char status[HBEAT_STATUS_MAX + 1] = "";
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_gateway_log_heartbeat(gw, 1, "R", 10.0, status, &err);
    /* Usually the reset is seen at once; if the drop beats the wait for the
       reply to start, the call can only time out. Never a success. */
    if (rc != HBEAT_ETRANSPORT && rc != HBEAT_ETIMEDOUT) {
        fail_msg("rc %d (%s)", rc, err.message);
    }
    if (rc == HBEAT_ETRANSPORT) {
        assert_non_null(strstr(err.message, "not resent"));
        assert_int_equal(err.native, NNG_ECONNRESET);
    }
    peer_set_mode(&p, PEER_GOOD);
    assert_int_equal(hbeat_gateway_log_heartbeat(gw, 2, "R", 10.0, status, &err), 0);
    /* The dropped beat and the good one: no third copy. */
    assert_int_equal(peer_requests(&p), 2);
    assert_int_equal(p.last_run_id, 2);
    hbeat_gateway_free(gw);
    peer_destroy(&p);
}

/* ---- several threads, one gateway ---- */

#define THREADS 8
#define BEATS   50

typedef struct worker {
    hbeat_gateway *gw;
    void *self;
    int index;
    int failures;
    char last_error[HBEAT_ERROR_MESSAGE_MAX + 16];
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    char mine[8];
    snprintf(mine, sizeof(mine), "T%d", w->index);
    for (int i = 0; i < BEATS; i++) {
        hbeat_error err = HBEAT_ERROR_INIT;
        int rc;
        char got[HBEAT_STATUS_MAX + 1] = "";
        if (i % 5 == 4) {
            hbeat_run_info run;
            rc = hbeat_run_get(w->gw, 1000 + w->index, &run, &err);
            if (rc == 0 && run.workflow_run_id != 1000 + w->index) {
                rc = -100;
            }
        } else {
            /* The peer echoes the status, so any cross-talk between the
               threads' calls shows as a wrong status or sequence. */
            hbeat_heartbeat_request req = beat(w->index + 1, mine, (uint64_t)i);
            hbeat_heartbeat_reply rep;
            rc = nng_vtable()->log_heartbeat(w->self, &req, &rep, &err);
            snprintf(got, sizeof(got), "%s", rep.status);
            if (rc == 0 && strcmp(got, mine) != 0) {
                rc = -100;
            }
        }
        if (rc != 0) {
            w->failures++;
            snprintf(w->last_error, sizeof(w->last_error), "%d %s", rc, err.message);
        }
    }
    return NULL;
}

static void test_threads_share_a_gateway(void **state)
{
    (void)state;
    peer p;
    peer_init(&p, unique_name("threads"), NULL);
    assert_int_equal(peer_start(&p), 0);
    hbeat_gateway *gw = open_gw(p.client_url, 0);
    assert_true(nng_vtable()->flags & HBEAT_GATEWAY_THREAD_SAFE);

    worker w[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){gw, nng_self(gw), i, 0, ""};
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        if (w[i].failures != 0) {
            fail_msg("thread %d: %d failures, last: %s", i, w[i].failures, w[i].last_error);
        }
    }
    assert_int_equal(peer_requests(&p), THREADS * BEATS);
    hbeat_gateway_free(gw);
    peer_destroy(&p);
}

/* A server that closes a new connection before the SP handshake, as one
   killed with connections in its listen backlog does. libnng 1.5's ipc
   dialer then gives up for good; the gateway must notice and dial afresh
   once the real server is up on the same path. */
static void test_dialer_that_gave_up_is_replaced(void **state)
{
    (void)state;
    char dir[256];
    make_temp_dir(dir, sizeof(dir));
    peer p;
    peer_init(&p, "gaveup.sock", dir);

    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/gaveup.sock", dir);
    assert_true(n > 0 && (size_t)n < sizeof(sa.sun_path));
    int ls = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(ls >= 0);
    assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(ls, 4), 0);

    hbeat_gateway *gw = open_gw(p.client_url, 1.0);
    struct pollfd pfd = {ls, POLLIN, 0};
    assert_int_equal(poll(&pfd, 1, 10000), 1);
    int conn = accept(ls, NULL, NULL);
    assert_true(conn >= 0);
    close(conn); /* before nng's handshake */
    close(ls);
    unlink(sa.sun_path);

    assert_int_equal(peer_start(&p), 0);
    /* nng alone would time out forever here; the replacement dialer comes
       within a few seconds (bounded by the attempts, not measured). */
    char status[HBEAT_STATUS_MAX + 1] = "";
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = HBEAT_ETIMEDOUT;
    for (int i = 0; i < 15 && rc != 0; i++) {
        rc = hbeat_gateway_log_heartbeat(gw, 1, "R", 10.0, status, &err);
        if (rc != 0 && rc != HBEAT_ETIMEDOUT)
            fail_msg("attempt %d: %d %s", i, rc, err.message);
    }
    if (rc != 0)
        fail_msg("no connection after 15 attempts: %s", err.message);
    assert_string_equal(status, "R");
    hbeat_gateway_free(gw);
    peer_destroy(&p);
    rm_temp_dir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_urls),
        cmocka_unit_test(test_good_urls_open_without_server),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_options_versions),
        cmocka_unit_test(test_server_comes_later_and_restarts),
        cmocka_unit_test(test_no_resend_after_drop),
        cmocka_unit_test(test_threads_share_a_gateway),
        cmocka_unit_test(test_dialer_that_gave_up_is_replaced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
