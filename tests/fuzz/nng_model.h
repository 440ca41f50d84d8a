/*
 * Serving one nng request and checking the reply against the model, for
 * the nng server fuzz targets.
 */
#ifndef HBEAT_FUZZ_NNG_MODEL_H
#define HBEAT_FUZZ_NNG_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "hbeat/v1/hbeat.pb-c.h"
#include "server_model.h"

/* hbeatd's default (default max message 64 KiB). */
#define FZ_NNG_MAX_MESSAGE (64 * 1024)

/* The tokens of fz_nng_auth(), by right. */
#define FZ_OPERATOR_TOKEN "operator-token-0123456789"
#define FZ_CLIENT_TOKEN   "client-token-0123456789"

/* A token table (server/auth.h) holding the two tokens above, made once. */
hbd_auth *fz_nng_auth(void);

/* Serves `size` bytes with a size limit of `limit` and returns the decoded
   reply (free with hbeat_pb__reply__free_unpacked), after checking that
   exactly one reply was packed, that it decodes, that its strings are
   UTF-8, and that a success waited for its commit. */
HbeatPb__Reply *fz_nng_serve(hbd_engine *e, hbd_auth *auth, const uint8_t *data, size_t size,
                             size_t limit);

/* Checks reply `r` to `req` (NULL when the bytes did not decode), served
   with tokens checked (`auth_on`) or not, and the runs it left (`after`)
   against the model and the runs before. */
void fz_nng_check(const HbeatPb__Request *req, int auth_on, const HbeatPb__Reply *r,
                  const fz_snapshot *before, const fz_snapshot *after);

/* Which way the targets serve a request: with tokens checked when it
   carries one (so that the seeds without a token reach the engine). */
int fz_nng_wants_auth(const HbeatPb__Request *req);

void fz_nng_expect_error(const HbeatPb__Reply *r, HbeatPb__ErrorCode code);

#endif /* HBEAT_FUZZ_NNG_MODEL_H */
