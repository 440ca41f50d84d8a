/*
 * REST under a slowloris from many addresses, against
 * the real hbeatd with its default limits (1024 connections, 256 per
 * address, a 30 s read timeout): 256 slow connections from each of
 * 127.0.0.1 .. 127.0.0.5, each trickling a request header a byte at a
 * time and reconnecting as soon as it is closed, while an honest client
 * sends heartbeats on fresh connections, half of them from 127.0.0.1 (an
 * attacker's address) and half from 127.0.0.9 (one of its own).
 *
 * Before hbeatd made room, the table stayed full of slow connections for
 * the whole read timeout: honest connections waited in the kernel's
 * backlog, or were refused over the per-address limit, and nearly every
 * honest request failed. Now nearly all must succeed, and once the attack
 * ends hbeatd's descriptors and open connections return to their baseline.
 *
 * A second test checks the minimum request rate on its own: a request
 * trickled at 10 bytes a second is closed soon after the 2 s grace, not
 * after the 30 s read timeout.
 *
 * Bounded: 1280 attack connections at a time, 6 s of attack, 2 s per
 * honest request; every socket is closed and hbeatd stopped.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
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

#define ADDRESSES     5
#define PER_ADDRESS   256
#define SLOW          (ADDRESSES * PER_ADDRESS)
#define ATTACK_S      6.0
#define TRICKLE_MS    250 /* one byte per connection this often */
#define HONEST_WAIT_S 2.0
#define SETTLE_S      10.0

static int rest_port(const hbd_harness *h)
{
    return sec_ready_port(h, "http http://");
}

/* ---- the attacker ---- */

typedef struct slow_conn {
    int fd; /* -1: to be (re)connected */
    int connecting;
    double next_byte;
    size_t sent;
} slow_conn;

typedef struct attack {
    slow_conn c[SLOW];
    int port;
    unsigned long connects, closed_by_server;
} attack;

/* Never a whole request: a header line that never ends. */
static const char slow_text[] = "POST /api/v3/workflow_run/1/log_heartbeat HTTP/1.1\r\n"
                                "Host: 127.0.0.1\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

static void slow_open(attack *a, int i, double now)
{
    slow_conn *s = &a->c[i];
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    char src[32];
    snprintf(src, sizeof src, "127.0.0.%d", 1 + i / PER_ADDRESS);
    inet_pton(AF_INET, src, &sa.sin_addr);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return;
    }
    sa.sin_port = htons((unsigned short)a->port);
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS) {
        close(fd);
        return;
    }
    s->fd = fd;
    s->connecting = 1;
    s->sent = 0;
    s->next_byte = now;
    a->connects++;
}

static void slow_drop(attack *a, int i, int by_server)
{
    close(a->c[i].fd);
    a->c[i].fd = -1;
    a->closed_by_server += by_server != 0;
}

/* One round: (re)connect what is closed, notice what the server closed,
   send a byte where one is due. Waits at most `wait_ms` in poll. */
static void attack_round(attack *a, int wait_ms)
{
    static struct pollfd pf[SLOW];
    double now = sec_now();
    for (int i = 0; i < SLOW; i++) {
        if (a->c[i].fd < 0)
            slow_open(a, i, now);
        pf[i].fd = a->c[i].fd;
        pf[i].events = (short)(POLLIN | (a->c[i].connecting ? POLLOUT : 0));
        pf[i].revents = 0;
    }
    if (poll(pf, SLOW, wait_ms) < 0)
        return;
    now = sec_now();
    for (int i = 0; i < SLOW; i++) {
        slow_conn *s = &a->c[i];
        if (s->fd < 0)
            continue;
        if (pf[i].revents & (POLLIN | POLLERR | POLLHUP)) {
            char buf[512];
            ssize_t r = recv(s->fd, buf, sizeof buf, MSG_DONTWAIT);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
                slow_drop(a, i, 1);
                continue;
            }
        }
        if (s->connecting && (pf[i].revents & POLLOUT))
            s->connecting = 0;
        if (!s->connecting && now >= s->next_byte) {
            char byte = slow_text[s->sent % (sizeof slow_text - 1)];
            if (send(s->fd, &byte, 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1)
                s->sent++;
            else if (errno != EAGAIN)
                slow_drop(a, i, 1);
            s->next_byte = now + TRICKLE_MS / 1000.0;
        }
    }
}

static void attack_end(attack *a)
{
    for (int i = 0; i < SLOW; i++) {
        if (a->c[i].fd >= 0)
            close(a->c[i].fd);
        a->c[i].fd = -1;
    }
}

