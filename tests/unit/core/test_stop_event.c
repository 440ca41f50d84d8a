/* The stop event: set, is_set, clear, wait with a timeout, from threads. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "support.h"

static void test_set_is_set_clear(void **state)
{
    (void)state;
    hbeat_stop_event *ev = NULL;
    assert_int_equal(hbeat_stop_event_new(&ev), 0);
    assert_non_null(ev);
    assert_int_equal(hbeat_stop_event_is_set(ev), 0);
    hbeat_stop_event_set(ev);
    assert_int_equal(hbeat_stop_event_is_set(ev), 1);
    hbeat_stop_event_set(ev); /* setting twice is fine */
    assert_int_equal(hbeat_stop_event_is_set(ev), 1);
    hbeat_stop_event_clear(ev);
    assert_int_equal(hbeat_stop_event_is_set(ev), 0);
    hbeat_stop_event_clear(ev);
    assert_int_equal(hbeat_stop_event_is_set(ev), 0);
    hbeat_stop_event_free(ev);
}

static void test_wait_returns_one_when_set(void **state)
{
    (void)state;
    hbeat_stop_event *ev = NULL;
    assert_int_equal(hbeat_stop_event_new(&ev), 0);
    hbeat_stop_event_set(ev);
    assert_int_equal(hbeat_stop_event_wait(ev, 0.0), 1);
    assert_int_equal(hbeat_stop_event_wait(ev, 10.0), 1);
    assert_int_equal(hbeat_stop_event_wait(ev, INFINITY), 1);
    assert_int_equal(hbeat_stop_event_wait(ev, -1.0), 1);
    assert_int_equal(hbeat_stop_event_wait(ev, NAN), 1);
    /* Waiting does not consume the event. */
    assert_int_equal(hbeat_stop_event_is_set(ev), 1);
    hbeat_stop_event_free(ev);
}

static void test_wait_times_out_with_zero(void **state)
{
    (void)state;
    hbeat_stop_event *ev = NULL;
    assert_int_equal(hbeat_stop_event_new(&ev), 0);
    assert_int_equal(hbeat_stop_event_wait(ev, 0.0), 0);
    /* Negative and NaN count as 0: no wait at all. */
    assert_int_equal(hbeat_stop_event_wait(ev, -5.0), 0);
    assert_int_equal(hbeat_stop_event_wait(ev, -INFINITY), 0);
    assert_int_equal(hbeat_stop_event_wait(ev, NAN), 0);
    /* A short real timeout expires (the timeout is what is tested). */
    assert_int_equal(hbeat_stop_event_wait(ev, 0.01), 0);
    hbeat_stop_event_free(ev);
}

typedef struct waiter {
    hbeat_stop_event *ev;
    double timeout;
    int rc;
} waiter;

static void *wait_on(void *arg)
{
    waiter *w = arg;
    w->rc = hbeat_stop_event_wait(w->ev, w->timeout);
    return NULL;
}

static void test_set_from_another_thread_wakes_waiters(void **state)
{
    (void)state;
    hbeat_stop_event *ev = NULL;
    assert_int_equal(hbeat_stop_event_new(&ev), 0);
    waiter w[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        /* Forever and a long finite wait: only set can end them in time. */
        w[i] = (waiter){ev, (i % 2) ? INFINITY : 3600.0, -1};
        th[i] = t_thread(wait_on, &w[i]);
    }
    hbeat_stop_event_set(ev);
    for (int i = 0; i < 4; i++) {
        t_join(th[i]);
        assert_int_equal(w[i].rc, 1);
    }
    hbeat_stop_event_free(ev);
}

typedef struct setter {
    hbeat_stop_event *ev;
} setter;

static void *set_it(void *arg)
{
    hbeat_stop_event_set(((setter *)arg)->ev);
    return NULL;
}

static void test_waiter_on_main_thread_woken_by_helper(void **state)
{
    (void)state;
    hbeat_stop_event *ev = NULL;
    assert_int_equal(hbeat_stop_event_new(&ev), 0);
    setter s = {ev};
    pthread_t th = t_thread(set_it, &s);
    assert_int_equal(hbeat_stop_event_wait(ev, INFINITY), 1);
    t_join(th);
    hbeat_stop_event_free(ev);
}

static void test_null_safety(void **state)
{
    (void)state;
    assert_int_equal(hbeat_stop_event_new(NULL), HBEAT_EINVAL);
    hbeat_stop_event_free(NULL);
    hbeat_stop_event_set(NULL);
    hbeat_stop_event_clear(NULL);
    assert_int_equal(hbeat_stop_event_is_set(NULL), 0);
    assert_int_equal(hbeat_stop_event_wait(NULL, 0.0), HBEAT_EINVAL);
    assert_int_equal(hbeat_stop_event_wait(NULL, INFINITY), HBEAT_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_is_set_clear),
        cmocka_unit_test(test_wait_returns_one_when_set),
        cmocka_unit_test(test_wait_times_out_with_zero),
        cmocka_unit_test(test_set_from_another_thread_wakes_waiters),
        cmocka_unit_test(test_waiter_on_main_thread_woken_by_helper),
        cmocka_unit_test(test_null_safety),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
