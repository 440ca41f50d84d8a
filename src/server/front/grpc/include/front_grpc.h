/*
 * hbeatd's gRPC front end, on gRPC's C core library: the unary methods of
 * hbeat.v1.HeartbeatService (LogHeartbeat, UpdateStatus, CreateRun,
 * GetRun, ListRuns, SetStatus) on the wire schema's messages, and
 * grpc.health.v1.Health/Check. Errors end a call with a gRPC status and a
 * message, mapped from hbeat codes by the table the gRPC client transport
 * reads them back with.
 */
#ifndef HBD_FRONT_GRPC_H
#define HBD_FRONT_GRPC_H

#include <stddef.h>

#include "auth.h"
#include "engine.h"
#include "hbeat/errors.h"
#include "tls.h"

typedef struct hbd_grpc hbd_grpc;

typedef struct hbd_grpc_options {
    /* Numeric host ("127.0.0.1", "::1") and port (0: a free one). */
    const char *host;
    unsigned short port;
    /* Largest request message, in bytes (0: the default); gRPC refuses a
       larger one with RESOURCE_EXHAUSTED before it is read. */
    size_t max_message;
    /* Calls in flight at once, over all connections (0: the default); past
       it a call ends with UNAVAILABLE at once. */
    unsigned int max_calls;
} hbd_grpc_options;

/* What stands between the network and the engine; NULL: plaintext, no
   authentication. */
typedef struct hbd_grpc_security {
    /* Certificate and key: the server speaks TLS (grpcs://); with
       client_ca_pem, client certificates are required. */
    const hbd_tls *tls;
    /* Checks the "authorization: Bearer TOKEN" metadata of each call; NULL:
       authentication off. Borrowed; must outlive the front end. */
    hbd_auth *auth;
    /* Seconds for a new connection's handshake (0: the default). */
    double read_timeout;
} hbd_grpc_security;

/* Binds and starts serving. `engine` and what `sec` points to are borrowed
   and must outlive the front end. Returns 0, HBEAT_EINVAL for bad options
   or TLS material gRPC refuses, or HBEAT_ESYSTEM when the address cannot
   be bound. */
int hbd_grpc_start(hbd_grpc **out, hbd_engine *engine, const hbd_grpc_options *opts,
                   const hbd_grpc_security *sec, hbeat_error *err);
/* The URL clients use: "grpc://127.0.0.1:41234" or "grpcs://...". */
const char *hbd_grpc_url(const hbd_grpc *grpc);
/* Stops taking calls (health turns NOT_SERVING), answers every call in
   flight (waiting up to 10 s, then cancelling the rest), stops and frees.
   NULL is a no-op. */
void hbd_grpc_stop(hbd_grpc *grpc);

#endif /* HBD_FRONT_GRPC_H */
