/*
 * The nng front end. One REP socket, N contexts; each context is a small
 * state machine driven by its aio:
 *
 *   RECV --message--> BUSY (codec: decode, engine, encode)
 *   BUSY --commit durable (committer thread, or at once)--> SEND
 *   SEND --sent--> RECV, or IDLE when stopping
 *
 * No thread ever blocks on the store: a request that waits for its group
 * commit holds only its context.
 *
 * Stopping never cancels an aio by hand. It raises `stopping`, so that a
 * request received from then on is dropped unanswered (as if it had come
 * too late) and a finished reply leads to no new receive; waits until no
 * context is BUSY or SEND (the requests in flight are answered); then stops
 * every aio, so the socket has nothing outstanding when it is closed.
 */
#define _POSIX_C_SOURCE 200809L

#include "server/front_nng.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/tls/tls.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/ipc_probe.h"
#include "server/log.h"
#include "server/metrics_hooks.h"
#include "server/nng_codec.h"
#include "server/nng_limits.h"

#define DEFAULT_MAX_MESSAGE (64 * 1024)
#define DEFAULT_CONTEXTS    64
#define DEFAULT_MAX_PIPES   1024
#define STOP_TIMEOUT_S      10
#define CLOSE_TIMEOUT_S     3
/* How often an ipc listener is asked whether it still accepts, and how
   long its answer may take before it is re-created (see ipc_probe.h). */
#define IPC_PROBE_EVERY_S 2.0
#define IPC_DEAD_AFTER_S  5.0

enum { ST_RECV, ST_BUSY, ST_SEND, ST_IDLE };

typedef struct worker {
    hbd_nng *srv;
    nng_ctx ctx;
    nng_aio *aio;
    nng_msg *msg; /* the request, turned into the reply */
    int state;    /* guarded by srv->mu */
    hbd_durable durable;
    double started; /* for the metrics */
    hbd_route route;
} worker;

struct hbd_nng {
    hbd_engine *engine;
    nng_socket sock;
    size_t max_message;
    worker *workers;
    unsigned int nworkers;
    nng_listener *listeners;
    char **bound;
    hbd_ipc_probe *probes; /* one per listener; used for ipc:// only */
    size_t hard_max;       /* NNG_OPT_RECVMAXSZ of every listener */
    size_t nurls;
    pthread_mutex_t mu;
    pthread_cond_t quiet; /* `active` dropped */
    int stopping;
    unsigned int active; /* workers in BUSY or SEND */
    hbd_auth *auth;
    hbd_nng_limits *limits;
};

static int nng_fail(hbeat_error *err, int code, int rv, const char *what, const char *url)
{
    code = hbeat_error_set(err, code, "nng: %s%s%s: %s", what, url ? " " : "", url ? url : "",
                           nng_strerror(rv));
    if (err != NULL)
        err->native = rv;
    return code;
}

/* A request is finished (answered or dropped): receive the next one, or
   go idle when stopping. */
static void next_request(worker *w)
{
    hbd_nng *srv = w->srv;
    pthread_mutex_lock(&srv->mu);
    if (w->state == ST_BUSY || w->state == ST_SEND) {
        srv->active--;
        pthread_cond_broadcast(&srv->quiet);
    }
    if (srv->stopping) {
        w->state = ST_IDLE;
        pthread_mutex_unlock(&srv->mu);
        return;
    }
    w->state = ST_RECV;
    pthread_mutex_unlock(&srv->mu);
    nng_ctx_recv(w->ctx, w->aio);
}

static uint8_t *reserve(void *arg, size_t len)
{
    nng_msg *msg = arg;
    nng_msg_clear(msg);
    if (nng_msg_realloc(msg, len) != 0)
        return NULL;
    return nng_msg_body(msg);
}

