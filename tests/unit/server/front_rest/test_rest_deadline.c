/*
 * The REST front end's guard against slow and idle clients
 * (src/server/front/rest/rest_deadline.c, rest_addrmap.c), on a fake
 * clock and a fake count of received bytes, with no sweeper thread and no
 * HTTP:
 *  - a full table admits a new connection and shuts the one that has
 *    waited longest for its request, preferring the address that holds the
 *    most connections; a connection being served never gives way; when all
 *    are being served the new one is shut;
 *  - the per-address limit makes room within the address;
 *  - a request trickling slower than the minimum rate is shut after the
 *    grace; an idle connection is not (the read timeout ends it); a new
 *    request is measured anew.
 * Connections are socketpairs: a shut one reads as closed at its peer.
 * What the guard logs is read back from stderr (log_capture.h).
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "rest_secure.h"
#include "support/log_capture.h"

#define MAX_CONNS 16

static long long fake_ms;
static long long bytes_of[1024]; /* by descriptor */

static long long fake_now(void *arg)
{
    (void)arg;
    return fake_ms;
}

static long long fake_received(void *arg, int fd)
{
    (void)arg;
    return fd >= 0 && fd < 1024 ? bytes_of[fd] : -1;
}

/* ---- the log ----
   stderr is captured only around the guard's own calls (adding a
   connection, a sweep), never around an assertion, whose message must
   reach the real stderr. */
static char log_last[1024]; /* the last line since log_reset, "" when none */

static void log_reset(void)
{
    /* The lines of single events are read; the limiter has tests of its
       own (tests/unit/server/log/test_log_limit.c). */
    hbd_log_limit_configure(1e9, 0);
    log_last[0] = '\0';
}

static void log_begin(void)
{
    if (log_capture_start() != 0)
        fail_msg("cannot capture stderr");
}

/* Keeps the last line written since log_begin, if any. */
static void log_end(void)
{
    char *text = log_capture_stop();
    if (text == NULL)
        fail_msg("stderr was not being captured");
    size_t len = strlen(text);
    while (len > 0 && text[len - 1] == '\n')
        text[--len] = '\0';
    if (len > 0) {
        const char *nl = strrchr(text, '\n');
        snprintf(log_last, sizeof log_last, "%s", nl != NULL ? nl + 1 : text);
    }
    if (getenv("REST_TEST_VERBOSE") != NULL && len > 0)
        fprintf(stderr, "%s\n", text);
    free(text);
}

typedef struct conn {
    hbd_rest_deadline d;
    int fd, peer;
    int in_set;
} conn;

typedef struct fx {
    hbd_rest_deadlines *set;
    conn c[MAX_CONNS];
    int n;
} fx;

static fx *start(hbd_rest_guard g)
{
    static fx f;
    memset(&f, 0, sizeof f);
    memset(bytes_of, 0, sizeof bytes_of);
    fake_ms = 1000000;
    log_reset();
    g.now_ms = fake_now;
    g.received = fake_received;
    g.no_thread = 1;
    if (g.read_timeout == 0)
        g.read_timeout = 30;
    if (g.capacity == 0)
        g.capacity = 64;
    assert_int_equal(hbd_rest_deadlines_start(&f.set, &g), 0);
    return &f;
}

static void finish(fx *f)
{
    for (int i = 0; i < f->n; i++) {
        if (f->c[i].in_set)
            hbd_rest_deadline_remove(f->set, &f->c[i].d);
        close(f->c[i].fd);
        close(f->c[i].peer);
    }
    hbd_rest_deadlines_stop(f->set);
}

/* A new connection from 127.0.0.`host`; its index. `*rc` gets add's. */
static int connect_from(fx *f, int host, int *rc)
{
    assert_true(f->n < MAX_CONNS);
    conn *c = &f->c[f->n];
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    c->fd = sv[0];
    c->peer = sv[1];
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    char text[32];
    snprintf(text, sizeof text, "127.0.0.%d", host);
    inet_pton(AF_INET, text, &sa.sin_addr);
    log_begin();
    int r = hbd_rest_deadline_add_fd(f->set, &c->d, c->fd, (const struct sockaddr *)&sa);
    log_end();
    if (rc != NULL)
        *rc = r;
    c->in_set = 1;
    return f->n++;
}

