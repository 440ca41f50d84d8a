/*
 * The engine on its own clock (wallclock.h) over a fake monotonic and a
 * fake wall clock, with the wall clock stepped as an operator or NTP
 * would: a +60 s step reaps no healthy run, a -3600 s step does not hold
 * the reaper off, and after a restart deadlines still work from the wall
 * times stored.
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine.h"
#include "log.h"
#include "support/engine_wait.h"
#include "wallclock.h"

#define W0    1764280000.0
#define NRUNS 5
/* A client of the library's defaults: a beat every 10 s announcing
   10 * 3.1 s. */
#define INTERVAL 10.0
#define INC      31.0

typedef struct fake {
    double mono, wall;
} fake;

static fake t;
static char path[64];
static hbd_engine *e;

static double fake_mono(void *arg)
{
    return ((fake *)arg)->mono;
}

static double fake_wall(void *arg)
{
    return ((fake *)arg)->wall;
}

static void open_engine(double grace)
{
    hbd_wallclock_options c = {0};
    c.mono = fake_mono;
    c.mono_arg = &t;
    c.wall = fake_wall;
    c.wall_arg = &t;
    hbd_engine_options o;
    memset(&o, 0, sizeof o);
    o.db_path = path;
    o.reap_interval = 0; /* the test reaps, once a second like --reap-interval 1 */
    o.reap_grace = grace;
    o.wallclock = &c;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbd_engine_open(&e, &o, &err) != 0)
        fail_msg("open: %s", err.message);
}

static int setup(void **state)
{
    (void)state;
    hbd_log_set_level(HBEAT_LOG_ERROR);
    snprintf(path, sizeof path, "/tmp/hbd-engclk-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    close(fd);
    t.mono = 500.0;
    t.wall = W0;
    open_engine(0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hbd_engine_close(e);
    e = NULL;
    char wal[80];
    snprintf(wal, sizeof wal, "%s-wal", path);
    unlink(wal);
    unlink(path);
    return 0;
}

static int64_t create_running(void)
{
    hbd_run r;
    assert_int_equal(hbd_engine_create_run(e, 5, "R", NULL, &r, NULL), 0);
    return r.id;
}

static void beat(int64_t id, double inc)
{
    hbd_run r;
    assert_int_equal(hbd_engine_heartbeat(e, id, "R", inc, &r, NULL), 0);
    assert_string_equal(r.status, "R");
}

static const char *status(int64_t id)
{
    static hbd_run r;
    assert_int_equal(hbd_engine_get_run(e, id, &r, NULL), 0);
    return r.status;
}

static size_t reap(void)
{
    size_t n = 0;
    assert_int_equal(hbd_engine_reap(e, &n, NULL), 0);
    return n;
}

/* One second passes on both clocks. */
static void second(void)
{
    t.mono += 1;
    t.wall += 1;
}

static void test_forward_step_reaps_no_healthy_run(void **state)
{
    (void)state;
    int64_t healthy[NRUNS];
    for (int i = 0; i < NRUNS; i++)
        healthy[i] = create_running();
    int64_t dead = create_running();
    beat(dead, INC);
    long reaped_at = -1;
    /* Ten minutes, the step 5 s in. */
    for (long s = 0; s < 600; s++) {
        if (s % 10 == 0) {
            for (int i = 0; i < NRUNS; i++)
                beat(healthy[i], INC);
        }
        if (s == 5)
            t.wall += 60;
        size_t n = reap();
        if (n > 0) {
            assert_int_equal(n, 1);
            assert_int_equal(reaped_at, -1);
            reaped_at = s;
        }
        second();
    }
    for (int i = 0; i < NRUNS; i++)
        assert_string_equal(status(healthy[i]), "R");
    /* The silent client is still reaped, on the engine's clock: no sooner
       than its window at the catch-up pace (31 s / 1.05), not at the step. */
    assert_string_equal(status(dead), "E");
    assert_true(reaped_at >= 29);
    assert_true(reaped_at <= 32);
}

static void test_backward_step_does_not_hold_off_the_reaper(void **state)
{
    (void)state;
    int64_t healthy = create_running();
    int64_t dead = create_running();
    beat(dead, INC);
    long reaped_at = -1;
    for (long s = 0; s < 600 && reaped_at < 0; s++) {
        if (s % 10 == 0)
            beat(healthy, INC);
        if (s == 5)
            t.wall -= 3600;
        if (reap() > 0)
            reaped_at = s;
        second();
    }
    /* Late by at most a quarter of its window (the clock falls back at
       most 20% slower), not by an hour. */
    assert_string_equal(status(dead), "E");
    assert_true(reaped_at >= 31);
    assert_true(reaped_at <= 5 + (INC - 5) / 0.8 + 1);
    assert_string_equal(status(healthy), "R");
}

static void test_restart_works_from_stored_wall_times(void **state)
{
    (void)state;
    int64_t a = create_running(), b = create_running();
    beat(a, 30);
    beat(b, 30);
    hbd_run before;
    assert_int_equal(hbd_engine_get_run(e, a, &before, NULL), 0);
    assert_true(before.deadline == W0 + 30);
    hbd_engine_close(e);

    /* A reboot: the monotonic clock starts over, the wall clock goes on. */
    t.mono = 3.0;
    t.wall = W0 + 10;
    open_engine(0);
    hbd_run r;
    assert_int_equal(hbd_engine_get_run(e, a, &r, NULL), 0);
    assert_true(r.deadline == W0 + 30);
    assert_int_equal(reap(), 0);
    /* b beats again: its deadline is the wall time now plus its window. */
    beat(b, 30);
    assert_int_equal(hbd_engine_get_run(e, b, &r, NULL), 0);
    assert_true(r.deadline == W0 + 40);
    t.mono += 19.9;
    t.wall += 19.9;
    assert_int_equal(reap(), 0);
    t.mono += 0.2;
    t.wall += 0.2;
    assert_int_equal(reap(), 1);
    assert_string_equal(status(a), "E");
    assert_string_equal(status(b), "R");
}

/* Down for an hour and the wall clock stepped meanwhile: every stored
   deadline has passed, and the start-up grace (one full window) lets the
   live clients beat again before anything is reaped. */
static void test_restart_after_a_step_keeps_the_grace(void **state)
{
    (void)state;
    int64_t live = create_running(), gone = create_running();
    beat(live, 30);
    beat(gone, 30);
    hbd_engine_close(e);
    t.mono = 7.0;
    t.wall = W0 + 3600 + 120;
    open_engine(-1);
    for (int s = 0; s < 29; s++) {
        if (s == 15)
            beat(live, 30);
        assert_int_equal(reap(), 0);
        second();
    }
    second();
    second();
    assert_int_equal(reap(), 1);
    assert_string_equal(status(gone), "E");
    assert_string_equal(status(live), "R");
}

static void test_bad_clock_options(void **state)
{
    (void)state;
    hbd_wallclock_options c = {.max_slow = 1.0};
    hbd_engine_options o;
    memset(&o, 0, sizeof o);
    o.db_path = ":memory:";
    o.wallclock = &c;
    hbd_engine *other = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbd_engine_open(&other, &o, &err), HBEAT_EINVAL);
    assert_null(other);
    assert_non_null(strstr(err.message, "slew"));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_forward_step_reaps_no_healthy_run),
        T(test_backward_step_does_not_hold_off_the_reaper),
        T(test_restart_works_from_stored_wall_times),
        T(test_restart_after_a_step_keeps_the_grace),
        T(test_bad_clock_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
