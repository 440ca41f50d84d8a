/*
 * Requests, the same whatever carries them: the caller's arguments checked
 * (messages start with the transport's name, `who`), then the hbeat.v1
 * message built on the caller's stack, pointing at the caller's strings.
 */
#include <math.h>

#include "transports/wire/wire.h"

int hbeat__wire_check_status_arg(const char *status, const char *what, const char *who,
                                 hbeat_error *err)
{
    if (!hbeat_status_is_valid(status)) {
        return hbeat_error_set(err, HBEAT_EINVAL, "%s: %s is not a valid status token", who, what);
    }
    return 0;
}

int hbeat__wire_check_beat(const hbeat_heartbeat_request *req, const char *who, hbeat_error *err)
{
    if (req == NULL) {
        return hbeat_error_set(err, HBEAT_EINVAL, "%s: heartbeat request is NULL", who);
    }
    int rc = hbeat__wire_check_status_arg(req->status, "the heartbeat's status", who, err);
    if (rc == 0 && (!isfinite(req->next_report_increment) || req->next_report_increment < 0.0)) {
        rc = hbeat_error_set(err, HBEAT_EINVAL,
                             "%s: next_report_increment must be a finite number >= 0 (got %g)", who,
                             req->next_report_increment);
    }
    return rc;
}

void hbeat__wire_beat_message(HbeatPb__HeartbeatRequest *hb, const hbeat_heartbeat_request *req)
{
    hbeat_pb__heartbeat_request__init(hb);
    hb->workflow_run_id = req->workflow_run_id;
    hb->status = (char *)req->status;
    hb->next_report_increment = req->next_report_increment;
    hb->sequence = req->sequence;
}

void hbeat__wire_update_status_message(HbeatPb__UpdateStatusRequest *us, int64_t workflow_run_id,
                                       const char *status)
{
    hbeat_pb__update_status_request__init(us);
    us->workflow_run_id = workflow_run_id;
    us->status = (char *)status;
}

int hbeat__wire_create_run_message(HbeatPb__CreateRunRequest *cr, int64_t workflow_id,
                                   const char *status, const double *inc, const char *who,
                                   hbeat_error *err)
{
    if (status != NULL &&
        hbeat__wire_check_status_arg(status, "the new run's status", who, err) != 0) {
        return HBEAT_EINVAL;
    }
    hbeat_pb__create_run_request__init(cr);
    cr->workflow_id = workflow_id;
    if (status != NULL) {
        cr->status = (char *)status;
    }
    if (inc != NULL) {
        cr->first_deadline_case =
            HBEAT_PB__CREATE_RUN_REQUEST__FIRST_DEADLINE_NEXT_REPORT_INCREMENT;
        cr->next_report_increment = *inc;
    }
    return 0;
}

void hbeat__wire_get_run_message(HbeatPb__GetRunRequest *gr, int64_t workflow_run_id)
{
    hbeat_pb__get_run_request__init(gr);
    gr->workflow_run_id = workflow_run_id;
}

int hbeat__wire_set_status_message(HbeatPb__SetStatusRequest *ss, int64_t workflow_run_id,
                                   const char *status, int force, const char *who, hbeat_error *err)
{
    int rc = hbeat__wire_check_status_arg(status, "the status", who, err);
    if (rc != 0) {
        return rc;
    }
    hbeat_pb__set_status_request__init(ss);
    ss->workflow_run_id = workflow_run_id;
    ss->status = (char *)status;
    ss->force = force != 0;
    return 0;
}