/* ---- the honest client ---- */

typedef struct honest {
    pthread_t thread;
    int port;
    int64_t run;
    atomic_int stop;
    int tries[2], ok[2]; /* [0]: from 127.0.0.1, [1]: from 127.0.0.9 */
    double worst[2];
    char last_failure[2][160];
} honest;

/* One heartbeat on a fresh connection from `src`: 1 when answered 200
   within HONEST_WAIT_S. */
static int honest_beat(honest *c, const char *src, char *why, size_t whylen)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(why, whylen, "socket: %s", strerror(errno));
        return 0;
    }
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    inet_pton(AF_INET, src, &sa.sin_addr);
    struct timeval tv = {(time_t)HONEST_WAIT_S, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int ok = 0;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        snprintf(why, whylen, "bind %s: %s", src, strerror(errno));
        close(fd);
        return 0;
    }
    sa.sin_port = htons((unsigned short)c->port);
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    double t0 = sec_now();
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        snprintf(why, whylen, "connect: %s", strerror(errno));
        close(fd);
        return 0;
    }
    static const char body[] = "{\"status\": \"R\", \"next_report_increment\": 60}";
    char req[512];
    int n = snprintf(req, sizeof req,
                     "POST /api/v3/workflow_run/%lld/log_heartbeat HTTP/1.1\r\nHost: x\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n%s",
                     (long long)c->run, sizeof body - 1, body);
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        snprintf(why, whylen, "send: %s", strerror(errno));
        close(fd);
        return 0;
    }
    char reply[1024];
    size_t have = 0;
    while (have + 1 < sizeof reply && sec_now() - t0 < HONEST_WAIT_S) {
        ssize_t r = recv(fd, reply + have, sizeof reply - 1 - have, 0);
        if (r <= 0) {
            if (have == 0)
                snprintf(why, whylen, "%s after %.2f s",
                         r == 0 ? "closed unanswered" : strerror(errno), sec_now() - t0);
            break;
        }
        have += (size_t)r;
    }
    reply[have] = '\0';
    if (have >= 12 && memcmp(reply, "HTTP/1.1 200", 12) == 0 &&
        strstr(reply, "{\"status\":\"R\"}") != NULL)
        ok = 1;
    else if (have > 0)
        snprintf(why, whylen, "answered %.60s", reply);
    close(fd);
    return ok;
}

static void *honest_main(void *arg)
{
    honest *c = arg;
    for (int i = 0; !atomic_load(&c->stop); i++) {
        int k = i % 2;
        char why[160] = "";
        double t0 = sec_now();
        c->tries[k]++;
        if (honest_beat(c, k == 0 ? "127.0.0.1" : "127.0.0.9", why, sizeof why))
            c->ok[k]++;
        else
            snprintf(c->last_failure[k], sizeof c->last_failure[k], "%s", why);
        if (sec_now() - t0 > c->worst[k])
            c->worst[k] = sec_now() - t0;
        sec_sleep_ms(50);
    }
    return NULL;
}

/* ---- what hbeatd holds ---- */

static int open_fds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/fd", (long)pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* hbeatd_open_connections{protocol="rest"}, read over REST (so it counts
   the connection asking); -1 when it cannot be read. */
