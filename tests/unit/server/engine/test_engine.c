/*
 * The engine with a fake clock: Jobmon's heartbeat semantics, the admin
 * calls, bad input, and the reaper pass with its start-up grace. No sleeps:
 * time moves only when a test says so.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
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
#include "support/engine_wait.h"

static double fake_now;
static char path[64];
static hbd_engine *e;

/* The runs the engine holds (one page is enough here). */
static size_t run_count(void)
{
    hbd_run *runs = NULL;
    size_t n = 0;
    int64_t next = 0;
    assert_int_equal(hbd_engine_list_runs(e, NULL, 0, HBD_LIST_MAX, &runs, &n, &next, NULL), 0);
    free(runs);
    return n;
}

static double fake_clock(void *arg)
{
    return *(double *)arg;
}

static void open_engine(double grace)
{
    hbd_engine_options o;
    memset(&o, 0, sizeof o);
    o.db_path = path;
    o.reap_interval = 0; /* no thread: the tests reap by hand */
    o.reap_grace = grace;
    o.clock = fake_clock;
    o.clock_arg = &fake_now;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbd_engine_open(&e, &o, &err) != 0)
        fail_msg("open: %s", err.message);
}

static int setup(void **state)
{
    hbd_log_set_level(HBEAT_LOG_ERROR);
    snprintf(path, sizeof path, "/tmp/hbd-engine-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    close(fd);
    fake_now = 1764280000.0;
    open_engine(0);
    return 0;
}

static int teardown(void **state)
{
    hbd_engine_close(e);
    e = NULL;
    char wal[80];
    snprintf(wal, sizeof wal, "%s-wal", path);
    unlink(wal);
    unlink(path);
    return 0;
}

static int64_t create(const char *status)
{
    hbd_run r;
    assert_int_equal(hbd_engine_create_run(e, 5, status, NULL, &r, NULL), 0);
    return r.id;
}

static void beat(int64_t id, const char *status, double inc, const char *expect)
{
    hbd_run r;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbd_engine_heartbeat(e, id, status, inc, &r, &err) != 0)
        fail_msg("beat %s: %s", status, err.message);
    assert_string_equal(r.status, expect);
}

static hbd_run get(int64_t id)
{
    hbd_run r;
    assert_int_equal(hbd_engine_get_run(e, id, &r, NULL), 0);
    return r;
}

static void assert_same(const hbd_run *a, const hbd_run *b)
{
    assert_int_equal(a->id, b->id);
    assert_string_equal(a->status, b->status);
    assert_true(a->deadline == b->deadline);
    assert_true(a->last_heartbeat == b->last_heartbeat);
    assert_int_equal(a->beats, b->beats);
}

static void test_heartbeat_semantics(void **state)
{
    int64_t id = create(NULL);
    hbd_run r = get(id);
    assert_string_equal(r.status, "G");
    assert_true(r.deadline == 0);

    beat(id, "L", 45.0, "L");
    r = get(id);
    assert_true(r.deadline == fake_now + 45.0);
    assert_true(r.last_heartbeat == fake_now);
    assert_int_equal(r.beats, 1);

    /* Untimely L -> L: no status change, the deadline moves. */
    fake_now += 10;
    beat(id, "L", 45.0, "L");
    r = get(id);
    assert_true(r.deadline == fake_now + 45.0);
    assert_int_equal(r.beats, 2);

    /* Invalid L -> R: nothing changes, not even the deadline. */
    hbd_run before = r;
    fake_now += 10;
    beat(id, "R", 99.0, "L");
    r = get(id);
    assert_same(&r, &before);

    /* An increment of 0 is allowed (due at once). */
    beat(id, "B", 0.0, "B");
    assert_true(get(id).deadline == fake_now);
}

static void test_update_status(void **state)
{
    int64_t id = create("R");
    beat(id, "R", 30, "R");
    hbd_run before = get(id), r;
    fake_now += 5;
    assert_int_equal(hbd_engine_update_status(e, id, "S", &r, NULL), 0);
    assert_string_equal(r.status, "S");
    /* Not a beat: deadline, last beat and count unchanged. */
    assert_true(r.deadline == before.deadline);
    assert_true(r.last_heartbeat == before.last_heartbeat);
    assert_int_equal(r.beats, before.beats);
    /* Invalid S -> R: the reply is the status held. */
    assert_int_equal(hbd_engine_update_status(e, id, "R", &r, NULL), 0);
    assert_string_equal(r.status, "S");
}

