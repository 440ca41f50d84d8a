/*
 * Which handler answers a path and method: one table of routes, each a
 * path (api_path.h), a method and the call it makes. A path that names no
 * route is a 404; a known path with the wrong method is a 405 naming the
 * allowed ones; a call the token's right does not cover is a 403; a path
 * id that is not a positive decimal integer a 400: all decided before any
 * body is read.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "api_path.h"
#include "rest_internal.h"
#include "rest_observe.h"

typedef void (*route_handler)(hbd_engine *engine, const hbd_rest_request *req, int64_t id,
                              hbd_rest_reply *r);

/* A path's first row is what a request with another method counts under. */
static const struct route {
    hbd_api_path path;
    const char *method;
    hbd_call call;
    route_handler serve;
} routes[] = {
    {HBD_API_HEARTBEAT, "POST", HBD_CALL_HEARTBEAT, hbd_rest_heartbeat},
    {HBD_API_UPDATE_STATUS, "PUT", HBD_CALL_UPDATE_STATUS, hbd_rest_update_status},
    {HBD_API_RUNS, "GET", HBD_CALL_LIST_RUNS, hbd_rest_list_runs},
    {HBD_API_RUNS, "POST", HBD_CALL_CREATE_RUN, hbd_rest_create_run},
    {HBD_API_RUN, "GET", HBD_CALL_GET_RUN, hbd_rest_get_run},
    {HBD_API_RUN_STATUS, "PUT", HBD_CALL_SET_STATUS, hbd_rest_set_status},
};
enum { NROUTES = sizeof routes / sizeof routes[0] };

/* The methods each path allows ("GET, POST"), for 405's Allow header,
   written once from the table. */
static char allow_text[HBD_API_NONE][32];
static pthread_once_t allow_once = PTHREAD_ONCE_INIT;

static void write_allow(void)
{
    for (size_t i = 0; i < NROUTES; i++) {
        char *a = allow_text[routes[i].path];
        size_t used = strlen(a);
        snprintf(a + used, sizeof allow_text[0] - used, "%s%s", used ? ", " : "", routes[i].method);
    }
}

static int method_is(const char *method, const char *m)
{
    return method != NULL && strcmp(method, m) == 0;
}

/* The row for `path` and `method`; for another method, the path's first
   row with *wrong_method set; NULL when the path names no route. */
static const struct route *find(hbd_api_path path, const char *method, int *wrong_method)
{
    const struct route *first = NULL;
    for (size_t i = 0; i < NROUTES; i++) {
        if (routes[i].path != path)
            continue;
        if (method_is(method, routes[i].method)) {
            *wrong_method = 0;
            return &routes[i];
        }
        if (first == NULL)
            first = &routes[i];
    }
    *wrong_method = 1;
    return first;
}

hbd_route hbd_rest_route_of(const char *method, const char *path)
{
    if (path == NULL)
        return HBD_ROUTE_OTHER;
    if (strcmp(path, "/") == 0)
        return HBD_ROUTE_STATUS_PAGE;
    if (strcmp(path, "/metrics") == 0)
        return HBD_ROUTE_METRICS;
    const char *id = NULL;
    size_t id_len = 0;
    int wrong_method;
    const struct route *rt = find(hbd_api_path_match(path, &id, &id_len), method, &wrong_method);
    return rt != NULL ? (hbd_route)rt->call : HBD_ROUTE_OTHER;
}

void hbd_rest_route(hbd_engine *engine, const hbd_rest_request *req, hbd_right right,
                    hbd_rest_reply *r)
{
    if (hbd_rest_observe(engine, req, right, r))
        return;
    const char *id_p = NULL;
    size_t id_len = 0;
    hbd_api_path path = hbd_api_path_match(req->path, &id_p, &id_len);
    int wrong_method;
    const struct route *rt = find(path, req->method, &wrong_method);
    if (rt == NULL) {
        char echo[HBD_REST_ECHO_MAX + 4];
        const char *p = req->path != NULL ? req->path : "";
        hbd_rest_echo(echo, sizeof echo, p, strlen(p));
        hbd_rest_reply_error(r, req, 404, "no such route: %s", echo);
        return;
    }
    if (wrong_method) {
        pthread_once(&allow_once, write_allow);
        char echo[24];
        const char *m = req->method != NULL ? req->method : "";
        hbd_rest_echo(echo, sizeof echo, m, strlen(m));
        hbd_rest_reply_error(r, req, 405, "method %s not allowed here; allowed: %s", echo,
                             allow_text[path]);
        r->allow = allow_text[path];
        return;
    }
    if (!hbd_call_allowed(rt->call, right)) {
        hbd_rest_reply_error(r, req, 403, "this route needs an operator token");
        return;
    }
    int64_t id = 0;
    if (path != HBD_API_RUNS && hbd_rest_parse_int(id_p, id_len, 1, &id) != 0) {
        char echo[HBD_REST_ECHO_MAX + 4];
        hbd_rest_echo(echo, sizeof echo, id_p, id_len);
        hbd_rest_reply_error(r, req, 400, "workflow run id must be a positive integer, got \"%s\"",
                             echo);
        return;
    }
    rt->serve(engine, req, id, r);
}
