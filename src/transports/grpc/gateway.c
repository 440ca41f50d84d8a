/*
 * The gRPC gateway: grpc://HOST:PORT (plaintext HTTP/2) and
 * grpcs://HOST:PORT (TLS), calling hbeat.v1.HeartbeatService on gRPC's C
 * core library.
 *
 * One channel per gateway, shared by every service and thread that uses
 * it (HBEAT_GATEWAY_THREAD_SAFE): gRPC multiplexes the calls over one
 * connection. Opening succeeds while the server is down; the channel
 * connects on the first call and reconnects by itself after the server
 * restarts (calls.c).
 *
 * log_heartbeat_async completes on the gateway's completion queue thread:
 * done runs there and must not block for long; in particular it must not
 * make blocking calls on this gateway nor free it.
 *
 * grpcs:// verifies the server's certificate against ca_file (gRPC's
 * default roots when not given) and the URL's host unless `insecure`, and
 * presents cert_file/key_file when given (mutual TLS). A failed handshake
 * is HBEAT_ETLS with gRPC's reason.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/builtins.h"
#include "transports/grpc/grpc_internal.h"

static void gateway_close(void *self)
{
    hbeat__grpc_shutdown(self);
}

static void gateway_destroy(void *self)
{
    hbeat__grpc_gw *gw = self;
    if (gw == NULL) {
        return;
    }
    /* close normally ran first; destroy must be safe on its own, too, for
       the failure paths of open. */
    hbeat__grpc_shutdown(gw);
    hbeat__grpc_disconnect(gw);
    pthread_cond_destroy(&gw->idle);
    pthread_mutex_destroy(&gw->mu);
    hbeat__grpc_settings_release(&gw->set);
    free(gw->url);
    free(gw);
}

static int check_status_arg(const char *status, const char *what, hbeat_error *err)
{
    if (!hbeat_status_is_valid(status)) {
        return hbeat_error_set(err, HBEAT_EINVAL, "gRPC: %s is not a valid status token", what);
    }
    return 0;
}

static int check_beat(const hbeat_heartbeat_request *req, hbeat_error *err)
{
    if (req == NULL) {
        return hbeat_error_set(err, HBEAT_EINVAL, "gRPC: heartbeat request is NULL");
    }
    int rc = check_status_arg(req->status, "the heartbeat's status", err);
    if (rc == 0 && (!isfinite(req->next_report_increment) || req->next_report_increment < 0.0)) {
        rc = hbeat_error_set(err, HBEAT_EINVAL,
                             "gRPC: next_report_increment must be a finite number >= 0 (got %g)",
                             req->next_report_increment);
    }
    return rc;
}

static void beat_message(HbeatPb__HeartbeatRequest *hb, const hbeat_heartbeat_request *req)
{
    hbeat_pb__heartbeat_request__init(hb);
    hb->workflow_run_id = req->workflow_run_id;
    hb->status = (char *)req->status;
    hb->next_report_increment = req->next_report_increment;
    hb->sequence = req->sequence;
}

static int gateway_log_heartbeat(void *self, const hbeat_heartbeat_request *req,
                                 hbeat_heartbeat_reply *reply, hbeat_error *err)
{
    hbeat__grpc_gw *gw = self;
    int rc = check_beat(req, err);
    if (rc != 0) {
        return rc;
    }
    if (reply == NULL) {
        return hbeat_error_set(err, HBEAT_EINVAL, "gRPC: reply is NULL");
    }
    HbeatPb__HeartbeatRequest hb;
    beat_message(&hb, req);
    hbeat__wire_arena arena;
    hbeat__wire_arena_init(&arena);
    ProtobufCMessage *r;
    rc = hbeat__grpc_call_blocking(gw, HBEAT__GRPC_LOG_HEARTBEAT, &hb.base, &arena, &r, err);
    if (rc != 0) {
        return rc;
    }
    rc = hbeat__wire_check_heartbeat((HbeatPb__HeartbeatReply *)r, req->sequence, reply, gw->url,
                                     err);
    hbeat__grpc_reply_free(r, &arena);
    return rc;
}

