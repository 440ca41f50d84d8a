/*
 * The wire codec. Replies are built on the stack (protobuf-c messages point
 * at our strings) and packed once into the buffer the caller reserves.
 */
#include "nng_codec.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "hbeat/v1/hbeat.pb-c.h"
#include "log.h"
#include "pb_calls.h"

static int pack(const HbeatPb__Reply *reply, hbd_codec_reserve_fn reserve, void *arg)
{
    size_t len = hbeat_pb__reply__get_packed_size(reply);
    uint8_t *buf = reserve(arg, len);
    if (buf == NULL)
        return HBEAT_ENOMEM;
    hbeat_pb__reply__pack(reply, buf);
    return 0;
}

int hbd_codec_error(int code, const char *message, hbd_codec_reserve_fn reserve, void *arg)
{
    HbeatPb__Error error = HBEAT_PB__ERROR__INIT;
    HbeatPb__Reply reply = HBEAT_PB__REPLY__INIT;
    error.code = (HbeatPb__ErrorCode)hbd_outcome_of(code)->wire_error;
    error.message = (char *)message;
    reply.result_case = HBEAT_PB__REPLY__RESULT_ERROR;
    reply.error = &error;
    return pack(&reply, reserve, arg);
}

/* The envelope: which oneof case of Request and Reply carries each call.
   The call itself is served by pb_calls.h; adding a call adds a row. */
#define ROW(req_case, call, field, rep_case)                                                       \
    {                                                                                              \
        HBEAT_PB__REQUEST__CALL_##req_case, call, offsetof(HbeatPb__Request, field),               \
            HBEAT_PB__REPLY__RESULT_##rep_case, offsetof(HbeatPb__Reply, field)                    \
    }
static const struct {
    HbeatPb__Request__CallCase wire;
    hbd_call call;
    size_t request_field;
    HbeatPb__Reply__ResultCase reply_case;
    size_t reply_field;
} handlers[] = {
    ROW(HEARTBEAT, HBD_CALL_HEARTBEAT, heartbeat, HEARTBEAT),
    ROW(UPDATE_STATUS, HBD_CALL_UPDATE_STATUS, update_status, UPDATE_STATUS),
    ROW(CREATE_RUN, HBD_CALL_CREATE_RUN, create_run, CREATE_RUN),
    ROW(GET_RUN, HBD_CALL_GET_RUN, get_run, GET_RUN),
    ROW(SET_STATUS, HBD_CALL_SET_STATUS, set_status, SET_STATUS),
    ROW(LIST_RUNS, HBD_CALL_LIST_RUNS, list_runs, LIST_RUNS),
};
#undef ROW
enum { NHANDLERS = sizeof handlers / sizeof handlers[0] };

/* The row of the request's call; NHANDLERS when it carries none this
   server knows. */
static size_t handler_of(const HbeatPb__Request *req)
{
    size_t i = 0;
    while (i < NHANDLERS && handlers[i].wire != req->call_case)
        i++;
    return i;
}

static const char *call_name(size_t h)
{
    return h < NHANDLERS ? hbd_call_name(handlers[h].call) : "request";
}

static const ProtobufCMessage *call_request(size_t h, const HbeatPb__Request *req)
{
    return *(const ProtobufCMessage *const *)((const char *)req + handlers[h].request_field);
}

static void set_reply(size_t h, HbeatPb__Reply *reply, const ProtobufCMessage *out)
{
    reply->result_case = handlers[h].reply_case;
    *(const ProtobufCMessage **)((char *)reply + handlers[h].reply_field) = out;
}

/* `later` (a deferred engine): only the engine call; the reply is built
   by hbd_codec_finish. */
static int dispatch(hbd_engine *e, size_t h, const HbeatPb__Request *req, HbeatPb__Reply *reply,
                    hbd_pb_parts *p, int later, uint64_t *ticket, hbeat_error *err)
{
    if (h < NHANDLERS) {
        const ProtobufCMessage *out = NULL;
        if (later)
            return hbd_pb_begin(e, handlers[h].call, call_request(h, req), p, ticket, err);
        int rc = hbd_pb_serve(e, handlers[h].call, call_request(h, req), p, &out, ticket, err);
        if (rc != 0)
            return rc;
        set_reply(h, reply, out);
        return 0;
    }
    /* protobuf-c keeps a call it does not know as an unknown field. */
    if (req->base.n_unknown_fields > 0)
        return hbeat_error_set(err, HBEAT_ENOTSUP,
                               "unknown call (field %u); this server knows heartbeat, "
                               "update_status, create_run, get_run, list_runs, set_status",
                               (unsigned)req->base.unknown_fields[0].tag);
    return hbeat_error_set(err, HBEAT_EINVAL, "request carries no call");
}

/* Each call needs its right (calls.h). A request with no call goes on to
   be refused as such. The token itself never reaches a message or the
   log. */
static int authorize(hbd_auth *auth, size_t h, const HbeatPb__Request *req, hbeat_error *err)
{
    if (!hbd_auth_enabled(auth))
        return 0;
    const char *token = req->token;
    hbd_right right = hbd_auth_check(auth, token, token != NULL ? strlen(token) : 0);
    if (right == HBD_RIGHT_NONE)
        return hbeat_error_set(err, HBEAT_EAUTH, "a valid token is required (Request.token)");
    if (h < NHANDLERS && !hbd_call_allowed(handlers[h].call, right))
        return hbeat_error_set(err, HBEAT_EFORBIDDEN, "%s needs an operator token", call_name(h));
    return 0;
}

