/*
 * The engine: runs in memory (runs.h) under one lock, changes made durable
 * by the committer (group commit), the reaper on a thread of its own.
 *
 * Every call works the same way: validate the input without the lock; under
 * the lock look the run up, compute the new record, queue it with the
 * committer and only then store it in memory (so a refused queue changes
 * nothing); return the ticket of the commit that makes what the caller will
 * report durable. Reads take the ticket of the run's last change, so no
 * caller ever reports a state that a crash could still take back.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "committer.h"
#include "engine_internal.h"
#include "log.h"
#include "reaper.h"
#include "state_machine.h"
#include "store.h"
#include "wallclock.h"

static void to_run(const hbd_run_record *rec, hbd_run *out)
{
    if (out == NULL)
        return;
    memset(out, 0, sizeof *out);
    out->id = rec->id;
    out->workflow_id = rec->workflow_id;
    strcpy(out->status, hbd_status_token(rec->status));
    out->deadline = rec->deadline;
    out->last_heartbeat = rec->last_heartbeat;
    out->beats = rec->beats;
}

/* A status from the network: one of the 13 codes, or EINVAL. */
static int parse_status(const char *status, int *idx, hbeat_error *err)
{
    *idx = hbd_status_index(status);
    if (*idx >= 0)
        return 0;
    if (status == NULL || status[0] == '\0')
        return hbeat_error_set(err, HBEAT_EINVAL, "status is missing; expected one of %s",
                               hbd_status_list());
    /* Echo at most 16 bytes, printable ASCII only: the message goes back
       on the wire as a protobuf string (UTF-8) and into JSON. */
    char shown[17];
    size_t n = 0;
    for (; n < 16 && status[n] != '\0'; n++)
        shown[n] = status[n] > 0x20 && status[n] < 0x7f ? status[n] : '?';
    shown[n] = '\0';
    return hbeat_error_set(err, HBEAT_EINVAL, "invalid status '%s'%s; expected one of %s", shown,
                           status[n] != '\0' ? "..." : "", hbd_status_list());
}

static int check_run_id(int64_t run_id, hbeat_error *err)
{
    if (run_id <= 0)
        return hbeat_error_set(err, HBEAT_EINVAL, "workflow_run_id must be > 0 (got %lld)",
                               (long long)run_id);
    return 0;
}

/* A window from the network (a heartbeat's, a new run's first). */
static int check_increment(double inc, hbeat_error *err)
{
    if (!isfinite(inc) || inc < 0 || inc > HBD_MAX_INCREMENT)
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "next_report_increment must be a number of seconds in [0, %.0f] "
                               "(got %.17g)",
                               HBD_MAX_INCREMENT, inc);
    return 0;
}

static int not_found(int64_t run_id, hbeat_error *err)
{
    return hbeat_error_set(err, HBEAT_ENOTFOUND, "no workflow run %lld", (long long)run_id);
}

/* A line about a change, written once the change is durable (as the
   reaper's are), so that the log never reports a change that a failed
   commit or a crash took back. */
typedef struct durable_line {
    hbd_durable w;
    hbeat_log_level level;
    char text[192];
} durable_line;

static void write_line(void *arg, int rc)
{
    durable_line *d = arg;
    if (rc == 0)
        hbd_log(d->level, "%s", d->text);
    free(d);
}

/* Called without mu: the committer may commit in this thread. */
static void log_when_durable(hbd_engine *e, uint64_t ticket, hbeat_log_level level, const char *fmt,
                             ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static void log_when_durable(hbd_engine *e, uint64_t ticket, hbeat_log_level level, const char *fmt,
                             ...)
{
    durable_line *d = malloc(sizeof *d);
    if (d == NULL) {
        hbd_warn("out of memory: a change is not logged");
        return;
    }
    d->level = level;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->text, sizeof d->text, fmt, ap);
    va_end(ap);
    hbd_committer_notify(e->committer, ticket, &d->w, write_line, d);
}

