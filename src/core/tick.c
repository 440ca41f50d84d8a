/* One beat: the tick slot, the blocking and asynchronous paths, and what a
   reply does to the service. */
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "core/gateway_internal.h"
#include "core/log_internal.h"
#include "core/service_internal.h"
#include "core/wait.h"

/* What a gateway may still spend on this beat (hbeat_heartbeat_request's
   lease_remaining): the same bound the loop puts on its retries, the
   lease less its guard, and none once that moment has passed, as the
   loop's retries then go on unclamped too. */
static double lease_remaining_locked(const hbeat_service *svc, int64_t now)
{
    if (svc->increment_ns == 0 || svc->lease_lost)
        return INFINITY;
    int64_t send_by = hbeat__lease_send_by(svc->stats.lease_deadline_ns, svc->stats.last_rtt_ns,
                                           svc->increment_ns);
    return send_by > now ? (double)(send_by - now) / 1e9 : INFINITY;
}

/* Takes the service's single tick slot and builds the request. `status`
   receives the status sent and must outlive the call to the gateway. */
static int acquire_slot(hbeat_service *svc, int wait, hbeat_heartbeat_request *req,
                        char status[HBEAT_STATUS_MAX + 1], int64_t *send_ns, hbeat_error *err)
{
    pthread_mutex_lock(&svc->mu);
    while (svc->tick_busy && wait && !svc->closing)
        pthread_cond_wait(&svc->idle, &svc->mu);
    int rc = 0;
    if (svc->closing)
        rc = hbeat_error_set(err, HBEAT_ESTATE, "the service is being freed");
    else if (svc->tick_busy)
        rc = hbeat_error_set(err, HBEAT_EBUSY, "a tick is already in flight for run %lld",
                             (long long)svc->run_id);
    if (rc == 0) {
        svc->tick_busy = 1;
        memcpy(status, svc->status, sizeof(svc->status));
        req->workflow_run_id = svc->run_id;
        req->status = status;
        req->next_report_increment = svc->interval * svc->report_by_buffer;
        req->sequence = ++svc->sequence;
        svc->stats.sent++;
        /* Read under the lock so that send times never go backwards. */
        *send_ns = hbeat_clock_now_ns(svc->clock);
        req->lease_remaining = lease_remaining_locked(svc, *send_ns);
    }
    pthread_mutex_unlock(&svc->mu);
    return rc;
}

static void release_slot(hbeat_service *svc)
{
    pthread_mutex_lock(&svc->mu);
    svc->tick_busy = 0;
    pthread_cond_broadcast(&svc->idle);
    pthread_mutex_unlock(&svc->mu);
}

/* Called with svc->mu held: 1 when the lease has just been found lapsed. */
static int lease_lapsed_locked(hbeat_service *svc, int64_t now)
{
    if (svc->lease_lost || now < svc->stats.lease_deadline_ns)
        return 0;
    svc->lease_lost = 1;
    return 1;
}

static void tell_lease(hbeat_service *svc, int lost)
{
    if (lost)
        hbeat__log(HBEAT_LOG_WARN,
                   "run %lld: no beat acknowledged within the lease; the server may have "
                   "reaped the run",
                   (long long)svc->run_id);
    else
        hbeat__log(HBEAT_LOG_INFO, "run %lld: a beat was acknowledged again; lease regained",
                   (long long)svc->run_id);
    if (svc->on_lease != NULL)
        svc->on_lease(svc->on_lease_arg, lost);
}

void hbeat__check_lease(hbeat_service *svc)
{
    pthread_mutex_lock(&svc->mu);
    int lapsed = lease_lapsed_locked(svc, hbeat_clock_now_ns(svc->clock));
    if (lapsed)
        svc->callbacks_running++;
    pthread_mutex_unlock(&svc->mu);
    if (!lapsed)
        return;
    tell_lease(svc, 1);
    pthread_mutex_lock(&svc->mu);
    svc->callbacks_running--;
    pthread_cond_broadcast(&svc->idle);
    pthread_mutex_unlock(&svc->mu);
}

/* Records the outcome of a beat, frees the slot, and tells the callbacks.
   The server changed the status when it answers something other than what
   was sent. (Jobmon compares with the status held at reply time instead,
   which turns a set_status racing the beat into a bogus "server change"
   that undoes it.) */