static long rest_connections(int port)
{
    static char reply[65536];
    if (sec_http(port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", reply,
                 sizeof reply) <= 0)
        return -1;
    const char *key = "hbeatd_open_connections{protocol=\"rest\"} ";
    const char *p = strstr(reply, key);
    return p != NULL ? strtol(p + strlen(key), NULL, 10) : -1;
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void test_slowloris_from_many_addresses(void **state)
{
    (void)state;
    raise_nofile();
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < SLOW + 200)
        skip();
    hbd_harness h;
    assert_int_equal(hbd_harness_start(&h, NULL), 0);
    int port = rest_port(&h);
    assert_true(port > 0);

    hbeat_gateway *gw = sec_open(h.rest_url, NULL, NULL, 10.0);
    hbeat_run_info run;
    assert_int_equal(hbeat_run_create(gw, 5, "R", &run, NULL), 0);
    hbeat_gateway_free(gw);

    /* Baseline: nothing but the metrics request itself. */
    /* Each asking connection is closed after its answer, so the next ask
       may still see the last one: judge the value the loop ended on. */
    double until = sec_now() + SETTLE_S;
    long before;
    while ((before = rest_connections(port)) != 1 && sec_now() < until)
        sec_sleep_ms(50);
    assert_int_equal(before, 1);
    int base_fds = open_fds(h.pid);
    assert_true(base_fds > 0);

    /* The attack fills the table first, then the honest client starts. */
    static attack a;
    memset(&a, 0, sizeof a);
    a.port = port;
    for (int i = 0; i < SLOW; i++)
        a.c[i].fd = -1;
    double t0 = sec_now();
    while (sec_now() - t0 < 1.0)
        attack_round(&a, 10);
    honest c;
    memset(&c, 0, sizeof c);
    c.port = port;
    c.run = run.workflow_run_id;
    assert_int_equal(pthread_create(&c.thread, NULL, honest_main, &c), 0);
    while (sec_now() - t0 < 1.0 + ATTACK_S)
        attack_round(&a, 10);
    atomic_store(&c.stop, 1);
    pthread_join(c.thread, NULL);
    unsigned long connects = a.connects, closed = a.closed_by_server;
    attack_end(&a);

    print_message("attack: %lu connections, %lu closed by hbeatd; honest: %d/%d from 127.0.0.1 "
                  "(worst %.2f s), %d/%d from 127.0.0.9 (worst %.2f s)\n",
                  connects, closed, c.ok[0], c.tries[0], c.worst[0], c.ok[1], c.tries[1],
                  c.worst[1]);
    for (int k = 0; k < 2; k++) {
        if (c.tries[k] < 10 || c.ok[k] * 10 < c.tries[k] * 9)
            fail_msg("honest heartbeats from %s: %d of %d succeeded; last failure: %s",
                     k == 0 ? "127.0.0.1" : "127.0.0.9", c.ok[k], c.tries[k], c.last_failure[k]);
    }
    /* Made room by closing slow connections, not by refusing new ones. */
    assert_true(closed >= SLOW / 4);
    assert_true(sec_log_contains(&h, "rest: the connection table is full"));

    /* Back to the baseline within seconds once the attack ends. */
    until = sec_now() + SETTLE_S;
    long conns = -1;
    int fds = -1;
    while (sec_now() < until) {
        conns = rest_connections(port);
        fds = open_fds(h.pid);
        if (conns == 1 && fds <= base_fds)
            break;
        sec_sleep_ms(100);
    }
    print_message("back to the baseline (%d descriptors) %.2f s after the attack ended\n", base_fds,
                  sec_now() - (until - SETTLE_S));
    if (conns != 1 || fds > base_fds)
        fail_msg("after the attack: %ld REST connections open (want 1, the one asking), %d "
                 "descriptors (baseline %d)",
                 conns, fds, base_fds);
    assert_int_equal(hbd_harness_stop(&h), 0);
    hbd_harness_cleanup(&h);
}

/* The minimum rate on its own, with the default 30 s read timeout: a
   request trickled at 10 bytes a second is closed a little after the 2 s
   grace; a connection that sends nothing is idle, not slow, and stays; a
   request sent whole is served. */
static void test_a_trickle_is_closed_at_the_minimum_rate(void **state)
{
    (void)state;
    hbd_harness h;
    assert_int_equal(hbd_harness_start(&h, NULL), 0);
    int port = rest_port(&h);
    int slow = sec_connect("127.0.0.2", port), idle = sec_connect("127.0.0.3", port);
    assert_true(slow >= 0 && idle >= 0);
    double t0 = sec_now(), closed_after = 0;
    for (size_t i = 0; sec_now() - t0 < 8.0; i++) {
        char byte = slow_text[i % (sizeof slow_text - 1)];
        if (send(slow, &byte, 1, MSG_NOSIGNAL) != 1 || sec_closed_within(slow, 0.1)) {
            closed_after = sec_now() - t0;
            break;
        }
    }
    if (closed_after < 2.0 || closed_after > 5.0)
        fail_msg("a request trickled at 10 bytes/s was closed after %.2f s (0: not in 8 s); "
                 "want a little after the 2 s grace",
                 closed_after);
    print_message("a request trickled at 10 bytes/s was closed after %.2f s\n", closed_after);
    assert_int_equal(sec_closed_within(idle, 0.1), 0);
    assert_true(sec_log_wait(&h, "slower than 500 bytes/s (--min-request-rate)", 5.0) == 0);
    char reply[4096];
    assert_true(sec_http(port, "GET /api/v3/runs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                         reply, sizeof reply) > 0);
    assert_non_null(strstr(reply, "HTTP/1.1 200"));
    close(slow);
    close(idle);
    assert_int_equal(hbd_harness_stop(&h), 0);
    hbd_harness_cleanup(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slowloris_from_many_addresses),
        cmocka_unit_test(test_a_trickle_is_closed_at_the_minimum_rate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
