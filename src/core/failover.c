/* The failover gateway: its life cycle, and the blocking calls, each sent
   to the members in turn as failover_rules.c allows. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/failover_internal.h"
#include "core/gateway_internal.h"

/* A call that is safe to send to a second server, or not (a new run). */
enum { ONCE = 0, RESEND = 1 };

typedef int (*attempt_fn)(void *ctx, hbeat_gateway *member, hbeat_error *err);

static int closed(hbeat__failover *fo, hbeat_error *err)
{
    pthread_mutex_lock(&fo->mu);
    int closing = fo->closing;
    pthread_mutex_unlock(&fo->mu);
    return closing ? hbeat_error_set(err, HBEAT_ECANCELED, "failover gateway: closed") : 0;
}

/* A server's own answer, named after the server. */
static int answer_error(const hbeat__failover *fo, int member, hbeat_error *e, hbeat_error *err)
{
    hbeat__failover_message(e->message, "", fo->names[member], "");
    if (err != NULL)
        *err = *e;
    return e->code;
}

/* Sends one call to the members in turn; `*member` gets the one that
   answered. */
static int run_call(hbeat__failover *fo, double lease_remaining, int resend, attempt_fn attempt,
                    void *ctx, int *member, hbeat_error *err)
{
    hbeat__failover_trail t;
    hbeat__failover_trail_begin(&t, fo, lease_remaining);
    for (;;) {
        int m = hbeat__failover_trail_member(&t);
        hbeat_error e = HBEAT_ERROR_INIT;
        int rc = closed(fo, &e);
        if (rc == 0)
            rc = attempt(ctx, fo->members[m], &e);
        if (rc == 0 || !hbeat__failover_moves_on(rc)) {
            if (rc == HBEAT_ECANCELED)
                return hbeat_error_set(err, rc, "failover gateway: closed");
            hbeat__failover_answered(fo, m);
            *member = m;
            if (rc != 0) {
                e.code = rc;
                return answer_error(fo, m, &e, err);
            }
            return 0;
        }
        if (!hbeat__failover_trail_failed(&t, rc, &e, resend))
            return hbeat__failover_trail_error(&t, err);
    }
}

/* ---- heartbeat and status update ---------------------------------------- */

typedef struct beat_ctx {
    const hbeat_heartbeat_request *req;
    int64_t run_id;
    const char *status;
    hbeat_heartbeat_reply reply;
} beat_ctx;

static int beat_attempt(void *ctx, hbeat_gateway *member, hbeat_error *err)
{
    beat_ctx *c = ctx;
    return hbeat__gateway_heartbeat(member, c->req, &c->reply, err);
}

static void answered_by(const hbeat__failover *fo, int member, const beat_ctx *c,
                        hbeat_heartbeat_reply *reply)
{
    memcpy(reply->status, c->reply.status, sizeof(reply->status));
    memcpy(reply->server, fo->names[member], sizeof(reply->server));
}

static int fo_log_heartbeat(void *self, const hbeat_heartbeat_request *req,
                            hbeat_heartbeat_reply *reply, hbeat_error *err)
{
    hbeat__failover *fo = self;
    beat_ctx c = {req, 0, NULL, {{0}, {0}}};
    int member = 0;
    int rc = run_call(fo, req->lease_remaining, RESEND, beat_attempt, &c, &member, err);
    if (rc == 0)
        answered_by(fo, member, &c, reply);
    return rc;
}

static int update_attempt(void *ctx, hbeat_gateway *member, hbeat_error *err)
{
    beat_ctx *c = ctx;
    return hbeat_gateway_update_status(member, c->run_id, c->status, c->reply.status, err);
}

static int fo_update_status(void *self, int64_t workflow_run_id, const char *status,
                            hbeat_heartbeat_reply *reply, hbeat_error *err)
{
    hbeat__failover *fo = self;
    beat_ctx c = {NULL, workflow_run_id, status, {{0}, {0}}};
    int member = 0;
    int rc = run_call(fo, INFINITY, RESEND, update_attempt, &c, &member, err);
    if (rc == 0)
        answered_by(fo, member, &c, reply);
    return rc;
}

/* ---- admin calls ---------------------------------------------------------- */

