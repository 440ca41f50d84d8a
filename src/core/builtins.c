#include "core/builtins.h"

#include <stddef.h>

#ifdef HBEAT_WITH_FAKE
#define FAKE_OPEN hbeat__fake_open
#else
#define FAKE_OPEN NULL
#endif
#ifdef HBEAT_WITH_REST
#define REST_OPEN hbeat__rest_open
#else
#define REST_OPEN NULL
#endif
#ifdef HBEAT_WITH_NNG
#define NNG_OPEN hbeat__nng_open
#else
#define NNG_OPEN NULL
#endif
#ifdef HBEAT_WITH_GRPC
#define GRPC_OPEN hbeat__grpc_open
#else
#define GRPC_OPEN NULL
#endif

/* Schemes stay listed when their transport is compiled out, so that
   hbeat_gateway_open() can say "known, but not built in". */
const hbeat__builtin hbeat__builtins[] = {
    {"fake", FAKE_OPEN, "HBEAT_WITH_FAKE"},      {"http", REST_OPEN, "HBEAT_WITH_REST"},
    {"https", REST_OPEN, "HBEAT_WITH_REST"},     {"nng+tcp", NNG_OPEN, "HBEAT_WITH_NNG"},
    {"nng+tls+tcp", NNG_OPEN, "HBEAT_WITH_NNG"}, {"nng+ipc", NNG_OPEN, "HBEAT_WITH_NNG"},
    {"nng+inproc", NNG_OPEN, "HBEAT_WITH_NNG"},  {"grpc", GRPC_OPEN, "HBEAT_WITH_GRPC"},
    {"grpcs", GRPC_OPEN, "HBEAT_WITH_GRPC"},     {NULL, NULL, NULL},
};
