/*
 * The fake clock (advance, waiters, wait_waiters), the system clock, and
 * clocks written by users through hbeat_clock_new().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support.h"

static void test_reads_its_start_until_advanced(void **state)
{
    (void)state;
    hbeat_clock *clock = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_fake_clock_new(&clock, 42, &err), 0);
    assert_int_equal(hbeat_clock_now_ns(clock), 42);
    assert_int_equal(hbeat_clock_now_ns(clock), 42);
    assert_int_equal(hbeat_fake_clock_advance(clock, 8), 0);
    assert_int_equal(hbeat_clock_now_ns(clock), 50);
    assert_int_equal(hbeat_fake_clock_advance(clock, 0), 0);
    assert_int_equal(hbeat_clock_now_ns(clock), 50);
    assert_int_equal(hbeat_fake_clock_advance(clock, 3600 * NS_PER_S), 0);
    assert_int_equal(hbeat_clock_now_ns(clock), 50 + 3600 * NS_PER_S);
    /* Time never goes back. */
    assert_int_equal(hbeat_fake_clock_advance(clock, -1), HBEAT_EINVAL);
    assert_int_equal(hbeat_clock_now_ns(clock), 50 + 3600 * NS_PER_S);
    hbeat_clock_free(clock);

    assert_int_equal(hbeat_fake_clock_new(&clock, 0, NULL), 0);
    assert_int_equal(hbeat_clock_now_ns(clock), 0);
    hbeat_clock_free(clock);
    assert_int_equal(hbeat_fake_clock_new(NULL, 0, &err), HBEAT_EINVAL);
    assert_true(err.message[0] != '\0');
}

static void test_no_waiters_without_a_loop(void **state)
{
    (void)state;
    hbeat_clock *clock = t_fake_clock();
    assert_int_equal(hbeat_fake_clock_waiters(clock), 0);
    assert_int_equal(hbeat_fake_clock_wait_waiters(clock, 0, 0.0), 0);
    /* The timeout itself is what is tested here. */
    assert_int_equal(hbeat_fake_clock_wait_waiters(clock, 1, 0.01), HBEAT_ETIMEDOUT);
    hbeat_clock_free(clock);
}

static void test_a_sleeping_loop_is_a_waiter(void **state)
{
    (void)state;
    hbeat_clock *clock = t_fake_clock();
    hbeat_gateway *gw = t_fake_gateway(clock, 0);
    hbeat_service *a = t_service(gw, clock, 1, 30, 3.1, 5);
    hbeat_service *b = t_service(gw, clock, 2, 30, 3.1, 5);

    assert_int_equal(hbeat_service_start(a, NULL), 0);
    assert_int_equal(hbeat_fake_clock_wait_waiters(clock, 1, T_TIMEOUT), 0);
    assert_int_equal(hbeat_fake_clock_waiters(clock), 1);
    assert_int_equal(hbeat_service_start(b, NULL), 0);
    assert_int_equal(hbeat_fake_clock_wait_waiters(clock, 2, T_TIMEOUT), 0);
    assert_int_equal(hbeat_fake_clock_waiters(clock), 2);

    /* Advancing wakes both; both beat at their due time and sleep again. */
    assert_int_equal(hbeat_fake_clock_advance(clock, 30 * NS_PER_S), 0);
    t_wait_calls(gw, 2);
    assert_int_equal(hbeat_fake_clock_wait_waiters(clock, 2, T_TIMEOUT), 0);

    assert_int_equal(hbeat_service_stop(a, NULL), 0);
    assert_int_equal(hbeat_fake_clock_waiters(clock), 1);
    assert_int_equal(hbeat_service_stop(b, NULL), 0);
    assert_int_equal(hbeat_fake_clock_waiters(clock), 0);

    hbeat_service_free(a);
    hbeat_service_free(b);
    hbeat_gateway_free(gw);
    hbeat_clock_free(clock);
}

typedef struct starter {
    hbeat_service *svc;
    int rc;
} starter;

static void *start_later(void *arg)
{
    starter *s = arg;
    s->rc = hbeat_service_start(s->svc, NULL);
    return NULL;
}

static void test_wait_waiters_wakes_when_a_loop_goes_to_sleep(void **state)
{
    (void)state;
    hbeat_clock *clock = t_fake_clock();
    hbeat_gateway *gw = t_fake_gateway(clock, 0);
    hbeat_service *svc = t_service(gw, clock, 1, 30, 3.1, 5);
    starter s = {svc, 1};
    pthread_t th = t_thread(start_later, &s);
    assert_int_equal(hbeat_fake_clock_wait_waiters(clock, 1, T_TIMEOUT), 0);
    t_join(th);
    assert_int_equal(s.rc, 0);
    assert_int_equal(hbeat_service_stop(svc, NULL), 0);
    hbeat_service_free(svc);
    hbeat_gateway_free(gw);
    hbeat_clock_free(clock);
}

