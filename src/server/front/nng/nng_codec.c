/*
 * The wire codec. Replies are built on the stack (protobuf-c messages point
 * at our strings) and packed once into the buffer the caller reserves.
 */
#include "nng_codec.h"

#include <stdlib.h>
#include <string.h>

#include "hbeat/v1/hbeat.pb-c.h"
#include "log.h"

static int pack(const HbeatPb__Reply *reply, hbd_codec_reserve_fn reserve, void *arg)
{
    size_t len = hbeat_pb__reply__get_packed_size(reply);
    uint8_t *buf = reserve(arg, len);
    if (buf == NULL)
        return HBEAT_ENOMEM;
    hbeat_pb__reply__pack(reply, buf);
    return 0;
}

int hbd_codec_error(int code, const char *message, hbd_codec_reserve_fn reserve, void *arg)
{
    HbeatPb__Error error = HBEAT_PB__ERROR__INIT;
    HbeatPb__Reply reply = HBEAT_PB__REPLY__INIT;
    error.code = (HbeatPb__ErrorCode)hbd_outcome_of(code)->wire_error;
    error.message = (char *)message;
    reply.result_case = HBEAT_PB__REPLY__RESULT_ERROR;
    reply.error = &error;
    return pack(&reply, reserve, arg);
}

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

/* Runs the decoded call; fills `reply` (whose parts live in `parts`). */
typedef struct parts {
    hbd_run run;
    HbeatPb__RunInfo info;
    HbeatPb__HeartbeatReply heartbeat;
    HbeatPb__UpdateStatusReply update_status;
    HbeatPb__CreateRunReply create_run;
    HbeatPb__GetRunReply get_run;
    HbeatPb__SetStatusReply set_status;
    HbeatPb__ListRunsReply list_runs;
    hbd_run *runs;
    HbeatPb__RunInfo *infos;
    HbeatPb__RunInfo **info_ptrs;
} parts;

/* One handler per call: applies it through the engine and fills the
   reply from `p`. Adding a call adds a handler and a row in `handlers`. */
typedef int (*handler)(hbd_engine *e, const HbeatPb__Request *req, HbeatPb__Reply *reply, parts *p,
                       uint64_t *ticket, hbeat_error *err);

static int serve_heartbeat(hbd_engine *e, const HbeatPb__Request *req, HbeatPb__Reply *reply,
                           parts *p, uint64_t *ticket, hbeat_error *err)
{
    const HbeatPb__HeartbeatRequest *r = req->heartbeat;
    int rc = hbd_engine_heartbeat_begin(e, r->workflow_run_id, r->status, r->next_report_increment,
                                        &p->run, ticket, err);
    if (rc != 0)
        return rc;
    hbeat_pb__heartbeat_reply__init(&p->heartbeat);
    p->heartbeat.status = p->run.status;
    p->heartbeat.sequence = r->sequence;
    p->heartbeat.deadline = p->run.deadline;
    reply->result_case = HBEAT_PB__REPLY__RESULT_HEARTBEAT;
    reply->heartbeat = &p->heartbeat;
    return 0;
}

static int serve_update_status(hbd_engine *e, const HbeatPb__Request *req, HbeatPb__Reply *reply,
                               parts *p, uint64_t *ticket, hbeat_error *err)
{
    const HbeatPb__UpdateStatusRequest *r = req->update_status;
    int rc = hbd_engine_update_status_begin(e, r->workflow_run_id, r->status, &p->run, ticket, err);
    if (rc != 0)
        return rc;
    hbeat_pb__update_status_reply__init(&p->update_status);
    p->update_status.status = p->run.status;
    reply->result_case = HBEAT_PB__REPLY__RESULT_UPDATE_STATUS;
    reply->update_status = &p->update_status;
    return 0;
}

static int serve_create_run(hbd_engine *e, const HbeatPb__Request *req, HbeatPb__Reply *reply,
                            parts *p, uint64_t *ticket, hbeat_error *err)
{
    const HbeatPb__CreateRunRequest *r = req->create_run;
    const double *inc = NULL;
    if (r->first_deadline_case ==
        HBEAT_PB__CREATE_RUN_REQUEST__FIRST_DEADLINE_NEXT_REPORT_INCREMENT)
        inc = &r->next_report_increment;
    int rc = hbd_engine_create_run_begin(e, r->workflow_id, r->status, inc, &p->run, ticket, err);
    if (rc != 0)
        return rc;
    run_info(&p->info, &p->run);
    hbeat_pb__create_run_reply__init(&p->create_run);
    p->create_run.run = &p->info;
    reply->result_case = HBEAT_PB__REPLY__RESULT_CREATE_RUN;
    reply->create_run = &p->create_run;
    return 0;
}