/* Queues `next` and stores it as the run's record; called with mu held.
   `lazy`: the change only moves a deadline (see hbd_committer_add_lazy). */
static int commit_locked(hbd_engine *e, hbd_run_record *rec, hbd_run_record next, int lazy,
                         uint64_t *ticket, hbeat_error *err)
{
    int rc = lazy ? hbd_committer_add_lazy(e->committer, &next, ticket, err)
                  : hbd_committer_add(e->committer, &next, ticket, err);
    if (rc != 0)
        return rc;
    next.ticket = *ticket;
    *rec = next;
    return 0;
}

/* A status change asked for by update_status or set_status; called with mu
   held. `change`: queue the run in status `to`; otherwise leave it. Either
   way *out is the run as it now stands and *ticket the commit that makes
   that durable: the new one, or the run's last, so that an answer that
   changed nothing still waits for what it reports. */
static int apply_status_locked(hbd_engine *e, hbd_run_record *rec, int to, int change, hbd_run *out,
                               uint64_t *ticket, hbeat_error *err)
{
    int rc = 0;
    if (change) {
        hbd_run_record next = *rec;
        next.status = (uint8_t)to;
        rc = commit_locked(e, rec, next, 0, ticket, err);
    } else {
        *ticket = rec->ticket;
    }
    if (rc == 0)
        to_run(rec, out);
    return rc;
}

static int lock_open(hbd_engine *e, hbeat_error *err)
{
    pthread_mutex_lock(&e->mu);
    if (e->closing) {
        pthread_mutex_unlock(&e->mu);
        return hbeat_error_set(err, HBEAT_ECANCELED, "hbeatd is shutting down");
    }
    return 0;
}

/* lock_open, then the run: on 0 mu is held and *rec is the run; on an
   error (shutting down, no such run) mu is not held. */
static int lock_run(hbd_engine *e, int64_t run_id, hbd_run_record **rec, hbeat_error *err)
{
    int rc = lock_open(e, err);
    if (rc != 0)
        return rc;
    *rec = hbd_run_table_find(&e->runs, run_id);
    if (*rec == NULL) {
        pthread_mutex_unlock(&e->mu);
        return not_found(run_id, err);
    }
    return 0;
}

int hbd_engine_heartbeat_begin(hbd_engine *e, int64_t run_id, const char *status, double inc,
                               hbd_run *out, uint64_t *ticket, hbeat_error *err)
{
    int to, rc;
    hbd_run_record *rec;
    *ticket = 0;
    if ((rc = check_run_id(run_id, err)) != 0 || (rc = parse_status(status, &to, err)) != 0 ||
        (rc = check_increment(inc, err)) != 0)
        return rc;
    if ((rc = lock_run(e, run_id, &rec, err)) != 0)
        return rc;
    int from = rec->status;
    hbd_transition tr = hbd_transition_check(from, to);
    if (tr == HBD_TR_INVALID) {
        *ticket = rec->ticket;
        to_run(rec, out);
        pthread_mutex_unlock(&e->mu);
        /* A client can cause this once per request: rate-limited. */
        hbd_info_limited("engine: invalid heartbeat transition",
                         "run %lld: heartbeat with invalid transition %s -> %s ignored",
                         (long long)run_id, hbd_status_token(from), hbd_status_token(to));
        return 0;
    }
    hbd_run_record next = *rec;
    double now = e->clock(e->clock_arg);
    next.status = (uint8_t)to;
    next.deadline = now + inc;
    next.last_heartbeat = now;
    next.beats++;
    rc = commit_locked(e, rec, next, from == to, ticket, err);
    int moved = rc == 0 && tr == HBD_TR_VALID && from != to;
    uint64_t change = moved ? ++e->changes : 0;
    if (rc == 0)
        to_run(rec, out);
    pthread_mutex_unlock(&e->mu);
    if (moved) {
        log_when_durable(e, *ticket, HBEAT_LOG_DEBUG, "run %lld: %s -> %s (heartbeat)",
                         (long long)run_id, hbd_status_token(from), hbd_status_token(to));
        hbd_engine__report_change(e, *ticket, run_id, to, change);
    }
    return rc;
}

