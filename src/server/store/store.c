/*
 * SQLite store, WAL mode. A commit is in the WAL file when it returns, so
 * it survives kill -9 whatever the sync mode; with synchronous=FULL the
 * WAL is also fsynced, which makes it survive a power loss. The committer
 * amortises that fsync over every request waiting on the batch, and asks
 * for it per batch (hbd_sync): SQLite applies the synchronous setting to
 * each transaction as it commits, so switching it between transactions
 * costs nothing but the switch.
 */
#include "store.h"

#include <float.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "run_status.h"

struct hbd_store {
    sqlite3 *db;
    sqlite3_stmt *upsert;
    sqlite3_stmt *begin, *commit; /* prepared once: a batch is often one row */
    int synced;                   /* synchronous is FULL now */
    int wal_frames;               /* pages in the WAL after the last commit */
    int next_checkpoint;          /* due at this many */
    int checkpoint_frames;        /* the threshold */
    int version;
};

int hbd_sync_parse(const char *name)
{
    if (name == NULL)
        return -1;
    if (strcmp(name, "full") == 0)
        return HBD_SYNC_FULL;
    if (strcmp(name, "changes") == 0)
        return HBD_SYNC_CHANGES;
    if (strcmp(name, "normal") == 0)
        return HBD_SYNC_NORMAL;
    return -1;
}

const char *hbd_sync_name(hbd_sync mode)
{
    switch (mode) {
    case HBD_SYNC_FULL:
        return "full";
    case HBD_SYNC_NORMAL:
        return "normal";
    default:
        return "changes";
    }
}

/* migrations[i] brings a file from version i to i+1. Append only. */
static const char *const migrations[] = {
    "CREATE TABLE runs ("
    " id INTEGER PRIMARY KEY,"
    " workflow_id INTEGER NOT NULL,"
    " status TEXT NOT NULL,"
    " deadline REAL NOT NULL DEFAULT 0," /* Unix seconds */
    " last_heartbeat REAL NOT NULL DEFAULT 0,"
    " beats INTEGER NOT NULL DEFAULT 0)",
    /* The window of a run's first deadline, set at creation (seconds). */
    "ALTER TABLE runs ADD COLUMN initial_increment REAL NOT NULL DEFAULT 0",
};
#define MIGRATION_COUNT ((int)(sizeof migrations / sizeof migrations[0]))

_Static_assert(MIGRATION_COUNT == HBD_STORE_SCHEMA_VERSION, "one migration per schema version");

static int db_error(hbeat_error *err, sqlite3 *db, int rc, const char *what)
{
    int code = hbeat_error_set(err, HBEAT_ESYSTEM, "store: %s: %s", what,
                               db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    if (err != NULL)
        err->native = rc;
    return code;
}

static int exec(hbd_store *s, const char *sql, hbeat_error *err)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return db_error(err, s->db, rc, sql);
    return 0;
}

static int pragma_int(hbd_store *s, const char *sql, int *out, hbeat_error *err)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int(st, 0);
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK)
        return db_error(err, s->db, rc, sql);
    return 0;
}

static int migrate(hbd_store *s, hbeat_error *err)
{
    int rc = pragma_int(s, "PRAGMA user_version", &s->version, err);
    if (rc != 0)
        return rc;
    if (s->version > HBD_STORE_SCHEMA_VERSION)
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "store: schema version %d is newer than this hbeatd's (%d)",
                               s->version, HBD_STORE_SCHEMA_VERSION);
    while (s->version < HBD_STORE_SCHEMA_VERSION) {
        char bump[64];
        snprintf(bump, sizeof bump, "PRAGMA user_version = %d", s->version + 1);
        /* Each step is one transaction: a crash leaves the file at a
           known version. */
        if ((rc = exec(s, "BEGIN IMMEDIATE", err)) != 0)
            return rc;
        if ((rc = exec(s, migrations[s->version], err)) != 0 || (rc = exec(s, bump, err)) != 0 ||
            (rc = exec(s, "COMMIT", err)) != 0) {
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return rc;
        }
        s->version++;
    }
    return 0;
}

/* SQLite calls this after every commit in WAL mode (instead of its own
   auto-checkpoint, which this hook replaces). */
