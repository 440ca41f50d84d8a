/*
 * The durable copy of the runs: one SQLite file in WAL mode, opened in
 * exclusive locking mode so that two servers never share one file. The
 * schema carries a version (PRAGMA user_version); migrations bring an older
 * file up to date when it is opened. ":memory:" is an in-memory database
 * behind the same code.
 *
 * One thread at a time: the engine loads through it once, then only the
 * committer writes.
 */
#ifndef HBD_STORE_H
#define HBD_STORE_H

#include <stddef.h>

#include "hbeat/errors.h"
#include "runs.h"

/*
 * When a commit is forced to disk (an fsync of the WAL). Every mode keeps
 * what was committed across a crash of the process (kill -9): the WAL is
 * written before the commit returns. They differ on a power loss or an
 * OS crash:
 *   FULL     every commit is fsynced: nothing acknowledged is ever lost.
 *   CHANGES  a commit that carries a status change, a new run or an
 *            operator's change is fsynced; one that only moves heartbeat
 *            deadlines is not, and is made durable by the next fsynced
 *            commit or checkpoint. A power loss can take back the last
 *            moments of deadline moves, never a status (the WAL is a log:
 *            an fsync covers everything written before it).
 *   NORMAL   no commit is fsynced; the WAL is synced at checkpoints.
 * DEFAULT resolves to CHANGES.
 */
typedef enum hbd_sync {
    HBD_SYNC_DEFAULT = 0,
    HBD_SYNC_FULL,
    HBD_SYNC_CHANGES,
    HBD_SYNC_NORMAL
} hbd_sync;

/* "full", "changes", "normal" -> the mode; -1 for anything else. */
int hbd_sync_parse(const char *name);
const char *hbd_sync_name(hbd_sync mode);

/* Schema version this build writes. 2 added runs.initial_increment. */
#define HBD_STORE_SCHEMA_VERSION 2

typedef struct hbd_store hbd_store;

/* Opens (creating if need be) and migrates `path`. */
int hbd_store_open(hbd_store **out, const char *path, hbeat_error *err);
void hbd_store_close(hbd_store *store);
/* Schema version of the open file. */
int hbd_store_schema_version(const hbd_store *store);
/* Calls fn for every run in ascending id order; stops at fn's first
   non-zero return and returns it. */
int hbd_store_load(hbd_store *store, int (*fn)(void *arg, const hbd_run_record *rec), void *arg,
                   hbeat_error *err);
/* Writes the records (insert or replace by id) in one transaction, in
   order, so a later copy of a run wins; fsyncs the commit only when `sync`
   is non-zero: otherwise it survives a crash of the process but not a
   power loss until a later synced commit or checkpoint (see hbd_sync). */
int hbd_store_commit(hbd_store *store, const hbd_run_record *recs, size_t count, int sync,
                     hbeat_error *err);

/*
 * Checkpoints. SQLite's own would run inside whichever commit crosses its
 * threshold (1000 WAL pages: every few hundred one-row commits), adding two
 * fsyncs and the page copies to that commit and stalling every request
 * behind it. The store turns it off and leaves the timing to its user (the
 * committer's writer thread), at HBD_STORE_CHECKPOINT_FRAMES: rows are
 * rewritten in place, so a checkpoint copies the few distinct pages however
 * long the WAL is, and its cost per commit shrinks as the interval grows.
 * The WAL file is reused, not truncated, so it keeps that size (16 MiB with
 * the 1 KiB pages of a new file). A commit still checkpoints by itself past
 * four times the threshold, should nobody else.
 */
#define HBD_STORE_CHECKPOINT_FRAMES 16384
/* Sets the threshold (tests use a small one). */
void hbd_store_set_checkpoint_frames(hbd_store *store, int frames);
/* 1 when the WAL has grown enough to be checkpointed. */
int hbd_store_checkpoint_due(const hbd_store *store);
/* Copies the WAL into the database file and starts it over. A failure
   loses nothing (the WAL keeps the commits); it is retried a threshold
   later. */
int hbd_store_checkpoint(hbd_store *store, hbeat_error *err);

#endif /* HBD_STORE_H */
