/* Shared by the REST transport's integration tests against hbeatd. */
#ifndef HBEAT_ITEST_REST_COMMON_H
#define HBEAT_ITEST_REST_COMMON_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "hbeat/hbeat.h"
#include "support/hbeatd_harness.h"

/* No reaping: these tests are about the transport, not the reaper. */
static const char *const rtest_args[] = {"--reap-grace", "100000", NULL};

static inline double rtest_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* hbeatd's deadlines are Unix times. */
static inline double rtest_unix(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* hbeatd is on 127.0.0.1: a proxy from the environment (which libcurl
   would honour) must not get in between. */
static inline void rtest_no_proxy(void)
{
    static const char *const vars[] = {"http_proxy",  "HTTP_PROXY", "https_proxy",
                                       "HTTPS_PROXY", "all_proxy",  "ALL_PROXY"};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
}

static inline hbeat_gateway *rtest_open(const char *url, double timeout_s)
{
    rtest_no_proxy();
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.request_timeout = timeout_s;
    hbeat_gateway *gw = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_gateway_open(&gw, url, &o, &err);
    if (rc != 0)
        fail_msg("open %s: %d %s", url, rc, err.message);
    assert_string_equal(hbeat_gateway_transport(gw), "rest");
    return gw;
}

static inline int64_t rtest_new_run(hbeat_gateway *gw, const char *status)
{
    hbeat_run_info run;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_run_create(gw, 7, status, &run, &err);
    if (rc != 0)
        fail_msg("create_run: %d %s", rc, err.message);
    assert_string_equal(run.status, status);
    assert_int_equal(run.workflow_id, 7);
    return run.workflow_run_id;
}

static inline hbeat_run_info rtest_get(hbeat_gateway *gw, int64_t id)
{
    hbeat_run_info run;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_run_get(gw, id, &run, &err);
    if (rc != 0)
        fail_msg("get_run %lld: %d %s", (long long)id, rc, err.message);
    return run;
}

static inline int rtest_beat(hbeat_gateway *gw, int64_t id, const char *status, double inc,
                             char out[HBEAT_STATUS_MAX + 1], hbeat_error *err)
{
    char tmp[HBEAT_STATUS_MAX + 1];
    hbeat_error_clear(err);
    return hbeat_gateway_log_heartbeat(gw, id, status, inc, out != NULL ? out : tmp, err);
}

#endif
