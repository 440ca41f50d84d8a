/*
 * hbeatd's HTTP front end: Jobmon's REST routes under /api/v3 and the admin
 * routes, served by libmicrohttpd on its own threads (src/server/front/rest/).
 *
 *   POST /api/v3/workflow_run/{id}/log_heartbeat   Jobmon's heartbeat
 *   PUT  /api/v3/workflow_run/{id}/update_status   Jobmon's status update
 *   POST /api/v3/runs, GET /api/v3/runs[?status=&after_id=&limit=],
 *   GET  /api/v3/runs/{id}, PUT /api/v3/runs/{id}/status   admin
 *
 * Success is 200 with application/json; Jobmon's routes answer exactly
 * {"status":"X"} (the status the server holds afterwards). Errors carry
 * Jobmon's body {"error": {"type", "exception_message", "status_code"}}:
 * 400 bad input, 401 no valid token (with WWW-Authenticate: Bearer), 403
 * an admin route with a client token, 404 unknown run or route, 405 wrong
 * method (with Allow), 413 body over max_body, 500 store failure, 503 while
 * stopping. A reply
 * that reports a change is sent only once the engine has made it durable.
 * Every refused request is logged (hbd_log) quoting at most 80 bytes of
 * what the client sent.
 */
#ifndef HBD_FRONT_REST_H
#define HBD_FRONT_REST_H

#include <stddef.h>

#include "auth.h"
#include "engine.h"
#include "hbeat/errors.h"
#include "tls.h"

typedef struct hbd_rest hbd_rest;

typedef struct hbd_rest_options {
    /* Numeric address to bind ("127.0.0.1", "::1", "0.0.0.0"); NULL is
       127.0.0.1. A name ("localhost") is refused with HBEAT_EINVAL. */
    const char *host;
    /* TCP port; 0 picks a free one (see hbd_rest_port). */
    unsigned short port;
    /* Largest request body accepted, in bytes; 0: the default. */
    size_t max_body;
    /* Worker threads; 0 is one per online CPU (at most 16). */
    unsigned int threads;
} hbd_rest_options;

/* What stands between the network and the engine. All zero (or NULL
   instead of the struct): plain http, no authentication, hbeatd's default
   limits (defaults.h), no per-address limit, no minimum rate.

   The connection limits make room rather than refuse: a new connection
   that would pass either is admitted, and the open connection that has
   waited longest for its request (from the same address, for the
   per-address limit) is closed; only when every other connection is being
   served is the new one closed instead. */
typedef struct hbd_rest_security {
    /* Serve https with this certificate and key, and with client_ca_pem
       require client certificates that chain to it (mutual TLS); NULL:
       plain http. */
    const hbd_tls *tls;
    /* Checks "Authorization: Bearer TOKEN": no valid token is a 401 (with
       WWW-Authenticate: Bearer) before the body is read, a client token on
       an admin route a 403. NULL: authentication off. */
    hbd_auth *auth;
    /* Connections open at once (0: the default), never more than the open-file
       limit allows; and from one address (0: no limit). */
    unsigned int max_connections;
    unsigned int max_connections_per_ip;
    /* Seconds a connection may take to deliver a whole request (headers
       and body; from its start or from the end of its last request), and
       may stay silent; 0: the default. */
    double read_timeout;
    /* Bytes per second a request must arrive at, on average, once it has
       begun and after a 2 s grace; slower, the connection is closed. 0: no
       minimum (only the read timeout). */
    double min_request_rate;
} hbd_rest_security;

/* Binds and starts serving. `engine` and what `sec` points to are
   borrowed and must outlive the front end (stop it first); `sec` NULL is
   all zero. Returns 0, HBEAT_EINVAL for a bad argument or host, or
   HBEAT_ESYSTEM when the address cannot be bound (err->native holds errno
   when known). */
int hbd_rest_start(hbd_rest **out, hbd_engine *engine, const hbd_rest_options *opts,
                   const hbd_rest_security *sec, hbeat_error *err);
/* The port actually bound; 0 for NULL. */
unsigned short hbd_rest_port(const hbd_rest *rest);
/* Stops accepting connections, answers requests in flight (waiting up to
   10 s, and for any reply still waiting on a commit as long as that takes),
   then stops and frees. NULL is a no-op. Not to be called concurrently
   with itself. */
void hbd_rest_stop(hbd_rest *rest);

#endif /* HBD_FRONT_REST_H */
