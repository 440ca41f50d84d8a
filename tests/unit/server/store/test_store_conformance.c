/*
 * The run stores' conformance: the same cases through the engine over
 * every run store (run_store.h), on a fake clock. Without arguments the
 * store is SQLite (":memory:"); with a connection URI (argv[1], given by
 * tests/support/with_pg.sh) it is PostgreSQL, whose tables are emptied
 * before each case. Whatever Jobmon's rules say one store does, the other
 * must do the same. Every case runs twice: with the calls queued for the
 * store's workers, and with this thread allowed to wait for the database
 * inside a call (hbd_engine_thread_may_wait), which a deferred store uses
 * to answer a lone call in the caller's thread.
 */
#define _POSIX_C_SOURCE 200809L

#include <libpq-fe.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine.h"
#include "log.h"
#include "support/engine_wait.h"

static const char *db = ":memory:";
static double fake_now;
static hbd_engine *e;

static double fake_clock(void *arg)
{
    return *(double *)arg;
}

static void empty_pg(void)
{
    PGconn *c = PQconnectdb(db);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connect: %s", PQerrorMessage(c));
    /* Absent on the first case: the engine creates the schema. */
    PGresult *r = PQexec(c, "SET client_min_messages = warning;"
                            "DO $$ BEGIN IF to_regclass('hbeat_runs') IS NOT NULL THEN"
                            " TRUNCATE hbeat_runs RESTART IDENTITY;"
                            " UPDATE hbeat_reaper SET last_seen = 0, grace_until = 0;"
                            " END IF; END $$");
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("empty: %s", PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

static int setup(void **state)
{
    (void)state;
    hbd_log_set_level(HBEAT_LOG_ERROR);
    if (strcmp(db, ":memory:") != 0)
        empty_pg();
    fake_now = 1764280000.0;
    hbd_engine_options o;
    memset(&o, 0, sizeof o);
    o.db_path = db;
    o.reap_interval = 0; /* the cases reap by hand */
    o.reap_grace = 0;
    o.clock = fake_clock;
    o.clock_arg = &fake_now;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbd_engine_open(&e, &o, &err) != 0)
        fail_msg("open %s: %s", db, err.message);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hbd_engine_close(e);
    e = NULL;
    return 0;
}

static int64_t create(const char *status, double inc)
{
    hbd_run run;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbd_engine_create_run(e, 7, status, &inc, &run, &err) != 0)
        fail_msg("create: %s", err.message);
    return run.id;
}

static void test_create_and_get(void **state)
{
    (void)state;
    double inc = 30;
    hbd_run run, got;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbd_engine_create_run(e, 7, NULL, &inc, &run, &err), 0);
    assert_int_equal(run.id, 1);
    assert_string_equal(run.status, "G");
    assert_true(run.deadline == fake_now + 30);
    assert_int_equal(run.beats, 0);
    assert_true(run.last_heartbeat == 0);
    /* Without an increment: no deadline until the first beat. */
    assert_int_equal(hbd_engine_create_run(e, 8, "R", NULL, &run, &err), 0);
    assert_int_equal(run.id, 2);
    assert_true(run.deadline == 0);
    assert_int_equal(hbd_engine_get_run(e, 2, &got, &err), 0);
    assert_int_equal(got.workflow_id, 8);
    assert_string_equal(got.status, "R");
    assert_int_equal(hbd_engine_get_run(e, 99, &got, &err), HBEAT_ENOTFOUND);
    assert_non_null(strstr(err.message, "no workflow run 99"));
}

