/*
 * The nng codec on plain buffers: every request gets a Reply that decodes,
 * including for random bytes; the error codes are the agreed ones.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine.h"
#include "hbeat/v1/hbeat.pb-c.h"
#include "log.h"
#include "nng_codec.h"

#define MAX 1024

static hbd_engine *e;
static hbd_codec_outcome last_outcome;
static uint8_t out[1 << 16];
static size_t out_len;

static uint8_t *reserve(void *arg, size_t len)
{
    if (len > sizeof out)
        return NULL;
    out_len = len;
    return out;
}

static int setup(void **state)
{
    hbd_log_set_level(HBEAT_LOG_ERROR);
    hbd_engine_options o;
    memset(&o, 0, sizeof o);
    o.db_path = ":memory:";
    o.reap_grace = 0;
    return hbd_engine_open(&e, &o, NULL);
}

static int teardown(void **state)
{
    hbd_engine_close(e);
    return 0;
}

/* Serves `buf`; returns the decoded reply (free it). */
static HbeatPb__Reply *serve(const void *buf, size_t len)
{
    uint64_t ticket;
    assert_int_equal(hbd_codec_serve(e, NULL, buf, len, MAX, reserve, NULL, &ticket, &last_outcome),
                     0);
    HbeatPb__Reply *r = hbeat_pb__reply__unpack(NULL, out_len, out);
    assert_non_null(r);
    return r;
}

static HbeatPb__Reply *call(const HbeatPb__Request *req)
{
    uint8_t buf[4096];
    size_t len = hbeat_pb__request__pack(req, buf);
    return serve(buf, len);
}

static void expect_error(HbeatPb__Reply *r, HbeatPb__ErrorCode code)
{
    assert_int_equal(r->result_case, HBEAT_PB__REPLY__RESULT_ERROR);
    assert_int_equal(r->error->code, code);
    assert_true(strlen(r->error->message) > 0);
    hbeat_pb__reply__free_unpacked(r, NULL);
}

static void test_roundtrip(void **state)
{
    HbeatPb__Request req = HBEAT_PB__REQUEST__INIT;
    HbeatPb__CreateRunRequest cr = HBEAT_PB__CREATE_RUN_REQUEST__INIT;
    cr.workflow_id = 4;
    req.call_case = HBEAT_PB__REQUEST__CALL_CREATE_RUN;
    req.create_run = &cr;
    HbeatPb__Reply *r = call(&req);
    assert_int_equal(r->result_case, HBEAT_PB__REPLY__RESULT_CREATE_RUN);
    int64_t id = r->create_run->run->workflow_run_id;
    assert_string_equal(r->create_run->run->status, "G");
    hbeat_pb__reply__free_unpacked(r, NULL);

    HbeatPb__HeartbeatRequest hb = HBEAT_PB__HEARTBEAT_REQUEST__INIT;
    hb.workflow_run_id = id;
    hb.status = "L";
    hb.next_report_increment = 45;
    hb.sequence = 123456789012ULL;
    req.call_case = HBEAT_PB__REQUEST__CALL_HEARTBEAT;
    req.heartbeat = &hb;
    r = call(&req);
    assert_int_equal(r->result_case, HBEAT_PB__REPLY__RESULT_HEARTBEAT);
    assert_string_equal(r->heartbeat->status, "L");
    assert_int_equal(r->heartbeat->sequence, 123456789012ULL);
    assert_true(r->heartbeat->deadline > 0);
    hbeat_pb__reply__free_unpacked(r, NULL);

    HbeatPb__ListRunsRequest lr = HBEAT_PB__LIST_RUNS_REQUEST__INIT;
    req.call_case = HBEAT_PB__REQUEST__CALL_LIST_RUNS;
    req.list_runs = &lr;
    r = call(&req);
    assert_int_equal(r->result_case, HBEAT_PB__REPLY__RESULT_LIST_RUNS);
    assert_int_equal(r->list_runs->n_runs, 1);
    assert_int_equal(r->list_runs->runs[0]->beats, 1);
    assert_int_equal(r->list_runs->next_after_id, 0);
    hbeat_pb__reply__free_unpacked(r, NULL);
}

/* CreateRun's next_report_increment: present (0 included) sets the first
   deadline, absent (an older client) leaves none, a bad one is refused. */
