#include "hbeat/service.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock_internal.h"
#include "core/gateway_internal.h"
#include "core/log_internal.h"
#include "core/stats.h"
#include "core/stop_event_internal.h"
#include "core/wait.h"

/* The server rejects windows longer than this, so reject them up front. */
#define MAX_WINDOW_SECONDS (365.0 * 24 * 3600)
/* Jobmon's loop polls every max(0.1 s, interval / 2); a failed beat is
   retried after that long. */
#define MIN_RETRY_NS INT64_C(100000000)

struct hbeat_service {
    /* Fixed at creation. */
    hbeat_gateway *gw;
    hbeat_clock *clock;
    int64_t run_id;
    double interval;
    double report_by_buffer;
    int64_t interval_ns;
    int64_t retry_ns;
    unsigned int max_failures;
    hbeat_status_change_fn on_change;
    void *on_change_arg;

    pthread_mutex_t mu;  /* guards everything below */
    pthread_cond_t idle; /* a tick slot or a callback finished */
    char status[HBEAT_STATUS_MAX + 1];
    int64_t last_beat_ns;
    uint64_t sequence;
    unsigned int failures;
    hbeat__stats stats;
    int tick_busy;         /* one tick in flight at a time */
    int callbacks_running; /* callbacks that free must wait for */
    int loop_running;
    int closing;

    /* The asynchronous tick in flight; stable while tick_busy is held. */
    hbeat_heartbeat_request async_req;
    char async_status[HBEAT_STATUS_MAX + 1];
    int64_t async_send_ns;
    hbeat_tick_fn async_done;
    void *async_arg;

    /* Worker for gateways without an asynchronous path, started lazily. */
    pthread_cond_t worker_cond;
    pthread_t worker;
    int worker_started;
    int worker_job;
    int worker_quit;

    /* start/stop: the loop on a thread of the service's own. */
    pthread_mutex_t ctl; /* serializes start, stop and free */
    pthread_t thread;
    int thread_started;
    hbeat_stop_event *own_stop;
    int thread_rc;
    hbeat_error thread_err;
};

/* ---- creation and validation --------------------------------------------- */

static int check_status_arg(const char *status, hbeat_error *err)
{
    if (!hbeat_status_is_valid(status))
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "status must be 1 to %d printable ASCII characters without "
                               "spaces",
                               HBEAT_STATUS_MAX);
    return 0;
}

static int check_options(const hbeat_service_options *o, hbeat_error *err)
{
    if (o->version == 0 || o->version > HBEAT_SERVICE_OPTIONS_VERSION)
        return hbeat_error_set(err, HBEAT_EVERSION,
                               "service options version %u is not supported (this library "
                               "knows 1..%d); start from HBEAT_SERVICE_OPTIONS_INIT",
                               o->version, HBEAT_SERVICE_OPTIONS_VERSION);
    if (o->workflow_run_id <= 0)
        return hbeat_error_set(err, HBEAT_EINVAL, "workflow_run_id must be positive, not %lld",
                               (long long)o->workflow_run_id);
    if (!isfinite(o->interval) || o->interval <= 0)
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "interval must be a finite number of seconds above 0, not %g",
                               o->interval);
    if (!isfinite(o->report_by_buffer) || o->report_by_buffer < 1)
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "report_by_buffer must be a finite number of at least 1, not %g",
                               o->report_by_buffer);
    double window = o->interval * o->report_by_buffer;
    if (!(window <= MAX_WINDOW_SECONDS))
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "next_report_increment (interval * report_by_buffer = %g s) must "
                               "not exceed one year",
                               window);
    if (o->initial_status != NULL && check_status_arg(o->initial_status, err) != 0)
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "initial_status must be 1 to %d printable ASCII characters "
                               "without spaces",
                               HBEAT_STATUS_MAX);
    return 0;
}