static void on_durable(void *arg, int rc)
{
    worker *w = arg;
    if (rc != 0 && hbd_codec_error(HBEAT_ESYSTEM, "the store failed to commit the change", reserve,
                                   w->msg) != 0) {
        nng_msg_free(w->msg);
        w->msg = NULL;
        next_request(w);
        return;
    }
    pthread_mutex_lock(&w->srv->mu);
    w->state = ST_SEND;
    pthread_mutex_unlock(&w->srv->mu);
    hbd_metrics_request(HBD_PROTO_NNG, w->route,
                        hbd_metrics_nng_result(nng_msg_body(w->msg), nng_msg_len(w->msg)),
                        hbd_metrics_now() - w->started);
    nng_aio_set_msg(w->aio, w->msg);
    w->msg = NULL;
    nng_ctx_send(w->ctx, w->aio);
}

static void on_recv(worker *w)
{
    hbd_nng *srv = w->srv;
    int rv = nng_aio_result(w->aio);
    if (rv != 0) {
        pthread_mutex_lock(&srv->mu);
        int stopping = srv->stopping;
        pthread_mutex_unlock(&srv->mu);
        if (stopping || rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
            pthread_mutex_lock(&srv->mu);
            w->state = ST_IDLE;
            pthread_mutex_unlock(&srv->mu);
            return;
        }
        hbd_warn_limited("nng: receive failed", "nng: receive failed: %s", nng_strerror(rv));
        next_request(w);
        return;
    }
    nng_msg *msg = nng_aio_get_msg(w->aio);
    nng_aio_set_msg(w->aio, NULL);
    if (msg == NULL)
        return; /* a completion reported twice: the first one has it */
    pthread_mutex_lock(&srv->mu);
    if (srv->stopping) {
        /* Arrived after the stop began: not in flight, not answered. */
        w->state = ST_IDLE;
        pthread_mutex_unlock(&srv->mu);
        nng_msg_free(msg);
        return;
    }
    w->state = ST_BUSY;
    srv->active++;
    pthread_mutex_unlock(&srv->mu);

    w->started = hbd_metrics_now();
    w->route = hbd_metrics_nng_route(nng_msg_body(msg), nng_msg_len(msg));
    /* Decode straight from the message body; the reply reuses the message. */
    w->msg = msg;
    uint64_t ticket = 0;
    if (hbd_codec_serve_auth(srv->engine, srv->auth, nng_msg_body(msg), nng_msg_len(msg),
                             srv->max_message, reserve, msg, &ticket) != 0) {
        hbd_error("nng: out of memory for a reply; dropping the request");
        nng_msg_free(msg);
        w->msg = NULL;
        next_request(w);
        return;
    }
    hbd_engine_when_durable(srv->engine, ticket, &w->durable, on_durable, w);
}

static void on_send(worker *w)
{
    int rv = nng_aio_result(w->aio);
    if (rv != 0) {
        /* The message is still ours; the peer has most likely gone. */
        nng_msg_free(nng_aio_get_msg(w->aio));
        nng_aio_set_msg(w->aio, NULL);
        if (rv != NNG_ECLOSED)
            hbd_debug("nng: send failed: %s", nng_strerror(rv));
    }
    next_request(w);
}

static void on_aio(void *arg)
{
    worker *w = arg;
    pthread_mutex_lock(&w->srv->mu);
    int state = w->state;
    pthread_mutex_unlock(&w->srv->mu);
    if (state == ST_RECV)
        on_recv(w);
    else if (state == ST_SEND)
        on_send(w);
}

/* "tcp://HOST:0" -> "tcp://HOST:PORT" with the port the kernel picked. */
static char *bound_url(const char *url, nng_listener l)
{
    int port = 0;
    if ((strncmp(url, "tcp", 3) == 0 || strncmp(url, "tls+tcp", 7) == 0) &&
        nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port) == 0) {
        const char *colon = strrchr(url, ':');
        size_t n = colon != NULL ? (size_t)(colon - url) : strlen(url);
        size_t size = n + 16;
        char *out = malloc(size);
        if (out != NULL)
            snprintf(out, size, "%.*s:%d", (int)n, url, port);
        return out;
    }
    size_t len = strlen(url) + 1;
    char *out = malloc(len);
    if (out != NULL)
        memcpy(out, url, len);
    return out;
}

