/*
 * The calls over protobuf (pb_calls.h). Replies are built in the caller's
 * hbd_pb_parts: protobuf-c messages point at the engine's strings, and
 * nothing is copied until the front end packs the reply.
 */
#include "pb_calls.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Every RunInfo points into the hbd_run it came from. */
static void run_info(HbeatPb__RunInfo *info, hbd_run *run)
{
    hbeat_pb__run_info__init(info);
    info->workflow_run_id = run->id;
    info->workflow_id = run->workflow_id;
    info->status = run->status;
    info->deadline = run->deadline;
    info->last_heartbeat = run->last_heartbeat;
    info->beats = run->beats;
}

/* Each call in two steps: the engine call (its outputs go into `p`), then
   the reply message built from them, once they are there (at once with
   SQLite, when the ticket is reported with a deferred store). */
typedef int (*begin_fn)(hbd_engine *e, const ProtobufCMessage *req, hbd_pb_parts *p,
                        uint64_t *ticket);
typedef int (*reply_fn)(const ProtobufCMessage *req, hbd_pb_parts *p,
                        const ProtobufCMessage **reply);

static int begin_heartbeat(hbd_engine *e, const ProtobufCMessage *req, hbd_pb_parts *p,
                           uint64_t *ticket)
{
    const HbeatPb__HeartbeatRequest *r = (const HbeatPb__HeartbeatRequest *)req;
    return hbd_engine_heartbeat_begin(e, r->workflow_run_id, r->status, r->next_report_increment,
                                      &p->run, ticket, &p->err);
}

static int reply_heartbeat(const ProtobufCMessage *req, hbd_pb_parts *p,
                           const ProtobufCMessage **reply)
{
    const HbeatPb__HeartbeatRequest *r = (const HbeatPb__HeartbeatRequest *)req;
    hbeat_pb__heartbeat_reply__init(&p->heartbeat);
    p->heartbeat.status = p->run.status;
    p->heartbeat.sequence = r->sequence;
    p->heartbeat.deadline = p->run.deadline;
    *reply = &p->heartbeat.base;
    return 0;
}

static int begin_update_status(hbd_engine *e, const ProtobufCMessage *req, hbd_pb_parts *p,
                               uint64_t *ticket)
{
    const HbeatPb__UpdateStatusRequest *r = (const HbeatPb__UpdateStatusRequest *)req;
    return hbd_engine_update_status_begin(e, r->workflow_run_id, r->status, &p->run, ticket,
                                          &p->err);
}

static int reply_update_status(const ProtobufCMessage *req, hbd_pb_parts *p,
                               const ProtobufCMessage **reply)
{
    (void)req;
    hbeat_pb__update_status_reply__init(&p->update_status);
    p->update_status.status = p->run.status;
    *reply = &p->update_status.base;
    return 0;
}

static int begin_create_run(hbd_engine *e, const ProtobufCMessage *req, hbd_pb_parts *p,
                            uint64_t *ticket)
{
    const HbeatPb__CreateRunRequest *r = (const HbeatPb__CreateRunRequest *)req;
    const double *inc = NULL;
    if (r->first_deadline_case ==
        HBEAT_PB__CREATE_RUN_REQUEST__FIRST_DEADLINE_NEXT_REPORT_INCREMENT)
        inc = &r->next_report_increment;
    return hbd_engine_create_run_begin(e, r->workflow_id, r->status, inc, &p->run, ticket, &p->err);
}

static int reply_create_run(const ProtobufCMessage *req, hbd_pb_parts *p,
                            const ProtobufCMessage **reply)
{
    (void)req;
    run_info(&p->info, &p->run);
    hbeat_pb__create_run_reply__init(&p->create_run);
    p->create_run.run = &p->info;
    *reply = &p->create_run.base;
    return 0;
}

static int begin_get_run(hbd_engine *e, const ProtobufCMessage *req, hbd_pb_parts *p,
                         uint64_t *ticket)
{
    const HbeatPb__GetRunRequest *r = (const HbeatPb__GetRunRequest *)req;
    return hbd_engine_get_run_begin(e, r->workflow_run_id, &p->run, ticket, &p->err);
}

static int reply_get_run(const ProtobufCMessage *req, hbd_pb_parts *p,
                         const ProtobufCMessage **reply)
{
    (void)req;
    run_info(&p->info, &p->run);
    hbeat_pb__get_run_reply__init(&p->get_run);
    p->get_run.run = &p->info;
    *reply = &p->get_run.base;
    return 0;
}

static int begin_set_status(hbd_engine *e, const ProtobufCMessage *req, hbd_pb_parts *p,
                            uint64_t *ticket)
{
    const HbeatPb__SetStatusRequest *r = (const HbeatPb__SetStatusRequest *)req;
    return hbd_engine_set_status_begin(e, r->workflow_run_id, r->status, r->force, &p->run, ticket,
                                       &p->err);
}

static int reply_set_status(const ProtobufCMessage *req, hbd_pb_parts *p,
                            const ProtobufCMessage **reply)
{
    (void)req;
    run_info(&p->info, &p->run);
    hbeat_pb__set_status_reply__init(&p->set_status);
    p->set_status.run = &p->info;
    *reply = &p->set_status.base;
    return 0;
}

