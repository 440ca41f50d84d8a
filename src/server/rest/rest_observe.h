/*
 * The observability routes of the HTTP front end, outside /api/v3:
 *   GET /         the status page (status_page.html, embedded at build time)
 *   GET /metrics  Prometheus text exposition format 0.0.4 (server/metrics.h)
 * Both also answer HEAD; another method gets a 405 with Allow.
 */
#ifndef HBD_REST_OBSERVE_H
#define HBD_REST_OBSERVE_H

#include "server/rest/rest_internal.h"

/* 1 when `req` is for one of these paths (`r` is then filled), else 0. */
int hbd_rest_observe(hbd_engine *engine, const hbd_rest_request *req, hbd_rest_reply *r);

#endif /* HBD_REST_OBSERVE_H */
