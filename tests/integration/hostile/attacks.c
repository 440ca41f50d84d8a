/*
 * The hostile patterns; see attacks.h. The ones that hold many connections
 * share one engine (a pool of non-blocking connections and one poll loop),
 * so that a server that stops answering can never stall the attacker past
 * its time, and thousands of connections cost one thread.
 */
#define _GNU_SOURCE /* POLLRDHUP */

#include "attacks.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support/rawpeer.h"

/* Connections that are not up after this long count as failed. */
#define CONNECT_TIMEOUT_S 2.0
/* Between the rounds of the abandon pattern. */
#define ABANDON_PAUSE_S   0.02
#define ABANDON_PIPELINED 5
/* A slot whose connection the server ended is used again after this. */
#define RECONNECT_S 0.25
/* The trickles: one byte every so often. */
#define SP_TRICKLE_S   0.25
#define HTTP_TRICKLE_S 0.2
/* How long one poll waits: the granularity of every timer here. */
#define TICK_MS 20

static int stopped(const hx_opts *o)
{
    return o->stop != NULL && atomic_load(o->stop);
}

static const char *source(const hx_opts *o, unsigned k, char *buf, size_t cap)
{
    if (o->src_base == NULL)
        return NULL;
    rp_source(buf, cap, o->src_base, (int)(k % (unsigned)(o->sources > 0 ? o->sources : 1)));
    return buf;
}

static int parse(const hx_opts *o, hx_report *r, rp_addr *a, int want_sp)
{
    memset(r, 0, sizeof *r);
    if (rp_parse(o->url, a) != 0) {
        snprintf(r->note, sizeof r->note, "cannot use URL %s", o->url);
        return -1;
    }
    if (want_sp && (!a->sp || a->tls)) {
        snprintf(r->note, sizeof r->note, "%s: needs nng+tcp:// or nng+ipc://", o->url);
        return -1;
    }
    return 0;
}

/* ---- item 1: abandoned pipelined requests ---- */

int hx_abandon(const hx_opts *o, hx_report *r)
{
    rp_addr a;
    if (parse(o, r, &a, 1) != 0)
        return -1;
    unsigned per_round = o->count != 0 ? o->count : 5;
    /* Garbage requests: an 8-byte length (6), a request id, two bytes. */
    unsigned char frames[ABANDON_PIPELINED * 32];
    size_t len = 0;
    for (uint32_t i = 0; i < ABANDON_PIPELINED; i++)
        len += rp_request(frames + len, a.is_unix, i + 1, "\xff\xff", 2);
    int *fds = calloc(per_round, sizeof *fds);
    double t0 = rp_now(), end = t0 + o->seconds;
    unsigned k = 0;
    while (rp_now() < end && !stopped(o)) {
        for (unsigned i = 0; i < per_round; i++) {
            char src[32];
            fds[i] = rp_sp_connect(&a, source(o, k++, src, sizeof src), CONNECT_TIMEOUT_S);
            if (fds[i] < 0) {
                r->connect_failed++;
                continue;
            }
            r->connects++;
            r->handshakes++;
        }
        for (unsigned i = 0; i < per_round; i++) {
            if (fds[i] >= 0 && rp_send_within(fds[i], frames, len, 1.0) == 0) {
                r->requests += ABANDON_PIPELINED;
                r->bytes += len;
            }
        }
        /* Without reading a reply: over TCP, replies already there turn
           the close into a reset. */
        for (unsigned i = 0; i < per_round; i++) {
            if (fds[i] >= 0)
                close(fds[i]);
        }
        rp_sleep(ABANDON_PAUSE_S);
    }
    free(fds);
    r->elapsed = rp_now() - t0;
    return 0;
}

/* ---- item 2: a connection that never reads ---- */

