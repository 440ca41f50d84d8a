/* The SQLite store: migrations, reopening, ordering, locking. */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "run_status.h"
#include "store.h"

static char dir[64];
static char path[128];

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/hbd-store-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(path, sizeof path, "%s/runs.db", dir);
    return 0;
}

static int teardown(void **state)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        char p[400];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (e->d_name[0] != '.')
            unlink(p);
    }
    if (d != NULL)
        closedir(d);
    rmdir(dir);
    return 0;
}

static hbd_run_record rec(int64_t id, int status, double deadline, uint64_t beats)
{
    hbd_run_record r;
    memset(&r, 0, sizeof r);
    r.id = id;
    r.workflow_id = id * 10;
    r.status = (uint8_t)status;
    r.deadline = deadline;
    r.last_heartbeat = deadline - 30;
    r.beats = beats;
    return r;
}

typedef struct loaded {
    hbd_run_record recs[16];
    size_t n;
} loaded;

static int collect(void *arg, const hbd_run_record *r)
{
    loaded *l = arg;
    if (l->n == 16)
        return -99;
    l->recs[l->n++] = *r;
    return 0;
}

static void load(hbd_store *s, loaded *l)
{
    memset(l, 0, sizeof *l);
    assert_int_equal(hbd_store_load(s, collect, l, NULL), 0);
}

static int user_version(const char *p)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int v = -1;
    if (sqlite3_open(p, &db) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return v;
}

static void test_migrate_new_file(void **state)
{
    hbd_store *s;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbd_store_open(&s, path, &err), 0);
    assert_int_equal(hbd_store_schema_version(s), HBD_STORE_SCHEMA_VERSION);
    loaded l;
    load(s, &l);
    assert_int_equal(l.n, 0);
    hbd_store_close(s);
    assert_int_equal(user_version(path), HBD_STORE_SCHEMA_VERSION);
}

static void test_migrate_empty_file(void **state)
{
    /* A zero-byte file is a valid, empty SQLite database at version 0. */
    int fd = open(path, O_CREAT | O_WRONLY, 0644);
    assert_true(fd >= 0);
    close(fd);
    hbd_store *s;
    assert_int_equal(hbd_store_open(&s, path, NULL), 0);
    assert_int_equal(hbd_store_schema_version(s), HBD_STORE_SCHEMA_VERSION);
    hbd_run_record r = rec(1, HBD_ST_R, 1000.5, 3);
    assert_int_equal(hbd_store_commit(s, &r, 1, 1, NULL), 0);
    hbd_store_close(s);
    assert_int_equal(user_version(path), HBD_STORE_SCHEMA_VERSION);
}

static void test_newer_schema_refused(void **state)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    hbd_store *s = (hbd_store *)1;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbd_store_open(&s, path, &err), HBEAT_EINVAL);
    assert_null(s);
    assert_non_null(strstr(err.message, "newer"));
}

/* A file written by an hbeatd of schema 1 (before runs had a first
   deadline's window) is brought up to date and keeps its runs; the window
   is 0 for them, which the start-up grace reads as "none". */
static void test_migrate_schema_1_file(void **state)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE TABLE runs (id INTEGER PRIMARY KEY,"
                                  " workflow_id INTEGER NOT NULL, status TEXT NOT NULL,"
                                  " deadline REAL NOT NULL DEFAULT 0,"
                                  " last_heartbeat REAL NOT NULL DEFAULT 0,"
                                  " beats INTEGER NOT NULL DEFAULT 0);"
                                  "INSERT INTO runs VALUES (4, 40, 'R', 1030.5, 1000.5, 2);"
                                  "PRAGMA user_version = 1;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    hbd_store *s;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbd_store_open(&s, path, &err) != 0)
        fail_msg("open: %s", err.message);
    assert_int_equal(hbd_store_schema_version(s), HBD_STORE_SCHEMA_VERSION);
    loaded l;
    load(s, &l);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.recs[0].id, 4);
    assert_int_equal(l.recs[0].status, HBD_ST_R);
    assert_true(l.recs[0].deadline == 1030.5 && l.recs[0].last_heartbeat == 1000.5);
    assert_true(l.recs[0].initial_increment == 0.0f);
    hbd_store_close(s);
    assert_int_equal(user_version(path), HBD_STORE_SCHEMA_VERSION);
}

/* The window of a run's first deadline survives a restart; a value no
   hbeatd writes (an edited file) is read as none, not as a float overflow. */
static void test_initial_increment_kept(void **state)
{
    hbd_store *s;
    assert_int_equal(hbd_store_open(&s, path, NULL), 0);
    hbd_run_record r[2] = {rec(1, HBD_ST_L, 1093.0, 0), rec(2, HBD_ST_L, 1093.0, 0)};
    r[0].last_heartbeat = 0;
    r[0].initial_increment = 93.0f;
    assert_int_equal(hbd_store_commit(s, r, 2, 1, NULL), 0);
    hbd_store_close(s);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "UPDATE runs SET initial_increment = 1e300 WHERE id = 2",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(hbd_store_open(&s, path, NULL), 0);
    loaded l;
    load(s, &l);
    assert_int_equal(l.n, 2);
    assert_true(l.recs[0].initial_increment == 93.0f);
    assert_true(l.recs[0].deadline == 1093.0 && l.recs[0].last_heartbeat == 0);
    assert_true(l.recs[1].initial_increment == 0.0f);
    hbd_store_close(s);
}

