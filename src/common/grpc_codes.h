/*
 * gRPC status codes <-> hbeat codes: the one table the gRPC client
 * transport (src/transports/grpc) and a gRPC server front end share, so
 * that an error crosses gRPC as the same code both ways.
 *
 * The status numbers are gRPC's own (doc/statuscodes.md; grpc/status.h),
 * fixed by the protocol, so this file needs no gRPC header and builds
 * without gRPC; the transport checks them against grpc/status.h at compile
 * time.
 */
#ifndef HBEAT_COMMON_GRPC_CODES_H
#define HBEAT_COMMON_GRPC_CODES_H

/* gRPC status codes hbeat sends or tells apart. */
enum {
    HBEAT__GRPC_OK = 0,
    HBEAT__GRPC_CANCELLED = 1,
    HBEAT__GRPC_UNKNOWN = 2,
    HBEAT__GRPC_INVALID_ARGUMENT = 3,
    HBEAT__GRPC_DEADLINE_EXCEEDED = 4,
    HBEAT__GRPC_NOT_FOUND = 5,
    HBEAT__GRPC_PERMISSION_DENIED = 7,
    HBEAT__GRPC_RESOURCE_EXHAUSTED = 8,
    HBEAT__GRPC_UNIMPLEMENTED = 12,
    HBEAT__GRPC_INTERNAL = 13,
    HBEAT__GRPC_UNAVAILABLE = 14,
    HBEAT__GRPC_UNAUTHENTICATED = 16,
};

/* A server's answer: the status a failed call with hbeat code @p code
   (negative; 0 gives OK) ends with. Codes without a row of their own are
   INTERNAL. */
int hbeat__grpc_status_from_code(int code);

/* A client's reading: the hbeat code for a call that ended with @p status.
   A status without a row of its own (UNKNOWN, ABORTED, a code from a newer
   gRPC) is the server's error, HBEAT_ESERVER. */
int hbeat__grpc_code_from_status(int status);

/* gRPC's name for @p status ("NOT_FOUND"); "UNKNOWN" for a number it has
   no name for. Static storage. */
const char *hbeat__grpc_status_name(int status);

#endif /* HBEAT_COMMON_GRPC_CODES_H */