int hbd_engine_update_status_begin(hbd_engine *e, int64_t run_id, const char *status, hbd_run *out,
                                   uint64_t *ticket, hbeat_error *err)
{
    int to, rc;
    hbd_run_record *rec;
    *ticket = 0;
    if ((rc = check_run_id(run_id, err)) != 0 || (rc = parse_status(status, &to, err)) != 0 ||
        (rc = lock_run(e, run_id, &rec, err)) != 0)
        return rc;
    int from = rec->status;
    hbd_transition tr = hbd_transition_check(from, to);
    rc = apply_status_locked(e, rec, to, tr == HBD_TR_VALID, out, ticket, err);
    uint64_t change = rc == 0 && tr == HBD_TR_VALID ? ++e->changes : 0;
    pthread_mutex_unlock(&e->mu);
    if (change != 0)
        hbd_engine__report_change(e, *ticket, run_id, to, change);
    if (tr == HBD_TR_INVALID)
        hbd_info_limited("engine: invalid update_status transition",
                         "run %lld: update_status with invalid transition %s -> %s ignored",
                         (long long)run_id, hbd_status_token(from), hbd_status_token(to));
    return rc;
}

int hbd_engine_create_run_begin(hbd_engine *e, int64_t workflow_id, const char *status,
                                const double *next_report_increment, hbd_run *out, uint64_t *ticket,
                                hbeat_error *err)
{
    int st = HBD_ST_G, rc;
    *ticket = 0;
    if (workflow_id <= 0)
        return hbeat_error_set(err, HBEAT_EINVAL, "workflow_id must be > 0 (got %lld)",
                               (long long)workflow_id);
    if (status != NULL && status[0] != '\0' && (rc = parse_status(status, &st, err)) != 0)
        return rc;
    if (next_report_increment != NULL && (rc = check_increment(*next_report_increment, err)) != 0)
        return rc;
    if ((rc = lock_open(e, err)) != 0)
        return rc;
    hbd_run_record next;
    memset(&next, 0, sizeof next);
    next.id = e->runs.count > 0 ? e->runs.recs[e->runs.count - 1].id + 1 : 1;
    next.workflow_id = workflow_id;
    next.status = (uint8_t)st;
    if (next_report_increment != NULL) {
        /* Jobmon's POST /workflow_run: the deadline runs from creation,
           so a client that never beats is reaped like one that stopped.
           No beat is counted and the last beat stays "never". */
        next.deadline = e->clock(e->clock_arg) + *next_report_increment;
        next.initial_increment = (float)*next_report_increment;
    }
    rc = hbd_committer_add(e->committer, &next, ticket, err);
    if (rc == 0) {
        next.ticket = *ticket;
        hbd_run_record *rec = hbd_run_table_add(&e->runs, &next);
        if (rec == NULL) {
            /* The queued row is harmless: it is re-created with the same
               id next time, and memory and store agree after a restart. */
            rc = hbeat_error_set(err, HBEAT_ENOMEM, "out of memory adding a run");
        } else {
            to_run(rec, out);
        }
    }
    pthread_mutex_unlock(&e->mu);
    if (rc == 0 && next_report_increment != NULL)
        log_when_durable(e, *ticket, HBEAT_LOG_INFO,
                         "created run %lld of workflow %lld in %s, first deadline in %.3g s",
                         (long long)next.id, (long long)workflow_id, hbd_status_token(st),
                         *next_report_increment);
    else if (rc == 0)
        log_when_durable(e, *ticket, HBEAT_LOG_INFO,
                         "created run %lld of workflow %lld in %s, no deadline until its first "
                         "beat",
                         (long long)next.id, (long long)workflow_id, hbd_status_token(st));
    return rc;
}

