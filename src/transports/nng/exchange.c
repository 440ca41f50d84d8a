/*
 * One request/reply round trip per call, each on an nng context of its own.
 *
 * A REQ socket keeps one request outstanding per context and matches
 * replies to requests by an id it puts in the header, so calls from several
 * threads (or several async beats) run side by side on one socket. Contexts
 * and their aios are pooled: a steady heartbeat reuses the same slot and
 * allocates nothing of ours; the pool only grows to the number of calls
 * that were ever in flight at once.
 *
 * Closing: every operation is started under `mu` after checking `closing`,
 * and hbeat__nng_shutdown() sets `closing` and cancels the aio of every slot
 * in use under the same lock, so no operation can start after the cancel
 * and wait out its timeout. Shutdown then waits for `in_flight` to reach
 * zero (no done callback runs after it returns) and only then closes the
 * socket: nng 1.5 can use a freed socket lock when the socket is closed
 * while another thread is still inside nng_ctx_send().
 */
#include <stdlib.h>

#include "transports/nng/nng_internal.h"

static int is_closing(hbeat__nng_gw *gw)
{
    pthread_mutex_lock(&gw->mu);
    int closing = gw->closing;
    pthread_mutex_unlock(&gw->mu);
    return closing;
}

static void slot_cb(void *arg);

static void slot_destroy(hbeat__nng_slot *s)
{
    if (s->aio != NULL) {
        /* Waits for a callback that is still running. */
        nng_aio_free(s->aio);
    }
    /* The context is closed with its socket; closing it twice is harmless
       but pointless. */
    free(s);
}

static int slot_create(hbeat__nng_gw *gw, int async, hbeat__nng_slot **out, hbeat_error *err)
{
    hbeat__nng_slot *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return hbeat_error_set(err, HBEAT_ENOMEM, "%.160s: out of memory", gw->url);
    }
    s->gw = gw;
    s->is_async = async;
    hbeat__wire_arena_init(&s->arena);
    int rv = nng_ctx_open(&s->ctx, gw->sock);
    if (rv == 0) {
        /*
         * REQ resends a request that got no reply after NNG_OPT_REQ_RESENDTIME
         * (60 s by default) and again whenever the connection it went out on
         * drops. For a heartbeat that would deliver the same beat twice after a
         * slow server or a restart, moving the deadline and counting a beat the
         * client never sent. We fail the call instead (timeout, or
         * HBEAT_ETRANSPORT on a dropped connection) and let the service decide
         * whether to beat again.
         */
        rv = nng_ctx_set_ms(s->ctx, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
        if (rv != 0) {
            nng_ctx_close(s->ctx);
        }
    }
    if (rv == 0) {
        rv = nng_aio_alloc(&s->aio, async ? slot_cb : NULL, s);
        if (rv != 0) {
            nng_ctx_close(s->ctx);
        }
    }
    if (rv != 0) {
        free(s);
        return hbeat__nng_fail(err, rv, HBEAT__NNG_SEND, is_closing(gw), gw->url, 0.0);
    }
    pthread_mutex_lock(&gw->mu);
    s->next_all = gw->all;
    gw->all = s;
    s->in_use = 1;
    pthread_mutex_unlock(&gw->mu);
    *out = s;
    return 0;
}

static int slot_acquire(hbeat__nng_gw *gw, int async, hbeat__nng_slot **out, hbeat_error *err)
{
    pthread_mutex_lock(&gw->mu);
    if (gw->closing) {
        pthread_mutex_unlock(&gw->mu);
        return hbeat_error_set(err, HBEAT_ECANCELED, "%.160s: the gateway is closed", gw->url);
    }
    hbeat__nng_slot **list = async ? &gw->free_async : &gw->free_sync;
    hbeat__nng_slot *s = *list;
    if (s != NULL) {
        *list = s->next_free;
        s->in_use = 1;
    }
    gw->in_flight++;
    pthread_mutex_unlock(&gw->mu);

    /* Counted in flight, so that shutdown does not close the socket under
       a dialer being replaced. */
    hbeat__nng_redial_if_stuck(gw);
    int rc = 0;
    if (s == NULL) {
        rc = slot_create(gw, async, &s, err);
    }
    if (rc != 0) {
        pthread_mutex_lock(&gw->mu);
        if (--gw->in_flight == 0) {
            pthread_cond_broadcast(&gw->idle);
        }
        pthread_mutex_unlock(&gw->mu);
        return rc;
    }
    *out = s;
    return 0;
}

