/*
 * The nng gateway: nng+tcp://HOST:PORT, nng+tls+tcp://HOST:PORT,
 * nng+ipc:///path, nng+inproc://NAME.
 *
 * One REQ socket per gateway, dialed in the background (dialer.c): opening
 * succeeds while the server is down, and the gateway reconnects on its own
 * when the server goes away and comes back, so it outlives server restarts. A request waits for a
 * connection within its own time limit, request_timeout (5 s by default, never infinite).
 *
 * Thread safety: every call runs on an nng context of its own (see
 * exchange.c), so the table sets HBEAT_GATEWAY_THREAD_SAFE and one gateway
 * may serve many services and threads at once, blocking and async calls
 * mixed.
 *
 * The blocking calls (beat, status, admin) are the nng and gRPC gateways'
 * shared ones (transports/wire/calls.c) over this transport's round trip,
 * wire_call; the asynchronous beat is the transport's own.
 *
 * log_heartbeat_async runs on nng's aio: done is called on an nng thread,
 * which it must not block for long; in particular it must not make blocking
 * calls on this gateway nor free it.
 *
 * nng+tls+tcp:// verifies the server's certificate against ca_file (the
 * system's CAs when not given) and the URL's host unless `insecure`, and
 * presents cert_file/key_file when given (mutual TLS). Because the dialer
 * works in the background, a TLS failure would otherwise surface only as
 * "no connection within the timeout": a blocking call that finds no
 * connection up first runs a handshake of its own (tls.c) and, when that
 * fails, returns HBEAT_ETLS naming the reason. The async heartbeat never
 * blocks for that; it reports the last reason found, if any.
 *
 * Left out: connect_timeout, which a background dialer has no use for;
 * the request timeout bounds the wait for a connection instead.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>

#include "core/builtins.h"
#include "transports/nng/nng_internal.h"

/* Longest nng dial address we build (an ipc path is far shorter). */
#define DIAL_MAX 1024

static void gateway_close(void *self)
{
    hbeat__nng_shutdown(self);
}

static void gateway_destroy(void *self)
{
    hbeat__nng_gw *gw = self;
    if (gw == NULL) {
        return;
    }
    /* close normally ran first; destroy must be safe on its own, too, for
       the failure paths of open. */
    hbeat__nng_shutdown(gw);
    hbeat__nng_free_slots(gw);
    pthread_cond_destroy(&gw->idle);
    pthread_mutex_destroy(&gw->dial_mu);
    pthread_mutex_destroy(&gw->mu);
    hbeat__nng_settings_release(&gw->set);
    free(gw->address);
    free(gw->url);
    free(gw);
}

/* ---- TLS: why no connection comes ---- */

/* With no connection up, a TLS gateway checks the handshake itself before
   waiting on nng's dialer: a certificate problem then fails the call at
   once, with its reason, instead of as a timeout. */
static int tls_precheck(hbeat__nng_gw *gw, hbeat_error *err)
{
    if (!gw->set.tls || atomic_load(&gw->pipes) > 0) {
        return 0;
    }
    hbeat_error found = HBEAT_ERROR_INIT;
    int rc = hbeat__nng_tls_probe(&gw->set, gw->url, (int)gw->set.timeout_ms, &found);
    int tls_fault = rc == HBEAT_ETLS;
    pthread_mutex_lock(&gw->mu);
    if (tls_fault) {
        gw->tls_failure = found;
    } else {
        hbeat_error_clear(&gw->tls_failure);
    }
    pthread_mutex_unlock(&gw->mu);
    if (tls_fault || rc == HBEAT_ETIMEDOUT) {
        if (err != NULL) {
            *err = found;
        }
        return rc;
    }
    /* Connected fine, or no server at all: nng's dialer takes it from here. */
    return 0;
}

/* The async path must not block on a handshake: it reports the reason a
   blocking call found last, while there is still no connection. */
static int tls_known_failure(hbeat__nng_gw *gw, hbeat_error *err)
{
    if (!gw->set.tls || atomic_load(&gw->pipes) > 0) {
        return 0;
    }
    pthread_mutex_lock(&gw->mu);
    int code = gw->tls_failure.code;
    if (code != 0 && err != NULL) {
        *err = gw->tls_failure;
    }
    pthread_mutex_unlock(&gw->mu);
    return code;
}

/* ---- one call: encode, round trip, decode ---- */

static int call(hbeat__nng_gw *gw, HbeatPb__Request *req, HbeatPb__Reply__ResultCase expect,
                hbeat__wire_arena *arena, HbeatPb__Reply **out, hbeat_error *err)
{
    if (gw->set.token != NULL) {
        req->token = gw->set.token;
    }
    int tls_rc = tls_precheck(gw, err);
    if (tls_rc != 0) {
        return tls_rc;
    }
    nng_msg *msg;
    int rc = hbeat__nng_encode(&msg, req, gw->url, err);
    if (rc != 0) {
        return rc;
    }
    nng_msg *rep;
    rc = hbeat__nng_roundtrip(gw, msg, &rep, err);
    if (rc != 0) {
        return rc;
    }
    rc = hbeat__nng_decode(out, nng_msg_body(rep), nng_msg_len(rep), expect, arena, gw->url, err);
    nng_msg_free(rep);
    return rc;
}

/* Argument checks' messages start with this, as the transport's own do. */
#define WHO "nng"

/* The member of an envelope's oneof with field number @p number. */
static ProtobufCMessage **oneof_member(ProtobufCMessage *envelope, unsigned number)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(envelope->descriptor, number);
    return (ProtobufCMessage **)(void *)((char *)envelope + f->offset);
}

