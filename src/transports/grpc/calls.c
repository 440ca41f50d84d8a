/*
 * Unary calls on the gateway's one channel.
 *
 * gRPC's channel multiplexes calls over its HTTP/2 connection and is safe
 * to use from any thread, so every call, blocking or not, is started on the
 * channel directly and completes on the gateway's completion queue. One
 * thread per gateway (`poller`) takes completions off that queue and
 * finishes them: an asynchronous heartbeat's done callback runs there, and
 * a blocking call is woken there. No thread per call.
 *
 * Every call has a deadline of now + request_timeout; gRPC ends it with
 * DEADLINE_EXCEEDED when no reply came, whether the server is slow, silent
 * or unreachable. The channel reconnects by itself when its connection
 * drops (a restarted server), retrying after 100 ms and then at most every
 * second; a call made while it has no connection fails at once with
 * UNAVAILABLE (HBEAT_ETRANSPORT) rather than waiting for one.
 *
 * Closing: every call is linked into gw->calls under `mu` after checking
 * `closing`; hbeat__grpc_shutdown() sets `closing` and cancels every linked
 * call under the same lock, then waits for `in_flight` to reach zero, so no
 * callback runs after it returns.
 */
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/status.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "common/grpc_codes.h"
#include "transports/grpc/grpc_internal.h"

/* The table's numbers are gRPC's; the protocol fixes them. */
#define SAME(ours, theirs) ((int)(ours) == (int)(theirs))
_Static_assert(SAME(HBEAT__GRPC_OK, GRPC_STATUS_OK) &&
                   SAME(HBEAT__GRPC_CANCELLED, GRPC_STATUS_CANCELLED) &&
                   SAME(HBEAT__GRPC_INVALID_ARGUMENT, GRPC_STATUS_INVALID_ARGUMENT) &&
                   SAME(HBEAT__GRPC_DEADLINE_EXCEEDED, GRPC_STATUS_DEADLINE_EXCEEDED) &&
                   SAME(HBEAT__GRPC_NOT_FOUND, GRPC_STATUS_NOT_FOUND) &&
                   SAME(HBEAT__GRPC_PERMISSION_DENIED, GRPC_STATUS_PERMISSION_DENIED) &&
                   SAME(HBEAT__GRPC_RESOURCE_EXHAUSTED, GRPC_STATUS_RESOURCE_EXHAUSTED) &&
                   SAME(HBEAT__GRPC_UNIMPLEMENTED, GRPC_STATUS_UNIMPLEMENTED) &&
                   SAME(HBEAT__GRPC_INTERNAL, GRPC_STATUS_INTERNAL) &&
                   SAME(HBEAT__GRPC_UNAVAILABLE, GRPC_STATUS_UNAVAILABLE) &&
                   SAME(HBEAT__GRPC_UNAUTHENTICATED, GRPC_STATUS_UNAUTHENTICATED),
               "gRPC status numbers");

#define OPS 6

struct hbeat__grpc_call {
    hbeat__grpc_tag tag; /* HBEAT__GRPC_TAG_CALL */
    hbeat__grpc_gw *gw;
    grpc_call *call;
    hbeat__grpc_method method;
    grpc_metadata auth;
    grpc_metadata_array initial, trailing;
    grpc_byte_buffer *send, *recv;
    grpc_status_code status;
    grpc_slice details;
    const char *error_string;
    hbeat__grpc_finish_fn finish;
    void *arg;
    /* Where the reply is unpacked: the caller's for a blocking call (it
       reads the reply after the call is gone), else `own`. */
    hbeat__wire_arena *arena;
    hbeat__wire_arena own;
    hbeat__grpc_call *next, **prevp;
};

/* ---- the channel ---- */

static void *poll_main(void *arg);

static grpc_channel_credentials *tls_credentials(const hbeat__grpc_settings *s)
{
    if (!s->insecure) {
        grpc_ssl_pem_key_cert_pair pair = {s->key_pem, s->cert_pem};
        return grpc_ssl_credentials_create(s->ca_pem, s->cert_pem != NULL ? &pair : NULL, NULL,
                                           NULL);
    }
    /* gRPC's SSL credentials always verify; only the TLS credentials can
       be told not to (the caller asked for it with `insecure`). */
    grpc_tls_credentials_options *o = grpc_tls_credentials_options_create();
    grpc_tls_credentials_options_set_verify_server_cert(o, 0);
    grpc_tls_credentials_options_set_check_call_host(o, 0);
    grpc_tls_certificate_verifier *v = grpc_tls_certificate_verifier_no_op_create();
    grpc_tls_credentials_options_set_certificate_verifier(o, v);
    grpc_tls_certificate_verifier_release(v);
    if (s->cert_pem != NULL) {
        grpc_tls_identity_pairs *pairs = grpc_tls_identity_pairs_create();
        grpc_tls_identity_pairs_add_pair(pairs, s->key_pem, s->cert_pem);
        grpc_tls_certificate_provider *p =
            grpc_tls_certificate_provider_static_data_create(NULL, pairs);
        grpc_tls_credentials_options_set_certificate_provider(o, p);
        grpc_tls_credentials_options_watch_identity_key_cert_pairs(o);
        grpc_tls_certificate_provider_release(p);
    }
    return grpc_tls_credentials_create(o);
}

