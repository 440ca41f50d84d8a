/*
 * hbeatd's limits against the real server, on loopback:
 *  - the largest request (--max-request): REST 413, nng TOO_LARGE, and a
 *    request just under it served;
 *  - errors that never echo unbounded input;
 *  - the connection limits, total and per address (--max-connections,
 *    --max-connections-per-ip), on both front ends, with flooders on
 *    127.0.0.x addresses of their own: nng refuses what is over a limit,
 *    REST makes room by closing the connection that has waited longest;
 *  - a slowloris client (a header byte every 100 ms) cut off by the read
 *    timeout (--read-timeout), and a connection flood (hundreds of idle
 *    connections on both ports), while 16 honest clients (8 nng, 8 REST)
 *    keep beating with no failure.
 * Every wait is bounded; every connection and process is closed.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "hbeat/hbeat.h"
#include "integration/security/sec_support.h"
#include "integration/server/nng_client.h"
#include "subprocess.h"

#define TIMEOUT 10.0

/* How many flood connections this process can afford to open. */
static int flood_size(int wanted)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return wanted / 4;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    /* Room for the flood on both ports, the honest clients and the rest. */
    long room = ((long)rl.rlim_cur - 200) / 4;
    return room < wanted ? (int)room : wanted;
}

static int rest_port(const hbd_harness *h)
{
    return sec_ready_port(h, "http http://");
}

static int nng_port(const hbd_harness *h)
{
    return sec_ready_port(h, "nng tcp://");
}

static int64_t create_run(const hbd_harness *h)
{
    hbeat_gateway *gw = sec_open(h->nng_tcp_url, NULL, NULL, TIMEOUT);
    hbeat_run_info run;
    assert_int_equal(hbeat_run_create(gw, 5, "R", &run, NULL), 0);
    hbeat_gateway_free(gw);
    return run.workflow_run_id;
}

/* One beat over `url`; 0 or the error code. */
static int beat_once(const char *url, int64_t run)
{
    hbeat_gateway *gw = sec_open(url, NULL, NULL, TIMEOUT);
    char status[HBEAT_STATUS_MAX + 1];
    int rc = hbeat_gateway_log_heartbeat(gw, run, "R", 60.0, status, NULL);
    hbeat_gateway_free(gw);
    return rc;
}

/* ---- request size ---- */

