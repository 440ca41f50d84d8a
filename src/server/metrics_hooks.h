/*
 * What the front ends need to feed metrics.h without knowing its labels:
 * a clock for latencies, and the route and result of an HTTP request from
 * its method, path and status (the nng codec reports its own, nng_codec.h).
 * No libmicrohttpd types, so it can be tested on plain values.
 */
#ifndef HBD_METRICS_HOOKS_H
#define HBD_METRICS_HOOKS_H

#include <stddef.h>

#include "server/metrics.h"

/* Monotonic seconds, for request latencies. */
double hbd_metrics_now(void);

/* The route of an HTTP request, by path alone (a wrong method still counts
   under its route, with result bad_request): Jobmon's and the admin routes
   under /api/v3, "/" and "/metrics"; HBD_ROUTE_OTHER for anything else. */
hbd_route hbd_metrics_rest_route(const char *method, const char *path);
/* An HTTP status as a result: 2xx ok, 401/403 unauthorized, 404
   not_found, 413 too_large, other 4xx bad_request, else server_error. */
hbd_result hbd_metrics_http_result(unsigned int status);

#endif /* HBD_METRICS_HOOKS_H */
