/* Peers that misbehave at the transport level: oversized replies, silence,
   a reply cut short, a dropped connection, no listener, not HTTP at all. */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "hbeat/hbeat.h"
#include "support/rest_peer.h"

typedef struct fx {
    peer *p;
    hbeat_gateway *gw;
} fx;

static hbeat_gateway *open_gw(const char *url, hbeat_gateway_options *o)
{
    hbeat_gateway *gw = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbeat_gateway_open(&gw, url, o, &err) != 0)
        fail_msg("open %s: %s", url, err.message);
    return gw;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    f->p = peer_start();
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.request_timeout = 10;
    f->gw = open_gw(peer_url(f->p), &o);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    hbeat_gateway_free(f->gw);
    peer_stop(f->p);
    free(f);
    return 0;
}

static int beat(hbeat_gateway *gw, hbeat_error *err)
{
    char out[HBEAT_STATUS_MAX + 1];
    hbeat_error_clear(err);
    return hbeat_gateway_log_heartbeat(gw, 1, "R", 30, out, err);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_huge_body_with_length(void **state)
{
    fx *f = *state;
    peer_action a = {PEER_HUGE,
                     "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                     "104857600\r\n\r\n",
                     0,
                     0,
                     100u << 20,
                     0,
                     0};
    peer_push(f->p, a);
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(beat(f->gw, &err), HBEAT_ETOOBIG);
    assert_non_null(strstr(err.message, "65536"));
    /* The gateway is still usable. */
    assert_int_equal(beat(f->gw, &err), 0);
}

static void test_huge_body_chunked(void **state)
{
    fx *f = *state;
    peer_action a = {PEER_HUGE,
                     "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: "
                     "chunked\r\n\r\n",
                     0,
                     0,
                     100u << 20,
                     1,
                     0};
    peer_push(f->p, a);
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(beat(f->gw, &err), HBEAT_ETOOBIG);
    assert_int_equal(err.http_status, 200);
    assert_int_equal(beat(f->gw, &err), 0);
}

static void test_reply_cap_boundary(void **state)
{
    fx *f = *state;
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.request_timeout = 10;
    o.max_reply_size = 64;
    hbeat_gateway *gw = open_gw(peer_url(f->p), &o);
    char body[128];
    /* JSON may carry whitespace: exactly 64 bytes is fine, 65 is not. */
    snprintf(body, sizeof(body), "{\"status\":\"R\"}%50s", "");
    assert_int_equal(strlen(body), 64);
    peer_push_reply(f->p, 200, "application/json", body, 0);
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(beat(gw, &err), 0);
    snprintf(body, sizeof(body), "{\"status\":\"R\"}%51s", "");
    peer_push_reply(f->p, 200, "application/json", body, 0);
    assert_int_equal(beat(gw, &err), HBEAT_ETOOBIG);
    /* Error bodies are capped the same way. */
    memset(body, 'e', 100);
    body[100] = '\0';
    peer_push_reply(f->p, 500, "text/plain", body, 0);
    assert_int_equal(beat(gw, &err), HBEAT_ETOOBIG);
    hbeat_gateway_free(gw);
}

static void test_silent_peer_times_out(void **state)
{
    fx *f = *state;
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.request_timeout = 0.3;
    hbeat_gateway *gw = open_gw(peer_url(f->p), &o);
    peer_action a = {PEER_SILENT, NULL, 0, 0, 0, 0, 0};
    peer_push(f->p, a);
    hbeat_error err = HBEAT_ERROR_INIT;
    double t0 = now();
    assert_int_equal(beat(gw, &err), HBEAT_ETIMEDOUT);
    double took = now() - t0;
    assert_int_equal(err.native, CURLE_OPERATION_TIMEDOUT);
    assert_non_null(strstr(err.message, "log_heartbeat"));
    /* Not before the limit; the upper bound only catches a hang. */
    assert_true(took >= 0.29);
    assert_true(took < 30);
    /* The next beat gets a fresh connection and its answer. */
    assert_int_equal(beat(gw, &err), 0);
    hbeat_gateway_free(gw);
}

static void test_reply_cut_short(void **state)
{
    fx *f = *state;
    peer_action a = {PEER_RESPOND,
                     "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                     "100\r\n\r\n{\"status\"",
                     0,
                     1,
                     0,
                     0,
                     0};
    peer_push(f->p, a);
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(beat(f->gw, &err), HBEAT_ETRANSPORT);
    assert_int_equal(err.native, CURLE_PARTIAL_FILE);
    assert_int_equal(beat(f->gw, &err), 0);
}

static void test_closed_without_reply_on_new_connection(void **state)
{
    fx *f = *state;
    peer_action a = {PEER_CLOSE, NULL, 0, 0, 0, 0, 0};
    peer_push(f->p, a);
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(beat(f->gw, &err), HBEAT_ETRANSPORT);
    assert_int_equal(err.native, CURLE_GOT_NOTHING);
    assert_int_equal(beat(f->gw, &err), 0);
}

/* A kept-alive connection the server dropped while the request was on
   its way: curl resends once on a new connection, so the beat succeeds. */
static void test_closed_without_reply_on_reused_connection(void **state)
{
    fx *f = *state;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(beat(f->gw, &err), 0);
    peer_action a = {PEER_CLOSE, NULL, 0, 0, 0, 0, 0};
    peer_push(f->p, a);
    assert_int_equal(beat(f->gw, &err), 0);
    assert_int_equal(peer_request_count(f->p), 3);
    assert_int_equal(peer_connection_count(f->p), 2);
}

static void test_not_http(void **state)
{
    fx *f = *state;
    peer_action a = {PEER_RESPOND, "SSH-2.0-OpenSSH_9.2\r\n\r\n", 0, 1, 0, 0, 0};
    peer_push(f->p, a);
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = beat(f->gw, &err);
    if (rc != HBEAT_EPROTO)
        fail_msg("rc %d: %s", rc, err.message);
    peer_action b = {PEER_RESPOND, "HTTP/1.1 abc\r\n\r\n", 0, 1, 0, 0, 0};
    peer_push(f->p, b);
    rc = beat(f->gw, &err);
    if (rc != HBEAT_EPROTO)
        fail_msg("rc %d: %s", rc, err.message);
    assert_int_equal(beat(f->gw, &err), 0);
}

static unsigned short closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (struct sockaddr *)&a, sizeof(a));
    socklen_t len = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

static void test_connection_refused(void **state)
{
    (void)state;
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/api/v3", (unsigned)closed_port());
    hbeat_gateway *gw = open_gw(url, NULL);
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(beat(gw, &err), HBEAT_ETRANSPORT);
    assert_int_equal(err.native, CURLE_COULDNT_CONNECT);
    assert_int_equal(err.http_status, 0);
    hbeat_gateway_free(gw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_huge_body_with_length, setup, teardown),
        cmocka_unit_test_setup_teardown(test_huge_body_chunked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reply_cap_boundary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_silent_peer_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reply_cut_short, setup, teardown),
        cmocka_unit_test_setup_teardown(test_closed_without_reply_on_new_connection, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_closed_without_reply_on_reused_connection, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_not_http, setup, teardown),
        cmocka_unit_test(test_connection_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
