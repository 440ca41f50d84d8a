/*
 * Requests out, replies in. Every reply is treated as untrusted input:
 * whatever it holds, the caller gets either a fully valid answer or an error
 * that says what was wrong with it.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "transports/nng/nng_internal.h"

/* ---- the reply arena ---- */

#define ARENA_ALIGN 16

static void *arena_alloc(void *data, size_t size)
{
    hbeat__nng_arena *a = data;
    size_t need = (size + (ARENA_ALIGN - 1)) & ~(size_t)(ARENA_ALIGN - 1);
    if (need >= size && need <= sizeof(a->buf) - a->used) {
        void *p = a->buf + a->used;
        a->used += need;
        return p;
    }
    return malloc(size);
}

static void arena_free(void *data, void *ptr)
{
    hbeat__nng_arena *a = data;
    unsigned char *p = ptr;
    if (p >= a->buf && p < a->buf + sizeof(a->buf)) {
        return;
    }
    free(ptr);
}

void hbeat__nng_arena_init(hbeat__nng_arena *a)
{
    a->allocator.alloc = arena_alloc;
    a->allocator.free = arena_free;
    a->allocator.allocator_data = a;
    a->used = 0;
}

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

/* Copy the server's text for a person to read: bounded, and with control
   bytes replaced so a hostile server cannot forge log lines. */
static void printable_copy(char *dst, size_t size, const char *src)
{
    size_t i = 0;
    if (src != NULL) {
        for (; src[i] != '\0' && i + 1 < size; i++) {
            unsigned char c = (unsigned char)src[i];
            dst[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
        }
    }
    dst[i] = '\0';
}

static int server_error(const HbeatPb__Error *e, const char *url, hbeat_error *err)
{
    if (e == NULL) {
        return hbeat_error_set(err, HBEAT_EPROTO, "%.160s: error reply without its body", url);
    }
    char text[160];
    printable_copy(text, sizeof(text), e->message);
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
                      HbeatPb__Reply__ResultCase expect, hbeat__nng_arena *arena, const char *url,
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

void hbeat__nng_reply_free(HbeatPb__Reply *reply, hbeat__nng_arena *arena)
{
    if (reply != NULL) {
        hbeat_pb__reply__free_unpacked(reply, &arena->allocator);
    }
    arena->used = 0;
}

static int bad_status(const char *status, const char *url, hbeat_error *err)
{
    char shown[HBEAT_STATUS_MAX + 8];
    printable_copy(shown, sizeof(shown), status);
    return hbeat_error_set(err, HBEAT_EPROTO,
                           "%.160s: the reply's status \"%s\" is not a valid status token", url,
                           shown);
}

int hbeat__nng_check_status(const char *status, hbeat_heartbeat_reply *out, const char *url,
                            hbeat_error *err)
{
    if (!hbeat_status_is_valid(status)) {
        return bad_status(status, url, err);
    }
    /* is_valid bounds the length by HBEAT_STATUS_MAX. */
    strcpy(out->status, status);
    return 0;
}

int hbeat__nng_check_heartbeat(const HbeatPb__HeartbeatReply *rep, uint64_t sequence,
                               hbeat_heartbeat_reply *out, const char *url, hbeat_error *err)
{
    /* nng's request ids already drop replies to an earlier request; this
       also catches a server that answers from the wrong request. */
    if (rep->sequence != sequence) {
        return hbeat_error_set(err, HBEAT_EPROTO,
                               "%.160s: the reply is for beat %llu, not %llu; discarded", url,
                               (unsigned long long)rep->sequence, (unsigned long long)sequence);
    }
    return hbeat__nng_check_status(rep->status, out, url, err);
}

static int valid_time(double t)
{
    return isfinite(t) && t >= 0.0;
}

int hbeat__nng_check_run(const HbeatPb__RunInfo *run, int64_t want_id, hbeat_run_info *out,
                         const char *url, hbeat_error *err)
{
    if (run == NULL) {
        return hbeat_error_set(err, HBEAT_EPROTO, "%.160s: the reply has no run", url);
    }
    if (run->workflow_run_id <= 0) {
        return hbeat_error_set(err, HBEAT_EPROTO, "%.160s: the reply's run has no id", url);
    }
    if (want_id != 0 && run->workflow_run_id != want_id) {
        return hbeat_error_set(err, HBEAT_EPROTO,
                               "%.160s: asked about run %lld, the reply is about run %lld", url,
                               (long long)want_id, (long long)run->workflow_run_id);
    }
    if (!hbeat_status_is_valid(run->status)) {
        return bad_status(run->status, url, err);
    }
    if (!valid_time(run->deadline) || !valid_time(run->last_heartbeat)) {
        return hbeat_error_set(err, HBEAT_EPROTO,
                               "%.160s: run %lld has a deadline or last beat that is not a time",
                               url, (long long)run->workflow_run_id);
    }
    memset(out, 0, sizeof(*out));
    out->workflow_run_id = run->workflow_run_id;
    out->workflow_id = run->workflow_id;
    strcpy(out->status, run->status);
    out->deadline = run->deadline;
    out->last_heartbeat = run->last_heartbeat;
    out->beats = run->beats;
    return 0;
}
