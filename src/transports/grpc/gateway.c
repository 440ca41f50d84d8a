/*
 * The gRPC gateway: grpc://HOST:PORT (plaintext HTTP/2) and
 * grpcs://HOST:PORT (TLS), calling hbeat.v1.HeartbeatService on gRPC's C
 * core library.
 *
 * One channel per gateway, shared by every service and thread that uses
 * it (HBEAT_GATEWAY_THREAD_SAFE): gRPC multiplexes the calls over one
 * connection. Opening succeeds while the server is down; the channel
 * connects on the first call and reconnects by itself after the server
 * restarts (calls.c).
 *
 * The blocking calls (beat, status, admin) are the nng and gRPC gateways'
 * shared ones (transports/wire/calls.c) over this transport's round trip,
 * wire_call; the asynchronous beat is the transport's own.
 *
 * log_heartbeat_async completes on the gateway's completion queue thread:
 * done runs there and must not block for long; in particular it must not
 * make blocking calls on this gateway nor free it.
 *
 * grpcs:// verifies the server's certificate against ca_file (gRPC's
 * default roots when not given) and the URL's host unless `insecure`, and
 * presents cert_file/key_file when given (mutual TLS). A failed handshake
 * is HBEAT_ETLS with gRPC's reason.
 */
#include <stdlib.h>
#include <string.h>

#include "core/builtins.h"
#include "transports/grpc/grpc_internal.h"

static void gateway_close(void *self)
{
    hbeat__grpc_shutdown(self);
}

static void gateway_destroy(void *self)
{
    hbeat__grpc_gw *gw = self;
    if (gw == NULL) {
        return;
    }
    /* close normally ran first; destroy must be safe on its own, too, for
       the failure paths of open. */
    hbeat__grpc_shutdown(gw);
    hbeat__grpc_disconnect(gw);
    pthread_cond_destroy(&gw->idle);
    pthread_mutex_destroy(&gw->mu);
    hbeat__grpc_settings_release(&gw->set);
    free(gw->url);
    free(gw);
}

/* Argument checks' messages start with this, as the transport's own do. */
#define WHO "gRPC"

/* hbeat__wire_call_fn: the envelope's call cases name the service's
   methods, whose replies are the payloads themselves. */
static int wire_call(void *self, HbeatPb__Request__CallCase c, const ProtobufCMessage *req,
                     hbeat__wire_arena *arena, ProtobufCMessage **reply,
                     const ProtobufCMessage **payload, hbeat_error *err)
{
    static const hbeat__grpc_method methods[] = {
        [HBEAT_PB__REQUEST__CALL_HEARTBEAT] = HBEAT__GRPC_LOG_HEARTBEAT,
        [HBEAT_PB__REQUEST__CALL_UPDATE_STATUS] = HBEAT__GRPC_UPDATE_STATUS,
        [HBEAT_PB__REQUEST__CALL_CREATE_RUN] = HBEAT__GRPC_CREATE_RUN,
        [HBEAT_PB__REQUEST__CALL_GET_RUN] = HBEAT__GRPC_GET_RUN,
        [HBEAT_PB__REQUEST__CALL_LIST_RUNS] = HBEAT__GRPC_LIST_RUNS,
        [HBEAT_PB__REQUEST__CALL_SET_STATUS] = HBEAT__GRPC_SET_STATUS,
    };
    int rc = hbeat__grpc_call_blocking(self, methods[c], req, arena, reply, err);
    if (rc == 0) {
        *payload = *reply;
    }
    return rc;
}

/* An asynchronous beat in flight: what its completion needs. */
typedef struct beat_async {
    hbeat__grpc_gw *gw;
    uint64_t sequence;
    hbeat_gateway_done_fn done;
    void *arg;
} beat_async;

