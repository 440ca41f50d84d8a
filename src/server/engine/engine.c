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
#include "pg_store.h"
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

static int mem_heartbeat(hbd_engine *e, const hbd_run_op *op, uint64_t *ticket)
{
    int to = op->status, rc;
    int64_t run_id = op->run_id;
    hbd_run *out = op->out;
    hbeat_error *err = op->err;
    hbd_run_record *rec;
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
    double now = op->now;
    next.status = (uint8_t)to;
    next.deadline = now + op->increment;
    next.last_heartbeat = now;
    next.beats++;
    rc = commit_locked(e, rec, next, from == to, ticket, err);
    int moved = rc == 0 && tr == HBD_TR_VALID && from != to;
    uint64_t change = moved ? __atomic_add_fetch(&e->changes, 1, __ATOMIC_SEQ_CST) : 0;
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

static int mem_update_status(hbd_engine *e, const hbd_run_op *op, uint64_t *ticket)
{
    int to = op->status, rc;
    int64_t run_id = op->run_id;
    hbd_run *out = op->out;
    hbeat_error *err = op->err;
    hbd_run_record *rec;
    if ((rc = lock_run(e, run_id, &rec, err)) != 0)
        return rc;
    int from = rec->status;
    hbd_transition tr = hbd_transition_check(from, to);
    rc = apply_status_locked(e, rec, to, tr == HBD_TR_VALID, out, ticket, err);
    uint64_t change =
        rc == 0 && tr == HBD_TR_VALID ? __atomic_add_fetch(&e->changes, 1, __ATOMIC_SEQ_CST) : 0;
    pthread_mutex_unlock(&e->mu);
    if (change != 0)
        hbd_engine__report_change(e, *ticket, run_id, to, change);
    if (tr == HBD_TR_INVALID)
        hbd_info_limited("engine: invalid update_status transition",
                         "run %lld: update_status with invalid transition %s -> %s ignored",
                         (long long)run_id, hbd_status_token(from), hbd_status_token(to));
    return rc;
}

static int mem_create_run(hbd_engine *e, const hbd_run_op *op, uint64_t *ticket)
{
    int st = op->status, rc;
    int64_t workflow_id = op->workflow_id;
    const double *next_report_increment = op->has_increment ? &op->increment : NULL;
    hbd_run *out = op->out;
    hbeat_error *err = op->err;
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
        next.deadline = op->now + *next_report_increment;
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

static int mem_get_run(hbd_engine *e, const hbd_run_op *op, uint64_t *ticket)
{
    int rc;
    hbd_run_record *rec;
    if ((rc = lock_run(e, op->run_id, &rec, op->err)) != 0)
        return rc;
    *ticket = rec->ticket;
    to_run(rec, op->out);
    if (op->out != NULL)
        op->out->change = __atomic_load_n(&e->changes, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&e->mu);
    return 0;
}

static int mem_list_runs(hbd_engine *e, const hbd_run_op *op, uint64_t *ticket)
{
    int want = op->status, rc;
    uint32_t limit = op->limit;
    hbeat_error *err = op->err;
    int64_t *next_after_id = op->next_after_id;
    hbd_run *runs = malloc(limit * sizeof *runs);
    if (runs == NULL)
        return hbeat_error_set(err, HBEAT_ENOMEM, "out of memory listing runs");
    if ((rc = lock_open(e, err)) != 0) {
        free(runs);
        return rc;
    }
    size_t n = 0;
    for (size_t i = hbd_run_table_after(&e->runs, op->after_id); i < e->runs.count; i++) {
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
    *op->list = runs;
    *op->count = n;
    return 0;
}

/* Runs counted under the lock at a time: a count of a million runs never
   holds up a beat for long. */
#define COUNT_CHUNK 4096

static int mem_count_runs(hbd_engine *e, const hbd_run_op *op, uint64_t *ticket)
{
    int64_t after = 0;
    int rc;
    *ticket = 0; /* a gauge: the view in memory is close enough */
    for (;;) {
        if ((rc = lock_open(e, op->err)) != 0)
            return rc;
        size_t i = hbd_run_table_after(&e->runs, after), end = i + COUNT_CHUNK;
        for (; i < e->runs.count && i < end; i++)
            op->counts[e->runs.recs[i].status]++;
        int more = i < e->runs.count;
        if (more)
            after = e->runs.recs[i - 1].id;
        pthread_mutex_unlock(&e->mu);
        if (!more)
            return 0;
    }
}

static int mem_set_status(hbd_engine *e, const hbd_run_op *op, uint64_t *ticket)
{
    int to = op->status, force = op->force, rc;
    int64_t run_id = op->run_id;
    hbd_run *out = op->out;
    hbeat_error *err = op->err;
    hbd_run_record *rec;
    if ((rc = lock_run(e, run_id, &rec, err)) != 0)
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
    uint64_t change =
        rc == 0 && from != to ? __atomic_add_fetch(&e->changes, 1, __ATOMIC_SEQ_CST) : 0;
    pthread_mutex_unlock(&e->mu);
    if (change != 0) {
        log_when_durable(e, *ticket, HBEAT_LOG_INFO, "run %lld: %s -> %s (set by operator%s)",
                         (long long)run_id, hbd_status_token(from), hbd_status_token(to),
                         force ? ", forced" : "");
        hbd_engine__report_change(e, *ticket, run_id, to, change);
    }
    return rc;
}

/* ---- SQLite: the runs in memory, group commit (run_store.h) ---- */

static int mem_submit(void *self, const hbd_run_op *op, uint64_t *ticket)
{
    hbd_engine *e = self;
    switch (op->kind) {
    case HBD_OP_HEARTBEAT:
        return mem_heartbeat(e, op, ticket);
    case HBD_OP_UPDATE_STATUS:
        return mem_update_status(e, op, ticket);
    case HBD_OP_CREATE:
        return mem_create_run(e, op, ticket);
    case HBD_OP_GET:
        return mem_get_run(e, op, ticket);
    case HBD_OP_LIST:
        return mem_list_runs(e, op, ticket);
    case HBD_OP_COUNT:
        return mem_count_runs(e, op, ticket);
    case HBD_OP_SET_STATUS:
        return mem_set_status(e, op, ticket);
    default:
        return hbeat_error_set(op->err, HBEAT_EINVAL, "no such operation");
    }
}

static void mem_when_done(void *self, uint64_t ticket, hbd_durable *w, hbd_durable_fn fn, void *arg)
{
    hbd_engine *e = self;
    hbd_committer_notify(e->committer, ticket, w, fn, arg);
}

static int mem_failed(void *self)
{
    hbd_engine *e = self;
    return hbd_committer_failed(e->committer);
}

static int mem_up(void *self)
{
    return !mem_failed(self);
}

static void mem_close(void *self)
{
    (void)self; /* the engine closes the committer and the file itself */
}

static const hbd_run_store_ops sqlite_ops = {
    .version = HBD_RUN_STORE_OPS_VERSION,
    .name = "sqlite",
    .submit = mem_submit,
    .when_done = mem_when_done,
    .reap = hbd_engine_mem_reap,
    .deferred = 0,
    .failed = mem_failed,
    .up = mem_up,
    .close = mem_close,
    .watch = NULL, /* the engine reports its own changes */
};

/* ---- the calls: checks, then the store ---- */

/* Fills what the state machine says about moving to `to` (run_store.h). */
static void rules(hbd_run_op *op)
{
    size_t nf = 0, nk = 0;
    for (int from = 0; from < HBD_ST_COUNT; from++) {
        hbd_transition tr = hbd_transition_check(from, op->status);
        int moves;
        if (op->kind == HBD_OP_HEARTBEAT)
            moves = tr != HBD_TR_INVALID;
        else if (op->force)
            moves = from != op->status;
        else
            moves = tr == HBD_TR_VALID && from != op->status;
        int keeps = !moves && (tr == HBD_TR_UNTIMELY || (op->force && from == op->status));
        if (moves)
            op->from_ok[nf++] = hbd_status_token(from)[0];
        else if (keeps)
            op->keep_ok[nk++] = hbd_status_token(from)[0];
    }
    op->from_ok[nf] = '\0';
    op->keep_ok[nk] = '\0';
    op->plain = hbd_transition_check(op->status, op->status) == HBD_TR_UNTIMELY;
}

static _Thread_local int thread_may_wait;

void hbd_engine_thread_may_wait(int may_wait)
{
    thread_may_wait = may_wait != 0;
}

static int submit(hbd_engine *e, hbd_run_op *op, uint64_t *ticket)
{
    op->now = e->clock(e->clock_arg);
    op->may_wait = thread_may_wait;
    if (op->kind == HBD_OP_HEARTBEAT || op->kind == HBD_OP_UPDATE_STATUS ||
        op->kind == HBD_OP_SET_STATUS)
        rules(op);
    return e->ops->submit(e->ops_self, op, ticket);
}

int hbd_engine_heartbeat_begin(hbd_engine *e, int64_t run_id, const char *status, double inc,
                               hbd_run *out, uint64_t *ticket, hbeat_error *err)
{
    hbd_run_op op = {.kind = HBD_OP_HEARTBEAT,
                     .run_id = run_id,
                     .increment = inc,
                     .has_increment = 1,
                     .out = out,
                     .err = err};
    int rc;
    *ticket = 0;
    if ((rc = check_run_id(run_id, err)) != 0 ||
        (rc = parse_status(status, &op.status, err)) != 0 || (rc = check_increment(inc, err)) != 0)
        return rc;
    return submit(e, &op, ticket);
}

int hbd_engine_update_status_begin(hbd_engine *e, int64_t run_id, const char *status, hbd_run *out,
                                   uint64_t *ticket, hbeat_error *err)
{
    hbd_run_op op = {.kind = HBD_OP_UPDATE_STATUS, .run_id = run_id, .out = out, .err = err};
    int rc;
    *ticket = 0;
    if ((rc = check_run_id(run_id, err)) != 0 || (rc = parse_status(status, &op.status, err)) != 0)
        return rc;
    return submit(e, &op, ticket);
}

int hbd_engine_create_run_begin(hbd_engine *e, int64_t workflow_id, const char *status,
                                const double *next_report_increment, hbd_run *out, uint64_t *ticket,
                                hbeat_error *err)
{
    hbd_run_op op = {.kind = HBD_OP_CREATE,
                     .workflow_id = workflow_id,
                     .status = HBD_ST_G,
                     .out = out,
                     .err = err};
    int rc;
    *ticket = 0;
    if (workflow_id <= 0)
        return hbeat_error_set(err, HBEAT_EINVAL, "workflow_id must be > 0 (got %lld)",
                               (long long)workflow_id);
    if (status != NULL && status[0] != '\0' && (rc = parse_status(status, &op.status, err)) != 0)
        return rc;
    if (next_report_increment != NULL) {
        if ((rc = check_increment(*next_report_increment, err)) != 0)
            return rc;
        op.has_increment = 1;
        op.increment = *next_report_increment;
    }
    return submit(e, &op, ticket);
}

int hbd_engine_get_run_begin(hbd_engine *e, int64_t run_id, hbd_run *out, uint64_t *ticket,
                             hbeat_error *err)
{
    hbd_run_op op = {.kind = HBD_OP_GET, .run_id = run_id, .out = out, .err = err};
    int rc;
    *ticket = 0;
    if ((rc = check_run_id(run_id, err)) != 0)
        return rc;
    return submit(e, &op, ticket);
}

int hbd_engine_list_runs_begin(hbd_engine *e, const char *status, int64_t after_id, uint32_t limit,
                               hbd_run **out, size_t *count, int64_t *next_after_id,
                               uint64_t *ticket, hbeat_error *err)
{
    hbd_run_op op = {.kind = HBD_OP_LIST,
                     .status = -1,
                     .after_id = after_id,
                     .list = out,
                     .count = count,
                     .next_after_id = next_after_id,
                     .err = err};
    int rc;
    *out = NULL;
    *count = 0;
    *next_after_id = 0;
    *ticket = 0;
    if (status != NULL && status[0] != '\0' && (rc = parse_status(status, &op.status, err)) != 0)
        return rc;
    if (after_id < 0)
        return hbeat_error_set(err, HBEAT_EINVAL, "after_id must be >= 0 (got %lld)",
                               (long long)after_id);
    op.limit = limit == 0 ? HBD_LIST_DEFAULT : limit > HBD_LIST_MAX ? HBD_LIST_MAX : limit;
    return submit(e, &op, ticket);
}

int hbd_engine_count_runs_begin(hbd_engine *e, uint64_t counts[HBD_ST_COUNT], uint64_t *ticket,
                                hbeat_error *err)
{
    hbd_run_op op = {.kind = HBD_OP_COUNT, .counts = counts, .err = err};
    memset(counts, 0, HBD_ST_COUNT * sizeof counts[0]);
    *ticket = 0;
    return submit(e, &op, ticket);
}

int hbd_engine_set_status_begin(hbd_engine *e, int64_t run_id, const char *status, int force,
                                hbd_run *out, uint64_t *ticket, hbeat_error *err)
{
    hbd_run_op op = {
        .kind = HBD_OP_SET_STATUS, .run_id = run_id, .force = force != 0, .out = out, .err = err};
    int rc;
    *ticket = 0;
    if ((rc = check_run_id(run_id, err)) != 0 || (rc = parse_status(status, &op.status, err)) != 0)
        return rc;
    return submit(e, &op, ticket);
}

void hbd_engine_when_durable(hbd_engine *e, uint64_t ticket, hbd_durable *w, hbd_durable_fn fn,
                             void *arg)
{
    e->ops->when_done(e->ops_self, ticket, w, fn, arg);
}

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int done, rc;
    hbd_durable w;
} waiter;

static void on_reported(void *arg, int rc)
{
    waiter *w = arg;
    pthread_mutex_lock(&w->mu);
    w->rc = rc;
    w->done = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mu);
}

int hbd_engine_wait(hbd_engine *e, uint64_t ticket)
{
    waiter w = {.done = 0};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cond, NULL);
    hbd_engine_when_durable(e, ticket, &w.w, on_reported, &w);
    pthread_mutex_lock(&w.mu);
    while (!w.done)
        pthread_cond_wait(&w.cond, &w.mu);
    pthread_mutex_unlock(&w.mu);
    pthread_cond_destroy(&w.cond);
    pthread_mutex_destroy(&w.mu);
    return w.rc;
}