static void settle(hbeat_service *svc, int rc, const hbeat_heartbeat_reply *reply, const char *sent,
                   int64_t send_ns, const hbeat_error *err, hbeat_tick_fn done, void *done_arg,
                   hbeat_update *out)
{
    hbeat_update update;
    memset(&update, 0, sizeof(update));
    int64_t now = hbeat_clock_now_ns(svc->clock);
    int lease_news = -1; /* 1 lost, 0 regained, -1 nothing to tell */

    pthread_mutex_lock(&svc->mu);
    if (rc == 0) {
        svc->last_beat_ns = now;
        hbeat__stats_acknowledged(&svc->stats, send_ns, now, svc->increment_ns);
        hbeat__stats_server(&svc->stats, reply->server);
        /* Regained only when the new lease still runs: with interval 0 (an
           increment of 0) none ever does, and the lease stays lost rather
           than flapping on every beat. */
        if (svc->lease_lost && now < svc->stats.lease_deadline_ns) {
            svc->lease_lost = 0;
            lease_news = 0;
        }
        if (strcmp(reply->status, sent) != 0 && strcmp(reply->status, svc->status) != 0) {
            svc->stats.status_changes++;
            update.changed = 1;
            memcpy(update.previous_status, svc->status, sizeof(svc->status));
            memcpy(update.status, reply->status, sizeof(reply->status));
            memcpy(svc->status, reply->status, sizeof(reply->status));
        }
    } else {
        svc->stats.failed++;
        svc->stats.last_error = *err;
        if (lease_lapsed_locked(svc, now))
            lease_news = 1;
    }
    svc->tick_busy = 0;
    svc->callbacks_running++;
    pthread_cond_broadcast(&svc->idle);
    pthread_mutex_unlock(&svc->mu);

    if (lease_news >= 0)
        tell_lease(svc, lease_news);
    if (update.changed) {
        hbeat__log(HBEAT_LOG_INFO, "run %lld: the server changed the status from %s to %s",
                   (long long)svc->run_id, update.previous_status, update.status);
        if (svc->on_change != NULL)
            svc->on_change(svc->on_change_arg, update.previous_status, update.status);
    }
    if (out != NULL)
        *out = update;
    if (done != NULL)
        done(done_arg, rc, rc == 0 ? &update : NULL, rc == 0 ? NULL : err);

    pthread_mutex_lock(&svc->mu);
    svc->callbacks_running--;
    pthread_cond_broadcast(&svc->idle);
    pthread_mutex_unlock(&svc->mu);
}

int hbeat_service_tick(hbeat_service *svc, hbeat_update *out, hbeat_error *err)
{
    if (svc == NULL)
        return hbeat_error_set(err, HBEAT_EINVAL, "hbeat_service_tick: service is NULL");
    hbeat_heartbeat_request req;
    char sent[HBEAT_STATUS_MAX + 1];
    int64_t send_ns;
    int rc = acquire_slot(svc, 1, &req, sent, &send_ns, err);
    if (rc != 0)
        return rc;
    hbeat_heartbeat_reply reply;
    hbeat_error local = HBEAT_ERROR_INIT; /* kept for the statistics */
    rc = hbeat__gateway_heartbeat(svc->gw, &req, &reply, &local);
    hbeat_update update;
    settle(svc, rc, &reply, sent, send_ns, &local, NULL, NULL, &update);
    if (rc == 0 && out != NULL)
        *out = update;
    if (rc != 0 && err != NULL)
        *err = local;
    return rc;
}

/* ---- asynchronous beats -------------------------------------------------- */

/* Where a beat the loop started reports back: only to the loop that is still
   waiting for that very beat, never to one that stopped waiting. */
typedef struct loop_report {
    hbeat_service *svc;
    uint64_t sequence;
} loop_report;

static void report_to_loop(void *arg, int rc, const hbeat_update *update, const hbeat_error *err)
{
    (void)update;
    loop_report *r = arg;
    hbeat_service *svc = r->svc;
    pthread_mutex_lock(&svc->mu);
    if (svc->loop_stop != NULL && svc->loop_seq == r->sequence) {
        svc->loop_beat_rc = rc;
        hbeat_error_clear(&svc->loop_beat_err);
        if (rc != 0 && err != NULL)
            svc->loop_beat_err = *err;
        __atomic_store_n(&svc->loop_beat_done, 1, __ATOMIC_RELEASE);
        hbeat__wake(svc->loop_stop);
    }
    pthread_mutex_unlock(&svc->mu);
}

static void finish_async(hbeat_service *svc, int rc, const hbeat_heartbeat_reply *reply,
                         const hbeat_error *err)
{
    /* Copied out first: once settle frees the slot a new tick may reuse them. */
    char sent[HBEAT_STATUS_MAX + 1];
    memcpy(sent, svc->async_status, sizeof(sent));
    loop_report report = {svc, svc->async_req.sequence};
    hbeat_tick_fn done = svc->async_for_loop ? report_to_loop : svc->async_done;
    void *arg = svc->async_for_loop ? &report : svc->async_arg;
    settle(svc, rc, reply, sent, svc->async_send_ns, err, done, arg, NULL);
}

