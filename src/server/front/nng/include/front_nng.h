/*
 * hbeatd's nng front end: serves nng REQ clients on one or more listen
 * URLs (tcp://, tls+tcp://, ipc://), speaking their wire protocol itself
 * (sp_wire.h) on one event-loop thread. Each message is a hbeat.v1.Request
 * answered by a hbeat.v1.Reply.
 */
#ifndef HBD_FRONT_NNG_H
#define HBD_FRONT_NNG_H

#include <stddef.h>

#include "auth.h"
#include "engine.h"
#include "hbeat/errors.h"
#include "tls.h"

typedef struct hbd_nng hbd_nng;

typedef struct hbd_nng_options {
    /* nng listen URLs ("tcp://127.0.0.1:7781", "ipc:///tmp/hbeatd.sock"). */
    const char *const *urls;
    size_t url_count;
    /* Largest request accepted, in bytes; a larger one is answered
       TOO_LARGE without being stored; 0: the default. */
    size_t max_message;
} hbd_nng_options;

/* What stands between the network and the engine. All zero (or NULL
   instead of the struct): no tls+tcp://, no authentication, hbeatd's
   default limits (defaults.h) and no per-address limit. */
typedef struct hbd_nng_security {
    /* Certificate and key for tls+tcp:// URLs, which are refused without
       them (HBEAT_EINVAL); with client_ca_pem, client certificates are
       required. Read only while starting. */
    const hbd_tls *tls;
    /* Checks each Request.token; NULL: authentication off. Borrowed; must
       outlive the front end. */
    hbd_auth *auth;
    /* Connections open at once (0: the default), and from one address, or one
       user over ipc (0: no limit). Every accepted connection counts; at
       either limit the connection whose peer has been silent longest and
       that has nothing in flight is closed for the new one, and when all
       are busy the new one is closed. */
    unsigned int max_connections;
    unsigned int max_connections_per_ip;
    /* Seconds (0: the default) for the TLS handshake and greeting, then for each
       whole request from the previous one (so also the longest idle time),
       and for replies that the peer does not read. */
    double read_timeout;
} hbd_nng_security;

/* Listens on every URL and starts serving. `engine` and what `sec`
   points to are borrowed and must outlive the front end; `sec` NULL is
   all zero. Returns 0, HBEAT_EINVAL for a URL that is wrong in itself, or
   HBEAT_ESYSTEM when an address cannot be bound. */
int hbd_nng_start(hbd_nng **out, hbd_engine *engine, const hbd_nng_options *opts,
                  const hbd_nng_security *sec, hbeat_error *err);
/* The URL actually bound for listen URL `index` (a tcp port 0 resolved). */
const char *hbd_nng_bound_url(const hbd_nng *nng, size_t index);
/* Answers requests in flight, then stops. NULL is a no-op. */
void hbd_nng_stop(hbd_nng *nng);

#endif /* HBD_FRONT_NNG_H */
