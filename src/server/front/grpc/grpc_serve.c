/*
 * One gRPC call: its request message through the engine (pb_calls.h), its
 * answer sent once the change is durable. Everything here runs on the
 * front end's queue thread, except on_durable, which the store's writer
 * thread may call; gRPC lets any thread start a call's batch.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>

#include "common/grpc_codes.h"
#include "grpc/health/v1/health.pb-c.h"
#include "grpc_front_internal.h"
#include "log.h"
#include "monotonic.h"
#include "pb_calls.h"

/* Ends the call with `status` and `message` (printf-style), no reply. */
static void fail(hbd_grpc_call *c, grpc_status_code status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(hbd_grpc_call *c, grpc_status_code status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->message, sizeof c->message, fmt, ap);
    va_end(ap);
    c->status = status;
}

/* Sends the answer the call holds; its completion comes back as
   TAG_ANSWERED. */
/* The call's place among those in flight, given back. */
static void release_slot(hbd_grpc_call *c)
{
    if (c->slot) {
        atomic_fetch_sub(&c->srv->in_flight, 1);
        c->slot = 0;
    }
}

static void send_answer(hbd_grpc_call *c)
{
    /* Answered: the slot is free before the client can see the answer,
       so a client calling again at once is never refused for the call it
       just got back (the batch below completes only once the client has
       closed its side). */
    release_slot(c);
    grpc_op ops[4];
    memset(ops, 0, sizeof ops);
    size_t n = 0;
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (c->reply != NULL) {
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = c->reply;
    }
    c->status_details = grpc_slice_from_copied_string(c->message);
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = c->status;
    ops[n++].data.send_status_from_server.status_details = &c->status_details;
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;
    c->tag = TAG_ANSWERED;
    hbd_grpc *srv = c->srv;
    pthread_mutex_lock(&srv->answer_mu);
    grpc_call_error e = grpc_call_start_batch(c->call, ops, n, c, NULL);
    pthread_mutex_unlock(&srv->answer_mu);
    if (e != GRPC_CALL_OK) {
        /* Only a misuse of the API gets here; the call is dropped. */
        hbd_error("grpc: cannot answer a call");
        hbd_grpc_answered(c);
    }
}

/* A call whose result a deferred engine reports with its ticket. */
struct grpc_later {
    hbd_call call;
    ProtobufCMessage *req;
    hbd_pb_parts p;
};

static void drop_later(hbd_grpc_call *c)
{
    if (c->later == NULL)
        return;
    hbd_pb_parts_release(&c->later->p);
    protobuf_c_message_free_unpacked(c->later->req, NULL);
    free(c->later);
    c->later = NULL;
}

static int set_reply(hbd_grpc_call *c, const ProtobufCMessage *msg);

/* The reply of a deferred call, built once its result is in; 0 or the
   call's error (with the call failed accordingly). */
static void finish_later(hbd_grpc_call *c, int rc)
{
    struct grpc_later *l = c->later;
    hbeat_error err = l->p.err;
    const ProtobufCMessage *reply = NULL;
    if (rc == 0 && (rc = hbd_pb_reply(l->call, l->req, &l->p, &reply, &err)) == 0 &&
        set_reply(c, reply) != 0)
        rc = hbeat_error_set(&err, HBEAT_ENOMEM, "out of memory");
    if (rc != 0) {
        if (err.code == 0)
            hbeat_error_set(&err, rc, "the store failed");
        hbd_pb_log_failure("grpc", hbd_call_name(l->call), rc, err.message);
        fail(c, (grpc_status_code)hbeat__grpc_status_from_code(rc), "%s", err.message);
    }
    drop_later(c);
}

static void on_durable(void *arg, int rc)
{
    hbd_grpc_call *c = arg;
    if (c->later != NULL) {
        finish_later(c, rc);
        send_answer(c);
        return;
    }
    if (rc != 0) {
        grpc_byte_buffer_destroy(c->reply);
        c->reply = NULL;
        fail(c, (grpc_status_code)hbeat__grpc_status_from_code(rc),
             "internal server error: the store failed");
    }
    send_answer(c);
}