static void test_set_status(void **state)
{
    int64_t id = create("D");
    hbd_run r;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbd_engine_set_status(e, id, "R", 0, &r, &err), HBEAT_EINVAL);
    assert_non_null(strstr(err.message, "D -> R"));
    assert_string_equal(get(id).status, "D");
    assert_int_equal(hbd_engine_set_status(e, id, "R", 1, &r, NULL), 0);
    assert_string_equal(r.status, "R");
    /* Untimely through the state machine: accepted, no change. */
    assert_int_equal(hbd_engine_set_status(e, id, "R", 0, &r, NULL), 0);
    assert_string_equal(r.status, "R");
}

static void test_bad_input(void **state)
{
    int64_t id = create("R");
    beat(id, "R", 30, "R");
    hbd_run before = get(id), r;
    hbeat_error err = HBEAT_ERROR_INIT;
    const double incs[] = {-1, -0.0001, NAN, INFINITY, -INFINITY, HBD_MAX_INCREMENT * 1.01};
    for (size_t i = 0; i < sizeof incs / sizeof incs[0]; i++)
        assert_int_equal(hbd_engine_heartbeat(e, id, "R", incs[i], &r, &err), HBEAT_EINVAL);
    /* The limit itself is fine. */
    const char *statuses[] = {"", "X", "RR", "r", "\xff\xfe"};
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
        assert_int_equal(hbd_engine_heartbeat(e, id, statuses[i], 1, &r, &err), HBEAT_EINVAL);
        assert_int_equal(hbd_engine_update_status(e, id, statuses[i], &r, &err), HBEAT_EINVAL);
        assert_int_equal(hbd_engine_set_status(e, id, statuses[i], 1, &r, &err), HBEAT_EINVAL);
        /* Never echoes bytes that are not printable ASCII. */
        for (const char *p = err.message; *p; p++)
            assert_true(*p >= 0x20 && *p < 0x7f);
    }
    assert_int_equal(hbd_engine_heartbeat(e, id, NULL, 1, &r, &err), HBEAT_EINVAL);
    assert_int_equal(hbd_engine_heartbeat(e, 0, "R", 1, &r, &err), HBEAT_EINVAL);
    assert_int_equal(hbd_engine_heartbeat(e, -1, "R", 1, &r, &err), HBEAT_EINVAL);
    assert_int_equal(hbd_engine_heartbeat(e, id + 100, "R", 1, &r, &err), HBEAT_ENOTFOUND);
    assert_int_equal(hbd_engine_get_run(e, id + 100, &r, &err), HBEAT_ENOTFOUND);
    assert_int_equal(hbd_engine_update_status(e, id + 100, "R", &r, &err), HBEAT_ENOTFOUND);
    assert_int_equal(hbd_engine_create_run(e, 0, "G", NULL, &r, &err), HBEAT_EINVAL);
    assert_int_equal(hbd_engine_create_run(e, 1, "Z", NULL, &r, &err), HBEAT_EINVAL);
    r = get(id);
    assert_same(&r, &before);
    assert_int_equal(hbd_engine_heartbeat(e, id, "R", HBD_MAX_INCREMENT, &r, NULL), 0);
}