static void test_heartbeat_rules(void **state)
{
    (void)state;
    int64_t id = create("L", 30);
    hbd_run run;
    hbeat_error err = HBEAT_ERROR_INIT;
    fake_now += 1;
    /* Untimely L->L: the deadline moves, the beat counts. */
    assert_int_equal(hbd_engine_heartbeat(e, id, "L", 60, &run, &err), 0);
    assert_string_equal(run.status, "L");
    assert_true(run.deadline == fake_now + 60);
    assert_true(run.last_heartbeat == fake_now);
    assert_int_equal(run.beats, 1);
    /* Valid L->B. */
    fake_now += 1;
    assert_int_equal(hbd_engine_heartbeat(e, id, "B", 60, &run, &err), 0);
    assert_string_equal(run.status, "B");
    assert_int_equal(run.beats, 2);
    double deadline = run.deadline;
    /* Invalid B->D: nothing moves, the reply carries the status held. */
    fake_now += 1;
    assert_int_equal(hbd_engine_heartbeat(e, id, "D", 60, &run, &err), 0);
    assert_string_equal(run.status, "B");
    assert_int_equal(run.beats, 2);
    assert_true(run.deadline == deadline);
    assert_int_equal(hbd_engine_heartbeat(e, 99, "R", 60, &run, &err), HBEAT_ENOTFOUND);
}

static void test_update_status_rules(void **state)
{
    (void)state;
    int64_t id = create("R", 30);
    hbd_run run;
    hbeat_error err = HBEAT_ERROR_INIT;
    double deadline = fake_now + 30;
    fake_now += 5;
    assert_int_equal(hbd_engine_update_status(e, id, "D", &run, &err), 0);
    assert_string_equal(run.status, "D");
    assert_true(run.deadline == deadline); /* untouched */
    assert_int_equal(run.beats, 0);
    /* D->R is invalid: kept, no error. */
    assert_int_equal(hbd_engine_update_status(e, id, "R", &run, &err), 0);
    assert_string_equal(run.status, "D");
    assert_int_equal(hbd_engine_update_status(e, 99, "R", &run, &err), HBEAT_ENOTFOUND);
}

static void test_set_status_rules(void **state)
{
    (void)state;
    int64_t id = create("R", 30);
    hbd_run run;
    hbeat_error err = HBEAT_ERROR_INIT;
    /* R->G is not a transition: refused, with the reason. */
    assert_int_equal(hbd_engine_set_status(e, id, "G", 0, &run, &err), HBEAT_EINVAL);
    assert_non_null(strstr(err.message, "R -> G is not a valid transition"));
    assert_int_equal(hbd_engine_get_run(e, id, &run, &err), 0);
    assert_string_equal(run.status, "R");
    /* Untimely R->R: no change, no error. */
    assert_int_equal(hbd_engine_set_status(e, id, "R", 0, &run, &err), 0);
    assert_string_equal(run.status, "R");
    /* Forced. */
    assert_int_equal(hbd_engine_set_status(e, id, "G", 1, &run, &err), 0);
    assert_string_equal(run.status, "G");
    assert_int_equal(hbd_engine_set_status(e, id, "G", 1, &run, &err), 0);
    assert_string_equal(run.status, "G");
    /* G->G without force is not a transition either. */
    assert_int_equal(hbd_engine_set_status(e, id, "G", 0, &run, &err), HBEAT_EINVAL);
    assert_int_equal(hbd_engine_set_status(e, id, "L", 0, &run, &err), 0);
    assert_string_equal(run.status, "L");
    assert_int_equal(hbd_engine_set_status(e, 99, "L", 1, &run, &err), HBEAT_ENOTFOUND);
}

