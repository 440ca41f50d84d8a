/*
 * The nng gateway: nng+tcp://HOST:PORT, nng+tls+tcp://HOST:PORT,
 * nng+ipc:///path, nng+inproc://NAME.
 *
 * One REQ socket per gateway, dialed in the background (dialer.c): opening
 * succeeds while the server is down, and the gateway reconnects on its own
 * when the server goes away and comes back, so it outlives server restarts. A request waits for a
 * connection within its own time limit, request_timeout (5 s by default, never infinite).
 *
 * Thread safety: every call runs on an nng context of its own (see
 * exchange.c), so the table sets HBEAT_GATEWAY_THREAD_SAFE and one gateway
 * may serve many services and threads at once, blocking and async calls
 * mixed.
 *
 * log_heartbeat_async runs on nng's aio: done is called on an nng thread,
 * which it must not block for long; in particular it must not make blocking
 * calls on this gateway nor free it.
 *
 * nng+tls+tcp:// verifies the server's certificate against ca_file (the
 * system's CAs when not given) and the URL's host unless `insecure`, and
 * presents cert_file/key_file when given (mutual TLS). Because the dialer
 * works in the background, a TLS failure would otherwise surface only as
 * "no connection within the timeout": a blocking call that finds no
 * connection up first runs a handshake of its own (tls.c) and, when that
 * fails, returns HBEAT_ETLS naming the reason. The async heartbeat never
 * blocks for that; it reports the last reason found, if any.
 *
 * Left out: connect_timeout, which a background dialer has no use for;
 * the request timeout bounds the wait for a connection instead.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>

#include "core/builtins.h"
#include "transports/nng/nng_internal.h"

/* Longest nng dial address we build (an ipc path is far shorter). */
#define DIAL_MAX 1024

static void gateway_close(void *self)
{
    hbeat__nng_shutdown(self);
}

static void gateway_destroy(void *self)
{
    hbeat__nng_gw *gw = self;
    if (gw == NULL) {
        return;
    }
    /* close normally ran first; destroy must be safe on its own, too, for
       the failure paths of open. */
    hbeat__nng_shutdown(gw);
    hbeat__nng_free_slots(gw);
    pthread_cond_destroy(&gw->idle);
    pthread_mutex_destroy(&gw->dial_mu);
    pthread_mutex_destroy(&gw->mu);
    hbeat__nng_settings_release(&gw->set);
    free(gw->address);
    free(gw->url);
    free(gw);
}

/* ---- TLS: why no connection comes ---- */

/* With no connection up, a TLS gateway checks the handshake itself before
   waiting on nng's dialer: a certificate problem then fails the call at
   once, with its reason, instead of as a timeout. */
static int tls_precheck(hbeat__nng_gw *gw, hbeat_error *err)
{
    if (!gw->set.tls || atomic_load(&gw->pipes) > 0) {
        return 0;
    }
    hbeat_error found = HBEAT_ERROR_INIT;
    int rc = hbeat__nng_tls_probe(&gw->set, gw->url, (int)gw->set.timeout_ms, &found);
    int tls_fault = rc == HBEAT_ETLS;
    pthread_mutex_lock(&gw->mu);
    if (tls_fault) {
        gw->tls_failure = found;
    } else {
        hbeat_error_clear(&gw->tls_failure);
    }
    pthread_mutex_unlock(&gw->mu);
    if (tls_fault || rc == HBEAT_ETIMEDOUT) {
        if (err != NULL) {
            *err = found;
        }
        return rc;
    }
    /* Connected fine, or no server at all: nng's dialer takes it from here. */
    return 0;
}

/* The async path must not block on a handshake: it reports the reason a
   blocking call found last, while there is still no connection. */
static int tls_known_failure(hbeat__nng_gw *gw, hbeat_error *err)
{
    if (!gw->set.tls || atomic_load(&gw->pipes) > 0) {
        return 0;
    }
    pthread_mutex_lock(&gw->mu);
    int code = gw->tls_failure.code;
    if (code != 0 && err != NULL) {
        *err = gw->tls_failure;
    }
    pthread_mutex_unlock(&gw->mu);
    return code;
}

/* ---- one call: encode, round trip, decode ---- */