int hbd_engine_get_run_begin(hbd_engine *e, int64_t run_id, hbd_run *out, uint64_t *ticket,
                             hbeat_error *err)
{
    int rc;
    hbd_run_record *rec;
    *ticket = 0;
    if ((rc = check_run_id(run_id, err)) != 0 || (rc = lock_run(e, run_id, &rec, err)) != 0)
        return rc;
    *ticket = rec->ticket;
    to_run(rec, out);
    if (out != NULL)
        out->change = e->changes;
    pthread_mutex_unlock(&e->mu);
    return 0;
}

int hbd_engine_list_runs_begin(hbd_engine *e, const char *status, int64_t after_id, uint32_t limit,
                               hbd_run **out, size_t *count, int64_t *next_after_id,
                               uint64_t *ticket, hbeat_error *err)
{
    int want = -1, rc;
    *out = NULL;
    *count = 0;
    *next_after_id = 0;
    *ticket = 0;
    if (status != NULL && status[0] != '\0' && (rc = parse_status(status, &want, err)) != 0)
        return rc;
    if (after_id < 0)
        return hbeat_error_set(err, HBEAT_EINVAL, "after_id must be >= 0 (got %lld)",
                               (long long)after_id);
    if (limit == 0)
        limit = HBD_LIST_DEFAULT;
    if (limit > HBD_LIST_MAX)
        limit = HBD_LIST_MAX;
    hbd_run *runs = malloc(limit * sizeof *runs);
    if (runs == NULL)
        return hbeat_error_set(err, HBEAT_ENOMEM, "out of memory listing runs");
    if ((rc = lock_open(e, err)) != 0) {
        free(runs);
        return rc;
    }
    size_t n = 0;
    for (size_t i = hbd_run_table_after(&e->runs, after_id); i < e->runs.count; i++) {
        const hbd_run_record *rec = &e->runs.recs[i];
        if (want >= 0 && rec->status != want)
            continue;
        if (n == limit) {
            /* One more match exists: the page is not the last. */
            *next_after_id = runs[n - 1].id;
            break;
        }
        to_run(rec, &runs[n++]);
        if (rec->ticket > *ticket)
            *ticket = rec->ticket;
    }
    pthread_mutex_unlock(&e->mu);
    *out = runs;
    *count = n;
    return 0;
}

int hbd_engine_set_status_begin(hbd_engine *e, int64_t run_id, const char *status, int force,
                                hbd_run *out, uint64_t *ticket, hbeat_error *err)
{
    int to, rc;
    hbd_run_record *rec;
    *ticket = 0;
    if ((rc = check_run_id(run_id, err)) != 0 || (rc = parse_status(status, &to, err)) != 0 ||
        (rc = lock_run(e, run_id, &rec, err)) != 0)
        return rc;
    int from = rec->status;
    hbd_transition tr = force ? HBD_TR_VALID : hbd_transition_check(from, to);
    if (tr == HBD_TR_INVALID) {
        pthread_mutex_unlock(&e->mu);
        /* An operator asked for it explicitly: say no rather than ignore. */
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "run %lld: %s -> %s is not a valid transition (force overrides)",
                               (long long)run_id, hbd_status_token(from), hbd_status_token(to));
    }
    rc = apply_status_locked(e, rec, to, tr == HBD_TR_VALID && from != to, out, ticket, err);
    uint64_t change = rc == 0 && from != to ? ++e->changes : 0;
    pthread_mutex_unlock(&e->mu);
    if (change != 0) {
        log_when_durable(e, *ticket, HBEAT_LOG_INFO, "run %lld: %s -> %s (set by operator%s)",
                         (long long)run_id, hbd_status_token(from), hbd_status_token(to),
                         force ? ", forced" : "");
        hbd_engine__report_change(e, *ticket, run_id, to, change);
    }
    return rc;
}

