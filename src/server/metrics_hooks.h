/*
 * What the front ends need to feed metrics.h without knowing its labels:
 * a clock for latencies, and the route and result of a request read from
 * what the front end already has (nng message bytes, HTTP method, path and
 * status). No nng, protobuf-c or libmicrohttpd types, so it can be tested
 * on plain buffers.
 */
#ifndef HBD_METRICS_HOOKS_H
#define HBD_METRICS_HOOKS_H

#include <stddef.h>

#include "server/metrics.h"

/* Monotonic seconds, for request latencies. */
double hbd_metrics_now(void);

/* The call a packed hbeat.v1.Request makes; HBD_ROUTE_OTHER when the bytes
   are not a Request or carry no known call. Reads only the top-level tags. */
hbd_route hbd_metrics_nng_route(const void *request, size_t len);
/* The result a packed hbeat.v1.Reply reports: HBD_RESULT_OK, or its error
   code mapped; HBD_RESULT_SERVER_ERROR for bytes that are not a Reply. */
hbd_result hbd_metrics_nng_result(const void *reply, size_t len);

/* The route of an HTTP request, by path alone (a wrong method still counts
   under its route, with result bad_request): Jobmon's and the admin routes
   under /api/v3, "/" and "/metrics"; HBD_ROUTE_OTHER for anything else. */
hbd_route hbd_metrics_rest_route(const char *method, const char *path);
/* An HTTP status as a result: 2xx ok, 401/403 unauthorized, 404
   not_found, 413 too_large, other 4xx bad_request, else server_error. */
hbd_result hbd_metrics_http_result(unsigned int status);

#endif /* HBD_METRICS_HOOKS_H */
