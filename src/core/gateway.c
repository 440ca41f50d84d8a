#include "core/gateway_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct hbeat_gateway {
    const hbeat_gateway_vtable *vtable;
    void *self;
    /* Held around each call when the implementation is not thread-safe. */
    pthread_mutex_t mu;
    int serialize;
};

/* A member may be called only when the table's version has it and it is set. */
#define HAS_METHOD(gw, member, since) ((gw)->vtable->version >= (since) && (gw)->vtable->member)

int hbeat_gateway_new(hbeat_gateway **out, const hbeat_gateway_vtable *vtable, void *self,
                      hbeat_error *err)
{
    if (out == NULL || vtable == NULL)
        return hbeat_error_set(err, HBEAT_EINVAL, "hbeat_gateway_new: out and vtable are required");
    if (vtable->version == 0 || vtable->version > HBEAT_GATEWAY_VTABLE_VERSION)
        return hbeat_error_set(err, HBEAT_EVERSION,
                               "gateway vtable version %u is not supported (this library knows "
                               "1..%d)",
                               vtable->version, HBEAT_GATEWAY_VTABLE_VERSION);
    if (vtable->destroy == NULL || vtable->log_heartbeat == NULL)
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "gateway vtable '%s': destroy and log_heartbeat are required",
                               vtable->name != NULL ? vtable->name : "?");
    hbeat_gateway *gw = calloc(1, sizeof(*gw));
    if (gw == NULL)
        return hbeat_error_set(err, HBEAT_ENOMEM, "out of memory for a gateway");
    if (pthread_mutex_init(&gw->mu, NULL) != 0) {
        free(gw);
        return hbeat_error_set(err, HBEAT_ESYSTEM, "cannot initialise a mutex");
    }
    gw->vtable = vtable;
    gw->self = self;
    gw->serialize = !(vtable->flags & HBEAT_GATEWAY_THREAD_SAFE);
    *out = gw;
    return 0;
}

void hbeat_gateway_free(hbeat_gateway *gw)
{
    if (gw == NULL)
        return;
    if (HAS_METHOD(gw, close, 1))
        gw->vtable->close(gw->self);
    gw->vtable->destroy(gw->self);
    pthread_mutex_destroy(&gw->mu);
    free(gw);
}

void *hbeat_gateway_self(const hbeat_gateway *gw)
{
    return gw != NULL ? gw->self : NULL;
}

void *hbeat__gateway_impl(const hbeat_gateway *gw, const hbeat_gateway_vtable *vtable)
{
    return gw != NULL && gw->vtable == vtable ? gw->self : NULL;
}

const hbeat_gateway_vtable *hbeat__gateway_vtable(const hbeat_gateway *gw)
{
    return gw != NULL ? gw->vtable : NULL;
}

int hbeat__gateway_watch(hbeat_gateway *gw, int64_t workflow_run_id, hbeat_status_push_fn push,
                         void *arg, void **handle, hbeat_error *err)
{
    if (!HAS_METHOD(gw, watch, 4) || gw->vtable->unwatch == NULL)
        return hbeat_error_set(err, HBEAT_ENOTSUP, "the %s transport cannot watch a run",
                               hbeat_gateway_transport(gw));
    return gw->vtable->watch(gw->self, workflow_run_id, push, arg, handle, err);
}

void hbeat__gateway_unwatch(hbeat_gateway *gw, void *handle)
{
    if (handle != NULL)
        gw->vtable->unwatch(gw->self, handle);
}

const char *hbeat_gateway_transport(const hbeat_gateway *gw)
{
    if (gw == NULL)
        return NULL;
    return gw->vtable->name != NULL ? gw->vtable->name : "custom";
}

static const char *gw_name(const hbeat_gateway *gw)
{
    return hbeat_gateway_transport(gw);
}

static void lock(hbeat_gateway *gw)
{
    if (gw->serialize)
        pthread_mutex_lock(&gw->mu);
}

static void unlock(hbeat_gateway *gw)
{
    if (gw->serialize)
        pthread_mutex_unlock(&gw->mu);
}

/* A gateway must report failure as a negative code with a message; make
   sure the caller gets one even from a careless implementation. */
