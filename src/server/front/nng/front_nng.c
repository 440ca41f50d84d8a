/*
 * The nng front end: hbeatd's own server for the wire protocol of nng's
 * REQ clients (sp_wire.h), on one thread with epoll. libnng's listeners
 * are not used: libnng 1.5.2 wedges its only reaper thread when a peer
 * vanishes while a reply to it is being sent and its next request is being
 * read (its tcp and ipc transports resubmit a receive after the close;
 * fixed upstream after 1.5.2), and from then on no connection is ever
 * released. Owning the sockets also lets every connection be counted from
 * its accept, timed out, and held to its share (docs/security.md).
 *
 * A connection: (TLS handshake) -> greeting -> requests. Each request is
 * decoded and applied at once (the engine works in memory), and its reply
 * is queued once its commit is durable, which may be on the committer's
 * thread (then it comes back through `ready` and an eventfd). Limits:
 *   - one connection holds at most MAX_PIPELINE requests, and OUT_HIGH
 *     bytes of unread replies; past either, hbeatd stops reading from it
 *     (its own socket buffers hold the rest), so no peer can take more;
 *   - the greeting, and then each whole request, must arrive within the
 *     read timeout of the connection's start or of its previous request;
 *     replies that the peer does not read for as long close it too;
 *   - every accepted connection counts against the connection limits;
 *     when a limit is reached, the connection whose peer has been silent
 *     longest (and that has nothing in flight) gives way to the new one;
 *   - connections hbeatd ends are reset, so that neither a FIN nor unread
 *     replies stay queued for a peer that reads nothing.
 */
#define _GNU_SOURCE

#include "front_nng.h"
#include "front_nng_internal.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "defaults.h"
#include "log.h"
#include "metrics.h"
#include "monotonic.h"
#include "nng_codec.h"
#include "sp_listen.h"
#include "sp_tls.h"
#include "sp_wire.h"

static _Thread_local int on_loop_thread;

/* ---- socket I/O, plain or TLS: > 0 bytes, 0 closed, HBD_IO_* ---------- */

static ssize_t io_recv(conn *c, void *buf, size_t len)
{
    if (c->tls != NULL)
        return hbd_sp_tls_recv(c->tls, buf, len);
    ssize_t n = recv(c->fd, buf, len, 0);
    if (n >= 0)
        return n;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? HBD_IO_AGAIN : HBD_IO_ERROR;
}

static ssize_t io_send(conn *c, const void *buf, size_t len)
{
    if (c->tls != NULL)
        return hbd_sp_tls_send(c->tls, buf, len);
    ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
    if (n >= 0)
        return n;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? HBD_IO_AGAIN : HBD_IO_ERROR;
}

/* ---- connection state ---------------------------------------------------- */

static int has_output(const conn *c)
{
    return c->out_off < c->out_len || (c->state != C_TLS && c->greet_sent < HBD_SP_GREETING_LEN);
}

/* A connection with this much in flight is not read until it drains. */
static int saturated(const conn *c)
{
    return c->pending >= MAX_PIPELINE || c->out_len - c->out_off >= OUT_HIGH;
}

static void set_interest(hbd_nng *srv, conn *c)
{
    if (c->dead)
        return;
    uint32_t ev = 0;
    if (!saturated(c))
        ev |= EPOLLIN;
    if (has_output(c) || (c->tls != NULL && hbd_sp_tls_wants_write(c->tls)))
        ev |= EPOLLOUT;
    if (ev == c->events)
        return;
    struct epoll_event e = {.events = ev, .data.ptr = c};
    epoll_ctl(srv->ep, EPOLL_CTL_MOD, c->fd, &e);
    c->events = ev;
}