/* The last thing a call does with its slot: after this, shutdown may return
   and the slot may be reused by another call. */
static void slot_release(hbeat__nng_slot *s)
{
    hbeat__nng_gw *gw = s->gw;
    pthread_mutex_lock(&gw->mu);
    hbeat__nng_slot **list = s->is_async ? &gw->free_async : &gw->free_sync;
    s->next_free = *list;
    *list = s;
    s->in_use = 0;
    if (--gw->in_flight == 0) {
        pthread_cond_broadcast(&gw->idle);
    }
    pthread_mutex_unlock(&gw->mu);
}

static nng_duration remaining_ms(nng_time deadline)
{
    nng_time now = nng_clock();
    /* At least 1 ms: 0 would mean "do not wait at all" to nng. */
    return now + 1 >= deadline ? 1 : (nng_duration)(deadline - now);
}

/* The part of a failed send that nng hands back. */
static void drop_unsent(nng_aio *aio)
{
    nng_msg *m = nng_aio_get_msg(aio);
    nng_aio_set_msg(aio, NULL);
    if (m != NULL) {
        nng_msg_free(m);
    }
}

static int check_size(hbeat__nng_gw *gw, nng_msg *msg, hbeat_error *err)
{
    /* NNG_OPT_RECVMAXSZ stops oversized replies on tcp and ipc (by dropping
       the connection); inproc does not enforce it, so check here too. */
    size_t len = nng_msg_len(msg);
    if (len > gw->set.max_reply) {
        int rc = hbeat_error_set(err, HBEAT_ETOOBIG,
                                 "%.160s: the reply of %zu bytes exceeds max_reply_size (%zu)",
                                 gw->url, len, gw->set.max_reply);
        if (err != NULL) {
            err->native = NNG_EMSGSIZE;
        }
        return rc;
    }
    return 0;
}

/* Start one half of the round trip, unless the gateway is closing (then
   NNG_ECANCELED and nothing started). See the file comment for the lock. */
static int start_op(hbeat__nng_slot *s, hbeat__nng_phase phase, nng_duration timeout)
{
    hbeat__nng_gw *gw = s->gw;
    pthread_mutex_lock(&gw->mu);
    if (gw->closing) {
        pthread_mutex_unlock(&gw->mu);
        return NNG_ECANCELED;
    }
    nng_aio_set_timeout(s->aio, timeout);
    if (phase == HBEAT__NNG_SEND) {
        nng_ctx_send(s->ctx, s->aio);
    } else {
        nng_ctx_recv(s->ctx, s->aio);
    }
    pthread_mutex_unlock(&gw->mu);
    return 0;
}

int hbeat__nng_roundtrip(hbeat__nng_gw *gw, nng_msg *req, nng_msg **reply, hbeat_error *err)
{
    hbeat__nng_slot *s;
    int rc = slot_acquire(gw, 0, &s, err);
    if (rc != 0) {
        nng_msg_free(req);
        return rc;
    }
    nng_time deadline = nng_clock() + (nng_time)gw->set.timeout_ms;
    hbeat__nng_phase phase = HBEAT__NNG_SEND;

    nng_aio_set_msg(s->aio, req);
    int rv = start_op(s, phase, gw->set.timeout_ms);
    if (rv == 0) {
        nng_aio_wait(s->aio);
        rv = nng_aio_result(s->aio);
    }
    if (rv != 0) {
        drop_unsent(s->aio);
    } else {
        phase = HBEAT__NNG_RECV;
        rv = start_op(s, phase, remaining_ms(deadline));
        if (rv == 0) {
            nng_aio_wait(s->aio);
            rv = nng_aio_result(s->aio);
        }
    }
    if (rv != 0) {
        rc = hbeat__nng_fail(err, rv, phase, is_closing(gw), gw->url, gw->set.timeout_s);
        goto out;
    }
    nng_msg *msg = nng_aio_get_msg(s->aio);
    nng_aio_set_msg(s->aio, NULL);
    rc = check_size(gw, msg, err);
    if (rc != 0) {
        nng_msg_free(msg);
        goto out;
    }
    *reply = msg;
out:
    slot_release(s);
    return rc;
}

