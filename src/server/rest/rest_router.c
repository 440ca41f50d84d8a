/*
 * Which handler answers a path and method. Paths are matched segment by
 * segment under /api/v3; anything else is a 404, a known path with the
 * wrong method a 405 naming the allowed ones, and a path id that is not a
 * positive decimal integer a 400, all decided before any body is read.
 */
#include "server/rest/rest_internal.h"
#include "server/rest/rest_observe.h"

#include <string.h>

typedef enum route {
    RT_HEARTBEAT,     /* POST workflow_run/{id}/log_heartbeat */
    RT_UPDATE_STATUS, /* PUT  workflow_run/{id}/update_status */
    RT_RUNS,          /* GET, POST runs */
    RT_RUN,           /* GET  runs/{id} */
    RT_RUN_STATUS,    /* PUT  runs/{id}/status */
    RT_NONE
} route;

typedef struct segment {
    const char *p;
    size_t len;
} segment;

static int seg_is(segment s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && memcmp(s.p, lit, n) == 0;
}

/* Splits `rest` at '/' into at most `max` segments; -1 when there are more. */
static int split(const char *rest, segment *segs, int max)
{
    int n = 0;
    const char *p = rest;
    for (;;) {
        if (n == max)
            return -1;
        const char *slash = strchr(p, '/');
        size_t len = slash != NULL ? (size_t)(slash - p) : strlen(p);
        segs[n].p = p;
        segs[n].len = len;
        n++;
        if (slash == NULL)
            return n;
        p = slash + 1;
    }
}

static route match(const char *path, segment *id)
{
    static const char base[] = HBD_REST_BASE "/";
    if (path == NULL || strncmp(path, base, sizeof base - 1) != 0)
        return RT_NONE;
    segment s[3];
    int n = split(path + sizeof base - 1, s, 3);
    if (n < 1)
        return RT_NONE;
    if (n == 3 && seg_is(s[0], "workflow_run")) {
        *id = s[1];
        if (seg_is(s[2], "log_heartbeat"))
            return RT_HEARTBEAT;
        if (seg_is(s[2], "update_status"))
            return RT_UPDATE_STATUS;
        return RT_NONE;
    }
    if (!seg_is(s[0], "runs"))
        return RT_NONE;
    if (n == 1)
        return RT_RUNS;
    *id = s[1];
    if (n == 2)
        return RT_RUN;
    return seg_is(s[2], "status") ? RT_RUN_STATUS : RT_NONE;
}

static int method_is(const hbd_rest_request *req, const char *m)
{
    return req->method != NULL && strcmp(req->method, m) == 0;
}

void hbd_rest_route(hbd_engine *engine, const hbd_rest_request *req, hbd_rest_reply *r)
{
    hbd_rest_route_as(engine, req, 0, r);
}

void hbd_rest_route_as(hbd_engine *engine, const hbd_rest_request *req, int client_only,
                       hbd_rest_reply *r)
{
    if (hbd_rest_observe(engine, req, client_only, r))
        return;
    segment id_seg = {NULL, 0};
    route rt = match(req->path, &id_seg);
    const char *allow = NULL;
    switch (rt) {
    case RT_HEARTBEAT:
        allow = method_is(req, "POST") ? NULL : "POST";
        break;
    case RT_UPDATE_STATUS:
    case RT_RUN_STATUS:
        allow = method_is(req, "PUT") ? NULL : "PUT";
        break;
    case RT_RUNS:
        allow = method_is(req, "GET") || method_is(req, "POST") ? NULL : "GET, POST";
        break;
    case RT_RUN:
        allow = method_is(req, "GET") ? NULL : "GET";
        break;
    case RT_NONE: {
        char echo[HBD_REST_ECHO_MAX + 4];
        const char *p = req->path != NULL ? req->path : "";
        hbd_rest_echo(echo, sizeof echo, p, strlen(p));
        hbd_rest_reply_error(r, req, 404, "no such route: %s", echo);
        return;
    }
    }
    if (allow != NULL) {
        char echo[24];
        const char *m = req->method != NULL ? req->method : "";
        hbd_rest_echo(echo, sizeof echo, m, strlen(m));
        hbd_rest_reply_error(r, req, 405, "method %s not allowed here; allowed: %s", echo, allow);
        r->allow = allow;
        return;
    }

    if (client_only && rt != RT_HEARTBEAT && rt != RT_UPDATE_STATUS) {
        hbd_rest_reply_error(r, req, 403, "this route needs an operator token");
        return;
    }

    int64_t id = 0;
    if (rt != RT_RUNS && hbd_rest_parse_int(id_seg.p, id_seg.len, 1, &id) != 0) {
        char echo[HBD_REST_ECHO_MAX + 4];
        hbd_rest_echo(echo, sizeof echo, id_seg.p, id_seg.len);
        hbd_rest_reply_error(r, req, 400, "workflow run id must be a positive integer, got \"%s\"",
                             echo);
        return;
    }

    switch (rt) {
    case RT_HEARTBEAT:
        hbd_rest_heartbeat(engine, req, id, r);
        break;
    case RT_UPDATE_STATUS:
        hbd_rest_update_status(engine, req, id, r);
        break;
    case RT_RUNS:
        if (method_is(req, "POST"))
            hbd_rest_create_run(engine, req, r);
        else
            hbd_rest_list_runs(engine, req, r);
        break;
    case RT_RUN:
        hbd_rest_get_run(engine, req, id, r);
        break;
    case RT_RUN_STATUS:
        hbd_rest_set_status(engine, req, id, r);
        break;
    case RT_NONE:
        break;
    }
}
