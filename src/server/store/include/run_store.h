/*
 * The run store: a versioned table of operations at the level of one run,
 * shaped like the gateway vtable (hbeat/gateway.h), so that a shared
 * database can make each operation atomic by itself (a conditional UPDATE)
 * and several hbeatd can serve the same runs.
 *
 * Two implementations:
 *   - SQLite (the engine's own, engine.c): the runs in memory are the
 *     authority, changes reach the file by group commit (committer.h).
 *     Every operation is answered at once; its ticket says when it is
 *     durable.
 *   - PostgreSQL (pg_store.h): the database is the authority; each
 *     operation is a statement on one of a few worker connections, and its
 *     result arrives later, when its ticket is reported.
 *
 * An operation's inputs have been checked by the engine (ids > 0, a known
 * status, an increment in range). Its outputs (op->out, op->list,
 * op->count, op->next_after_id, op->err) are the caller's storage: they
 * are filled before the operation's ticket is reported (for SQLite: before
 * the call returns) and must stay valid until then. A result that only the
 * store can know (no such run, a transition refused by set_status, the
 * database unreachable) is then the ticket's rc, with op->err saying why.
 */
#ifndef HBD_RUN_STORE_H
#define HBD_RUN_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "durable.h"
#include "hbeat/errors.h"
#include "hbeat/status.h"
#include "run_status.h"

/* A run as the server reports it. Times are Unix seconds; 0 when unset. */
typedef struct hbd_run {
    int64_t id;
    int64_t workflow_id;
    char status[HBEAT_STATUS_MAX + 1];
    double deadline;
    double last_heartbeat;
    uint64_t beats;
    /* get_run: the count of status changes when the run was read, on the
       count the feed of changes numbers them with (hbd_engine_watch_changes
       in engine.h): SQLite's engine counts every run's changes since it
       opened, PostgreSQL counts each run's in its row. 0 elsewhere on
       SQLite. */
    uint64_t change;
} hbd_run;

typedef enum hbd_run_op_kind {
    HBD_OP_CREATE,
    HBD_OP_HEARTBEAT,
    HBD_OP_UPDATE_STATUS,
    HBD_OP_SET_STATUS,
    HBD_OP_GET,
    HBD_OP_LIST,
    HBD_OP_COUNT, /* the runs by status (a gauge: ticket 0 for SQLite) */
    HBD_OP_KINDS
} hbd_run_op_kind;

/* One operation: what it asks for (checked by the engine) and where its
   result goes (the caller's). */
typedef struct hbd_run_op {
    hbd_run_op_kind kind;
    int64_t run_id;      /* all but CREATE and LIST */
    int64_t workflow_id; /* CREATE */
    int status;          /* HBD_ST_*: the status asked for; LIST: -1 for any */
    int force;           /* SET_STATUS */
    /* The statuses (tokens, "LR") from which `status` is taken as asked
       (HEARTBEAT: valid or untimely; UPDATE_STATUS, SET_STATUS: valid, or
       any other with force), and those in which the run stays as it is
       as a success (untimely, or `status` itself with force). From any
       other status the call changes nothing: SET_STATUS is refused with
       HBEAT_EINVAL, the others answer the run as it stands. The engine fills them from the state
       machine, so a store applies Jobmon's rules without knowing them. */
    char from_ok[HBD_ST_COUNT + 1];
    char keep_ok[HBD_ST_COUNT + 1];
    /* HEARTBEAT: 1 when the status may stay as it is (R->R, L->L): a beat
       that finds the run in `status` only moves its deadline, which a
       store may commit more cheaply (see hbd_sync). */
    int plain;
    int has_increment; /* CREATE: a first deadline; HEARTBEAT: always 1 */
    double increment;
    double now;       /* the engine's clock when the call came in */
    int64_t after_id; /* LIST */
    uint32_t limit;   /* LIST, 1 to HBD_LIST_MAX */
    hbd_run *out;     /* every kind but LIST */
    hbd_run **list;   /* LIST: malloc'ed page (free()) */
    size_t *count;
    int64_t *next_after_id;
    uint64_t *counts; /* COUNT: HBD_ST_COUNT counters, by status index */
    hbeat_error *err;
    /* The caller's thread may wait for the database inside submit
       (hbd_engine_thread_may_wait in engine.h). */
    int may_wait;
} hbd_run_op;

/* A run the reaper moved, for its log line, the metrics and the engine's
   feed of status changes. */
typedef struct hbd_reaped_run {
    int64_t id;
    double late; /* seconds past the deadline */
    uint8_t from, to;
    uint64_t change; /* its number among status changes; 0: the engine numbers it */
} hbd_reaped_run;

/* A committed status change, reported by a store that watches its own
   runs (hbd_run_store_ops.watch): run `run_id` is now in `status`
   (HBD_ST_*), numbered `change` (of two about one run, the higher is the
   newer). run_id 0 (status -1): changes may have been missed (the store
   lost its feed, or has just found it again), so whoever follows them
   must read the runs again. */
typedef void (*hbd_store_change_fn)(void *arg, int64_t run_id, int status, uint64_t change);

/* Current version of hbd_run_store_ops. Version 2 added `watch` and the
   COUNT operation. */
#define HBD_RUN_STORE_OPS_VERSION 2

typedef struct hbd_run_store_ops {
    /* HBD_RUN_STORE_OPS_VERSION. */
    unsigned int version;
    /* "sqlite", "postgresql": for the log and /metrics. */
    const char *name;
    /* Starts `op`: 0 and *ticket (the commit that makes its result
       durable and, for a deferred store, fills its outputs), or an error
       known at once (shutting down, out of memory, the store down). */
    int (*submit)(void *self, const hbd_run_op *op, uint64_t *ticket);
    /* Calls fn(arg, rc) once `ticket` is reported: rc 0, or the
       operation's error (its op->err says why). At once in this thread
       when already known. Each ticket of a deferred store is waited for
       exactly once. */
    void (*when_done)(void *self, uint64_t ticket, hbd_durable *w, hbd_durable_fn fn, void *arg);
    /* One reaper pass at `now`: moves every run whose deadline has passed
       to its reaper target, once, and returns when that is durable.
       *moved (malloc'ed, free()) lists them. `look_only` (during the
       start-up grace): reap nothing, only say this instance is there (a
       shared store keeps the grace of the service, not of one instance). */
    int (*reap)(void *self, double now, int look_only, hbd_reaped_run **moved, size_t *count,
                hbeat_error *err);
    /* 1 when results arrive later than submit (outputs must then outlive
       the call); 0 when submit fills them at once. */
    int deferred;
    /* 1 once the store has failed for good (fail-stop): hbeatd exits. */
    int (*failed)(void *self);
    /* 1 while the store answers (a database may go away and come back). */
    int (*up)(void *self);
    /* Answers what is in flight, then frees. */
    void (*close)(void *self);
    /* Version 2; optional (NULL: the engine reports the changes its own
       calls and reaper make). Starts reporting every committed status
       change of the store's runs to fn, whoever made it (this instance,
       another one sharing the store, SQL by hand), from a thread of the
       store's, until close; the engine then reports none itself. Called
       at most once, before the first operation. */
    int (*watch)(void *self, hbd_store_change_fn fn, void *arg, hbeat_error *err);
} hbd_run_store_ops;

#endif /* HBD_RUN_STORE_H */
