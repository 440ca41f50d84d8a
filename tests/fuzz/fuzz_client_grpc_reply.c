/*
 * The gRPC transport's reply handling: the input is what a (hostile)
 * server's call ended with. Its first byte picks the gRPC status (0: OK,
 * 1..17 a failure, larger numbers ones gRPC does not define); with OK the
 * rest is the reply message, otherwise the rest is the status text.
 *
 * For each method of HeartbeatService, hbeat__grpc_decode() (codec.c) and
 * then the payload check the gateway applies (transports/wire), on the
 * transport's arena: a success must hand out only valid values, a failure
 * must be the status's code, or HBEAT_EPROTO for a bad message, with a
 * message free of control bytes (a server must not forge log lines).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/grpc_codes.h"
#include "fuzz_support.h"
#include "hbeat/hbeat.h"
#include "transports/grpc/grpc_internal.h"

#define URL "grpcs://hbeat-fuzz:1"

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

static int sink(void *ctx, const hbeat_run_info *run)
{
    (void)ctx;
    check_run(run);
    return 0;
}

/* The check gateway.c applies to a decoded reply of method m. */
static int check_payload(hbeat__grpc_method m, const ProtobufCMessage *r, hbeat_error *err)
{
    hbeat_heartbeat_reply hb;
    hbeat_run_info run;
    int rc;
    switch (m) {
    case HBEAT__GRPC_LOG_HEARTBEAT:
        rc = hbeat__wire_check_heartbeat((const HbeatPb__HeartbeatReply *)r, 0, &hb, URL, err);
        FUZZ_CHECK(rc != 0 || hbeat_status_is_valid(hb.status), "invalid status accepted");
        return rc;
    case HBEAT__GRPC_UPDATE_STATUS:
        rc = hbeat__wire_check_status(((const HbeatPb__UpdateStatusReply *)r)->status, &hb, URL,
                                      err);
        FUZZ_CHECK(rc != 0 || hbeat_status_is_valid(hb.status), "invalid status accepted");
        return rc;
    case HBEAT__GRPC_CREATE_RUN:
        rc = hbeat__wire_check_run(((const HbeatPb__CreateRunReply *)r)->run, 0, &run, URL, err);
        break;
    case HBEAT__GRPC_GET_RUN:
        rc = hbeat__wire_check_run(((const HbeatPb__GetRunReply *)r)->run, 6, &run, URL, err);
        FUZZ_CHECK(rc != 0 || run.workflow_run_id == 6, "asked about run 6, accepted another");
        break;
    case HBEAT__GRPC_SET_STATUS:
        rc = hbeat__wire_check_run(((const HbeatPb__SetStatusReply *)r)->run, 6, &run, URL, err);
        break;
    case HBEAT__GRPC_WATCH_RUNS: {
        /* A stream's message: watch.c passes on only a valid status of the
           run it watches. */
        const HbeatPb__RunChange *c = (const HbeatPb__RunChange *)r;
        FUZZ_CHECK(c->status != NULL, "a decoded RunChange without a status string");
        return 0;
    }
    default: {
        const HbeatPb__ListRunsReply *page = (const HbeatPb__ListRunsReply *)r;
        int64_t last = 0;
        int stop = 0;
        rc = hbeat__wire_list_page(page, NULL, sink, NULL, &last, &stop, URL, err);
        if (rc == 0 && page->next_after_id != 0)
            rc = hbeat__wire_list_advances(page->next_after_id, 0, page->n_runs, URL, err);
        return rc;
    }
    }
    if (rc == 0)
        check_run(&run);
    return rc;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet_logs();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int status = data[0];
    const uint8_t *body = data + 1;
    size_t len = size - 1;
    /* The status text as gRPC hands it over: NUL-terminated, bounded. */
    char details[256];
    size_t dlen = len < sizeof(details) - 1 ? len : sizeof(details) - 1;
    memcpy(details, body, dlen);
    details[dlen] = '\0';

    for (int m = 0; m < HBEAT__GRPC_METHODS; m++) {
        for (int tls = 0; tls < 2; tls++) {
            hbeat__wire_arena arena;
            hbeat__wire_arena_init(&arena);
            hbeat_error err = HBEAT_ERROR_INIT;
            ProtobufCMessage *r = NULL;
            int rc = hbeat__grpc_decode(&r, (hbeat__grpc_method)m, status, details, body, len,
                                        status == 0, tls, &arena, URL, &err);
            if (rc != 0) {
                check_message(&err, rc);
                FUZZ_CHECK(arena.used == 0, "a failed decode left %zu arena bytes", arena.used);
                if (status == 0)
                    FUZZ_CHECK(rc == HBEAT_EPROTO, "a bad message gave %d, not EPROTO", rc);
                else if (rc != HBEAT_ETLS)
                    FUZZ_CHECK(rc == hbeat__grpc_code_from_status(status) && err.native == status,
                               "status %d became %d (native %d)", status, rc, err.native);
                else
                    FUZZ_CHECK(tls && status == HBEAT__GRPC_UNAVAILABLE,
                               "ETLS from status %d on %s", status, tls ? "grpcs" : "grpc");
                continue;
            }
            FUZZ_CHECK(status == 0, "status %d decoded as a reply", status);
            FUZZ_CHECK(r->descriptor == hbeat__grpc_method_reply((hbeat__grpc_method)m),
                       "a reply of the wrong type");
            err = (hbeat_error)HBEAT_ERROR_INIT;
            rc = check_payload((hbeat__grpc_method)m, r, &err);
            if (rc != 0) {
                FUZZ_CHECK(rc == HBEAT_EPROTO, "a bad payload gave %d, not EPROTO", rc);
                check_message(&err, rc);
            }
            hbeat__wire_reply_free(r, &arena);
            FUZZ_CHECK(arena.used == 0, "the arena was not reset");
        }
    }
    return 0;
}