int hbeat_service_new(hbeat_service **out, hbeat_gateway *gw, const hbeat_service_options *opts,
                      hbeat_error *err)
{
    if (out == NULL || gw == NULL || opts == NULL)
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "hbeat_service_new: out, gateway and options are required");
    int rc = check_options(opts, err);
    if (rc != 0)
        return rc;

    hbeat_service *svc = calloc(1, sizeof(*svc));
    if (svc == NULL)
        return hbeat_error_set(err, HBEAT_ENOMEM, "out of memory for a service");
    if (hbeat_stop_event_new(&svc->own_stop) != 0) {
        free(svc);
        return hbeat_error_set(err, HBEAT_ESYSTEM, "cannot make the service's stop event");
    }
    pthread_mutex_init(&svc->mu, NULL);
    pthread_mutex_init(&svc->ctl, NULL);
    pthread_cond_init(&svc->idle, NULL);
    pthread_cond_init(&svc->worker_cond, NULL);

    svc->gw = gw;
    svc->clock = opts->clock != NULL ? opts->clock : hbeat_clock_system();
    svc->run_id = opts->workflow_run_id;
    svc->interval = opts->interval;
    svc->report_by_buffer = opts->report_by_buffer;
    svc->interval_ns = llround(opts->interval * 1e9);
    if (svc->interval_ns < 1)
        svc->interval_ns = 1;
    svc->retry_ns = svc->interval_ns / 2 > MIN_RETRY_NS ? svc->interval_ns / 2 : MIN_RETRY_NS;
    svc->max_failures = opts->max_consecutive_failures;
    svc->on_change = opts->on_status_change;
    svc->on_change_arg = opts->on_status_change_arg;
    strcpy(svc->status, opts->initial_status != NULL ? opts->initial_status : "R");
    /* Jobmon starts the timer at creation so that a new service is not due. */
    svc->last_beat_ns = hbeat_clock_now_ns(svc->clock);
    *out = svc;
    return 0;
}

/* ---- accessors ------------------------------------------------------------ */

static int64_t increment_ns(const hbeat_service *svc)
{
    return llround(svc->interval * svc->report_by_buffer * 1e9);
}

int64_t hbeat_service_workflow_run_id(const hbeat_service *svc)
{
    return svc != NULL ? svc->run_id : 0;
}

double hbeat_service_interval(const hbeat_service *svc)
{
    return svc != NULL ? svc->interval : NAN;
}

double hbeat_service_report_by_buffer(const hbeat_service *svc)
{
    return svc != NULL ? svc->report_by_buffer : NAN;
}

double hbeat_service_next_report_increment(const hbeat_service *svc)
{
    return svc != NULL ? svc->interval * svc->report_by_buffer : NAN;
}

int hbeat_service_status(hbeat_service *svc, char out[HBEAT_STATUS_MAX + 1])
{
    if (svc == NULL || out == NULL)
        return HBEAT_EINVAL;
    pthread_mutex_lock(&svc->mu);
    memcpy(out, svc->status, sizeof(svc->status));
    pthread_mutex_unlock(&svc->mu);
    return 0;
}

int hbeat_service_set_status(hbeat_service *svc, const char *status, hbeat_error *err)
{
    if (svc == NULL)
        return hbeat_error_set(err, HBEAT_EINVAL, "hbeat_service_set_status: service is NULL");
    int rc = check_status_arg(status, err);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&svc->mu);
    strcpy(svc->status, status);
    pthread_mutex_unlock(&svc->mu);
    return 0;
}

int64_t hbeat_service_last_heartbeat_ns(hbeat_service *svc)
{
    if (svc == NULL)
        return 0;
    pthread_mutex_lock(&svc->mu);
    int64_t last = svc->last_beat_ns;
    pthread_mutex_unlock(&svc->mu);
    return last;
}

double hbeat_service_time_since_last_heartbeat(hbeat_service *svc)
{
    if (svc == NULL)
        return NAN;
    int64_t now = hbeat_clock_now_ns(svc->clock);
    return (double)(now - hbeat_service_last_heartbeat_ns(svc)) / 1e9;
}