static grpc_arg int_arg(const char *key, int value)
{
    grpc_arg a;
    a.type = GRPC_ARG_INTEGER;
    a.key = (char *)key;
    a.value.integer = value;
    return a;
}

int hbeat__grpc_connect(hbeat__grpc_gw *gw, const char *target, hbeat_error *err)
{
    grpc_init();
    gw->grpc_up = 1;
    const hbeat__grpc_settings *s = &gw->set;
    grpc_arg args[8];
    size_t n = 0;
    args[n++] = int_arg(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, (int)s->max_reply);
    args[n++] = int_arg(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, HBEAT__GRPC_BACKOFF_FIRST_MS);
    args[n++] = int_arg(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, HBEAT__GRPC_BACKOFF_MAX_MS);
    /* gRPC's name for the time one connection attempt may take. */
    args[n++] = int_arg(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, (int)(s->connect_timeout_s * 1000.0));
    /* Each gateway its own connection, so that closing one never touches
       another's calls. */
    args[n++] = int_arg(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    /* A beat is never resent: the service decides whether to beat again. */
    args[n++] = int_arg(GRPC_ARG_ENABLE_RETRIES, 0);
    args[n].type = GRPC_ARG_STRING;
    args[n].key = (char *)GRPC_ARG_PRIMARY_USER_AGENT_STRING;
    args[n++].value.string = s->user_agent;
    grpc_channel_args cargs = {n, args};

    grpc_channel_credentials *creds =
        s->tls ? tls_credentials(s) : grpc_insecure_credentials_create();
    if (creds == NULL) {
        return hbeat_error_set(err, HBEAT_ETLS, "gRPC: %.160s: cannot set up TLS", gw->url);
    }
    gw->channel = grpc_channel_create(target, creds, &cargs);
    grpc_channel_credentials_release(creds);
    if (gw->channel == NULL) {
        return hbeat_error_set(err, HBEAT_ESYSTEM, "gRPC: %.160s: cannot make a channel", gw->url);
    }
    for (int m = 0; m < HBEAT__GRPC_METHODS; m++) {
        gw->methods[m] = grpc_channel_register_call(
            gw->channel, hbeat__grpc_method_path((hbeat__grpc_method)m), NULL, NULL);
    }
    gw->cq = grpc_completion_queue_create_for_next(NULL);
    if (gw->cq == NULL || pthread_create(&gw->poller, NULL, poll_main, gw) != 0) {
        return hbeat_error_set(err, HBEAT_ESYSTEM, "gRPC: %.160s: cannot start the call thread",
                               gw->url);
    }
    gw->poller_started = 1;
    return 0;
}

void hbeat__grpc_disconnect(hbeat__grpc_gw *gw)
{
    if (gw->cq != NULL) {
        grpc_completion_queue_shutdown(gw->cq);
        if (gw->poller_started) {
            pthread_join(gw->poller, NULL);
            gw->poller_started = 0;
        }
        grpc_completion_queue_destroy(gw->cq);
        gw->cq = NULL;
    }
    if (gw->channel != NULL) {
        grpc_channel_destroy(gw->channel);
        gw->channel = NULL;
    }
    if (gw->grpc_up) {
        grpc_shutdown();
        gw->grpc_up = 0;
    }
}

/* ---- one call ---- */

static void call_free(hbeat__grpc_call *c)
{
    if (c->call != NULL) {
        grpc_call_unref(c->call);
    }
    grpc_metadata_array_destroy(&c->initial);
    grpc_metadata_array_destroy(&c->trailing);
    if (c->send != NULL) {
        grpc_byte_buffer_destroy(c->send);
    }
    if (c->recv != NULL) {
        grpc_byte_buffer_destroy(c->recv);
    }
    grpc_slice_unref(c->details);
    gpr_free((void *)c->error_string);
    free(c);
}

int hbeat__grpc_enter(hbeat__grpc_gw *gw, hbeat_error *err)
{
    pthread_mutex_lock(&gw->mu);
    if (gw->closing) {
        pthread_mutex_unlock(&gw->mu);
        return hbeat_error_set(err, HBEAT_ECANCELED, "%.160s: the gateway is closing", gw->url);
    }
    return 0;
}

/* Under gw->mu. */
static void unlink_locked(hbeat__grpc_call *c)
{
    *c->prevp = c->next;
    if (c->next != NULL) {
        c->next->prevp = c->prevp;
    }
}

static void unlink_call(hbeat__grpc_call *c)
{
    pthread_mutex_lock(&c->gw->mu);
    unlink_locked(c);
    pthread_mutex_unlock(&c->gw->mu);
}

static void call_done(hbeat__grpc_gw *gw)
{
    pthread_mutex_lock(&gw->mu);
    if (--gw->in_flight == 0) {
        pthread_cond_broadcast(&gw->idle);
    }
    pthread_mutex_unlock(&gw->mu);
}

static int start(hbeat__grpc_gw *gw, hbeat__grpc_method m, const ProtobufCMessage *req,
                 hbeat__wire_arena *arena, hbeat__grpc_finish_fn finish, void *arg,
                 hbeat_error *err)
{
    hbeat__grpc_call *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return hbeat_error_set(err, HBEAT_ENOMEM, "gRPC: out of memory");
    }
    c->tag = HBEAT__GRPC_TAG_CALL;
    c->gw = gw;
    c->method = m;
    c->finish = finish;
    c->arg = arg;
    c->details = grpc_empty_slice();
    grpc_metadata_array_init(&c->initial);
    grpc_metadata_array_init(&c->trailing);
    hbeat__wire_arena_init(&c->own);
    c->arena = arena != NULL ? arena : &c->own;

    grpc_slice body = grpc_slice_malloc(protobuf_c_message_get_packed_size(req));
    protobuf_c_message_pack(req, GRPC_SLICE_START_PTR(body));
    c->send = grpc_raw_byte_buffer_create(&body, 1);
    grpc_slice_unref(body);

    gpr_timespec deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                     gpr_time_from_micros((int64_t)(gw->set.timeout_s * 1e6), GPR_TIMESPAN));
    c->call = grpc_channel_create_registered_call(gw->channel, NULL, GRPC_PROPAGATE_DEFAULTS,
                                                  gw->cq, gw->methods[m], deadline, NULL);
    if (c->call == NULL) {
        call_free(c);
        return hbeat_error_set(err, HBEAT_ESYSTEM, "gRPC: %.160s: cannot make a call", gw->url);
    }

    grpc_op ops[OPS];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.metadata = hbeat__grpc_auth_metadata(gw, &c->auth);
    ops[0].data.send_initial_metadata.count = ops[0].data.send_initial_metadata.metadata != NULL;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = c->send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &c->initial;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &c->recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &c->trailing;
    ops[5].data.recv_status_on_client.status = &c->status;
    ops[5].data.recv_status_on_client.status_details = &c->details;
    ops[5].data.recv_status_on_client.error_string = &c->error_string;
    /* Everything of `c` is read before the lock is released: once the
       batch starts, the call may complete and be freed on the queue's
       thread, and the lock is what orders the two for ThreadSanitizer. */
    grpc_call *call = c->call;
    if (hbeat__grpc_enter(gw, err) != 0) {
        call_free(c);
        return HBEAT_ECANCELED;
    }
    c->next = gw->calls;
    if (c->next != NULL) {
        c->next->prevp = &c->next;
    }
    c->prevp = &gw->calls;
    gw->calls = c;
    gw->in_flight++;
    pthread_mutex_unlock(&gw->mu);

    grpc_call_error e = grpc_call_start_batch(call, ops, OPS, c, NULL);
    if (e != GRPC_CALL_OK) {
        unlink_call(c);
        call_free(c);
        call_done(gw);
        return hbeat_error_set(err, HBEAT_ESYSTEM, "gRPC: %.160s: cannot start a call: %s", gw->url,
                               grpc_call_error_to_string(e));
    }
    return 0;
}