/* Decode, call done exactly once, give the slot back. */
static void async_complete(hbeat__nng_slot *s, int rv, nng_msg *msg)
{
    hbeat__nng_gw *gw = s->gw;
    hbeat_error e = HBEAT_ERROR_INIT;
    hbeat_heartbeat_reply rep = {{0}};
    int rc;

    if (rv != 0) {
        rc = hbeat__nng_fail(&e, rv, s->phase, is_closing(gw), gw->url, gw->set.timeout_s);
    } else {
        rc = check_size(gw, msg, &e);
        if (rc == 0) {
            HbeatPb__Reply *r = NULL;
            rc = hbeat__nng_decode(&r, nng_msg_body(msg), nng_msg_len(msg),
                                   HBEAT_PB__REPLY__RESULT_HEARTBEAT, &s->arena, gw->url, &e);
            if (rc == 0) {
                rc = hbeat__wire_check_heartbeat(r->heartbeat, s->sequence, &rep, gw->url, &e);
                hbeat__nng_reply_free(r, &s->arena);
            }
        }
        nng_msg_free(msg);
    }
    hbeat_gateway_done_fn done = s->done;
    void *arg = s->done_arg;
    s->done = NULL;
    done(arg, rc, rc == 0 ? &rep : NULL, rc == 0 ? NULL : &e);
    slot_release(s);
}

static void slot_cb(void *arg)
{
    hbeat__nng_slot *s = arg;
    int rv = nng_aio_result(s->aio);

    if (s->phase == HBEAT__NNG_SEND) {
        if (rv == 0) {
            s->phase = HBEAT__NNG_RECV;
            rv = start_op(s, HBEAT__NNG_RECV, remaining_ms(s->deadline));
            if (rv == 0) {
                return; /* back here when the reply (or an error) is in */
            }
        } else {
            drop_unsent(s->aio);
        }
        async_complete(s, rv, NULL);
        return;
    }
    nng_msg *msg = NULL;
    if (rv == 0) {
        msg = nng_aio_get_msg(s->aio);
        nng_aio_set_msg(s->aio, NULL);
    }
    async_complete(s, rv, msg);
}

int hbeat__nng_start_async(hbeat__nng_gw *gw, nng_msg *req, uint64_t sequence,
                           hbeat_gateway_done_fn done, void *arg, hbeat_error *err)
{
    hbeat__nng_slot *s;
    int rc = slot_acquire(gw, 1, &s, err);
    if (rc != 0) {
        nng_msg_free(req);
        return rc;
    }
    s->phase = HBEAT__NNG_SEND;
    s->deadline = nng_clock() + (nng_time)gw->set.timeout_ms;
    s->sequence = sequence;
    s->done = done;
    s->done_arg = arg;
    nng_aio_set_msg(s->aio, req);
    if (start_op(s, HBEAT__NNG_SEND, gw->set.timeout_ms) != 0) {
        /* Closed since the slot was taken: a start error, done is not called. */
        drop_unsent(s->aio);
        s->done = NULL;
        slot_release(s);
        return hbeat_error_set(err, HBEAT_ECANCELED, "%.160s: the gateway is closed", gw->url);
    }
    /* From here every outcome, even a failure to start, reaches slot_cb on
       an nng thread: done is never called from inside this function. */
    return 0;
}

void hbeat__nng_shutdown(hbeat__nng_gw *gw)
{
    pthread_mutex_lock(&gw->mu);
    int first = !gw->closing;
    gw->closing = 1;
    for (hbeat__nng_slot *s = gw->all; s != NULL; s = s->next_all) {
        if (s->in_use) {
            /* Ends the operation in progress, if any, with NNG_ECANCELED;
               nng runs the completion on its own thread, never in here. */
            nng_aio_cancel(s->aio);
        }
    }
    while (gw->in_flight > 0) {
        pthread_cond_wait(&gw->idle, &gw->mu);
    }
    pthread_mutex_unlock(&gw->mu);

    if (first && gw->sock_open) {
        nng_close(gw->sock);
    }
}

void hbeat__nng_free_slots(hbeat__nng_gw *gw)
{
    hbeat__nng_slot *s = gw->all;
    while (s != NULL) {
        hbeat__nng_slot *next = s->next_all;
        slot_destroy(s);
        s = next;
    }
    gw->all = NULL;
    gw->free_sync = NULL;
    gw->free_async = NULL;
}
