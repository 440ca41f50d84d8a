/*
 * The blocking calls of a protobuf gateway (nng, gRPC), whatever carries
 * them: the caller's arguments checked, the request built, one round trip
 * through the transport's call function, the reply checked into the
 * caller's struct. A transport's gateway starts with hbeat__wire_gateway,
 * so that its method table points at these directly.
 */
#include "transports/wire/wire.h"

/* One round trip; *reply is freed by the caller with the arena. */
static int call(void *self, HbeatPb__Request__CallCase c, const ProtobufCMessage *req,
                hbeat__wire_arena *arena, ProtobufCMessage **reply,
                const ProtobufCMessage **payload, hbeat_error *err)
{
    const hbeat__wire_gateway *gw = self;
    hbeat__wire_arena_init(arena);
    return gw->call(self, c, req, arena, reply, payload, err);
}

int hbeat__wire_log_heartbeat(void *self, const hbeat_heartbeat_request *req,
                              hbeat_heartbeat_reply *reply, hbeat_error *err)
{
    const hbeat__wire_gateway *gw = self;
    int rc = hbeat__wire_check_beat(req, gw->who, err);
    if (rc != 0) {
        return rc;
    }
    if (reply == NULL) {
        return hbeat_error_set(err, HBEAT_EINVAL, "%s: reply is NULL", gw->who);
    }
    HbeatPb__HeartbeatRequest hb;
    hbeat__wire_beat_message(&hb, req);
    hbeat__wire_arena arena;
    ProtobufCMessage *r;
    const ProtobufCMessage *p;
    rc = call(self, HBEAT_PB__REQUEST__CALL_HEARTBEAT, &hb.base, &arena, &r, &p, err);
    if (rc != 0) {
        return rc;
    }
    rc = hbeat__wire_check_heartbeat((const HbeatPb__HeartbeatReply *)p, req->sequence, reply,
                                     gw->url, err);
    hbeat__wire_reply_free(r, &arena);
    return rc;
}

int hbeat__wire_update_status(void *self, int64_t workflow_run_id, const char *status,
                              hbeat_heartbeat_reply *reply, hbeat_error *err)
{
    const hbeat__wire_gateway *gw = self;
    int rc = hbeat__wire_check_status_arg(status, "the status", gw->who, err);
    if (rc != 0) {
        return rc;
    }
    HbeatPb__UpdateStatusRequest us;
    hbeat__wire_update_status_message(&us, workflow_run_id, status);
    hbeat__wire_arena arena;
    ProtobufCMessage *r;
    const ProtobufCMessage *p;
    rc = call(self, HBEAT_PB__REQUEST__CALL_UPDATE_STATUS, &us.base, &arena, &r, &p, err);
    if (rc != 0) {
        return rc;
    }
    rc = hbeat__wire_check_status(((const HbeatPb__UpdateStatusReply *)p)->status, reply, gw->url,
                                  err);
    hbeat__wire_reply_free(r, &arena);
    return rc;
}

/* ---- admin calls ---- */

/* The run a reply carries; the three replies hold only that. */
static const HbeatPb__RunInfo *reply_run(HbeatPb__Request__CallCase c, const ProtobufCMessage *p)
{
    switch (c) {
    case HBEAT_PB__REQUEST__CALL_CREATE_RUN:
        return ((const HbeatPb__CreateRunReply *)p)->run;
    case HBEAT_PB__REQUEST__CALL_GET_RUN:
        return ((const HbeatPb__GetRunReply *)p)->run;
    default:
        return ((const HbeatPb__SetStatusReply *)p)->run;
    }
}

/* One admin call answered by a run, checked into *out (`want_id`: the run
   asked for, 0 for any; `want_workflow`: the workflow asked for, 0 for
   any). */
static int run_call(void *self, HbeatPb__Request__CallCase c, const ProtobufCMessage *req,
                    int64_t want_id, int64_t want_workflow, hbeat_run_info *out, hbeat_error *err)
{
    const hbeat__wire_gateway *gw = self;
    hbeat__wire_arena arena;
    ProtobufCMessage *r;
    const ProtobufCMessage *p;
    int rc = call(self, c, req, &arena, &r, &p, err);
    if (rc != 0) {
        return rc;
    }
    rc = hbeat__wire_check_run_reply(reply_run(c, p), want_id, want_workflow, out, gw->url, err);
    hbeat__wire_reply_free(r, &arena);
    return rc;
}

/* inc: as for hbeat__wire_create_run_message. */
static int create_run(void *self, int64_t workflow_id, const char *status, const double *inc,
                      hbeat_run_info *out, hbeat_error *err)
{
    const hbeat__wire_gateway *gw = self;
    HbeatPb__CreateRunRequest cr;
    int rc = hbeat__wire_create_run_message(&cr, workflow_id, status, inc, gw->who, err);
    if (rc != 0) {
        return rc;
    }
    return run_call(self, HBEAT_PB__REQUEST__CALL_CREATE_RUN, &cr.base, 0, workflow_id, out, err);
}

int hbeat__wire_create_run(void *self, int64_t workflow_id, const char *status, hbeat_run_info *out,
                           hbeat_error *err)
{
    return create_run(self, workflow_id, status, NULL, out, err);
}

int hbeat__wire_create_run_with(void *self, int64_t workflow_id,
                                const hbeat_run_create_options *opts, hbeat_run_info *out,
                                hbeat_error *err)
{
    return create_run(self, workflow_id, opts->status,
                      opts->no_deadline ? NULL : &opts->next_report_increment, out, err);
}

int hbeat__wire_get_run(void *self, int64_t workflow_run_id, hbeat_run_info *out, hbeat_error *err)
{
    HbeatPb__GetRunRequest gr;
    hbeat__wire_get_run_message(&gr, workflow_run_id);
    return run_call(self, HBEAT_PB__REQUEST__CALL_GET_RUN, &gr.base, workflow_run_id, 0, out, err);
}

int hbeat__wire_set_status(void *self, int64_t workflow_run_id, const char *status, int force,
                           hbeat_run_info *out, hbeat_error *err)
{
    const hbeat__wire_gateway *gw = self;
    HbeatPb__SetStatusRequest ss;
    int rc = hbeat__wire_set_status_message(&ss, workflow_run_id, status, force, gw->who, err);
    if (rc != 0) {
        return rc;
    }
    return run_call(self, HBEAT_PB__REQUEST__CALL_SET_STATUS, &ss.base, workflow_run_id, 0, out,
                    err);
}