static void test_not_a_fake_clock_is_refused(void **state)
{
    (void)state;
    hbeat_clock *sys = hbeat_clock_system();
    assert_non_null(sys);
    assert_int_equal(hbeat_fake_clock_advance(sys, 1), HBEAT_EINVAL);
    assert_int_equal(hbeat_fake_clock_waiters(sys), HBEAT_EINVAL);
    assert_int_equal(hbeat_fake_clock_wait_waiters(sys, 1, 0.0), HBEAT_EINVAL);
    assert_int_equal(hbeat_fake_clock_advance(NULL, 1), HBEAT_EINVAL);
    assert_int_equal(hbeat_fake_clock_waiters(NULL), HBEAT_EINVAL);
    assert_int_equal(hbeat_fake_clock_wait_waiters(NULL, 1, 0.0), HBEAT_EINVAL);
}

static void test_system_clock(void **state)
{
    (void)state;
    hbeat_clock *sys = hbeat_clock_system();
    assert_true(sys == hbeat_clock_system());
    int64_t a = hbeat_clock_now_ns(sys);
    int64_t b = hbeat_clock_now_ns(sys);
    assert_true(b >= a);
    assert_true(a > 0);
    /* Freeing it is a no-op; it keeps working. */
    hbeat_clock_free(sys);
    hbeat_clock_free(NULL);
    assert_true(hbeat_clock_now_ns(hbeat_clock_system()) >= b);
}

/* ---- a user's clock ----------------------------------------------------- */

typedef struct my_clock {
    int64_t now;
    int destroyed;
} my_clock;

static int64_t my_now(void *self)
{
    return ((my_clock *)self)->now;
}

static void my_destroy(void *self)
{
    ((my_clock *)self)->destroyed++;
}

static int my_watch(void *self, hbeat_clock_wake_fn wake, void *arg)
{
    (void)self;
    (void)wake;
    (void)arg;
    return 0;
}

static void my_unwatch(void *self, hbeat_clock_wake_fn wake, void *arg)
{
    (void)self;
    (void)wake;
    (void)arg;
}

static void test_user_clock(void **state)
{
    (void)state;
    static const hbeat_clock_vtable vt = {
        .version = HBEAT_CLOCK_VTABLE_VERSION, .now_ns = my_now, .destroy = my_destroy};
    my_clock mine = {.now = 77};
    hbeat_clock *clock = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_clock_new(&clock, &vt, &mine, &err), 0);
    assert_int_equal(hbeat_clock_now_ns(clock), 77);

    /* A service on it reads it for its timer. */
    hbeat_gateway *gw = t_fake_gateway(NULL, 0);
    hbeat_service *svc = t_service(gw, clock, 1, 10, 1.5, 5);
    assert_int_equal(hbeat_service_last_heartbeat_ns(svc), 77);
    mine.now = 77 + 10 * NS_PER_S;
    assert_int_equal(hbeat_service_is_heartbeat_due(svc), 1);
    hbeat_service_free(svc);
    hbeat_gateway_free(gw);

    hbeat_clock_free(clock);
    assert_int_equal(mine.destroyed, 1);
}

static void test_user_clock_is_checked(void **state)
{
    (void)state;
    my_clock mine = {0};
    hbeat_clock *clock = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;

    hbeat_clock_vtable vt = {.version = 0, .now_ns = my_now, .destroy = my_destroy};
    assert_int_equal(hbeat_clock_new(&clock, &vt, &mine, &err), HBEAT_EVERSION);
    assert_true(err.message[0] != '\0');
    vt.version = HBEAT_CLOCK_VTABLE_VERSION + 1;
    assert_int_equal(hbeat_clock_new(&clock, &vt, &mine, &err), HBEAT_EVERSION);
    vt.version = HBEAT_CLOCK_VTABLE_VERSION;
    vt.now_ns = NULL;
    assert_int_equal(hbeat_clock_new(&clock, &vt, &mine, &err), HBEAT_EINVAL);
    vt.now_ns = my_now;
    /* watch and unwatch come as a pair. */
    vt.watch = my_watch;
    assert_int_equal(hbeat_clock_new(&clock, &vt, &mine, &err), HBEAT_EINVAL);
    vt.watch = NULL;
    vt.unwatch = my_unwatch;
    assert_int_equal(hbeat_clock_new(&clock, &vt, &mine, &err), HBEAT_EINVAL);
    assert_int_equal(hbeat_clock_new(&clock, NULL, &mine, &err), HBEAT_EINVAL);
    vt.watch = my_watch;
    assert_int_equal(hbeat_clock_new(NULL, &vt, &mine, &err), HBEAT_EINVAL);
    /* A refused clock was not taken: destroy never ran. */
    assert_int_equal(mine.destroyed, 0);
    /* Not a fake: the fake's calls refuse it. */
    assert_int_equal(hbeat_clock_new(&clock, &vt, &mine, &err), 0);
    assert_int_equal(hbeat_fake_clock_advance(clock, 1), HBEAT_EINVAL);
    hbeat_clock_free(clock);
    assert_int_equal(mine.destroyed, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_its_start_until_advanced),
        cmocka_unit_test(test_no_waiters_without_a_loop),
        cmocka_unit_test(test_a_sleeping_loop_is_a_waiter),
        cmocka_unit_test(test_wait_waiters_wakes_when_a_loop_goes_to_sleep),
        cmocka_unit_test(test_not_a_fake_clock_is_refused),
        cmocka_unit_test(test_system_clock),
        cmocka_unit_test(test_user_clock),
        cmocka_unit_test(test_user_clock_is_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
