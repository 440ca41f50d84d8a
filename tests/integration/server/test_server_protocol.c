/*
 * hbeatd over nng, against the real binary: heartbeats, transitions,
 * update_status and the admin calls, over tcp and ipc.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "nng_client.h"
#include "support/hbeatd_harness.h"

static hbd_harness h;
static tc_client c;

static int group_setup(void **state)
{
    if (hbd_harness_start(&h, NULL) != 0)
        return -1;
    return tc_open(&c, h.nng_tcp_url, 10000);
}

static int group_teardown(void **state)
{
    tc_close(&c);
    int rc = hbd_harness_stop(&h);
    hbd_harness_cleanup(&h);
    return rc == 0 ? 0 : -1;
}

static void assert_same_run(const tc_run *a, const tc_run *b)
{
    assert_int_equal(a->id, b->id);
    assert_int_equal(a->workflow_id, b->workflow_id);
    assert_string_equal(a->status, b->status);
    assert_true(a->deadline == b->deadline);
    assert_true(a->last_heartbeat == b->last_heartbeat);
    assert_int_equal(a->beats, b->beats);
}

static int64_t new_run(const char *status)
{
    int64_t id = 0;
    assert_int_equal(tc_create(&c, 7, status, &id), 0);
    assert_true(id > 0);
    return id;
}

static void test_create_and_get(void **state)
{
    int64_t id = new_run(NULL);
    tc_run r;
    assert_int_equal(tc_get(&c, id, &r), 0);
    assert_int_equal(r.id, id);
    assert_int_equal(r.workflow_id, 7);
    assert_string_equal(r.status, "G");
    assert_true(r.deadline == 0 && r.last_heartbeat == 0);
    assert_int_equal(r.beats, 0);

    int64_t id2 = new_run("R");
    assert_true(id2 > id);
    assert_int_equal(tc_get(&c, id2, &r), 0);
    assert_string_equal(r.status, "R");
}

static void test_heartbeat_moves_deadline(void **state)
{
    int64_t id = new_run("G");
    char st[16];
    double deadline;
    double t0 = tc_now();
    assert_int_equal(tc_heartbeat(&c, id, "L", 30.0, 1, st, &deadline), 0);
    double t1 = tc_now();
    assert_string_equal(st, "L");
    assert_true(deadline >= t0 + 30.0 - 0.01 && deadline <= t1 + 30.0 + 0.01);

    tc_run r;
    assert_int_equal(tc_get(&c, id, &r), 0);
    assert_string_equal(r.status, "L");
    assert_true(r.deadline == deadline);
    assert_true(r.last_heartbeat >= t0 - 0.01 && r.last_heartbeat <= t1 + 0.01);
    assert_int_equal(r.beats, 1);

    /* L -> L is untimely: no change of status, but the deadline moves. */
    assert_int_equal(tc_heartbeat(&c, id, "L", 3600.0, 2, st, &deadline), 0);
    assert_string_equal(st, "L");
    assert_true(deadline > r.deadline + 3000);
    assert_int_equal(tc_get(&c, id, &r), 0);
    assert_int_equal(r.beats, 2);
    assert_true(r.deadline == deadline);

    /* Walk it to R and keep beating there (R -> R untimely). */
    const char *path[] = {"B", "I", "O", "R", "R"};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(tc_heartbeat(&c, id, path[i], 10.0, 3 + i, st, NULL), 0);
        assert_string_equal(st, path[i]);
    }
    assert_int_equal(tc_get(&c, id, &r), 0);
    assert_int_equal(r.beats, 7);
}

static void test_invalid_transition_changes_nothing(void **state)
{
    int64_t id = new_run("G");
    char st[16];
    assert_int_equal(tc_heartbeat(&c, id, "L", 30.0, 1, st, NULL), 0);
    tc_run before, after;
    assert_int_equal(tc_get(&c, id, &before), 0);

    /* L -> R skips B, I, O: refused, and the reply says L. */
    double deadline;
    assert_int_equal(tc_heartbeat(&c, id, "R", 999.0, 2, st, &deadline), 0);
    assert_string_equal(st, "L");
    assert_true(deadline == before.deadline);
    assert_int_equal(tc_update_status(&c, id, "D", st), 0);
    assert_string_equal(st, "L");
    /* G is never re-entered. */
    assert_int_equal(tc_heartbeat(&c, id, "G", 999.0, 3, st, NULL), 0);
    assert_string_equal(st, "L");

    assert_int_equal(tc_get(&c, id, &after), 0);
    assert_same_run(&before, &after);
}