static void beat_finished(void *arg, int rc, ProtobufCMessage *r, hbeat__wire_arena *arena,
                          const hbeat_error *err)
{
    beat_async *b = arg;
    hbeat_heartbeat_reply reply;
    hbeat_error mine = HBEAT_ERROR_INIT;
    if (rc == 0) {
        rc = hbeat__wire_check_heartbeat((HbeatPb__HeartbeatReply *)r, b->sequence, &reply,
                                         b->gw->url, &mine);
        hbeat__wire_reply_free(r, arena);
        err = &mine;
    }
    b->done(b->arg, rc, rc == 0 ? &reply : NULL, rc == 0 ? NULL : err);
    free(b);
}

static int gateway_log_heartbeat_async(void *self, const hbeat_heartbeat_request *req,
                                       hbeat_gateway_done_fn done, void *arg, hbeat_error *err)
{
    hbeat__grpc_gw *gw = self;
    int rc = hbeat__wire_check_beat(req, WHO, err);
    if (rc != 0) {
        return rc;
    }
    if (done == NULL) {
        return hbeat_error_set(err, HBEAT_EINVAL, "gRPC: done callback is NULL");
    }
    beat_async *b = malloc(sizeof(*b));
    if (b == NULL) {
        return hbeat_error_set(err, HBEAT_ENOMEM, "gRPC: out of memory");
    }
    *b = (beat_async){gw, req->sequence, done, arg};
    HbeatPb__HeartbeatRequest hb;
    hbeat__wire_beat_message(&hb, req);
    rc = hbeat__grpc_call_async(gw, HBEAT__GRPC_LOG_HEARTBEAT, &hb.base, beat_finished, b, err);
    if (rc != 0) {
        free(b);
    }
    return rc;
}

const hbeat_gateway_vtable hbeat__grpc_vtable = {
    .version = HBEAT_GATEWAY_VTABLE_VERSION,
    .name = "grpc",
    .flags = HBEAT_GATEWAY_THREAD_SAFE,
    .destroy = gateway_destroy,
    HBEAT__WIRE_GATEWAY_CALLS,
    .log_heartbeat_async = gateway_log_heartbeat_async,
    .close = gateway_close,
    .watch = hbeat__grpc_watch_start,
    .unwatch = hbeat__grpc_unwatch,
};

int hbeat__grpc_open(hbeat_gateway **out, const char *url, const hbeat_gateway_options *opts,
                     void *data, hbeat_error *err)
{
    (void)data;
    if (out == NULL) {
        return hbeat_error_set(err, HBEAT_EINVAL, "gRPC: out is NULL");
    }
    char target[HBEAT__GRPC_TARGET_MAX];
    int tls;
    int rc = hbeat__grpc_url_target(url, target, sizeof(target), &tls, err);
    if (rc != 0) {
        return rc;
    }
    hbeat__grpc_gw *gw = calloc(1, sizeof(*gw));
    if (gw == NULL) {
        return hbeat_error_set(err, HBEAT_ENOMEM, "gRPC: out of memory");
    }
    if (pthread_mutex_init(&gw->mu, NULL) != 0) {
        free(gw);
        return hbeat_error_set(err, HBEAT_ESYSTEM, "gRPC: cannot create a mutex");
    }
    if (pthread_cond_init(&gw->idle, NULL) != 0) {
        pthread_mutex_destroy(&gw->mu);
        free(gw);
        return hbeat_error_set(err, HBEAT_ESYSTEM, "gRPC: cannot create a condition variable");
    }
    /* From here gateway_destroy cleans up whatever was made. */
    gw->url = strdup(url);
    gw->wire = (hbeat__wire_gateway){wire_call, WHO, gw->url};
    if (gw->url == NULL) {
        rc = hbeat_error_set(err, HBEAT_ENOMEM, "gRPC: out of memory");
    }
    if (rc == 0) {
        rc = hbeat__grpc_settings_from(&gw->set, url, tls, opts, err);
    }
    if (rc == 0) {
        rc = hbeat__grpc_connect(gw, target, err);
    }
    if (rc == 0) {
        rc = hbeat_gateway_new(out, &hbeat__grpc_vtable, gw, err);
    }
    if (rc != 0) {
        gateway_destroy(gw);
    }
    return rc;
}
