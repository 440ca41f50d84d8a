/*
 * What the protobuf transports (nng, gRPC) share about replies: they carry
 * the same hbeat.v1 messages, so a reply is validated the same way whatever
 * brought it. Every reply is untrusted input: the caller gets either a
 * fully valid answer or HBEAT_EPROTO saying what was wrong with it.
 *
 *   arena.c   a fixed arena so that a heartbeat reply costs no heap
 *   check.c   validation of reply payloads, and the paging of ListRuns
 *   calls.c   a gateway's blocking calls, over the transport's round trip
 *   list.c    the ListRuns loop, page by page
 *   request.c the caller's arguments checked, request messages built
 *   token.c   the bearer token from the gateway options
 */
#ifndef HBEAT_TRANSPORTS_WIRE_H
#define HBEAT_TRANSPORTS_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "hbeat/v1/hbeat.pb-c.h"

#include "hbeat/errors.h"
#include "hbeat/sys/gateway.h"

/* ---- arena.c ---- */

/*
 * Replies are unpacked into a fixed arena so that a heartbeat reply costs
 * no heap allocation; anything bigger than the arena (a page of runs) spills
 * to malloc and is freed with the message.
 */
#define HBEAT__WIRE_ARENA_SIZE 1024
typedef struct hbeat__wire_arena {
    ProtobufCAllocator allocator;
    size_t used;
    _Alignas(16) unsigned char buf[HBEAT__WIRE_ARENA_SIZE];
} hbeat__wire_arena;

void hbeat__wire_arena_init(hbeat__wire_arena *a);
/* Free a reply unpacked into @p arena (NULL is a no-op) and empty it. */
void hbeat__wire_reply_free(ProtobufCMessage *reply, hbeat__wire_arena *arena);

/* ---- check.c ---- */

/* Copy the server's text for a person to read: bounded, and with control
   bytes replaced so a hostile server cannot forge log lines. */
void hbeat__wire_printable_copy(char *dst, size_t size, const char *src);

/* Validate a reply's payload and copy it out. */
int hbeat__wire_check_heartbeat(const HbeatPb__HeartbeatReply *rep, uint64_t sequence,
                                hbeat_heartbeat_reply *out, const char *url, hbeat_error *err);
int hbeat__wire_check_status(const char *status, hbeat_heartbeat_reply *out, const char *url,
                             hbeat_error *err);
int hbeat__wire_check_run(const HbeatPb__RunInfo *run, int64_t want_id, hbeat_run_info *out,
                          const char *url, hbeat_error *err);
/* The run an admin call's reply carries: hbeat__wire_check_run, and of
   @p want_workflow unless that is 0 (the workflow a new run was asked for). */
int hbeat__wire_check_run_reply(const HbeatPb__RunInfo *run, int64_t want_id, int64_t want_workflow,
                                hbeat_run_info *out, const char *url, hbeat_error *err);

/* One page of ListRuns: check its runs (ascending ids across pages, in
   @p status when given) and pass them to @p sink. *stop is set when the
   sink asked to stop; *last_id tracks the order across pages. */
int hbeat__wire_list_page(const HbeatPb__ListRunsReply *page, const char *status,
                          hbeat_run_sink_fn sink, void *ctx, int64_t *last_id, int *stop,
                          const char *url, hbeat_error *err);
/* After a page of @p n runs asked for with @p after: the listing must move
   on to @p next (0 ends it), or a server could keep us listing forever. */
int hbeat__wire_list_advances(int64_t next, int64_t after, size_t n, const char *url,
                              hbeat_error *err);

/* ---- calls.c, list.c: a gateway's blocking calls ---- */

/*
 * One blocking round trip of a transport: @p req is the request message of
 * call @p c (a HeartbeatRequest for HBEAT_PB__REQUEST__CALL_HEARTBEAT, and
 * so on), its reply is unpacked into @p arena: *reply is what to free with
 * hbeat__wire_reply_free(), *payload the call's reply message within it (a
 * HeartbeatReply, ...). Errors come with the transport's words.
 */
typedef int (*hbeat__wire_call_fn)(void *self, HbeatPb__Request__CallCase c,
                                   const ProtobufCMessage *req, hbeat__wire_arena *arena,
                                   ProtobufCMessage **reply, const ProtobufCMessage **payload,
                                   hbeat_error *err);