static int normalise_failure(const hbeat_gateway *gw, int rc, hbeat_error *err)
{
    if (rc > 0)
        return hbeat_error_set(err, HBEAT_EPROTO, "%s gateway returned the positive code %d",
                               gw_name(gw), rc);
    if (err != NULL) {
        err->code = rc;
        if (err->message[0] == '\0')
            hbeat_error_set(err, rc, "%s gateway: %s", gw_name(gw), hbeat_strerror(rc));
    }
    return rc;
}

int hbeat__check_reply(const hbeat_gateway *gw, const hbeat_heartbeat_reply *reply,
                       hbeat_error *err)
{
    if (memchr(reply->status, '\0', sizeof(reply->status)) == NULL ||
        !hbeat_status_is_valid(reply->status))
        return hbeat_error_set(err, HBEAT_EPROTO,
                               "%s gateway answered without a valid status token", gw_name(gw));
    return 0;
}

void hbeat__gateway_copy_reply(const hbeat_gateway *gw, const hbeat_heartbeat_reply *reply,
                               hbeat_heartbeat_reply *out)
{
    memset(out, 0, sizeof(*out));
    memcpy(out->status, reply->status, sizeof(out->status));
    /* An older gateway's own reply struct ends before `server`. */
    if (gw->vtable->version >= 3)
        memcpy(out->server, reply->server, sizeof(out->server));
}

/* Runs one call with a private error struct, so the core sees the detail
   even when its caller passed NULL. */
int hbeat__gateway_heartbeat(hbeat_gateway *gw, const hbeat_heartbeat_request *req,
                             hbeat_heartbeat_reply *reply, hbeat_error *err)
{
    hbeat_error local = HBEAT_ERROR_INIT;
    memset(reply, 0, sizeof(*reply));
    lock(gw);
    int rc = gw->vtable->log_heartbeat(gw->self, req, reply, &local);
    unlock(gw);
    if (rc == 0)
        rc = hbeat__check_reply(gw, reply, &local);
    else
        rc = normalise_failure(gw, rc, &local);
    if (rc != 0 && err != NULL)
        *err = local;
    return rc;
}

int hbeat__gateway_has_async(const hbeat_gateway *gw)
{
    return !gw->serialize && HAS_METHOD(gw, log_heartbeat_async, 1);
}

int hbeat__gateway_heartbeat_async(hbeat_gateway *gw, const hbeat_heartbeat_request *req,
                                   hbeat_gateway_done_fn done, void *arg, hbeat_error *err)
{
    hbeat_error local = HBEAT_ERROR_INIT;
    int rc = gw->vtable->log_heartbeat_async(gw->self, req, done, arg, &local);
    if (rc != 0) {
        rc = normalise_failure(gw, rc, &local);
        if (err != NULL)
            *err = local;
    }
    return rc;
}

static int check_run_id(int64_t id, hbeat_error *err)
{
    if (id <= 0)
        return hbeat_error_set(err, HBEAT_EINVAL, "workflow_run_id must be positive, not %lld",
                               (long long)id);
    return 0;
}

static int check_status(const char *status, hbeat_error *err)
{
    if (!hbeat_status_is_valid(status))
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "status must be 1 to %d printable ASCII characters without "
                               "spaces",
                               HBEAT_STATUS_MAX);
    return 0;
}

static int not_supported(const hbeat_gateway *gw, const char *call, hbeat_error *err)
{
    return hbeat_error_set(err, HBEAT_ENOTSUP, "the %s gateway does not offer %s", gw_name(gw),
                           call);
}

int hbeat_gateway_log_heartbeat(hbeat_gateway *gw, int64_t workflow_run_id, const char *status,
                                double next_report_increment, char out_status[HBEAT_STATUS_MAX + 1],
                                hbeat_error *err)
{
    if (gw == NULL || out_status == NULL)
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "hbeat_gateway_log_heartbeat: gateway and out_status are required");
    int rc = check_run_id(workflow_run_id, err);
    if (rc == 0)
        rc = check_status(status, err);
    if (rc != 0)
        return rc;
    /* 0 is Jobmon's "expect the next beat at once" (interval 0). */
    if (!isfinite(next_report_increment) || next_report_increment < 0)
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "next_report_increment must be a finite number of seconds, 0 or "
                               "more, not %g",
                               next_report_increment);
    hbeat_heartbeat_request req = {workflow_run_id, status, next_report_increment, 0, INFINITY};
    hbeat_heartbeat_reply reply;
    rc = hbeat__gateway_heartbeat(gw, &req, &reply, err);
    if (rc == 0)
        memcpy(out_status, reply.status, sizeof(reply.status));
    return rc;
}

