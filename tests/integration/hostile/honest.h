/*
 * Honest clients for the hostile suite: each a thread that beats its own
 * run through the public library (hbeat_gateway_log_heartbeat) every
 * HX_HONEST_PAUSE_S, over one URL, either on one gateway kept open (one
 * connection, as a long-lived client holds it) or on a fresh gateway per
 * beat (a new connection each time, as a client that has just started).
 * Each beat is counted as a success or a failure in the phase it started
 * in, which the test moves on.
 */
#ifndef HBEAT_ITEST_HOSTILE_HONEST_H
#define HBEAT_ITEST_HOSTILE_HONEST_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "tuning.h" /* HX_HONEST_PAUSE_S, HX_HONEST_TIMEOUT_S */

enum { HX_WARMUP, HX_ATTACK, HX_AFTER, HX_DONE, HX_PHASES };

typedef struct hx_honest {
    char name[48];
    char url[320];
    const char *ca_file; /* for https and nng+tls+tcp */
    int fresh;           /* a new gateway (and connection) per beat */
    int64_t run;
    const atomic_int *phase;
    atomic_int stop;
    atomic_ulong ok[HX_PHASES];
    atomic_ulong failed[HX_PHASES];
    double slowest[HX_PHASES];        /* seconds; written by the thread */
    char first_error[HX_PHASES][200]; /* written by the thread */
    pthread_t thread;
    int started;
} hx_honest;

/* Sets the client up (name, url, run, phase, ...) and starts its thread. */
int hx_honest_start(hx_honest *c);
/* Asks the thread to stop; hx_honest_join waits for it. */
void hx_honest_stop(hx_honest *c);
void hx_honest_join(hx_honest *c);

#endif