int hx_nonreader(const hx_opts *o, hx_report *r)
{
    rp_addr a;
    if (parse(o, r, &a, 1) != 0)
        return -1;
    unsigned count = o->count != 0 ? o->count : 60000;
    double t0 = rp_now(), end = t0 + o->seconds;
    char src[32];
    int fd = rp_sp_connect(&a, source(o, 0, src, sizeof src), CONNECT_TIMEOUT_S);
    if (fd < 0) {
        r->connect_failed++;
        snprintf(r->note, sizeof r->note, "no SP handshake with %s", o->url);
        r->elapsed = rp_now() - t0;
        return -1;
    }
    r->connects = r->handshakes = 1;
    double up = rp_now();
    /* Valid, read-only requests (get_run of run 1): the server has work
       to do for each, and a reply to send back. */
    unsigned char body[4];
    size_t blen = rp_get_run_body(body, 1);
    unsigned char one[32];
    size_t flen = rp_request(one, a.is_unix, 1, body, blen);
    unsigned char *buf = malloc((size_t)count * flen);
    for (unsigned i = 0; i < count; i++)
        rp_request(buf + (size_t)i * flen, a.is_unix, i + 1, body, blen);
    size_t total = (size_t)count * flen, sent = 0;
    int gone = 0;
    double closed_at = 0;
    while (sent < total && rp_now() < end && !stopped(o)) {
        long n = rp_send_some(fd, buf + sent, total - sent);
        if (n < 0) {
            gone = 1;
            closed_at = rp_now();
            break;
        }
        sent += (size_t)n;
        if (n == 0) {
            struct pollfd p = {fd, POLLOUT | POLLRDHUP, 0};
            poll(&p, 1, TICK_MS);
        }
    }
    free(buf);
    r->bytes = sent;
    r->requests = sent / flen;
    /* Silence: nothing read, nothing sent. POLLRDHUP (and not POLLIN)
       tells when the server ends the connection, however many replies
       wait unread. */
    double limit = o->close_limit > 0 ? up + o->close_limit : end;
    if (limit < end)
        limit = end;
    while (!gone && !stopped(o)) {
        double now = rp_now();
        if (now >= limit || (now >= end && o->close_limit <= 0))
            break;
        struct pollfd p = {fd, POLLRDHUP, 0};
        if (poll(&p, 1, TICK_MS) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) {
            gone = 1;
            closed_at = rp_now();
        }
    }
    if (gone) {
        r->closed_by_server = 1;
        r->longest_open = closed_at - up;
    } else if (o->close_limit > 0) {
        r->overdue = 1;
    }
    close(fd);
    r->elapsed = rp_now() - t0;
    return 0;
}

/* ---- the pool: many held connections ---- */

typedef enum behaviour {
    B_RAW,         /* connects and sends nothing */
    B_SP_IDLE,     /* SP handshake, then nothing */
    B_SP_TRICKLE,  /* SP handshake, then a request a byte at a time */
    B_SP_PARTIAL,  /* SP handshake, then most of a big message at once */
    B_HTTP_TRICKLE /* HTTP header bytes, a byte at a time */
} behaviour;

enum { P_FREE, P_CONNECTING, P_GREETING, P_SENDING, P_HOLD, P_TRICKLE };

typedef struct conn {
    int fd;
    int phase;
    int used;     /* was up at least once */
    int overdue;  /* counted as overdue already */
    double start; /* connect began */
    double since; /* from when the server's time to end it runs */
    double next;  /* the next trickled byte; for a free slot, the next try */
    size_t sent;  /* of the payload or the trickle text */
    size_t got;   /* of the server's greeting */
    unsigned char greet[8];
} conn;

typedef struct pool {
    const hx_opts *o;
    hx_report *r;
    rp_addr a;
    unsigned n;
    conn *c;
    behaviour (*which)(unsigned slot);
    int reconnect;                /* make a connection again once the server ended it */
    double pace;                  /* connections per second; 0: all at once */
    const unsigned char *payload; /* B_SP_PARTIAL */
    size_t payload_len;
    const unsigned char *trickle; /* B_SP_TRICKLE, B_HTTP_TRICKLE */
    size_t trickle_len;
    double trickle_every;
} pool;

static void conn_close(conn *c, double now, double again)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->phase = P_FREE;
    c->next = now + again;
}

static void conn_open(pool *p, unsigned i, double now)
{
    conn *c = &p->c[i];
    char src[32];
    int connected = 0;
    c->overdue = 0;
    c->sent = c->got = 0;
    c->start = c->since = now;
    c->fd = rp_connect_start(&p->a, source(p->o, i, src, sizeof src), &connected);
    if (c->fd < 0) {
        p->r->connect_failed++;
        conn_close(c, now, RECONNECT_S);
        return;
    }
    c->phase = P_CONNECTING;
}

/* The server ended connection `c`. */
static void conn_ended(pool *p, conn *c, double now)
{
    p->r->closed_by_server++;
    if (now - c->since > p->r->longest_open)
        p->r->longest_open = now - c->since;
    conn_close(c, now, RECONNECT_S);
}

static void conn_up(pool *p, conn *c, double now)
{
    p->r->connects++;
    c->used = 1;
    c->since = now;
    behaviour b = p->which((unsigned)(c - p->c));
    if (b == B_RAW) {
        c->phase = P_HOLD;
    } else if (b == B_HTTP_TRICKLE) {
        c->phase = P_TRICKLE;
        c->next = now;
    } else if (rp_send_some(c->fd, rp_req_greeting, sizeof rp_req_greeting) !=
               (long)sizeof rp_req_greeting) {
        conn_ended(p, c, now);
    } else {
        c->phase = P_GREETING;
    }
}