struct hbd_codec_pending {
    HbeatPb__Request *req;
    size_t h;
    hbd_pb_parts p;
};

int hbd_codec_serve(hbd_engine *e, hbd_auth *auth, const uint8_t *buf, size_t len,
                    size_t max_message, hbd_codec_reserve_fn reserve, void *arg, uint64_t *ticket,
                    hbd_codec_outcome *outcome)
{
    return hbd_codec_begin(e, auth, buf, len, max_message, reserve, arg, ticket, outcome, NULL);
}

int hbd_codec_finish(hbd_codec_pending *pending, int rc, hbd_codec_reserve_fn reserve, void *arg,
                     hbd_codec_outcome *outcome)
{
    size_t h = pending->h;
    hbeat_error err = pending->p.err;
    const ProtobufCMessage *out = NULL;
    if (rc == 0)
        rc = hbd_pb_reply(handlers[h].call, call_request(h, pending->req), &pending->p, &out, &err);
    if (rc != 0 && err.code == 0)
        hbeat_error_set(&err, rc, "the store failed to commit the change");
    outcome->result = hbd_outcome_of(rc)->result;
    if (rc != 0) {
        hbd_pb_log_failure("nng", call_name(h), rc, err.message);
        rc = hbd_codec_error(rc, err.message, reserve, arg);
    } else {
        HbeatPb__Reply reply = HBEAT_PB__REPLY__INIT;
        set_reply(h, &reply, out);
        rc = pack(&reply, reserve, arg);
    }
    hbd_codec_drop(pending);
    return rc;
}

void hbd_codec_drop(hbd_codec_pending *pending)
{
    if (pending == NULL)
        return;
    hbd_pb_parts_release(&pending->p);
    hbeat_pb__request__free_unpacked(pending->req, NULL);
    free(pending);
}

int hbd_codec_begin(hbd_engine *e, hbd_auth *auth, const uint8_t *buf, size_t len,
                    size_t max_message, hbd_codec_reserve_fn reserve, void *arg, uint64_t *ticket,
                    hbd_codec_outcome *outcome, hbd_codec_pending **later)
{
    if (later != NULL)
        *later = NULL;
    hbd_codec_outcome ignored;
    if (outcome == NULL)
        outcome = &ignored;
    outcome->route = HBD_ROUTE_OTHER;
    hbeat_error err = HBEAT_ERROR_INIT;
    *ticket = 0;
    if (len > max_message) {
        hbeat_error_set(&err, HBEAT_ETOOBIG, "request of %zu bytes exceeds the limit of %zu", len,
                        max_message);
        hbd_warn_limited("nng: request too large", "nng: %s", err.message);
        outcome->result = hbd_outcome_of(err.code)->result;
        return hbd_codec_error(err.code, err.message, reserve, arg);
    }
    HbeatPb__Request *req = hbeat_pb__request__unpack(NULL, len, buf);
    if (req == NULL) {
        hbeat_error_set(&err, HBEAT_EINVAL, "malformed request: not a hbeat.v1.Request (%zu bytes)",
                        len);
        hbd_warn_limited("nng: malformed request", "nng: %s", err.message);
        outcome->result = hbd_outcome_of(err.code)->result;
        return hbd_codec_error(err.code, err.message, reserve, arg);
    }
    HbeatPb__Reply reply = HBEAT_PB__REPLY__INIT;
    hbd_pb_parts p;
    memset(&p, 0, sizeof p);
    size_t h = handler_of(req);
    outcome->route = h < NHANDLERS ? (hbd_route)handlers[h].call : HBD_ROUTE_OTHER;
    int rc = authorize(auth, h, req, &err);
    outcome->result = hbd_outcome_of(rc)->result;
    if (rc != 0) {
        hbd_warn_limited("nng: refused request", "nng %s: refused: %s", call_name(h), err.message);
        rc = hbd_codec_error(rc, err.message, reserve, arg);
        hbeat_pb__request__free_unpacked(req, NULL);
        return rc;
    }
    if (later != NULL && h < NHANDLERS && hbd_engine_deferred(e)) {
        hbd_codec_pending *d = calloc(1, sizeof *d);
        if (d == NULL) {
            hbeat_pb__request__free_unpacked(req, NULL);
            return HBEAT_ENOMEM;
        }
        d->req = req;
        d->h = h;
        rc = dispatch(e, h, req, &reply, &d->p, 1, ticket, &err);
        outcome->result = hbd_outcome_of(rc)->result;
        if (rc == 0) {
            *later = d;
            return 0;
        }
        hbd_pb_log_failure("nng", call_name(h), rc, err.message);
        rc = hbd_codec_error(rc, err.message, reserve, arg);
        hbd_codec_drop(d);
        return rc;
    }
    rc = dispatch(e, h, req, &reply, &p, 0, ticket, &err);
    outcome->result = hbd_outcome_of(rc)->result;
    if (rc != 0) {
        *ticket = 0;
        hbd_pb_log_failure("nng", call_name(h), rc, err.message);
        rc = hbd_codec_error(rc, err.message, reserve, arg);
    } else {
        rc = pack(&reply, reserve, arg);
    }
    hbd_pb_parts_release(&p);
    hbeat_pb__request__free_unpacked(req, NULL);
    return rc;
}
