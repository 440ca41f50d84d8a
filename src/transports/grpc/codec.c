/*
 * Replies: what a finished call brought, as untrusted input. The caller
 * gets either a reply message of the method's type or an error that says
 * what went wrong; the payload's own checks (transports/wire) follow in
 * gateway.c.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "common/grpc_codes.h"
#include "transports/grpc/grpc_internal.h"

static const struct {
    const char *path;
    const ProtobufCMessageDescriptor *reply;
} methods[HBEAT__GRPC_METHODS] = {
    [HBEAT__GRPC_LOG_HEARTBEAT] = {"/hbeat.v1.HeartbeatService/LogHeartbeat",
                                   &hbeat_pb__heartbeat_reply__descriptor},
    [HBEAT__GRPC_UPDATE_STATUS] = {"/hbeat.v1.HeartbeatService/UpdateStatus",
                                   &hbeat_pb__update_status_reply__descriptor},
    [HBEAT__GRPC_CREATE_RUN] = {"/hbeat.v1.HeartbeatService/CreateRun",
                                &hbeat_pb__create_run_reply__descriptor},
    [HBEAT__GRPC_GET_RUN] = {"/hbeat.v1.HeartbeatService/GetRun",
                             &hbeat_pb__get_run_reply__descriptor},
    [HBEAT__GRPC_LIST_RUNS] = {"/hbeat.v1.HeartbeatService/ListRuns",
                               &hbeat_pb__list_runs_reply__descriptor},
    [HBEAT__GRPC_SET_STATUS] = {"/hbeat.v1.HeartbeatService/SetStatus",
                                &hbeat_pb__set_status_reply__descriptor},
    [HBEAT__GRPC_WATCH_RUNS] = {"/hbeat.v1.HeartbeatService/WatchRuns",
                                &hbeat_pb__run_change__descriptor},
};

const char *hbeat__grpc_method_path(hbeat__grpc_method m)
{
    return methods[m].path;
}

const ProtobufCMessageDescriptor *hbeat__grpc_method_reply(hbeat__grpc_method m)
{
    return methods[m].reply;
}

/* gRPC reports a failed TLS handshake only as UNAVAILABLE, naming the
   reason in its text ("Ssl handshake failed: ... CERTIFICATE_VERIFY_FAILED"). */
static int mentions_tls(const char *text)
{
    static const char *const words[] = {"ssl", "tls", "handshake", "certificate"};
    char lower[512];
    size_t i = 0;
    for (; text[i] != '\0' && i + 1 < sizeof(lower); i++) {
        lower[i] = (char)tolower((unsigned char)text[i]);
    }
    lower[i] = '\0';
    for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++) {
        if (strstr(lower, words[w]) != NULL) {
            return 1;
        }
    }
    return 0;
}

static int status_error(int status, const char *details, int tls, const char *url, hbeat_error *err)
{
    /* gRPC's "failed to connect to all addresses; last error: ..." puts
       its reason last; keep the reason, which the buffer might cut. */
    static const char lead[] = "failed to connect to all addresses; last error: ";
    char raw[176];
    if (strncmp(details, lead, sizeof(lead) - 1) == 0) {
        snprintf(raw, sizeof(raw), "failed to connect: %s", details + sizeof(lead) - 1);
        details = raw;
    }
    char text[176];
    hbeat__wire_printable_copy(text, sizeof(text), details);
    int code = hbeat__grpc_code_from_status(status);
    if (tls && status == HBEAT__GRPC_UNAVAILABLE && mentions_tls(text)) {
        code = HBEAT_ETLS;
    }
    /* The words first: they are what a person acts on, and the URL may be
       long enough to push them out of the buffer. */
    hbeat_error_set(err, code, "%s (gRPC status %s from %.64s)",
                    text[0] != '\0' ? text : "no message", hbeat__grpc_status_name(status), url);
    if (err != NULL) {
        err->native = status;
    }
    return code;
}

int hbeat__grpc_decode(ProtobufCMessage **out, hbeat__grpc_method m, int status,
                       const char *details, const void *data, size_t len, int has_message, int tls,
                       hbeat__wire_arena *arena, const char *url, hbeat_error *err)
{
    if (status != HBEAT__GRPC_OK) {
        return status_error(status, details != NULL ? details : "", tls, url, err);
    }
    if (!has_message) {
        return hbeat_error_set(err, HBEAT_EPROTO, "%.160s: the call succeeded without a reply",
                               url);
    }
    ProtobufCMessage *r = protobuf_c_message_unpack(methods[m].reply, &arena->allocator, len, data);
    if (r == NULL) {
        arena->used = 0;
        return hbeat_error_set(err, HBEAT_EPROTO, "%.160s: the reply (%zu bytes) is not a %s", url,
                               len, methods[m].reply->name);
    }
    *out = r;
    return 0;
}
