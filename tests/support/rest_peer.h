/*
 * A small, scriptable and hostile HTTP/1.1 peer for the REST transport's
 * unit tests: raw sockets on 127.0.0.1 with a free port, one thread per
 * connection. Each request takes the next scripted action (or, when none
 * is left, Jobmon's exact success reply echoing the status it was sent),
 * and is recorded so that tests can check what the client put on the wire.
 */
#ifndef HBEAT_TEST_REST_PEER_H
#define HBEAT_TEST_REST_PEER_H

#include <stddef.h>

typedef enum peer_mode {
    /* Send `bytes`; keep the connection unless close_after. */
    PEER_RESPOND = 0,
    /* Read the request and never answer (until the client or the test
       closes the connection). */
    PEER_SILENT,
    /* Close the connection without a byte. */
    PEER_CLOSE,
    /* Send `bytes` (a head), then `huge_len` body bytes or until the client
       goes away; with `chunked`, as chunks. */
    PEER_HUGE,
} peer_mode;

typedef struct peer_action {
    peer_mode mode;
    const char *bytes;
    size_t len; /* 0: strlen(bytes) */
    int close_after;
    size_t huge_len;
    int chunked;
    /* After answering, wait until the next request arrives and reset the
       connection (RST) without reading it: a server that closed a
       kept-alive connection just as the client reused it. */
    int reset_next;
} peer_action;

typedef struct peer_request {
    int conn; /* accept order, from 0 */
    char method[16];
    char path[1024];
    char query[1024];
    char headers[8192]; /* the raw header lines */
    char body[8192];
    size_t body_len;
} peer_request;

typedef struct peer peer;

/* Tests talk to 127.0.0.1 directly: a proxy from the environment (which
   libcurl would honour) must not get in between. peer_start calls it. */
void peer_no_proxy(void);
peer *peer_start(void);
void peer_stop(peer *p);
unsigned short peer_port(const peer *p);
/* http://127.0.0.1:PORT/api/v3 */
const char *peer_url(const peer *p);

/* Scripted actions, used in order by the next requests. The bytes are
   copied. */
void peer_push(peer *p, peer_action a);
/* A whole reply: status line, Jobmon's header set, the body. */
void peer_push_reply(peer *p, int status, const char *content_type, const char *body,
                     int close_after);

int peer_request_count(peer *p);
int peer_connection_count(peer *p);
/* Copy of request i; 0, or -1 when there is none. */
int peer_get(peer *p, int i, peer_request *out);
/* Waits for at least n requests (a condition wait, bounded by 30 s so a
   broken test fails instead of hanging). 0 or -1. */
int peer_wait_requests(peer *p, int n);
/* Value of header `name` (case-insensitive) or NULL; copied into out. */
const char *peer_header(const peer_request *r, const char *name, char *out, size_t cap);

/* Jobmon's exact success reply for `status`, as the real server sends it. */
int peer_jobmon_ok(char *out, size_t cap, const char *status);

#endif
