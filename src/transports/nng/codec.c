/*
 * Requests out, replies in. Every reply is treated as untrusted input:
 * whatever it holds, the caller gets either a fully valid answer or an error
 * that says what was wrong with it.
 */
#include <stddef.h>

#include "transports/nng/nng_internal.h"

/* ---- requests ---- */

int hbeat__nng_encode(nng_msg **out, const HbeatPb__Request *req, const char *url, hbeat_error *err)
{
    size_t len = protobuf_c_message_get_packed_size(&req->base);
    nng_msg *msg;
    int rv = nng_msg_alloc(&msg, len);
    if (rv != 0) {
        return hbeat__nng_fail(err, rv, HBEAT__NNG_SEND, 0, url, 0.0);
    }
    /* Packing straight into the message body saves a copy and a buffer. */
    protobuf_c_message_pack(&req->base, nng_msg_body(msg));
    *out = msg;
    return 0;
}

/* ---- replies ---- */

static const char *case_name(int c)
{
    switch (c) {
    case HBEAT_PB__REPLY__RESULT__NOT_SET:
        return "nothing";
    case HBEAT_PB__REPLY__RESULT_ERROR:
        return "error";
    case HBEAT_PB__REPLY__RESULT_HEARTBEAT:
        return "heartbeat";
    case HBEAT_PB__REPLY__RESULT_UPDATE_STATUS:
        return "update_status";
    case HBEAT_PB__REPLY__RESULT_CREATE_RUN:
        return "create_run";
    case HBEAT_PB__REPLY__RESULT_GET_RUN:
        return "get_run";
    case HBEAT_PB__REPLY__RESULT_LIST_RUNS:
        return "list_runs";
    case HBEAT_PB__REPLY__RESULT_SET_STATUS:
        return "set_status";
    default:
        return "an unknown call";
    }
}

static int server_error(const HbeatPb__Error *e, const char *url, hbeat_error *err)
{
    if (e == NULL) {
        return hbeat_error_set(err, HBEAT_EPROTO, "%.160s: error reply without its body", url);
    }
    char text[160];
    hbeat__wire_printable_copy(text, sizeof(text), e->message);
    int code = hbeat__nng_code_from_wire((int)e->code);
    /* The server's words first: they are what a person acts on, and the
       URL may be long enough to push them out of the buffer. */
    hbeat_error_set(err, code, "%s (server error %s from %.80s)",
                    text[0] != '\0' ? text : "no message", hbeat__nng_wire_code_name((int)e->code),
                    url);
    if (err != NULL) {
        err->native = (int)e->code;
    }
    return code;
}

int hbeat__nng_decode(HbeatPb__Reply **out, const void *data, size_t len,
                      HbeatPb__Reply__ResultCase expect, hbeat__wire_arena *arena, const char *url,
                      hbeat_error *err)
{
    HbeatPb__Reply *r = hbeat_pb__reply__unpack(&arena->allocator, len, data);
    if (r == NULL) {
        arena->used = 0;
        return hbeat_error_set(err, HBEAT_EPROTO,
                               "%.160s: the reply (%zu bytes) is not a hbeat.v1.Reply", url, len);
    }
    int rc = 0;
    if (r->result_case == HBEAT_PB__REPLY__RESULT_ERROR) {
        rc = server_error(r->error, url, err);
    } else if (r->result_case != expect) {
        rc = hbeat_error_set(err, HBEAT_EPROTO, "%.160s: a %s call was answered with %s", url,
                             case_name((int)expect), case_name((int)r->result_case));
    } else if (r->heartbeat == NULL) {
        /* Every member of the union is a message pointer. */
        rc = hbeat_error_set(err, HBEAT_EPROTO, "%.160s: %s reply without its body", url,
                             case_name((int)expect));
    }
    if (rc != 0) {
        hbeat__nng_reply_free(r, arena);
        return rc;
    }
    *out = r;
    return 0;
}

void hbeat__nng_reply_free(HbeatPb__Reply *reply, hbeat__wire_arena *arena)
{
    hbeat__wire_reply_free(reply != NULL ? &reply->base : NULL, arena);
}
