/*
 * hbeatd's nng front end: a REP socket listening on one or more URLs
 * (tcp://, ipc://, inproc://), answering many requests at once through nng
 * contexts with asynchronous I/O. Each message is a hbeat.v1.Request
 * answered by a hbeat.v1.Reply.
 */
#ifndef HBD_FRONT_NNG_H
#define HBD_FRONT_NNG_H

#include <stddef.h>

#include "hbeat/errors.h"
#include "server/auth.h"
#include "server/engine.h"
#include "server/tls.h"

typedef struct hbd_nng hbd_nng;

typedef struct hbd_nng_options {
    /* nng listen URLs ("tcp://127.0.0.1:7781", "ipc:///tmp/hbeatd.sock"). */
    const char *const *urls;
    size_t url_count;
    /* Largest request accepted, in bytes. */
    size_t max_message;
    /* Requests served at once (nng contexts). */
    unsigned int contexts;
} hbd_nng_options;

int hbd_nng_start(hbd_nng **out, hbd_engine *engine, const hbd_nng_options *opts, hbeat_error *err);

/* What stands between the network and the engine. All zero (or NULL
   instead of the struct) is what hbd_nng_start does: no tls+tcp://, no
   authentication, 1024 connections, no per-address limit. */
typedef struct hbd_nng_security {
    /* Certificate and key for tls+tcp:// URLs, which are refused without
       them (HBEAT_EINVAL); with client_ca_pem, client certificates are
       required. Read only while starting. */
    const hbd_tls *tls;
    /* Checks each Request.token; NULL: authentication off. Borrowed; must
       outlive the front end. */
    hbd_auth *auth;
    /* Connections open at once (0: 1024), and from one address (0: no
       limit). Connections over either are closed as they arrive. */
    unsigned int max_connections;
    unsigned int max_connections_per_ip;
} hbd_nng_security;

/* hbd_nng_start with TLS, tokens and limits. */
int hbd_nng_start_secure(hbd_nng **out, hbd_engine *engine, const hbd_nng_options *opts,
                         const hbd_nng_security *sec, hbeat_error *err);
/* The URL actually bound for listen URL `index` (a tcp port 0 resolved). */
const char *hbd_nng_bound_url(const hbd_nng *nng, size_t index);
/* Re-creates an ipc listener that no longer accepts (see ipc_probe.h).
   Called a few times a second from the main loop; cheap between probes.
   NULL is a no-op. */
void hbd_nng_watch_listeners(hbd_nng *nng);
/* Answers requests in flight, then stops. NULL is a no-op. */
void hbd_nng_stop(hbd_nng *nng);

/* Ends nng's own threads, once every socket is stopped, so that a clean
   exit leaves nothing behind (valgrind). Skipped when a stop had to
   abandon a socket. Call at most once, at exit. */
void hbd_nng_fini(void);

#endif /* HBD_FRONT_NNG_H */
