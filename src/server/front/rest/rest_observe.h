/*
 * The observability routes of the HTTP front end, outside /api/v3:
 *   GET /         the status page (status_page.html, embedded at build time)
 *   GET /metrics  Prometheus text exposition format 0.0.4 (server/metrics.h)
 * Both also answer HEAD; another method gets a 405 with Allow. With tokens
 * configured, /metrics needs an operator token (403 for a client token;
 * rest_server.c answers 401 without one) while the page loads without
 * one: it holds no data, and its script sends the token the user types in.
 */
#ifndef HBD_REST_OBSERVE_H
#define HBD_REST_OBSERVE_H

#include "rest_internal.h"

/* 1 when `req` is for one of these paths (`r` is then filled), else 0.
   `right`: what the caller's token grants; /metrics needs the operator
   right. */
int hbd_rest_observe(hbd_engine *engine, const hbd_rest_request *req, hbd_right right,
                     hbd_rest_reply *r);

#endif /* HBD_REST_OBSERVE_H */
