/*
 * Entry points of the transports built into libhbeat, and the table of
 * every scheme hbeat knows, built in or not.
 */
#ifndef HBEAT_CORE_BUILTINS_H
#define HBEAT_CORE_BUILTINS_H

#include "hbeat/sys/transport.h"

typedef struct hbeat__builtin {
    const char *scheme;
    /* NULL when the transport was left out of this build. */
    hbeat_transport_open_fn open;
    /* Build option that brings it in, for the error message. */
    const char *option;
} hbeat__builtin;

/* The table, ended by an entry with a NULL scheme. */
extern const hbeat__builtin hbeat__builtins[];

int hbeat__fake_open(hbeat_gateway **out, const char *url, const hbeat_gateway_options *opts,
                     void *data, hbeat_error *err);
int hbeat__rest_open(hbeat_gateway **out, const char *url, const hbeat_gateway_options *opts,
                     void *data, hbeat_error *err);
int hbeat__nng_open(hbeat_gateway **out, const char *url, const hbeat_gateway_options *opts,
                    void *data, hbeat_error *err);
int hbeat__grpc_open(hbeat_gateway **out, const char *url, const hbeat_gateway_options *opts,
                     void *data, hbeat_error *err);

#endif /* HBEAT_CORE_BUILTINS_H */