static int serve_get_run(hbd_engine *e, const HbeatPb__Request *req, HbeatPb__Reply *reply,
                         parts *p, uint64_t *ticket, hbeat_error *err)
{
    int rc = hbd_engine_get_run_begin(e, req->get_run->workflow_run_id, &p->run, ticket, err);
    if (rc != 0)
        return rc;
    run_info(&p->info, &p->run);
    hbeat_pb__get_run_reply__init(&p->get_run);
    p->get_run.run = &p->info;
    reply->result_case = HBEAT_PB__REPLY__RESULT_GET_RUN;
    reply->get_run = &p->get_run;
    return 0;
}

static int serve_set_status(hbd_engine *e, const HbeatPb__Request *req, HbeatPb__Reply *reply,
                            parts *p, uint64_t *ticket, hbeat_error *err)
{
    const HbeatPb__SetStatusRequest *r = req->set_status;
    int rc = hbd_engine_set_status_begin(e, r->workflow_run_id, r->status, r->force, &p->run,
                                         ticket, err);
    if (rc != 0)
        return rc;
    run_info(&p->info, &p->run);
    hbeat_pb__set_status_reply__init(&p->set_status);
    p->set_status.run = &p->info;
    reply->result_case = HBEAT_PB__REPLY__RESULT_SET_STATUS;
    reply->set_status = &p->set_status;
    return 0;
}

static int serve_list_runs(hbd_engine *e, const HbeatPb__Request *req, HbeatPb__Reply *reply,
                           parts *p, uint64_t *ticket, hbeat_error *err)
{
    const HbeatPb__ListRunsRequest *r = req->list_runs;
    size_t n;
    int64_t next;
    int rc = hbd_engine_list_runs_begin(e, r->status, r->after_id, r->limit, &p->runs, &n, &next,
                                        ticket, err);
    if (rc != 0)
        return rc;
    p->infos = malloc((n ? n : 1) * sizeof *p->infos);
    p->info_ptrs = malloc((n ? n : 1) * sizeof *p->info_ptrs);
    if (p->infos == NULL || p->info_ptrs == NULL)
        return hbeat_error_set(err, HBEAT_ENOMEM, "out of memory listing runs");
    for (size_t i = 0; i < n; i++) {
        run_info(&p->infos[i], &p->runs[i]);
        p->info_ptrs[i] = &p->infos[i];
    }
    hbeat_pb__list_runs_reply__init(&p->list_runs);
    p->list_runs.n_runs = n;
    p->list_runs.runs = p->info_ptrs;
    p->list_runs.next_after_id = next;
    reply->result_case = HBEAT_PB__REPLY__RESULT_LIST_RUNS;
    reply->list_runs = &p->list_runs;
    return 0;
}

static const struct {
    HbeatPb__Request__CallCase wire;
    hbd_call call;
    handler serve;
} handlers[] = {
    {HBEAT_PB__REQUEST__CALL_HEARTBEAT, HBD_CALL_HEARTBEAT, serve_heartbeat},
    {HBEAT_PB__REQUEST__CALL_UPDATE_STATUS, HBD_CALL_UPDATE_STATUS, serve_update_status},
    {HBEAT_PB__REQUEST__CALL_CREATE_RUN, HBD_CALL_CREATE_RUN, serve_create_run},
    {HBEAT_PB__REQUEST__CALL_GET_RUN, HBD_CALL_GET_RUN, serve_get_run},
    {HBEAT_PB__REQUEST__CALL_SET_STATUS, HBD_CALL_SET_STATUS, serve_set_status},
    {HBEAT_PB__REQUEST__CALL_LIST_RUNS, HBD_CALL_LIST_RUNS, serve_list_runs},
};
enum { NHANDLERS = sizeof handlers / sizeof handlers[0] };

/* The row of the request's call; NHANDLERS when it carries none this
   server knows. */
static size_t handler_of(const HbeatPb__Request *req)
{
    size_t i = 0;
    while (i < NHANDLERS && handlers[i].wire != req->call_case)
        i++;
    return i;
}

static const char *call_name(size_t h)
{
    return h < NHANDLERS ? hbd_call_name(handlers[h].call) : "request";
}