static void conn_greeted(pool *p, conn *c, double now)
{
    if (!rp_greeting_is_rep(c->greet)) {
        conn_ended(p, c, now);
        return;
    }
    p->r->handshakes++;
    c->since = now;
    behaviour b = p->which((unsigned)(c - p->c));
    c->phase = b == B_SP_PARTIAL ? P_SENDING : b == B_SP_TRICKLE ? P_TRICKLE : P_HOLD;
    c->next = now;
}

/* Sends the next bytes of the payload; the server may end it meanwhile. */
static void conn_send(pool *p, conn *c, double now)
{
    long n = rp_send_some(c->fd, p->payload + c->sent, p->payload_len - c->sent);
    if (n < 0) {
        conn_ended(p, c, now);
        return;
    }
    c->sent += (size_t)n;
    p->r->bytes += (unsigned long long)n;
    if (c->sent == p->payload_len)
        c->phase = P_HOLD;
}

static void conn_trickle(pool *p, conn *c, double now)
{
    if (now < c->next || c->sent >= p->trickle_len)
        return;
    long n = rp_send_some(c->fd, p->trickle + c->sent, 1);
    if (n < 0) {
        conn_ended(p, c, now);
        return;
    }
    c->sent += (size_t)n;
    p->r->bytes += (unsigned long long)n;
    c->next = now + p->trickle_every;
}

/* What the server sent: the rest of its greeting, replies (dropped), or
   the end of the connection. */
static void conn_read(pool *p, conn *c, double now)
{
    for (;;) {
        unsigned char buf[4096];
        ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            conn_ended(p, c, now);
            return;
        }
        if (n < 0)
            return;
        size_t used = 0;
        if (c->phase == P_GREETING) {
            used = sizeof c->greet - c->got < (size_t)n ? sizeof c->greet - c->got : (size_t)n;
            memcpy(c->greet + c->got, buf, used);
            c->got += used;
            if (c->got == sizeof c->greet) {
                conn_greeted(p, c, now);
                if (c->phase == P_FREE)
                    return;
            }
        }
    }
}

static void pool_events(pool *p, conn *c, short revents, double now)
{
    if (c->phase == P_CONNECTING) {
        if (rp_connect_result(c->fd) == 0) {
            conn_up(p, c, now);
        } else {
            p->r->connect_failed++;
            conn_close(c, now, RECONNECT_S);
        }
        return;
    }
    if ((revents & (POLLIN | POLLHUP | POLLERR)) != 0)
        conn_read(p, c, now);
    if (c->phase == P_SENDING && (revents & POLLOUT) != 0)
        conn_send(p, c, now);
}

/* Connections to open now: all free slots at once, or as many as the pace
   allows so far. A slot whose connection never came up (a full backlog)
   is tried again in any case. */
static void pool_open(pool *p, double t0, double now, unsigned long *opened)
{
    for (unsigned i = 0; i < p->n; i++) {
        conn *c = &p->c[i];
        if (c->phase != P_FREE || now < c->next || (c->used && !p->reconnect))
            continue;
        if (p->pace > 0 && (double)*opened >= (now - t0) * p->pace + 1.0)
            return;
        conn_open(p, i, now);
        (*opened)++;
    }
}

/* Counts (once) each connection kept past the limit; after the attack,
   gives up on it. Returns the connections still open. */
static unsigned pool_overdue(pool *p, double now, int attacking)
{
    unsigned open = 0;
    for (unsigned i = 0; i < p->n; i++) {
        conn *c = &p->c[i];
        if (c->phase == P_FREE)
            continue;
        if (c->phase == P_CONNECTING && now - c->start > CONNECT_TIMEOUT_S) {
            p->r->connect_failed++;
            conn_close(c, now, RECONNECT_S);
            continue;
        }
        if (p->o->close_limit > 0 && !c->overdue && now - c->since > p->o->close_limit) {
            c->overdue = 1;
            p->r->overdue++;
        }
        if (!attacking && c->overdue) {
            conn_close(c, now, 0);
            continue;
        }
        open++;
    }
    return open;
}

