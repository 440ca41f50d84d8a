#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "integration/common/itest.h"

#include <time.h>

#include "support/tsock.h"

hbd_harness itest_h;

static const char *const no_reaping[] = {"--reap-grace", "100000", NULL};

int itest_setup(void **state)
{
    (void)state;
    return hbd_harness_start(&itest_h, no_reaping) == 0 ? 0 : -1;
}

int itest_setup_rest(void **state)
{
    if (itest_setup(state) != 0)
        return -1;
    if (itest_h.rest_url[0] == '\0') {
        fprintf(stderr, "hbeatd was built without its REST front end\n");
        return -1;
    }
    return 0;
}

int itest_teardown(void **state)
{
    (void)state;
    hbd_harness_cleanup(&itest_h);
    return 0;
}

static double clock_s(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double itest_now(void)
{
    return clock_s(CLOCK_MONOTONIC);
}

double itest_unix(void)
{
    return clock_s(CLOCK_REALTIME);
}

hbeat_gateway *itest_open(const char *url, double timeout_s)
{
    tsock_no_proxy();
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.request_timeout = timeout_s;
    hbeat_gateway *gw = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_gateway_open(&gw, url, &o, &err);
    if (rc != 0)
        fail_msg("open %s: %d %s", url, rc, err.message);
    const char *want = strncmp(url, "nng+", 4) == 0   ? "nng"
                       : strncmp(url, "grpc", 4) == 0 ? "grpc"
                                                      : "rest";
    assert_string_equal(hbeat_gateway_transport(gw), want);
    return gw;
}

int64_t itest_new_run(hbeat_gateway *gw, const char *status)
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

hbeat_run_info itest_get(hbeat_gateway *gw, int64_t id)
{
    hbeat_run_info run;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_run_get(gw, id, &run, &err);
    if (rc != 0)
        fail_msg("get_run %lld: %d %s", (long long)id, rc, err.message);
    return run;
}

int itest_beat(hbeat_gateway *gw, int64_t id, const char *status, double inc,
               char out[HBEAT_STATUS_MAX + 1], hbeat_error *err)
{
    char tmp[HBEAT_STATUS_MAX + 1];
    hbeat_error_clear(err);
    return hbeat_gateway_log_heartbeat(gw, id, status, inc, out != NULL ? out : tmp, err);
}

void itest_beat_after_restart(hbeat_gateway *gw, int64_t id, double increment,
                              char status[HBEAT_STATUS_MAX + 1])
{
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = HBEAT_ETRANSPORT;
    for (int i = 0; i < 3 && rc == HBEAT_ETRANSPORT; i++)
        rc = hbeat_gateway_log_heartbeat(gw, id, "R", increment, status, &err);
    if (rc != 0)
        fail_msg("beat after restart: %d %s", rc, err.message);
}

void itest_done_call(itest_done *d, int rc)
{
    pthread_mutex_lock(&d->mu);
    d->calls++;
    d->rc = rc;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

int itest_done_wait(itest_done *d)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 30;
    pthread_mutex_lock(&d->mu);
    while (d->calls == 0 && pthread_cond_timedwait(&d->cv, &d->mu, &until) == 0)
        ;
    int calls = d->calls;
    pthread_mutex_unlock(&d->mu);
    return calls;
}
