/*
 * The nng transport's reply handling: the input is what a (hostile) server
 * answers, as raw bytes of a would-be hbeat.v1.Reply.
 *
 * Two ways in, both for every input:
 *  1. Directly: hbeat__nng_decode() for each call the client makes, then
 *     the check that call applies (codec.c), on the transport's arena
 *     allocator. The arena's result must agree with protobuf-c's own
 *     allocator, a success must hand out only valid values, and an error
 *     must carry a message with no control bytes (a server must not be able
 *     to forge log lines).
 *  2. Through a real gateway (nng+inproc://, in this process: no network)
 *     whose peer answers every request with the input: the blocking calls,
 *     the asynchronous heartbeat and the paging of list_runs, as an
 *     application would make them. The peer also checks that each request
 *     the client sent decodes.
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "core/gateway_internal.h"
#include "fuzz_support.h"
#include "hbeat/hbeat.h"
#include "hbeat/sys/gateway.h"
#include "transports/nng/nng_internal.h"

#define URL      "nng+inproc://hbeat-fuzz-reply"
#define PEER_URL "inproc://hbeat-fuzz-reply"

static void check_message(const hbeat_error *err, int rc)
{
    FUZZ_CHECK(err->code == rc, "err.code %d, returned %d", err->code, rc);
    FUZZ_CHECK(err->message[0] != '\0', "error %d without a message", rc);
    for (const char *p = err->message; *p != '\0'; p++)
        FUZZ_CHECK((unsigned char)*p >= 0x20 && (unsigned char)*p != 0x7f,
                   "error message holds control byte 0x%02x: %s", (unsigned char)*p, err->message);
}

static void check_run(const hbeat_run_info *run)
{
    FUZZ_CHECK(run->workflow_run_id > 0, "a run with id %lld", (long long)run->workflow_run_id);
    FUZZ_CHECK(hbeat_status_is_valid(run->status), "a run with an invalid status");
    FUZZ_CHECK(isfinite(run->deadline) && run->deadline >= 0 && isfinite(run->last_heartbeat) &&
                   run->last_heartbeat >= 0,
               "a run with a deadline or last beat that is not a time");
}

/* ---- 1. the codec ---- */

static const HbeatPb__Reply__ResultCase calls[] = {
    HBEAT_PB__REPLY__RESULT_HEARTBEAT,  HBEAT_PB__REPLY__RESULT_UPDATE_STATUS,
    HBEAT_PB__REPLY__RESULT_CREATE_RUN, HBEAT_PB__REPLY__RESULT_GET_RUN,
    HBEAT_PB__REPLY__RESULT_LIST_RUNS,  HBEAT_PB__REPLY__RESULT_SET_STATUS,
};

/* Runs the check the gateway applies after decoding a reply to `expect`. */
static int check_payload(const HbeatPb__Reply *r, HbeatPb__Reply__ResultCase expect,
                         hbeat_error *err)
{
    hbeat_heartbeat_reply hb;
    hbeat_run_info run;
    int rc = 0;
    switch (expect) {
    case HBEAT_PB__REPLY__RESULT_HEARTBEAT:
        rc = hbeat__wire_check_heartbeat(r->heartbeat, 0, &hb, URL, err);
        if (rc == 0)
            FUZZ_CHECK(hbeat_status_is_valid(hb.status), "heartbeat status accepted but invalid");
        return rc;
    case HBEAT_PB__REPLY__RESULT_UPDATE_STATUS:
        rc = hbeat__wire_check_status(r->update_status->status, &hb, URL, err);
        if (rc == 0)
            FUZZ_CHECK(hbeat_status_is_valid(hb.status), "status accepted but invalid");
        return rc;
    case HBEAT_PB__REPLY__RESULT_CREATE_RUN:
        rc = hbeat__wire_check_run(r->create_run->run, 0, &run, URL, err);
        break;
    case HBEAT_PB__REPLY__RESULT_GET_RUN:
        rc = hbeat__wire_check_run(r->get_run->run, 6, &run, URL, err);
        if (rc == 0)
            FUZZ_CHECK(run.workflow_run_id == 6, "asked about run 6, accepted run %lld",
                       (long long)run.workflow_run_id);
        break;
    case HBEAT_PB__REPLY__RESULT_SET_STATUS:
        rc = hbeat__wire_check_run(r->set_status->run, 6, &run, URL, err);
        break;
    case HBEAT_PB__REPLY__RESULT_LIST_RUNS:
        for (size_t i = 0; rc == 0 && i < r->list_runs->n_runs; i++) {
            FUZZ_CHECK(r->list_runs->runs[i] != NULL, "a NULL run in a page");
            rc = hbeat__wire_check_run(r->list_runs->runs[i], 0, &run, URL, err);
            if (rc == 0)
                check_run(&run);
        }
        return rc;
    default:
        FUZZ_CHECK(0, "no check for case %d", (int)expect);
    }
    if (rc == 0)
        check_run(&run);
    return rc;
}

