/*
 * hbeatd's gRPC front end in this process, over a real engine on a
 * temporary store whose writes a test VFS can hold or fail
 * (tests/support/fault_vfs.h), driven by a bare gRPC core client: what
 * only the inside can arrange.
 *
 *   - health: SERVING, then NOT_SERVING once the store has failed, and a
 *     call whose commit failed ends INTERNAL;
 *   - the limit on calls in flight: with one call waiting for its commit,
 *     the next ends UNAVAILABLE at once, and the first is answered once
 *     the commit goes through;
 *   - a WatchRuns client that does not read while thousands of changes
 *     commit (more than HTTP/2's window holds, then more than 1024
 *     waiting): its stream ends RESOURCE_EXHAUSTED.
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "engine.h"
#include "front_grpc.h"
#include "grpc/health/v1/health.pb-c.h"
#include "hbeat/v1/hbeat.pb-c.h"
#include "log.h"
#include "store.h"
#include "support/fault_vfs.h"
#include "support/tgrpc.h"

static hbd_engine *engine;
static hbd_grpc *front;
static grpc_channel *channel;
static char db[64];

static int64_t create_run(void)
{
    HbeatPb__CreateRunRequest req = HBEAT_PB__CREATE_RUN_REQUEST__INIT;
    req.workflow_id = 5;
    req.status = "R";
    ProtobufCMessage *rep = NULL;
    assert_int_equal(tgrpc_unary(channel, "/hbeat.v1.HeartbeatService/CreateRun", &req.base,
                                 &hbeat_pb__create_run_reply__descriptor, &rep),
                     GRPC_STATUS_OK);
    int64_t id = ((HbeatPb__CreateRunReply *)rep)->run->workflow_run_id;
    protobuf_c_message_free_unpacked(rep, NULL);
    return id;
}

static grpc_status_code beat(int64_t run)
{
    HbeatPb__HeartbeatRequest req = HBEAT_PB__HEARTBEAT_REQUEST__INIT;
    req.workflow_run_id = run;
    req.status = "R";
    req.next_report_increment = 30;
    return tgrpc_unary(channel, "/hbeat.v1.HeartbeatService/LogHeartbeat", &req.base,
                       &hbeat_pb__heartbeat_reply__descriptor, NULL);
}

static int setup(void **state)
{
    (void)state;
    snprintf(db, sizeof db, "/tmp/hbd-grpc-front-%ld.db", (long)getpid());
    hbd_engine_options o;
    memset(&o, 0, sizeof o);
    o.db_path = db;
    o.reap_interval = 0;
    /* Every commit on the writer thread: a held commit holds no caller. */
    o.sync = HBD_SYNC_FULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbd_engine_open(&engine, &o, &err) != 0) {
        fprintf(stderr, "engine: %s\n", err.message);
        return -1;
    }
    hbd_grpc_options go = {"127.0.0.1", 0, 0, 1};
    if (hbd_grpc_start(&front, engine, &go, NULL, &err) != 0) {
        fprintf(stderr, "grpc: %s\n", err.message);
        return -1;
    }
    grpc_init();
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    channel = grpc_channel_create(hbd_grpc_url(front) + strlen("grpc://"), creds, NULL);
    grpc_channel_credentials_release(creds);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fault_vfs_set(FAULT_NONE);
    grpc_channel_destroy(channel);
    hbd_grpc_stop(front);
    hbd_engine_close(engine);
    grpc_shutdown();
    unlink(db);
    char wal[80];
    snprintf(wal, sizeof wal, "%s-wal", db);
    unlink(wal);
    snprintf(wal, sizeof wal, "%s-shm", db);
    unlink(wal);
    return 0;
}

typedef struct held_call {
    int64_t run;
    grpc_status_code status;
} held_call;

static void *beat_thread(void *arg)
{
    held_call *h = arg;
    h->status = beat(h->run);
    return NULL;
}

static void test_calls_in_flight_are_limited(void **state)
{
    (void)state;
    int64_t run = create_run();
    int held_before = fault_vfs_held();
    fault_vfs_set(FAULT_HOLD);
    held_call h = {run, GRPC_STATUS_UNKNOWN};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, beat_thread, &h), 0);
    while (fault_vfs_held() == held_before)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    /* One call is in flight (--grpc-max-calls 1): the next is refused. */
    assert_int_equal(beat(run), GRPC_STATUS_UNAVAILABLE);
    fault_vfs_set(FAULT_NONE);
    pthread_join(t, NULL);
    assert_int_equal(h.status, GRPC_STATUS_OK);
    /* And once it is answered, calls go through again: a client that
       calls again as soon as it has its answer is never refused for the
       call it just got back. */
    for (int i = 0; i < 200; i++)
        assert_int_equal(beat(run), GRPC_STATUS_OK);
}

