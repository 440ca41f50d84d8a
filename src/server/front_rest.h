/*
 * hbeatd's HTTP front end: Jobmon's REST routes under /api/v3 and the admin
 * routes, served by libmicrohttpd on its own threads.
 */
#ifndef HBD_FRONT_REST_H
#define HBD_FRONT_REST_H

#include <stddef.h>

#include "hbeat/errors.h"
#include "server/engine.h"

typedef struct hbd_rest hbd_rest;

typedef struct hbd_rest_options {
    /* Numeric address to bind ("127.0.0.1", "::1", "0.0.0.0"). */
    const char *host;
    /* TCP port; 0 picks a free one (see hbd_rest_port). */
    unsigned short port;
    /* Largest request body accepted, in bytes. */
    size_t max_body;
    /* Worker threads. */
    unsigned int threads;
} hbd_rest_options;

int hbd_rest_start(hbd_rest **out, hbd_engine *engine, const hbd_rest_options *opts,
                   hbeat_error *err);
/* The port actually bound. */
unsigned short hbd_rest_port(const hbd_rest *rest);
/* Answers requests in flight, then stops. NULL is a no-op. */
void hbd_rest_stop(hbd_rest *rest);

#endif /* HBD_FRONT_REST_H */