/* A tls+tcp:// (or wss://) listener gets hbeatd's certificate. */
static int set_tls(nng_listener l, const char *url, const hbd_tls *tls, hbeat_error *err)
{
    if (strncmp(url, "tls+", 4) != 0 && strncmp(url, "wss", 3) != 0)
        return 0;
    if (tls == NULL)
        return hbeat_error_set(err, HBEAT_EINVAL, "nng: %.200s needs --tls-cert and --tls-key",
                               url);
    void *cfg;
    int code = hbd_tls_nng_server_config(tls, &cfg, err);
    if (code != 0)
        return code;
    int rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, cfg);
    /* The listener holds its own reference. */
    nng_tls_config_free(cfg);
    return rv == 0 ? 0 : nng_fail(err, HBEAT_ESYSTEM, rv, "cannot set TLS on", url);
}

static void free_all(hbd_nng *srv)
{
    for (unsigned int i = 0; i < srv->nworkers; i++) {
        if (srv->workers[i].aio != NULL)
            nng_aio_free(srv->workers[i].aio);
    }
    for (size_t i = 0; i < srv->nurls; i++)
        free(srv->bound[i]);
    free(srv->bound);
    free(srv->probes);
    free(srv->listeners);
    free(srv->workers);
    hbd_nng_limits_free(srv->limits);
    pthread_cond_destroy(&srv->quiet);
    pthread_mutex_destroy(&srv->mu);
    free(srv);
}

int hbd_nng_start(hbd_nng **out, hbd_engine *engine, const hbd_nng_options *opts, hbeat_error *err)
{
    return hbd_nng_start_secure(out, engine, opts, NULL, err);
}