static int add(fx *f, int host)
{
    int rc = -2;
    int i = connect_from(f, host, &rc);
    assert_int_equal(rc, 0);
    return i;
}

/* 1 when the connection was shut down (its peer reads the end). */
static int is_shut(fx *f, int i)
{
    struct pollfd p = {f->c[i].peer, POLLIN, 0};
    if (poll(&p, 1, 0) != 1)
        return 0;
    char b;
    return recv(f->c[i].peer, &b, 1, MSG_DONTWAIT) == 0;
}

/* Which of the first n connections are shut, as a string of 0s and 1s. */
static const char *shut_map(fx *f)
{
    static char out[MAX_CONNS + 1];
    for (int i = 0; i < f->n; i++)
        out[i] = is_shut(f, i) ? '1' : '0';
    out[f->n] = '\0';
    return out;
}

/* libmicrohttpd closes a shut connection: it leaves the set. */
static void closed_by_mhd(fx *f, int i)
{
    hbd_rest_deadline_remove(f->set, &f->c[i].d);
    f->c[i].in_set = 0;
}

/* ---- the table ---- */

static void test_a_full_table_closes_the_longest_waiting(void **state)
{
    (void)state;
    fx *f = start((hbd_rest_guard){.max_connections = 3});
    for (int i = 0; i < 3; i++) {
        add(f, 1 + i);
        fake_ms += 100;
    }
    assert_string_equal(shut_map(f), "000");
    /* Full: the fourth is admitted, the oldest waiting gives way. */
    add(f, 4);
    assert_string_equal(shut_map(f), "1000");
    assert_int_equal(hbd_rest_deadlines_live(f->set), 3);
    assert_non_null(
        strstr(log_last, "rest: the connection table is full (3 open, --max-connections)"));
    assert_non_null(strstr(log_last, "(0.3 s, from 127.0.0.1)"));
    /* Until libmicrohttpd has closed it, a shut connection takes no slot. */
    fake_ms += 100;
    add(f, 5);
    assert_string_equal(shut_map(f), "11000");
    closed_by_mhd(f, 0);
    closed_by_mhd(f, 1);
    assert_int_equal(hbd_rest_deadlines_live(f->set), 3);
    finish(f);
}

static void test_a_served_request_is_never_closed(void **state)
{
    (void)state;
    fx *f = start((hbd_rest_guard){.max_connections = 3});
    for (int i = 0; i < 3; i++) {
        add(f, 1 + i);
        fake_ms += 100;
    }
    /* The oldest has its request in (being served): the next oldest
       gives way instead. */
    hbd_rest_deadline_disarm(&f->c[0].d);
    add(f, 4);
    assert_string_equal(shut_map(f), "0100");
    /* A request served and the connection waiting again: its wait starts
       anew, so it is now the youngest but one. */
    fake_ms += 100;
    hbd_rest_deadline_arm(f->set, &f->c[0].d);
    fake_ms += 100;
    add(f, 5);
    assert_string_equal(shut_map(f), "01100");
    finish(f);
}

static void test_when_all_are_served_the_new_one_is_closed(void **state)
{
    (void)state;
    fx *f = start((hbd_rest_guard){.max_connections = 2});
    add(f, 1);
    add(f, 2);
    hbd_rest_deadline_disarm(&f->c[0].d);
    hbd_rest_deadline_disarm(&f->c[1].d);
    int rc = 0;
    connect_from(f, 3, &rc);
    assert_int_equal(rc, -1);
    assert_string_equal(shut_map(f), "001");
    assert_int_equal(hbd_rest_deadlines_live(f->set), 2);
    assert_non_null(strstr(log_last, "every connection is being served; closed a new connection"));
    finish(f);
}

