/*
 * hbeatd's metrics, exposed by GET /metrics in the Prometheus text format.
 * Recording is a few relaxed atomic adds, safe from any thread and cheap
 * enough for every request; rendering happens only on a scrape.
 */
#ifndef HBD_METRICS_H
#define HBD_METRICS_H

#include <stddef.h>

#include "server/engine.h"

typedef enum hbd_proto { HBD_PROTO_NNG, HBD_PROTO_REST, HBD_PROTO_COUNT } hbd_proto;

typedef enum hbd_route {
    HBD_ROUTE_HEARTBEAT,
    HBD_ROUTE_UPDATE_STATUS,
    HBD_ROUTE_CREATE_RUN,
    HBD_ROUTE_GET_RUN,
    HBD_ROUTE_LIST_RUNS,
    HBD_ROUTE_SET_STATUS,
    HBD_ROUTE_METRICS,
    HBD_ROUTE_STATUS_PAGE,
    HBD_ROUTE_OTHER, /* unknown routes and undecodable requests */
    HBD_ROUTE_COUNT
} hbd_route;

typedef enum hbd_result {
    HBD_RESULT_OK,
    HBD_RESULT_BAD_REQUEST, /* malformed or invalid input */
    HBD_RESULT_NOT_FOUND,
    HBD_RESULT_UNAUTHORIZED, /* missing/invalid token, or lacking the right */
    HBD_RESULT_TOO_LARGE,
    HBD_RESULT_SERVER_ERROR, /* store failure, shutting down */
    HBD_RESULT_COUNT
} hbd_result;

/* One request answered, with its latency from decode to reply. */
void hbd_metrics_request(hbd_proto proto, hbd_route route, hbd_result result, double seconds);
/* The reaper moved a run from `from` to `to` (one of L->A, C->T, H->T, R->E). */
void hbd_metrics_reaped(const char *from, const char *to);
/* One store commit of `changes` changes took `seconds`. */
void hbd_metrics_commit(double seconds, unsigned int changes);
/* A connection opened (+1) or closed (-1). */
void hbd_metrics_connection(hbd_proto proto, int delta);

/* The whole exposition text (runs by status read from `engine`), malloc'ed
   into *out (free()), length in *len. 0 or a negative hbeat code. */
int hbd_metrics_render(hbd_engine *engine, char **out, size_t *len);

#endif /* HBD_METRICS_H */
