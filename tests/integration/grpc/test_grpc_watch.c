/*
 * A service watching its run over grpc:// (hbeat_service_options.watch)
 * against the real hbeatd: an operator's change reaches the service's
 * status-change callback within a fraction of the 30 s interval, where a
 * service that does not watch learns it only at its next beat; and after
 * hbeatd restarts (same port), the watch comes back by itself and the next
 * change arrives as fast.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "hbeat/hbeat.h"
#include "integration/common/itest.h"
#include "support/hbeatd_harness.h"

#define INTERVAL 30.0
/* Far below the interval: only a push can be this fast. */
#define PUSHED_WITHIN 3.0

typedef struct seen {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char status[HBEAT_STATUS_MAX + 1];
    int changes;
} seen;

static void on_change(void *arg, const char *old_status, const char *new_status)
{
    (void)old_status;
    seen *s = arg;
    pthread_mutex_lock(&s->mu);
    snprintf(s->status, sizeof s->status, "%s", new_status);
    s->changes++;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* Waits up to `limit` s for change number `n`; its time, or -1. */
static double wait_change(seen *s, int n, double limit)
{
    double start = itest_now();
    pthread_mutex_lock(&s->mu);
    while (s->changes < n && itest_now() - start < limit) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 20 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->cv, &s->mu, &until);
    }
    int got = s->changes >= n;
    pthread_mutex_unlock(&s->mu);
    return got ? itest_now() - start : -1;
}

static hbeat_service *start_service(hbeat_gateway *gw, int64_t run, int watch, seen *s)
{
    hbeat_service_options o = HBEAT_SERVICE_OPTIONS_INIT;
    o.workflow_run_id = run;
    o.interval = INTERVAL;
    o.watch = watch;
    o.on_status_change = on_change;
    o.on_status_change_arg = s;
    hbeat_service *svc = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbeat_service_new(&svc, gw, &o, &err) != 0 || hbeat_service_start(svc, &err) != 0)
        fail_msg("service: %s", err.message);
    return svc;
}

static void set_status(const char *url, int64_t run, const char *status)
{
    hbeat_gateway *op = itest_open(url, 5.0);
    hbeat_run_info info;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbeat_run_set_status(op, run, status, 1, &info, &err) != 0)
        fail_msg("set-status %s: %s", status, err.message);
    hbeat_gateway_free(op);
}

static void test_a_watching_service_hears_of_changes_at_once(void **state)
{
    (void)state;
    static const char *const args[] = {"--reap-grace", "100000", NULL};
    hbd_harness h;
    assert_int_equal(hbd_harness_start(&h, args), 0);
    assert_true(h.grpc_url[0] != '\0');
    hbeat_gateway *gw = itest_open(h.grpc_url, 5.0);
    int64_t watched = itest_new_run(gw, "R");
    int64_t plain = itest_new_run(gw, "R");
    seen a = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, "", 0};
    seen b = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, "", 0};
    hbeat_service *with = start_service(gw, watched, 1, &a);
    hbeat_service *without = start_service(gw, plain, 0, &b);
    /* Both have made their first beat once a beat's worth of time passed;
       the watch is up once its first message came. */
    struct timespec settle = {0, 500 * 1000000L};
    nanosleep(&settle, NULL);

    set_status(h.grpc_url, watched, "C");
    set_status(h.grpc_url, plain, "C");
    double took = wait_change(&a, 1, PUSHED_WITHIN);
    print_message("  watched: the change reached the callback in %.3f s\n", took);
    assert_true(took >= 0);
    assert_string_equal(a.status, "C");
    char now[HBEAT_STATUS_MAX + 1];
    assert_int_equal(hbeat_service_status(with, now), 0);
    assert_string_equal(now, "C");
    /* Not watching: nothing until the next beat, a whole interval away. */
    assert_true(wait_change(&b, 1, 1.0) < 0);

    /* hbeatd restarts on the same port: the watch comes back by itself. */
    assert_int_equal(hbd_harness_stop(&h), 0);
    assert_int_equal(hbd_harness_restart(&h), 0);
    set_status(h.grpc_url, watched, "H");
    took = wait_change(&a, 2, PUSHED_WITHIN + 2.0);
    print_message("  after a restart: the change reached the callback in %.3f s\n", took);
    assert_true(took >= 0);
    assert_string_equal(a.status, "H");

    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_service_stop(with, &err), 0);
    assert_int_equal(hbeat_service_stop(without, &err), 0);
    hbeat_service_free(with);
    hbeat_service_free(without);
    hbeat_gateway_free(gw);
    assert_int_equal(hbd_harness_stop(&h), 0);
    hbd_harness_cleanup(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_watching_service_hears_of_changes_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
