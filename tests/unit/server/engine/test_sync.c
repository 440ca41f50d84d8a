/*
 * When commits are fsynced (store.h, hbd_sync). A counting VFS wraps
 * SQLite's default one and counts xSync on the WAL file, so each test can
 * tell whether a commit reached the disk or only the file:
 *   - the store syncs a commit when asked to and not otherwise;
 *   - the committer syncs every batch under "full", none under "normal",
 *     and under "changes" only a batch holding a change that is not lazy;
 *   - the engine marks a heartbeat that keeps the status lazy, and a status
 *     change, a new run or an operator's change not;
 *   - a lazy commit is still in the file when it is reopened;
 *   - a change that needs no fsync is committed by the thread that asks to
 *     be told (no hand-off), one that needs an fsync by the writer thread;
 *   - the writer checkpoints the WAL when it is due, so it stays bounded;
 *   - the engine takes the mode it is given (HBEATD_SYNC is read by
 *     options.c, once).
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "committer.h"
#include "engine.h"
#include "state_machine.h"
#include "store.h"
#include "support/engine_wait.h"

/* ---- a VFS that counts syncs of WAL files ------------------------------------ */

static sqlite3_vfs *real_vfs;
static sqlite3_vfs counting_vfs;
/* Counted on the committer's thread, read on the test's. */
static _Atomic int wal_syncs;

typedef struct cfile {
    sqlite3_file base;
    int is_wal;
    sqlite3_file *real; /* follows this struct in the same allocation */
} cfile;

#define REAL(f) (((cfile *)(f))->real)

static int c_close(sqlite3_file *f)
{
    return REAL(f)->pMethods->xClose(REAL(f));
}
static int c_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o)
{
    return REAL(f)->pMethods->xRead(REAL(f), b, n, o);
}
static int c_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o)
{
    return REAL(f)->pMethods->xWrite(REAL(f), b, n, o);
}
static int c_truncate(sqlite3_file *f, sqlite3_int64 n)
{
    return REAL(f)->pMethods->xTruncate(REAL(f), n);
}
static int c_sync(sqlite3_file *f, int flags)
{
    if (((cfile *)f)->is_wal)
        wal_syncs++;
    return REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int c_size(sqlite3_file *f, sqlite3_int64 *n)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), n);
}
static int c_lock(sqlite3_file *f, int l)
{
    return REAL(f)->pMethods->xLock(REAL(f), l);
}
static int c_unlock(sqlite3_file *f, int l)
{
    return REAL(f)->pMethods->xUnlock(REAL(f), l);
}
static int c_reserved(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int c_fcntl(sqlite3_file *f, int op, void *arg)
{
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int c_sector(sqlite3_file *f)
{
    return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int c_device(sqlite3_file *f)
{
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int c_shm_map(sqlite3_file *f, int pg, int sz, int ext, void volatile **pp)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, ext, pp);
}
static int c_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
    return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}
static void c_shm_barrier(sqlite3_file *f)
{
    REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int c_shm_unmap(sqlite3_file *f, int del)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}
static int c_fetch(sqlite3_file *f, sqlite3_int64 o, int n, void **pp)
{
    return REAL(f)->pMethods->xFetch(REAL(f), o, n, pp);
}
static int c_unfetch(sqlite3_file *f, sqlite3_int64 o, void *p)
{
    return REAL(f)->pMethods->xUnfetch(REAL(f), o, p);
}

static const sqlite3_io_methods counting_io = {
    3,          c_close,       c_read,      c_write, c_truncate, c_sync,   c_size,
    c_lock,     c_unlock,      c_reserved,  c_fcntl, c_sector,   c_device, c_shm_map,
    c_shm_lock, c_shm_barrier, c_shm_unmap, c_fetch, c_unfetch,
};

static int c_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
    cfile *cf = (cfile *)f;
    cf->real = (sqlite3_file *)(cf + 1);
    cf->is_wal = (flags & SQLITE_OPEN_WAL) != 0;
    int rc = real_vfs->xOpen(real_vfs, name, cf->real, flags, out_flags);
    /* A file whose open failed must have no methods, or SQLite closes it. */
    cf->base.pMethods = rc == SQLITE_OK && cf->real->pMethods != NULL ? &counting_io : NULL;
    return rc;
}

static int c_delete(sqlite3_vfs *v, const char *n, int s)
{
    return real_vfs->xDelete(real_vfs, n, s);
}
static int c_access(sqlite3_vfs *v, const char *n, int f, int *out)
{
    return real_vfs->xAccess(real_vfs, n, f, out);
}
static int c_fullpath(sqlite3_vfs *v, const char *n, int len, char *out)
{
    return real_vfs->xFullPathname(real_vfs, n, len, out);
}