int hbd_nng_start_secure(hbd_nng **out, hbd_engine *engine, const hbd_nng_options *opts,
                         const hbd_nng_security *sec, hbeat_error *err)
{
    static const hbd_nng_security open_defaults;
    if (sec == NULL)
        sec = &open_defaults;
    *out = NULL;
    if (opts->url_count == 0)
        return hbeat_error_set(err, HBEAT_EINVAL, "nng: no listen URL");
    hbd_nng *srv = calloc(1, sizeof *srv);
    if (srv == NULL)
        return hbeat_error_set(err, HBEAT_ENOMEM, "nng: out of memory");
    pthread_mutex_init(&srv->mu, NULL);
    pthread_cond_init(&srv->quiet, NULL);
    srv->engine = engine;
    srv->auth = sec->auth;
    srv->max_message = opts->max_message ? opts->max_message : DEFAULT_MAX_MESSAGE;
    srv->nworkers = opts->contexts ? opts->contexts : DEFAULT_CONTEXTS;
    srv->workers = calloc(srv->nworkers, sizeof *srv->workers);
    srv->listeners = calloc(opts->url_count, sizeof *srv->listeners);
    srv->bound = calloc(opts->url_count, sizeof *srv->bound);
    srv->probes = calloc(opts->url_count, sizeof *srv->probes);
    if (srv->workers == NULL || srv->listeners == NULL || srv->bound == NULL ||
        srv->probes == NULL) {
        free_all(srv);
        return hbeat_error_set(err, HBEAT_ENOMEM, "nng: out of memory");
    }
    int rv = nng_rep0_open(&srv->sock);
    if (rv != 0) {
        free_all(srv);
        return nng_fail(err, HBEAT_ESYSTEM, rv, "cannot open a REP socket", NULL);
    }
    /* Requests up to max_message are decoded; bigger ones up to this hard
       limit are still read so that they can be answered TOO_LARGE, and
       anything beyond makes nng drop the connection unread. */
    size_t hard = srv->max_message * 16 > 1024 * 1024 ? srv->max_message * 16 : 1024 * 1024;
    srv->hard_max = hard;
    nng_socket_set_size(srv->sock, NNG_OPT_RECVMAXSZ, hard);

    int code = hbd_nng_limits_attach(
        &srv->limits, srv->sock, sec->max_connections ? sec->max_connections : DEFAULT_MAX_PIPES,
        sec->max_connections_per_ip, err);
    for (unsigned int i = 0; i < srv->nworkers && code == 0; i++) {
        worker *w = &srv->workers[i];
        w->srv = srv;
        if ((rv = nng_aio_alloc(&w->aio, on_aio, w)) != 0 ||
            (rv = nng_ctx_open(&w->ctx, srv->sock)) != 0)
            code = nng_fail(err, HBEAT_ESYSTEM, rv, "cannot set up a context", NULL);
    }
    for (size_t i = 0; i < opts->url_count && code == 0; i++) {
        const char *url = opts->urls[i];
        nng_listener l;
        if ((rv = nng_listener_create(&l, srv->sock, url)) != 0) {
            /* The URL itself is wrong: a usage error, not a runtime one. */
            int bad_url = rv == NNG_EADDRINVAL || rv == NNG_ENOTSUP || rv == NNG_EINVAL;
            code = nng_fail(err, bad_url ? HBEAT_EINVAL : HBEAT_ESYSTEM, rv, "bad listen URL", url);
            break;
        }
        nng_listener_set_size(l, NNG_OPT_RECVMAXSZ, hard);
        if ((code = set_tls(l, url, sec->tls, err)) != 0)
            break;
        if ((rv = nng_listener_start(l, 0)) != 0) {
            code = nng_fail(err, HBEAT_ESYSTEM, rv, "cannot listen on", url);
            break;
        }
        srv->listeners[i] = l;
        hbd_ipc_probe_init(&srv->probes[i]);
        srv->nurls = i + 1;
        if ((srv->bound[i] = bound_url(url, l)) == NULL)
            code = hbeat_error_set(err, HBEAT_ENOMEM, "nng: out of memory");
    }
    if (code != 0) {
        nng_close(srv->sock);
        free_all(srv);
        return code;
    }
    for (unsigned int i = 0; i < srv->nworkers; i++) {
        srv->workers[i].state = ST_RECV;
        nng_ctx_recv(srv->workers[i].ctx, srv->workers[i].aio);
    }
    for (size_t i = 0; i < srv->nurls; i++)
        hbd_info("nng: listening on %s", srv->bound[i]);
    *out = srv;
    return 0;
}

const char *hbd_nng_bound_url(const hbd_nng *srv, size_t index)
{
    if (srv == NULL || index >= srv->nurls)
        return NULL;
    return srv->bound[index];
}

static double monotonic_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Replaces a listener that no longer accepts. Closing it drops its
   connections too; their clients redial within milliseconds. */
static void relisten(hbd_nng *srv, size_t i)
{
    hbd_warn("nng: %s accepts no connection any more (libnng 1.5 stops accepting on ipc "
             "when a peer closes before the handshake); listening again",
             srv->bound[i]);
    hbd_nng_limits_forget(srv->limits, nng_listener_id(srv->listeners[i]));
    nng_listener_close(srv->listeners[i]);
    nng_listener l;
    int rv = nng_listener_create(&l, srv->sock, srv->bound[i]);
    if (rv == 0 && (rv = nng_listener_set_size(l, NNG_OPT_RECVMAXSZ, srv->hard_max)) == 0)
        rv = nng_listener_start(l, 0);
    if (rv != 0) {
        hbd_error("nng: cannot listen on %s again: %s", srv->bound[i], nng_strerror(rv));
        return;
    }
    srv->listeners[i] = l;
}