static int call(hbeat__nng_gw *gw, HbeatPb__Request *req, HbeatPb__Reply__ResultCase expect,
                hbeat__wire_arena *arena, HbeatPb__Reply **out, hbeat_error *err)
{
    if (gw->set.token != NULL) {
        req->token = gw->set.token;
    }
    int tls_rc = tls_precheck(gw, err);
    if (tls_rc != 0) {
        return tls_rc;
    }
    nng_msg *msg;
    int rc = hbeat__nng_encode(&msg, req, gw->url, err);
    if (rc != 0) {
        return rc;
    }
    nng_msg *rep;
    rc = hbeat__nng_roundtrip(gw, msg, &rep, err);
    if (rc != 0) {
        return rc;
    }
    rc = hbeat__nng_decode(out, nng_msg_body(rep), nng_msg_len(rep), expect, arena, gw->url, err);
    nng_msg_free(rep);
    return rc;
}

static int check_status_arg(const char *status, const char *what, hbeat_error *err)
{
    if (!hbeat_status_is_valid(status)) {
        return hbeat_error_set(err, HBEAT_EINVAL, "nng: %s is not a valid status token", what);
    }
    return 0;
}

static int check_beat(const hbeat_heartbeat_request *req, hbeat_error *err)
{
    if (req == NULL) {
        return hbeat_error_set(err, HBEAT_EINVAL, "nng: heartbeat request is NULL");
    }
    int rc = check_status_arg(req->status, "the heartbeat's status", err);
    if (rc == 0 && (!isfinite(req->next_report_increment) || req->next_report_increment < 0.0)) {
        rc = hbeat_error_set(err, HBEAT_EINVAL,
                             "nng: next_report_increment must be a finite number >= 0 (got %g)",
                             req->next_report_increment);
    }
    return rc;
}

/* Fills *hb and *env so that the pointers stay on the caller's stack. */
static void beat_request(HbeatPb__Request *env, HbeatPb__HeartbeatRequest *hb,
                         const hbeat_heartbeat_request *req)
{
    hbeat_pb__heartbeat_request__init(hb);
    hb->workflow_run_id = req->workflow_run_id;
    hb->status = (char *)req->status;
    hb->next_report_increment = req->next_report_increment;
    hb->sequence = req->sequence;
    hbeat_pb__request__init(env);
    env->call_case = HBEAT_PB__REQUEST__CALL_HEARTBEAT;
    env->heartbeat = hb;
}

static int gateway_log_heartbeat(void *self, const hbeat_heartbeat_request *req,
                                 hbeat_heartbeat_reply *reply, hbeat_error *err)
{
    hbeat__nng_gw *gw = self;
    int rc = check_beat(req, err);
    if (rc != 0) {
        return rc;
    }
    if (reply == NULL) {
        return hbeat_error_set(err, HBEAT_EINVAL, "nng: reply is NULL");
    }
    HbeatPb__Request env;
    HbeatPb__HeartbeatRequest hb;
    beat_request(&env, &hb, req);

    hbeat__wire_arena arena;
    hbeat__wire_arena_init(&arena);
    HbeatPb__Reply *r;
    rc = call(gw, &env, HBEAT_PB__REPLY__RESULT_HEARTBEAT, &arena, &r, err);
    if (rc != 0) {
        return rc;
    }
    rc = hbeat__wire_check_heartbeat(r->heartbeat, req->sequence, reply, gw->url, err);
    hbeat__nng_reply_free(r, &arena);
    return rc;
}

static int gateway_log_heartbeat_async(void *self, const hbeat_heartbeat_request *req,
                                       hbeat_gateway_done_fn done, void *arg, hbeat_error *err)
{
    hbeat__nng_gw *gw = self;
    int rc = check_beat(req, err);
    if (rc != 0) {
        return rc;
    }
    if (done == NULL) {
        return hbeat_error_set(err, HBEAT_EINVAL, "nng: done callback is NULL");
    }
    if ((rc = tls_known_failure(gw, err)) != 0) {
        return rc;
    }
    HbeatPb__Request env;
    HbeatPb__HeartbeatRequest hb;
    beat_request(&env, &hb, req);
    if (gw->set.token != NULL) {
        env.token = gw->set.token;
    }
    nng_msg *msg;
    rc = hbeat__nng_encode(&msg, &env, gw->url, err);
    if (rc != 0) {
        return rc;
    }
    return hbeat__nng_start_async(gw, msg, req->sequence, done, arg, err);
}