static void test_list_pages(void **state)
{
    int64_t ids[7];
    for (int i = 0; i < 7; i++)
        ids[i] = create(i % 2 ? "R" : "G");
    hbd_run *runs;
    size_t n;
    int64_t next;
    /* All runs, 3 a page. */
    assert_int_equal(hbd_engine_list_runs(e, NULL, 0, 3, &runs, &n, &next, NULL), 0);
    assert_int_equal(n, 3);
    assert_int_equal(runs[0].id, ids[0]);
    assert_int_equal(next, ids[2]);
    free(runs);
    assert_int_equal(hbd_engine_list_runs(e, "", next, 3, &runs, &n, &next, NULL), 0);
    assert_int_equal(n, 3);
    assert_int_equal(runs[0].id, ids[3]);
    free(runs);
    assert_int_equal(hbd_engine_list_runs(e, NULL, next, 3, &runs, &n, &next, NULL), 0);
    assert_int_equal(n, 1);
    assert_int_equal(next, 0);
    free(runs);
    /* By status: exactly 3 R runs; a full page that is also the last. */
    assert_int_equal(hbd_engine_list_runs(e, "R", 0, 3, &runs, &n, &next, NULL), 0);
    assert_int_equal(n, 3);
    assert_int_equal(next, 0);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(runs[i].status, "R");
    free(runs);
    /* Past the end; bad status; bad after_id; limit 0 = default. */
    assert_int_equal(hbd_engine_list_runs(e, NULL, ids[6], 3, &runs, &n, &next, NULL), 0);
    assert_int_equal(n, 0);
    assert_int_equal(next, 0);
    free(runs);
    assert_int_equal(hbd_engine_list_runs(e, "?", 0, 3, &runs, &n, &next, NULL), HBEAT_EINVAL);
    assert_int_equal(hbd_engine_list_runs(e, NULL, -1, 3, &runs, &n, &next, NULL), HBEAT_EINVAL);
    assert_int_equal(hbd_engine_list_runs(e, NULL, 0, 0, &runs, &n, &next, NULL), 0);
    assert_int_equal(n, 7);
    free(runs);
}

static void walk(int64_t id, const char *path_, double inc)
{
    /* path_ is a string of one-letter statuses, e.g. "LBIOR". */
    for (const char *p = path_; *p; p++) {
        char s[2] = {*p, 0};
        beat(id, s, p[1] ? 1000.0 : inc, s);
    }
}

static void test_reap(void **state)
{
    struct {
        const char *path;
        const char *expect;
        int64_t id;
    } runs[] = {{"L", "A", 0},      {"LBIOR", "E", 0}, {"LBC", "T", 0},  {"LBIORH", "T", 0},
                {"LB", "B", 0},     {"LBI", "I", 0},   {"LBIO", "O", 0}, {"LBIORD", "D", 0},
                {"LBIORS", "S", 0}, {"LBIORE", "E", 0}};
    size_t n = sizeof runs / sizeof runs[0];
    for (size_t i = 0; i < n; i++) {
        runs[i].id = create("G");
        walk(runs[i].id, runs[i].path, 10.0);
    }
    int64_t never = create("G"); /* no deadline at all */
    size_t reaped;
    /* Not yet due: nothing. At the deadline exactly: still nothing. */
    assert_int_equal(hbd_engine_reap(e, &reaped, NULL), 0);
    assert_int_equal(reaped, 0);
    fake_now += 10.0;
    assert_int_equal(hbd_engine_reap(e, &reaped, NULL), 0);
    assert_int_equal(reaped, 0);
    fake_now += 0.001;
    assert_int_equal(hbd_engine_reap(e, &reaped, NULL), 0);
    assert_int_equal(reaped, 4);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(get(runs[i].id).status, runs[i].expect);
    assert_string_equal(get(never).status, "G");
    /* A second pass finds nothing more. */
    assert_int_equal(hbd_engine_reap(e, &reaped, NULL), 0);
    assert_int_equal(reaped, 0);

    /* Reaped states are durable. */
    hbd_engine_close(e);
    open_engine(0);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(get(runs[i].id).status, runs[i].expect);
}

static void test_reap_grace_after_restart(void **state)
{
    int64_t a = create("G"), b = create("G");
    walk(a, "LBIOR", 30.0);
    walk(b, "L", 120.0); /* the longest increment: the grace */
    hbd_engine_close(e);

    /* The server was down far longer than any deadline. */
    fake_now += 1000;
    open_engine(-1);
    size_t reaped;
    fake_now += 119.9;
    assert_int_equal(hbd_engine_reap(e, &reaped, NULL), 0);
    assert_int_equal(reaped, 0);
    assert_string_equal(get(a).status, "R");
    /* A client that is alive beats within the grace and is safe. */
    beat(a, "R", 30.0, "R");
    fake_now += 0.2;
    assert_int_equal(hbd_engine_reap(e, &reaped, NULL), 0);
    assert_int_equal(reaped, 1);
    assert_string_equal(get(a).status, "R");
    assert_string_equal(get(b).status, "A");
}