static void install_vfs(void)
{
    real_vfs = sqlite3_vfs_find(NULL);
    assert_non_null(real_vfs);
    /* Everything but the file methods is the real VFS's. */
    counting_vfs = *real_vfs;
    counting_vfs.zName = "hbd-counting";
    counting_vfs.szOsFile = (int)sizeof(cfile) + real_vfs->szOsFile;
    counting_vfs.pAppData = NULL;
    counting_vfs.xOpen = c_open;
    counting_vfs.xDelete = c_delete;
    counting_vfs.xAccess = c_access;
    counting_vfs.xFullPathname = c_fullpath;
    assert_int_equal(sqlite3_vfs_register(&counting_vfs, 1), SQLITE_OK);
}

/* ---- fixtures ------------------------------------------------------------------- */

static char path[64];

static int setup(void **state)
{
    (void)state;
    snprintf(path, sizeof path, "/tmp/hbd-sync-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    close(fd);
    unlink(path); /* SQLite creates it */
    wal_syncs = 0;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char wal[80];
    snprintf(wal, sizeof wal, "%s-wal", path);
    unlink(wal);
    unlink(path);
    unsetenv("HBEATD_SYNC");
    return 0;
}

static hbd_run_record rec(int64_t id, uint64_t beats)
{
    hbd_run_record r;
    memset(&r, 0, sizeof r);
    r.id = id;
    r.workflow_id = 7;
    r.status = (uint8_t)hbd_status_index("R");
    r.beats = beats;
    return r;
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_names(void **state)
{
    (void)state;
    assert_int_equal(hbd_sync_parse("full"), HBD_SYNC_FULL);
    assert_int_equal(hbd_sync_parse("changes"), HBD_SYNC_CHANGES);
    assert_int_equal(hbd_sync_parse("normal"), HBD_SYNC_NORMAL);
    assert_int_equal(hbd_sync_parse("FULL"), -1);
    assert_int_equal(hbd_sync_parse(""), -1);
    assert_int_equal(hbd_sync_parse(NULL), -1);
    assert_string_equal(hbd_sync_name(HBD_SYNC_FULL), "full");
    assert_string_equal(hbd_sync_name(HBD_SYNC_CHANGES), "changes");
    assert_string_equal(hbd_sync_name(HBD_SYNC_NORMAL), "normal");
    assert_string_equal(hbd_sync_name(HBD_SYNC_DEFAULT), "changes");
}

static void test_store_commit(void **state)
{
    (void)state;
    hbd_store *s;
    assert_int_equal(hbd_store_open(&s, path, NULL), 0);
    hbd_run_record r = rec(1, 1);

    int before = wal_syncs;
    assert_int_equal(hbd_store_commit(s, &r, 1, 0, NULL), 0);
    assert_int_equal(wal_syncs, before);

    r.beats = 2;
    assert_int_equal(hbd_store_commit(s, &r, 1, 1, NULL), 0);
    assert_true(wal_syncs > before);

    before = wal_syncs;
    r.beats = 3;
    assert_int_equal(hbd_store_commit(s, &r, 1, 0, NULL), 0);
    assert_int_equal(wal_syncs, before);

    /* A commit with sync set is fsynced. */
    r.beats = 4;
    assert_int_equal(hbd_store_commit(s, &r, 1, 1, NULL), 0);
    assert_true(wal_syncs > before);

    /* An unsynced commit is in the file all the same. */
    before = wal_syncs;
    r.beats = 5;
    assert_int_equal(hbd_store_commit(s, &r, 1, 0, NULL), 0);
    assert_int_equal(wal_syncs, before);
    hbd_store_close(s);
    assert_int_equal(hbd_store_open(&s, path, NULL), 0);
    hbd_store_close(s);
}

static int count_beats(void *arg, const hbd_run_record *r)
{
    if (r->id == 3)
        *(int *)arg = (int)r->beats;
    return 0;
}

/* Commits one change through a committer in `mode`; 1 when it was
   fsynced. */
static int synced(hbd_committer *c, int64_t id, int lazy)
{
    static uint64_t beats;
    hbd_run_record r = rec(id, ++beats);
    uint64_t ticket;
    int before = wal_syncs;
    if (lazy)
        assert_int_equal(hbd_committer_add_lazy(c, &r, &ticket, NULL), 0);
    else
        assert_int_equal(hbd_committer_add(c, &r, &ticket, NULL), 0);
    assert_int_equal(hbd_committer_wait(c, ticket, NULL), 0);
    return wal_syncs > before;
}

static void test_committer_modes(void **state)
{
    (void)state;
    hbd_store *s;
    hbd_committer *c;
    assert_int_equal(hbd_store_open(&s, path, NULL), 0);
    assert_int_equal(hbd_committer_start(&c, s, NULL), 0);

    /* The default is "changes". */
    assert_false(synced(c, 1, 1));
    assert_true(synced(c, 1, 0));
    assert_false(synced(c, 1, 1));

    hbd_committer_set_sync(c, HBD_SYNC_FULL);
    assert_true(synced(c, 1, 1));
    assert_true(synced(c, 1, 0));

    hbd_committer_set_sync(c, HBD_SYNC_NORMAL);
    assert_false(synced(c, 1, 1));
    assert_false(synced(c, 1, 0));

    hbd_committer_set_sync(c, HBD_SYNC_CHANGES);
    assert_false(synced(c, 2, 1));
    assert_true(synced(c, 2, 0));

    hbd_committer_stop(c);
    hbd_store_close(s);

    /* Every change, synced or not, is in the file. */
    assert_int_equal(hbd_store_open(&s, path, NULL), 0);
    hbd_store_close(s);
}

typedef struct told {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int calls, rc;
    pthread_t thread;
} told;

static void on_told(void *arg, int rc)
{
    told *t = arg;
    pthread_mutex_lock(&t->mu);
    t->calls++;
    t->rc = rc;
    t->thread = pthread_self();
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

/* Queues one change and asks to be told; returns once told. *inline_out is
   1 when the callback ran before notify returned, on this thread. */
static void tell(hbd_committer *c, int lazy, int *inline_out)
{
    static uint64_t beats;
    told t = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, -1, pthread_self()};
    hbd_run_record r = rec(3, ++beats);
    uint64_t ticket;
    if (lazy)
        assert_int_equal(hbd_committer_add_lazy(c, &r, &ticket, NULL), 0);
    else
        assert_int_equal(hbd_committer_add(c, &r, &ticket, NULL), 0);
    hbd_durable w;
    hbd_committer_notify(c, ticket, &w, on_told, &t);
    pthread_mutex_lock(&t.mu);
    int at_once = t.calls == 1 && pthread_equal(t.thread, pthread_self());
    while (t.calls == 0)
        pthread_cond_wait(&t.cv, &t.mu);
    pthread_mutex_unlock(&t.mu);
    assert_int_equal(t.calls, 1);
    assert_int_equal(t.rc, 0);
    *inline_out = at_once;
}

static void test_inline_commit(void **state)
{
    (void)state;
    hbd_store *s;
    hbd_committer *c;
    assert_int_equal(hbd_store_open(&s, path, NULL), 0);
    assert_int_equal(hbd_committer_start(&c, s, NULL), 0);
    int at_once;

    tell(c, 1, &at_once);
    assert_true(at_once); /* lazy under "changes": committed here */
    tell(c, 0, &at_once);
    assert_false(at_once); /* needs an fsync: the writer's */

    hbd_committer_set_sync(c, HBD_SYNC_NORMAL);
    tell(c, 0, &at_once);
    assert_true(at_once);

    hbd_committer_set_sync(c, HBD_SYNC_FULL);
    tell(c, 1, &at_once);
    assert_false(at_once);

    /* wait() commits inline too, and both paths keep the order. */
    hbd_committer_set_sync(c, HBD_SYNC_CHANGES);
    hbd_run_record r = rec(3, 1000);
    uint64_t ticket;
    assert_int_equal(hbd_committer_add_lazy(c, &r, &ticket, NULL), 0);
    int before = wal_syncs;
    assert_int_equal(hbd_committer_wait(c, ticket, NULL), 0);
    assert_int_equal(wal_syncs, before);
    hbd_committer_stop(c);

    int found = 0;
    assert_int_equal(hbd_store_load(s, count_beats, &found, NULL), 0);
    assert_int_equal(found, 1000);
    hbd_store_close(s);
}

static void test_checkpoint(void **state)
{
    (void)state;
    hbd_store *s;
    hbd_committer *c;
    assert_int_equal(hbd_store_open(&s, path, NULL), 0);
    hbd_store_set_checkpoint_frames(s, 32);
    assert_int_equal(hbd_committer_start(&c, s, NULL), 0);
    char wal[80];
    snprintf(wal, sizeof wal, "%s-wal", path);
    off_t largest = 0;
    for (int i = 0; i < 400; i++) {
        synced(c, 1, 1);
        struct stat st;
        if (stat(wal, &st) == 0 && st.st_size > largest)
            largest = st.st_size;
    }
    /* Each one-row commit adds a page (at least 1 KiB); without
       checkpoints the WAL would hold 400 of them. */
    assert_true(largest > 0);
    assert_true(largest < 100 * 1100);
    hbd_committer_stop(c);
    hbd_store_close(s);
    assert_int_equal(hbd_store_open(&s, path, NULL), 0);
    hbd_store_close(s);
}

static double now_s = 1764280000.0;
static double fake_clock(void *arg)
{
    (void)arg;
    return now_s;
}

static hbd_engine *open_engine(int sync, hbeat_error *err)
{
    hbd_engine_options o;
    memset(&o, 0, sizeof o);
    o.db_path = path;
    o.reap_interval = 0;
    o.reap_grace = 0;
    o.clock = fake_clock;
    o.sync = sync;
    hbd_engine *e = NULL;
    if (hbd_engine_open(&e, &o, err) != 0)
        return NULL;
    return e;
}

static void test_engine_marks_changes(void **state)
{
    (void)state;
    hbd_engine *e = open_engine(0, NULL);
    assert_non_null(e);
    hbd_run r;
    int before = wal_syncs;
    assert_int_equal(hbd_engine_create_run(e, 7, "O", NULL, &r, NULL), 0);
    assert_true(wal_syncs > before); /* a new run */
    int64_t id = r.id;

    before = wal_syncs;
    assert_int_equal(hbd_engine_heartbeat(e, id, "R", 60, &r, NULL), 0);
    assert_string_equal(r.status, "R");
    assert_true(wal_syncs > before); /* O -> R by heartbeat */

    before = wal_syncs;
    for (int i = 0; i < 5; i++)
        assert_int_equal(hbd_engine_heartbeat(e, id, "R", 60, &r, NULL), 0);
    assert_int_equal(wal_syncs, before); /* R -> R only moves the deadline */

    assert_int_equal(hbd_engine_update_status(e, id, "H", &r, NULL), 0);
    assert_true(wal_syncs > before);

    before = wal_syncs;
    assert_int_equal(hbd_engine_set_status(e, id, "R", 1, &r, NULL), 0);
    assert_true(wal_syncs > before); /* an operator's change */

    /* An invalid transition commits nothing at all. */
    before = wal_syncs;
    assert_int_equal(hbd_engine_heartbeat(e, id, "G", 60, &r, NULL), 0);
    assert_string_equal(r.status, "R");
    assert_int_equal(wal_syncs, before);

    /* The reaper's moves are status changes. */
    now_s += 3600;
    size_t reaped = 0;
    before = wal_syncs;
    assert_int_equal(hbd_engine_reap(e, &reaped, NULL), 0);
    assert_int_equal(reaped, 1);
    assert_true(wal_syncs > before);
    hbd_engine_close(e);

    /* What the lazy beats wrote is there after a reopen. */
    e = open_engine(0, NULL);
    assert_non_null(e);
    assert_int_equal(hbd_engine_get_run(e, id, &r, NULL), 0);
    assert_string_equal(r.status, "E");
    assert_int_equal(r.beats, 6);
    hbd_engine_close(e);
}

static void test_engine_full_and_normal(void **state)
{
    (void)state;
    hbd_engine *e = open_engine(HBD_SYNC_FULL, NULL);
    assert_non_null(e);
    hbd_run r;
    assert_int_equal(hbd_engine_create_run(e, 7, "R", NULL, &r, NULL), 0);
    int before = wal_syncs;
    assert_int_equal(hbd_engine_heartbeat(e, r.id, "R", 60, &r, NULL), 0);
    assert_true(wal_syncs > before);
    hbd_engine_close(e);

    e = open_engine(HBD_SYNC_NORMAL, NULL);
    assert_non_null(e);
    /* The first write after opening starts a new WAL, whose header SQLite
       syncs in every mode: get that out of the way. */
    hbd_run other;
    assert_int_equal(hbd_engine_create_run(e, 7, "R", NULL, &other, NULL), 0);
    before = wal_syncs;
    assert_int_equal(hbd_engine_update_status(e, r.id, "D", &r, NULL), 0);
    assert_int_equal(wal_syncs, before);
    hbd_engine_close(e);
    /* HBEATD_SYNC is options.c's (test_options.c): the engine takes the
       mode it is given, whatever the environment says. */
    setenv("HBEATD_SYNC", "sometimes", 1);
    e = open_engine(HBD_SYNC_FULL, NULL);
    assert_non_null(e);
    before = wal_syncs;
    assert_int_equal(hbd_engine_create_run(e, 7, "R", NULL, &r, NULL), 0);
    assert_true(wal_syncs > before);
    hbd_engine_close(e);
    unsetenv("HBEATD_SYNC");
}

int main(void)
{
    install_vfs();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test_setup_teardown(test_store_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_committer_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inline_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_marks_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_full_and_normal, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
