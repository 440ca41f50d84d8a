/*
 * The server's engine: every call hbeatd answers, independent of the
 * protocol it arrived on. Front ends (nng, REST) decode a request, call one
 * of these, and encode the result. Each call is thread-safe and returns only
 * once any change it made is durable in the store.
 *
 * Errors are hbeat codes (hbeat/errors.h): HBEAT_EINVAL for bad input,
 * HBEAT_ENOTFOUND for an unknown run, HBEAT_ESYSTEM for a store failure,
 * HBEAT_ECANCELED while shutting down; err->message says what was wrong.
 */
#ifndef HBD_ENGINE_H
#define HBD_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "hbeat/errors.h"
#include "hbeat/status.h"

#include "durable.h"
#include "run_store.h"

/* Largest next_report_increment accepted, in seconds (one year). */
#define HBD_MAX_INCREMENT (365.0 * 24 * 3600)

typedef struct hbd_engine hbd_engine;

typedef struct hbd_engine_options {
    /* SQLite file; NULL or ":memory:" keeps runs in memory only; a
       "postgresql://" or "postgres://" URI: PostgreSQL (pg_store.h). */
    const char *db_path;
    /* Seconds between reaper passes. */
    double reap_interval;
    /* Seconds after start before the first reap; < 0: one full deadline
       (the longest increment any stored run has). */
    double reap_grace;
    /* Appended after the first release of this header; zero/NULL keeps the
       default. */
    /* The engine's clock in Unix seconds, used as it is: no protection
       from steps. NULL: an hbd_wallclock (wallclock.h) over the raw clocks
       in `wallclock`. For tests. */
    double (*clock)(void *arg);
    void *clock_arg;
    /* When commits are fsynced: an hbd_sync (store.h). 0 takes
       $HBEATD_SYNC ("full", "changes" or "normal") when set, else
       "changes". */
    int sync;
    /* The raw clocks and slew limits of the engine's clock when `clock` is
       NULL; NULL: the system's clocks and the defaults. Borrowed for the
       call. */
    const struct hbd_wallclock_options *wallclock;
    /* PostgreSQL: seconds to wait for the database (pg_store.h); 0: the
       default. */
    double db_timeout;
} hbd_engine_options;

int hbd_engine_open(hbd_engine **out, const hbd_engine_options *opts, hbeat_error *err);
/* Stops the reaper, flushes and closes the store. NULL is a no-op. */
void hbd_engine_close(hbd_engine *engine);

/*
 * Every call is asynchronous, so that a front end never holds a thread
 * per request: each *_begin call validates and hands the call to the
 * store (run_store.h); *ticket names the commit that makes it (and
 * everything *out reports) durable. SQLite fills *out at once; PostgreSQL
 * when the ticket is reported (hbd_engine_deferred). The reply may be sent
 * only after hbd_engine_when_durable() reports 0 for the ticket, and each
 * ticket a call returned must be waited for exactly once.
 */

int hbd_engine_heartbeat_begin(hbd_engine *engine, int64_t run_id, const char *status,
                               double next_report_increment, hbd_run *out, uint64_t *ticket,
                               hbeat_error *err);
int hbd_engine_update_status_begin(hbd_engine *engine, int64_t run_id, const char *status,
                                   hbd_run *out, uint64_t *ticket, hbeat_error *err);
int hbd_engine_create_run_begin(hbd_engine *engine, int64_t workflow_id, const char *status,
                                const double *next_report_increment, hbd_run *out, uint64_t *ticket,
                                hbeat_error *err);
int hbd_engine_get_run_begin(hbd_engine *engine, int64_t run_id, hbd_run *out, uint64_t *ticket,
                             hbeat_error *err);
int hbd_engine_list_runs_begin(hbd_engine *engine, const char *status, int64_t after_id,
                               uint32_t limit, hbd_run **out, size_t *count, int64_t *next_after_id,
                               uint64_t *ticket, hbeat_error *err);
int hbd_engine_set_status_begin(hbd_engine *engine, int64_t run_id, const char *status, int force,
                                hbd_run *out, uint64_t *ticket, hbeat_error *err);
