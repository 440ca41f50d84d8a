/*
 * Reaping: a run whose deadline has passed has lost its client; Jobmon
 * moves it L->A, C->T, H->T, R->E. The pass holds the engine lock only to
 * scan and queue; it logs each move once the commit is durable, so the log
 * never reports a change a crash took back. "Now" is the engine's clock
 * (wallclock.h), which a step of the wall clock does not move.
 */
#define _POSIX_C_SOURCE 200809L

#include "reaper.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "committer.h"
#include "engine_internal.h"
#include "log.h"
#include "metrics.h"
#include "monotonic.h"
#include "state_machine.h"

/* The SQLite store's pass (run_store.h): scan the runs in memory under
   the engine's lock, queue each move, wait for the commit. */
int hbd_engine_mem_reap(void *self, double now, int look_only, hbd_reaped_run **out, size_t *count,
                        hbeat_error *err)
{
    hbd_engine *e = self;
    *out = NULL;
    *count = 0;
    if (look_only)
        return 0;
    hbd_reaped_run *moved = NULL;
    size_t n = 0, cap = 0;
    uint64_t ticket = 0;
    int rc = 0;

    pthread_mutex_lock(&e->mu);
    if (e->closing) {
        pthread_mutex_unlock(&e->mu);
        return 0;
    }
    for (size_t i = 0; i < e->runs.count && rc == 0; i++) {
        hbd_run_record *rec = &e->runs.recs[i];
        int to = hbd_reap_target(rec->status);
        if (to < 0 || rec->deadline <= 0 || rec->deadline >= now)
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            hbd_reaped_run *m = realloc(moved, ncap * sizeof *m);
            if (m == NULL) {
                rc = hbeat_error_set(err, HBEAT_ENOMEM, "reaper: out of memory");
                break;
            }
            moved = m;
            cap = ncap;
        }
        hbd_run_record next = *rec;
        next.status = (uint8_t)to;
        rc = hbd_committer_add(e->committer, &next, &ticket, err);
        if (rc != 0)
            break;
        next.ticket = ticket;
        moved[n].id = rec->id;
        moved[n].late = now - rec->deadline;
        moved[n].from = rec->status;
        moved[n].to = (uint8_t)to;
        moved[n].change = __atomic_add_fetch(&e->changes, 1, __ATOMIC_SEQ_CST);
        n++;
        *rec = next;
    }
    pthread_mutex_unlock(&e->mu);

    if (n > 0) {
        int wrc = hbd_committer_wait(e->committer, ticket, err);
        if (wrc != 0 && rc == 0)
            rc = wrc;
    }
    if (rc != 0) {
        free(moved);
        return rc;
    }
    *out = moved;
    *count = n;
    return 0;
}

int hbd_engine_reap(hbd_engine *e, size_t *count, hbeat_error *err)
{
    if (count != NULL)
        *count = 0;
    pthread_mutex_lock(&e->mu);
    double now = e->clock(e->clock_arg);
    int closing = e->closing;
    pthread_mutex_unlock(&e->mu);
    int look_only = now < e->started + e->grace;
    if (closing || (look_only && !e->ops->deferred))
        return 0;
    hbd_reaped_run *moved = NULL;
    size_t n = 0;
    double t0 = hbd_mono_now();
    int rc = e->ops->reap(e->ops_self, now, look_only, &moved, &n, err);
    if (rc != 0)
        return rc;
    double took = hbd_mono_now() - t0;
    for (size_t i = 0; i < n; i++) {
        hbd_info("reaped run %lld: %s -> %s (deadline passed %.3f s ago)", (long long)moved[i].id,
                 hbd_status_token(moved[i].from), hbd_status_token(moved[i].to), moved[i].late);
        hbd_metrics_reaped(hbd_status_token(moved[i].from), hbd_status_token(moved[i].to));
        /* A store that reports its own changes has reported these. */
        if (e->store_reports)
            continue;
        /* Durable by now; a store that does not number its moves leaves
           the number to the engine. */
        uint64_t change = moved[i].change != 0
                              ? moved[i].change
                              : __atomic_add_fetch(&e->changes, 1, __ATOMIC_SEQ_CST);
        hbd_engine__report_change(e, 0, moved[i].id, moved[i].to, change);
    }
    /* What a pass costs as the runs grow (bench/ reads it). */
    if (n > 0)
        hbd_info("reaper pass: %zu runs moved in %.3f ms", n, took * 1e3);
    free(moved);
    if (count != NULL)
        *count = n;
    return 0;
}

struct hbd_reaper {
    hbd_engine *engine;
    double interval;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond; /* monotonic clock */
    int stop;
};

static void *reaper_main(void *arg)
{
    hbd_reaper *r = arg;
    struct timespec next = hbd_mono_deadline(0);
    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        next = hbd_mono_add(next, r->interval);
        int wait_rc = 0;
        while (!r->stop && wait_rc != ETIMEDOUT)
            wait_rc = pthread_cond_timedwait(&r->cond, &r->mu, &next);
        if (r->stop)
            break;
        pthread_mutex_unlock(&r->mu);
        hbeat_error err = HBEAT_ERROR_INIT;
        if (hbd_engine_reap(r->engine, NULL, &err) != 0)
            hbd_error("reaper: %s", err.message);
        /* Never try to catch up on missed periods after a stall. */
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec > next.tv_sec || (now.tv_sec == next.tv_sec && now.tv_nsec > next.tv_nsec))
            next = now;
        pthread_mutex_lock(&r->mu);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

int hbd_reaper_start(hbd_reaper **out, hbd_engine *engine, double interval, hbeat_error *err)
{
    *out = NULL;
    if (!(interval > 0) || !isfinite(interval))
        return hbeat_error_set(err, HBEAT_EINVAL, "reap interval must be > 0 seconds");
    hbd_reaper *r = calloc(1, sizeof *r);
    if (r == NULL)
        return hbeat_error_set(err, HBEAT_ENOMEM, "reaper: out of memory");
    r->engine = engine;
    r->interval = interval;
    pthread_mutex_init(&r->mu, NULL);
    hbd_mono_cond_init(&r->cond);
    int rc = pthread_create(&r->thread, NULL, reaper_main, r);
    if (rc != 0) {
        pthread_cond_destroy(&r->cond);
        pthread_mutex_destroy(&r->mu);
        free(r);
        return hbeat_error_set(err, HBEAT_ESYSTEM, "reaper: cannot start thread: %s", strerror(rc));
    }
    *out = r;
    return 0;
}

void hbd_reaper_stop(hbd_reaper *r)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = 1;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->mu);
    free(r);
}