int hbeat_service_is_heartbeat_due(hbeat_service *svc)
{
    if (svc == NULL)
        return 0;
    int64_t now = hbeat_clock_now_ns(svc->clock);
    return now - hbeat_service_last_heartbeat_ns(svc) >= svc->interval_ns;
}

void hbeat_service_reset_timer(hbeat_service *svc)
{
    if (svc == NULL)
        return;
    int64_t now = hbeat_clock_now_ns(svc->clock);
    pthread_mutex_lock(&svc->mu);
    svc->last_beat_ns = now;
    pthread_mutex_unlock(&svc->mu);
}

unsigned int hbeat_service_consecutive_failures(hbeat_service *svc)
{
    if (svc == NULL)
        return 0;
    pthread_mutex_lock(&svc->mu);
    unsigned int failures = svc->failures;
    pthread_mutex_unlock(&svc->mu);
    return failures;
}

int hbeat_service_get_stats(hbeat_service *svc, hbeat_service_stats *out)
{
    if (svc == NULL || out == NULL)
        return HBEAT_EINVAL;
    if (out->version == 0 || out->version > HBEAT_SERVICE_STATS_VERSION)
        return HBEAT_EVERSION;
    int64_t now = hbeat_clock_now_ns(svc->clock);
    pthread_mutex_lock(&svc->mu);
    hbeat__stats_fill(&svc->stats, svc->failures, now, out);
    pthread_mutex_unlock(&svc->mu);
    return 0;
}

int hbeat_service_is_running(hbeat_service *svc)
{
    if (svc == NULL)
        return 0;
    pthread_mutex_lock(&svc->mu);
    int running = svc->loop_running;
    pthread_mutex_unlock(&svc->mu);
    return running;
}

/* ---- one beat --------------------------------------------------------------- */

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

    pthread_mutex_lock(&svc->mu);
    if (rc == 0) {
        svc->last_beat_ns = now;
        hbeat__stats_acknowledged(&svc->stats, send_ns, now, increment_ns(svc));
        if (strcmp(reply->status, sent) != 0 && strcmp(reply->status, svc->status) != 0) {
            svc->stats.status_changes++;
            update.changed = 1;
            memcpy(update.previous_status, svc->status, sizeof(svc->status));
            memcpy(update.status, reply->status, sizeof(reply->status));
            memcpy(svc->status, reply->status, sizeof(reply->status));
        }
    } else {
        svc->stats.failed++;
    }
    svc->tick_busy = 0;
    svc->callbacks_running++;
    pthread_cond_broadcast(&svc->idle);
    pthread_mutex_unlock(&svc->mu);

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

static int tick_blocking(hbeat_service *svc, hbeat_update *out, hbeat_error *err)
{
    hbeat_heartbeat_request req;
    char sent[HBEAT_STATUS_MAX + 1];
    int64_t send_ns;
    int rc = acquire_slot(svc, 1, &req, sent, &send_ns, err);
    if (rc != 0)
        return rc;
    hbeat_heartbeat_reply reply;
    rc = hbeat__gateway_heartbeat(svc->gw, &req, &reply, err);
    hbeat_update update;
    settle(svc, rc, &reply, sent, send_ns, NULL, NULL, NULL, &update);
    if (rc == 0 && out != NULL)
        *out = update;
    return rc;
}

int hbeat_service_tick(hbeat_service *svc, hbeat_update *out, hbeat_error *err)
{
    if (svc == NULL)
        return hbeat_error_set(err, HBEAT_EINVAL, "hbeat_service_tick: service is NULL");
    return tick_blocking(svc, out, err);
}

/* ---- asynchronous beat ------------------------------------------------------- */

static void finish_async(hbeat_service *svc, int rc, const hbeat_heartbeat_reply *reply,
                         const hbeat_error *err)
{
    /* Copied out first: once settle frees the slot a new tick may reuse them. */
    char sent[HBEAT_STATUS_MAX + 1];
    memcpy(sent, svc->async_status, sizeof(sent));
    hbeat_tick_fn done = svc->async_done;
    void *arg = svc->async_arg;
    settle(svc, rc, reply, sent, svc->async_send_ns, err, done, arg, NULL);
}

