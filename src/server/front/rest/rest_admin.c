/*
 * hbeatd's own routes under /runs, for what Jobmon does elsewhere: create,
 * get, list and steer runs. Replies wrap a RUN object ({"run": RUN}) or a
 * page of them ({"runs": [...], "next_after_id": N}).
 */
#include "rest_internal.h"

#include <stdlib.h>
#include <string.h>

#include "hbeat/status.h"

static void build_run(hbd_rest_reply *r, const hbd_rest_request *req)
{
    json_t *j = hbd_rest_run_json(&r->run);
    hbd_rest_reply_json(r, req, j != NULL ? json_pack("{s:o}", "run", j) : NULL);
}

void hbd_rest_create_run(hbd_engine *engine, const hbd_rest_request *req, int64_t unused,
                         hbd_rest_reply *r)
{
    (void)unused;
    json_t *doc;
    if (hbd_rest_body_object(req, r, &doc) != 0)
        return;
    int64_t workflow_id;
    char status[HBEAT_STATUS_MAX + 1];
    double inc = 0;
    int has_inc = 0;
    /* next_report_increment as Jobmon's POST /workflow_run names it;
       absent or null: no deadline until the first beat (older clients). */
    if (hbd_rest_field_id(req, r, doc, "workflow_id", &workflow_id) == 0 &&
        hbd_rest_field_status(req, r, doc, "status", HBEAT_STATUS_REGISTERED, status) == 0 &&
        hbd_rest_field_optional_number(req, r, doc, "next_report_increment", &inc, &has_inc) == 0) {
        uint64_t ticket;
        int rc = hbd_engine_create_run_begin(engine, workflow_id, status, has_inc ? &inc : NULL,
                                             &r->run, &ticket, &r->err);
        hbd_rest_reply_later(r, req, engine, rc, ticket, build_run);
    }
    json_decref(doc);
}

void hbd_rest_get_run(hbd_engine *engine, const hbd_rest_request *req, int64_t run_id,
                      hbd_rest_reply *r)
{
    uint64_t ticket;
    int rc = hbd_engine_get_run_begin(engine, run_id, &r->run, &ticket, &r->err);
    hbd_rest_reply_later(r, req, engine, rc, ticket, build_run);
}

void hbd_rest_set_status(hbd_engine *engine, const hbd_rest_request *req, int64_t run_id,
                         hbd_rest_reply *r)
{
    json_t *doc;
    if (hbd_rest_body_object(req, r, &doc) != 0)
        return;
    char status[HBEAT_STATUS_MAX + 1];
    int force;
    if (hbd_rest_field_status(req, r, doc, "status", NULL, status) == 0 &&
        hbd_rest_field_bool(req, r, doc, "force", 0, &force) == 0) {
        uint64_t ticket;
        int rc =
            hbd_engine_set_status_begin(engine, run_id, status, force, &r->run, &ticket, &r->err);
        hbd_rest_reply_later(r, req, engine, rc, ticket, build_run);
    }
    json_decref(doc);
}

static const char *query(const hbd_rest_request *req, const char *key)
{
    const char *v = req->query != NULL ? req->query(req->query_ctx, key) : NULL;
    /* "?status=" means no filter, as if it were absent. */
    return v != NULL && v[0] != '\0' ? v : NULL;
}

/* A query parameter that must be a decimal integer in [min, max]. */
static int query_int(const hbd_rest_request *req, hbd_rest_reply *r, const char *key,
                     int64_t fallback, int64_t min, int64_t max, int64_t *out)
{
    const char *v = query(req, key);
    if (v == NULL) {
        *out = fallback;
        return 0;
    }
    if (hbd_rest_parse_int(v, strlen(v), min, out) != 0 || *out > max) {
        char echo[HBD_REST_ECHO_MAX + 4];
        hbd_rest_echo(echo, sizeof echo, v, strlen(v));
        hbd_rest_reply_error(r, req, 400,
                             "query parameter %s must be an integer from %lld to %lld, got \"%s\"",
                             key, (long long)min, (long long)max, echo);
        return -1;
    }
    return 0;
}

static void build_page(hbd_rest_reply *r, const hbd_rest_request *req)
{
    json_t *list = json_array();
    for (size_t i = 0; list != NULL && i < r->count; i++) {
        if (json_array_append_new(list, hbd_rest_run_json(&r->runs[i])) != 0) {
            json_decref(list);
            list = NULL;
        }
    }
    free(r->runs);
    r->runs = NULL;
    hbd_rest_reply_json(r, req,
                        list != NULL ? json_pack("{s:o,s:I}", "runs", list, "next_after_id",
                                                 (json_int_t)r->next_after_id)
                                     : NULL);
}

void hbd_rest_list_runs(hbd_engine *engine, const hbd_rest_request *req, int64_t unused,
                        hbd_rest_reply *r)
{
    (void)unused;
    const char *status = query(req, "status");
    if (status != NULL && !hbeat_status_is_valid(status)) {
        char echo[HBD_REST_ECHO_MAX + 4];
        hbd_rest_echo(echo, sizeof echo, status, strlen(status));
        hbd_rest_reply_error(r, req, 400, "query parameter status is not a valid status: \"%s\"",
                             echo);
        return;
    }
    int64_t after_id, limit;
    if (query_int(req, r, "after_id", 0, 0, INT64_MAX, &after_id) != 0 ||
        query_int(req, r, "limit", HBD_LIST_DEFAULT, 1, HBD_LIST_MAX, &limit) != 0)
        return;

    uint64_t ticket = 0;
    int rc = hbd_engine_list_runs_begin(engine, status, after_id, (uint32_t)limit, &r->runs,
                                        &r->count, &r->next_after_id, &ticket, &r->err);
    hbd_rest_reply_later(r, req, engine, rc, ticket, build_page);
}