static void test_reap_explicit_grace(void **state)
{
    hbd_engine_close(e);
    open_engine(50.0);
    int64_t a = create("G");
    walk(a, "L", 1.0);
    size_t reaped;
    fake_now += 49.0;
    assert_int_equal(hbd_engine_reap(e, &reaped, NULL), 0);
    assert_int_equal(reaped, 0);
    fake_now += 1.5;
    assert_int_equal(hbd_engine_reap(e, &reaped, NULL), 0);
    assert_int_equal(reaped, 1);
    assert_string_equal(get(a).status, "A");
}

static int64_t create_with(const char *status, double inc)
{
    hbd_run r;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbd_engine_create_run(e, 5, status, &inc, &r, &err) != 0)
        fail_msg("create %s with %g: %s", status, inc, err.message);
    return r.id;
}

/* Jobmon's POST /workflow_run: a run has a deadline from the moment it
   exists, so a client that dies before its first beat is reaped like one
   that stopped beating (L->A, and the other reaper targets). */
static void test_created_run_that_never_beat_is_reaped(void **state)
{
    static const struct {
        const char *status, *expect;
    } cases[] = {{"L", "A"}, {"R", "E"}, {"C", "T"}, {"H", "T"},
                 {"G", "G"}, {"B", "B"}, {"O", "O"}, {"D", "D"}};
    size_t n = sizeof cases / sizeof cases[0];
    int64_t ids[8];
    double created = fake_now;
    for (size_t i = 0; i < n; i++) {
        ids[i] = create_with(cases[i].status, 30.0);
        hbd_run r = get(ids[i]);
        assert_true(r.deadline == created + 30.0);
        assert_true(r.last_heartbeat == 0);
        assert_int_equal(r.beats, 0);
    }
    int64_t old_client = create("L"); /* no increment: no deadline */
    /* A run whose client beats before its first deadline lives on. */
    int64_t alive = create_with("L", 30.0);
    fake_now += 20.0;
    beat(alive, "L", 30.0, "L");

    size_t reaped;
    fake_now = created + 30.0;
    assert_int_equal(hbd_engine_reap(e, &reaped, NULL), 0);
    assert_int_equal(reaped, 0);
    fake_now += 0.001;
    assert_int_equal(hbd_engine_reap(e, &reaped, NULL), 0);
    assert_int_equal(reaped, 4);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(get(ids[i]).status, cases[i].expect);
    assert_string_equal(get(old_client).status, "L");
    assert_string_equal(get(alive).status, "L");
    assert_int_equal(get(ids[0]).beats, 0);

    /* Durable: the reaped runs stay reaped across a restart. */
    hbd_engine_close(e);
    open_engine(0);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(get(ids[i]).status, cases[i].expect);
}

/* A G run is not reaped, but its deadline runs from creation, as in
   Jobmon: moved to L without a beat after the deadline, it is reaped at
   the next pass. */
static void test_deadline_from_creation_outlives_a_status_update(void **state)
{
    int64_t id = create_with("G", 10.0);
    fake_now += 11.0;
    size_t reaped;
    assert_int_equal(hbd_engine_reap(e, &reaped, NULL), 0);
    assert_int_equal(reaped, 0);
    hbd_run r;
    assert_int_equal(hbd_engine_update_status(e, id, "L", &r, NULL), 0);
    assert_int_equal(hbd_engine_reap(e, &reaped, NULL), 0);
    assert_int_equal(reaped, 1);
    assert_string_equal(get(id).status, "A");
}

/* 0 is Jobmon's interval 0: due at once. */
static void test_created_with_increment_0_is_due_at_once(void **state)
{
    double created = fake_now;
    int64_t id = create_with("L", 0.0);
    assert_true(get(id).deadline == created);
    size_t reaped;
    assert_int_equal(hbd_engine_reap(e, &reaped, NULL), 0);
    assert_int_equal(reaped, 0);
    fake_now += 0.001;
    assert_int_equal(hbd_engine_reap(e, &reaped, NULL), 0);
    assert_int_equal(reaped, 1);
    assert_string_equal(get(id).status, "A");
}