/* The reply's bytes and the status, checked; then the finish callback.
   Everything start() wrote into the call was written before it linked the
   call under gw->mu, so taking gw->mu first makes it visible here without
   relying on gRPC's own hand-off (which ThreadSanitizer cannot see into). */
static void complete(hbeat__grpc_gw *gw, hbeat__grpc_call *c)
{
    pthread_mutex_lock(&gw->mu);
    unlink_locked(c);
    int closing = gw->closing;
    pthread_mutex_unlock(&gw->mu);

    hbeat_error err = HBEAT_ERROR_INIT;
    ProtobufCMessage *reply = NULL;
    int rc;
    if (closing && c->status != GRPC_STATUS_OK) {
        rc = hbeat_error_set(&err, HBEAT_ECANCELED,
                             "%.160s: gateway closed with the call in flight", gw->url);
    } else {
        char details[256];
        size_t dlen = GRPC_SLICE_LENGTH(c->details);
        if (dlen >= sizeof(details)) {
            dlen = sizeof(details) - 1;
        }
        memcpy(details, GRPC_SLICE_START_PTR(c->details), dlen);
        details[dlen] = '\0';
        grpc_slice body = grpc_empty_slice();
        if (c->recv != NULL) {
            grpc_byte_buffer_reader reader;
            if (grpc_byte_buffer_reader_init(&reader, c->recv)) {
                body = grpc_byte_buffer_reader_readall(&reader);
                grpc_byte_buffer_reader_destroy(&reader);
            }
        }
        rc = hbeat__grpc_decode(&reply, c->method, (int)c->status, details,
                                GRPC_SLICE_START_PTR(body), GRPC_SLICE_LENGTH(body),
                                c->recv != NULL, gw->set.tls, c->arena, gw->url, &err);
        grpc_slice_unref(body);
    }
    c->finish(c->arg, rc, reply, c->arena, &err);
    call_free(c);
    call_done(gw);
}