int hbeat_gateway_update_status(hbeat_gateway *gw, int64_t workflow_run_id, const char *status,
                                char out_status[HBEAT_STATUS_MAX + 1], hbeat_error *err)
{
    if (gw == NULL || out_status == NULL)
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "hbeat_gateway_update_status: gateway and out_status are required");
    int rc = check_run_id(workflow_run_id, err);
    if (rc == 0)
        rc = check_status(status, err);
    if (rc != 0)
        return rc;
    if (!HAS_METHOD(gw, update_status, 1))
        return not_supported(gw, "update_status", err);
    hbeat_error local = HBEAT_ERROR_INIT;
    hbeat_heartbeat_reply reply;
    memset(&reply, 0, sizeof(reply));
    lock(gw);
    rc = gw->vtable->update_status(gw->self, workflow_run_id, status, &reply, &local);
    unlock(gw);
    rc = rc == 0 ? hbeat__check_reply(gw, &reply, &local) : normalise_failure(gw, rc, &local);
    if (rc != 0) {
        if (err != NULL)
            *err = local;
        return rc;
    }
    memcpy(out_status, reply.status, sizeof(reply.status));
    return 0;
}

/* Admin calls ------------------------------------------------------------ */

static int finish_run_call(hbeat_gateway *gw, int rc, hbeat_run_info *out, hbeat_error *local,
                           hbeat_error *err)
{
    if (rc == 0 && !hbeat_status_is_valid(out->status))
        rc = hbeat_error_set(local, HBEAT_EPROTO,
                             "%s gateway returned a run without a valid status", gw_name(gw));
    else if (rc != 0)
        rc = normalise_failure(gw, rc, local);
    if (rc != 0 && err != NULL)
        *err = *local;
    return rc;
}

/* The same bounds as hbeatd's (and the service's window): a year. */
#define RUN_INCREMENT_MAX (365.0 * 24 * 3600)

/* `fallback`: a gateway without create_run_with may create the run
   without a deadline (hbeat_run_create, kept working on custom gateways
   written before the deadline existed). */
static int run_create(hbeat_gateway *gw, int64_t workflow_id, const hbeat_run_create_options *opts,
                      int fallback, hbeat_run_info *out, hbeat_error *err)
{
    static const hbeat_run_create_options defaults = HBEAT_RUN_CREATE_OPTIONS_INIT;
    if (gw == NULL || out == NULL)
        return hbeat_error_set(err, HBEAT_EINVAL, "creating a run: gateway and out are required");
    if (opts == NULL)
        opts = &defaults;
    if (opts->version == 0 || opts->version > HBEAT_RUN_CREATE_OPTIONS_VERSION)
        return hbeat_error_set(err, HBEAT_EVERSION,
                               "run create options version %u is not supported (this library "
                               "knows 1..%d); start from HBEAT_RUN_CREATE_OPTIONS_INIT",
                               opts->version, HBEAT_RUN_CREATE_OPTIONS_VERSION);
    if (workflow_id <= 0)
        return hbeat_error_set(err, HBEAT_EINVAL, "workflow_id must be positive, not %lld",
                               (long long)workflow_id);
    hbeat_run_create_options o = *opts;
    o.version = HBEAT_RUN_CREATE_OPTIONS_VERSION;
    if (o.status == NULL)
        o.status = HBEAT_STATUS_REGISTERED;
    int rc = check_status(o.status, err);
    if (rc != 0)
        return rc;
    if (!o.no_deadline && !(isfinite(o.next_report_increment) && o.next_report_increment >= 0 &&
                            o.next_report_increment <= RUN_INCREMENT_MAX))
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "next_report_increment must be a number of seconds from 0 to %.0f, "
                               "not %g (no_deadline creates a run without a deadline)",
                               RUN_INCREMENT_MAX, o.next_report_increment);
    int with = HAS_METHOD(gw, create_run_with, 2);
    if (!with && !HAS_METHOD(gw, create_run, 1))
        return not_supported(gw, "create_run", err);
    if (!with && !o.no_deadline && !fallback)
        return hbeat_error_set(err, HBEAT_ENOTSUP,
                               "the %s gateway cannot give a new run a deadline (its method table "
                               "has no create_run_with); set no_deadline to create it without one",
                               gw_name(gw));
    hbeat_error local = HBEAT_ERROR_INIT;
    memset(out, 0, sizeof(*out));
    lock(gw);
    if (with)
        rc = gw->vtable->create_run_with(gw->self, workflow_id, &o, out, &local);
    else
        rc = gw->vtable->create_run(gw->self, workflow_id, o.status, out, &local);
    unlock(gw);
    return finish_run_call(gw, rc, out, &local, err);
}

