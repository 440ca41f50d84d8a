/*
 * The REST front end's defences, kept out of rest_server.c:
 *   rest_auth.c      Authorization: Bearer against the token file
 *   rest_tls.c       mutual TLS: require and verify client certificates
 *   rest_deadline.c  close a connection that does not deliver a whole
 *                    request within the read timeout, or trickles it
 *                    slower than the minimum rate (slowloris); make room
 *                    in a full connection table
 *   rest_addrmap.c   open connections per client address
 *   rest_framing.c   refuse a request whose length has two readings
 */
#ifndef HBD_REST_SECURE_H
#define HBD_REST_SECURE_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "auth.h"

/* ---- rest_auth.c ---- */

/* The right the request's "Authorization: Bearer TOKEN" header grants
   (HBD_RIGHT_OPERATOR when `auth` is NULL or off). */
hbd_right hbd_rest_bearer_right(hbd_auth *auth, struct MHD_Connection *c);

/* ---- rest_framing.c ---- */

/* Why the request's headers leave its length open to two readings
   (Content-Length with Transfer-Encoding, two different Content-Lengths,
   a Transfer-Encoding other than a single "chunked"); NULL when they do
   not. Call once the headers are in. */
const char *hbd_rest_framing_problem(struct MHD_Connection *c);

/* ---- rest_tls.c ---- */

/* Makes connection `c`'s TLS handshake fail unless the client presents a
   certificate that chains to the daemon's trust list (HTTPS_MEM_TRUST) and
   is valid now. Call from MHD_CONNECTION_NOTIFY_STARTED, which
   libmicrohttpd runs after it made the TLS session and before the
   handshake. A refusal is logged with its reason. */
void hbd_rest_tls_require_client(struct MHD_Connection *c);

/* ---- rest_addrmap.c ---- */

/* One address's record: how many live connections it has. */
typedef struct hbd_rest_addr {
    unsigned char key[16]; /* IPv4 as ::ffff:a.b.c.d */
    unsigned long count;
    struct hbd_rest_addr *next_free;
} hbd_rest_addr;

/* Live connections per client address. Not thread-safe: the deadline
   set's lock guards it. */
typedef struct hbd_rest_addrmap hbd_rest_addrmap;

/* Room for `max` connections at once; NULL when out of memory. */
hbd_rest_addrmap *hbd_rest_addrmap_new(size_t max);
void hbd_rest_addrmap_free(hbd_rest_addrmap *m);
/* One more connection from `key`: its address's record, whose count now
   includes it; NULL when the map already holds `max` connections. */
hbd_rest_addr *hbd_rest_addrmap_join(hbd_rest_addrmap *m, const unsigned char key[16]);
/* One connection fewer; the record goes with the last one. NULL is a
   no-op. */
void hbd_rest_addrmap_leave(hbd_rest_addrmap *m, hbd_rest_addr *a);
/* Live connections from `key` (tests). */
unsigned long hbd_rest_addrmap_count(hbd_rest_addrmap *m, const unsigned char key[16]);

/* ---- rest_deadline.c ---- */

/* One per connection, inside the connection's context. */
typedef struct hbd_rest_deadline {
    struct hbd_rest_deadline *prev, *next; /* guarded by the set's lock */
    int fd;
    int shut;            /* guarded by the set's lock; a shut connection is on its way out */
    hbd_rest_addr *peer; /* guarded by the set's lock; NULL: not counted per address */
    atomic_llong due_ms; /* the set's clock, ms; 0: no deadline */
    atomic_uint arms;    /* counts arms: the sweeper's cue to measure anew */
    /* The sweeper's measure of the request arriving (guarded by the lock). */
    unsigned int seen_arms;
    long long base_bytes; /* received when the sweeper saw the arm */
    long long began_ms;   /* when bytes first came after it; 0: none yet */
} hbd_rest_deadline;

typedef struct hbd_rest_deadlines hbd_rest_deadlines;

/* What the set enforces. */
typedef struct hbd_rest_guard {
    double read_timeout; /* seconds for a whole request, and for silence; > 0 */
    /* Once a request has begun, it must arrive at `min_rate` bytes per
       second on average, counted after its first `grace` seconds; 0: no
       minimum rate. */
    double min_rate;
    double grace;
    /* Open connections, and from one address; past either, a new
       connection is admitted and another gives way (rest_deadline.c).
       0: no limit here. */
    unsigned int max_connections;
    unsigned int max_per_address;
    /* Most connections the set will ever hold at once (libmicrohttpd's
       limit): the size of the per-address counts. */
    unsigned int capacity;
    /* Tests only (NULL, NULL, 0: the real thing): the clock in ms, the
       bytes the kernel has received on a socket (-1: unknown), and no
       sweeper thread (the test calls hbd_rest_deadlines_sweep). */
    long long (*now_ms)(void *arg);
    long long (*received)(void *arg, int fd);
    void *arg;
    int no_thread;
} hbd_rest_guard;

/* Starts the sweeper thread. */
int hbd_rest_deadlines_start(hbd_rest_deadlines **out, const hbd_rest_guard *guard);
/* Stops the thread and frees; no connection may still be in the set.
   NULL is a no-op. */
void hbd_rest_deadlines_stop(hbd_rest_deadlines *set);
/* A new connection (from MHD_CONNECTION_NOTIFY_STARTED): armed at once
   (the TLS handshake and the first request must arrive within the
   timeout). When it makes the table or its address too full, another
   connection is shut to make room; when every other one is being served,
   the new one is. 0 when `d` was admitted, -1 when it was shut (it stays
   in the set until removed). */
int hbd_rest_deadline_add(hbd_rest_deadlines *set, hbd_rest_deadline *d, struct MHD_Connection *c);
/* hbd_rest_deadline_add for a socket and its peer (`peer` NULL: no
   address, so no per-address limit). */
int hbd_rest_deadline_add_fd(hbd_rest_deadlines *set, hbd_rest_deadline *d, int fd,
                             const struct sockaddr *peer);
/* The connection is closing: after this the set never touches its socket
   again. Call from MHD_CONNECTION_NOTIFY_CLOSED, which comes before
   libmicrohttpd closes the socket. */
void hbd_rest_deadline_remove(hbd_rest_deadlines *set, hbd_rest_deadline *d);
/* The next request must be complete within the timeout from now. */
void hbd_rest_deadline_arm(hbd_rest_deadlines *set, hbd_rest_deadline *d);
/* The request is in: no deadline while it is served, and it cannot be
   made to give way. */
void hbd_rest_deadline_disarm(hbd_rest_deadline *d);
/* One pass of the sweeper (tests with no_thread). */
void hbd_rest_deadlines_sweep(hbd_rest_deadlines *set);
/* Connections admitted and not shut (tests). */
unsigned int hbd_rest_deadlines_live(hbd_rest_deadlines *set);

#endif /* HBD_REST_SECURE_H */