static void test_create_run_first_deadline(void **state)
{
    HbeatPb__Request req = HBEAT_PB__REQUEST__INIT;
    HbeatPb__CreateRunRequest cr = HBEAT_PB__CREATE_RUN_REQUEST__INIT;
    cr.workflow_id = 4;
    cr.status = "L";
    req.call_case = HBEAT_PB__REQUEST__CALL_CREATE_RUN;
    req.create_run = &cr;

    HbeatPb__Reply *r = call(&req);
    assert_int_equal(r->result_case, HBEAT_PB__REPLY__RESULT_CREATE_RUN);
    assert_true(r->create_run->run->deadline == 0);
    hbeat_pb__reply__free_unpacked(r, NULL);

    cr.first_deadline_case = HBEAT_PB__CREATE_RUN_REQUEST__FIRST_DEADLINE_NEXT_REPORT_INCREMENT;
    cr.next_report_increment = 93.0;
    r = call(&req);
    assert_int_equal(r->result_case, HBEAT_PB__REPLY__RESULT_CREATE_RUN);
    double d93 = r->create_run->run->deadline;
    assert_true(d93 > 1.6e9);
    assert_true(r->create_run->run->last_heartbeat == 0);
    assert_int_equal(r->create_run->run->beats, 0);
    hbeat_pb__reply__free_unpacked(r, NULL);

    cr.next_report_increment = 0;
    r = call(&req);
    assert_int_equal(r->result_case, HBEAT_PB__REPLY__RESULT_CREATE_RUN);
    assert_true(r->create_run->run->deadline > 1.6e9 && r->create_run->run->deadline < d93);
    hbeat_pb__reply__free_unpacked(r, NULL);

    const double bad[] = {-1, NAN, INFINITY, 1e9};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr.next_report_increment = bad[i];
        r = call(&req);
        assert_int_equal(r->result_case, HBEAT_PB__REPLY__RESULT_ERROR);
        assert_non_null(strstr(r->error->message, "next_report_increment"));
        expect_error(r, HBEAT_PB__ERROR_CODE__ERROR_CODE_INVALID_ARGUMENT);
    }
}

static void test_errors(void **state)
{
    const uint8_t junk[] = {0xff, 0xff, 0xff};
    expect_error(serve(junk, sizeof junk), HBEAT_PB__ERROR_CODE__ERROR_CODE_INVALID_ARGUMENT);
    expect_error(serve("", 0), HBEAT_PB__ERROR_CODE__ERROR_CODE_INVALID_ARGUMENT);
    const uint8_t future[] = {0x9a, 0x06, 0x00};
    expect_error(serve(future, sizeof future), HBEAT_PB__ERROR_CODE__ERROR_CODE_UNIMPLEMENTED);
    uint8_t big[MAX + 1];
    memset(big, 0, sizeof big);
    expect_error(serve(big, sizeof big), HBEAT_PB__ERROR_CODE__ERROR_CODE_TOO_LARGE);

    HbeatPb__Request req = HBEAT_PB__REQUEST__INIT;
    HbeatPb__GetRunRequest gr = HBEAT_PB__GET_RUN_REQUEST__INIT;
    gr.workflow_run_id = 424242;
    req.call_case = HBEAT_PB__REQUEST__CALL_GET_RUN;
    req.get_run = &gr;
    expect_error(call(&req), HBEAT_PB__ERROR_CODE__ERROR_CODE_NOT_FOUND);
}

static void test_error_mapping(void **state)
{
    const struct {
        int code;
        HbeatPb__ErrorCode wire;
    } map[] = {
        {HBEAT_EINVAL, HBEAT_PB__ERROR_CODE__ERROR_CODE_INVALID_ARGUMENT},
        {HBEAT_ENOTFOUND, HBEAT_PB__ERROR_CODE__ERROR_CODE_NOT_FOUND},
        {HBEAT_EAUTH, HBEAT_PB__ERROR_CODE__ERROR_CODE_UNAUTHENTICATED},
        {HBEAT_EFORBIDDEN, HBEAT_PB__ERROR_CODE__ERROR_CODE_PERMISSION_DENIED},
        {HBEAT_ETOOBIG, HBEAT_PB__ERROR_CODE__ERROR_CODE_TOO_LARGE},
        {HBEAT_ESYSTEM, HBEAT_PB__ERROR_CODE__ERROR_CODE_INTERNAL},
        {HBEAT_ENOTSUP, HBEAT_PB__ERROR_CODE__ERROR_CODE_UNIMPLEMENTED},
        {HBEAT_ECANCELED, HBEAT_PB__ERROR_CODE__ERROR_CODE_UNAVAILABLE},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        assert_int_equal(hbd_codec_error(map[i].code, "x", reserve, NULL), 0);
        expect_error(hbeat_pb__reply__unpack(NULL, out_len, out), map[i].wire);
    }
}

static void test_random_bytes(void **state)
{
    /* A fixed-seed stream of random messages: each is answered, none
       crashes. (The fuzzers go further.) */
    uint32_t x = 12345;
    uint8_t buf[64];
    for (int i = 0; i < 20000; i++) {
        size_t len = (size_t)(i % 64);
        for (size_t k = 0; k < len; k++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            buf[k] = (uint8_t)x;
        }
        hbeat_pb__reply__free_unpacked(serve(buf, len), NULL);
    }
}

/* The outcome the codec reports for the metrics: the call served, and a
   result that agrees with the reply's error code. */