static void test_update_status(void **state)
{
    int64_t id = new_run("G");
    char st[16];
    assert_int_equal(tc_heartbeat(&c, id, "L", 30.0, 1, st, NULL), 0);
    tc_run before, after;
    assert_int_equal(tc_get(&c, id, &before), 0);
    assert_int_equal(tc_update_status(&c, id, "B", st), 0);
    assert_string_equal(st, "B");
    assert_int_equal(tc_get(&c, id, &after), 0);
    assert_string_equal(after.status, "B");
    /* A status update is not a beat: deadline and count stay. */
    assert_true(after.deadline == before.deadline);
    assert_int_equal(after.beats, before.beats);
}

static void test_set_status(void **state)
{
    int64_t id = new_run("R");
    tc_run r;
    /* Through the state machine: R -> G is refused, and said so. */
    assert_int_equal(tc_set_status(&c, id, "G", 0, &r),
                     HBEAT_PB__ERROR_CODE__ERROR_CODE_INVALID_ARGUMENT);
    assert_int_equal(tc_get(&c, id, &r), 0);
    assert_string_equal(r.status, "R");
    assert_int_equal(tc_set_status(&c, id, "H", 0, &r), 0);
    assert_string_equal(r.status, "H");
    /* force skips the state machine. */
    assert_int_equal(tc_set_status(&c, id, "G", 1, &r), 0);
    assert_string_equal(r.status, "G");
    assert_int_equal(tc_get(&c, id, &r), 0);
    assert_string_equal(r.status, "G");
}

static void test_list_pages(void **state)
{
    /* Status S is used by no other test in this file. */
    int64_t ids[5];
    for (int i = 0; i < 5; i++)
        ids[i] = new_run("S");
    int64_t seen[16];
    size_t nseen = 0;
    int64_t after = 0;
    int pages = 0;
    do {
        HbeatPb__Request req = HBEAT_PB__REQUEST__INIT;
        HbeatPb__ListRunsRequest lr = HBEAT_PB__LIST_RUNS_REQUEST__INIT;
        lr.status = "S";
        lr.after_id = after;
        lr.limit = 2;
        req.call_case = HBEAT_PB__REQUEST__CALL_LIST_RUNS;
        req.list_runs = &lr;
        int rv;
        HbeatPb__Reply *reply = tc_call(&c, &req, &rv);
        assert_non_null(reply);
        assert_int_equal(reply->result_case, HBEAT_PB__REPLY__RESULT_LIST_RUNS);
        assert_true(reply->list_runs->n_runs <= 2);
        for (size_t i = 0; i < reply->list_runs->n_runs; i++) {
            assert_string_equal(reply->list_runs->runs[i]->status, "S");
            assert_true(reply->list_runs->runs[i]->workflow_run_id > after);
            assert_true(nseen < 16);
            seen[nseen++] = reply->list_runs->runs[i]->workflow_run_id;
        }
        after = reply->list_runs->next_after_id;
        tc_free(reply);
        pages++;
        assert_true(pages < 10);
    } while (after != 0);
    /* 5 runs, 2 a page: 3 pages, the last one short, in ascending order. */
    assert_int_equal(pages, 3);
    assert_int_equal(nseen, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(seen[i], ids[i]);
}

static void test_ipc(void **state)
{
    tc_client ipc;
    assert_int_equal(tc_open(&ipc, h.nng_ipc_url, 10000), 0);
    int64_t id;
    assert_int_equal(tc_create(&ipc, 9, "G", &id), 0);
    char st[16];
    assert_int_equal(tc_heartbeat(&ipc, id, "L", 5.0, 42, st, NULL), 0);
    assert_string_equal(st, "L");
    tc_run r;
    /* The same store behind both listeners. */
    assert_int_equal(tc_get(&c, id, &r), 0);
    assert_string_equal(r.status, "L");
    tc_close(&ipc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_and_get),
        cmocka_unit_test(test_heartbeat_moves_deadline),
        cmocka_unit_test(test_invalid_transition_changes_nothing),
        cmocka_unit_test(test_update_status),
        cmocka_unit_test(test_set_status),
        cmocka_unit_test(test_list_pages),
        cmocka_unit_test(test_ipc),
    };
    int failed = cmocka_run_group_tests(tests, group_setup, group_teardown);
    tc_fini();
    return failed;
}
