/*
 * hbeatd's REST front end without HTTP: the input is split into a request
 * (method, path, query string, body) and routed by hbd_rest_route() against
 * a fresh in-memory engine, as libmicrohttpd would hand it over.
 *
 * Input: "METHOD /path?query\nbody..." -- the first line is the request
 * line (method up to the first space, then the target), everything after
 * the first newline is the body, byte for byte (NULs included).
 *
 * Checked beyond "no crash, no leak": the reply is valid JSON of the agreed
 * shape; an error is Jobmon's error object with a bounded message, and
 * changes no run; a 405 names the allowed methods; and the status code and
 * the runs afterwards are what a model of hbeatd's documented routes and Jobmon's
 * state machine says (server_model.h).
 */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_support.h"
#include "hbeat/status.h"
#include "rest_internal.h"
#include "server_model.h"

/* ---- the request ---- */

#define MAX_QUERY 16

typedef struct request {
    char *line; /* the request line, NUL-terminated, cut into pieces */
    const char *method;
    const char *path;
    char *keys[MAX_QUERY];
    char *vals[MAX_QUERY];
    int nquery;
    const char *body;
    size_t body_len;
} request;

/* %XX-decodes in place, as libmicrohttpd does for query values. */
static void unescape(char *s)
{
    char *o = s;
    for (char *p = s; *p != '\0'; p++) {
        unsigned int c;
        if (p[0] == '%' && p[1] != '\0' && p[2] != '\0' && sscanf(p + 1, "%2x", &c) == 1) {
            *o++ = (char)c;
            p += 2;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
}

static void parse_query(request *rq, char *q)
{
    while (q != NULL && *q != '\0' && rq->nquery < MAX_QUERY) {
        char *amp = strchr(q, '&');
        if (amp != NULL)
            *amp = '\0';
        char *eq = strchr(q, '=');
        if (eq != NULL)
            *eq = '\0';
        unescape(q);
        rq->keys[rq->nquery] = q;
        rq->vals[rq->nquery] = eq != NULL ? eq + 1 : q + strlen(q);
        unescape(rq->vals[rq->nquery]);
        rq->nquery++;
        q = amp != NULL ? amp + 1 : NULL;
    }
}

static void parse_request(request *rq, const uint8_t *data, size_t size)
{
    memset(rq, 0, sizeof *rq);
    const uint8_t *nl = memchr(data, '\n', size);
    size_t line_len = nl != NULL ? (size_t)(nl - data) : size;
    /* A NUL in the line ends it: the HTTP layer hands over C strings. */
    rq->line = fuzz_strndup(data, line_len);
    char *sp = strchr(rq->line, ' ');
    char *target = sp != NULL ? sp + 1 : rq->line + strlen(rq->line);
    if (sp != NULL)
        *sp = '\0';
    rq->method = rq->line;
    char *q = strchr(target, '?');
    if (q != NULL)
        *q++ = '\0';
    rq->path = target;
    parse_query(rq, q);
    if (nl != NULL && size - line_len - 1 > 0) {
        rq->body = (const char *)nl + 1;
        rq->body_len = size - line_len - 1;
    }
}

/* The first value of `key`, as libmicrohttpd's lookup returns it. */
static const char *query_get(void *ctx, const char *key)
{
    const request *rq = ctx;
    for (int i = 0; i < rq->nquery; i++) {
        if (strcmp(rq->keys[i], key) == 0)
            return rq->vals[i];
    }
    return NULL;
}

/* ---- the model ----
 *
 * Written from the documentation (src/server/README.md, Jobmon's rules), not from the server's
 * code, and kept apart from it on purpose: the fuzzer calls the real router, and this is what its
 * answers are checked against. Were the model to call the server's path reader (api_path.h) or its
 * error table (rest_reply.c), it would agree with any bug in them (a router that took
 * runs/{id}/{any} for runs/{id}/status would pass unnoticed; this model catches it within a few
 * hundred inputs). The likeness to the server is the contract written twice, once on each side of
 * the check. */

enum route { R_NONE, R_HEARTBEAT, R_UPDATE_STATUS, R_RUNS, R_RUN, R_RUN_STATUS };

typedef struct expect {
    unsigned int status; /* HTTP status the model predicts */
    const char *allow;   /* for a 405 */
    int changes;         /* 200 with `run` replacing or adding a run */
    hbd_run run;
    const char *reply_status; /* heartbeat/update_status: {"status":...} */
    int is_page;
    int64_t after_id, limit;
    const char *filter;
    int observe; /* GET / or GET /metrics: not JSON, not the engine's runs */
} expect;

/* A decimal run id > 0 that fits an int64_t (leading zeros allowed). */
static int path_id(const char *s, size_t len, int64_t *out)
{
    if (len == 0)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        if (v > (INT64_MAX - (s[i] - '0')) / 10)
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v <= 0)
        return -1;
    *out = v;
    return 0;
}

static int seg_is(const char *p, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(p, lit, len) == 0;
}

static enum route match(const char *path, const char **id, size_t *id_len)
{
    static const char base[] = "/api/v3/";
    if (strncmp(path, base, sizeof base - 1) != 0)
        return R_NONE;
    const char *seg[4];
    size_t len[4];
    int n = 0;
    const char *p = path + sizeof base - 1;
    for (;;) {
        if (n == 4)
            return R_NONE;
        const char *slash = strchr(p, '/');
        seg[n] = p;
        len[n] = slash != NULL ? (size_t)(slash - p) : strlen(p);
        n++;
        if (slash == NULL)
            break;
        p = slash + 1;
    }
    if (n == 3 && seg_is(seg[0], len[0], "workflow_run")) {
        *id = seg[1];
        *id_len = len[1];
        if (seg_is(seg[2], len[2], "log_heartbeat"))
            return R_HEARTBEAT;
        if (seg_is(seg[2], len[2], "update_status"))
            return R_UPDATE_STATUS;
        return R_NONE;
    }
    if (!seg_is(seg[0], len[0], "runs"))
        return R_NONE;
    if (n == 1)
        return R_RUNS;
    *id = seg[1];
    *id_len = len[1];
    if (n == 2)
        return R_RUN;
    return n == 3 && seg_is(seg[2], len[2], "status") ? R_RUN_STATUS : R_NONE;
}

/* The body as the routes accept it: one JSON object, no duplicate keys. */
static json_t *body_object(const request *rq)
{
    if (rq->body_len == 0)
        return NULL;
    json_t *j = json_loadb(rq->body, rq->body_len, JSON_REJECT_DUPLICATES, NULL);
    if (j != NULL && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

/* A status field: 0 with *out set (NULL when absent), -1 when malformed.
   Well-formed but unknown tokens pass here; the engine refuses them. */
static int field_status(json_t *doc, const char *key, const char **out)
{
    json_t *v = json_object_get(doc, key);
    *out = NULL;
    if (v == NULL)
        return 0;
    if (!json_is_string(v) || json_string_length(v) > HBEAT_STATUS_MAX ||
        !hbeat_status_is_valid(json_string_value(v)))
        return -1;
    *out = json_string_value(v);
    return 0;
}

/* A query integer: digits only, in [min, max]; absent or empty -> dflt. */
static int query_int(const request *rq, const char *key, int64_t dflt, int64_t min, int64_t max,
                     int64_t *out)
{
    const char *v = query_get((void *)rq, key);
    if (v == NULL || v[0] == '\0') {
        *out = dflt;
        return 0;
    }
    int64_t x = 0;
    for (const char *p = v; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || x > (INT64_MAX - (*p - '0')) / 10)
            return -1;
        x = x * 10 + (*p - '0');
    }
    if (x < min || x > max)
        return -1;
    *out = x;
    return 0;
}

/* Jobmon's routes: the status the run ends in (or 404/400). */
static void model_jobmon(expect *x, enum route rt, int64_t id, const request *rq,
                         const fz_snapshot *before, json_t *doc)
{
    const char *status;
    double inc = 0;
    if (doc == NULL || field_status(doc, "status", &status) != 0 || status == NULL) {
        x->status = 400;
        return;
    }
    if (rt == R_HEARTBEAT) {
        json_t *v = json_object_get(doc, "next_report_increment");
        if (!json_is_number(v)) {
            x->status = 400;
            return;
        }
        inc = json_number_value(v);
        if (!isfinite(inc) || inc < 0 || inc > HBD_MAX_INCREMENT) {
            x->status = 400;
            return;
        }
    }
    if (!fz_status_known(status)) {
        x->status = 400;
        return;
    }
    const hbd_run *old = fz_snapshot_find(before, id);
    if (old == NULL) {
        x->status = 404;
        return;
    }
    x->status = 200;
    x->run = *old;
    fz_transition tr = fz_transition_of(old->status, status);
    if (rt == R_HEARTBEAT && tr != FZ_INVALID) {
        memcpy(x->run.status, status, 2);
        x->run.deadline = FZ_NOW + inc;
        x->run.last_heartbeat = FZ_NOW;
        x->run.beats++;
        x->changes = 1;
    } else if (rt == R_UPDATE_STATUS && tr == FZ_VALID) {
        memcpy(x->run.status, status, 2);
        x->changes = 1;
    }
    x->reply_status = x->run.status;
}

static void model_admin(expect *x, enum route rt, int64_t id, const request *rq,
                        const fz_snapshot *before, json_t *doc)
{
    const char *status;
    if (rt == R_RUNS && strcmp(rq->method, "GET") == 0) {
        const char *f = query_get((void *)rq, "status");
        if (f != NULL && f[0] == '\0')
            f = NULL;
        if ((f != NULL && !fz_status_known(f)) ||
            query_int(rq, "after_id", 0, 0, INT64_MAX, &x->after_id) != 0 ||
            query_int(rq, "limit", HBD_LIST_DEFAULT, 1, HBD_LIST_MAX, &x->limit) != 0) {
            x->status = 400;
            return;
        }
        x->status = 200;
        x->is_page = 1;
        x->filter = f;
        return;
    }
    if (rt == R_RUNS) {
        json_t *w = doc != NULL ? json_object_get(doc, "workflow_id") : NULL;
        if (doc == NULL || !json_is_integer(w) || json_integer_value(w) <= 0 ||
            field_status(doc, "status", &status) != 0 ||
            (status != NULL && !fz_status_known(status))) {
            x->status = 400;
            return;
        }
        /* The first deadline: absent or null, none; else a number of
           seconds in range. */
        json_t *v = json_object_get(doc, "next_report_increment");
        int has_inc = v != NULL && !json_is_null(v);
        double inc = has_inc && json_is_number(v) ? json_number_value(v) : 0;
        if (has_inc &&
            (!json_is_number(v) || !isfinite(inc) || inc < 0 || inc > HBD_MAX_INCREMENT)) {
            x->status = 400;
            return;
        }
        x->status = 200;
        memset(&x->run, 0, sizeof x->run);
        x->run.id = before->runs[before->count - 1].id + 1;
        x->run.workflow_id = (int64_t)json_integer_value(w);
        memcpy(x->run.status, status != NULL ? status : "G", 2);
        if (has_inc)
            x->run.deadline = FZ_NOW + inc;
        x->changes = 1;
        return;
    }
    if (rt == R_RUN) {
        const hbd_run *old = fz_snapshot_find(before, id);
        x->status = old != NULL ? 200 : 404;
        if (old != NULL)
            x->run = *old;
        return;
    }
    /* R_RUN_STATUS */
    json_t *force = doc != NULL ? json_object_get(doc, "force") : NULL;
    if (doc == NULL || field_status(doc, "status", &status) != 0 || status == NULL ||
        (force != NULL && !json_is_boolean(force)) || !fz_status_known(status)) {
        x->status = 400;
        return;
    }
    const hbd_run *old = fz_snapshot_find(before, id);
    if (old == NULL) {
        x->status = 404;
        return;
    }
    fz_transition tr = json_is_true(force) ? FZ_VALID : fz_transition_of(old->status, status);
    if (tr == FZ_INVALID) {
        x->status = 400;
        return;
    }
    x->status = 200;
    x->run = *old;
    if (tr == FZ_VALID && strcmp(old->status, status) != 0) {
        memcpy(x->run.status, status, 2);
        x->changes = 1;
    }
}

static void model(expect *x, const request *rq, const fz_snapshot *before)
{
    memset(x, 0, sizeof *x);
    const char *id_s = NULL;
    size_t id_len = 0;
    const char *m = rq->method;
    /* The status page and the metrics, outside the API (rest_observe.h). */
    if (strcmp(rq->path, "/") == 0 || strcmp(rq->path, "/metrics") == 0) {
        x->observe = strcmp(rq->path, "/") == 0 ? 1 : 2;
        if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0) {
            x->status = 200;
        } else {
            x->status = 405;
            x->allow = "GET, HEAD";
        }
        return;
    }
    enum route rt = match(rq->path, &id_s, &id_len);
    switch (rt) {
    case R_NONE:
        x->status = 404;
        return;
    case R_HEARTBEAT:
        x->allow = strcmp(m, "POST") == 0 ? NULL : "POST";
        break;
    case R_UPDATE_STATUS:
    case R_RUN_STATUS:
        x->allow = strcmp(m, "PUT") == 0 ? NULL : "PUT";
        break;
    case R_RUNS:
        x->allow = strcmp(m, "GET") == 0 || strcmp(m, "POST") == 0 ? NULL : "GET, POST";
        break;
    case R_RUN:
        x->allow = strcmp(m, "GET") == 0 ? NULL : "GET";
        break;
    }
    if (x->allow != NULL) {
        x->status = 405;
        return;
    }
    int64_t id = 0;
    if (rt != R_RUNS && path_id(id_s, id_len, &id) != 0) {
        x->status = 400;
        return;
    }
    /* GET routes never read the body. */
    json_t *doc = (rt == R_RUN || (rt == R_RUNS && strcmp(m, "GET") == 0)) ? NULL : body_object(rq);
    if (rt == R_HEARTBEAT || rt == R_UPDATE_STATUS)
        model_jobmon(x, rt, id, rq, before, doc);
    else
        model_admin(x, rt, id, rq, before, doc);
    json_decref(doc);
}

/* ---- checking the reply ---- */

/* hbeatd's documented error types, for the statuses this model predicts (the model
   above says why this is not rest_reply.c's table). */
static const char *type_for(unsigned int status)
{
    switch (status) {
    case 400:
        return "InvalidUsage";
    case 404:
        return "NotFound";
    case 405:
        return "MethodNotAllowed";
    case 413:
        return "PayloadTooLarge";
    default:
        return "ServerError";
    }
}

/* 1 when `needle` occurs in `hay`. Neither memmem (libFuzzer intercepts
   it and feeds the message text back into its inputs, which then quote it
   by construction) nor coverage-instrumented: this check must not teach
   the fuzzer anything. */
#if defined(__clang__)
__attribute__((no_sanitize("coverage")))
#endif
static int
occurs(const char *hay, size_t hn, const char *needle, size_t nn)
{
    for (size_t i = 0; i + nn <= hn; i++) {
        size_t k = 0;
        while (k < nn && hay[i + k] == needle[k])
            k++;
        if (k == nn)
            return 1;
    }
    return 0;
}

/* Documented: an error message never quotes more than 80 bytes of client
   input. No run of 96 bytes of the message may appear in the input (with
   the bytes the echo replaces by '?' replaced alike): the 16 bytes of
   slack let the text around a quote match the input by chance (" /api"
   after "GET"). */
static void check_echo_bound(const char *msg, const uint8_t *data, size_t size)
{
    enum { RUN = HBD_REST_ECHO_MAX + 16 };
    size_t len = strlen(msg);
    if (len < RUN || size < RUN)
        return;
    char *in = malloc(size);
    FUZZ_CHECK(in != NULL, "out of memory");
    for (size_t i = 0; i < size; i++)
        in[i] = data[i] >= 0x20 && data[i] < 0x7f ? (char)data[i] : '?';
    for (size_t i = 0; i + RUN <= len; i++)
        FUZZ_CHECK(!occurs(in, size, msg + i, RUN),
                   "the error message quotes more than %d bytes of the request: %s",
                   HBD_REST_ECHO_MAX, msg);
    free(in);
}

static void check_error(const json_t *doc, unsigned int status, const uint8_t *data, size_t size)
{
    const json_t *e = json_object_get(doc, "error");
    FUZZ_CHECK(json_object_size(doc) == 1 && json_is_object(e) && json_object_size(e) == 3,
               "an error body is not {\"error\": {3 fields}}");
    const json_t *type = json_object_get(e, "type");
    const json_t *msg = json_object_get(e, "exception_message");
    const json_t *code = json_object_get(e, "status_code");
    char want[8];
    snprintf(want, sizeof want, "%u", status);
    FUZZ_CHECK(json_is_string(type) && strcmp(json_string_value(type), type_for(status)) == 0,
               "error type for %u", status);
    FUZZ_CHECK(json_is_string(code) && strcmp(json_string_value(code), want) == 0,
               "status_code is not \"%s\"", want);
    FUZZ_CHECK(json_is_string(msg) && json_string_length(msg) > 0, "no exception_message");
    /* The message quotes at most 80 bytes of input, in a bounded text. */
    FUZZ_CHECK(json_string_length(msg) < 256, "exception_message of %zu bytes",
               json_string_length(msg));
    for (const char *p = json_string_value(msg); *p != '\0'; p++)
        FUZZ_CHECK((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f,
                   "exception_message holds byte 0x%02x", (unsigned char)*p);
    check_echo_bound(json_string_value(msg), data, size);
}

static void check_run_json(const json_t *j, const hbd_run *run)
{
    FUZZ_CHECK(json_is_object(j) && json_object_size(j) == 6, "RUN is not an object of 6 fields");
    const json_t *id = json_object_get(j, "workflow_run_id");
    const json_t *wf = json_object_get(j, "workflow_id");
    const json_t *st = json_object_get(j, "status");
    const json_t *dl = json_object_get(j, "deadline");
    const json_t *lh = json_object_get(j, "last_heartbeat");
    const json_t *bt = json_object_get(j, "beats");
    FUZZ_CHECK(json_is_integer(id) && json_integer_value(id) == run->id, "RUN id, want %lld",
               (long long)run->id);
    FUZZ_CHECK(json_is_integer(wf) && json_integer_value(wf) == run->workflow_id,
               "RUN workflow_id, want %lld", (long long)run->workflow_id);
    FUZZ_CHECK(json_is_string(st) && strcmp(json_string_value(st), run->status) == 0,
               "RUN status, want %s", run->status);
    FUZZ_CHECK(json_is_real(dl) && json_real_value(dl) == run->deadline, "RUN deadline, want %.17g",
               run->deadline);
    FUZZ_CHECK(json_is_real(lh) && json_real_value(lh) == run->last_heartbeat,
               "RUN last_heartbeat, want %.17g", run->last_heartbeat);
    FUZZ_CHECK(json_is_integer(bt) && (uint64_t)json_integer_value(bt) == run->beats,
               "RUN beats, want %llu", (unsigned long long)run->beats);
}

static void check_page(const json_t *doc, const expect *x, const fz_snapshot *snap)
{
    const json_t *runs = json_object_get(doc, "runs");
    const json_t *next = json_object_get(doc, "next_after_id");
    FUZZ_CHECK(json_object_size(doc) == 2 && json_is_array(runs) && json_is_integer(next),
               "a page is not {\"runs\": [...], \"next_after_id\": N}");
    size_t n = 0;
    int64_t want_next = 0, last = 0;
    for (size_t i = 0; i < snap->count; i++) {
        const hbd_run *run = &snap->runs[i];
        if (run->id <= x->after_id || (x->filter != NULL && strcmp(run->status, x->filter) != 0))
            continue;
        if ((int64_t)n == x->limit) {
            want_next = last;
            break;
        }
        FUZZ_CHECK(n < json_array_size(runs), "the page stops early; run %lld is missing",
                   (long long)run->id);
        check_run_json(json_array_get(runs, n), run);
        last = run->id;
        n++;
    }
    FUZZ_CHECK(json_array_size(runs) == n, "the page holds %zu runs, want %zu",
               json_array_size(runs), n);
    FUZZ_CHECK(json_integer_value(next) == want_next, "next_after_id %lld, want %lld",
               (long long)json_integer_value(next), (long long)want_next);
}

/* The status page is the embedded HTML; the metrics are Prometheus text:
   printable lines, each a comment or "name[{labels}] value". */
static void check_observe(const hbd_rest_reply *r, int which)
{
    FUZZ_CHECK(r->len > 0 && r->content_type != NULL, "an observe reply without body or type");
    if (which == 1) {
        FUZZ_CHECK(r->len >= 15 && memcmp(r->body, "<!DOCTYPE html>", 15) == 0,
                   "GET / is not the status page");
        return;
    }
    FUZZ_CHECK(r->body[r->len - 1] == '\n', "the metrics do not end in a newline");
    const char *line = r->body, *end = r->body + r->len;
    while (line < end) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        for (const char *p = line; p < nl; p++)
            FUZZ_CHECK((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f,
                       "a metrics line holds byte 0x%02x", (unsigned char)*p);
        FUZZ_CHECK(nl > line, "an empty metrics line");
        if (line[0] != '#') {
            const char *sp = memchr(line, ' ', (size_t)(nl - line));
            FUZZ_CHECK(sp != NULL && sp > line && sp + 1 < nl, "metrics line \"%.*s\"",
                       (int)(nl - line), line);
            FUZZ_CHECK((line[0] >= 'a' && line[0] <= 'z') || (line[0] >= 'A' && line[0] <= 'Z') ||
                           line[0] == '_' || line[0] == ':',
                       "metric name in \"%.*s\"", (int)(nl - line), line);
        }
        line = nl + 1;
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet_logs();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    request rq;
    parse_request(&rq, data, size);
    hbd_engine *e = fz_engine_open();
    fz_snapshot before, after;
    fz_snapshot_take(e, &before);
    expect x;
    model(&x, &rq, &before);

    hbd_rest_request req = {rq.method, rq.path, rq.body, rq.body_len, query_get, &rq};
    hbd_rest_reply *r = malloc(sizeof *r);
    FUZZ_CHECK(r != NULL, "out of memory");
    hbd_rest_reply_init(r);
    hbd_rest_route(e, &req, HBD_RIGHT_OPERATOR, r);
    if (r->wait_durable)
        fz_wait_durable(e, r->ticket);
    fz_snapshot_take(e, &after);

    FUZZ_CHECK(r->status == x.status, "%s %s: status %u, the model says %u; body %.*s", rq.method,
               rq.path, r->status, x.status, (int)(r->len < 300 ? r->len : 300), r->body);
    FUZZ_CHECK((r->status == 405) == (r->allow != NULL), "Allow is %s on a %u",
               r->allow != NULL ? r->allow : "unset", r->status);
    if (x.allow != NULL)
        FUZZ_CHECK(strcmp(r->allow, x.allow) == 0, "Allow: %s, want %s", r->allow, x.allow);
    FUZZ_CHECK(r->status == 200 || !r->wait_durable, "an error reply waits for a commit");
    FUZZ_CHECK(r->status != 200 || r->wait_durable == !x.observe, "a 200 %s for a commit",
               x.observe ? "waits" : "does not wait");
    if (r->status == 200 && x.observe) {
        check_observe(r, x.observe);
        goto done;
    }

    FUZZ_CHECK(r->content_type == NULL || strstr(r->content_type, "json") != NULL,
               "a JSON reply sent as %s", r->content_type);
    json_error_t jerr;
    json_t *doc = json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES, &jerr);
    FUZZ_CHECK(doc != NULL && json_is_object(doc), "the reply body is not a JSON object (%s): %.*s",
               jerr.text, (int)(r->len < 300 ? r->len : 300), r->body);
    FUZZ_CHECK(fuzz_utf8_valid(r->body, r->len), "the reply body is not UTF-8");
    if (r->status != 200) {
        check_error(doc, r->status, data, size);
    } else if (x.reply_status != NULL) {
        char want[64];
        int n = snprintf(want, sizeof want, "{\"status\":\"%s\"}", x.reply_status);
        FUZZ_CHECK(r->len == (size_t)n && memcmp(r->body, want, r->len) == 0,
                   "Jobmon reply %.*s, want %s", (int)r->len, r->body, want);
    } else if (x.is_page) {
        check_page(doc, &x, &before);
    } else {
        FUZZ_CHECK(json_object_size(doc) == 1, "{\"run\": RUN} has other fields");
        check_run_json(json_object_get(doc, "run"), &x.run);
    }
    json_decref(doc);
done:
    fz_expect_state(&before, &after, r->status == 200 && x.changes ? &x.run : NULL, "the request");
    fz_snapshot_free(&before);
    fz_snapshot_free(&after);

    hbd_rest_reply_release(r);
    free(r);
    fz_engine_close(e);
    free(rq.line);
    return 0;
}
