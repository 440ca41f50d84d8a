/*
 * hbeatd's metrics, exposed by GET /metrics in the Prometheus text format.
 * Recording is a few relaxed atomic adds, safe from any thread and cheap
 * enough for every request; rendering happens only on a scrape.
 */
#ifndef HBD_METRICS_H
#define HBD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "calls.h"

typedef enum hbd_proto { HBD_PROTO_NNG, HBD_PROTO_REST, HBD_PROTO_GRPC, HBD_PROTO_COUNT } hbd_proto;

/* What a request is counted under: one of the calls (an hbd_call), or one
   of these, which are not calls. */
typedef int hbd_route;
enum {
    HBD_ROUTE_METRICS = HBD_CALL_COUNT, /* GET /metrics */
    HBD_ROUTE_STATUS_PAGE,              /* GET / */
    HBD_ROUTE_OTHER,                    /* unknown routes and undecodable requests */
    HBD_ROUTE_COUNT
};

/* Jobmon's workflow-run statuses, in the order of the state machine. */
#define HBD_METRICS_STATUS_CODES "GLBIORDSECHTA"
#define HBD_METRICS_STATUSES     13

/* One request answered, with its latency from decode to reply. */
void hbd_metrics_request(hbd_proto proto, hbd_route route, hbd_result result, double seconds);
/* The reaper moved a run from `from` to `to` (one of L->A, C->T, H->T, R->E). */
void hbd_metrics_reaped(const char *from, const char *to);
/* One store commit of `changes` changes took `seconds`. */
void hbd_metrics_commit(double seconds, unsigned int changes);
/* The store answers (1) or cannot reach its database (0). */
void hbd_metrics_store_up(int up);
/* A connection opened (+1) or closed (-1). */
void hbd_metrics_connection(hbd_proto proto, int delta);

/* The whole exposition text, with `runs[i]` runs in status
   HBD_METRICS_STATUS_CODES[i] (NULL: none), malloc'ed into *out (free()),
   length in *len. 0, HBEAT_EINVAL or HBEAT_ENOMEM. */
int hbd_metrics_render(const uint64_t runs[HBD_METRICS_STATUSES], char **out, size_t *len);

#endif /* HBD_METRICS_H */
