/*
 * Senders of malformed requests for the abuse test: one speaks nng (a bare
 * REQ socket and hand-made protobuf bytes), the other HTTP (raw sockets),
 * so that nothing in the library stands between them and hbeatd. Each
 * sends `count` requests of rotating kinds and checks that every one is
 * refused the way hbeatd's contract says (an error reply with the right
 * code, or a dropped connection where the contract says so), never
 * accepted.
 */
#ifndef HBEAT_ITEST_ABUSE_H
#define HBEAT_ITEST_ABUSE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "support/tsock.h" /* tsock_xorshift: repeatable junk */

typedef struct ab_tally {
    unsigned sent;
    unsigned refused_right; /* refused as the contract says */
    unsigned dropped;       /* the connection was closed, where allowed */
    unsigned wrong;         /* anything else: a bug */
    char first_wrong[256];  /* what the first wrong answer was */
} ab_tally;

typedef struct ab_target {
    const int64_t *runs; /* the valid clients' runs: the requests aim at them */
    size_t nruns;
    unsigned count;        /* requests to send */
    uint64_t seed;         /* of the random bytes and choices */
    atomic_uint *progress; /* incremented after each request */
} ab_target;

/* `url` in client form (nng+tcp://..., nng+ipc://...). 0, or -1 when the
   socket could not even be opened (then *out says why). */
int ab_nng_run(const char *url, const ab_target *t, ab_tally *out);
/* `host_port` as 127.0.0.1:PORT; the routes are under /api/v3. */
int ab_http_run(const char *host_port, const ab_target *t, ab_tally *out);

/* Records a wrong answer (the first one's description is kept). */
void ab_wrong(ab_tally *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