/* hbeat__wire_call_fn: each call travels in the envelope under its own
   case, and its reply comes back under the case of the same number (the
   schema gives a call and its reply the same field number). */
static int wire_call(void *self, HbeatPb__Request__CallCase c, const ProtobufCMessage *req,
                     hbeat__wire_arena *arena, ProtobufCMessage **reply,
                     const ProtobufCMessage **payload, hbeat_error *err)
{
    HbeatPb__Request env;
    hbeat_pb__request__init(&env);
    env.call_case = c;
    /* Only read; the envelope's members are not const. */
    *oneof_member(&env.base, (unsigned)c) = (ProtobufCMessage *)req;
    HbeatPb__Reply *r;
    int rc = call(self, &env, (HbeatPb__Reply__ResultCase)c, arena, &r, err);
    if (rc != 0) {
        return rc;
    }
    *reply = &r->base;
    *payload = *oneof_member(&r->base, (unsigned)c);
    return 0;
}

static int gateway_log_heartbeat_async(void *self, const hbeat_heartbeat_request *req,
                                       hbeat_gateway_done_fn done, void *arg, hbeat_error *err)
{
    hbeat__nng_gw *gw = self;
    int rc = hbeat__wire_check_beat(req, WHO, err);
    if (rc != 0) {
        return rc;
    }
    if (done == NULL) {
        return hbeat_error_set(err, HBEAT_EINVAL, "nng: done callback is NULL");
    }
    if ((rc = tls_known_failure(gw, err)) != 0) {
        return rc;
    }
    HbeatPb__HeartbeatRequest hb;
    hbeat__wire_beat_message(&hb, req);
    HbeatPb__Request env;
    hbeat_pb__request__init(&env);
    env.call_case = HBEAT_PB__REQUEST__CALL_HEARTBEAT;
    env.heartbeat = &hb;
    if (gw->set.token != NULL) {
        env.token = gw->set.token;
    }
    nng_msg *msg;
    rc = hbeat__nng_encode(&msg, &env, gw->url, err);
    if (rc != 0) {
        return rc;
    }
    return hbeat__nng_start_async(gw, msg, req->sequence, done, arg, err);
}

static const hbeat_gateway_vtable nng_vtable = {
    .version = HBEAT_GATEWAY_VTABLE_VERSION,
    .name = "nng",
    .flags = HBEAT_GATEWAY_THREAD_SAFE,
    .destroy = gateway_destroy,
    HBEAT__WIRE_GATEWAY_CALLS,
    .log_heartbeat_async = gateway_log_heartbeat_async,
    .close = gateway_close,
};

/* ---- open ---- */

static int dial(hbeat__nng_gw *gw, hbeat_error *err)
{
    int rv = nng_req0_open(&gw->sock);
    if (rv != 0) {
        return hbeat__nng_fail(err, rv, HBEAT__NNG_SEND, 0, gw->url, 0.0);
    }
    gw->sock_open = 1;
    /* Also set per context; this covers contexts nng makes by itself. */
    rv = nng_socket_set_ms(gw->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    if (rv == 0) {
        rv = hbeat__nng_watch_pipes(gw);
    }
    if (rv != 0) {
        return hbeat__nng_fail(err, rv, HBEAT__NNG_SEND, 0, gw->url, 0.0);
    }
    return hbeat__nng_dialer_start(gw, &gw->dialer, err);
}

int hbeat__nng_open(hbeat_gateway **out, const char *url, const hbeat_gateway_options *opts,
                    void *data, hbeat_error *err)
{
    (void)data;
    if (out == NULL) {
        return hbeat_error_set(err, HBEAT_EINVAL, "nng: out is NULL");
    }
    char address[DIAL_MAX];
    int rc = hbeat__nng_url_to_dial(url, address, sizeof(address), err);
    if (rc != 0) {
        return rc;
    }
    hbeat__nng_gw *gw = calloc(1, sizeof(*gw));
    if (gw == NULL) {
        return hbeat_error_set(err, HBEAT_ENOMEM, "nng: out of memory");
    }
    if (pthread_mutex_init(&gw->mu, NULL) != 0) {
        free(gw);
        return hbeat_error_set(err, HBEAT_ESYSTEM, "nng: cannot create a mutex");
    }
    if (pthread_cond_init(&gw->idle, NULL) != 0) {
        pthread_mutex_destroy(&gw->mu);
        free(gw);
        return hbeat_error_set(err, HBEAT_ESYSTEM, "nng: cannot create a condition variable");
    }
    if (pthread_mutex_init(&gw->dial_mu, NULL) != 0) {
        pthread_cond_destroy(&gw->idle);
        pthread_mutex_destroy(&gw->mu);
        free(gw);
        return hbeat_error_set(err, HBEAT_ESYSTEM, "nng: cannot create a mutex");
    }
    /* From here gateway_destroy cleans up whatever was made. */
    gw->url = strdup(url);
    gw->wire = (hbeat__wire_gateway){wire_call, WHO, gw->url};
    gw->address = strdup(address);
    if (gw->url == NULL || gw->address == NULL) {
        rc = hbeat_error_set(err, HBEAT_ENOMEM, "nng: out of memory");
    }
    if (rc == 0) {
        rc = hbeat__nng_settings_from(&gw->set, url, opts, err);
    }
    if (rc == 0) {
        rc = dial(gw, err);
    }
    if (rc == 0) {
        rc = hbeat_gateway_new(out, &nng_vtable, gw, err);
    }
    if (rc != 0) {
        gateway_destroy(gw);
    }
    return rc;
}