static void test_max_request(void **state)
{
    (void)state;
    hbd_harness h;
    const char *args[] = {"--max-request", "4096", NULL};
    assert_int_equal(hbd_harness_start(&h, args), 0);
    int64_t run = create_run(&h);

    /* REST: a body over the limit is a 413, one under it is served. */
    static char body[8192], req[10000], reply[8192];
    const char *json = "{\"status\": \"R\", \"next_report_increment\": 30.0}";
    for (int round = 0; round < 2; round++) {
        size_t size = round == 0 ? 5000 : 4000;
        memset(body, ' ', size);
        memcpy(body, json, strlen(json));
        body[size] = '\0';
        snprintf(req, sizeof req,
                 "POST /api/v3/workflow_run/%lld/log_heartbeat HTTP/1.1\r\nHost: x\r\n"
                 "Content-Type: application/json\r\nContent-Length: %zu\r\n"
                 "Connection: close\r\n\r\n%s",
                 (long long)run, size, body);
        assert_true(sec_http(rest_port(&h), req, reply, sizeof reply) > 0);
        const char *want = round == 0 ? "HTTP/1.1 413" : "HTTP/1.1 200";
        if (strstr(reply, want) == NULL)
            fail_msg("a %zu-byte body: wanted %s, got %.200s", size, want, reply);
    }

    /* nng: the same, with the bytes in Request.token (ignored without a
       token file, so only the size matters). */
    tc_client c;
    assert_int_equal(tc_open(&c, h.nng_tcp_url, 5000), 0);
    for (int round = 0; round < 2; round++) {
        size_t size = round == 0 ? 5000 : 3800;
        char *token = malloc(size + 1);
        memset(token, 'x', size);
        token[size] = '\0';
        HbeatPb__HeartbeatRequest hb = HBEAT_PB__HEARTBEAT_REQUEST__INIT;
        hb.workflow_run_id = run;
        hb.status = "R";
        hb.next_report_increment = 30.0;
        HbeatPb__Request r = HBEAT_PB__REQUEST__INIT;
        r.call_case = HBEAT_PB__REQUEST__CALL_HEARTBEAT;
        r.heartbeat = &hb;
        r.token = token;
        int rv = 0;
        HbeatPb__Reply *rep = tc_call(&c, &r, &rv);
        assert_non_null(rep);
        if (round == 0) {
            assert_int_equal(rep->result_case, HBEAT_PB__REPLY__RESULT_ERROR);
            assert_int_equal(rep->error->code, HBEAT_PB__ERROR_CODE__ERROR_CODE_TOO_LARGE);
        } else {
            assert_int_equal(rep->result_case, HBEAT_PB__REPLY__RESULT_HEARTBEAT);
        }
        tc_free(rep);
        free(token);
    }

    /* Errors quote at most a few bytes of what was sent. */
    static char status[3000];
    memset(status, 'A', sizeof status - 1);
    HbeatPb__HeartbeatRequest hb = HBEAT_PB__HEARTBEAT_REQUEST__INIT;
    hb.workflow_run_id = run;
    hb.status = status;
    hb.next_report_increment = 30.0;
    HbeatPb__Request r = HBEAT_PB__REQUEST__INIT;
    r.call_case = HBEAT_PB__REQUEST__CALL_HEARTBEAT;
    r.heartbeat = &hb;
    int rv = 0;
    HbeatPb__Reply *rep = tc_call(&c, &r, &rv);
    assert_non_null(rep);
    assert_int_equal(rep->result_case, HBEAT_PB__REPLY__RESULT_ERROR);
    assert_true(strlen(rep->error->message) < 256);
    assert_null(
        strstr(rep->error->message, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    tc_free(rep);
    tc_close(&c);

    static char path[3000];
    memset(path, 'p', sizeof path - 1);
    snprintf(req, sizeof req, "GET /api/v3/%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
             path);
    assert_true(sec_http(rest_port(&h), req, reply, sizeof reply) > 0);
    assert_non_null(strstr(reply, "HTTP/1.1 404"));
    assert_null(strstr(reply, "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"
                              "pppppppppppppppppppppp"));

    assert_int_equal(hbd_harness_stop(&h), 0);
    hbd_harness_cleanup(&h);
}

/* ---- connection limits ---- */

typedef struct conns {
    int fd[128];
    int n;
} conns;

/* Opens `n` connections from `src`: raw TCP to the REST port, or SP
   handshakes to the nng port. A connection the server refuses at once
   counts as open here; sec_closed_within tells. */
static void open_conns(conns *c, int n, const char *src, int port, int sp)
{
    c->n = 0;
    for (int i = 0; i < n; i++) {
        int fd = sp ? sec_sp_connect(src, port) : sec_connect(src, port);
        /* An SP handshake the server cuts short is a refused connection. */
        c->fd[c->n++] = fd;
    }
}

/* How many of `c` the server has closed within `timeout` seconds. */
static int count_closed(conns *c, double timeout)
{
    int closed = 0;
    double until = sec_now() + timeout;
    for (int i = 0; i < c->n; i++) {
        if (c->fd[i] < 0) {
            closed++;
            continue;
        }
        double left = until - sec_now();
        if (sec_closed_within(c->fd[i], left > 0.05 ? left : 0.05)) {
            close(c->fd[i]);
            c->fd[i] = -1;
            closed++;
        }
    }
    return closed;
}

static void close_conns(conns *c)
{
    for (int i = 0; i < c->n; i++) {
        if (c->fd[i] >= 0)
            close(c->fd[i]);
    }
    c->n = 0;
}

/* Waits (bounded) until the server has closed exactly `want` of `c`, the
   others staying open. */
static void expect_closed(conns *c, int want, const char *what)
{
    int closed = 0;
    double until = sec_now() + 10.0;
    while (closed < want && sec_now() < until)
        closed = count_closed(c, 0.2);
    if (closed != want)
        fail_msg("%s: %d connections closed by the server, wanted %d", what, closed, want);
    /* And no more than that. */
    if (count_closed(c, 0.3) != want)
        fail_msg("%s: more connections closed than the limit allows", what);
}

/* 1 when `fd` has something to read (data or its end) within `timeout`. */
static int readable_within(int fd, double timeout)
{
    struct pollfd p = {fd, POLLIN, 0};
    return poll(&p, 1, (int)(timeout * 1000)) == 1;
}

/* Holds `n` connections to `port`, `per` from each of the addresses
   127.0.5.x, x = 1, 2, ...: retried (bounded) until none is refused, since
   the server may still be counting a connection that was just closed. */
static void hold(conns *c, int n, int per, int port, int sp)
{
    double until = sec_now() + 10.0;
    for (;;) {
        c->n = 0;
        for (int i = 0; i < n; i++) {
            char src[32];
            snprintf(src, sizeof src, "127.0.5.%d", 1 + i / per);
            c->fd[c->n++] = sp ? sec_sp_connect(src, port) : sec_connect(src, port);
        }
        if (count_closed(c, 0.3) == 0)
            return;
        close_conns(c);
        if (sec_now() > until)
            fail_msg("could not hold %d connections to port %d", n, port);
        sec_sleep_ms(100);
    }
}

static void test_connection_limits(void **state)
{
    (void)state;
    hbd_harness h;
    const char *args[] = {
        "--max-connections", "20", "--max-connections-per-ip", "8", "--read-timeout", "60", NULL};
    assert_int_equal(hbd_harness_start(&h, args), 0);
    int64_t run = create_run(&h);
    struct {
        int port;
        int sp;
        const char *url;
        const char *name;
    } fronts[2] = {{rest_port(&h), 0, h.rest_url, "REST"}, {nng_port(&h), 1, h.nng_tcp_url, "nng"}};

    for (int f = 0; f < 2; f++) {
        /* Per address: 12 from 127.0.0.2, of which 8 stay ... */
        conns a, b;
        open_conns(&a, 12, "127.0.0.2", fronts[f].port, fronts[f].sp);
        expect_closed(&a, 4, fronts[f].name);
        /* ... and other addresses are not affected. */
        assert_int_equal(beat_once(fronts[f].url, run), 0);
        close_conns(&a);

        /* In all: 20 held (4 from each of 5 addresses); one more, even from
           an address of its own, is not served ... */
        hold(&a, 20, 4, fronts[f].port, fronts[f].sp);
        if (f == 0) {
            /* REST makes room: the new connection is served at once, and
               the held connection that has waited longest for a request
               gives way. All addresses hold 4, so that is the oldest
               waiting: the first, once the others have each been served a
               request (which starts their wait anew). */
            static const char req[] = "GET /api/v3/runs?limit=1 HTTP/1.1\r\nHost: x\r\n\r\n";
            for (int i = 1; i < a.n; i++) {
                char got[512] = "";
                assert_int_equal(send(a.fd[i], req, sizeof req - 1, MSG_NOSIGNAL),
                                 (ssize_t)sizeof req - 1);
                assert_true(recv(a.fd[i], got, sizeof got - 1, 0) > 0);
                assert_non_null(strstr(got, "HTTP/1.1 200"));
            }
            int fd = sec_connect("127.0.0.3", fronts[f].port);
            assert_true(fd >= 0);
            assert_int_equal(send(fd, req, sizeof req - 1, MSG_NOSIGNAL), (ssize_t)sizeof req - 1);
            assert_true(readable_within(fd, 5.0));
            char reply[512] = "";
            assert_true(recv(fd, reply, sizeof reply - 1, 0) > 0);
            assert_non_null(strstr(reply, "HTTP/1.1 200"));
            expect_closed(&a, 1, "REST held connections");
            assert_true(a.fd[0] < 0);
            close(fd);
        } else {
            /* nng serves the newcomers: the connections idle longest give
               way to them. */
            open_conns(&b, 2, "127.0.0.3", fronts[f].port, fronts[f].sp);
            expect_closed(&a, 2, fronts[f].name);
            if (count_closed(&b, 0.1) != 0)
                fail_msg("%s: a new connection was refused", fronts[f].name);
            close_conns(&b);
        }
        /* ... until connections go. */
        close_conns(&a);
        double until = sec_now() + 10.0;
        int rc = -1;
        while (rc != 0 && sec_now() < until)
            rc = beat_once(fronts[f].url, run);
        assert_int_equal(rc, 0);
    }
    assert_true(sec_log_contains(&h, "nng: --max-connections-per-ip reached"));
    assert_true(sec_log_contains(&h, "nng: --max-connections reached"));
    assert_int_equal(hbd_harness_stop(&h), 0);
    hbd_harness_cleanup(&h);
}

/* ---- honest clients under attack ---- */

#define HONEST 16

typedef struct honest {
    pthread_t thread;
    const char *url;
    int64_t run;
    atomic_int *stop;
    long beats, failures;
    char last_error[HBEAT_ERROR_MESSAGE_MAX];
} honest;

static void *honest_main(void *arg)
{
    honest *c = arg;
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.request_timeout = TIMEOUT;
    o.connect_timeout = TIMEOUT;
    hbeat_gateway *gw = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbeat_gateway_open(&gw, c->url, &o, &err) != 0) {
        c->failures++;
        snprintf(c->last_error, sizeof c->last_error, "%s", err.message);
        return NULL;
    }
    while (!atomic_load(c->stop)) {
        char status[HBEAT_STATUS_MAX + 1];
        if (hbeat_gateway_log_heartbeat(gw, c->run, "R", 60.0, status, &err) == 0 &&
            strcmp(status, "R") == 0) {
            c->beats++;
        } else {
            c->failures++;
            snprintf(c->last_error, sizeof c->last_error, "%s", err.message);
        }
        sec_sleep_ms(20);
    }
    hbeat_gateway_free(gw);
    return NULL;
}

/* A slowloris connection: sends `text` one byte at a time. */
typedef struct slow {
    int fd;
    const char *text;
    size_t len;
    size_t sent;
    double opened, closed_at;
} slow;

static void slow_step(slow *s)
{
    if (s->fd < 0 || s->closed_at > 0)
        return;
    char byte = s->text[s->sent % s->len];
    if (send(s->fd, &byte, 1, MSG_NOSIGNAL | MSG_DONTWAIT) != 1 && errno != EAGAIN) {
        s->closed_at = sec_now();
        return;
    }
    s->sent++;
    if (sec_closed_within(s->fd, 0.0))
        s->closed_at = sec_now();
}

static void test_slowloris_and_flood(void **state)
{
    (void)state;
    int hundreds = flood_size(300);
    assert_true(hundreds >= 50);
    hbd_harness h;
    const char *args[] = {
        "--read-timeout", "1", "--max-connections", "4000", "--max-connections-per-ip", "64", NULL};
    assert_int_equal(hbd_harness_start(&h, args), 0);

    /* 16 honest clients, each beating its own run. */
    atomic_int stop = 0;
    honest clients[HONEST];
    memset(clients, 0, sizeof clients);
    for (int i = 0; i < HONEST; i++) {
        clients[i].url = i % 2 == 0 ? h.nng_tcp_url : h.rest_url;
        clients[i].run = create_run(&h);
        clients[i].stop = &stop;
    }
    for (int i = 0; i < HONEST; i++)
        assert_int_equal(pthread_create(&clients[i].thread, NULL, honest_main, &clients[i]), 0);

    /* The flood: hundreds of idle connections on each port, each from an
       address of its own; past the per-address limit REST refuses them at
       once; nng closes the longest idle ones past the limit at once, and
       every connection, greeted or not, once idle for the read timeout. */
    conns flood_rest[8], flood_nng[8], flood_sp;
    int groups = (hundreds + 63) / 64;
    for (int g = 0; g < groups && g < 8; g++) {
        char src[32];
        snprintf(src, sizeof src, "127.0.1.%d", 10 + g);
        open_conns(&flood_rest[g], 64 > hundreds - g * 64 ? hundreds - g * 64 : 64, src,
                   rest_port(&h), 0);
        snprintf(src, sizeof src, "127.0.2.%d", 10 + g);
        open_conns(&flood_nng[g], 64 > hundreds - g * 64 ? hundreds - g * 64 : 64, src,
                   nng_port(&h), 0);
    }
    open_conns(&flood_sp, 80, "127.0.3.1", nng_port(&h), 1);

    /* Slowloris on both ports: a byte every 100 ms, never a whole request. */
    enum { SLOW = 10 };
    slow slows[2 * SLOW];
    for (int i = 0; i < 2 * SLOW; i++) {
        slows[i].fd = sec_connect("127.0.4.1", i < SLOW ? rest_port(&h) : nng_port(&h));
        static const char http[] = "POST /api/v3/workflow_run/1/log_heartbeat HTTP/1.1\r\nX-A: ";
        static const char sp[] = {0, 'S', 'P', 0, 0, 0x30, 0, 0};
        slows[i].text = i < SLOW ? http : sp;
        slows[i].len = i < SLOW ? sizeof http - 1 : sizeof sp;
        slows[i].sent = 0;
        slows[i].opened = sec_now();
        slows[i].closed_at = 0;
        assert_true(slows[i].fd >= 0);
    }
    /* Trickle for 4 s: long enough for the 1 s read timeout to end every
       REST slowloris, and for the honest clients to beat throughout. */
    double until = sec_now() + 4.0;
    while (sec_now() < until) {
        for (int i = 0; i < 2 * SLOW; i++)
            slow_step(&slows[i]);
        sec_sleep_ms(100);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < HONEST; i++)
        pthread_join(clients[i].thread, NULL);

    for (int i = 0; i < SLOW; i++) {
        if (slows[i].closed_at == 0)
            fail_msg("REST slowloris %d still open after %.1f s and %zu bytes", i,
                     sec_now() - slows[i].opened, slows[i].sent);
        /* Cut by the read timeout, not refused on sight. */
        assert_true(slows[i].closed_at - slows[i].opened >= 0.5);
    }
    for (int i = 0; i < HONEST; i++) {
        if (clients[i].failures != 0 || clients[i].beats < 5)
            fail_msg("honest client %d (%s): %ld beats, %ld failures; last: %s", i, clients[i].url,
                     clients[i].beats, clients[i].failures, clients[i].last_error);
    }
    /* nng closed the SP-speaking flood (16 past the per-address limit at
       once, the rest idle for the read timeout) and the silent one. */
    expect_closed(&flood_sp, 80, "nng SP flood");
    for (int g = 0; g < groups && g < 8; g++)
        expect_closed(&flood_nng[g], flood_nng[g].n, "nng silent flood");
    assert_true(sec_log_contains(&h, "did not deliver a request within"));

    for (int i = 0; i < 2 * SLOW; i++)
        close(slows[i].fd);
    for (int g = 0; g < groups && g < 8; g++) {
        close_conns(&flood_rest[g]);
        close_conns(&flood_nng[g]);
    }
    close_conns(&flood_sp);
    assert_int_equal(hbd_harness_stop(&h), 0);
    hbd_harness_cleanup(&h);
}

static void test_help_lists_the_limits(void **state)
{
    (void)state;
    char *argv[] = {HBEATD_BIN, "--help", NULL};
    hb_proc p;
    assert_int_equal(hb_proc_start(&p, argv, NULL), 0);
    assert_int_equal(hb_proc_wait_exit(&p, 10.0), 0);
    const char *flags[] = {
        "--max-request BYTES",  "--max-connections N", "--max-connections-per-ip N",
        "--read-timeout S",     "--tls-cert FILE",     "--tls-key FILE",
        "--tls-client-ca FILE", "--token-file FILE",   "--allow-remote",
        "(default 65536)",      "(default 30)",        "--min-request-rate BYTES",
        "(default 500)"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        if (strstr(p.out, flags[i]) == NULL)
            fail_msg("hbeatd --help does not mention %s", flags[i]);
    }
    hb_proc_cleanup(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_max_request),
        cmocka_unit_test(test_connection_limits),
        cmocka_unit_test(test_slowloris_and_flood),
        cmocka_unit_test(test_help_lists_the_limits),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    tc_fini();
    return failed;
}