static int begin_list_runs(hbd_engine *e, const ProtobufCMessage *req, hbd_pb_parts *p,
                           uint64_t *ticket)
{
    const HbeatPb__ListRunsRequest *r = (const HbeatPb__ListRunsRequest *)req;
    return hbd_engine_list_runs_begin(e, r->status, r->after_id, r->limit, &p->runs, &p->count,
                                      &p->next_after_id, ticket, &p->err);
}

static int reply_list_runs(const ProtobufCMessage *req, hbd_pb_parts *p,
                           const ProtobufCMessage **reply)
{
    (void)req;
    size_t n = p->count;
    p->infos = malloc((n ? n : 1) * sizeof *p->infos);
    p->info_ptrs = malloc((n ? n : 1) * sizeof *p->info_ptrs);
    if (p->infos == NULL || p->info_ptrs == NULL)
        return hbeat_error_set(&p->err, HBEAT_ENOMEM, "out of memory listing runs");
    for (size_t i = 0; i < n; i++) {
        run_info(&p->infos[i], &p->runs[i]);
        p->info_ptrs[i] = &p->infos[i];
    }
    hbeat_pb__list_runs_reply__init(&p->list_runs);
    p->list_runs.n_runs = n;
    p->list_runs.runs = p->info_ptrs;
    p->list_runs.next_after_id = p->next_after_id;
    *reply = &p->list_runs.base;
    return 0;
}

/* One row per call; adding a call adds a handler and a row. */
static const struct {
    const ProtobufCMessageDescriptor *request, *reply;
    begin_fn begin;
    reply_fn build;
} handlers[HBD_CALL_COUNT] = {
    [HBD_CALL_HEARTBEAT] = {&hbeat_pb__heartbeat_request__descriptor,
                            &hbeat_pb__heartbeat_reply__descriptor, begin_heartbeat,
                            reply_heartbeat},
    [HBD_CALL_UPDATE_STATUS] = {&hbeat_pb__update_status_request__descriptor,
                                &hbeat_pb__update_status_reply__descriptor, begin_update_status,
                                reply_update_status},
    [HBD_CALL_CREATE_RUN] = {&hbeat_pb__create_run_request__descriptor,
                             &hbeat_pb__create_run_reply__descriptor, begin_create_run,
                             reply_create_run},
    [HBD_CALL_GET_RUN] = {&hbeat_pb__get_run_request__descriptor,
                          &hbeat_pb__get_run_reply__descriptor, begin_get_run, reply_get_run},
    [HBD_CALL_LIST_RUNS] = {&hbeat_pb__list_runs_request__descriptor,
                            &hbeat_pb__list_runs_reply__descriptor, begin_list_runs,
                            reply_list_runs},
    [HBD_CALL_SET_STATUS] = {&hbeat_pb__set_status_request__descriptor,
                             &hbeat_pb__set_status_reply__descriptor, begin_set_status,
                             reply_set_status},
};

const ProtobufCMessageDescriptor *hbd_pb_request_type(hbd_call call)
{
    return (unsigned)call < HBD_CALL_COUNT ? handlers[call].request : NULL;
}

const ProtobufCMessageDescriptor *hbd_pb_reply_type(hbd_call call)
{
    return (unsigned)call < HBD_CALL_COUNT ? handlers[call].reply : NULL;
}

int hbd_pb_begin(hbd_engine *e, hbd_call call, const ProtobufCMessage *req, hbd_pb_parts *p,
                 uint64_t *ticket, hbeat_error *err)
{
    *ticket = 0;
    if ((unsigned)call >= HBD_CALL_COUNT || req == NULL ||
        req->descriptor != handlers[call].request)
        return hbeat_error_set(err, HBEAT_EINVAL, "no such call, or a request of another type");
    int rc = handlers[call].begin(e, req, p, ticket);
    if (rc != 0) {
        *ticket = 0;
        *err = p->err;
    }
    return rc;
}

int hbd_pb_reply(hbd_call call, const ProtobufCMessage *req, hbd_pb_parts *p,
                 const ProtobufCMessage **reply, hbeat_error *err)
{
    int rc = handlers[call].build(req, p, reply);
    if (rc != 0)
        *err = p->err;
    return rc;
}

int hbd_pb_serve(hbd_engine *e, hbd_call call, const ProtobufCMessage *req, hbd_pb_parts *p,
                 const ProtobufCMessage **reply, uint64_t *ticket, hbeat_error *err)
{
    int rc = hbd_pb_begin(e, call, req, p, ticket, err);
    if (rc == 0 && (rc = hbd_pb_reply(call, req, p, reply, err)) != 0)
        *ticket = 0;
    return rc;
}

void hbd_pb_parts_release(hbd_pb_parts *p)
{
    free(p->runs);
    free(p->infos);
    free(p->info_ptrs);
    p->runs = NULL;
    p->infos = NULL;
    p->info_ptrs = NULL;
}

void hbd_pb_log_failure(const char *front, const char *call, int code, const char *message)
{
    /* A client can cause each of these once per request. */
    if (code == HBEAT_ENOTFOUND || code == HBEAT_ECANCELED)
        hbd_info_limited("request for no such run (nng, grpc)", "%s %s: %s", front, call, message);
    else if (code == HBEAT_EINVAL || code == HBEAT_ENOTSUP)
        hbd_warn_limited("bad request (nng, grpc)", "%s %s: bad request: %s", front, call, message);
    else
        hbd_error_limited("failed request (nng, grpc)", "%s %s: %s", front, call, message);
}