static int on_wal(void *arg, sqlite3 *db, const char *name, int frames)
{
    (void)db;
    (void)name;
    hbd_store *s = arg;
    s->wal_frames = frames;
    return SQLITE_OK;
}

int hbd_store_open(hbd_store **out, const char *path, hbeat_error *err)
{
    *out = NULL;
    hbd_store *s = calloc(1, sizeof *s);
    if (s == NULL)
        return hbeat_error_set(err, HBEAT_ENOMEM, "store: out of memory");
    if (path == NULL)
        path = ":memory:";
    int rc = sqlite3_open_v2(
        path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        rc = db_error(err, s->db, rc, path);
        hbd_store_close(s);
        return rc;
    }
    sqlite3_extended_result_codes(s->db, 1);
    /* A new file gets 1 KiB pages (an existing one keeps its size, which
       only VACUUM changes): a heartbeat rewrites one row, and the WAL
       takes whole pages, so smaller pages mean less to copy, checksum and
       write per beat (measured: about 15% less server CPU per beat than
       4 KiB). */
    exec(s, "PRAGMA page_size = 1024", NULL);
    /* Exclusive locking first, so WAL needs no shared-memory file and a
       second server on the same file fails instead of diverging. */
    if ((rc = exec(s, "PRAGMA locking_mode = EXCLUSIVE", err)) != 0 ||
        (rc = exec(s, "PRAGMA journal_mode = WAL", err)) != 0 ||
        (rc = exec(s, "PRAGMA synchronous = FULL", err)) != 0 || (rc = migrate(s, err)) != 0) {
        if (err != NULL && sqlite3_errcode(s->db) == SQLITE_BUSY)
            hbeat_error_set(err, HBEAT_ESYSTEM, "store: %s is locked (is another hbeatd using it?)",
                            path);
        hbd_store_close(s);
        return rc;
    }
    s->synced = 1;
    hbd_store_set_checkpoint_frames(s, HBD_STORE_CHECKPOINT_FRAMES);
    sqlite3_wal_hook(s->db, on_wal, s);
    if ((rc = sqlite3_prepare_v3(s->db, "BEGIN IMMEDIATE", -1, SQLITE_PREPARE_PERSISTENT, &s->begin,
                                 NULL)) != SQLITE_OK ||
        (rc = sqlite3_prepare_v3(s->db, "COMMIT", -1, SQLITE_PREPARE_PERSISTENT, &s->commit,
                                 NULL)) != SQLITE_OK) {
        rc = db_error(err, s->db, rc, "prepare");
        hbd_store_close(s);
        return rc;
    }
    rc = sqlite3_prepare_v3(s->db,
                            "INSERT INTO runs (id, workflow_id, status, deadline, last_heartbeat,"
                            " beats, initial_increment) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                            " ON CONFLICT (id) DO UPDATE SET workflow_id = ?2, status = ?3,"
                            " deadline = ?4, last_heartbeat = ?5, beats = ?6,"
                            " initial_increment = ?7",
                            -1, SQLITE_PREPARE_PERSISTENT, &s->upsert, NULL);
    if (rc != SQLITE_OK) {
        rc = db_error(err, s->db, rc, "prepare");
        hbd_store_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void hbd_store_close(hbd_store *s)
{
    if (s == NULL)
        return;
    sqlite3_finalize(s->upsert);
    sqlite3_finalize(s->begin);
    sqlite3_finalize(s->commit);
    sqlite3_close(s->db);
    free(s);
}

int hbd_store_schema_version(const hbd_store *s)
{
    return s->version;
}

int hbd_store_load(hbd_store *s, int (*fn)(void *arg, const hbd_run_record *rec), void *arg,
                   hbeat_error *err)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db,
                                "SELECT id, workflow_id, status, deadline, last_heartbeat, beats,"
                                " initial_increment FROM runs ORDER BY id",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return db_error(err, s->db, rc, "load");
    int result = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        hbd_run_record rec;
        memset(&rec, 0, sizeof rec);
        rec.id = sqlite3_column_int64(st, 0);
        rec.workflow_id = sqlite3_column_int64(st, 1);
        const char *status = (const char *)sqlite3_column_text(st, 2);
        int idx = hbd_status_index(status);
        if (idx < 0) {
            result =
                hbeat_error_set(err, HBEAT_EINVAL, "store: run %lld has unknown status '%.16s'",
                                (long long)rec.id, status ? status : "");
            break;
        }
        rec.status = (uint8_t)idx;
        rec.deadline = sqlite3_column_double(st, 3);
        rec.last_heartbeat = sqlite3_column_double(st, 4);
        rec.beats = (uint64_t)sqlite3_column_int64(st, 5);
        /* A value no hbeatd writes (an edited file) must not overflow the
           float: it only widens the start-up grace, so it is dropped. */
        double inc = sqlite3_column_double(st, 6);
        rec.initial_increment = inc > 0 && inc < FLT_MAX ? (float)inc : 0.0f;
        if ((result = fn(arg, &rec)) != 0)
            break;
    }
    if (result == 0 && rc != SQLITE_DONE)
        result = db_error(err, s->db, rc, "load");
    sqlite3_finalize(st);
    return result;
}