/* The runs by status: counts[i] is the number in status index i
   (run_status.h). A gauge: SQLite counts what memory holds (ticket 0),
   PostgreSQL in one statement. */
int hbd_engine_count_runs_begin(hbd_engine *engine, uint64_t counts[HBD_ST_COUNT], uint64_t *ticket,
                                hbeat_error *err);
/* Calls fn(arg, rc) once `ticket` is durable (rc 0) or never can be
   (rc HBEAT_ESYSTEM, err detail lost: the store failed; with a deferred
   store, the call's own error). Called at once in this thread when
   already known, else later from the store's writer (or worker) thread,
   which fn must not block for long. `w` must stay valid until fn
   runs. */
void hbd_engine_when_durable(hbd_engine *engine, uint64_t ticket, hbd_durable *w, hbd_durable_fn fn,
                             void *arg);

/* A run's status changed: `status` is the new one, `change` numbers the
   run's status changes, so that of two reports about one run the higher
   is the newer (a get_run's hbd_run.change is on the same count; SQLite
   counts every run's changes since the engine opened, PostgreSQL each
   run's in the database). Called once the change is durable, from the
   committer's thread, the caller's, or (PostgreSQL, where every change of
   every hbeatd sharing the database is reported, once committed) the
   store's listening thread; it must not block, and must not call back
   into the engine with the change's own commit pending.
   status NULL (run_id 0): the feed was interrupted (PostgreSQL lost its
   listening connection, or has just got it back): changes may have been
   missed, and whoever follows runs must read them again. */
typedef void (*hbd_change_fn)(void *arg, int64_t run_id, const char *status, uint64_t change);
/* Sets the one watcher of status changes (fn NULL: none). Once this
   returns, no call to the previous watcher is running or will start. */
void hbd_engine_watch_changes(hbd_engine *engine, hbd_change_fn fn, void *arg);

/* Blocks this thread until `ticket` is reported, and returns its rc:
   for a thread that may wait for the database (a /metrics scrape on one
   of REST's threads, tests), never for nng's loop or gRPC's queue
   thread. */
int hbd_engine_wait(hbd_engine *engine, uint64_t ticket);

/* Says whether the calling thread may wait for a database's round trip
   inside a *_begin call (one of a pool of threads, such as REST's). A
   deferred store may then answer a call in the caller's thread when it
   has nothing else in flight, which spares a lone request two thread
   hand-offs; the ticket is then reported at once. Off by default: a
   thread that serves many connections alone (nng's loop, gRPC's queue
   thread) must never wait. The setting is the thread's own. */
void hbd_engine_thread_may_wait(int may_wait);

/* One reaper pass now (the reaper thread calls this every reap_interval):
   moves every run whose deadline has passed to its reaper target and waits
   until that is durable. Does nothing while the start-up grace lasts.
   *reaped (may be NULL) gets the number of runs moved. Returns 0 or an
   error from the store. With reap_interval <= 0 no thread is started and
   only this reaps (tests). */
int hbd_engine_reap(hbd_engine *engine, size_t *reaped, hbeat_error *err);
/* 1 once the store has failed; every later change is refused. main()
   exits with a runtime failure. */
int hbd_engine_failed(hbd_engine *engine);
/* 1 when results arrive with the ticket rather than at once (PostgreSQL):
   *out, the list outputs and *err of a *_begin call that returned 0 are
   then filled only before its durable callback runs, so they must stay
   valid until then, and the callback's rc is the call's own result (0,
   HBEAT_ENOTFOUND, HBEAT_EINVAL from set_status, HBEAT_EBUSY while the
   database is unreachable, ...) with *err saying why. 0 (SQLite): they
   are filled when the call returns and rc is 0 or HBEAT_ESYSTEM. */
int hbd_engine_deferred(const hbd_engine *engine);
/* 1 while the store answers; 0 while its database is unreachable. */
int hbd_engine_store_up(hbd_engine *engine);
/* Default and largest page for list_runs. */
#define HBD_LIST_DEFAULT 100
#define HBD_LIST_MAX     1000

#endif /* HBD_ENGINE_H */