static void on_gateway_done(void *arg, int rc, const hbeat_heartbeat_reply *reply,
                            const hbeat_error *gw_err)
{
    hbeat_service *svc = arg;
    hbeat_error err = HBEAT_ERROR_INIT;
    hbeat_heartbeat_reply copy;
    if (rc == 0 && reply != NULL) {
        hbeat__gateway_copy_reply(svc->gw, reply, &copy);
        reply = &copy;
    }
    if (rc == 0 && reply == NULL)
        rc = hbeat_error_set(&err, HBEAT_EPROTO, "the %s gateway completed without a reply",
                             hbeat_gateway_transport(svc->gw));
    else if (rc == 0)
        rc = hbeat__check_reply(svc->gw, reply, &err);
    else if (gw_err != NULL && gw_err->message[0] != '\0')
        err = *gw_err;
    else
        hbeat_error_set(&err, rc, "%s gateway: %s", hbeat_gateway_transport(svc->gw),
                        hbeat_strerror(rc));
    if (rc > 0)
        rc = HBEAT_EPROTO;
    if (rc != 0)
        err.code = rc;
    finish_async(svc, rc, reply, &err);
}

static void *worker_main(void *arg)
{
    hbeat_service *svc = arg;
    pthread_mutex_lock(&svc->mu);
    for (;;) {
        while (!svc->worker_job && !svc->worker_quit)
            pthread_cond_wait(&svc->worker_cond, &svc->mu);
        if (!svc->worker_job)
            break;
        svc->worker_job = 0;
        hbeat_heartbeat_request req = svc->async_req;
        pthread_mutex_unlock(&svc->mu);

        hbeat_heartbeat_reply reply;
        hbeat_error err = HBEAT_ERROR_INIT;
        int rc = hbeat__gateway_heartbeat(svc->gw, &req, &reply, &err);
        finish_async(svc, rc, &reply, &err);
        pthread_mutex_lock(&svc->mu);
    }
    pthread_mutex_unlock(&svc->mu);
    return NULL;
}

/* Called with the slot held, so only one caller can get here at a time. */
static int ensure_worker(hbeat_service *svc, hbeat_error *err)
{
    pthread_mutex_lock(&svc->mu);
    int started = svc->worker_started;
    pthread_mutex_unlock(&svc->mu);
    if (started)
        return 0;
    if (pthread_create(&svc->worker, NULL, worker_main, svc) != 0)
        return hbeat_error_set(err, HBEAT_ESYSTEM, "cannot start the tick_async worker thread");
    pthread_mutex_lock(&svc->mu);
    svc->worker_started = 1;
    pthread_mutex_unlock(&svc->mu);
    return 0;
}

/* Sends the beat prepared in svc->async_* on the gateway's asynchronous path
   or the worker thread; on failure frees the slot. */
static int dispatch_async(hbeat_service *svc, hbeat_error *err)
{
    int rc;
    if (hbeat__gateway_has_async(svc->gw)) {
        rc = hbeat__gateway_heartbeat_async(svc->gw, &svc->async_req, on_gateway_done, svc, err);
    } else {
        rc = ensure_worker(svc, err);
        if (rc == 0) {
            pthread_mutex_lock(&svc->mu);
            svc->worker_job = 1;
            pthread_cond_signal(&svc->worker_cond);
            pthread_mutex_unlock(&svc->mu);
        }
    }
    if (rc != 0)
        release_slot(svc);
    return rc;
}

int hbeat_service_tick_async(hbeat_service *svc, hbeat_tick_fn done, void *arg, hbeat_error *err)
{
    if (svc == NULL || done == NULL)
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "hbeat_service_tick_async: service and callback are required");
    int rc = acquire_slot(svc, 0, &svc->async_req, svc->async_status, &svc->async_send_ns, err);
    if (rc != 0)
        return rc;
    svc->async_for_loop = 0;
    svc->async_done = done;
    svc->async_arg = arg;
    return dispatch_async(svc, err);
}

int hbeat__tick_start_for_loop(hbeat_service *svc, hbeat_error *err)
{
    int rc = acquire_slot(svc, 1, &svc->async_req, svc->async_status, &svc->async_send_ns, err);
    if (rc != 0)
        return rc;
    svc->async_for_loop = 1;
    svc->async_done = NULL;
    svc->async_arg = NULL;
    pthread_mutex_lock(&svc->mu);
    svc->loop_seq = svc->async_req.sequence;
    __atomic_store_n(&svc->loop_beat_done, 0, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&svc->mu);
    return dispatch_async(svc, err);
}
