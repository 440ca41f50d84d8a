/* Shared by the nng transport's integration tests against hbeatd. */
#ifndef HBEAT_ITEST_NNG_COMMON_H
#define HBEAT_ITEST_NNG_COMMON_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "hbeat/hbeat.h"
#include "support/hbeatd_harness.h"

/* No reaping: these tests are about the transport, not the reaper. */
static const char *const itest_args[] = {"--reap-grace", "100000", NULL};

static inline double itest_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline hbeat_gateway *itest_open(const char *url, double timeout_s)
{
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.request_timeout = timeout_s;
    hbeat_gateway *gw = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_gateway_open(&gw, url, &o, &err);
    if (rc != 0) {
        fail_msg("open %s: %d %s", url, rc, err.message);
    }
    return gw;
}

/* A new run in `status`, created through the gateway's admin call. */
static inline int64_t itest_new_run(hbeat_gateway *gw, const char *status)
{
    hbeat_run_info run;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_run_create(gw, 7, status, &run, &err);
    if (rc != 0) {
        fail_msg("create_run: %d %s", rc, err.message);
    }
    assert_string_equal(run.status, status);
    return run.workflow_run_id;
}

static inline hbeat_run_info itest_get(hbeat_gateway *gw, int64_t id)
{
    hbeat_run_info run;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_run_get(gw, id, &run, &err);
    if (rc != 0) {
        fail_msg("get_run %lld: %d %s", (long long)id, rc, err.message);
    }
    return run;
}

/*
 * Beat after a server restart: a beat that went out on the connection the
 * old server left behind fails (it is never resent); nng has redialed by
 * the next one. Any other failure is a test failure.
 */
static inline void itest_beat_after_restart(hbeat_gateway *gw, int64_t id, double increment,
                                            char status[HBEAT_STATUS_MAX + 1])
{
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = HBEAT_ETRANSPORT;
    for (int i = 0; i < 3 && rc == HBEAT_ETRANSPORT; i++) {
        rc = hbeat_gateway_log_heartbeat(gw, id, "R", increment, status, &err);
    }
    if (rc != 0) {
        fail_msg("beat after restart: %d %s", rc, err.message);
    }
}

#endif
