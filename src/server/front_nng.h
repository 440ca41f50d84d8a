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
#include "server/engine.h"

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
/* The URL actually bound for listen URL `index` (a tcp port 0 resolved). */
const char *hbd_nng_bound_url(const hbd_nng *nng, size_t index);
/* Answers requests in flight, then stops. NULL is a no-op. */
void hbd_nng_stop(hbd_nng *nng);

/* Ends nng's own threads, once every socket is stopped, so that a clean
   exit leaves nothing behind (valgrind). Skipped when a stop had to
   abandon a socket. Call at most once, at exit. */
void hbd_nng_fini(void);

#endif /* HBD_FRONT_NNG_H */