/* An asynchronous beat in flight: what its completion needs. */
typedef struct beat_async {
    hbeat__grpc_gw *gw;
    uint64_t sequence;
    hbeat_gateway_done_fn done;
    void *arg;
} beat_async;

static void beat_finished(void *arg, int rc, ProtobufCMessage *r, hbeat__wire_arena *arena,
                          const hbeat_error *err)
{
    beat_async *b = arg;
    hbeat_heartbeat_reply reply;
    hbeat_error mine = HBEAT_ERROR_INIT;
    if (rc == 0) {
        rc = hbeat__wire_check_heartbeat((HbeatPb__HeartbeatReply *)r, b->sequence, &reply,
                                         b->gw->url, &mine);
        hbeat__grpc_reply_free(r, arena);
        err = &mine;
    }
    b->done(b->arg, rc, rc == 0 ? &reply : NULL, rc == 0 ? NULL : err);
    free(b);
}

static int gateway_log_heartbeat_async(void *self, const hbeat_heartbeat_request *req,
                                       hbeat_gateway_done_fn done, void *arg, hbeat_error *err)
{
    hbeat__grpc_gw *gw = self;
    int rc = check_beat(req, err);
    if (rc != 0) {
        return rc;
    }
    if (done == NULL) {
        return hbeat_error_set(err, HBEAT_EINVAL, "gRPC: done callback is NULL");
    }
    beat_async *b = malloc(sizeof(*b));
    if (b == NULL) {
        return hbeat_error_set(err, HBEAT_ENOMEM, "gRPC: out of memory");
    }
    *b = (beat_async){gw, req->sequence, done, arg};
    HbeatPb__HeartbeatRequest hb;
    beat_message(&hb, req);
    rc = hbeat__grpc_call_async(gw, HBEAT__GRPC_LOG_HEARTBEAT, &hb.base, beat_finished, b, err);
    if (rc != 0) {
        free(b);
    }
    return rc;
}

static int gateway_update_status(void *self, int64_t workflow_run_id, const char *status,
                                 hbeat_heartbeat_reply *reply, hbeat_error *err)
{
    hbeat__grpc_gw *gw = self;
    int rc = check_status_arg(status, "the status", err);
    if (rc != 0) {
        return rc;
    }
    HbeatPb__UpdateStatusRequest us;
    hbeat_pb__update_status_request__init(&us);
    us.workflow_run_id = workflow_run_id;
    us.status = (char *)status;
    hbeat__wire_arena arena;
    hbeat__wire_arena_init(&arena);
    ProtobufCMessage *r;
    rc = hbeat__grpc_call_blocking(gw, HBEAT__GRPC_UPDATE_STATUS, &us.base, &arena, &r, err);
    if (rc != 0) {
        return rc;
    }
    rc = hbeat__wire_check_status(((HbeatPb__UpdateStatusReply *)r)->status, reply, gw->url, err);
    hbeat__grpc_reply_free(r, &arena);
    return rc;
}

/* ---- admin calls ---- */

/* The run a reply carries; the three replies hold only that. */
static const HbeatPb__RunInfo *reply_run(hbeat__grpc_method m, const ProtobufCMessage *r)
{
    switch (m) {
    case HBEAT__GRPC_CREATE_RUN:
        return ((const HbeatPb__CreateRunReply *)r)->run;
    case HBEAT__GRPC_GET_RUN:
        return ((const HbeatPb__GetRunReply *)r)->run;
    default:
        return ((const HbeatPb__SetStatusReply *)r)->run;
    }
}

/* One admin call answered by a run, checked into *out (`want_id`: the run
   asked for, 0 for any; `want_workflow`: the workflow asked for, 0 for
   any). */
