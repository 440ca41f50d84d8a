/*
 * The nng front end. One REP socket, N contexts; each context is a small
 * state machine driven by its aio:
 *
 *   RECV --message--> (codec: decode, engine, encode) --> WAIT
 *   WAIT --commit durable (committer thread or at once)--> SEND
 *   SEND --sent--> RECV, or DONE when stopping
 *
 * No thread ever blocks on the store: a request that waits for its group
 * commit holds only its context. Stopping cancels the contexts that are
 * idle in RECV and lets the others finish their reply, which is how
 * in-flight requests get answered on SIGTERM.
 */
#define _POSIX_C_SOURCE 200809L

#include "server/front_nng.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/log.h"
#include "server/nng_codec.h"

#define DEFAULT_MAX_MESSAGE (64 * 1024)
#define DEFAULT_CONTEXTS    64
#define STOP_TIMEOUT_S      10

enum { ST_RECV, ST_BUSY, ST_SEND, ST_DONE };

typedef struct worker {
    hbd_nng *srv;
    nng_ctx ctx;
    nng_aio *aio;
    nng_msg *msg; /* the request, turned into the reply */
    int state;    /* guarded by srv->mu */
    hbd_durable durable;
} worker;

struct hbd_nng {
    hbd_engine *engine;
    nng_socket sock;
    size_t max_message;
    worker *workers;
    unsigned int nworkers;
    nng_listener *listeners;
    char **bound;
    size_t nurls;
    pthread_mutex_t mu;
    pthread_cond_t idle; /* a worker reached DONE */
    int stopping;
    unsigned int done;
};

static int nng_fail(hbeat_error *err, int code, int rv, const char *what, const char *url)
{
    code = hbeat_error_set(err, code, "nng: %s%s%s: %s", what, url ? " " : "", url ? url : "",
                           nng_strerror(rv));
    if (err != NULL)
        err->native = rv;
    return code;
}

static void set_state(worker *w, int state)
{
    pthread_mutex_lock(&w->srv->mu);
    w->state = state;
    pthread_mutex_unlock(&w->srv->mu);
}

/* Back to RECV, or DONE if the server is stopping. */
static void next_request(worker *w)
{
    hbd_nng *srv = w->srv;
    pthread_mutex_lock(&srv->mu);
    if (srv->stopping) {
        w->state = ST_DONE;
        srv->done++;
        pthread_cond_broadcast(&srv->idle);
        pthread_mutex_unlock(&srv->mu);
        return;
    }
    w->state = ST_RECV;
    /* Under the lock, so that hbd_nng_stop() never sees RECV without the
       receive it must cancel. nng completes an aio on its own threads, never
       inside this call, so the callback cannot deadlock on the lock. */
    nng_ctx_recv(w->ctx, w->aio);
    pthread_mutex_unlock(&srv->mu);
}

static uint8_t *reserve(void *arg, size_t len)
{
    nng_msg *msg = arg;
    nng_msg_clear(msg);
    if (nng_msg_realloc(msg, len) != 0)
        return NULL;
    return nng_msg_body(msg);
}

static void send_reply(worker *w)
{
    set_state(w, ST_SEND);
    nng_aio_set_msg(w->aio, w->msg);
    w->msg = NULL;
    nng_ctx_send(w->ctx, w->aio);
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
    send_reply(w);
}

