/*
 * Which handler answers a path and method. The path names a route
 * (api_path.h) or is a 404; a known path with the wrong method is a 405
 * naming the allowed ones (POST log_heartbeat; PUT update_status and
 * runs/{id}/status; GET or POST runs; GET runs/{id}), and a path id that is
 * not a positive decimal integer a 400, all decided before any body is read.
 */
#include "server/api_path.h"
#include "server/rest/rest_internal.h"
#include "server/rest/rest_observe.h"

#include <string.h>

static int method_is(const hbd_rest_request *req, const char *m)
{
    return req->method != NULL && strcmp(req->method, m) == 0;
}

void hbd_rest_route(hbd_engine *engine, const hbd_rest_request *req, int client_only,
                    hbd_rest_reply *r)
{
    if (hbd_rest_observe(engine, req, client_only, r))
        return;
    const char *id_p = NULL;
    size_t id_len = 0;
    hbd_api_path rt = hbd_api_path_match(req->path, &id_p, &id_len);
    const char *allow = NULL;
    switch (rt) {
    case HBD_API_HEARTBEAT:
        allow = method_is(req, "POST") ? NULL : "POST";
        break;
    case HBD_API_UPDATE_STATUS:
    case HBD_API_RUN_STATUS:
        allow = method_is(req, "PUT") ? NULL : "PUT";
        break;
    case HBD_API_RUNS:
        allow = method_is(req, "GET") || method_is(req, "POST") ? NULL : "GET, POST";
        break;
    case HBD_API_RUN:
        allow = method_is(req, "GET") ? NULL : "GET";
        break;
    case HBD_API_NONE: {
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

    if (client_only && rt != HBD_API_HEARTBEAT && rt != HBD_API_UPDATE_STATUS) {
        hbd_rest_reply_error(r, req, 403, "this route needs an operator token");
        return;
    }

    int64_t id = 0;
    if (rt != HBD_API_RUNS && hbd_rest_parse_int(id_p, id_len, 1, &id) != 0) {
        char echo[HBD_REST_ECHO_MAX + 4];
        hbd_rest_echo(echo, sizeof echo, id_p, id_len);
        hbd_rest_reply_error(r, req, 400, "workflow run id must be a positive integer, got \"%s\"",
                             echo);
        return;
    }

    switch (rt) {
    case HBD_API_HEARTBEAT:
        hbd_rest_heartbeat(engine, req, id, r);
        break;
    case HBD_API_UPDATE_STATUS:
        hbd_rest_update_status(engine, req, id, r);
        break;
    case HBD_API_RUNS:
        if (method_is(req, "POST"))
            hbd_rest_create_run(engine, req, r);
        else
            hbd_rest_list_runs(engine, req, r);
        break;
    case HBD_API_RUN:
        hbd_rest_get_run(engine, req, id, r);
        break;
    case HBD_API_RUN_STATUS:
        hbd_rest_set_status(engine, req, id, r);
        break;
    case HBD_API_NONE:
        break;
    }
}
