/*
 * What the protobuf transports (nng, gRPC) share about replies: they carry
 * the same hbeat.v1 messages, so a reply is validated the same way whatever
 * brought it. Every reply is untrusted input: the caller gets either a
 * fully valid answer or HBEAT_EPROTO saying what was wrong with it.
 *
 *   arena.c   a fixed arena so that a heartbeat reply costs no heap
 *   check.c   validation of reply payloads, and the paging of ListRuns
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