static void fuzz_codec(const uint8_t *data, size_t size)
{
    /* protobuf-c's own allocator, for comparison. */
    HbeatPb__Reply *plain = hbeat_pb__reply__unpack(NULL, size, data);
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        hbeat__wire_arena arena;
        hbeat__wire_arena_init(&arena);
        hbeat_error err = HBEAT_ERROR_INIT;
        HbeatPb__Reply *r = NULL;
        int rc = hbeat__nng_decode(&r, data, size, calls[i], &arena, URL, &err);
        if (rc != 0) {
            check_message(&err, rc);
            FUZZ_CHECK(arena.used == 0, "a failed decode left %zu arena bytes", arena.used);
            /* The server's own error keeps its code; anything else is a
               protocol error. */
            if (plain != NULL && plain->result_case == HBEAT_PB__REPLY__RESULT_ERROR &&
                plain->error != NULL)
                FUZZ_CHECK(rc == hbeat__nng_code_from_wire((int)plain->error->code) &&
                               err.native == (int)plain->error->code,
                           "server error %d became %d (native %d)", (int)plain->error->code, rc,
                           err.native);
            else
                FUZZ_CHECK(rc == HBEAT_EPROTO, "a reply that is no answer gave %d, not EPROTO", rc);
            if (plain != NULL && plain->result_case == calls[i])
                FUZZ_CHECK(plain->heartbeat == NULL, "the arena refused what protobuf-c decodes");
            continue;
        }
        FUZZ_CHECK(plain != NULL, "the arena decoded what protobuf-c refuses");
        FUZZ_CHECK(r->result_case == calls[i] && r->heartbeat != NULL,
                   "decode for case %d returned case %d", (int)calls[i], (int)r->result_case);
        /* Same message from both allocators: compare the re-encodings. */
        size_t n1 = hbeat_pb__reply__get_packed_size(r);
        size_t n2 = hbeat_pb__reply__get_packed_size(plain);
        FUZZ_CHECK(n1 == n2, "arena and heap decodes differ in size (%zu, %zu)", n1, n2);
        uint8_t *b1 = malloc(n1 + 1), *b2 = malloc(n2 + 1);
        FUZZ_CHECK(b1 != NULL && b2 != NULL, "out of memory");
        hbeat_pb__reply__pack(r, b1);
        hbeat_pb__reply__pack(plain, b2);
        FUZZ_CHECK(memcmp(b1, b2, n1) == 0, "arena and heap decodes differ");
        free(b1);
        free(b2);

        err = (hbeat_error)HBEAT_ERROR_INIT;
        rc = check_payload(r, calls[i], &err);
        if (rc != 0) {
            FUZZ_CHECK(rc == HBEAT_EPROTO, "a bad payload gave %d, not HBEAT_EPROTO", rc);
            check_message(&err, rc);
        }
        hbeat__nng_reply_free(r, &arena);
        FUZZ_CHECK(arena.used == 0, "the arena was not reset");
    }
    if (plain != NULL)
        hbeat_pb__reply__free_unpacked(plain, NULL);
}

/* ---- 2. a gateway and an in-process peer ---- */

static nng_socket peer;
static pthread_mutex_t peer_mu = PTHREAD_MUTEX_INITIALIZER;
static const uint8_t *peer_reply;
static size_t peer_reply_len;
static hbeat_gateway *gw;

static void *peer_main(void *arg)
{
    (void)arg;
    for (;;) {
        nng_msg *msg;
        if (nng_recvmsg(peer, &msg, 0) != 0)
            return NULL;
        HbeatPb__Request *req =
            hbeat_pb__request__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
        FUZZ_CHECK(req != NULL && req->call_case != HBEAT_PB__REQUEST__CALL__NOT_SET,
                   "the client sent %zu bytes that are not a hbeat.v1.Request", nng_msg_len(msg));
        hbeat_pb__request__free_unpacked(req, NULL);
        nng_msg_clear(msg);
        pthread_mutex_lock(&peer_mu);
        int rv = nng_msg_append(msg, peer_reply, peer_reply_len);
        pthread_mutex_unlock(&peer_mu);
        FUZZ_CHECK(rv == 0, "nng_msg_append: %s", nng_strerror(rv));
        if (nng_sendmsg(peer, msg, 0) != 0)
            nng_msg_free(msg);
    }
}

static void setup_gateway(void)
{
    int rv = nng_rep0_open(&peer);
    if (rv == 0)
        rv = nng_listen(peer, PEER_URL, NULL, 0);
    FUZZ_CHECK(rv == 0, "peer: %s", nng_strerror(rv));
    pthread_t t;
    FUZZ_CHECK(pthread_create(&t, NULL, peer_main, NULL) == 0, "peer thread");
    pthread_detach(t);
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    /* The peer always answers at once; a call that waits this long has
       lost its reply. */
    o.request_timeout = 10.0;
    hbeat_error err = HBEAT_ERROR_INIT;
    FUZZ_CHECK(hbeat_gateway_open(&gw, URL, &o, &err) == 0, "gateway: %s", err.message);
}