typedef struct run_ctx {
    int64_t id; /* workflow id for create, else the run's id */
    const char *status;
    int force;
    const hbeat_run_create_options *create;
    hbeat_run_info *out;
    hbeat_run_info *runs;
    size_t count;
} run_ctx;

static int create_attempt(void *ctx, hbeat_gateway *member, hbeat_error *err)
{
    run_ctx *c = ctx;
    return hbeat_run_create_with(member, c->id, c->create, c->out, err);
}

static int fo_create_run_with(void *self, int64_t workflow_id, const hbeat_run_create_options *opts,
                              hbeat_run_info *out, hbeat_error *err)
{
    run_ctx c = {workflow_id, NULL, 0, opts, out, NULL, 0};
    int member;
    return run_call(self, INFINITY, ONCE, create_attempt, &c, &member, err);
}

static int get_attempt(void *ctx, hbeat_gateway *member, hbeat_error *err)
{
    run_ctx *c = ctx;
    return hbeat_run_get(member, c->id, c->out, err);
}

static int fo_get_run(void *self, int64_t workflow_run_id, hbeat_run_info *out, hbeat_error *err)
{
    run_ctx c = {workflow_run_id, NULL, 0, NULL, out, NULL, 0};
    int member;
    return run_call(self, INFINITY, RESEND, get_attempt, &c, &member, err);
}

static int set_attempt(void *ctx, hbeat_gateway *member, hbeat_error *err)
{
    run_ctx *c = ctx;
    return hbeat_run_set_status(member, c->id, c->status, c->force, c->out, err);
}

static int fo_set_status(void *self, int64_t workflow_run_id, const char *status, int force,
                         hbeat_run_info *out, hbeat_error *err)
{
    run_ctx c = {workflow_run_id, status, force, NULL, out, NULL, 0};
    int member;
    return run_call(self, INFINITY, RESEND, set_attempt, &c, &member, err);
}

/* The whole list comes from one server before any run reaches the sink,
   so a server that fails half way sends nothing twice. */
static int list_attempt(void *ctx, hbeat_gateway *member, hbeat_error *err)
{
    run_ctx *c = ctx;
    return hbeat_run_list(member, c->status, &c->runs, &c->count, err);
}

static int fo_list_runs(void *self, const char *status, hbeat_run_sink_fn sink, void *ctx,
                        hbeat_error *err)
{
    run_ctx c = {0, status, 0, NULL, NULL, NULL, 0};
    int member;
    int rc = run_call(self, INFINITY, RESEND, list_attempt, &c, &member, err);
    for (size_t i = 0; rc == 0 && i < c.count; i++) {
        if (sink(ctx, &c.runs[i]) != 0)
            break;
    }
    hbeat_run_list_free(c.runs);
    return rc;
}

/* ---- life cycle ------------------------------------------------------------ */

static void fo_close(void *self)
{
    hbeat__failover *fo = self;
    pthread_mutex_lock(&fo->mu);
    fo->closing = 1;
    while (fo->starting > 0)
        pthread_cond_wait(&fo->idle, &fo->mu);
    pthread_mutex_unlock(&fo->mu);
    /* Each member cancels its calls in flight; their completions see
       `closing` and start nothing on another member. */
    for (size_t i = 0; i < fo->count; i++) {
        hbeat_gateway_free(fo->members[i]);
        fo->members[i] = NULL;
    }
}

static void fo_destroy(void *self)
{
    hbeat__failover *fo = self;
    for (size_t i = 0; i < fo->count; i++)
        hbeat_gateway_free(fo->members[i]);
    pthread_cond_destroy(&fo->idle);
    pthread_mutex_destroy(&fo->mu);
    free(fo);
}

#define FAILOVER_METHODS                                                                           \
    .version = HBEAT_GATEWAY_VTABLE_VERSION, .name = "failover",                                   \
    .flags = HBEAT_GATEWAY_THREAD_SAFE, .destroy = fo_destroy, .log_heartbeat = fo_log_heartbeat,  \
    .close = fo_close, .update_status = fo_update_status, .get_run = fo_get_run,                   \
    .list_runs = fo_list_runs, .set_status = fo_set_status, .create_run_with = fo_create_run_with