static int gateway_update_status(void *self, int64_t workflow_run_id, const char *status,
                                 hbeat_heartbeat_reply *reply, hbeat_error *err)
{
    hbeat__nng_gw *gw = self;
    int rc = check_status_arg(status, "the status", err);
    if (rc != 0) {
        return rc;
    }
    HbeatPb__UpdateStatusRequest us;
    hbeat_pb__update_status_request__init(&us);
    us.workflow_run_id = workflow_run_id;
    us.status = (char *)status;
    HbeatPb__Request env;
    hbeat_pb__request__init(&env);
    env.call_case = HBEAT_PB__REQUEST__CALL_UPDATE_STATUS;
    env.update_status = &us;

    hbeat__wire_arena arena;
    hbeat__wire_arena_init(&arena);
    HbeatPb__Reply *r;
    rc = call(gw, &env, HBEAT_PB__REPLY__RESULT_UPDATE_STATUS, &arena, &r, err);
    if (rc != 0) {
        return rc;
    }
    rc = hbeat__wire_check_status(r->update_status->status, reply, gw->url, err);
    hbeat__nng_reply_free(r, &arena);
    return rc;
}

/* ---- admin calls ---- */

/* The run a reply carries, by the call it answers. */
static const HbeatPb__RunInfo *reply_run(const HbeatPb__Reply *r)
{
    switch (r->result_case) {
    case HBEAT_PB__REPLY__RESULT_CREATE_RUN:
        return r->create_run->run;
    case HBEAT_PB__REPLY__RESULT_GET_RUN:
        return r->get_run->run;
    case HBEAT_PB__REPLY__RESULT_SET_STATUS:
        return r->set_status->run;
    default:
        return NULL;
    }
}

/* One admin call answered by a run: sends `env`, expects a reply of case
   `expect` and checks its run into *out (`want_id`: the run asked for, 0
   for any; `want_workflow`: the workflow asked for, 0 for any). */
static int run_call(hbeat__nng_gw *gw, HbeatPb__Request *env, HbeatPb__Reply__ResultCase expect,
                    int64_t want_id, int64_t want_workflow, hbeat_run_info *out, hbeat_error *err)
{
    hbeat__wire_arena arena;
    hbeat__wire_arena_init(&arena);
    HbeatPb__Reply *r;
    int rc = call(gw, env, expect, &arena, &r, err);
    if (rc != 0) {
        return rc;
    }
    const HbeatPb__RunInfo *run = reply_run(r);
    if (run != NULL && want_workflow != 0 && run->workflow_id != want_workflow) {
        rc = hbeat_error_set(err, HBEAT_EPROTO,
                             "%.160s: asked for a run of workflow %lld, got one of workflow %lld",
                             gw->url, (long long)want_workflow, (long long)run->workflow_id);
    } else {
        rc = hbeat__wire_check_run(run, want_id, out, gw->url, err);
    }
    hbeat__nng_reply_free(r, &arena);
    return rc;
}

/* inc: the run's first deadline, in seconds from its creation; NULL for
   none (the field is then absent, as an older client sends it). */
static int create_run(hbeat__nng_gw *gw, int64_t workflow_id, const char *status, const double *inc,
                      hbeat_run_info *out, hbeat_error *err)
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
    HbeatPb__Request env;
    hbeat_pb__request__init(&env);
    env.call_case = HBEAT_PB__REQUEST__CALL_CREATE_RUN;
    env.create_run = &cr;
    return run_call(gw, &env, HBEAT_PB__REPLY__RESULT_CREATE_RUN, 0, workflow_id, out, err);
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
    hbeat__nng_gw *gw = self;
    HbeatPb__GetRunRequest gr;
    hbeat_pb__get_run_request__init(&gr);
    gr.workflow_run_id = workflow_run_id;
    HbeatPb__Request env;
    hbeat_pb__request__init(&env);
    env.call_case = HBEAT_PB__REQUEST__CALL_GET_RUN;
    env.get_run = &gr;
    return run_call(gw, &env, HBEAT_PB__REPLY__RESULT_GET_RUN, workflow_run_id, 0, out, err);
}

static int gateway_set_status(void *self, int64_t workflow_run_id, const char *status, int force,
                              hbeat_run_info *out, hbeat_error *err)
{
    hbeat__nng_gw *gw = self;
    int rc = check_status_arg(status, "the status", err);
    if (rc != 0) {
        return rc;
    }
    HbeatPb__SetStatusRequest ss;
    hbeat_pb__set_status_request__init(&ss);
    ss.workflow_run_id = workflow_run_id;
    ss.status = (char *)status;
    ss.force = force != 0;
    HbeatPb__Request env;
    hbeat_pb__request__init(&env);
    env.call_case = HBEAT_PB__REQUEST__CALL_SET_STATUS;
    env.set_status = &ss;
    return run_call(gw, &env, HBEAT_PB__REPLY__RESULT_SET_STATUS, workflow_run_id, 0, out, err);
}