/* The first member of a protobuf transport's gateway, so that the gateway
   itself is the `self` of these calls and of its method table. */
typedef struct hbeat__wire_gateway {
    hbeat__wire_call_fn call;
    /* Starts the messages of argument checks: "nng", "gRPC". */
    const char *who;
    /* The gateway's URL, for reply errors; owned by the gateway. */
    const char *url;
} hbeat__wire_gateway;

/* The blocking calls of hbeat_gateway_vtable, for a gateway that starts
   with hbeat__wire_gateway. */
int hbeat__wire_log_heartbeat(void *self, const hbeat_heartbeat_request *req,
                              hbeat_heartbeat_reply *reply, hbeat_error *err);
int hbeat__wire_update_status(void *self, int64_t workflow_run_id, const char *status,
                              hbeat_heartbeat_reply *reply, hbeat_error *err);
int hbeat__wire_create_run(void *self, int64_t workflow_id, const char *status, hbeat_run_info *out,
                           hbeat_error *err);
int hbeat__wire_create_run_with(void *self, int64_t workflow_id,
                                const hbeat_run_create_options *opts, hbeat_run_info *out,
                                hbeat_error *err);
int hbeat__wire_get_run(void *self, int64_t workflow_run_id, hbeat_run_info *out, hbeat_error *err);
int hbeat__wire_set_status(void *self, int64_t workflow_run_id, const char *status, int force,
                           hbeat_run_info *out, hbeat_error *err);
int hbeat__wire_list_runs(void *self, const char *status, hbeat_run_sink_fn sink, void *ctx,
                          hbeat_error *err);

/* Those calls as members of an hbeat_gateway_vtable initializer. */
#define HBEAT__WIRE_GATEWAY_CALLS                                                                  \
    .log_heartbeat = hbeat__wire_log_heartbeat, .update_status = hbeat__wire_update_status,        \
    .create_run = hbeat__wire_create_run, .create_run_with = hbeat__wire_create_run_with,          \
    .get_run = hbeat__wire_get_run, .list_runs = hbeat__wire_list_runs,                            \
    .set_status = hbeat__wire_set_status

/* ---- request.c ---- */

/* Argument checks: HBEAT_EINVAL with a message that starts with @p who
   ("nng", "gRPC") and names @p what. */
int hbeat__wire_check_status_arg(const char *status, const char *what, const char *who,
                                 hbeat_error *err);
int hbeat__wire_check_beat(const hbeat_heartbeat_request *req, const char *who, hbeat_error *err);

/* Request messages, pointing at the caller's strings. The two that take a
   status check it first. inc: a new run's first deadline in seconds from
   its creation; NULL for none (the field is then absent, as an older
   client sends it). */
void hbeat__wire_beat_message(HbeatPb__HeartbeatRequest *hb, const hbeat_heartbeat_request *req);
void hbeat__wire_update_status_message(HbeatPb__UpdateStatusRequest *us, int64_t workflow_run_id,
                                       const char *status);
int hbeat__wire_create_run_message(HbeatPb__CreateRunRequest *cr, int64_t workflow_id,
                                   const char *status, const double *inc, const char *who,
                                   hbeat_error *err);
void hbeat__wire_get_run_message(HbeatPb__GetRunRequest *gr, int64_t workflow_run_id);
int hbeat__wire_set_status_message(HbeatPb__SetStatusRequest *ss, int64_t workflow_run_id,
                                   const char *status, int force, const char *who,
                                   hbeat_error *err);

/* ---- token.c ---- */

#define HBEAT__WIRE_TOKEN_MAX 4096

/* The bearer token: opts->token, else the first line of opts->token_file,
   checked to be printable ASCII; *out is NULL when neither is set. @p who
   ("nng") starts the error messages. Free with hbeat__wire_secret_free(). */
int hbeat__wire_token(char **out, const hbeat_gateway_options *opts, const char *who,
                      hbeat_error *err);
/* Wipe and free a credential; NULL is a no-op. */
void hbeat__wire_secret_free(char *secret);

#endif /* HBEAT_TRANSPORTS_WIRE_H */