static void expect_outcome(hbd_route route, hbd_result result)
{
    assert_int_equal(last_outcome.route, route);
    assert_int_equal(last_outcome.result, result);
}

static void test_outcome(void **state)
{
    (void)state;
    HbeatPb__Request req = HBEAT_PB__REQUEST__INIT;
    HbeatPb__CreateRunRequest cr = HBEAT_PB__CREATE_RUN_REQUEST__INIT;
    cr.workflow_id = 4;
    req.call_case = HBEAT_PB__REQUEST__CALL_CREATE_RUN;
    req.create_run = &cr;
    HbeatPb__Reply *r = call(&req);
    int64_t id = r->create_run->run->workflow_run_id;
    hbeat_pb__reply__free_unpacked(r, NULL);
    expect_outcome(HBD_CALL_CREATE_RUN, HBD_RESULT_OK);

    HbeatPb__HeartbeatRequest hb = HBEAT_PB__HEARTBEAT_REQUEST__INIT;
    hb.workflow_run_id = id;
    hb.status = "L";
    hb.next_report_increment = 45;
    req.call_case = HBEAT_PB__REQUEST__CALL_HEARTBEAT;
    req.heartbeat = &hb;
    hbeat_pb__reply__free_unpacked(call(&req), NULL);
    expect_outcome(HBD_CALL_HEARTBEAT, HBD_RESULT_OK);
    hb.next_report_increment = -1;
    hbeat_pb__reply__free_unpacked(call(&req), NULL);
    expect_outcome(HBD_CALL_HEARTBEAT, HBD_RESULT_BAD_REQUEST);

    HbeatPb__UpdateStatusRequest us = HBEAT_PB__UPDATE_STATUS_REQUEST__INIT;
    us.workflow_run_id = id;
    us.status = "B";
    req.call_case = HBEAT_PB__REQUEST__CALL_UPDATE_STATUS;
    req.update_status = &us;
    hbeat_pb__reply__free_unpacked(call(&req), NULL);
    expect_outcome(HBD_CALL_UPDATE_STATUS, HBD_RESULT_OK);

    HbeatPb__GetRunRequest gr = HBEAT_PB__GET_RUN_REQUEST__INIT;
    gr.workflow_run_id = 424242;
    req.call_case = HBEAT_PB__REQUEST__CALL_GET_RUN;
    req.get_run = &gr;
    hbeat_pb__reply__free_unpacked(call(&req), NULL);
    expect_outcome(HBD_CALL_GET_RUN, HBD_RESULT_NOT_FOUND);

    HbeatPb__ListRunsRequest lr = HBEAT_PB__LIST_RUNS_REQUEST__INIT;
    req.call_case = HBEAT_PB__REQUEST__CALL_LIST_RUNS;
    req.list_runs = &lr;
    hbeat_pb__reply__free_unpacked(call(&req), NULL);
    expect_outcome(HBD_CALL_LIST_RUNS, HBD_RESULT_OK);

    HbeatPb__SetStatusRequest ss = HBEAT_PB__SET_STATUS_REQUEST__INIT;
    ss.workflow_run_id = id;
    ss.status = "D";
    ss.force = 1;
    req.call_case = HBEAT_PB__REQUEST__CALL_SET_STATUS;
    req.set_status = &ss;
    hbeat_pb__reply__free_unpacked(call(&req), NULL);
    expect_outcome(HBD_CALL_SET_STATUS, HBD_RESULT_OK);

    /* Bytes that carry no call, a call this server does not know, and
       a request over the limit. */
    const uint8_t junk[] = {0xff, 0xff, 0xff};
    hbeat_pb__reply__free_unpacked(serve(junk, sizeof junk), NULL);
    expect_outcome(HBD_ROUTE_OTHER, HBD_RESULT_BAD_REQUEST);
    const uint8_t future[] = {0x9a, 0x06, 0x00};
    hbeat_pb__reply__free_unpacked(serve(future, sizeof future), NULL);
    expect_outcome(HBD_ROUTE_OTHER, HBD_RESULT_BAD_REQUEST);
    static uint8_t big[MAX + 1];
    hbeat_pb__reply__free_unpacked(serve(big, sizeof big), NULL);
    expect_outcome(HBD_ROUTE_OTHER, HBD_RESULT_TOO_LARGE);
}

static uint8_t *no_memory(void *arg, size_t len)
{
    return NULL;
}

static void test_reserve_failure(void **state)
{
    uint64_t ticket;
    assert_int_equal(
        hbd_codec_serve(e, NULL, (const uint8_t *)"", 0, MAX, no_memory, NULL, &ticket, NULL),
        HBEAT_ENOMEM);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),       cmocka_unit_test(test_errors),
        cmocka_unit_test(test_error_mapping),   cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_reserve_failure), cmocka_unit_test(test_create_run_first_deadline),
        cmocka_unit_test(test_outcome),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