static int gateway_list_runs(void *self, const char *status, hbeat_run_sink_fn sink, void *ctx,
                             hbeat_error *err)
{
    hbeat__nng_gw *gw = self;
    if (sink == NULL) {
        return hbeat_error_set(err, HBEAT_EINVAL, "nng: sink is NULL");
    }
    if (status != NULL && check_status_arg(status, "the status filter", err) != 0) {
        return HBEAT_EINVAL;
    }
    int64_t after = 0;
    int64_t last_id = 0;
    for (;;) {
        HbeatPb__ListRunsRequest lr;
        hbeat_pb__list_runs_request__init(&lr);
        if (status != NULL) {
            lr.status = (char *)status;
        }
        lr.after_id = after;
        HbeatPb__Request env;
        hbeat_pb__request__init(&env);
        env.call_case = HBEAT_PB__REQUEST__CALL_LIST_RUNS;
        env.list_runs = &lr;

        hbeat__wire_arena arena;
        hbeat__wire_arena_init(&arena);
        HbeatPb__Reply *r;
        int rc = call(gw, &env, HBEAT_PB__REPLY__RESULT_LIST_RUNS, &arena, &r, err);
        if (rc != 0) {
            return rc;
        }
        const HbeatPb__ListRunsReply *page = r->list_runs;
        int stop = 0;
        rc = hbeat__wire_list_page(page, status, sink, ctx, &last_id, &stop, gw->url, err);
        int64_t next = page->next_after_id;
        size_t n = page->n_runs;
        hbeat__nng_reply_free(r, &arena);
        if (rc != 0 || stop || next == 0) {
            return rc;
        }
        if ((rc = hbeat__wire_list_advances(next, after, n, gw->url, err)) != 0) {
            return rc;
        }
        after = next;
    }
}

static const hbeat_gateway_vtable nng_vtable = {
    .version = HBEAT_GATEWAY_VTABLE_VERSION,
    .name = "nng",
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
};

/* ---- open ---- */

static int dial(hbeat__nng_gw *gw, hbeat_error *err)
{
    int rv = nng_req0_open(&gw->sock);
    if (rv != 0) {
        return hbeat__nng_fail(err, rv, HBEAT__NNG_SEND, 0, gw->url, 0.0);
    }
    gw->sock_open = 1;
    /* Also set per context; this covers contexts nng makes by itself. */
    rv = nng_socket_set_ms(gw->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    if (rv == 0) {
        rv = hbeat__nng_watch_pipes(gw);
    }
    if (rv != 0) {
        return hbeat__nng_fail(err, rv, HBEAT__NNG_SEND, 0, gw->url, 0.0);
    }
    return hbeat__nng_dialer_start(gw, &gw->dialer, err);
}

int hbeat__nng_open(hbeat_gateway **out, const char *url, const hbeat_gateway_options *opts,
                    void *data, hbeat_error *err)
{
    (void)data;
    if (out == NULL) {
        return hbeat_error_set(err, HBEAT_EINVAL, "nng: out is NULL");
    }
    char address[DIAL_MAX];
    int rc = hbeat__nng_url_to_dial(url, address, sizeof(address), err);
    if (rc != 0) {
        return rc;
    }
    hbeat__nng_gw *gw = calloc(1, sizeof(*gw));
    if (gw == NULL) {
        return hbeat_error_set(err, HBEAT_ENOMEM, "nng: out of memory");
    }
    if (pthread_mutex_init(&gw->mu, NULL) != 0) {
        free(gw);
        return hbeat_error_set(err, HBEAT_ESYSTEM, "nng: cannot create a mutex");
    }
    if (pthread_cond_init(&gw->idle, NULL) != 0) {
        pthread_mutex_destroy(&gw->mu);
        free(gw);
        return hbeat_error_set(err, HBEAT_ESYSTEM, "nng: cannot create a condition variable");
    }
    if (pthread_mutex_init(&gw->dial_mu, NULL) != 0) {
        pthread_cond_destroy(&gw->idle);
        pthread_mutex_destroy(&gw->mu);
        free(gw);
        return hbeat_error_set(err, HBEAT_ESYSTEM, "nng: cannot create a mutex");
    }
    /* From here gateway_destroy cleans up whatever was made. */
    gw->url = strdup(url);
    gw->address = strdup(address);
    if (gw->url == NULL || gw->address == NULL) {
        rc = hbeat_error_set(err, HBEAT_ENOMEM, "nng: out of memory");
    }
    if (rc == 0) {
        rc = hbeat__nng_settings_from(&gw->set, url, opts, err);
    }
    if (rc == 0) {
        rc = dial(gw, err);
    }
    if (rc == 0) {
        rc = hbeat_gateway_new(out, &nng_vtable, gw, err);
    }
    if (rc != 0) {
        gateway_destroy(gw);
    }
    return rc;
}
