/*
 * What the nng and gRPC gateways share (src/transports/wire): the caller's
 * arguments refused with the transport's own name, request messages built
 * from the arguments, the run an admin reply carries checked against what
 * was asked, and the ListRuns loop driven over a scripted transport.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "transports/wire/wire.h"

#define URL "x://peer:1"

static void test_argument_checks_name_the_transport(void **state)
{
    (void)state;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat__wire_check_status_arg("no such", "the status", "gRPC", &err),
                     HBEAT_EINVAL);
    assert_string_equal(err.message, "gRPC: the status is not a valid status token");
    assert_int_equal(hbeat__wire_check_status_arg("R", "the status", "gRPC", &err), 0);

    assert_int_equal(hbeat__wire_check_beat(NULL, "nng", &err), HBEAT_EINVAL);
    assert_string_equal(err.message, "nng: heartbeat request is NULL");
    hbeat_heartbeat_request req = {0};
    req.workflow_run_id = 3;
    req.status = "R";
    req.next_report_increment = NAN;
    assert_int_equal(hbeat__wire_check_beat(&req, "nng", &err), HBEAT_EINVAL);
    assert_non_null(strstr(err.message, "nng: next_report_increment must be a finite number"));
    req.next_report_increment = -1.0;
    assert_int_equal(hbeat__wire_check_beat(&req, "gRPC", &err), HBEAT_EINVAL);
    req.next_report_increment = 0.0;
    assert_int_equal(hbeat__wire_check_beat(&req, "gRPC", &err), 0);
    req.status = "";
    assert_int_equal(hbeat__wire_check_beat(&req, "gRPC", &err), HBEAT_EINVAL);
    assert_string_equal(err.message, "gRPC: the heartbeat's status is not a valid status token");
}

static void test_messages_carry_the_arguments(void **state)
{
    (void)state;
    hbeat_error err = HBEAT_ERROR_INIT;
    hbeat_heartbeat_request req = {0};
    req.workflow_run_id = 7;
    req.status = "R";
    req.next_report_increment = 93.0;
    req.sequence = 42;
    HbeatPb__HeartbeatRequest hb;
    hbeat__wire_beat_message(&hb, &req);
    assert_int_equal(hb.workflow_run_id, 7);
    assert_string_equal(hb.status, "R");
    assert_true(hb.next_report_increment == 93.0);
    assert_int_equal(hb.sequence, 42);

    HbeatPb__UpdateStatusRequest us;
    hbeat__wire_update_status_message(&us, 8, "D");
    assert_int_equal(us.workflow_run_id, 8);
    assert_string_equal(us.status, "D");

    HbeatPb__CreateRunRequest cr;
    double inc = 12.5;
    assert_int_equal(hbeat__wire_create_run_message(&cr, 5, "G", &inc, "nng", &err), 0);
    assert_int_equal(cr.workflow_id, 5);
    assert_string_equal(cr.status, "G");
    assert_int_equal(cr.first_deadline_case,
                     HBEAT_PB__CREATE_RUN_REQUEST__FIRST_DEADLINE_NEXT_REPORT_INCREMENT);
    assert_true(cr.next_report_increment == 12.5);
    /* No status and no deadline: both fields absent, as an older client
       sends them. */
    assert_int_equal(hbeat__wire_create_run_message(&cr, 5, NULL, NULL, "nng", &err), 0);
    assert_true(cr.status == NULL || cr.status[0] == '\0');
    assert_int_equal(cr.first_deadline_case, HBEAT_PB__CREATE_RUN_REQUEST__FIRST_DEADLINE__NOT_SET);
    assert_int_equal(hbeat__wire_create_run_message(&cr, 5, "bad status", NULL, "nng", &err),
                     HBEAT_EINVAL);
    assert_string_equal(err.message, "nng: the new run's status is not a valid status token");

    HbeatPb__GetRunRequest gr;
    hbeat__wire_get_run_message(&gr, 9);
    assert_int_equal(gr.workflow_run_id, 9);

    HbeatPb__SetStatusRequest ss;
    assert_int_equal(hbeat__wire_set_status_message(&ss, 10, "H", 2, "gRPC", &err), 0);
    assert_int_equal(ss.workflow_run_id, 10);
    assert_string_equal(ss.status, "H");
    assert_true(ss.force == 1);
    assert_int_equal(hbeat__wire_set_status_message(&ss, 10, NULL, 0, "gRPC", &err), HBEAT_EINVAL);
    assert_string_equal(err.message, "gRPC: the status is not a valid status token");
}

static void test_a_run_reply_must_be_what_was_asked_for(void **state)
{
    (void)state;
    hbeat_error err = HBEAT_ERROR_INIT;
    HbeatPb__RunInfo run = HBEAT_PB__RUN_INFO__INIT;
    run.workflow_run_id = 4;
    run.workflow_id = 2;
    run.status = "G";
    hbeat_run_info out;
    assert_int_equal(hbeat__wire_check_run_reply(&run, 4, 2, &out, URL, &err), 0);
    assert_int_equal(out.workflow_run_id, 4);
    assert_int_equal(out.workflow_id, 2);
    assert_string_equal(out.status, "G");
    assert_int_equal(hbeat__wire_check_run_reply(&run, 0, 0, &out, URL, &err), 0);
    assert_int_equal(hbeat__wire_check_run_reply(&run, 0, 3, &out, URL, &err), HBEAT_EPROTO);
    assert_string_equal(err.message, URL ": asked for a run of workflow 3, got one of workflow 2");
    assert_int_equal(hbeat__wire_check_run_reply(&run, 5, 0, &out, URL, &err), HBEAT_EPROTO);
    assert_int_equal(hbeat__wire_check_run_reply(NULL, 0, 3, &out, URL, &err), HBEAT_EPROTO);
    assert_string_equal(err.message, URL ": the reply has no run");
}

