/*
 * The engine's clock (wallclock.h) with a fake monotonic and a fake wall
 * clock: it starts at the wall time, advances with the monotonic clock,
 * slews towards a stepped wall clock within its limits and never runs
 * back; each step is logged once, and so is being in step again.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "log.h"
#include "support/log_capture.h"
#include "wallclock.h"

#define W0 1764280000.0

typedef struct fake {
    double mono, wall;
} fake;

static fake t;
static hbd_wallclock *c;

static double fake_mono(void *arg)
{
    return ((fake *)arg)->mono;
}

static double fake_wall(void *arg)
{
    return ((fake *)arg)->wall;
}

static hbd_wallclock *open_clock(double max_fast, double max_slow)
{
    hbd_wallclock_options o = {0};
    o.mono = fake_mono;
    o.mono_arg = &t;
    o.wall = fake_wall;
    o.wall_arg = &t;
    o.max_fast = max_fast;
    o.max_slow = max_slow;
    hbd_wallclock *clock = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbd_wallclock_new(&clock, &o, &err) != 0)
        fail_msg("clock: %s", err.message);
    return clock;
}

static int setup(void **state)
{
    (void)state;
    t.mono = 1234.5; /* any epoch */
    t.wall = W0;
    c = open_clock(0, 0);
    return log_capture_start();
}

static int teardown(void **state)
{
    (void)state;
    free(log_capture_stop());
    hbd_wallclock_free(c);
    c = NULL;
    return 0;
}

/* Both clocks move by `s` seconds; returns the clock's reading. */
static double tick(double s)
{
    t.mono += s;
    t.wall += s;
    return hbd_wallclock_now(c);
}

static void test_follows_the_monotonic_clock(void **state)
{
    (void)state;
    assert_true(hbd_wallclock_now(c) == W0);
    assert_true(tick(10) == W0 + 10);
    assert_true(tick(0.25) == W0 + 10.25);
    assert_true(hbd_wallclock_offset(c) == 0);
    /* Standing still stands still. */
    assert_true(hbd_wallclock_now(c) == W0 + 10.25);
    char *text = log_capture_stop();
    assert_int_equal(log_count(text, "wall clock"), 0);
    free(text);
}

static void test_forward_step_is_slewed(void **state)
{
    (void)state;
    double prev = tick(1);
    t.wall += 60;
    /* At most 5% faster: 60 s take 1200 s to make up. */
    for (int i = 1; i <= 1199; i++) {
        double now = tick(1);
        assert_true(now - prev <= 1.05 + 1e-6);
        assert_true(now - prev >= 1.0 - 1e-6);
        prev = now;
    }
    assert_true(hbd_wallclock_offset(c) > 0.04);
    assert_true(hbd_wallclock_offset(c) < 0.06);
    tick(1);
    tick(1);
    assert_true(hbd_wallclock_offset(c) == 0);
    assert_true(tick(1) == t.wall);
    char *text = log_capture_stop();
    assert_int_equal(log_count(text, "the wall clock moved +60.000 s"), 1);
    assert_int_equal(log_count(text, "catch up at most 0.05 s per s"), 1);
    assert_int_equal(log_count(text, "in step with the wall clock again"), 1);
    free(text);
}

static void test_backward_step_is_slewed(void **state)
{
    (void)state;
    double prev = tick(1);
    t.wall -= 3600;
    /* Never back; at least 80% of the monotonic pace; an hour in 5 h. */
    for (int i = 1; i <= 1799; i++) {
        double now = tick(10);
        assert_true(now - prev >= 8.0 - 1e-6);
        assert_true(now - prev <= 10.0 + 1e-6);
        prev = now;
    }
    assert_true(hbd_wallclock_offset(c) < -1.9);
    tick(10);
    tick(10);
    assert_true(hbd_wallclock_offset(c) == 0);
    char *text = log_capture_stop();
    assert_int_equal(log_count(text, "the wall clock moved -3600.000 s"), 1);
    assert_int_equal(log_count(text, "fall back at most 0.2 s per s"), 1);
    assert_int_equal(log_count(text, "in step with the wall clock again"), 1);
    free(text);
}

/* A read long after a small step makes it up at once, and says so. */
static void test_step_within_the_limit(void **state)
{
    (void)state;
    tick(1);
    t.wall += 2;
    assert_true(tick(100) == t.wall);
    t.wall -= 0.3; /* below the threshold: slewed, not logged */
    assert_true(tick(100) == t.wall);
    char *text = log_capture_stop();
    assert_int_equal(log_count(text, "moved +2.000 s"), 1);
    assert_int_equal(log_count(text, "followed it within the slew limit"), 1);
    assert_int_equal(log_count(text, "wall clock moved"), 1);
    assert_int_equal(log_count(text, "in step with the wall clock again"), 0);
    free(text);
}

/* Whatever the wall clock does: never back, pace within the limits. */
static void test_random_steps_never_run_back(void **state)
{
    (void)state;
    uint32_t x = 12345;
    double prev = hbd_wallclock_now(c);
    for (int i = 0; i < 100000; i++) {
        x = x * 1103515245u + 12345u;
        double dm = (double)(x >> 16 & 0xff) / 16.0;
        t.mono += dm;
        t.wall += dm;
        if ((x & 0x3f) == 0)
            t.wall += ((double)(x >> 8 & 0xffff) - 32768.0) / 8.0; /* up to ±4096 s */
        double now = hbd_wallclock_now(c);
        assert_true(now >= prev);
        assert_true(now - prev >= 0.8 * dm - 1e-6);
        assert_true(now - prev <= 1.05 * dm + 1e-6);
        prev = now;
    }
}

static void test_broken_raw_clocks(void **state)
{
    (void)state;
    double prev = tick(1);
    /* A monotonic clock that runs back: time stands. */
    t.mono -= 50;
    assert_true(hbd_wallclock_now(c) == prev);
    t.mono += 50;
    assert_true(hbd_wallclock_now(c) == prev);
    /* A wall clock that reads NaN is ignored. */
    t.wall = NAN;
    t.mono += 3;
    assert_true(hbd_wallclock_now(c) == prev + 3);
    t.wall = W0 + 4;
    assert_true(hbd_wallclock_now(c) == prev + 3);
}

static void test_options(void **state)
{
    (void)state;
    hbd_wallclock *other = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    hbd_wallclock_options bad[] = {
        {.max_fast = -0.1}, {.max_slow = 1.0}, {.max_fast = NAN}, {.log_step = -1}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(hbd_wallclock_new(&other, &bad[i], &err), HBEAT_EINVAL);
        assert_null(other);
    }
    /* The system's clocks by default. */
    assert_int_equal(hbd_wallclock_new(&other, NULL, &err), 0);
    double a = hbd_wallclock_now(other);
    assert_true(a > 1.7e9);
    assert_true(hbd_wallclock_now(other) >= a);
    hbd_wallclock_free(other);
    hbd_wallclock_free(NULL);

    /* Custom rates: half a second per second catches up 60 s in 120 s. */
    hbd_wallclock_free(c);
    c = open_clock(0.5, 0.5);
    t.wall += 60;
    tick(119);
    assert_true(hbd_wallclock_offset(c) > 0);
    tick(1);
    assert_true(hbd_wallclock_offset(c) == 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    hbd_log_set_level(HBEAT_LOG_INFO);
    const struct CMUnitTest tests[] = {
        T(test_follows_the_monotonic_clock),
        T(test_forward_step_is_slewed),
        T(test_backward_step_is_slewed),
        T(test_step_within_the_limit),
        T(test_random_steps_never_run_back),
        T(test_broken_raw_clocks),
        T(test_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