static void test_the_busiest_address_gives_way_first(void **state)
{
    (void)state;
    fx *f = start((hbd_rest_guard){.max_connections = 4});
    /* An honest client on an address of its own, connected first ... */
    add(f, 9);
    fake_ms += 100;
    /* ... then three connections from one address. */
    for (int i = 0; i < 3; i++) {
        add(f, 1);
        fake_ms += 100;
    }
    /* The oldest waiting is the honest one, but 127.0.0.1 holds more. */
    add(f, 2);
    assert_string_equal(shut_map(f), "01000");
    add(f, 3);
    assert_string_equal(shut_map(f), "011000");
    /* Now every address holds one connection: the oldest goes. */
    add(f, 4);
    assert_string_equal(shut_map(f), "1110000");
    finish(f);
}

static void test_the_per_address_limit_makes_room_within_the_address(void **state)
{
    (void)state;
    fx *f = start((hbd_rest_guard){.max_connections = 10, .max_per_address = 2});
    add(f, 1);
    fake_ms += 100;
    add(f, 2);
    fake_ms += 100;
    add(f, 1);
    fake_ms += 100;
    /* 127.0.0.2's connection is older, but it is 127.0.0.1 that is full. */
    add(f, 1);
    assert_string_equal(shut_map(f), "1000");
    assert_non_null(strstr(log_last, "rest: 127.0.0.1 has 2 connections open"));
    /* Its count went down with the shut one. */
    add(f, 2);
    assert_string_equal(shut_map(f), "10000");
    /* All of an address's connections busy: the new one is closed. */
    hbd_rest_deadline_disarm(&f->c[2].d);
    hbd_rest_deadline_disarm(&f->c[3].d);
    int rc = 0;
    connect_from(f, 1, &rc);
    assert_int_equal(rc, -1);
    assert_string_equal(shut_map(f), "100001");
    finish(f);
}

static void test_addresses_are_counted_exactly(void **state)
{
    (void)state;
    hbd_rest_addrmap *m = hbd_rest_addrmap_new(300);
    assert_non_null(m);
    unsigned char key[16] = {0};
    hbd_rest_addr *held[300];
    /* 300 connections over 100 addresses, then leaving in another order:
       the counts stay exact through the moves that removal makes. */
    for (int i = 0; i < 300; i++) {
        key[15] = (unsigned char)(i % 100);
        key[14] = (unsigned char)(i % 7 == 0 ? 1 : 0);
        held[i] = hbd_rest_addrmap_join(m, key);
        assert_non_null(held[i]);
    }
    for (int i = 0; i < 300; i += 2)
        hbd_rest_addrmap_leave(m, held[i]);
    for (int a = 0; a < 100; a++) {
        for (int hi = 0; hi < 2; hi++) {
            unsigned long want = 0;
            for (int i = 1; i < 300; i += 2)
                want += i % 100 == a && (i % 7 == 0) == hi;
            key[15] = (unsigned char)a;
            key[14] = (unsigned char)hi;
            assert_int_equal(hbd_rest_addrmap_count(m, key), want);
        }
    }
    for (int i = 1; i < 300; i += 2)
        hbd_rest_addrmap_leave(m, held[i]);
    key[15] = 5;
    key[14] = 0;
    assert_int_equal(hbd_rest_addrmap_count(m, key), 0);
    hbd_rest_addrmap_free(m);

    /* More addresses than connections it was made for: refused, not
       overrun. */
    m = hbd_rest_addrmap_new(2);
    key[15] = 1;
    assert_non_null(hbd_rest_addrmap_join(m, key));
    key[15] = 2;
    assert_non_null(hbd_rest_addrmap_join(m, key));
    key[15] = 3;
    assert_null(hbd_rest_addrmap_join(m, key));
    hbd_rest_addrmap_free(m);
}

/* ---- the minimum rate ---- */

static void sweep_at(fx *f, long long ms)
{
    fake_ms = ms;
    log_begin();
    hbd_rest_deadlines_sweep(f->set);
    log_end();
}

