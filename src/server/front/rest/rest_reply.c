/*
 * Building replies: Jobmon's success body, its error body, and JSON
 * documents, written into the reply's inline buffer when they fit so the
 * common replies cost no allocation beyond what libmicrohttpd makes.
 */
#include "rest_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hbeat/status.h"
#include "log.h"

/* Only for when even building an error body fails. */
static const char oom_body[] = "{\"error\":{\"type\":\"ServerError\","
                               "\"exception_message\":\"out of memory\",\"status_code\":\"500\"}}";

/* A new body; what the engine call left (outputs, ticket) stays. */
static void reset_body(hbd_rest_reply *r)
{
    free(r->heap);
    r->heap = NULL;
    r->status = 500;
    r->allow = NULL;
    r->content_type = NULL;
    r->headers = NULL;
    r->body = oom_body;
    r->len = sizeof oom_body - 1;
}

void hbd_rest_reply_init(hbd_rest_reply *r)
{
    r->heap = NULL;
    reset_body(r);
    r->wait_durable = 0;
    r->ticket = 0;
    r->runs = NULL;
    r->count = 0;
    r->next_after_id = 0;
    hbeat_error_clear(&r->err);
    r->build = NULL;
}

void hbd_rest_reply_later(hbd_rest_reply *r, const hbd_rest_request *req, hbd_engine *engine,
                          int rc, uint64_t ticket,
                          void (*build)(hbd_rest_reply *r, const hbd_rest_request *req))
{
    if (rc != 0) {
        hbd_rest_reply_engine_error(r, req, rc, &r->err);
        return;
    }
    r->wait_durable = 1;
    r->ticket = ticket;
    if (hbd_engine_deferred(engine)) {
        r->build = build;
        return;
    }
    build(r, req);
    /* A body that could not be built is answered as it stands. */
    if (r->status != 200)
        r->wait_durable = 0;
}

void hbd_rest_reply_reported(hbd_rest_reply *r, const hbd_rest_request *req, int rc)
{
    void (*build)(hbd_rest_reply *, const hbd_rest_request *) = r->build;
    r->build = NULL;
    if (rc != 0)
        hbd_rest_reply_engine_error(r, req, rc, r->err.code != 0 ? &r->err : NULL);
    else if (build != NULL)
        build(r, req);
}

void hbd_rest_reply_release(hbd_rest_reply *r)
{
    free(r->heap);
    free(r->runs);
    hbd_rest_reply_init(r);
}

