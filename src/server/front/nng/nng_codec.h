/*
 * hbeat.v1.Request in, hbeat.v1.Reply out: decoding, checking, the engine
 * call and encoding, with no socket code, so that it can be tested and
 * fuzzed on plain buffers. Bad input of any kind becomes an error reply
 * (and a log line); it never fails the call and never changes a run.
 */
#ifndef HBD_NNG_CODEC_H
#define HBD_NNG_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "engine.h"
#include "metrics.h"

/* Gives the codec `len` bytes to pack the reply into, or NULL when out of
   memory. Called once, after the request has been fully decoded, so it
   may reuse the request's buffer. */
typedef uint8_t *(*hbd_codec_reserve_fn)(void *arg, size_t len);

/* What a served request was and how it ended, for the metrics: its call
   (HBD_ROUTE_OTHER when the bytes carry none) and its result. */
typedef struct hbd_codec_outcome {
    hbd_route route;
    hbd_result result;
} hbd_codec_outcome;

/* Serves one request of `len` bytes (at most `max_message`, else a
   TOO_LARGE error), after checking Request.token against `auth` (NULL:
   authentication off): no valid token is UNAUTHENTICATED, a client token
   calling an admin call PERMISSION_DENIED; either way no run changes.
   *ticket gets the commit the reply must wait for (see
   hbd_engine_when_durable); *outcome (may be NULL) what the request was.
   Returns 0, or HBEAT_ENOMEM when no reply could be packed. */
int hbd_codec_serve(hbd_engine *engine, hbd_auth *auth, const uint8_t *req, size_t len,
                    size_t max_message, hbd_codec_reserve_fn reserve, void *arg, uint64_t *ticket,
                    hbd_codec_outcome *outcome);
/* A request whose reply waits for a deferred engine (hbd_engine_deferred):
   the decoded request and the call's outputs. */
typedef struct hbd_codec_pending hbd_codec_pending;
/* hbd_codec_serve, except that with a deferred engine a call that the
   engine took is not packed: *later gets it (and nothing is reserved);
   once its ticket is reported with `rc`, hbd_codec_finish packs its reply
   (or the error the ticket carries) and frees it. *later stays NULL when
   the reply was packed at once. `later` NULL: hbd_codec_serve. */
int hbd_codec_begin(hbd_engine *engine, hbd_auth *auth, const uint8_t *req, size_t len,
                    size_t max_message, hbd_codec_reserve_fn reserve, void *arg, uint64_t *ticket,
                    hbd_codec_outcome *outcome, hbd_codec_pending **later);
/* Returns 0 or HBEAT_ENOMEM; outcome->result gets the call's result. */
int hbd_codec_finish(hbd_codec_pending *pending, int rc, hbd_codec_reserve_fn reserve, void *arg,
                     hbd_codec_outcome *outcome);
/* Frees a pending request without a reply. NULL is a no-op. */
void hbd_codec_drop(hbd_codec_pending *pending);
/* Packs an error reply for hbeat code `code` (mapped to the wire's error
   codes by the outcome table, calls.h). Returns 0 or HBEAT_ENOMEM. */
int hbd_codec_error(int code, const char *message, hbd_codec_reserve_fn reserve, void *arg);

#endif /* HBD_NNG_CODEC_H */