static int pool_run(pool *p)
{
    const hx_opts *o = p->o;
    p->c = calloc(p->n, sizeof *p->c);
    struct pollfd *pfd = calloc(p->n, sizeof *pfd);
    unsigned *slot = calloc(p->n, sizeof *slot);
    for (unsigned i = 0; i < p->n; i++) {
        p->c[i].fd = -1;
        p->c[i].phase = P_FREE;
    }
    double t0 = rp_now(), end = t0 + o->seconds;
    unsigned long opened = 0;
    for (;;) {
        double now = rp_now();
        int attacking = now < end && !stopped(o);
        if (attacking)
            pool_open(p, t0, now, &opened);
        unsigned open = pool_overdue(p, now, attacking);
        if (!attacking && (o->close_limit <= 0 || open == 0 || stopped(o)))
            break;
        nfds_t k = 0;
        for (unsigned i = 0; i < p->n; i++) {
            conn *c = &p->c[i];
            if (c->phase == P_FREE)
                continue;
            if (c->phase == P_TRICKLE)
                conn_trickle(p, c, now);
            if (c->phase == P_FREE)
                continue;
            short ev = POLLIN;
            if (c->phase == P_CONNECTING || c->phase == P_SENDING)
                ev = c->phase == P_CONNECTING ? POLLOUT : POLLIN | POLLOUT;
            pfd[k].fd = c->fd;
            pfd[k].events = ev;
            pfd[k].revents = 0;
            slot[k++] = i;
        }
        if (k == 0) {
            rp_sleep(TICK_MS / 1000.0);
            continue;
        }
        if (poll(pfd, k, TICK_MS) <= 0)
            continue;
        now = rp_now();
        for (nfds_t j = 0; j < k; j++) {
            if (pfd[j].revents != 0)
                pool_events(p, &p->c[slot[j]], pfd[j].revents, now);
        }
    }
    for (unsigned i = 0; i < p->n; i++) {
        if (p->c[i].fd >= 0)
            close(p->c[i].fd);
    }
    free(slot);
    free(pfd);
    free(p->c);
    p->r->elapsed = rp_now() - t0;
    return 0;
}

/* ---- items 3, 4, 5, 8 on the pool ---- */

static behaviour raw(unsigned slot)
{
    (void)slot;
    return B_RAW;
}

static behaviour idle_or_trickle(unsigned slot)
{
    return slot % 4 == 3 ? B_SP_TRICKLE : B_SP_IDLE;
}

static behaviour partial(unsigned slot)
{
    (void)slot;
    return B_SP_PARTIAL;
}

static behaviour http_trickle(unsigned slot)
{
    (void)slot;
    return B_HTTP_TRICKLE;
}

int hx_preconnect(const hx_opts *o, hx_report *r)
{
    pool p = {0};
    p.o = o;
    p.r = r;
    if (parse(o, r, &p.a, 0) != 0)
        return -1;
    p.n = o->count != 0 ? o->count : 3000;
    p.which = raw;
    p.pace = o->seconds > 0 ? (double)p.n / o->seconds : 0;
    return pool_run(&p);
}

int hx_idle(const hx_opts *o, hx_report *r)
{
    pool p = {0};
    p.o = o;
    p.r = r;
    if (parse(o, r, &p.a, 1) != 0)
        return -1;
    /* A request of 100 bytes, a byte at a time: 27 s to arrive whole. */
    unsigned char text[128];
    size_t len = rp_frame_head(text, p.a.is_unix, 100);
    memset(text + len, 0x80, sizeof text - len);
    p.trickle = text;
    p.trickle_len = len + 100;
    p.trickle_every = SP_TRICKLE_S;
    p.n = o->count != 0 ? o->count : 100;
    p.which = idle_or_trickle;
    p.reconnect = 1;
    return pool_run(&p);
}

static int partial_of(const hx_opts *o, hx_report *r, size_t declared, size_t sent)
{
    pool p = {0};
    p.o = o;
    p.r = r;
    if (parse(o, r, &p.a, 1) != 0)
        return -1;
    unsigned char *buf = calloc(1, 16 + sent);
    size_t head = rp_frame_head(buf, p.a.is_unix, declared);
    /* A request id first, as a REQ peer would send. */
    buf[head] = 0x80;
    buf[head + 3] = 1;
    p.payload = buf;
    p.payload_len = head + sent;
    p.n = o->count != 0 ? o->count : 200;
    p.which = partial;
    int rc = pool_run(&p);
    free(buf);
    return rc;
}

int hx_partial(const hx_opts *o, hx_report *r)
{
    return partial_of(o, r, HX_PARTIAL_DECLARED, HX_PARTIAL_DECLARED - HX_PARTIAL_MISSING);
}