static void *poll_main(void *arg)
{
    hbeat__grpc_gw *gw = arg;
    for (;;) {
        grpc_event ev =
            grpc_completion_queue_next(gw->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN) {
            return NULL;
        }
        if (ev.type != GRPC_OP_COMPLETE) {
            continue;
        }
        /* Calls and watches fill their tags in before they last release
           gw->mu; taking it here makes that visible without relying on
           gRPC's own hand-off, which ThreadSanitizer cannot see into. */
        pthread_mutex_lock(&gw->mu);
        hbeat__grpc_tag kind = *(hbeat__grpc_tag *)ev.tag;
        pthread_mutex_unlock(&gw->mu);
        if (kind == HBEAT__GRPC_TAG_WATCH) {
            hbeat__grpc_watch_event(ev.tag, ev.success);
        } else {
            /* A batch with RECV_STATUS_ON_CLIENT always completes with its
               status filled in, success or not. */
            complete(gw, ev.tag);
        }
    }
}

int hbeat__grpc_call_async(hbeat__grpc_gw *gw, hbeat__grpc_method m, const ProtobufCMessage *req,
                           hbeat__grpc_finish_fn finish, void *arg, hbeat_error *err)
{
    return start(gw, m, req, NULL, finish, arg, err);
}

/* ---- blocking calls: the same path, waited for ---- */

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    int rc;
    ProtobufCMessage *reply;
    hbeat_error err;
} waiter;

static void wake(void *arg, int rc, ProtobufCMessage *reply, hbeat__wire_arena *arena,
                 const hbeat_error *err)
{
    (void)arena;
    waiter *w = arg;
    pthread_mutex_lock(&w->mu);
    w->rc = rc;
    w->reply = reply;
    if (rc != 0) {
        w->err = *err;
    }
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int hbeat__grpc_call_blocking(hbeat__grpc_gw *gw, hbeat__grpc_method m, const ProtobufCMessage *req,
                              hbeat__wire_arena *arena, ProtobufCMessage **out, hbeat_error *err)
{
    waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, NULL, HBEAT_ERROR_INIT};
    /* Held from the start, so that wake() sees the waiter as made here. */
    pthread_mutex_lock(&w.mu);
    int rc = start(gw, m, req, arena, wake, &w, err);
    if (rc != 0) {
        pthread_mutex_unlock(&w.mu);
        return rc;
    }
    while (!w.done) {
        pthread_cond_wait(&w.cv, &w.mu);
    }
    pthread_mutex_unlock(&w.mu);
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
    if (w.rc != 0) {
        if (err != NULL) {
            *err = w.err;
        }
        return w.rc;
    }
    *out = w.reply;
    return 0;
}

grpc_metadata *hbeat__grpc_auth_metadata(hbeat__grpc_gw *gw, grpc_metadata *md)
{
    if (gw->set.authorization == NULL) {
        return NULL;
    }
    md->key = grpc_slice_from_static_string("authorization");
    md->value = grpc_slice_from_static_string(gw->set.authorization);
    return md;
}

void hbeat__grpc_shutdown(hbeat__grpc_gw *gw)
{
    pthread_mutex_lock(&gw->mu);
    gw->closing = 1;
    for (hbeat__grpc_call *c = gw->calls; c != NULL; c = c->next) {
        grpc_call_cancel(c->call, NULL);
    }
    hbeat__grpc_watch_cancel_all_locked(gw);
    while (gw->in_flight > 0) {
        pthread_cond_wait(&gw->idle, &gw->mu);
    }
    pthread_mutex_unlock(&gw->mu);
}