static void on_gateway_done(void *arg, int rc, const hbeat_heartbeat_reply *reply,
                            const hbeat_error *gw_err)
{
    hbeat_service *svc = arg;
    hbeat_error err = HBEAT_ERROR_INIT;
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
    if (rc != 0)
        err.code = rc > 0 ? HBEAT_EPROTO : rc;
    finish_async(svc, rc > 0 ? HBEAT_EPROTO : rc, reply, &err);
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

int hbeat_service_tick_async(hbeat_service *svc, hbeat_tick_fn done, void *arg, hbeat_error *err)
{
    if (svc == NULL || done == NULL)
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "hbeat_service_tick_async: service and callback are required");
    int rc = acquire_slot(svc, 0, &svc->async_req, svc->async_status, &svc->async_send_ns, err);
    if (rc != 0)
        return rc;
    svc->async_done = done;
    svc->async_arg = arg;

    if (hbeat__gateway_has_async(svc->gw)) {
        rc = hbeat__gateway_heartbeat_async(svc->gw, &svc->async_req, on_gateway_done, svc, err);
        if (rc != 0)
            release_slot(svc);
        return rc;
    }
    rc = ensure_worker(svc, err);
    if (rc != 0) {
        release_slot(svc);
        return rc;
    }
    pthread_mutex_lock(&svc->mu);
    svc->worker_job = 1;
    pthread_cond_signal(&svc->worker_cond);
    pthread_mutex_unlock(&svc->mu);
    return 0;
}

/* ---- the loop ------------------------------------------------------------------ */

static void set_failures(hbeat_service *svc, unsigned int failures)
{
    pthread_mutex_lock(&svc->mu);
    svc->failures = failures;
    pthread_mutex_unlock(&svc->mu);
}

static int give_up(hbeat_service *svc, unsigned int failures, const hbeat_error *last,
                   hbeat_error *err)
{
    hbeat__log(HBEAT_LOG_ERROR, "run %lld: %u heartbeats failed in a row; giving up",
               (long long)svc->run_id, failures);
    hbeat_error_set(err, HBEAT_EFATAL,
                    "%u consecutive heartbeats failed; the last one: %s (%.180s)", failures,
                    hbeat_strerror(last->code), last->message);
    if (err != NULL) {
        err->http_status = last->http_status;
        err->native = last->native;
    }
    return HBEAT_EFATAL;
}

/* Beats whenever one is due, sleeping on the service's clock in between,
   until `stop` is set or too many beats fail in a row. */
static int loop(hbeat_service *svc, hbeat_stop_event *stop, hbeat_error *err)
{
    unsigned int failures = 0;
    int64_t retry_at = 0;
    set_failures(svc, 0);
    hbeat__log(HBEAT_LOG_DEBUG, "run %lld: heartbeat loop starts, interval %g s",
               (long long)svc->run_id, svc->interval);
    for (;;) {
        if (hbeat_stop_event_is_set(stop))
            return 0;
        int64_t due = hbeat_service_last_heartbeat_ns(svc) + svc->interval_ns;
        if (failures > 0 && retry_at > due)
            due = retry_at;
        if (hbeat_clock_now_ns(svc->clock) < due) {
            if (hbeat__wait_until(svc->clock, stop, due))
                return 0;
            continue;
        }

        hbeat_error last = HBEAT_ERROR_INIT;
        int rc = tick_blocking(svc, NULL, &last);
        if (rc == 0) {
            if (failures > 0)
                set_failures(svc, 0);
            failures = 0;
            continue;
        }
        if (rc == HBEAT_ESTATE)
            return hbeat_error_set(err, HBEAT_ECANCELED, "the service is being freed");
        set_failures(svc, ++failures);
        hbeat__log(HBEAT_LOG_WARN, "run %lld: heartbeat failed (%u in a row): %s",
                   (long long)svc->run_id, failures, last.message);
        if (svc->max_failures != 0 && failures >= svc->max_failures)
            return give_up(svc, failures, &last, err);
        retry_at = hbeat_clock_now_ns(svc->clock) + svc->retry_ns;
    }
}