/* ---- ListRuns over a scripted transport ---- */

typedef struct script {
    hbeat__wire_gateway wire; /* first, as in a transport's gateway */
    int pages;                /* pages served so far */
    int64_t asked[8];         /* after_id of each call */
    int fail_at;              /* call number that fails (1-based), 0: none */
    int64_t seen[16];         /* runs the sink got */
    int nseen;
    int stop_after; /* the sink stops after this many runs, 0: never */
} script;

/* Three pages: runs 1-2, 3-4, 5, each reply unpacked into the arena as a
   transport's would be. */
static int fetch(void *self, HbeatPb__Request__CallCase c, const ProtobufCMessage *msg,
                 hbeat__wire_arena *arena, ProtobufCMessage **reply, const ProtobufCMessage **page,
                 hbeat_error *err)
{
    script *s = self;
    assert_int_equal(c, HBEAT_PB__REQUEST__CALL_LIST_RUNS);
    const HbeatPb__ListRunsRequest *req = (const HbeatPb__ListRunsRequest *)msg;
    s->asked[s->pages++] = req->after_id;
    if (s->pages == s->fail_at) {
        return hbeat_error_set(err, HBEAT_ETRANSPORT, "scripted failure");
    }
    HbeatPb__RunInfo runs[2] = {HBEAT_PB__RUN_INFO__INIT, HBEAT_PB__RUN_INFO__INIT};
    HbeatPb__RunInfo *ptrs[2] = {&runs[0], &runs[1]};
    HbeatPb__ListRunsReply rep = HBEAT_PB__LIST_RUNS_REPLY__INIT;
    int64_t first = req->after_id + 1;
    rep.n_runs = first == 5 ? 1 : 2;
    for (size_t i = 0; i < rep.n_runs; i++) {
        runs[i].workflow_run_id = first + (int64_t)i;
        runs[i].workflow_id = 1;
        runs[i].status = "R";
    }
    rep.runs = ptrs;
    rep.next_after_id = first == 5 ? 0 : first + 1;
    uint8_t buf[256];
    size_t len = hbeat_pb__list_runs_reply__pack(&rep, buf);
    HbeatPb__ListRunsReply *got = hbeat_pb__list_runs_reply__unpack(&arena->allocator, len, buf);
    assert_non_null(got);
    *reply = &got->base;
    *page = &got->base;
    return 0;
}

static int sink(void *ctx, const hbeat_run_info *run)
{
    script *s = ctx;
    s->seen[s->nseen++] = run->workflow_run_id;
    return s->stop_after != 0 && s->nseen >= s->stop_after;
}

static int list(script *s, const char *who, const char *status, hbeat_run_sink_fn to,
                hbeat_error *err)
{
    s->wire = (hbeat__wire_gateway){fetch, who, URL};
    return hbeat__wire_list_runs(s, status, to, s, err);
}

static void test_list_runs_pages_through_the_transport(void **state)
{
    (void)state;
    hbeat_error err = HBEAT_ERROR_INIT;
    script s = {0};
    assert_int_equal(list(&s, "nng", "R", sink, &err), 0);
    assert_int_equal(s.pages, 3);
    assert_int_equal(s.asked[0], 0);
    assert_int_equal(s.asked[1], 2);
    assert_int_equal(s.asked[2], 4);
    assert_int_equal(s.nseen, 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(s.seen[i], i + 1);
    }

    script stop = {.stop_after = 3};
    assert_int_equal(list(&stop, "nng", NULL, sink, &err), 0);
    assert_int_equal(stop.pages, 2);
    assert_int_equal(stop.nseen, 3);

    script fail = {.fail_at = 2};
    assert_int_equal(list(&fail, "nng", NULL, sink, &err), HBEAT_ETRANSPORT);
    assert_int_equal(fail.nseen, 2);

    /* Runs in another status than the filter asked for are the server's
       fault. */
    script other = {0};
    assert_int_equal(list(&other, "nng", "D", sink, &err), HBEAT_EPROTO);
    assert_int_equal(other.nseen, 0);

    script none = {0};
    assert_int_equal(list(&none, "gRPC", NULL, NULL, &err), HBEAT_EINVAL);
    assert_string_equal(err.message, "gRPC: sink is NULL");
    assert_int_equal(list(&none, "gRPC", "no such", sink, &err), HBEAT_EINVAL);
    assert_string_equal(err.message, "gRPC: the status filter is not a valid status token");
    assert_int_equal(none.pages, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_argument_checks_name_the_transport),
        cmocka_unit_test(test_messages_carry_the_arguments),
        cmocka_unit_test(test_a_run_reply_must_be_what_was_asked_for),
        cmocka_unit_test(test_list_runs_pages_through_the_transport),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
