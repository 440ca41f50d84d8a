/* The table behind grpc_codes.h. */
#include "common/grpc_codes.h"

#include <stddef.h>

#include "hbeat/errors.h"

/* Which way a row is read. */
enum { BOTH, SENT, RECEIVED };

typedef struct row {
    int code;
    int status;
    int way;
} row;

/*
 * Looked up from the top, each way: the first row that matches wins.
 *
 * UNAVAILABLE is what gRPC's own library reports when it has no connection
 * (server down, refused, reset), so a client reads it as HBEAT_ETRANSPORT:
 * try again. A server sends it for "shutting down or busy, try again"
 * (HBEAT_ECANCELED, HBEAT_EBUSY), which a client rightly reads the same
 * way. CANCELLED only ever comes from the client's own side: the gateway
 * closed with the call in flight.
 */
static const row table[] = {
    {HBEAT_OK, HBEAT__GRPC_OK, BOTH},
    {HBEAT_EINVAL, HBEAT__GRPC_INVALID_ARGUMENT, BOTH},
    {HBEAT_ENOTFOUND, HBEAT__GRPC_NOT_FOUND, BOTH},
    {HBEAT_EAUTH, HBEAT__GRPC_UNAUTHENTICATED, BOTH},
    {HBEAT_EFORBIDDEN, HBEAT__GRPC_PERMISSION_DENIED, BOTH},
    {HBEAT_ETOOBIG, HBEAT__GRPC_RESOURCE_EXHAUSTED, BOTH},
    {HBEAT_ETIMEDOUT, HBEAT__GRPC_DEADLINE_EXCEEDED, BOTH},
    {HBEAT_ENOTSUP, HBEAT__GRPC_UNIMPLEMENTED, BOTH},
    {HBEAT_ESERVER, HBEAT__GRPC_INTERNAL, BOTH},
    {HBEAT_ETRANSPORT, HBEAT__GRPC_UNAVAILABLE, RECEIVED},
    {HBEAT_ECANCELED, HBEAT__GRPC_CANCELLED, RECEIVED},
    {HBEAT_ECANCELED, HBEAT__GRPC_UNAVAILABLE, SENT},
    {HBEAT_EBUSY, HBEAT__GRPC_UNAVAILABLE, SENT},
};

#define ROWS (sizeof(table) / sizeof(table[0]))

int hbeat__grpc_status_from_code(int code)
{
    for (size_t i = 0; i < ROWS; i++) {
        if (table[i].code == code && table[i].way != RECEIVED) {
            return table[i].status;
        }
    }
    return HBEAT__GRPC_INTERNAL;
}

int hbeat__grpc_code_from_status(int status)
{
    for (size_t i = 0; i < ROWS; i++) {
        if (table[i].status == status && table[i].way != SENT) {
            return table[i].code;
        }
    }
    return HBEAT_ESERVER;
}

const char *hbeat__grpc_status_name(int status)
{
    static const char *const names[] = {
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    };
    if (status < 0 || (size_t)status >= sizeof(names) / sizeof(names[0])) {
        return "UNKNOWN";
    }
    return names[status];
}