static void test_list_pages(void **state)
{
    (void)state;
    for (int i = 0; i < 7; i++)
        create(i % 2 ? "R" : "G", 30);
    hbd_run *runs = NULL;
    size_t n = 0;
    int64_t next = 0;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbd_engine_list_runs(e, NULL, 0, 3, &runs, &n, &next, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(runs[0].id, 1);
    assert_int_equal(next, 3);
    free(runs);
    assert_int_equal(hbd_engine_list_runs(e, NULL, 6, 3, &runs, &n, &next, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(runs[0].id, 7);
    assert_int_equal(next, 0);
    free(runs);
    /* Runs 2, 4, 6 are R: a page of 2, then the last. */
    assert_int_equal(hbd_engine_list_runs(e, "R", 0, 2, &runs, &n, &next, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(runs[1].id, 4);
    assert_int_equal(next, 4);
    free(runs);
    assert_int_equal(hbd_engine_list_runs(e, "R", 4, 2, &runs, &n, &next, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(runs[0].id, 6);
    assert_int_equal(next, 0);
    free(runs);
}

static void test_reap(void **state)
{
    (void)state;
    int64_t l = create("L", 10), r = create("R", 10), c = create("C", 10), h = create("H", 10);
    int64_t g = create("G", 10), d = create("R", 10), late = create("R", 100);
    hbd_run run;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbd_engine_update_status(e, d, "D", &run, &err), 0);
    size_t reaped = 0;
    fake_now += 5;
    assert_int_equal(hbd_engine_reap(e, &reaped, &err), 0);
    assert_int_equal(reaped, 0);
    fake_now += 6;
    assert_int_equal(hbd_engine_reap(e, &reaped, &err), 0);
    assert_int_equal(reaped, 4);
    const struct {
        int64_t id;
        const char *status;
    } want[] = {{l, "A"}, {r, "E"}, {c, "T"}, {h, "T"}, {g, "G"}, {d, "D"}, {late, "R"}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_int_equal(hbd_engine_get_run(e, want[i].id, &run, &err), 0);
        assert_string_equal(run.status, want[i].status);
    }
    /* Reaped once: a second pass finds nothing. */
    assert_int_equal(hbd_engine_reap(e, &reaped, &err), 0);
    assert_int_equal(reaped, 0);
}

static void test_bad_input_changes_nothing(void **state)
{
    (void)state;
    int64_t id = create("R", 30);
    hbd_run run;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbd_engine_heartbeat(e, id, "X", 30, &run, &err), HBEAT_EINVAL);
    assert_int_equal(hbd_engine_heartbeat(e, id, "R", -1, &run, &err), HBEAT_EINVAL);
    assert_int_equal(hbd_engine_heartbeat(e, 0, "R", 30, &run, &err), HBEAT_EINVAL);
    assert_int_equal(hbd_engine_set_status(e, id, "", 1, &run, &err), HBEAT_EINVAL);
    assert_int_equal(hbd_engine_get_run(e, id, &run, &err), 0);
    assert_string_equal(run.status, "R");
    assert_int_equal(run.beats, 0);
}

static void test_count_by_status(void **state)
{
    (void)state;
    uint64_t counts[HBD_ST_COUNT], ticket = 0;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbd_engine_count_runs_begin(e, counts, &ticket, &err), 0);
    assert_int_equal(hbd_engine_wait_durable(e, ticket), 0);
    for (int i = 0; i < HBD_ST_COUNT; i++)
        assert_int_equal(counts[i], 0);
    for (int i = 0; i < 5; i++)
        create("R", 30);
    for (int i = 0; i < 3; i++)
        create("L", 30);
    int64_t id = create("R", 30);
    hbd_run run;
    assert_int_equal(hbd_engine_update_status(e, id, "D", &run, &err), 0);
    assert_int_equal(hbd_engine_count_runs_begin(e, counts, &ticket, &err), 0);
    assert_int_equal(hbd_engine_wait_durable(e, ticket), 0);
    for (int i = 0; i < HBD_ST_COUNT; i++) {
        uint64_t want = i == HBD_ST_R ? 5 : i == HBD_ST_L ? 3 : i == HBD_ST_D ? 1 : 0;
        assert_int_equal(counts[i], want);
    }
}

/* More runs than SQLite counts under one hold of its lock. */
static void test_count_many(void **state)
{
    (void)state;
    enum { MANY = 9000 };
    for (int i = 0; i < MANY; i++)
        create(i % 3 == 0 ? "L" : "R", 30);
    uint64_t counts[HBD_ST_COUNT], ticket = 0;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbd_engine_count_runs_begin(e, counts, &ticket, &err), 0);
    assert_int_equal(hbd_engine_wait_durable(e, ticket), 0);
    assert_int_equal(counts[HBD_ST_L], MANY / 3);
    assert_int_equal(counts[HBD_ST_R], MANY - MANY / 3);
}

/* ---- calls answered in the caller's thread (a deferred store only) ---- */

typedef struct answered {
    hbd_durable w;
    int done, rc;
    pthread_t thread;
} answered;

static void on_answered(void *arg, int rc)
{
    answered *a = arg;
    a->rc = rc;
    a->thread = pthread_self();
    a->done = 1;
}

static void test_lone_call_answered_in_thread(void **state)
{
    (void)state;
    if (!hbd_engine_deferred(e))
        skip(); /* SQLite answers every call at once */
    int64_t id = create("R", 30);
    hbd_engine_thread_may_wait(1);
    hbd_run run;
    hbeat_error err = HBEAT_ERROR_INIT;
    uint64_t ticket = 0;
    assert_int_equal(hbd_engine_heartbeat_begin(e, id, "R", 60, &run, &ticket, &err), 0);
    answered a = {.done = 0};
    hbd_engine_when_durable(e, ticket, &a.w, on_answered, &a);
    /* Nothing else in flight: the beat went to the database and back in
       this thread, and its ticket was reported before when_durable
       returned. */
    assert_int_equal(a.done, 1);
    assert_int_equal(a.rc, 0);
    assert_true(pthread_equal(a.thread, pthread_self()));
    assert_string_equal(run.status, "R");
    assert_int_equal(run.beats, 1);
    /* A plain beat that finds another status is sent again, strictly, in
       the same thread. */
    assert_int_equal(hbd_engine_set_status(e, id, "O", 1, &run, &err), 0);
    assert_int_equal(hbd_engine_heartbeat_begin(e, id, "R", 60, &run, &ticket, &err), 0);
    a.done = 0;
    hbd_engine_when_durable(e, ticket, &a.w, on_answered, &a);
    assert_int_equal(a.done, 1);
    assert_true(pthread_equal(a.thread, pthread_self()));
    assert_string_equal(run.status, "R");
}

#define CALLERS 6
#define CALLS   300

typedef struct caller {
    int may_wait;
    int64_t run;
    int failed;
} caller;

static void *beat_many(void *arg)
{
    caller *c = arg;
    hbd_engine_thread_may_wait(c->may_wait);
    for (int i = 0; i < CALLS; i++) {
        hbd_run run;
        hbeat_error err = HBEAT_ERROR_INIT;
        if (hbd_engine_heartbeat(e, c->run, "R", 60, &run, &err) != 0)
            c->failed++;
    }
    return NULL;
}

/* Callers that may wait and callers that may not, at once: every call is
   answered (none waits for a worker that was lent out) and counted. */
static void test_callers_mixed(void **state)
{
    (void)state;
    int64_t runs[3] = {create("R", 30), create("R", 30), create("R", 30)};
    caller c[CALLERS];
    pthread_t t[CALLERS];
    for (int i = 0; i < CALLERS; i++) {
        c[i] = (caller){.may_wait = i % 2, .run = runs[i % 3]};
        assert_int_equal(pthread_create(&t[i], NULL, beat_many, &c[i]), 0);
    }
    for (int i = 0; i < CALLERS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(c[i].failed, 0);
    }
    uint64_t beats = 0;
    for (int i = 0; i < 3; i++) {
        hbd_run run;
        hbeat_error err = HBEAT_ERROR_INIT;
        assert_int_equal(hbd_engine_get_run(e, runs[i], &run, &err), 0);
        beats += run.beats;
    }
    assert_int_equal(beats, CALLERS * CALLS);
}

/* Group setups: how this thread's calls reach the store (engine.h). */
static int calls_queued(void **state)
{
    (void)state;
    hbd_engine_thread_may_wait(0);
    return 0;
}

static int calls_may_wait(void **state)
{
    (void)state;
    hbd_engine_thread_may_wait(1);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        db = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_and_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_heartbeat_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_status_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_status_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_count_by_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_count_many, setup, teardown),
    };
    const struct CMUnitTest threads[] = {
        cmocka_unit_test_setup_teardown(test_lone_call_answered_in_thread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_callers_mixed, setup, teardown),
    };
    int failed = cmocka_run_group_tests_name("calls queued", tests, calls_queued, NULL);
    failed += cmocka_run_group_tests_name("calls that may wait", tests, calls_may_wait, NULL);
    failed += cmocka_run_group_tests_name("threads", threads, NULL, NULL);
    return failed;
}