int hbd_engine_failed(hbd_engine *e)
{
    return e->ops->failed(e->ops_self);
}

int hbd_engine_deferred(const hbd_engine *e)
{
    return e->ops->deferred;
}

int hbd_engine_store_up(hbd_engine *e)
{
    return e->ops->up(e->ops_self);
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

/* PostgreSQL (pg_store.h): the database is the authority; nothing is
   loaded into memory. */
static int open_pg(hbd_engine *e, const hbd_engine_options *opts, const char *conninfo, int sync,
                   hbeat_error *err)
{
    hbd_pg_store_options po = {.conninfo = conninfo, .sync = sync};
    po.now = e->clock(e->clock_arg);
    po.reap_interval = opts->reap_interval > 0 ? opts->reap_interval : 10;
    po.reap_grace = opts->reap_grace;
    po.timeout = opts->db_timeout;
    int rc = hbd_pg_store_open(&e->ops_self, &e->ops, &po, &e->grace, err);
    if (rc != 0) {
        e->ops = NULL;
        return rc;
    }
    e->started = po.now;
    if (e->ops->version >= 2 && e->ops->watch != NULL) {
        if ((rc = e->ops->watch(e->ops_self, hbd_engine__store_changed, e, err)) != 0)
            return rc;
        e->store_reports = 1;
    }
    hbd_info("sync %s; reaping starts after %.3g s", hbd_sync_name((hbd_sync)sync), e->grace);
    if (opts->reap_interval > 0)
        rc = hbd_reaper_start(&e->reaper, e, opts->reap_interval, err);
    return rc;
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

    if (hbd_pg_is_conninfo(path)) {
        int rc = open_pg(e, opts, path, sync, err);
        if (rc != 0) {
            hbd_engine_close(e);
            return rc;
        }
        *out = e;
        return 0;
    }
    e->ops = &sqlite_ops;
    e->ops_self = e;
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
    if (e->ops != NULL)
        e->ops->close(e->ops_self);
    hbd_committer_stop(e->committer);
    hbd_store_close(e->store);
    hbd_run_table_free(&e->runs);
    hbd_wallclock_free(e->wallclock);
    pthread_mutex_destroy(&e->mu);
    pthread_mutex_destroy(&e->watch_mu);
    free(e);
}
