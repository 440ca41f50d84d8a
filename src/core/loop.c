/* The heartbeat loop: beat whenever one is due, retry failures with backoff
   inside the lease, hold beats back while the application reports no
   progress (progress.c), and notice a lapsed lease or a stop at once, also
   while a beat is in flight (the beat then finishes on its own). */
#include <pthread.h>
#include <stdint.h>

#include "core/clock_internal.h"
#include "core/log_internal.h"
#include "core/service_internal.h"
#include "core/wait.h"

#define FOREVER INT64_MAX

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

/* The lease deadline while it still holds, else FOREVER: the loop wakes at
   it once to tell the application, not again. */
static int64_t pending_lease_deadline(hbeat_service *svc)
{
    pthread_mutex_lock(&svc->mu);
    int64_t deadline = svc->lease_lost ? FOREVER : svc->stats.lease_deadline_ns;
    pthread_mutex_unlock(&svc->mu);
    return deadline;
}

/* When the next beat is due: a period (the interval, or the zero-interval
   pace) after the last one, brought forward by this cycle's jitter; after a
   failure, the retry time. */
static int64_t next_beat_at(hbeat_service *svc, unsigned int failures, int64_t retry_at)
{
    if (failures > 0)
        return retry_at;
    return hbeat_service_last_heartbeat_ns(svc) + svc->period_ns - svc->beat_offset_ns;
}

static void draw_offset(hbeat_service *svc)
{
    svc->beat_offset_ns =
        svc->jitter > 0
            ? (int64_t)(svc->jitter * hbeat__rng_unit(&svc->rng) * (double)svc->period_ns)
            : 0;
}

static int64_t earliest(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* The retry after failure number `failures`: backoff with jitter, but
   never sent so late that it could not arrive within a lease that still
   holds. */
static int64_t retry_time(hbeat_service *svc, unsigned int failures, int64_t now)
{
    int64_t at =
        now + hbeat__retry_delay_ns(svc->retry_base_ns, svc->retry_factor, svc->retry_cap_ns,
                                    svc->retry_jitter, failures, &svc->rng);
    pthread_mutex_lock(&svc->mu);
    int64_t send_by = hbeat__lease_send_by(svc->stats.lease_deadline_ns, svc->stats.last_rtt_ns,
                                           svc->increment_ns);
    pthread_mutex_unlock(&svc->mu);
    if (send_by > now && at > send_by)
        at = send_by;
    return at;
}

/* Sends one beat and waits for its outcome, waking at the lease deadline
   to report it lapsed. On a clock that moves only when told (the fake one)
   the lease is checked when the beat completes instead: a test advancing
   the clock while a beat is in flight would otherwise shift the schedule.
   Returns HBEAT__WAIT_STOPPED when stopped first. */
static int beat_and_wait(hbeat_service *svc, hbeat_stop_event *stop, int *rc, hbeat_error *last)
{
    *rc = hbeat__tick_start_for_loop(svc, last);
    if (*rc != 0)
        return HBEAT__WAIT_READY;
    int told_time = hbeat__clock_is_watchable(svc->clock);
    hbeat_clock *clock = told_time ? hbeat_clock_system() : svc->clock;
    for (;;) {
        int64_t until = told_time ? FOREVER : pending_lease_deadline(svc);
        int w = hbeat__wait_until(clock, stop, until, &svc->loop_beat_done);
        if (w == HBEAT__WAIT_STOPPED)
            return w;
        if (w == HBEAT__WAIT_READY)
            break;
        hbeat__check_lease(svc);
    }
    pthread_mutex_lock(&svc->mu);
    *rc = svc->loop_beat_rc;
    *last = svc->loop_beat_err;
    pthread_mutex_unlock(&svc->mu);
    return HBEAT__WAIT_READY;
}

static int loop_body(hbeat_service *svc, hbeat_stop_event *stop, hbeat_error *err)
{
    unsigned int failures = 0;
    int64_t retry_at = 0;
    set_failures(svc, 0);
    hbeat__log(HBEAT_LOG_DEBUG,
               "run %lld: heartbeat loop starts, interval %g s, one beat every %g s",
               (long long)svc->run_id, svc->interval, (double)svc->period_ns / 1e9);
    for (;;) {
        if (hbeat_stop_event_is_set(stop))
            return 0;
        int64_t now = hbeat_clock_now_ns(svc->clock);
        if (hbeat__progress_gate(svc, now)) {
            /* Stalled: no beat, no retry, until progress wakes us. The lease
               deadline still gets its wake-up, and we look again once a
               period, as the lease may have been renewed by a tick. */
            int64_t wake_at = earliest(pending_lease_deadline(svc), now + svc->period_ns);
            if (hbeat__wait_until(svc->clock, stop, wake_at, &svc->progress_wake) ==
                HBEAT__WAIT_STOPPED)
                return 0;
            hbeat__check_lease(svc);
            continue;
        }
        int64_t beat_at = next_beat_at(svc, failures, retry_at);
        /* A pushed change makes a beat due at once (watch.c). */
        if (now < beat_at && !hbeat__watch_take_push(svc)) {
            int64_t wake_at =
                earliest(earliest(pending_lease_deadline(svc), beat_at), hbeat__stall_at(svc));
            if (now < wake_at && hbeat__wait_until(svc->clock, stop, wake_at, &svc->push_wake) ==
                                     HBEAT__WAIT_STOPPED)
                return 0;
            hbeat__check_lease(svc);
            continue;
        }

        hbeat_error last = HBEAT_ERROR_INIT;
        int rc;
        if (beat_and_wait(svc, stop, &rc, &last) == HBEAT__WAIT_STOPPED)
            return 0;
        if (rc == 0) {
            if (failures > 0)
                set_failures(svc, 0);
            failures = 0;
            draw_offset(svc);
            continue;
        }
        if (rc == HBEAT_ESTATE)
            return hbeat_error_set(err, HBEAT_ECANCELED, "the service is being freed");
        set_failures(svc, ++failures);
        hbeat__log(HBEAT_LOG_WARN, "run %lld: heartbeat failed (%u in a row): %s: %s",
                   (long long)svc->run_id, failures, hbeat_strerror(last.code), last.message);
        if (svc->max_failures != 0 && failures >= svc->max_failures)
            return give_up(svc, failures, &last, err);
        retry_at = retry_time(svc, failures, hbeat_clock_now_ns(svc->clock));
    }
}

/* Runs the loop with `stop` as the event its beats report to. */
static int loop(hbeat_service *svc, hbeat_stop_event *stop, hbeat_error *err)
{
    pthread_mutex_lock(&svc->mu);
    svc->loop_stop = stop;
    pthread_mutex_unlock(&svc->mu);
    hbeat__watch_start(svc);
    int rc = loop_body(svc, stop, err);
    hbeat__watch_stop(svc);
    /* From here on a beat still in flight reports to nobody. */
    pthread_mutex_lock(&svc->mu);
    svc->loop_stop = NULL;
    pthread_mutex_unlock(&svc->mu);
    hbeat__progress_loop_ended(svc);
    return rc;
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
    int busy = svc->loop_running || svc->thread_started || svc->closing;
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
