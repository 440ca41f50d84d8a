/*
 * The REST front end's defences, kept out of rest_server.c:
 *   rest_auth.c      Authorization: Bearer against the token file
 *   rest_tls.c       mutual TLS: require and verify client certificates
 *   rest_deadline.c  close a connection that does not deliver a whole
 *                    request within the read timeout (slowloris)
 */
#ifndef HBD_REST_SECURE_H
#define HBD_REST_SECURE_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>

#include "server/auth.h"

/* ---- rest_auth.c ---- */

/* The right the request's "Authorization: Bearer TOKEN" header grants
   (HBD_RIGHT_OPERATOR when `auth` is NULL or off). */
hbd_right hbd_rest_bearer_right(hbd_auth *auth, struct MHD_Connection *c);

/* ---- rest_tls.c ---- */

/* Makes connection `c`'s TLS handshake fail unless the client presents a
   certificate that chains to the daemon's trust list (HTTPS_MEM_TRUST) and
   is valid now. Call from MHD_CONNECTION_NOTIFY_STARTED, which
   libmicrohttpd runs after it made the TLS session and before the
   handshake. A refusal is logged with its reason. */
void hbd_rest_tls_require_client(struct MHD_Connection *c);

/* ---- rest_deadline.c ---- */

/* One per connection, inside the connection's context. */
typedef struct hbd_rest_deadline {
    struct hbd_rest_deadline *prev, *next; /* guarded by the set's lock */
    int fd;
    int shut;            /* guarded by the set's lock */
    atomic_llong due_ms; /* CLOCK_MONOTONIC ms; 0: no deadline */
} hbd_rest_deadline;

typedef struct hbd_rest_deadlines hbd_rest_deadlines;

/* Starts the sweeper thread; `seconds` > 0 is the read timeout. */
int hbd_rest_deadlines_start(hbd_rest_deadlines **out, double seconds);
/* Stops the thread and frees; no connection may still be in the set.
   NULL is a no-op. */
void hbd_rest_deadlines_stop(hbd_rest_deadlines *set);
/* A new connection: armed at once (the TLS handshake and the first
   request must arrive within the timeout). */
void hbd_rest_deadline_add(hbd_rest_deadlines *set, hbd_rest_deadline *d, struct MHD_Connection *c);
/* The connection is closing: after this the sweeper never touches its
   socket again. Call from MHD_CONNECTION_NOTIFY_CLOSED, which comes before
   libmicrohttpd closes the socket. */
void hbd_rest_deadline_remove(hbd_rest_deadlines *set, hbd_rest_deadline *d);
/* The next request must be complete within the timeout from now. */
void hbd_rest_deadline_arm(hbd_rest_deadlines *set, hbd_rest_deadline *d);
/* The request is in: no deadline while it is served. */
void hbd_rest_deadline_disarm(hbd_rest_deadline *d);

#endif /* HBD_REST_SECURE_H */
