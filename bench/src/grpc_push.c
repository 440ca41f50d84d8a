/*
 * The status-push rows (grpc_push.h). Both services share one gateway, as
 * services of one process do; the operator has a gateway of its own. The
 * changes alternate between C and H, forced, so that every one of them is
 * a change the service must hear of.
 */
#define _POSIX_C_SOURCE 200809L

#include "grpc_push.h"

#include <pthread.h>
#include <stdlib.h>

#include "hbeat/hbeat.h"

typedef struct heard {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int changes;
    int64_t at; /* bench_now_ns() of the last callback */
} heard;

static void on_change(void *arg, const char *old_status, const char *new_status)
{
    (void)old_status;
    (void)new_status;
    heard *h = arg;
    int64_t now = bench_now_ns();
    pthread_mutex_lock(&h->mu);
    h->changes++;
    h->at = now;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

/* The time of callback number n, waiting up to limit_s for it. */
static int64_t wait_heard(heard *h, int n, double limit_s)
{
    int64_t give_up = bench_now_ns() + (int64_t)(limit_s * 1e9);
    pthread_mutex_lock(&h->mu);
    while (h->changes < n && bench_now_ns() < give_up) {
        pthread_mutex_unlock(&h->mu);
        bench_sleep_ms(1);
        pthread_mutex_lock(&h->mu);
    }
    int64_t at = h->changes >= n ? h->at : -1;
    pthread_mutex_unlock(&h->mu);
    if (at < 0)
        bench_die("status push: change %d never reached the callback", n);
    return at;
}

static hbeat_service *start(hbeat_gateway *gw, int64_t run, double interval, int watch, heard *h)
{
    hbeat_service_options o = HBEAT_SERVICE_OPTIONS_INIT;
    o.workflow_run_id = run;
    o.interval = interval;
    o.watch = watch;
    o.on_status_change = on_change;
    o.on_status_change_arg = h;
    hbeat_service *svc = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbeat_service_new(&svc, gw, &o, &err) != 0 || hbeat_service_start(svc, &err) != 0)
        bench_die("status push: service: %s", err.message);
    return svc;
}

static int64_t set_status(hbeat_gateway *op, int64_t run, const char *status)
{
    int64_t t0 = bench_now_ns();
    hbeat_run_info info;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbeat_run_set_status(op, run, status, 1, &info, &err) != 0)
        bench_die("status push: set-status: %s", err.message);
    return t0;
}

void grpc_push_measure(const char *url, int64_t run_watched, int64_t run_plain, double interval,
                       int changes, bench_samples *watched, bench_samples *plain)
{
    hbeat_gateway *gw, *op;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbeat_gateway_open(&gw, url, NULL, &err) != 0 ||
        hbeat_gateway_open(&op, url, NULL, &err) != 0)
        bench_die("status push: open %s: %s", url, err.message);
    heard a = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    heard b = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    hbeat_service *with = start(gw, run_watched, interval, 1, &a);
    hbeat_service *without = start(gw, run_plain, interval, 0, &b);
    bench_sleep_ms(500); /* the first beats made, the watch up */
    unsigned seed = 14;
    for (int k = 1; k <= changes; k++) {
        /* A random point of the plain service's interval. */
        bench_sleep_ms((long)(interval * 1000.0 * rand_r(&seed) / ((double)RAND_MAX + 1)));
        const char *status = k % 2 ? "C" : "H";
        int64_t ta = set_status(op, run_watched, status);
        int64_t tb = set_status(op, run_plain, status);
        bench_samples_add(watched, wait_heard(&a, k, 5.0) - ta);
        bench_samples_add(plain, wait_heard(&b, k, 2 * interval + 5.0) - tb);
    }
    if (hbeat_service_stop(with, &err) != 0 || hbeat_service_stop(without, &err) != 0)
        bench_die("status push: stop: %s", err.message);
    hbeat_service_free(with);
    hbeat_service_free(without);
    hbeat_gateway_free(op);
    hbeat_gateway_free(gw);
}
