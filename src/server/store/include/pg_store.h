/*
 * The run store on PostgreSQL (run_store.h), over libpq: the database is
 * the authority, so several hbeatd may serve the same runs at once.
 *
 * - Every operation is one statement, atomic by itself: a conditional
 *   UPDATE whose WHERE names the statuses the state machine accepts, so
 *   two hbeatd never lose each other's changes.
 * - A few worker threads, each with its own connection, take whatever is
 *   queued (up to HBD_PG_BATCH operations) and send it in one pipeline as
 *   one transaction, sorted by run id (no two batches ever wait on each
 *   other in a cycle): many beats share one round trip and one commit.
 * - Plain beats (R->R, L->L: only the deadline moves) commit with
 *   synchronous_commit off unless the sync mode is "full"; a batch that
 *   holds any status change or new run commits synchronously.
 * - The reaper takes a transaction-level advisory lock, so one instance
 *   reaps at a time, and each due run is moved exactly once.
 * - The schema is created and migrated under a session advisory lock, so
 *   instances starting together do not race.
 * - A lost connection makes the store "down": new operations fail at once
 *   with HBEAT_EBUSY, queued ones too; each worker reconnects by itself.
 *   A database that does not answer within the timeout counts as lost,
 *   so that no thread waits for it for ever.
 * - Every status change is counted in its run's row and announced with
 *   NOTIFY by a trigger; one listening connection per instance
 *   (pg_listen.h) hears them all, once committed, and reports them
 *   (run_store.h, watch).
 */
#ifndef HBD_PG_STORE_H
#define HBD_PG_STORE_H

#include "hbeat/errors.h"
#include "run_store.h"

/* Schema version this build writes (table hbeat_schema). 2: each run
   counts its status changes (column changes), announced on HBD_PG_CHANNEL. */
#define HBD_PG_SCHEMA_VERSION 2
/* The channel of NOTIFY on which every committed status change is
   announced: "id from to changes" (pg_listen.h). */
#define HBD_PG_CHANNEL "hbeat_runs"
/* Operations sent in one round trip and one transaction, at most. */
#define HBD_PG_BATCH 128

typedef struct hbd_pg_store_options {
    /* Any connection URI or key=value string libpq accepts. */
    const char *conninfo;
    /* hbd_sync (store.h): FULL commits every batch synchronously. */
    int sync;
    /* Worker connections; 0: 4. */
    unsigned int workers;
    /* Seconds to wait for the database's answer to a batch or a reaper
       statement, and for a new connection (unless the connection string
       sets connect_timeout); past it the calls fail with HBEAT_EBUSY and
       the connection is replaced. 0: HBD_DEFAULT_DB_TIMEOUT (defaults.h). */
    double timeout;
    /* The engine's clock now, the reaper's interval and the grace asked
       for (< 0: one full deadline, the longest window of a run the reaper
       could take). */
    double now;
    double reap_interval;
    double reap_grace;
} hbd_pg_store_options;

/* 1 when `db` names a PostgreSQL database rather than a SQLite file:
   "postgresql://..." or "postgres://...". */
int hbd_pg_is_conninfo(const char *db);

/* Connects, creates or migrates the schema, starts the workers. *grace
   gets the seconds this instance waits before it reaps: the start-up
   grace when no hbeatd has reaped lately (the whole service was down),
   else what is left of the grace another instance began. Errors say what
   libpq said, never the password. */
int hbd_pg_store_open(void **self, const hbd_run_store_ops **ops, const hbd_pg_store_options *o,
                      double *grace, hbeat_error *err);

#endif /* HBD_PG_STORE_H */
