/*
 * What the two hostile peers (hostile_http.h, hostile_sp.h) have in common:
 * the listener, the fault they act out (a mode of the peer's own enum, 0
 * being honest, which stays until changed, so a heartbeat loop meets the
 * same fault beat after beat) and what they count; and the fixture and
 * steps their tests share.
 */
#ifndef HBEAT_ITEST_FAULTS_HOSTILE_PEER_H
#define HBEAT_ITEST_FAULTS_HOSTILE_PEER_H

#include <pthread.h>
#include <stdint.h>

#include "hbeat/hbeat.h"
#include "observe.h"
#include "support/tsock.h"

/* More than either peer's enum holds. */
#define FX_HOSTILE_MODES 16

typedef struct fx_hostile_counts {
    /* Requests answered in each mode. */
    unsigned answered[FX_HOSTILE_MODES];
    /* Requests that were not a heartbeat. */
    unsigned unexpected;
    /* The most body bytes any one huge reply has got out so far. */
    uint64_t huge_sent_max;
    /* Huge replies that ended: sent whole, or cut off by the client. */
    unsigned huge_done;
} fx_hostile_counts;

typedef struct fx_hostile {
    tsock_server *srv;
    char url[160]; /* the client's URL, set by the peer */
    pthread_mutex_t mu;
    int mode;
    unsigned requests; /* all requests so far, of any mode */
    uint64_t rng;
    fx_hostile_counts counts;
} fx_hostile;

/* The peers' side. A new peer, honest, not listening yet. */
fx_hostile *fx_hostile_new(uint64_t seed);
/* The mode to answer a request in, counted as answered in it; *nth (may
   be NULL) is how many requests came before this one. */
int fx_hostile_next(fx_hostile *p, unsigned *nth);
void fx_hostile_count_unexpected(fx_hostile *p);
uint64_t fx_hostile_random(fx_hostile *p);
/* A huge reply has got `sent` bytes out so far. */
void fx_hostile_huge_sent(fx_hostile *p, uint64_t sent);
void fx_hostile_huge_ended(fx_hostile *p);

/* The tests' side. Closes every connection, joins every thread, removes an
   ipc path. NULL is a no-op. */
void fx_hostile_stop(fx_hostile *p);
void fx_hostile_set_mode(fx_hostile *p, int mode);
fx_hostile_counts fx_hostile_counts_now(fx_hostile *p);

typedef struct fx_hostile_fixture {
    fx_hostile *peer;
    fx_observer obs;
    hbeat_gateway *gw;
    int mode; /* the fault of the running test */
} fx_hostile_fixture;

/* Observes, and opens a gateway (0.5 s timeouts) to the started peer. */
void fx_hostile_setup(fx_hostile_fixture *f, fx_hostile *peer);
/* Drops a loop a failed test left, frees the gateway, stops the peer.
   -1 when the peer saw a request that was not a heartbeat. */
int fx_hostile_teardown(fx_hostile_fixture *f);
/* fx_run_case, with the peer switched between `mode` and honest; at least
   four beats met the fault. */
void fx_hostile_run(fx_hostile_fixture *f, int mode, const fx_case *c);
/* After a huge mode: three huge replies ended, and the client cut each off
   before a quarter of its `huge_len` bytes had got out. */
void fx_hostile_expect_huge_cut_off(fx_hostile_fixture *f, uint64_t huge_len);

#endif