static void test_reopen_keeps_runs(void **state)
{
    hbd_store *s;
    assert_int_equal(hbd_store_open(&s, path, NULL), 0);
    hbd_run_record batch[] = {rec(1, HBD_ST_G, 0, 0), rec(2, HBD_ST_R, 1764280000.25, 7),
                              rec(5, HBD_ST_C, 1764280099.125, 1)};
    assert_int_equal(hbd_store_commit(s, batch, 3, 1, NULL), 0);
    hbd_store_close(s);

    assert_int_equal(hbd_store_open(&s, path, NULL), 0);
    loaded l;
    load(s, &l);
    assert_int_equal(l.n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(l.recs[i].id, batch[i].id);
        assert_int_equal(l.recs[i].workflow_id, batch[i].workflow_id);
        assert_int_equal(l.recs[i].status, batch[i].status);
        /* Deadlines are Unix time, stored exactly. */
        assert_true(l.recs[i].deadline == batch[i].deadline);
        assert_true(l.recs[i].last_heartbeat == batch[i].last_heartbeat);
        assert_int_equal(l.recs[i].beats, batch[i].beats);
    }
    hbd_store_close(s);
}

static void test_later_copy_wins(void **state)
{
    hbd_store *s;
    assert_int_equal(hbd_store_open(&s, path, NULL), 0);
    /* One batch holding three versions of run 4, as group commit does. */
    hbd_run_record batch[] = {rec(4, HBD_ST_O, 10, 1), rec(4, HBD_ST_R, 20, 2),
                              rec(3, HBD_ST_L, 5, 1), rec(4, HBD_ST_D, 30, 3)};
    assert_int_equal(hbd_store_commit(s, batch, 4, 1, NULL), 0);
    loaded l;
    load(s, &l);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.recs[0].id, 3); /* ascending ids */
    assert_int_equal(l.recs[1].id, 4);
    assert_int_equal(l.recs[1].status, HBD_ST_D);
    assert_int_equal(l.recs[1].beats, 3);
    hbd_store_close(s);
}

static void test_failed_write_rolls_back(void **state)
{
    hbd_store *s;
    assert_int_equal(hbd_store_open(&s, path, NULL), 0);
    /* Status 200 has no token: the row breaks NOT NULL, and the whole
       batch, good rows included, must be rolled back. */
    hbd_run_record batch[] = {rec(1, HBD_ST_R, 10, 1), rec(2, 200, 10, 1)};
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbd_store_commit(s, batch, 2, 1, &err), HBEAT_ESYSTEM);
    assert_true(err.native != 0);
    loaded l;
    load(s, &l);
    assert_int_equal(l.n, 0);
    /* And the store still works. */
    assert_int_equal(hbd_store_commit(s, batch, 1, 1, NULL), 0);
    load(s, &l);
    assert_int_equal(l.n, 1);
    hbd_store_close(s);
}

static void test_second_opener_locked_out(void **state)
{
    hbd_store *a, *b = NULL;
    assert_int_equal(hbd_store_open(&a, path, NULL), 0);
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbd_store_open(&b, path, &err), HBEAT_ESYSTEM);
    assert_null(b);
    assert_non_null(strstr(err.message, "locked"));
    hbd_store_close(a);
    /* Free again once the first one is closed. */
    assert_int_equal(hbd_store_open(&b, path, NULL), 0);
    hbd_store_close(b);
}

static void test_memory(void **state)
{
    hbd_store *s;
    assert_int_equal(hbd_store_open(&s, ":memory:", NULL), 0);
    hbd_run_record r = rec(9, HBD_ST_H, 42, 2);
    assert_int_equal(hbd_store_commit(s, &r, 1, 1, NULL), 0);
    loaded l;
    load(s, &l);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.recs[0].status, HBD_ST_H);
    hbd_store_close(s);
    hbd_store_close(NULL);
}

static void test_unknown_status_in_file(void **state)
{
    hbd_store *s;
    assert_int_equal(hbd_store_open(&s, path, NULL), 0);
    hbd_store_close(s);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "INSERT INTO runs (id, workflow_id, status) VALUES (1, 1, 'Q')",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(hbd_store_open(&s, path, NULL), 0);
    loaded l;
    memset(&l, 0, sizeof l);
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbd_store_load(s, collect, &l, &err), HBEAT_EINVAL);
    assert_non_null(strstr(err.message, "'Q'"));
    hbd_store_close(s);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_migrate_new_file),         T(test_migrate_empty_file),
        T(test_newer_schema_refused),     T(test_reopen_keeps_runs),
        T(test_later_copy_wins),          T(test_failed_write_rolls_back),
        T(test_second_opener_locked_out), T(test_memory),
        T(test_unknown_status_in_file),   T(test_migrate_schema_1_file),
        T(test_initial_increment_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