void hbd_nng_close_conn(hbd_nng *srv, conn *c, const char *why)
{
    if (c->dead)
        return;
    hbd_debug("nng: closing a connection on %s: %s", c->lst->l.bound, why);
    epoll_ctl(srv->ep, EPOLL_CTL_DEL, c->fd, NULL);
    hbd_sp_tls_free(c->tls);
    c->tls = NULL;
    if (!srv->stopping) {
        /* Reset, not FIN: a peer that reads nothing would keep the FIN, and
           the kernel the replies ahead of it, waiting for as long as the
           peer likes. At a stop the replies were sent; let them arrive. */
        struct linger reset = {1, 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    }
    close(c->fd);
    c->fd = -1;
    c->dead = 1;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    srv->nconns--;
    hbd_metrics_connection(HBD_PROTO_NNG, -1);
    hbd_sp_reader_free(&c->rd);
    free(c->out);
    c->out = NULL;
    c->out_off = c->out_len = c->out_cap = 0;
    c->prev = NULL;
    c->next = srv->graveyard;
    srv->graveyard = c;
}

/* Frees the closed connections that no request refers to any more. */
static void bury(hbd_nng *srv)
{
    conn **p = &srv->graveyard;
    while (*p != NULL) {
        conn *c = *p;
        if (c->pending == 0) {
            *p = c->next;
            free(c);
        } else {
            p = &c->next;
        }
    }
}

/* Sends what is queued: our greeting, then replies. */
static void flush(hbd_nng *srv, conn *c, double now)
{
    while (!c->dead && c->state != C_TLS && c->greet_sent < HBD_SP_GREETING_LEN) {
        uint8_t g[HBD_SP_GREETING_LEN];
        hbd_sp_greeting(g, HBD_SP_PROTO_REP0);
        ssize_t n = io_send(c, g + c->greet_sent, sizeof g - c->greet_sent);
        if (n == HBD_IO_AGAIN)
            return;
        if (n < 0) {
            hbd_nng_close_conn(srv, c, "send failed");
            return;
        }
        c->greet_sent += (size_t)n;
    }
    while (!c->dead && c->out_off < c->out_len) {
        ssize_t n = io_send(c, c->out + c->out_off, c->out_len - c->out_off);
        if (n == HBD_IO_AGAIN)
            break;
        if (n <= 0) {
            hbd_nng_close_conn(srv, c, "send failed");
            return;
        }
        c->out_off += (size_t)n;
        c->stalled_since = now;
    }
    if (c->dead)
        return;
    if (c->out_off == c->out_len) {
        c->out_off = c->out_len = 0;
        c->stalled_since = 0;
        if (c->out_cap > 2 * OUT_HIGH) { /* a burst is over: give it back */
            free(c->out);
            c->out = NULL;
            c->out_cap = 0;
        }
    } else if (c->stalled_since == 0) {
        c->stalled_since = now;
    }
}

static int queue_output(conn *c, const uint8_t *data, size_t len)
{
    /* Sent bytes are dropped before the buffer grows, so that a peer that
       reads slowly but never quite catches up holds only what is unsent. */
    if (c->out_off > 0 && c->out_len + len > c->out_cap) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    if (c->out_len + len > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + len)
            cap *= 2;
        uint8_t *out = realloc(c->out, cap);
        if (out == NULL)
            return -1;
        c->out = out;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    return 0;
}

static void read_conn(hbd_nng *srv, conn *c, double now);

/* 1 when bytes already taken from the socket wait to be read. */
static int input_waiting(const conn *c)
{
    return c->in_off < c->in_len || (c->tls != NULL && hbd_sp_tls_pending(c->tls));
}

/* After a reply or a send: read on if the connection has room again and
   input waits in our buffers (the socket will not wake us for it), else
   send what is queued. */
static void kick(hbd_nng *srv, conn *c, double now)
{
    if (c->dead || c->reading)
        return;
    if (input_waiting(c) && !saturated(c)) {
        read_conn(srv, c, now);
        return;
    }
    flush(srv, c, now);
    set_interest(srv, c);
}

/* ---- requests -------------------------------------------------------------- */

static uint8_t *reserve(void *arg, size_t len)
{
    request *q = arg;
    uint8_t *buf = realloc(q->buf, REPLY_ROOM + len);
    if (buf == NULL)
        return NULL;
    q->buf = buf;
    q->len = REPLY_ROOM + len;
    return buf + REPLY_ROOM;
}

/* The reply is durable (or failed): queue it on its connection. */
static void complete(hbd_nng *srv, request *q)
{
    conn *c = q->c;
    if (q->later != NULL) {
        /* Packed here, on the loop thread, now that the result is in. */
        hbd_codec_outcome outcome = {q->route, q->result};
        if (hbd_codec_finish(q->later, q->rc, reserve, q, &outcome) != 0)
            q->len = 0;
        q->later = NULL;
        q->result = outcome.result;
        q->rc = 0;
    } else if (q->rc != 0 && hbd_codec_error(HBEAT_ESYSTEM, "the store failed to commit the change",
                                             reserve, q) != 0)
        q->len = 0; /* no memory even for the error: the request goes unanswered */
    if (q->len > 0) {
        size_t reply_len = q->len - REPLY_ROOM;
        hbd_metrics_request(HBD_PROTO_NNG, q->route,
                            q->rc != 0 ? HBD_RESULT_SERVER_ERROR : q->result,
                            hbd_mono_now() - q->started);
        if (!c->dead) {
            uint8_t head[HBD_SP_MAX_FRAME_HEAD];
            size_t hlen =
                hbd_sp_frame_head(head, c->lst->l.url.scheme == HBD_SP_IPC, q->bt_len + reply_len);
            uint8_t *start = q->buf + REPLY_ROOM - q->bt_len - hlen;
            memcpy(start, head, hlen);
            memcpy(start + hlen, q->bt, q->bt_len);
            if (queue_output(c, start, hlen + q->bt_len + reply_len) != 0)
                hbd_nng_close_conn(srv, c, "out of memory for a reply");
        }
    }
    c->pending--;
    srv->pending--;
    free(q->buf);
    free(q);
    kick(srv, c, hbd_mono_now());
}

/* From the committer's thread (or this one, when already durable). */
static void on_durable(void *arg, int rc)
{
    request *q = arg;
    hbd_nng *srv = q->srv;
    q->rc = rc;
    if (on_loop_thread) {
        complete(srv, q);
        return;
    }
    /* The wake-up is written under the lock: once the loop has taken this
       request, the server may be freed, so nothing here touches it after
       the unlock. */
    pthread_mutex_lock(&srv->mu);
    int was_empty = srv->ready == NULL;
    q->next = srv->ready;
    srv->ready = q;
    if (was_empty) {
        uint64_t one = 1;
        if (write(srv->wake, &one, sizeof one) < 0) {
            /* The counter is full: a wake-up is pending anyway. */
        }
    }
    pthread_mutex_unlock(&srv->mu);
}

static void drain_ready(hbd_nng *srv)
{
    uint64_t n;
    if (read(srv->wake, &n, sizeof n) < 0) {
        /* Nothing to read: another pass took it. */
    }
    pthread_mutex_lock(&srv->mu);
    request *list = srv->ready;
    srv->ready = NULL;
    pthread_mutex_unlock(&srv->mu);
    /* Oldest first. */
    request *fifo = NULL;
    while (list != NULL) {
        request *next = list->next;
        list->next = fifo;
        fifo = list;
        list = next;
    }
    while (fifo != NULL) {
        request *next = fifo->next;
        complete(srv, fifo);
        fifo = next;
    }
}

/* A request of `c` whose body (or its first bytes) is `body`: counted in
   flight until complete(); NULL (and `c` closed) when the body has no
   request id or no memory is left. */
static request *new_request(hbd_nng *srv, conn *c, const uint8_t *body, size_t len)
{
    size_t bt = hbd_sp_backtrace_len(body, len);
    request *q = bt > 0 ? calloc(1, sizeof *q) : NULL;
    if (q == NULL) {
        hbd_nng_close_conn(srv, c, bt == 0 ? "a request without a request id" : "out of memory");
        return NULL;
    }
    q->srv = srv;
    q->c = c;
    q->started = hbd_mono_now();
    q->route = HBD_ROUTE_OTHER;
    memcpy(q->bt, body, bt);
    q->bt_len = bt;
    c->pending++;
    srv->pending++;
    return q;
}

static void serve(hbd_nng *srv, conn *c, const uint8_t *body, size_t len)
{
    if (srv->stopping)
        return; /* arrived after the stop began: dropped, as if it came later */
    request *q = new_request(srv, c, body, len);
    if (q == NULL)
        return;
    const uint8_t *payload = body + q->bt_len;
    size_t payload_len = len - q->bt_len;
    uint64_t ticket = 0;
    hbd_codec_outcome outcome;
    int rc = hbd_codec_begin(srv->engine, srv->auth, payload, payload_len, srv->max_message,
                             reserve, q, &ticket, &outcome, &q->later);
    q->route = outcome.route;
    q->result = outcome.result;
    if (rc != 0) {
        hbd_error("nng: out of memory for a reply; dropping the request");
        q->len = 0;
        complete(srv, q);
        return;
    }
    hbd_engine_when_durable(srv->engine, ticket, &q->durable, on_durable, q);
}

/* A request over --max-request: answered TOO_LARGE from its first bytes;
   the rest is skipped as it arrives, never stored. */
static void refuse_large(hbd_nng *srv, conn *c, const uint8_t *prefix, size_t len)
{
    request *q = new_request(srv, c, prefix, len);
    if (q == NULL)
        return;
    char why[96];
    snprintf(why, sizeof why, "the request is larger than the server's limit of %zu bytes",
             srv->max_message);
    q->result = HBD_RESULT_TOO_LARGE;
    if (hbd_codec_error(HBEAT_ETOOBIG, why, reserve, q) != 0)
        q->len = 0;
    complete(srv, q);
}

/* ---- reading ------------------------------------------------------------- */

/* Consumes buffered bytes: the greeting, then frames. */
static void consume(hbd_nng *srv, conn *c, double now)
{
    if (c->state == C_GREET) {
        size_t n = HBD_SP_GREETING_LEN - c->greet_got;
        if (n > c->in_len - c->in_off)
            n = c->in_len - c->in_off;
        memcpy(c->greet_in + c->greet_got, c->in + c->in_off, n);
        c->greet_got += n;
        c->in_off += n;
        if (c->greet_got < HBD_SP_GREETING_LEN)
            return;
        if (hbd_sp_check_greeting(c->greet_in, HBD_SP_PROTO_REQ0) != 0) {
            hbd_nng_close_conn(srv, c, "not an nng REQ peer");
            return;
        }
        c->state = C_OPEN;
        c->deadline = now + srv->timeout;
    }
    while (!c->dead && c->in_off < c->in_len && !saturated(c)) {
        size_t used = 0;
        hbd_sp_event ev =
            hbd_sp_reader_feed(&c->rd, c->in + c->in_off, c->in_len - c->in_off, &used);
        c->in_off += used;
        const uint8_t *body;
        size_t len;
        switch (ev) {
        case HBD_SP_MORE:
            break;
        case HBD_SP_MESSAGE:
            c->deadline = now + srv->timeout;
            body = hbd_sp_reader_body(&c->rd, &len);
            serve(srv, c, body, len);
            break;
        case HBD_SP_TOO_LARGE:
            body = hbd_sp_reader_body(&c->rd, &len);
            refuse_large(srv, c, body, len);
            break;
        case HBD_SP_BAD:
            hbd_nng_close_conn(srv, c, "not the nng wire protocol");
            break;
        }
    }
}

static void read_conn(hbd_nng *srv, conn *c, double now)
{
    if (c->dead)
        return;
    c->reading = 1;
    if (c->state == C_TLS) {
        int rc = hbd_sp_tls_handshake(c->tls);
        if (rc == HBD_IO_ERROR) {
            hbd_nng_close_conn(srv, c, hbd_sp_tls_reason(c->tls));
        } else if (rc == 1) {
            c->state = C_GREET;
        }
    }
    /* Plain sockets are read a few times per wake-up, for fairness (epoll
       wakes us again); TLS until its buffers are empty, since bytes that
       OpenSSL holds wake nobody. */
    for (int i = 0; (i < READS_PER_EVENT || c->tls != NULL) && !c->dead && c->state != C_TLS; i++) {
        if (c->in_off == c->in_len) {
            if (saturated(c))
                break;
            ssize_t n = io_recv(c, c->in, sizeof c->in);
            if (n == HBD_IO_AGAIN)
                break;
            if (n <= 0) {
                hbd_nng_close_conn(srv, c, n == 0 ? "the peer closed" : "receive failed");
                break;
            }
            c->in_off = 0;
            c->in_len = (size_t)n;
        }
        consume(srv, c, now);
        if (c->in_off < c->in_len)
            break; /* saturated: the rest waits */
    }
    c->reading = 0;
    if (!c->dead) {
        flush(srv, c, now);
        set_interest(srv, c);
    }
}

/* ---- time -------------------------------------------------------------- */

static void sweep(hbd_nng *srv, double now)
{
    for (conn *c = srv->conns, *next; c != NULL; c = next) {
        next = c->next;
        if (c->out_off < c->out_len) {
            if (now - c->stalled_since > srv->timeout)
                hbd_nng_close_conn(srv, c, "its replies went unread");
        } else if (c->pending == 0 && now > c->deadline) {
            hbd_nng_close_conn(srv, c,
                               c->state == C_OPEN && !hbd_sp_reader_partial(&c->rd) &&
                                       c->in_off == c->in_len
                                   ? "idle for the read timeout"
                                   : "too slow to send its request");
        }
    }
    for (size_t i = 0; i < srv->nlst; i++) {
        if (!srv->stopping && !srv->lst[i].armed && now >= srv->lst[i].resume_at)
            hbd_nng_arm_listener(srv, &srv->lst[i], 1);
    }
}

static void begin_stop(hbd_nng *srv, double now)
{
    srv->stopping = 1;
    srv->stop_deadline = now + STOP_TIMEOUT_S;
    /* Listeners go first: nothing new arrives; connections stay, so that
       the replies still to be sent reach their clients. */
    for (size_t i = 0; i < srv->nlst; i++) {
        hbd_nng_arm_listener(srv, &srv->lst[i], 0);
        hbd_sp_listener_close(&srv->lst[i].l);
    }
    hbd_info("nng: stopping; answering %lu requests in flight", srv->pending);
}

static int unsent_replies(const hbd_nng *srv)
{
    for (const conn *c = srv->conns; c != NULL; c = c->next) {
        if (c->out_off < c->out_len)
            return 1;
    }
    return 0;
}

static void *loop_main(void *arg)
{
    hbd_nng *srv = arg;
    on_loop_thread = 1;
    double last_sweep = hbd_mono_now();
    for (;;) {
        struct epoll_event evs[MAX_EVENTS];
        int n = epoll_wait(srv->ep, evs, MAX_EVENTS, TICK_MS);
        double now = hbd_mono_now();
        for (int i = 0; i < n; i++) {
            int kind = *(int *)evs[i].data.ptr;
            if (kind == K_WAKE)
                drain_ready(srv);
            else if (kind == K_LISTENER)
                hbd_nng_accept(srv, evs[i].data.ptr, now);
            else {
                conn *c = evs[i].data.ptr;
                if (c->dead)
                    continue;
                /* Gone while we do not read it: nobody will read a reply. */
                if ((evs[i].events & (EPOLLHUP | EPOLLERR)) && saturated(c)) {
                    hbd_nng_close_conn(srv, c, "the peer went away");
                    continue;
                }
                if (evs[i].events & EPOLLIN)
                    c->heard = now;
                if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR) || c->state == C_TLS)
                    read_conn(srv, c, now);
                if (!c->dead && (evs[i].events & EPOLLOUT)) {
                    flush(srv, c, now);
                    if (c->tls != NULL)
                        read_conn(srv, c, now); /* TLS may have waited to write */
                    else
                        kick(srv, c, now);
                }
            }
        }
        pthread_mutex_lock(&srv->mu);
        int stop = srv->stop_asked;
        pthread_mutex_unlock(&srv->mu);
        if (stop && !srv->stopping)
            begin_stop(srv, now);
        if (now - last_sweep >= TICK_MS / 1000.0) {
            sweep(srv, now);
            last_sweep = now;
        }
        bury(srv);
        /* Every commit answers (durable or failed), so requests waiting
           for one are always waited for; unread replies only so long. */
        if (srv->stopping && srv->pending == 0 &&
            (!unsent_replies(srv) || now > srv->stop_deadline))
            break;
    }
    if (unsent_replies(srv))
        hbd_warn("nng: replies still unsent after %g s; closing anyway", STOP_TIMEOUT_S);
    while (srv->conns != NULL)
        hbd_nng_close_conn(srv, srv->conns, "stopping");
    bury(srv);
    return NULL;
}