/* The packed message as the call's reply. 0 or -1 (out of memory). */
static int set_reply(hbd_grpc_call *c, const ProtobufCMessage *msg)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    grpc_slice s = grpc_slice_malloc(len);
    protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(s));
    c->reply = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return c->reply != NULL ? 0 : -1;
}

/* The request's bytes, in one slice (unref it). */
static grpc_slice request_bytes(hbd_grpc_call *c)
{
    grpc_byte_buffer_reader r;
    if (c->payload == NULL || !grpc_byte_buffer_reader_init(&r, c->payload))
        return grpc_empty_slice();
    grpc_slice s = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    return s;
}

hbd_right hbd_grpc_bearer_right(const hbd_grpc_call *c)
{
    hbd_auth *auth = c->srv->auth;
    if (!hbd_auth_enabled(auth))
        return HBD_RIGHT_OPERATOR;
    for (size_t i = 0; i < c->metadata.count; i++) {
        const grpc_metadata *m = &c->metadata.metadata[i];
        if (grpc_slice_str_cmp(m->key, "authorization") != 0)
            continue;
        const char *v = (const char *)GRPC_SLICE_START_PTR(m->value);
        size_t len = GRPC_SLICE_LENGTH(m->value);
        if (len < 7 || strncasecmp(v, "Bearer ", 7) != 0)
            return HBD_RIGHT_NONE;
        v += 7;
        len -= 7;
        while (len > 0 && *v == ' ') {
            v++;
            len--;
        }
        return hbd_auth_check(auth, v, len);
    }
    return HBD_RIGHT_NONE;
}

/* grpc.health.v1.Health/Check: SERVING while the store works (has not
   failed, and a database answers) and hbeatd is not draining, for the server ("") and for
   hbeat.v1.HeartbeatService; any other service is NOT_FOUND, as the protocol says. */
