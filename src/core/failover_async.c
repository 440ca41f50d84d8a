/* The failover gateway's asynchronous heartbeat: a member's completion
   starts the same beat on the next member, on the member's own thread,
   so a failover costs no thread of its own. */
#include <stdlib.h>
#include <string.h>

#include "core/failover_internal.h"
#include "core/gateway_internal.h"

typedef struct async_call {
    hbeat__failover_trail trail;
    hbeat_heartbeat_request req;
    char status[HBEAT_STATUS_MAX + 1];
    hbeat_gateway_done_fn done;
    void *arg;
} async_call;

static void on_member_done(void *arg, int rc, const hbeat_heartbeat_reply *reply,
                           const hbeat_error *err);

/* Counted in fo->starting, so that close does not free the member under
   the start. 0, or HBEAT_ECANCELED once the gateway closes. */
static int begin_start(hbeat__failover *fo)
{
    pthread_mutex_lock(&fo->mu);
    int closing = fo->closing;
    if (!closing)
        fo->starting++;
    pthread_mutex_unlock(&fo->mu);
    return closing ? HBEAT_ECANCELED : 0;
}

static void end_start(hbeat__failover *fo)
{
    pthread_mutex_lock(&fo->mu);
    if (--fo->starting == 0)
        pthread_cond_broadcast(&fo->idle);
    pthread_mutex_unlock(&fo->mu);
}

/* Starts the beat on the next member that takes it. 0: in flight, and
   `c` belongs to the completion from then on (it may already be freed).
   Otherwise the error, and `c` is still the caller's. */
static int launch(async_call *c, hbeat_error *err)
{
    hbeat__failover *fo = c->trail.fo;
    for (;;) {
        int m = hbeat__failover_trail_member(&c->trail);
        hbeat_error e = HBEAT_ERROR_INIT;
        int rc = begin_start(fo);
        if (rc != 0)
            return hbeat_error_set(err, rc, "failover gateway: closed");
        rc = hbeat__gateway_heartbeat_async(fo->members[m], &c->req, on_member_done, c, &e);
        end_start(fo);
        if (rc == 0)
            return 0;
        if (!hbeat__failover_moves_on(rc)) {
            hbeat__failover_answered(fo, m);
            hbeat__failover_trail_failed(&c->trail, rc, &e, 0);
            return hbeat__failover_trail_error(&c->trail, err);
        }
        if (!hbeat__failover_trail_failed(&c->trail, rc, &e, 1))
            return hbeat__failover_trail_error(&c->trail, err);
    }
}

static void finish(async_call *c, int rc, const hbeat_heartbeat_reply *reply,
                   const hbeat_error *err)
{
    c->done(c->arg, rc, rc == 0 ? reply : NULL, rc == 0 ? NULL : err);
    free(c);
}

static void on_member_done(void *arg, int rc, const hbeat_heartbeat_reply *reply,
                           const hbeat_error *member_err)
{
    async_call *c = arg;
    hbeat__failover *fo = c->trail.fo;
    int m = hbeat__failover_trail_member(&c->trail);
    hbeat_gateway *member = fo->members[m];
    hbeat_error e = HBEAT_ERROR_INIT;
    hbeat_heartbeat_reply answer;
    if (rc == 0 && reply == NULL)
        rc = hbeat_error_set(&e, HBEAT_EPROTO, "the %s gateway completed without a reply",
                             hbeat_gateway_transport(member));
    else if (rc == 0) {
        hbeat__gateway_copy_reply(member, reply, &answer);
        rc = hbeat__check_reply(member, &answer, &e);
    } else if (member_err != NULL) {
        e = *member_err;
    }
    if (rc > 0)
        rc = HBEAT_EPROTO;
    if (rc != 0 && e.message[0] == '\0')
        hbeat_error_set(&e, rc, "%s gateway: %s", hbeat_gateway_transport(member),
                        hbeat_strerror(rc));

    if (rc == 0) {
        hbeat__failover_answered(fo, m);
        memcpy(answer.server, fo->names[m], sizeof(answer.server));
        finish(c, 0, &answer, NULL);
        return;
    }
    if (!hbeat__failover_moves_on(rc))
        hbeat__failover_answered(fo, m);
    hbeat_error out = HBEAT_ERROR_INIT;
    int go_on = hbeat__failover_trail_failed(&c->trail, rc, &e, 1);
    rc = hbeat__failover_trail_error(&c->trail, &out);
    if (go_on) {
        rc = launch(c, &out);
        if (rc == 0)
            return;
    }
    finish(c, rc, NULL, &out);
}

int hbeat__failover_heartbeat_async(void *self, const hbeat_heartbeat_request *req,
                                    hbeat_gateway_done_fn done, void *arg, hbeat_error *err)
{
    hbeat__failover *fo = self;
    async_call *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return hbeat_error_set(err, HBEAT_ENOMEM, "out of memory for a failover beat");
    hbeat__failover_trail_begin(&c->trail, fo, req->lease_remaining);
    c->req = *req;
    /* The request is only borrowed for this call; the next member may be
       started after it returns. */
    strncpy(c->status, req->status, HBEAT_STATUS_MAX);
    c->req.status = c->status;
    c->done = done;
    c->arg = arg;
    int rc = launch(c, err);
    if (rc != 0)
        free(c);
    return rc;
}