/* ---- start and stop ------------------------------------------------------ */

static void free_all(hbd_nng *srv)
{
    for (size_t i = 0; i < srv->nlst; i++)
        hbd_sp_listener_close(&srv->lst[i].l);
    free(srv->lst);
    if (srv->ep >= 0)
        close(srv->ep);
    if (srv->wake >= 0)
        close(srv->wake);
    hbd_sp_tls_ctx_free(srv->tls);
    pthread_mutex_destroy(&srv->mu);
    free(srv);
}

static int needs_tls(const hbd_nng_options *opts)
{
    for (size_t i = 0; i < opts->url_count; i++) {
        if (strncmp(opts->urls[i], "tls+", 4) == 0)
            return 1;
    }
    return 0;
}

int hbd_nng_start(hbd_nng **out, hbd_engine *engine, const hbd_nng_options *opts,
                  const hbd_nng_security *sec, hbeat_error *err)
{
    static const hbd_nng_security open_defaults;
    if (sec == NULL)
        sec = &open_defaults;
    *out = NULL;
    if (opts->url_count == 0)
        return hbeat_error_set(err, HBEAT_EINVAL, "nng: no listen URL");
    if (needs_tls(opts) && sec->tls == NULL)
        return hbeat_error_set(err, HBEAT_EINVAL, "nng: tls+tcp:// needs --tls-cert and --tls-key");
    hbd_nng *srv = calloc(1, sizeof *srv);
    if (srv == NULL)
        return hbeat_error_set(err, HBEAT_ENOMEM, "nng: out of memory");
    srv->wake_kind = K_WAKE;
    srv->ep = srv->wake = -1;
    pthread_mutex_init(&srv->mu, NULL);
    srv->engine = engine;
    srv->auth = sec->auth;
    srv->max_message = opts->max_message ? opts->max_message : HBD_DEFAULT_MAX_REQUEST;
    srv->max_conns = sec->max_connections ? sec->max_connections : HBD_DEFAULT_MAX_CONNECTIONS;
    srv->max_per_peer = sec->max_connections_per_ip;
    srv->timeout = sec->read_timeout > 0 ? sec->read_timeout : HBD_DEFAULT_READ_TIMEOUT;
    int code = 0;
    if (needs_tls(opts))
        code = hbd_sp_tls_ctx_new(&srv->tls, sec->tls, err);
    if (code == 0 && ((srv->ep = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
                      (srv->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0))
        code = hbeat_error_set(err, HBEAT_ESYSTEM, "nng: %s", strerror(errno));
    if (code == 0 && (srv->lst = calloc(opts->url_count, sizeof *srv->lst)) == NULL)
        code = hbeat_error_set(err, HBEAT_ENOMEM, "nng: out of memory");
    for (size_t i = 0; i < opts->url_count && code == 0; i++) {
        listener *l = &srv->lst[i];
        l->kind = K_LISTENER;
        if ((code = hbd_sp_listen(&l->l, opts->urls[i], err)) == 0) {
            srv->nlst = i + 1;
            hbd_nng_arm_listener(srv, l, 1);
        } else {
            l->l.fd = -1;
        }
    }
    if (code == 0) {
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = &srv->wake_kind};
        if (epoll_ctl(srv->ep, EPOLL_CTL_ADD, srv->wake, &e) != 0 ||
            pthread_create(&srv->thread, NULL, loop_main, srv) != 0)
            code = hbeat_error_set(err, HBEAT_ESYSTEM, "nng: cannot start: %s", strerror(errno));
    }
    if (code != 0) {
        free_all(srv);
        return code;
    }
    for (size_t i = 0; i < srv->nlst; i++)
        hbd_info("nng: listening on %s", srv->lst[i].l.bound);
    *out = srv;
    return 0;
}

const char *hbd_nng_bound_url(const hbd_nng *srv, size_t index)
{
    if (srv == NULL || index >= srv->nlst)
        return NULL;
    return srv->lst[index].l.bound;
}

void hbd_nng_stop(hbd_nng *srv)
{
    if (srv == NULL)
        return;
    pthread_mutex_lock(&srv->mu);
    srv->stop_asked = 1;
    pthread_mutex_unlock(&srv->mu);
    uint64_t one = 1;
    if (write(srv->wake, &one, sizeof one) < 0) {
        /* A wake-up is pending anyway; the loop also looks every tick. */
    }
    pthread_join(srv->thread, NULL);
    free_all(srv);
}