static void serve_health(hbd_grpc_call *c, const uint8_t *in, size_t len)
{
    Grpc__Health__V1__HealthCheckRequest *req =
        grpc__health__v1__health_check_request__unpack(NULL, len, in);
    if (req == NULL) {
        fail(c, GRPC_STATUS_INVALID_ARGUMENT, "malformed request: not a HealthCheckRequest");
        return;
    }
    if (req->service[0] != '\0' && strcmp(req->service, "hbeat.v1.HeartbeatService") != 0) {
        fail(c, GRPC_STATUS_NOT_FOUND, "unknown service");
    } else {
        Grpc__Health__V1__HealthCheckResponse rep = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
        hbd_engine *e = c->srv->engine;
        int serving =
            !atomic_load(&c->srv->stopping) && !hbd_engine_failed(e) && hbd_engine_store_up(e);
        rep.status = serving ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
                             : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
        if (set_reply(c, &rep.base) != 0)
            fail(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
    grpc__health__v1__health_check_request__free_unpacked(req, NULL);
}

/* One of hbeat's calls. Returns 1 when the answer waits for a commit
   (on_durable sends it), 0 when it is ready now. */
static int serve_call(hbd_grpc_call *c, hbd_call call, const uint8_t *in, size_t len)
{
    const char *name = hbd_call_name(call);
    hbd_right right = hbd_grpc_bearer_right(c);
    if (right == HBD_RIGHT_NONE) {
        hbd_warn_limited("grpc: refused request", "grpc %s: refused: no valid token", name);
        fail(c, GRPC_STATUS_UNAUTHENTICATED,
             "a valid token is required (authorization: Bearer TOKEN)");
        return 0;
    }
    if (!hbd_call_allowed(call, right)) {
        hbd_warn_limited("grpc: refused request", "grpc %s: refused: needs an operator token",
                         name);
        fail(c, GRPC_STATUS_PERMISSION_DENIED, "%s needs an operator token", name);
        return 0;
    }
    ProtobufCMessage *req = protobuf_c_message_unpack(hbd_pb_request_type(call), NULL, len, in);
    if (req == NULL) {
        hbd_warn_limited("bad request (nng, grpc)", "grpc %s: malformed request (%zu bytes)", name,
                         len);
        fail(c, GRPC_STATUS_INVALID_ARGUMENT, "malformed request: not a %s",
             hbd_pb_request_type(call)->name);
        return 0;
    }
    if (hbd_engine_deferred(c->srv->engine)) {
        struct grpc_later *l = calloc(1, sizeof *l);
        if (l == NULL) {
            protobuf_c_message_free_unpacked(req, NULL);
            fail(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
            return 0;
        }
        l->call = call;
        l->req = req;
        c->later = l;
        uint64_t ticket = 0;
        hbeat_error err = HBEAT_ERROR_INIT;
        int rc = hbd_pb_begin(c->srv->engine, call, req, &l->p, &ticket, &err);
        if (rc != 0) {
            drop_later(c);
            hbd_pb_log_failure("grpc", name, rc, err.message);
            fail(c, (grpc_status_code)hbeat__grpc_status_from_code(rc), "%s", err.message);
            return 0;
        }
        hbd_engine_when_durable(c->srv->engine, ticket, &c->durable, on_durable, c);
        return 1;
    }
    hbd_pb_parts p;
    memset(&p, 0, sizeof p);
    const ProtobufCMessage *reply = NULL;
    uint64_t ticket = 0;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbd_pb_serve(c->srv->engine, call, req, &p, &reply, &ticket, &err);
    if (rc == 0 && set_reply(c, reply) != 0)
        rc = hbeat_error_set(&err, HBEAT_ENOMEM, "out of memory");
    hbd_pb_parts_release(&p);
    protobuf_c_message_free_unpacked(req, NULL);
    if (rc != 0) {
        hbd_pb_log_failure("grpc", name, rc, err.message);
        fail(c, (grpc_status_code)hbeat__grpc_status_from_code(rc), "%s", err.message);
        return 0;
    }
    hbd_engine_when_durable(c->srv->engine, ticket, &c->durable, on_durable, c);
    return 1;
}

void hbd_grpc_serve(hbd_grpc_call *c)
{
    if (c->method == HBD_GRPC_WATCH_RUNS) {
        hbd_grpc_watch_begin(c);
        return;
    }
    c->started = hbd_mono_now();
    c->status = GRPC_STATUS_OK;
    c->counted = 1;
    c->slot = 1;
    unsigned int n = atomic_fetch_add(&c->srv->in_flight, 1) + 1;
    if (c->method == HBD_GRPC_UNKNOWN) {
        fail(c, GRPC_STATUS_UNIMPLEMENTED, "unknown method");
    } else if (n > c->srv->max_calls) {
        hbd_warn_limited("grpc: too many calls", "grpc: %u calls in flight; refusing one", n - 1);
        fail(c, (grpc_status_code)hbeat__grpc_status_from_code(HBEAT_EBUSY),
             "too many calls in flight; try again");
    } else {
        grpc_slice in = request_bytes(c);
        const uint8_t *p = GRPC_SLICE_START_PTR(in);
        size_t len = GRPC_SLICE_LENGTH(in);
        int waits = 0;
        if (c->payload == NULL)
            fail(c, GRPC_STATUS_INVALID_ARGUMENT, "no request message");
        else if (c->method == HBD_GRPC_HEALTH_CHECK)
            serve_health(c, p, len);
        else
            waits = serve_call(c, (hbd_call)c->method, p, len);
        grpc_slice_unref(in);
        if (waits)
            return;
    }
    send_answer(c);
}

void hbd_grpc_answered(hbd_grpc_call *c)
{
    release_slot(c);
    if (c->counted) {
        if (c->method >= 0 && c->method < HBD_CALL_COUNT) {
            int code = hbeat__grpc_code_from_status(c->status);
            hbd_metrics_request(HBD_PROTO_GRPC, (hbd_route)c->method,
                                c->status == GRPC_STATUS_OK ? HBD_RESULT_OK
                                                            : hbd_outcome_of(code)->result,
                                hbd_mono_now() - c->started);
        } else if (c->method == HBD_GRPC_UNKNOWN) {
            hbd_metrics_request(HBD_PROTO_GRPC, HBD_ROUTE_OTHER, HBD_RESULT_BAD_REQUEST,
                                hbd_mono_now() - c->started);
        }
    }
    if (c->call != NULL)
        grpc_call_unref(c->call);
    grpc_byte_buffer_destroy(c->payload);
    grpc_byte_buffer_destroy(c->reply);
    grpc_metadata_array_destroy(&c->metadata);
    grpc_call_details_destroy(&c->details);
    grpc_slice_unref(c->status_details);
    free(c);
}