int hbeat_service_run(hbeat_service *svc, hbeat_stop_event *stop, hbeat_error *err)
{
    if (svc == NULL || stop == NULL)
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "hbeat_service_run: service and stop event are required");
    pthread_mutex_lock(&svc->mu);
    int busy = svc->loop_running;
    svc->loop_running = 1;
    pthread_mutex_unlock(&svc->mu);
    if (busy)
        return hbeat_error_set(err, HBEAT_ESTATE, "the service's loop is already running");
    int rc = loop(svc, stop, err);
    pthread_mutex_lock(&svc->mu);
    svc->loop_running = 0;
    pthread_mutex_unlock(&svc->mu);
    return rc;
}

static void *thread_main(void *arg)
{
    hbeat_service *svc = arg;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = loop(svc, svc->own_stop, &err);
    pthread_mutex_lock(&svc->mu);
    svc->thread_rc = rc;
    svc->thread_err = err;
    svc->loop_running = 0;
    pthread_mutex_unlock(&svc->mu);
    return NULL;
}

int hbeat_service_start(hbeat_service *svc, hbeat_error *err)
{
    if (svc == NULL)
        return hbeat_error_set(err, HBEAT_EINVAL, "hbeat_service_start: service is NULL");
    pthread_mutex_lock(&svc->ctl);
    pthread_mutex_lock(&svc->mu);
    int busy = svc->loop_running || svc->thread_started;
    if (!busy)
        svc->loop_running = 1;
    pthread_mutex_unlock(&svc->mu);
    int rc = 0;
    if (busy) {
        rc = hbeat_error_set(err, HBEAT_ESTATE, "the service's loop is already running");
    } else {
        hbeat_stop_event_clear(svc->own_stop);
        if (pthread_create(&svc->thread, NULL, thread_main, svc) != 0) {
            pthread_mutex_lock(&svc->mu);
            svc->loop_running = 0;
            pthread_mutex_unlock(&svc->mu);
            rc = hbeat_error_set(err, HBEAT_ESYSTEM, "cannot start the heartbeat thread");
        } else {
            svc->thread_started = 1;
        }
    }
    pthread_mutex_unlock(&svc->ctl);
    return rc;
}

int hbeat_service_stop(hbeat_service *svc, hbeat_error *err)
{
    if (svc == NULL)
        return hbeat_error_set(err, HBEAT_EINVAL, "hbeat_service_stop: service is NULL");
    pthread_mutex_lock(&svc->ctl);
    int rc;
    if (!svc->thread_started) {
        rc = hbeat_error_set(err, HBEAT_ESTATE, "the service's thread was not started");
    } else {
        hbeat_stop_event_set(svc->own_stop);
        pthread_join(svc->thread, NULL);
        svc->thread_started = 0;
        rc = svc->thread_rc;
        if (rc != 0 && err != NULL)
            *err = svc->thread_err;
    }
    pthread_mutex_unlock(&svc->ctl);
    return rc;
}

void hbeat_service_free(hbeat_service *svc)
{
    if (svc == NULL)
        return;
    hbeat_service_stop(svc, NULL);

    pthread_mutex_lock(&svc->mu);
    svc->closing = 1;
    while (svc->tick_busy || svc->callbacks_running)
        pthread_cond_wait(&svc->idle, &svc->mu);
    svc->worker_quit = 1;
    pthread_cond_signal(&svc->worker_cond);
    int worker = svc->worker_started;
    pthread_mutex_unlock(&svc->mu);
    if (worker)
        pthread_join(svc->worker, NULL);

    hbeat_stop_event_free(svc->own_stop);
    pthread_cond_destroy(&svc->worker_cond);
    pthread_cond_destroy(&svc->idle);
    pthread_mutex_destroy(&svc->ctl);
    pthread_mutex_destroy(&svc->mu);
    free(svc);
}