static int run_call(hbeat__grpc_gw *gw, hbeat__grpc_method m, const ProtobufCMessage *req,
                    int64_t want_id, int64_t want_workflow, hbeat_run_info *out, hbeat_error *err)
{
    hbeat__wire_arena arena;
    hbeat__wire_arena_init(&arena);
    ProtobufCMessage *r;
    int rc = hbeat__grpc_call_blocking(gw, m, req, &arena, &r, err);
    if (rc != 0) {
        return rc;
    }
    const HbeatPb__RunInfo *run = reply_run(m, r);
    if (run != NULL && want_workflow != 0 && run->workflow_id != want_workflow) {
        rc = hbeat_error_set(err, HBEAT_EPROTO,
                             "%.160s: asked for a run of workflow %lld, got one of workflow %lld",
                             gw->url, (long long)want_workflow, (long long)run->workflow_id);
    } else {
        rc = hbeat__wire_check_run(run, want_id, out, gw->url, err);
    }
    hbeat__grpc_reply_free(r, &arena);
    return rc;
}

/* inc: the run's first deadline in seconds from its creation; NULL for
   none (the field is then absent, as an older client sends it). */
static int create_run(hbeat__grpc_gw *gw, int64_t workflow_id, const char *status,
                      const double *inc, hbeat_run_info *out, hbeat_error *err)
{
    if (status != NULL && check_status_arg(status, "the new run's status", err) != 0) {
        return HBEAT_EINVAL;
    }
    HbeatPb__CreateRunRequest cr;
    hbeat_pb__create_run_request__init(&cr);
    cr.workflow_id = workflow_id;
    if (status != NULL) {
        cr.status = (char *)status;
    }
    if (inc != NULL) {
        cr.first_deadline_case = HBEAT_PB__CREATE_RUN_REQUEST__FIRST_DEADLINE_NEXT_REPORT_INCREMENT;
        cr.next_report_increment = *inc;
    }
    return run_call(gw, HBEAT__GRPC_CREATE_RUN, &cr.base, 0, workflow_id, out, err);
}

static int gateway_create_run(void *self, int64_t workflow_id, const char *status,
                              hbeat_run_info *out, hbeat_error *err)
{
    return create_run(self, workflow_id, status, NULL, out, err);
}

static int gateway_create_run_with(void *self, int64_t workflow_id,
                                   const hbeat_run_create_options *opts, hbeat_run_info *out,
                                   hbeat_error *err)
{
    return create_run(self, workflow_id, opts->status,
                      opts->no_deadline ? NULL : &opts->next_report_increment, out, err);
}

static int gateway_get_run(void *self, int64_t workflow_run_id, hbeat_run_info *out,
                           hbeat_error *err)
{
    HbeatPb__GetRunRequest gr;
    hbeat_pb__get_run_request__init(&gr);
    gr.workflow_run_id = workflow_run_id;
    return run_call(self, HBEAT__GRPC_GET_RUN, &gr.base, workflow_run_id, 0, out, err);
}

static int gateway_set_status(void *self, int64_t workflow_run_id, const char *status, int force,
                              hbeat_run_info *out, hbeat_error *err)
{
    int rc = check_status_arg(status, "the status", err);
    if (rc != 0) {
        return rc;
    }
    HbeatPb__SetStatusRequest ss;
    hbeat_pb__set_status_request__init(&ss);
    ss.workflow_run_id = workflow_run_id;
    ss.status = (char *)status;
    ss.force = force != 0;
    return run_call(self, HBEAT__GRPC_SET_STATUS, &ss.base, workflow_run_id, 0, out, err);
}

