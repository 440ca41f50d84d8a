/*
 * Rate-limited log lines (src/server/log/log_limit.c) on an injected clock:
 * a burst passes, then one line per interval; what was left out is counted
 * and told once, before the site's next line or by the periodic flush;
 * sites do not share a bucket; many threads on one site lose no count.
 * This test brings its own hbd_log, which records the lines.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"

#define MAX_LINES 256

static pthread_mutex_t lines_mu = PTHREAD_MUTEX_INITIALIZER;
static char lines[MAX_LINES][256];
static hbeat_log_level levels[MAX_LINES];
static int nlines;

void hbd_log(hbeat_log_level level, const char *fmt, ...)
{
    pthread_mutex_lock(&lines_mu);
    if (nlines < MAX_LINES) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(lines[nlines], sizeof lines[0], fmt, ap);
        va_end(ap);
        levels[nlines] = level;
    }
    nlines++;
    pthread_mutex_unlock(&lines_mu);
}

static double fake_now;

static double fake_clock(void)
{
    return fake_now;
}

static int setup(void **state)
{
    (void)state;
    nlines = 0;
    fake_now = 1000.0;
    hbd_log_limit_configure(0, 0);
    hbd_log_limit_set_clock(fake_clock);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hbd_log_limit_set_clock(NULL);
    return 0;
}

/* One call site, so that every call shares its bucket. */
static void bad_request(int i)
{
    hbd_warn_limited("rest: refused request", "rest: GET /x%d: 400 bad request", i);
}

static void other_site(int i)
{
    hbd_warn_limited("nng: refused request", "nng: bad request %d", i);
}

static void test_burst_then_one_line_per_interval(void **state)
{
    (void)state;
    for (int i = 0; i < 1000; i++)
        bad_request(i);
    /* The burst, in order; the other 990 are counted, not written. */
    assert_int_equal(nlines, HBD_LOG_BURST);
    assert_string_equal(lines[0], "rest: GET /x0: 400 bad request");
    assert_string_equal(lines[HBD_LOG_BURST - 1], "rest: GET /x9: 400 bad request");
    assert_int_equal(levels[0], HBEAT_LOG_WARN);

    /* Not yet a whole interval: still quiet. */
    fake_now += HBD_LOG_INTERVAL_S * 0.9;
    bad_request(1000);
    assert_int_equal(nlines, HBD_LOG_BURST);

    /* One interval on: the count of what was left out, then the line. */
    fake_now += HBD_LOG_INTERVAL_S * 0.1;
    bad_request(1001);
    assert_int_equal(nlines, HBD_LOG_BURST + 2);
    assert_string_equal(lines[HBD_LOG_BURST],
                        "rest: refused request: 991 similar lines suppressed in the last 5.0 s");
    assert_int_equal(levels[HBD_LOG_BURST], HBEAT_LOG_WARN);
    assert_string_equal(lines[HBD_LOG_BURST + 1], "rest: GET /x1001: 400 bad request");
}

static void test_a_flood_writes_a_bounded_number_of_lines(void **state)
{
    (void)state;
    /* 400,000 bad requests over 100 s, the main loop flushing 5 times a
       second: a handful of lines, and every request accounted for. */
    unsigned long told = 0;
    for (int i = 0; i < 400000; i++) {
        fake_now += 100.0 / 400000;
        bad_request(i);
        if (i % 800 == 0)
            hbd_log_flush_suppressed();
    }
    fake_now += 2 * HBD_LOG_INTERVAL_S;
    hbd_log_flush_suppressed();
    int written = 0;
    for (int i = 0; i < nlines && i < MAX_LINES; i++) {
        unsigned long n;
        if (sscanf(lines[i], "rest: refused request: %lu similar", &n) == 1)
            told += n;
        else
            written++;
    }
    assert_true(nlines < MAX_LINES);
    /* The burst and one line per interval at most. */
    assert_true(written <= HBD_LOG_BURST + (int)(100 / HBD_LOG_INTERVAL_S) + 1);
    assert_int_equal(told + (unsigned long)written, 400000);
}

static void test_flush_tells_the_end_of_a_flood(void **state)
{
    (void)state;
    for (int i = 0; i < 25; i++)
        bad_request(i);
    assert_int_equal(nlines, HBD_LOG_BURST);
    /* Too early for the flush. */
    fake_now += HBD_LOG_INTERVAL_S / 2;
    hbd_log_flush_suppressed();
    assert_int_equal(nlines, HBD_LOG_BURST);
    fake_now += HBD_LOG_INTERVAL_S / 2;
    hbd_log_flush_suppressed();
    assert_int_equal(nlines, HBD_LOG_BURST + 1);
    assert_string_equal(lines[HBD_LOG_BURST],
                        "rest: refused request: 15 similar lines suppressed in the last 5.0 s");
    /* Told once. */
    fake_now += 100;
    hbd_log_flush_suppressed();
    assert_int_equal(nlines, HBD_LOG_BURST + 1);
    /* And after a quiet spell the bucket is full again. */
    for (int i = 0; i < HBD_LOG_BURST; i++)
        bad_request(i);
    assert_int_equal(nlines, 2 * HBD_LOG_BURST + 1);
}

static void test_sites_have_buckets_of_their_own(void **state)
{
    (void)state;
    for (int i = 0; i < 100; i++)
        bad_request(i);
    /* Another site is not silenced by the first one's flood. */
    other_site(1);
    assert_int_equal(nlines, HBD_LOG_BURST + 1);
    assert_string_equal(lines[HBD_LOG_BURST], "nng: bad request 1");
}

static void test_levels_are_kept(void **state)
{
    (void)state;
    for (int i = 0; i < 2 * HBD_LOG_BURST; i++)
        hbd_error_limited("rest: engine failed", "rest: engine failed %d", i);
    fake_now += HBD_LOG_INTERVAL_S;
    hbd_log_flush_suppressed();
    assert_int_equal(nlines, HBD_LOG_BURST + 1);
    assert_int_equal(levels[0], HBEAT_LOG_ERROR);
    assert_int_equal(levels[HBD_LOG_BURST], HBEAT_LOG_ERROR);
    assert_non_null(strstr(lines[HBD_LOG_BURST], "10 similar lines suppressed"));
}

static void *hammer(void *arg)
{
    (void)arg;
    for (int i = 0; i < 20000; i++)
        bad_request(i);
    return NULL;
}

static void test_threads_lose_no_count(void **state)
{
    (void)state;
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, NULL), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    fake_now += HBD_LOG_INTERVAL_S;
    hbd_log_flush_suppressed();
    assert_int_equal(nlines, HBD_LOG_BURST + 1);
    char want[128];
    snprintf(want, sizeof want, "rest: refused request: %d similar lines suppressed",
             4 * 20000 - HBD_LOG_BURST);
    assert_non_null(strstr(lines[HBD_LOG_BURST], want));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_burst_then_one_line_per_interval, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_flood_writes_a_bounded_number_of_lines, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_flush_tells_the_end_of_a_flood, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sites_have_buckets_of_their_own, setup, teardown),
        cmocka_unit_test_setup_teardown(test_levels_are_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads_lose_no_count, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
