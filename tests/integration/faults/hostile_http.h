/*
 * A hostile HTTP server for the fault tests: a raw TCP listener on
 * 127.0.0.1 (free port) that reads each request whole and answers as its
 * current mode says, honestly or not (see hostile_peer.h).
 */
#ifndef HBEAT_ITEST_FAULTS_HOSTILE_HTTP_H
#define HBEAT_ITEST_FAULTS_HOSTILE_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "hostile_peer.h"

typedef enum hh_mode {
    /* Jobmon's exact success reply, echoing the status sent; keep-alive. */
    HH_HONEST = 0,
    /* 256 random bytes that are not HTTP, then close. */
    HH_GARBAGE,
    /* A 200 head announcing 64 bytes of body, 10 of them, then close. */
    HH_TRUNCATED,
    /* A 200 head with Content-Length 100 MB, then the body for as long as
       the client reads it. */
    HH_HUGE,
    /* The same without a length: 100 MB in chunks. */
    HH_HUGE_CHUNKED,
    /* Jobmon's 500 (custom+json error body), then close as Jobmon does. */
    HH_500,
    /* 200 application/json whose body is not {"status": "<token>"}; each
       request gets the next of several wrong bodies. */
    HH_WRONG_JSON,
    /* Part of the status line, then close. */
    HH_CLOSE_IN_STATUS,
    /* The status line and part of a header, then close. */
    HH_CLOSE_IN_HEAD,
    HH_MODES
} hh_mode;

/* The 100 MB of HH_HUGE and HH_HUGE_CHUNKED. */
#define HH_HUGE_LEN ((uint64_t)100 * 1024 * 1024)

/* Listens on 127.0.0.1 (free port); the URL is http://127.0.0.1:PORT/api/v3.
   Stop it, switch its mode and read its counts with fx_hostile_*. */
fx_hostile *hh_start(void);

#endif
