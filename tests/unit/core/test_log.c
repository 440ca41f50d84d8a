/* hbeat_log_set_handler() routes the library's messages, by level. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support.h"

#define MAXMSG 64

typedef struct captured {
    pthread_mutex_t mu;
    int count;
    hbeat_log_level level[MAXMSG];
    char text[MAXMSG][256];
} captured;

static captured cap = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void capture(void *arg, hbeat_log_level level, const char *message)
{
    captured *c = arg;
    pthread_mutex_lock(&c->mu);
    if (c->count < MAXMSG) {
        c->level[c->count] = level;
        snprintf(c->text[c->count], sizeof c->text[0], "%s", message ? message : "(null)");
    }
    c->count++;
    pthread_mutex_unlock(&c->mu);
}

static void reset_capture(void)
{
    pthread_mutex_lock(&cap.mu);
    cap.count = 0;
    pthread_mutex_unlock(&cap.mu);
}

/* Messages at exactly `level`, and of those, how many contain `needle`. */
static int count_at(hbeat_log_level level, const char *needle, int *with_needle)
{
    int n = 0;
    *with_needle = 0;
    pthread_mutex_lock(&cap.mu);
    for (int i = 0; i < cap.count && i < MAXMSG; i++) {
        if (cap.level[i] == level) {
            n++;
            if (strstr(cap.text[i], needle)) {
                (*with_needle)++;
            }
        }
    }
    pthread_mutex_unlock(&cap.mu);
    return n;
}

static int count_below(hbeat_log_level level)
{
    int n = 0;
    pthread_mutex_lock(&cap.mu);
    for (int i = 0; i < cap.count && i < MAXMSG; i++) {
        if (cap.level[i] < level) {
            n++;
        }
    }
    pthread_mutex_unlock(&cap.mu);
    return n;
}

/* Run a loop that fails `failures` times in a row and then goes fatal
   (max_failures == failures) on the fake clock; returns run()'s result. */
static int failing_loop(unsigned int failures)
{
    hbeat_clock *clock = t_fake_clock();
    hbeat_gateway *gw = t_fake_gateway(clock, 0);
    hbeat_service *svc = t_service(gw, clock, 61, 30, 3.1, failures);
    hbeat_stop_event *stop = NULL;
    assert_int_equal(hbeat_stop_event_new(&stop), 0);
    assert_int_equal(hbeat_fake_gateway_fail(gw, HBEAT_ETRANSPORT, 1, 1, "socket down (test)"), 0);
    t_runner r;
    t_runner_start(&r, svc, stop);
    for (unsigned int k = 1; k <= failures; k++) {
        t_settle(clock);
        assert_int_equal(hbeat_fake_clock_advance(clock, (k == 1 ? 30 : 15) * NS_PER_S), 0);
        t_wait_calls(gw, (int)k);
    }
    int rc = t_runner_join(&r);
    hbeat_stop_event_free(stop);
    hbeat_service_free(svc);
    hbeat_gateway_free(gw);
    hbeat_clock_free(clock);
    return rc;
}

static void test_loop_logs_a_failed_beat_at_warn(void **state)
{
    (void)state;
    reset_capture();
    hbeat_log_set_handler(capture, &cap, HBEAT_LOG_DEBUG);
    assert_int_equal(failing_loop(3), HBEAT_EFATAL);
    hbeat_log_set_handler(NULL, NULL, HBEAT_LOG_WARN);

    int with_text = 0;
    int warns = count_at(HBEAT_LOG_WARN, "socket down (test)", &with_text);
    /* The first two failures are not fatal: each is a warning that says
       what went wrong. */
    if (warns < 2 || with_text < 2) {
        fail_msg("expected >= 2 warnings naming the failure, got %d (%d with the text)", warns,
                 with_text);
    }
}

static void test_min_level_filters(void **state)
{
    (void)state;
    reset_capture();
    hbeat_log_set_handler(capture, &cap, HBEAT_LOG_ERROR);
    assert_int_equal(failing_loop(2), HBEAT_EFATAL);
    hbeat_log_set_handler(NULL, NULL, HBEAT_LOG_WARN);
    assert_int_equal(count_below(HBEAT_LOG_ERROR), 0);
}

static void test_default_handler_restored(void **state)
{
    (void)state;
    hbeat_log_set_handler(capture, &cap, HBEAT_LOG_DEBUG);
    hbeat_log_set_handler(NULL, NULL, HBEAT_LOG_WARN);
    reset_capture();
    /* Goes to stderr now, not to the old handler. */
    assert_int_equal(failing_loop(1), HBEAT_EFATAL);
    pthread_mutex_lock(&cap.mu);
    int n = cap.count;
    pthread_mutex_unlock(&cap.mu);
    assert_int_equal(n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loop_logs_a_failed_beat_at_warn),
        cmocka_unit_test(test_min_level_filters),
        cmocka_unit_test(test_default_handler_restored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
