/*
 * Shared by the transports' integration tests against the real hbeatd
 * (tests/integration/nng and tests/integration/rest): a fresh hbeatd for
 * every test, and the calls every test makes. Compiled into each test
 * program rather than built as a library, so that the program's own
 * definitions (HBEAT_CLI) reach e2e.c too.
 */
#ifndef HBEAT_ITEST_COMMON_ITEST_H
#define HBEAT_ITEST_COMMON_ITEST_H

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "hbeat/hbeat.h"
#include "support/hbeatd_harness.h"

/* The hbeatd of the running test. */
extern hbd_harness itest_h;

/* cmocka setup: starts hbeatd without reaping (these tests are about the
   transport, not the reaper). */
int itest_setup(void **state);
/* The same, for REST: fails when hbeatd was built without it. */
int itest_setup_rest(void **state);
int itest_teardown(void **state);
/* A cmocka case with a fresh hbeatd of its own. */
#define ITEST_CASE(test) cmocka_unit_test_setup_teardown(test, itest_setup, itest_teardown)
#define ITEST_REST_CASE(test)                                                                      \
    cmocka_unit_test_setup_teardown(test, itest_setup_rest, itest_teardown)

/* Seconds on the monotonic clock. */
double itest_now(void);
/* hbeatd's deadlines are Unix times. */
double itest_unix(void);

/* A gateway for `url` (its transport checked against the scheme). hbeatd
   is on 127.0.0.1: a proxy from the environment must not get in between. */
hbeat_gateway *itest_open(const char *url, double timeout_s);
/* A new run of workflow 7 in `status`, created through the admin call. */
int64_t itest_new_run(hbeat_gateway *gw, const char *status);
hbeat_run_info itest_get(hbeat_gateway *gw, int64_t id);
/* One beat; `out` may be NULL. */
int itest_beat(hbeat_gateway *gw, int64_t id, const char *status, double inc,
               char out[HBEAT_STATUS_MAX + 1], hbeat_error *err);
/*
 * Beat after a server restart: a beat that went out on the connection the
 * old server left behind fails (it is never resent); nng has redialed by
 * the next one. Any other failure is a test failure.
 */
void itest_beat_after_restart(hbeat_gateway *gw, int64_t id, double increment,
                              char status[HBEAT_STATUS_MAX + 1]);

/* The answer to one asynchronous call, waited for with a bound. */
typedef struct itest_done {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int calls;
    int rc;
} itest_done;

#define ITEST_DONE_INIT                                                                            \
    {                                                                                              \
        PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 1                                  \
    }

/* For the callback, once it has kept what it was given: counts the call
   and wakes the waiter. */
void itest_done_call(itest_done *d, int rc);
/* Waits (at most 30 s) for the first call; the calls so far. */
int itest_done_wait(itest_done *d);

#endif