static void test_health_follows_the_store(void **state)
{
    (void)state;
    assert_int_equal(tgrpc_health(hbd_grpc_url(front)),
                     GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
    int64_t run = create_run();
    fault_vfs_set(FAULT_FAIL);
    assert_int_equal(beat(run), GRPC_STATUS_INTERNAL);
    assert_int_equal(tgrpc_health(hbd_grpc_url(front)),
                     GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING);
}

/* Starts a batch and waits for it. */
static void run_batch(grpc_call *call, grpc_completion_queue *cq, grpc_op *ops, size_t n)
{
    assert_int_equal(grpc_call_start_batch(call, ops, n, (void *)2, NULL), GRPC_CALL_OK);
    grpc_event ev = grpc_completion_queue_pluck(
        cq, (void *)2,
        gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_seconds(60, GPR_TIMESPAN)), NULL);
    assert_int_equal(ev.type, GRPC_OP_COMPLETE);
}

static void test_a_watcher_that_does_not_read_is_ended(void **state)
{
    (void)state;
    int64_t run = create_run();
    /* A channel whose window does not grow: what the client does not read
       soon holds the server's sends back. */
    grpc_arg args[] = {
        {GRPC_ARG_INTEGER, GRPC_ARG_HTTP2_BDP_PROBE, {.integer = 0}},
        {GRPC_ARG_INTEGER, GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, {.integer = 1024}}};
    grpc_channel_args ch = {2, args};
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    grpc_channel *slow = grpc_channel_create(hbd_grpc_url(front) + strlen("grpc://"), creds, &ch);
    grpc_channel_credentials_release(creds);
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_call *call = grpc_channel_create_call(
        slow, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
        grpc_slice_from_static_string("/hbeat.v1.HeartbeatService/WatchRuns"), NULL,
        gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_seconds(120, GPR_TIMESPAN)), NULL);
    HbeatPb__WatchRunsRequest req = HBEAT_PB__WATCH_RUNS_REQUEST__INIT;
    req.n_workflow_run_ids = 1;
    req.workflow_run_ids = &run;
    grpc_byte_buffer *send = tgrpc_packed(&req.base);
    grpc_metadata_array initial, trailing;
    grpc_metadata_array_init(&initial);
    grpc_metadata_array_init(&trailing);
    grpc_op ops[4];
    tgrpc_opening_ops(ops, send, &initial);
    run_batch(call, cq, ops, 4);

    /* Changes commit while the client reads nothing. */
    for (int i = 0; i < 20000; i++) {
        hbd_run r;
        uint64_t ticket;
        assert_int_equal(
            hbd_engine_set_status_begin(engine, run, i % 2 ? "C" : "H", 1, &r, &ticket, NULL), 0);
    }
    /* Now read: some changes, then the end. */
    int messages = 0;
    for (;;) {
        grpc_byte_buffer *msg = NULL;
        memset(ops, 0, sizeof ops);
        ops[0].op = GRPC_OP_RECV_MESSAGE;
        ops[0].data.recv_message.recv_message = &msg;
        run_batch(call, cq, ops, 1);
        if (msg == NULL)
            break;
        grpc_byte_buffer_destroy(msg);
        messages++;
    }
    grpc_status_code status;
    grpc_slice details;
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[0].data.recv_status_on_client.trailing_metadata = &trailing;
    ops[0].data.recv_status_on_client.status = &status;
    ops[0].data.recv_status_on_client.status_details = &details;
    run_batch(call, cq, ops, 1);
    print_message("  %d messages, then status %d\n", messages, (int)status);
    assert_int_equal(status, GRPC_STATUS_RESOURCE_EXHAUSTED);
    assert_true(messages < 20000);
    grpc_slice_unref(details);
    grpc_byte_buffer_destroy(send);
    grpc_metadata_array_destroy(&initial);
    grpc_metadata_array_destroy(&trailing);
    grpc_call_unref(call);
    grpc_completion_queue_shutdown(cq);
    grpc_completion_queue_destroy(cq);
    grpc_channel_destroy(slow);
}

int main(void)
{
    hbd_log_set_level(HBEAT_LOG_ERROR + 1);
    if (fault_vfs_install() != 0) {
        fprintf(stderr, "cannot install the test VFS\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_calls_in_flight_are_limited, setup, teardown),
        cmocka_unit_test_setup_teardown(test_health_follows_the_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_watcher_that_does_not_read_is_ended, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