int hx_partial_small(const hx_opts *o, hx_report *r)
{
    return partial_of(o, r, HX_PARTIAL_SMALL, HX_PARTIAL_SMALL / 2);
}

int hx_slowloris(const hx_opts *o, hx_report *r)
{
    pool p = {0};
    p.o = o;
    p.r = r;
    if (parse(o, r, &p.a, 0) != 0)
        return -1;
    if (!p.a.http || p.a.tls) {
        snprintf(r->note, sizeof r->note, "%s: needs http://", o->url);
        return -1;
    }
    /* Header lines without end: the blank line never comes. */
    static char text[4096];
    size_t len =
        (size_t)snprintf(text, sizeof text,
                         "POST /api/v3/workflow_run/1/log_heartbeat HTTP/1.1\r\nHost: %s:%d\r\n"
                         "Content-Type: application/json\r\n",
                         p.a.host, p.a.port);
    for (int i = 0; len + 32 < sizeof text; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "X-Slow-%d: %d\r\n", i, i);
    p.trickle = (const unsigned char *)text;
    p.trickle_len = len;
    p.trickle_every = HTTP_TRICKLE_S;
    p.n = o->count != 0 ? o->count : 100;
    p.which = http_trickle;
    p.reconnect = 1;
    return pool_run(&p);
}

/* ---- item 7: the ipc watch ---- */

int hx_ipcwatch(const hx_opts *o, hx_report *r)
{
    rp_addr a;
    if (parse(o, r, &a, 1) != 0)
        return -1;
    if (!a.is_unix) {
        snprintf(r->note, sizeof r->note, "%s: needs nng+ipc://", o->url);
        return -1;
    }
    double t0 = rp_now(), end = t0 + o->seconds;
    while (rp_now() < end && !stopped(o)) {
        int fd = rp_connect(&a, NULL, CONNECT_TIMEOUT_S);
        if (fd < 0) {
            r->connect_failed++;
        } else {
            r->connects++;
            close(fd);
        }
        rp_sleep(HX_WATCH_PERIOD_S);
    }
    r->elapsed = rp_now() - t0;
    return 0;
}

/* ---- the control: no attack ---- */

int hx_none(const hx_opts *o, hx_report *r)
{
    memset(r, 0, sizeof *r);
    double t0 = rp_now();
    while (rp_now() - t0 < o->seconds && !stopped(o))
        rp_sleep(TICK_MS / 1000.0);
    r->elapsed = rp_now() - t0;
    return 0;
}

/* ---- the table ---- */

const hx_pattern hx_patterns[] = {
    {"abandon", hx_abandon, 5, 3.0,
     "item 1: rounds of N SP connections, 5 pipelined garbage requests each, closed unread"},
    {"nonreader", hx_nonreader, 60000, 4.0,
     "item 2: one connection pipelines N get_run requests, then never reads"},
    {"preconnect", hx_preconnect, 3000, 3.0,
     "item 3: N connections spread over the time that never send a byte (tcp, tls+tcp, ipc)"},
    {"idle", hx_idle, 100, 5.0,
     "item 4: N connections held after the SP handshake, every 4th trickling, remade when closed"},
    {"partial", hx_partial, 200, 3.0,
     "item 5: N connections send 1 MiB - 4 KiB of a message declared 1 MiB, then stall"},
    {"partial_small", hx_partial_small, 50, 3.0,
     "item 5: N connections send half of a message declared 60 KiB, then stall"},
    {"ipcwatch", hx_ipcwatch, 0, 6.0,
     "item 7: connect to the ipc socket and close before the handshake, every 0.3 s"},
    {"slowloris", hx_slowloris, 100, 5.0,
     "item 8: N HTTP connections trickle header bytes (5/s), remade when closed"},
    {"none", hx_none, 0, 3.0, "no attack: time passes (the suite's control case)"},
    {NULL, NULL, 0, 0, NULL},
};

const hx_pattern *hx_find(const char *name)
{
    for (const hx_pattern *p = hx_patterns; p->name != NULL; p++) {
        if (strcmp(p->name, name) == 0)
            return p;
    }
    return NULL;
}

void hx_report_print(FILE *f, const char *label, const hx_report *r)
{
    fprintf(f,
            "%s: %.1f s; %lu connections up, %lu failed, %lu handshakes, %lu requests, "
            "%llu bytes; %lu ended by the server (longest open %.1f s), %lu kept past the "
            "limit%s%s\n",
            label, r->elapsed, r->connects, r->connect_failed, r->handshakes, r->requests, r->bytes,
            r->closed_by_server, r->longest_open, r->overdue, r->note[0] != '\0' ? "; " : "",
            r->note);
}
