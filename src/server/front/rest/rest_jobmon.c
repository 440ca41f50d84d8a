/*
 * Jobmon's two routes. On success the reply is exactly what Jobmon's own
 * server sends: 200, application/json, {"status":"X"} without spaces, X
 * being the status the server holds afterwards (so an invalid transition
 * is still a 200, carrying the status that was kept).
 */
#include "rest_internal.h"

#include <math.h>

static void reply_status(hbd_rest_reply *r, const hbd_rest_request *req, int rc, const hbd_run *run,
                         uint64_t ticket, const hbeat_error *err)
{
    if (rc != 0) {
        hbd_rest_reply_engine_error(r, req, rc, err);
        return;
    }
    hbd_rest_reply_status(r, run->status);
    r->wait_durable = 1;
    r->ticket = ticket;
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

    hbd_run run;
    uint64_t ticket;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbd_engine_heartbeat_begin(engine, run_id, status, increment, &run, &ticket, &err);
    reply_status(r, req, rc, &run, ticket, &err);
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
        hbd_run run;
        uint64_t ticket;
        hbeat_error err = HBEAT_ERROR_INIT;
        int rc = hbd_engine_update_status_begin(engine, run_id, status, &run, &ticket, &err);
        reply_status(r, req, rc, &run, ticket, &err);
    }
    json_decref(doc);
}