static int gateway_list_runs(void *self, const char *status, hbeat_run_sink_fn sink, void *ctx,
                             hbeat_error *err)
{
    hbeat__grpc_gw *gw = self;
    if (sink == NULL) {
        return hbeat_error_set(err, HBEAT_EINVAL, "gRPC: sink is NULL");
    }
    if (status != NULL && check_status_arg(status, "the status filter", err) != 0) {
        return HBEAT_EINVAL;
    }
    int64_t after = 0, last_id = 0;
    for (;;) {
        HbeatPb__ListRunsRequest lr;
        hbeat_pb__list_runs_request__init(&lr);
        if (status != NULL) {
            lr.status = (char *)status;
        }
        lr.after_id = after;
        hbeat__wire_arena arena;
        hbeat__wire_arena_init(&arena);
        ProtobufCMessage *r;
        int rc = hbeat__grpc_call_blocking(gw, HBEAT__GRPC_LIST_RUNS, &lr.base, &arena, &r, err);
        if (rc != 0) {
            return rc;
        }
        const HbeatPb__ListRunsReply *page = (const HbeatPb__ListRunsReply *)r;
        int stop = 0;
        rc = hbeat__wire_list_page(page, status, sink, ctx, &last_id, &stop, gw->url, err);
        int64_t next = page->next_after_id;
        size_t n = page->n_runs;
        hbeat__grpc_reply_free(r, &arena);
        if (rc != 0 || stop || next == 0) {
            return rc;
        }
        if ((rc = hbeat__wire_list_advances(next, after, n, gw->url, err)) != 0) {
            return rc;
        }
        after = next;
    }
}

const hbeat_gateway_vtable hbeat__grpc_vtable = {
    .version = HBEAT_GATEWAY_VTABLE_VERSION,
    .name = "grpc",
    .flags = HBEAT_GATEWAY_THREAD_SAFE,
    .destroy = gateway_destroy,
    .log_heartbeat = gateway_log_heartbeat,
    .log_heartbeat_async = gateway_log_heartbeat_async,
    .close = gateway_close,
    .update_status = gateway_update_status,
    .create_run = gateway_create_run,
    .create_run_with = gateway_create_run_with,
    .get_run = gateway_get_run,
    .list_runs = gateway_list_runs,
    .set_status = gateway_set_status,
    .watch = hbeat__grpc_watch_start,
    .unwatch = hbeat__grpc_unwatch,
};

int hbeat__grpc_open(hbeat_gateway **out, const char *url, const hbeat_gateway_options *opts,
                     void *data, hbeat_error *err)
{
    (void)data;
    if (out == NULL) {
        return hbeat_error_set(err, HBEAT_EINVAL, "gRPC: out is NULL");
    }
    char target[HBEAT__GRPC_TARGET_MAX];
    int tls;
    int rc = hbeat__grpc_url_target(url, target, sizeof(target), &tls, err);
    if (rc != 0) {
        return rc;
    }
    hbeat__grpc_gw *gw = calloc(1, sizeof(*gw));
    if (gw == NULL) {
        return hbeat_error_set(err, HBEAT_ENOMEM, "gRPC: out of memory");
    }
    if (pthread_mutex_init(&gw->mu, NULL) != 0) {
        free(gw);
        return hbeat_error_set(err, HBEAT_ESYSTEM, "gRPC: cannot create a mutex");
    }
    if (pthread_cond_init(&gw->idle, NULL) != 0) {
        pthread_mutex_destroy(&gw->mu);
        free(gw);
        return hbeat_error_set(err, HBEAT_ESYSTEM, "gRPC: cannot create a condition variable");
    }
    /* From here gateway_destroy cleans up whatever was made. */
    gw->url = strdup(url);
    if (gw->url == NULL) {
        rc = hbeat_error_set(err, HBEAT_ENOMEM, "gRPC: out of memory");
    }
    if (rc == 0) {
        rc = hbeat__grpc_settings_from(&gw->set, url, tls, opts, err);
    }
    if (rc == 0) {
        rc = hbeat__grpc_connect(gw, target, err);
    }
    if (rc == 0) {
        rc = hbeat_gateway_new(out, &hbeat__grpc_vtable, gw, err);
    }
    if (rc != 0) {
        gateway_destroy(gw);
    }
    return rc;
}