static int dispatch(hbd_engine *e, size_t h, const HbeatPb__Request *req, HbeatPb__Reply *reply,
                    parts *p, uint64_t *ticket, hbeat_error *err)
{
    if (h < NHANDLERS)
        return handlers[h].serve(e, req, reply, p, ticket, err);
    /* protobuf-c keeps a call it does not know as an unknown field. */
    if (req->base.n_unknown_fields > 0)
        return hbeat_error_set(err, HBEAT_ENOTSUP,
                               "unknown call (field %u); this server knows heartbeat, "
                               "update_status, create_run, get_run, list_runs, set_status",
                               (unsigned)req->base.unknown_fields[0].tag);
    return hbeat_error_set(err, HBEAT_EINVAL, "request carries no call");
}

/* Each call needs its right (calls.h). A request with no call goes on to
   be refused as such. The token itself never reaches a message or the
   log. */
static int authorize(hbd_auth *auth, size_t h, const HbeatPb__Request *req, hbeat_error *err)
{
    if (!hbd_auth_enabled(auth))
        return 0;
    const char *token = req->token;
    hbd_right right = hbd_auth_check(auth, token, token != NULL ? strlen(token) : 0);
    if (right == HBD_RIGHT_NONE)
        return hbeat_error_set(err, HBEAT_EAUTH, "a valid token is required (Request.token)");
    if (h < NHANDLERS && !hbd_call_allowed(handlers[h].call, right))
        return hbeat_error_set(err, HBEAT_EFORBIDDEN, "%s needs an operator token", call_name(h));
    return 0;
}

int hbd_codec_serve(hbd_engine *e, hbd_auth *auth, const uint8_t *buf, size_t len,
                    size_t max_message, hbd_codec_reserve_fn reserve, void *arg, uint64_t *ticket,
                    hbd_codec_outcome *outcome)
{
    hbd_codec_outcome ignored;
    if (outcome == NULL)
        outcome = &ignored;
    outcome->route = HBD_ROUTE_OTHER;
    hbeat_error err = HBEAT_ERROR_INIT;
    *ticket = 0;
    if (len > max_message) {
        hbeat_error_set(&err, HBEAT_ETOOBIG, "request of %zu bytes exceeds the limit of %zu", len,
                        max_message);
        hbd_warn_limited("nng: request too large", "nng: %s", err.message);
        outcome->result = hbd_outcome_of(err.code)->result;
        return hbd_codec_error(err.code, err.message, reserve, arg);
    }
    HbeatPb__Request *req = hbeat_pb__request__unpack(NULL, len, buf);
    if (req == NULL) {
        hbeat_error_set(&err, HBEAT_EINVAL, "malformed request: not a hbeat.v1.Request (%zu bytes)",
                        len);
        hbd_warn_limited("nng: malformed request", "nng: %s", err.message);
        outcome->result = hbd_outcome_of(err.code)->result;
        return hbd_codec_error(err.code, err.message, reserve, arg);
    }
    HbeatPb__Reply reply = HBEAT_PB__REPLY__INIT;
    parts p;
    memset(&p, 0, sizeof p);
    size_t h = handler_of(req);
    outcome->route = h < NHANDLERS ? (hbd_route)handlers[h].call : HBD_ROUTE_OTHER;
    int rc = authorize(auth, h, req, &err);
    outcome->result = hbd_outcome_of(rc)->result;
    if (rc != 0) {
        hbd_warn_limited("nng: refused request", "nng %s: refused: %s", call_name(h), err.message);
        rc = hbd_codec_error(rc, err.message, reserve, arg);
        hbeat_pb__request__free_unpacked(req, NULL);
        return rc;
    }
    rc = dispatch(e, h, req, &reply, &p, ticket, &err);
    outcome->result = hbd_outcome_of(rc)->result;
    if (rc != 0) {
        *ticket = 0;
        /* A client can cause each of these once per request. */
        if (rc == HBEAT_ENOTFOUND || rc == HBEAT_ECANCELED)
            hbd_info_limited("nng: request for no such run", "nng %s: %s", call_name(h),
                             err.message);
        else if (rc == HBEAT_EINVAL || rc == HBEAT_ENOTSUP)
            hbd_warn_limited("nng: bad request", "nng %s: bad request: %s", call_name(h),
                             err.message);
        else
            hbd_error_limited("nng: failed request", "nng %s: %s", call_name(h), err.message);
        rc = hbd_codec_error(rc, err.message, reserve, arg);
    } else {
        rc = pack(&reply, reserve, arg);
    }
    free(p.runs);
    free(p.infos);
    free(p.info_ptrs);
    hbeat_pb__request__free_unpacked(req, NULL);
    return rc;
}
