/*
 * The engine logs a change only once it is durable, as the reaper does: a
 * commit held in flight has no line yet, and a commit that fails never
 * gets one. Covers the operator's change (set_status, forced or not), a
 * status change by heartbeat and a new run. The store's writes are held
 * or failed by a VFS underneath it (fault_vfs.h); the log is read back
 * from stderr (log_capture.h).
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine.h"
#include "log.h"
#include "store.h"
#include "support/engine_wait.h"
#include "support/fault_vfs.h"
#include "support/log_capture.h"

static char path[64];
static hbd_engine *e;
static double fake_now = 1764280000.0;

static double fake_clock(void *arg)
{
    (void)arg;
    return fake_now;
}

static int setup(void **state)
{
    (void)state;
    hbd_log_set_level(HBEAT_LOG_DEBUG);
    fault_vfs_set(FAULT_NONE);
    snprintf(path, sizeof path, "/tmp/hbd-englog-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    close(fd);
    hbd_engine_options o;
    memset(&o, 0, sizeof o);
    o.db_path = path;
    o.reap_interval = 0;
    o.reap_grace = 0;
    o.clock = fake_clock;
    /* Every status change goes to the writer thread for its fsync, so a
       held write never blocks the test's own thread. */
    o.sync = HBD_SYNC_CHANGES;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbd_engine_open(&e, &o, &err) != 0) {
        fprintf(stderr, "open: %s\n", err.message);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fault_vfs_set(FAULT_NONE);
    free(log_capture_stop());
    hbd_engine_close(e);
    e = NULL;
    char wal[80];
    snprintf(wal, sizeof wal, "%s-wal", path);
    unlink(wal);
    unlink(path);
    hbd_log_set_level(HBEAT_LOG_INFO);
    return 0;
}

static int64_t create(const char *status)
{
    hbd_run r;
    assert_int_equal(hbd_engine_create_run(e, 5, status, NULL, &r, NULL), 0);
    return r.id;
}

/* Closes the engine, so that every pending line has had its chance, and
   returns what was logged since log_capture_start(). */
static char *close_and_read(void)
{
    hbd_engine_close(e);
    e = NULL;
    char *text = log_capture_stop();
    assert_non_null(text);
    return text;
}

static void test_operator_change_waits_for_its_commit(void **state)
{
    (void)state;
    int64_t id = create("R");
    assert_int_equal(log_capture_start(), 0);
    fault_vfs_set(FAULT_HOLD);
    hbd_run r;
    uint64_t ticket;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbd_engine_set_status_begin(e, id, "G", 1, &r, &ticket, &err), 0);
    assert_string_equal(r.status, "G");
    /* Queued, answered in memory, not durable: nothing to say yet. */
    char *text = log_capture_stop();
    assert_non_null(text);
    assert_int_equal(log_count(text, "set by operator"), 0);
    free(text);

    assert_int_equal(log_capture_start(), 0);
    fault_vfs_set(FAULT_NONE);
    assert_int_equal(hbd_engine_get_run(e, id, &r, NULL), 0); /* waits for the commit */
    assert_string_equal(r.status, "G");
    text = close_and_read();
    assert_int_equal(log_count(text, "run 1: R -> G (set by operator, forced)"), 1);
    free(text);
}

static void test_failed_operator_change_is_not_logged(void **state)
{
    (void)state;
    int64_t a = create("R"), b = create("R");
    assert_int_equal(log_capture_start(), 0);
    fault_vfs_set(FAULT_FAIL);
    hbd_run r;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbd_engine_set_status(e, a, "E", 1, &r, &err), HBEAT_ESYSTEM);
    /* The store has failed for good: later changes are refused at once. */
    assert_int_equal(hbd_engine_set_status(e, b, "D", 0, &r, &err), HBEAT_ESYSTEM);
    fault_vfs_set(FAULT_NONE);
    char *text = close_and_read();
    assert_int_equal(log_count(text, "set by operator"), 0);
    /* What is logged instead: the store's failure. */
    assert_int_equal(log_count(text, "refusing further changes"), 1);
    free(text);
}

static void test_failed_heartbeat_change_is_not_logged(void **state)
{
    (void)state;
    int64_t id = create("O");
    assert_int_equal(log_capture_start(), 0);
    fault_vfs_set(FAULT_FAIL);
    hbd_run r;
    assert_int_equal(hbd_engine_heartbeat(e, id, "R", 30, &r, NULL), HBEAT_ESYSTEM);
    fault_vfs_set(FAULT_NONE);
    char *text = close_and_read();
    assert_int_equal(log_count(text, "O -> R"), 0);
    free(text);
}

static void test_failed_new_run_is_not_logged(void **state)
{
    (void)state;
    assert_int_equal(log_capture_start(), 0);
    fault_vfs_set(FAULT_FAIL);
    hbd_run r;
    assert_int_equal(hbd_engine_create_run(e, 5, "G", NULL, &r, NULL), HBEAT_ESYSTEM);
    fault_vfs_set(FAULT_NONE);
    char *text = close_and_read();
    assert_int_equal(log_count(text, "created run"), 0);
    free(text);
}

/* The same changes on a healthy store are each logged once. */
static void test_durable_changes_are_logged(void **state)
{
    (void)state;
    assert_int_equal(log_capture_start(), 0);
    int64_t id = create("O");
    hbd_run r;
    assert_int_equal(hbd_engine_heartbeat(e, id, "R", 30, &r, NULL), 0);
    assert_int_equal(hbd_engine_set_status(e, id, "D", 0, &r, NULL), 0);
    /* No change, no line. */
    assert_int_equal(hbd_engine_set_status(e, id, "D", 1, &r, NULL), 0);
    assert_int_equal(hbd_engine_heartbeat(e, id, "D", 30, &r, NULL), 0);
    char *text = close_and_read();
    assert_int_equal(log_count(text, "created run 1 of workflow 5 in O"), 1);
    assert_int_equal(log_count(text, "run 1: O -> R (heartbeat)"), 1);
    assert_int_equal(log_count(text, "run 1: R -> D (set by operator)"), 1);
    assert_int_equal(log_count(text, "set by operator"), 1);
    free(text);
}

/* An invalid transition changes nothing, and a client can send one per
   request: its line is rate-limited, not written every time. */
static void test_a_flood_of_invalid_transitions_is_logged_briefly(void **state)
{
    (void)state;
    assert_int_equal(log_capture_start(), 0);
    int64_t id = create("D");
    hbd_run r;
    for (int i = 0; i < 300; i++) {
        assert_int_equal(hbd_engine_heartbeat(e, id, "R", 30, &r, NULL), 0);
        assert_int_equal(hbd_engine_update_status(e, id, "L", &r, NULL), 0);
    }
    char *text = close_and_read();
    int beats = log_count(text, "heartbeat with invalid transition D -> R ignored");
    int updates = log_count(text, "update_status with invalid transition D -> L ignored");
    if (beats < 1 || beats > 12 || updates < 1 || updates > 12)
        fail_msg("%d and %d lines for 300 invalid transitions each", beats, updates);
    free(text);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    if (fault_vfs_install() != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        T(test_operator_change_waits_for_its_commit),
        T(test_a_flood_of_invalid_transitions_is_logged_briefly),
        T(test_failed_operator_change_is_not_logged),
        T(test_failed_heartbeat_change_is_not_logged),
        T(test_failed_new_run_is_not_logged),
        T(test_durable_changes_are_logged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