static void on_recv(worker *w)
{
    int rv = nng_aio_result(w->aio);
    if (rv != 0) {
        if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
            pthread_mutex_lock(&w->srv->mu);
            w->state = ST_DONE;
            w->srv->done++;
            pthread_cond_broadcast(&w->srv->idle);
            pthread_mutex_unlock(&w->srv->mu);
            return;
        }
        hbd_warn("nng: receive failed: %s", nng_strerror(rv));
        next_request(w);
        return;
    }
    set_state(w, ST_BUSY);
    w->msg = nng_aio_get_msg(w->aio);
    nng_aio_set_msg(w->aio, NULL);
    /* Decode straight from the message body; the reply reuses the message. */
    size_t len = nng_msg_len(w->msg);
    uint64_t ticket = 0;
    if (hbd_codec_serve(w->srv->engine, nng_msg_body(w->msg), len, w->srv->max_message, reserve,
                        w->msg, &ticket) != 0) {
        hbd_error("nng: out of memory for a reply; dropping the request");
        nng_msg_free(w->msg);
        w->msg = NULL;
        next_request(w);
        return;
    }
    hbd_engine_when_durable(w->srv->engine, ticket, &w->durable, on_durable, w);
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
    if (strncmp(url, "tcp", 3) == 0 &&
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

static void free_all(hbd_nng *srv)
{
    for (unsigned int i = 0; i < srv->nworkers; i++) {
        if (srv->workers[i].aio != NULL)
            nng_aio_free(srv->workers[i].aio);
    }
    for (size_t i = 0; i < srv->nurls; i++)
        free(srv->bound[i]);
    free(srv->bound);
    free(srv->listeners);
    free(srv->workers);
    pthread_cond_destroy(&srv->idle);
    pthread_mutex_destroy(&srv->mu);
    free(srv);
}

int hbd_nng_start(hbd_nng **out, hbd_engine *engine, const hbd_nng_options *opts, hbeat_error *err)
{
    *out = NULL;
    if (opts->url_count == 0)
        return hbeat_error_set(err, HBEAT_EINVAL, "nng: no listen URL");
    hbd_nng *srv = calloc(1, sizeof *srv);
    if (srv == NULL)
        return hbeat_error_set(err, HBEAT_ENOMEM, "nng: out of memory");
    pthread_mutex_init(&srv->mu, NULL);
    pthread_cond_init(&srv->idle, NULL);
    srv->engine = engine;
    srv->max_message = opts->max_message ? opts->max_message : DEFAULT_MAX_MESSAGE;
    srv->nworkers = opts->contexts ? opts->contexts : DEFAULT_CONTEXTS;
    srv->workers = calloc(srv->nworkers, sizeof *srv->workers);
    srv->listeners = calloc(opts->url_count, sizeof *srv->listeners);
    srv->bound = calloc(opts->url_count, sizeof *srv->bound);
    if (srv->workers == NULL || srv->listeners == NULL || srv->bound == NULL) {
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
    nng_socket_set_size(srv->sock, NNG_OPT_RECVMAXSZ, hard);

    int code = 0;
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
        if ((rv = nng_listener_start(l, 0)) != 0) {
            code = nng_fail(err, HBEAT_ESYSTEM, rv, "cannot listen on", url);
            break;
        }
        srv->listeners[i] = l;
        srv->nurls = i + 1;
        if ((srv->bound[i] = bound_url(url, l)) == NULL)
            code = hbeat_error_set(err, HBEAT_ENOMEM, "nng: out of memory");
    }
    if (code != 0) {
        nng_close(srv->sock);
        free_all(srv);
        return code;
    }
    pthread_mutex_lock(&srv->mu);
    for (unsigned int i = 0; i < srv->nworkers; i++) {
        srv->workers[i].state = ST_RECV;
        nng_ctx_recv(srv->workers[i].ctx, srv->workers[i].aio);
    }
    pthread_mutex_unlock(&srv->mu);
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

void hbd_nng_stop(hbd_nng *srv)
{
    if (srv == NULL)
        return;
    /* No new connections. */
    for (size_t i = 0; i < srv->nurls; i++)
        nng_listener_close(srv->listeners[i]);
    /* No new requests; the ones being served finish and reply. */
    pthread_mutex_lock(&srv->mu);
    srv->stopping = 1;
    unsigned int in_flight = 0;
    for (unsigned int i = 0; i < srv->nworkers; i++) {
        if (srv->workers[i].state == ST_RECV)
            nng_aio_cancel(srv->workers[i].aio);
        else
            in_flight++;
    }
    hbd_info("nng: stopping; answering %u requests in flight", in_flight);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += STOP_TIMEOUT_S;
    while (srv->done < srv->nworkers) {
        if (pthread_cond_timedwait(&srv->idle, &srv->mu, &until) == 0)
            continue;
        /* A request waiting for its commit always gets an answer from the
           committer (durable or failed) and its callback must not outlive
           us: wait for those. Only replies stuck in send are abandoned. */
        int busy = 0;
        for (unsigned int i = 0; i < srv->nworkers; i++)
            busy |= srv->workers[i].state == ST_BUSY;
        if (!busy) {
            hbd_warn("nng: %u replies still unsent after %d s; closing anyway",
                     srv->nworkers - srv->done, STOP_TIMEOUT_S);
            break;
        }
        until.tv_sec += 1;
    }
    pthread_mutex_unlock(&srv->mu);
    nng_close(srv->sock);
    /* nng_aio_free waits for a callback still running. */
    for (unsigned int i = 0; i < srv->nworkers; i++) {
        nng_aio_stop(srv->workers[i].aio);
        if (srv->workers[i].msg != NULL)
            nng_msg_free(srv->workers[i].msg);
    }
    free_all(srv);
}