void hbd_engine_when_durable(hbd_engine *e, uint64_t ticket, hbd_durable *w, hbd_durable_fn fn,
                             void *arg)
{
    hbd_committer_notify(e->committer, ticket, w, fn, arg);
}

int hbd_engine_failed(hbd_engine *e)
{
    return hbd_committer_failed(e->committer);
}

/* Lifecycle. */

static int load_one(void *arg, const hbd_run_record *rec)
{
    hbd_engine *e = arg;
    return hbd_run_table_add(&e->runs, rec) != NULL ? 0 : HBEAT_ENOMEM;
}

/* One full deadline: the longest increment among runs the reaper could
   take, i.e. how long a live client may take to beat again. A run that
   never beat has the window it was created with. */
static double default_grace(const hbd_engine *e)
{
    double grace = 0;
    for (size_t i = 0; i < e->runs.count; i++) {
        const hbd_run_record *r = &e->runs.recs[i];
        if (hbd_reap_target(r->status) < 0 || r->deadline <= 0)
            continue;
        double window =
            r->last_heartbeat > 0 ? r->deadline - r->last_heartbeat : (double)r->initial_increment;
        if (window > grace)
            grace = window;
    }
    return grace;
}

int hbd_engine_open(hbd_engine **out, const hbd_engine_options *opts, hbeat_error *err)
{
    *out = NULL;
    hbd_engine *e = calloc(1, sizeof *e);
    if (e == NULL)
        return hbeat_error_set(err, HBEAT_ENOMEM, "engine: out of memory");
    pthread_mutex_init(&e->mu, NULL);
    pthread_mutex_init(&e->watch_mu, NULL);
    hbd_run_table_init(&e->runs);
    e->clock = opts->clock;
    e->clock_arg = opts->clock_arg;
    if (e->clock == NULL) {
        int rc = hbd_wallclock_new(&e->wallclock, opts->wallclock, err);
        if (rc != 0) {
            hbd_engine_close(e);
            return rc;
        }
        e->clock = hbd_wallclock_now;
        e->clock_arg = e->wallclock;
    }
    const char *path = opts->db_path != NULL ? opts->db_path : ":memory:";
    /* The mode comes from the options alone: hbeatd reads its environment
       once, in options.c. */
    int sync = opts->sync != HBD_SYNC_DEFAULT ? opts->sync : HBD_SYNC_CHANGES;

    int rc = hbd_store_open(&e->store, path, err);
    if (rc == 0) {
        rc = hbd_store_load(e->store, load_one, e, err);
        if (rc == HBEAT_ENOMEM)
            hbeat_error_set(err, rc, "engine: out of memory loading runs");
    }
    if (rc == 0)
        rc = hbd_committer_start(&e->committer, e->store, err);
    if (rc == 0) {
        hbd_committer_set_sync(e->committer, (hbd_sync)sync);
        e->started = e->clock(e->clock_arg);
        e->grace = opts->reap_grace >= 0 ? opts->reap_grace : default_grace(e);
        hbd_info("store %s: schema v%d, %zu runs, sync %s; reaping starts after %.3g s", path,
                 hbd_store_schema_version(e->store), e->runs.count, hbd_sync_name((hbd_sync)sync),
                 e->grace);
        if (opts->reap_interval > 0)
            rc = hbd_reaper_start(&e->reaper, e, opts->reap_interval, err);
    }
    if (rc != 0) {
        hbd_engine_close(e);
        return rc;
    }
    *out = e;
    return 0;
}

void hbd_engine_close(hbd_engine *e)
{
    if (e == NULL)
        return;
    hbd_reaper_stop(e->reaper);
    pthread_mutex_lock(&e->mu);
    e->closing = 1;
    pthread_mutex_unlock(&e->mu);
    hbd_committer_stop(e->committer);
    hbd_store_close(e->store);
    hbd_run_table_free(&e->runs);
    hbd_wallclock_free(e->wallclock);
    pthread_mutex_destroy(&e->mu);
    pthread_mutex_destroy(&e->watch_mu);
    free(e);
}
