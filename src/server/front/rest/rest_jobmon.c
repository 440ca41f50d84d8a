/*
 * Jobmon's two routes. On success the reply is exactly what Jobmon's own
 * server sends: 200, application/json, {"status":"X"} without spaces, X
 * being the status the server holds afterwards (so an invalid transition
 * is still a 200, carrying the status that was kept).
 */
#include "rest_internal.h"

#include <math.h>

static void build_status(hbd_rest_reply *r, const hbd_rest_request *req)
{
    (void)req;
    hbd_rest_reply_status(r, r->run.status);
}

void hbd_rest_heartbeat(hbd_engine *engine, const hbd_rest_request *req, int64_t run_id,
                        hbd_rest_reply *r)
{
    json_t *doc;
    if (hbd_rest_body_object(req, r, &doc) != 0)
        return;
    char status[HBEAT_STATUS_MAX + 1];
    double increment;
    if (hbd_rest_field_status(req, r, doc, "status", NULL, status) != 0 ||
        hbd_rest_field_number(req, r, doc, "next_report_increment", &increment) != 0)
        goto out;
    /* !(x >= 0) also catches a NaN, should one ever get this far. */
    if (!(increment >= 0)) {
        hbd_rest_reply_error(r, req, 400, "next_report_increment must not be negative, got %.15g",
                             increment);
        goto out;
    }
    if (increment > HBD_MAX_INCREMENT) {
        hbd_rest_reply_error(r, req, 400,
                             "next_report_increment %.15g s is more than one year (%.0f s)",
                             increment, HBD_MAX_INCREMENT);
        goto out;
    }

    uint64_t ticket;
    int rc =
        hbd_engine_heartbeat_begin(engine, run_id, status, increment, &r->run, &ticket, &r->err);
    hbd_rest_reply_later(r, req, engine, rc, ticket, build_status);
out:
    json_decref(doc);
}

void hbd_rest_update_status(hbd_engine *engine, const hbd_rest_request *req, int64_t run_id,
                            hbd_rest_reply *r)
{
    json_t *doc;
    if (hbd_rest_body_object(req, r, &doc) != 0)
        return;
    char status[HBEAT_STATUS_MAX + 1];
    if (hbd_rest_field_status(req, r, doc, "status", NULL, status) == 0) {
        uint64_t ticket;
        int rc = hbd_engine_update_status_begin(engine, run_id, status, &r->run, &ticket, &r->err);
        hbd_rest_reply_later(r, req, engine, rc, ticket, build_status);
    }
    json_decref(doc);
}
