/*
 * Shared by the failover unit tests: fake members on one fake clock inside
 * a failover gateway, and a hand-written member with the admin calls (a
 * gateway of the user's own, reached only through the public vtable).
 * Nothing here sleeps: time moves only by the fake members' latency or the
 * test's own hbeat_fake_clock_advance().
 */
#ifndef HBEAT_TESTS_FAILOVER_FIXTURE_H
#define HBEAT_TESTS_FAILOVER_FIXTURE_H

#include <pthread.h>
#include <stdint.h>

#include "hbeat/hbeat.h"
#include "hbeat/sys/failover.h"
#include "hbeat/sys/fake.h"
#include "hbeat/sys/gateway.h"
#include "hbeat/sys/transport.h"

#define FX_S  INT64_C(1000000000)
#define FX_MS INT64_C(1000000)
/* The members' request timeout, as the tests simulate it, in seconds. */
#define FX_TIMEOUT 2.0
#define FX_MAX     3

typedef struct fx {
    hbeat_clock *clock;
    int count;
    hbeat_gateway *member[FX_MAX]; /* owned by gw */
    hbeat_gateway *gw;
} fx;

/* `count` fake members named h1, h2 ... (flags: HBEAT_FAKE_ASYNC or 0). */
void fx_init(fx *f, int count, unsigned int flags);
void fx_free(fx *f);
/* Calls member i has recorded. */
int fx_calls(fx *f, int i);
/* A service over the failover gateway on the fake clock: interval 10 s,
   buffer 3 (a 30 s lease), no jitter. */
hbeat_service *fx_service(fx *f, int64_t run_id);
hbeat_service_stats fx_stats(hbeat_service *svc);

/* ---- a member of the user's own, with admin calls -------------------- */
typedef struct own_member {
    pthread_mutex_t mu;
    int fail_code; /* every call fails with it while non-zero */
    int creates, gets, sets, lists, beats;
    int64_t next_id;
} own_member;

extern const hbeat_gateway_vtable own_vtable;
void own_init(own_member *m);
hbeat_gateway *own_gateway(own_member *m);

#endif