/* Checked as a heartbeat's increment; a refused create leaves no run. */
static void test_create_refuses_bad_increments(void **state)
{
    const double bad[] = {-1.0, -1e-9, NAN, INFINITY, -INFINITY, HBD_MAX_INCREMENT + 1, 1e308};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hbd_run r;
        hbeat_error err = HBEAT_ERROR_INIT;
        assert_int_equal(hbd_engine_create_run(e, 5, "L", &bad[i], &r, &err), HBEAT_EINVAL);
        assert_non_null(strstr(err.message, "next_report_increment must be a number of seconds "
                                            "in [0, 31536000]"));
    }
    assert_int_equal(run_count(), 0);
    double max = HBD_MAX_INCREMENT;
    hbd_run r;
    assert_int_equal(hbd_engine_create_run(e, 5, "L", &max, &r, NULL), 0);
    assert_true(r.deadline == fake_now + HBD_MAX_INCREMENT);
}

/* After a restart the reaper waits one full window; for a run that never
   beat that is the window it was created with. Here it is the only run,
   so without it the grace would be 0 and a client that is alive but could
   not reach the server while it was down would be reaped at once. */
static void test_grace_covers_a_run_that_never_beat(void **state)
{
    int64_t a = create_with("L", 120.0);
    hbd_run before = get(a);
    hbd_engine_close(e);
    fake_now += 1000;
    open_engine(-1);
    hbd_run after = get(a);
    assert_same(&before, &after);
    size_t reaped;
    fake_now += 119.9;
    assert_int_equal(hbd_engine_reap(e, &reaped, NULL), 0);
    assert_int_equal(reaped, 0);
    /* Its client comes back within the grace: the run is safe. */
    beat(a, "L", 30.0, "L");
    int64_t b = create_with("L", 5.0); /* and one that stays silent */
    fake_now += 5.1;
    assert_int_equal(hbd_engine_reap(e, &reaped, NULL), 0);
    assert_int_equal(reaped, 1);
    assert_string_equal(get(a).status, "L");
    assert_string_equal(get(b).status, "A");
}

static void test_reopen_keeps_everything(void **state)
{
    int64_t a = create("G");
    walk(a, "LBIOR", 77.5);
    beat(a, "R", 77.5, "R");
    hbd_run before = get(a);
    hbd_engine_close(e);
    open_engine(0);
    hbd_run after = get(a);
    assert_same(&before, &after);
    assert_int_equal(after.workflow_id, 5);
    assert_int_equal(run_count(), 1);
    /* Ids keep growing after a restart. */
    assert_true(create("G") > a);
}

static void test_async_ticket(void **state)
{
    int64_t id = create("R");
    hbd_run r;
    uint64_t ticket;
    assert_int_equal(hbd_engine_heartbeat_begin(e, id, "R", 5.0, &r, &ticket, NULL), 0);
    assert_true(ticket > 0);
    assert_int_equal(r.beats, 1);
    /* A read of the same run carries the same commit to wait for. */
    uint64_t t2;
    assert_int_equal(hbd_engine_get_run_begin(e, id, &r, &t2, NULL), 0);
    assert_true(t2 >= ticket);
    /* Errors carry no ticket. */
    assert_int_equal(hbd_engine_heartbeat_begin(e, id, "?", 5.0, &r, &t2, NULL), HBEAT_EINVAL);
    assert_int_equal(t2, 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_heartbeat_semantics),
        T(test_update_status),
        T(test_set_status),
        T(test_bad_input),
        T(test_list_pages),
        T(test_reap),
        T(test_reap_grace_after_restart),
        T(test_reap_explicit_grace),
        T(test_created_run_that_never_beat_is_reaped),
        T(test_deadline_from_creation_outlives_a_status_update),
        T(test_created_with_increment_0_is_due_at_once),
        T(test_create_refuses_bad_increments),
        T(test_grace_covers_a_run_that_never_beat),
        T(test_reopen_keeps_everything),
        T(test_async_ticket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