static void test_a_trickle_is_closed_after_the_grace(void **state)
{
    (void)state;
    fx *f = start((hbd_rest_guard){.read_timeout = 30, .min_rate = 100, .grace = 2});
    long long t0 = fake_ms;
    int slow = add(f, 1), fast = add(f, 2), idle = add(f, 3);
    /* The slow one sends 10 bytes a second from t0 + 1 s; the fast one
       300 bytes at once and then nothing (it waits for 100 Continue, say). */
    for (long long t = 250; t <= 3500; t += 250) {
        if (t >= 1000)
            bytes_of[f->c[slow].fd] = 10 * (t - 750) / 1000;
        if (t == 1000)
            bytes_of[f->c[fast].fd] = 300;
        sweep_at(f, t0 + t);
        if (t < 3250)
            assert_string_equal(shut_map(f), "000");
    }
    /* 1 s in (first byte seen), + 2 s grace, then 10 B/s < 100 B/s. */
    assert_string_equal(shut_map(f), "100");
    assert_non_null(strstr(log_last, "slower than 100 bytes/s (--min-request-rate)"));
    /* 300 bytes in 1 s, then silence: slower than 100 B/s on average once
       300 bytes no longer cover the time after the grace (at t = 6 s). */
    sweep_at(f, t0 + 5900);
    assert_string_equal(shut_map(f), "100");
    sweep_at(f, t0 + 6100);
    assert_string_equal(shut_map(f), "110");
    /* The idle one never began a request: only the read timeout ends it. */
    sweep_at(f, t0 + 29900);
    assert_string_equal(shut_map(f), "110");
    sweep_at(f, t0 + 30000);
    assert_string_equal(shut_map(f), "111");
    assert_non_null(strstr(log_last, "did not deliver a request within 30 s (--read-timeout)"));
    (void)idle;
    finish(f);
}

static void test_a_new_request_is_measured_anew(void **state)
{
    (void)state;
    fx *f = start((hbd_rest_guard){.read_timeout = 30, .min_rate = 100, .grace = 2});
    long long t0 = fake_ms;
    int c = add(f, 1);
    /* A whole first request at once, then served ... */
    bytes_of[f->c[c].fd] = 500;
    sweep_at(f, t0 + 250);
    hbd_rest_deadline_disarm(&f->c[c].d);
    sweep_at(f, t0 + 10000);
    /* ... and the connection kept alive: its next request begins 20 s
       later and arrives at 200 B/s, fast enough. The time it spent idle
       and served counts for nothing. */
    hbd_rest_deadline_arm(f->set, &f->c[c].d);
    sweep_at(f, t0 + 10250);
    for (long long t = 20000; t <= 25000; t += 250) {
        bytes_of[f->c[c].fd] = 500 + 200 * (t - 20000) / 1000;
        sweep_at(f, t0 + t);
    }
    assert_string_equal(shut_map(f), "0");
    /* Then it stalls: its 1000 bytes cover 10 s after the grace at
       100 B/s, so it is closed 12 s after it began. */
    sweep_at(f, t0 + 31500);
    assert_string_equal(shut_map(f), "0");
    sweep_at(f, t0 + 32500);
    assert_string_equal(shut_map(f), "1");
    finish(f);
}

static void test_no_rate_without_a_byte_count(void **state)
{
    (void)state;
    fx *f = start((hbd_rest_guard){.read_timeout = 30, .min_rate = 100, .grace = 2});
    long long t0 = fake_ms;
    int c = add(f, 1);
    hbd_rest_deadline_arm(f->set, &f->c[c].d);
    /* A socket whose count cannot be read (not TCP): left to the read
       timeout. */
    bytes_of[f->c[c].fd] = -1;
    for (long long t = 250; t < 30000; t += 250)
        sweep_at(f, t0 + t);
    assert_string_equal(shut_map(f), "0");
    sweep_at(f, t0 + 30300);
    assert_string_equal(shut_map(f), "1");
    finish(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_full_table_closes_the_longest_waiting),
        cmocka_unit_test(test_a_served_request_is_never_closed),
        cmocka_unit_test(test_when_all_are_served_the_new_one_is_closed),
        cmocka_unit_test(test_the_busiest_address_gives_way_first),
        cmocka_unit_test(test_the_per_address_limit_makes_room_within_the_address),
        cmocka_unit_test(test_addresses_are_counted_exactly),
        cmocka_unit_test(test_a_trickle_is_closed_after_the_grace),
        cmocka_unit_test(test_a_new_request_is_measured_anew),
        cmocka_unit_test(test_no_rate_without_a_byte_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