int hbeat_run_create_with(hbeat_gateway *gw, int64_t workflow_id,
                          const hbeat_run_create_options *opts, hbeat_run_info *out,
                          hbeat_error *err)
{
    return run_create(gw, workflow_id, opts, 0, out, err);
}

int hbeat_run_create(hbeat_gateway *gw, int64_t workflow_id, const char *status,
                     hbeat_run_info *out, hbeat_error *err)
{
    hbeat_run_create_options o = HBEAT_RUN_CREATE_OPTIONS_INIT;
    o.status = status;
    return run_create(gw, workflow_id, &o, 1, out, err);
}

int hbeat_run_get(hbeat_gateway *gw, int64_t workflow_run_id, hbeat_run_info *out, hbeat_error *err)
{
    if (gw == NULL || out == NULL)
        return hbeat_error_set(err, HBEAT_EINVAL, "hbeat_run_get: gateway and out are required");
    int rc = check_run_id(workflow_run_id, err);
    if (rc != 0)
        return rc;
    if (!HAS_METHOD(gw, get_run, 1))
        return not_supported(gw, "get_run", err);
    hbeat_error local = HBEAT_ERROR_INIT;
    memset(out, 0, sizeof(*out));
    lock(gw);
    rc = gw->vtable->get_run(gw->self, workflow_run_id, out, &local);
    unlock(gw);
    return finish_run_call(gw, rc, out, &local, err);
}

int hbeat_run_set_status(hbeat_gateway *gw, int64_t workflow_run_id, const char *status, int force,
                         hbeat_run_info *out, hbeat_error *err)
{
    if (gw == NULL || out == NULL)
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "hbeat_run_set_status: gateway and out are required");
    int rc = check_run_id(workflow_run_id, err);
    if (rc == 0)
        rc = check_status(status, err);
    if (rc != 0)
        return rc;
    if (!HAS_METHOD(gw, set_status, 1))
        return not_supported(gw, "set_status", err);
    hbeat_error local = HBEAT_ERROR_INIT;
    memset(out, 0, sizeof(*out));
    lock(gw);
    rc = gw->vtable->set_status(gw->self, workflow_run_id, status, force != 0, out, &local);
    unlock(gw);
    return finish_run_call(gw, rc, out, &local, err);
}

typedef struct run_list {
    hbeat_run_info *runs;
    size_t count;
    size_t cap;
    int failed;
} run_list;

static int collect_run(void *ctx, const hbeat_run_info *run)
{
    run_list *list = ctx;
    if (list->count == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 16;
        hbeat_run_info *grown = realloc(list->runs, cap * sizeof(*grown));
        if (grown == NULL) {
            list->failed = 1;
            return 1;
        }
        list->runs = grown;
        list->cap = cap;
    }
    list->runs[list->count++] = *run;
    return 0;
}

int hbeat_run_list(hbeat_gateway *gw, const char *status, hbeat_run_info **out, size_t *count,
                   hbeat_error *err)
{
    if (gw == NULL || out == NULL || count == NULL)
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "hbeat_run_list: gateway, out and count are required");
    if (status != NULL && status[0] != '\0') {
        int rc = check_status(status, err);
        if (rc != 0)
            return rc;
    } else {
        status = NULL;
    }
    if (!HAS_METHOD(gw, list_runs, 1))
        return not_supported(gw, "list_runs", err);
    run_list list = {NULL, 0, 0, 0};
    hbeat_error local = HBEAT_ERROR_INIT;
    lock(gw);
    int rc = gw->vtable->list_runs(gw->self, status, collect_run, &list, &local);
    unlock(gw);
    if (rc == 0 && list.failed)
        rc = hbeat_error_set(&local, HBEAT_ENOMEM, "out of memory listing runs");
    else if (rc != 0)
        rc = normalise_failure(gw, rc, &local);
    if (rc != 0) {
        free(list.runs);
        if (err != NULL)
            *err = local;
        return rc;
    }
    *out = list.runs;
    *count = list.count;
    return 0;
}

void hbeat_run_list_free(hbeat_run_info *runs)
{
    free(runs);
}