void hbd_rest_echo(char *dst, size_t cap, const char *src, size_t len)
{
    if (cap == 0)
        return;
    size_t n = len < HBD_REST_ECHO_MAX ? len : HBD_REST_ECHO_MAX;
    int cut = n < len;
    /* Leave room for "..." and the NUL. */
    if (n + 4 > cap) {
        n = cap > 4 ? cap - 4 : 0;
        cut = n < len;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (cut && cap >= 4) {
        memcpy(dst + n, "...", 3);
        n += 3;
    }
    dst[n < cap ? n : cap - 1] = '\0';
}

/* Writes `doc` compactly into the reply; 0 or -1 (out of memory). */
static int dump(hbd_rest_reply *r, const json_t *doc)
{
    size_t flags = JSON_COMPACT;
    size_t n = json_dumpb(doc, r->inline_buf, sizeof r->inline_buf, flags);
    if (n == 0)
        return -1;
    if (n <= sizeof r->inline_buf) {
        r->body = r->inline_buf;
        r->len = n;
        return 0;
    }
    char *heap = malloc(n);
    if (heap == NULL || json_dumpb(doc, heap, n, flags) != n) {
        free(heap);
        return -1;
    }
    free(r->heap);
    r->heap = heap;
    r->body = heap;
    r->len = n;
    return 0;
}

static const char *type_for(unsigned int status)
{
    switch (status) {
    case 400:
        return "InvalidUsage";
    case 404:
        return "NotFound";
    case 405:
        return "MethodNotAllowed";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 413:
        return "PayloadTooLarge";
    case 503:
        return "ServiceUnavailable";
    default:
        return "ServerError";
    }
}

void hbd_rest_reply_error(hbd_rest_reply *r, const hbd_rest_request *req, unsigned int status,
                          const char *fmt, ...)
{
    char message[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    /* The message may carry engine text; jansson needs valid UTF-8, and a
       log line must stay on one line. */
    for (char *p = message; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c >= 0x7f)
            *p = '?';
    }
    const char *type = type_for(status);
    char code[8];
    snprintf(code, sizeof code, "%u", status);

    char path[HBD_REST_ECHO_MAX + 4];
    const char *p = req != NULL && req->path != NULL ? req->path : "";
    hbd_rest_echo(path, sizeof path, p, strlen(p));
    char method[24];
    const char *m = req != NULL && req->method != NULL ? req->method : "";
    hbd_rest_echo(method, sizeof method, m, strlen(m));
    /* A client can cause one per request: rate-limited (log.h). */
    if (status >= 500 && status != 503)
        hbd_error_limited("rest: failed request", "rest: %s %s: %u %s: %s", method, path, status,
                          type, message);
    else
        hbd_warn_limited("rest: refused request", "rest: %s %s: %u %s: %s", method, path, status,
                         type, message);

    reset_body(r);
    r->status = status;
    json_t *doc = json_pack("{s:{s:s,s:s,s:s}}", "error", "type", type, "exception_message",
                            message, "status_code", code);
    if (doc == NULL || dump(r, doc) != 0) {
        /* reset_body left the out-of-memory body in place. */
        r->status = 500;
    }
    json_decref(doc);
}

void hbd_rest_reply_engine_error(hbd_rest_reply *r, const hbd_rest_request *req, int rc,
                                 const hbeat_error *err)
{
    const char *detail = err != NULL && err->message[0] != '\0' ? err->message : hbeat_strerror(rc);
    unsigned int status = hbd_outcome_of(rc)->http_status;
    if (rc == HBEAT_ECANCELED) {
        hbd_rest_reply_error(r, req, status, "server is shutting down");
    } else if (rc == HBEAT_EBUSY) {
        hbd_warn_limited("rest: store unavailable", "rest: %s", detail);
        hbd_rest_reply_error(r, req, status, "the store is unavailable; try again: %s", detail);
    } else if (status < 500) {
        hbd_rest_reply_error(r, req, status, "%s", detail);
    } else {
        /* Store detail goes to the log, not to the client. */
        hbd_error_limited("rest: engine failed", "rest: engine failed: %s (%d): %s",
                          hbeat_strerror(rc), rc, detail);
        hbd_rest_reply_error(r, req, status, "internal server error: %s", hbeat_strerror(rc));
    }
}

void hbd_rest_reply_status(hbd_rest_reply *r, const char *status)
{
    reset_body(r);
    if (!hbeat_status_is_valid(status)) {
        /* Not a token the fast path knows how to escape: let jansson do it. */
        hbd_rest_reply_json(r, NULL, json_pack("{s:s}", "status", status != NULL ? status : ""));
        return;
    }
    static const char head[] = "{\"status\":\"";
    char *p = r->inline_buf;
    memcpy(p, head, sizeof head - 1);
    p += sizeof head - 1;
    /* A valid token is printable ASCII: only '"' and '\\' need escaping. */
    for (const char *s = status; *s != '\0'; s++) {
        if (*s == '"' || *s == '\\')
            *p++ = '\\';
        *p++ = *s;
    }
    *p++ = '"';
    *p++ = '}';
    r->status = 200;
    r->body = r->inline_buf;
    r->len = (size_t)(p - r->inline_buf);
}

void hbd_rest_reply_json(hbd_rest_reply *r, const hbd_rest_request *req, json_t *doc)
{
    if (doc == NULL || dump(r, doc) != 0) {
        json_decref(doc);
        hbd_rest_reply_error(r, req, 500, "out of memory encoding the reply");
        return;
    }
    json_decref(doc);
    r->status = 200;
}

json_t *hbd_rest_run_json(const hbd_run *run)
{
    return json_pack("{s:I,s:I,s:s,s:f,s:f,s:I}", "workflow_run_id", (json_int_t)run->id,
                     "workflow_id", (json_int_t)run->workflow_id, "status", run->status, "deadline",
                     run->deadline, "last_heartbeat", run->last_heartbeat, "beats",
                     (json_int_t)run->beats);
}