/* The asynchronous heartbeat only when every member has one: a member
   without would need a thread per call. The service then runs the
   blocking call on its worker thread, as it does for such a member. */
static const hbeat_gateway_vtable failover_vtable = {FAILOVER_METHODS};
static const hbeat_gateway_vtable failover_async_vtable = {
    FAILOVER_METHODS, .log_heartbeat_async = hbeat__failover_heartbeat_async};

static int check_new(hbeat_gateway *const *members, const char *const *names, size_t count,
                     const hbeat_failover_options *opts, hbeat_error *err)
{
    if (count == 0 || count > HBEAT_URL_MAX_SERVERS || members == NULL)
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "a failover gateway takes 1 to %d members, not %zu",
                               HBEAT_URL_MAX_SERVERS, count);
    if (opts->version == 0 || opts->version > HBEAT_FAILOVER_OPTIONS_VERSION)
        return hbeat_error_set(err, HBEAT_EVERSION,
                               "failover options version %u is not supported (this library "
                               "knows 1..%d); start from HBEAT_FAILOVER_OPTIONS_INIT",
                               opts->version, HBEAT_FAILOVER_OPTIONS_VERSION);
    for (size_t i = 0; i < count; i++) {
        if (members[i] == NULL)
            return hbeat_error_set(err, HBEAT_EINVAL, "failover member %zu is NULL", i + 1);
        for (size_t j = 0; j < i; j++) {
            if (members[j] == members[i])
                return hbeat_error_set(err, HBEAT_EINVAL,
                                       "failover members %zu and %zu are the same gateway", j + 1,
                                       i + 1);
        }
        if (names != NULL && names[i] != NULL &&
            (names[i][0] == '\0' || strlen(names[i]) > HBEAT_SERVER_NAME_MAX))
            return hbeat_error_set(err, HBEAT_EINVAL,
                                   "failover member %zu: a name is 1 to %d bytes long", i + 1,
                                   HBEAT_SERVER_NAME_MAX);
    }
    return 0;
}

int hbeat_failover_gateway_new(hbeat_gateway **out, hbeat_gateway *const *members,
                               const char *const *names, size_t count,
                               const hbeat_failover_options *opts, hbeat_error *err)
{
    static const hbeat_failover_options defaults = HBEAT_FAILOVER_OPTIONS_INIT;
    if (out == NULL)
        return hbeat_error_set(err, HBEAT_EINVAL, "hbeat_failover_gateway_new: out is required");
    if (opts == NULL)
        opts = &defaults;
    int rc = check_new(members, names, count, opts, err);
    if (rc != 0)
        return rc;
    hbeat__failover *fo = calloc(1, sizeof(*fo));
    if (fo == NULL)
        return hbeat_error_set(err, HBEAT_ENOMEM, "out of memory for a failover gateway");
    if (pthread_mutex_init(&fo->mu, NULL) != 0) {
        free(fo);
        return hbeat_error_set(err, HBEAT_ESYSTEM, "cannot initialise a mutex");
    }
    pthread_cond_init(&fo->idle, NULL);
    fo->clock = opts->clock != NULL ? opts->clock : hbeat_clock_system();
    int async = 1;
    for (size_t i = 0; i < count; i++) {
        if (names != NULL && names[i] != NULL)
            snprintf(fo->names[i], sizeof(fo->names[i]), "%s", names[i]);
        else
            snprintf(fo->names[i], sizeof(fo->names[i]), "#%zu", i + 1);
        async = async && hbeat__gateway_has_async(members[i]);
    }
    rc = hbeat_gateway_new(out, async ? &failover_async_vtable : &failover_vtable, fo, err);
    if (rc != 0) {
        fo_destroy(fo); /* members not yet taken: count is still 0 */
        return rc;
    }
    memcpy(fo->members, members, count * sizeof(*members));
    fo->count = count;
    return 0;
}

int hbeat_failover_gateway_current(const hbeat_gateway *gw)
{
    hbeat__failover *fo = hbeat__gateway_impl(gw, &failover_vtable);
    if (fo == NULL)
        fo = hbeat__gateway_impl(gw, &failover_async_vtable);
    return fo != NULL ? __atomic_load_n(&fo->current, __ATOMIC_ACQUIRE) : -1;
}