typedef struct async_done {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, rc;
    hbeat_heartbeat_reply reply;
    hbeat_error err;
} async_done;

static void on_done(void *arg, int rc, const hbeat_heartbeat_reply *reply, const hbeat_error *err)
{
    async_done *d = arg;
    pthread_mutex_lock(&d->mu);
    d->rc = rc;
    if (rc == 0)
        d->reply = *reply;
    else if (err != NULL)
        d->err = *err;
    d->done = 1;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

/* A call failed the way a bad reply may make it fail, or succeeded. */
static void check_outcome(int rc, const hbeat_error *err, const char *what)
{
    if (rc == 0)
        return;
    /* The peer answers every request at once, and nothing closes the
       gateway: a bad reply is a protocol or server error, never a wait. */
    FUZZ_CHECK(rc != HBEAT_ETIMEDOUT && rc != HBEAT_ECANCELED, "%s failed with %d (%s): %s", what,
               rc, hbeat_strerror(rc), err->message);
    check_message(err, rc);
}

static void fuzz_gateway(const uint8_t *data, size_t size)
{
    pthread_mutex_lock(&peer_mu);
    peer_reply = data;
    peer_reply_len = size;
    pthread_mutex_unlock(&peer_mu);

    char status[HBEAT_STATUS_MAX + 1];
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_gateway_log_heartbeat(gw, 6, "R", 45.0, status, &err);
    check_outcome(rc, &err, "log_heartbeat");
    if (rc == 0)
        FUZZ_CHECK(hbeat_status_is_valid(status), "log_heartbeat returned an invalid status");

    err = (hbeat_error)HBEAT_ERROR_INIT;
    rc = hbeat_gateway_update_status(gw, 6, "D", status, &err);
    check_outcome(rc, &err, "update_status");

    hbeat_run_info run;
    err = (hbeat_error)HBEAT_ERROR_INIT;
    rc = hbeat_run_create(gw, 7, NULL, &run, &err);
    check_outcome(rc, &err, "run_create");
    if (rc == 0) {
        check_run(&run);
        FUZZ_CHECK(run.workflow_id == 7, "created a run of workflow %lld, not 7",
                   (long long)run.workflow_id);
    }

    err = (hbeat_error)HBEAT_ERROR_INIT;
    rc = hbeat_run_get(gw, 6, &run, &err);
    check_outcome(rc, &err, "run_get");
    if (rc == 0)
        FUZZ_CHECK(run.workflow_run_id == 6, "asked for run 6, got %lld",
                   (long long)run.workflow_run_id);

    err = (hbeat_error)HBEAT_ERROR_INIT;
    rc = hbeat_run_set_status(gw, 6, "C", 1, &run, &err);
    check_outcome(rc, &err, "run_set_status");

    for (int f = 0; f < 2; f++) {
        hbeat_run_info *runs = NULL;
        size_t count = 0;
        err = (hbeat_error)HBEAT_ERROR_INIT;
        rc = hbeat_run_list(gw, f ? "R" : NULL, &runs, &count, &err);
        check_outcome(rc, &err, "run_list");
        for (size_t i = 0; rc == 0 && i < count; i++) {
            check_run(&runs[i]);
            FUZZ_CHECK(i == 0 || runs[i].workflow_run_id > runs[i - 1].workflow_run_id,
                       "listed ids do not ascend");
            FUZZ_CHECK(!f || strcmp(runs[i].status, "R") == 0, "asked for R, got %s",
                       runs[i].status);
        }
        hbeat_run_list_free(runs);
    }

    /* The asynchronous beat decodes on nng's thread (exchange.c). */
    async_done d = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, {{0}}, {0}};
    hbeat_heartbeat_request req = {6, "R", 45.0, 0};
    err = (hbeat_error)HBEAT_ERROR_INIT;
    rc = hbeat__gateway_vtable(gw)->log_heartbeat_async(hbeat_gateway_self(gw), &req, on_done, &d,
                                                        &err);
    FUZZ_CHECK(rc == 0, "log_heartbeat_async refused: %s", err.message);
    pthread_mutex_lock(&d.mu);
    while (!d.done)
        pthread_cond_wait(&d.cv, &d.mu);
    pthread_mutex_unlock(&d.mu);
    check_outcome(d.rc, &d.err, "log_heartbeat_async");
    if (d.rc == 0)
        FUZZ_CHECK(hbeat_status_is_valid(d.reply.status), "async beat: invalid status");
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet_logs();
    setup_gateway();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_codec(data, size);
    fuzz_gateway(data, size);
    return 0;
}