/* Runs a prepared statement that returns no rows. */
static int step_once(hbd_store *s, sqlite3_stmt *st, const char *what, hbeat_error *err)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return db_error(err, s->db, rc, what);
    return 0;
}

void hbd_store_set_checkpoint_frames(hbd_store *s, int frames)
{
    s->checkpoint_frames = frames > 0 ? frames : HBD_STORE_CHECKPOINT_FRAMES;
    s->next_checkpoint = s->checkpoint_frames;
}

int hbd_store_checkpoint_due(const hbd_store *s)
{
    return s->wal_frames >= s->next_checkpoint;
}

int hbd_store_checkpoint(hbd_store *s, hbeat_error *err)
{
    /* RESTART, not TRUNCATE: the next commits overwrite the WAL file's
       blocks in place rather than allocate them again, which costs the
       filesystem (ext4) far more than the write. */
    int rc = sqlite3_wal_checkpoint_v2(s->db, "main", SQLITE_CHECKPOINT_RESTART, NULL, NULL);
    if (rc != SQLITE_OK) {
        s->next_checkpoint = s->wal_frames + s->checkpoint_frames;
        return db_error(err, s->db, rc, "checkpoint");
    }
    s->wal_frames = 0;
    s->next_checkpoint = s->checkpoint_frames;
    return 0;
}

/* Sets synchronous for the next transaction, when it changes. */
static int set_synced(hbd_store *s, int sync, hbeat_error *err)
{
    if ((sync != 0) == s->synced)
        return 0;
    /* Not a prepared statement: SQLite applies this pragma when it is
       compiled, not when it is stepped. */
    int rc = exec(s, sync ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL", err);
    if (rc == 0)
        s->synced = sync != 0;
    return rc;
}

int hbd_store_commit(hbd_store *s, const hbd_run_record *recs, size_t count, int sync,
                     hbeat_error *err)
{
    int rc = set_synced(s, sync, err);
    if (rc != 0)
        return rc;
    rc = step_once(s, s->begin, "BEGIN IMMEDIATE", err);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < count; i++) {
        const hbd_run_record *r = &recs[i];
        sqlite3_bind_int64(s->upsert, 1, r->id);
        sqlite3_bind_int64(s->upsert, 2, r->workflow_id);
        sqlite3_bind_text(s->upsert, 3, hbd_status_token(r->status), 1, SQLITE_STATIC);
        sqlite3_bind_double(s->upsert, 4, r->deadline);
        sqlite3_bind_double(s->upsert, 5, r->last_heartbeat);
        sqlite3_bind_int64(s->upsert, 6, (sqlite3_int64)r->beats);
        sqlite3_bind_double(s->upsert, 7, (double)r->initial_increment);
        int step = sqlite3_step(s->upsert);
        sqlite3_reset(s->upsert);
        if (step != SQLITE_DONE) {
            rc = db_error(err, s->db, step, "write");
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return rc;
        }
    }
    if ((rc = step_once(s, s->commit, "COMMIT", err)) != 0) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    if (s->wal_frames >= 4 * s->checkpoint_frames && hbd_store_checkpoint_due(s)) {
        /* Nobody has checkpointed: do it here rather than grow for ever.
           Committed either way; a failure only postpones it. */
        hbeat_error cerr = HBEAT_ERROR_INIT;
        if (hbd_store_checkpoint(s, &cerr) != 0)
            hbd_warn("%s", cerr.message);
    }
    return 0;
}