void hbd_nng_watch_listeners(hbd_nng *srv)
{
    if (srv == NULL)
        return;
    double now = monotonic_now();
    for (size_t i = 0; i < srv->nurls; i++) {
        if (strncmp(srv->bound[i], "ipc://", 6) != 0)
            continue;
        hbd_ipc_probe *p = &srv->probes[i];
        unsigned long arrivals =
            hbd_nng_limits_arrivals(srv->limits, nng_listener_id(srv->listeners[i]));
        if (hbd_ipc_probe_step(p, srv->bound[i] + 6, arrivals, now, IPC_PROBE_EVERY_S,
                               IPC_DEAD_AFTER_S) == HBD_IPC_DEAD) {
            relisten(srv, i);
            hbd_ipc_probe_reset(p, now);
        }
    }
}

/* Set when a socket close was abandoned: nng cannot be finalised then. */
static atomic_int abandoned_close;

void hbd_nng_fini(void)
{
    if (!atomic_load(&abandoned_close))
        nng_fini();
}

/* nng_close on a thread of its own, waited for with a time limit. */
typedef struct closer {
    nng_socket sock;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int finished, abandoned;
} closer;

static void closer_free(closer *c)
{
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static void *closer_main(void *arg)
{
    closer *c = arg;
    nng_close(c->sock);
    pthread_mutex_lock(&c->mu);
    c->finished = 1;
    int abandoned = c->abandoned;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->mu);
    if (abandoned)
        closer_free(c);
    return NULL;
}

/* 1 when the socket closed in time. */
static int close_socket(nng_socket sock)
{
    closer *c = calloc(1, sizeof *c);
    pthread_t t;
    if (c == NULL) {
        nng_close(sock);
        return 1;
    }
    c->sock = sock;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cond, NULL);
    if (pthread_create(&t, NULL, closer_main, c) != 0) {
        closer_free(c);
        nng_close(sock);
        return 1;
    }
    pthread_detach(t);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += CLOSE_TIMEOUT_S;
    pthread_mutex_lock(&c->mu);
    while (!c->finished && pthread_cond_timedwait(&c->cond, &c->mu, &until) == 0) {
    }
    int finished = c->finished;
    c->abandoned = !finished;
    pthread_mutex_unlock(&c->mu);
    if (finished)
        closer_free(c);
    return finished;
}

void hbd_nng_stop(hbd_nng *srv)
{
    if (srv == NULL)
        return;
    /* Listeners stay open until the end: closing one closes its
       connections, which would cut off the replies still to be sent. */
    pthread_mutex_lock(&srv->mu);
    srv->stopping = 1;
    hbd_info("nng: stopping; answering %u requests in flight", srv->active);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += STOP_TIMEOUT_S;
    while (srv->active > 0) {
        if (pthread_cond_timedwait(&srv->quiet, &srv->mu, &until) == 0)
            continue;
        /* A request waiting for its commit always gets an answer from the
           committer (durable or failed), and its callback must not outlive
           us: wait for those. Only replies stuck in send are abandoned. */
        int busy = 0;
        for (unsigned int i = 0; i < srv->nworkers; i++)
            busy |= srv->workers[i].state == ST_BUSY;
        if (!busy) {
            hbd_warn("nng: %u replies still unsent after %d s; closing anyway", srv->active,
                     STOP_TIMEOUT_S);
            break;
        }
        until.tv_sec += 1;
    }
    pthread_mutex_unlock(&srv->mu);
    /* Stop every aio (cancelling the idle receives and waiting for their
       callbacks) before the socket closes, so that it closes with nothing
       outstanding. */
    for (unsigned int i = 0; i < srv->nworkers; i++)
        nng_aio_stop(srv->workers[i].aio);
    if (!close_socket(srv->sock)) {
        atomic_store(&abandoned_close, 1);
        /* Leave the socket (and what it may still touch) to process exit. */
        hbd_warn("nng: socket close did not finish within %d s (nng 1.5.2 can hang in "
                 "nng_close, nanomsg/nng#1543); leaving it to process exit",
                 CLOSE_TIMEOUT_S);
        return;
    }
    for (unsigned int i = 0; i < srv->nworkers; i++) {
        if (srv->workers[i].msg != NULL)
            nng_msg_free(srv->workers[i].msg);
    }
    free_all(srv);
}
