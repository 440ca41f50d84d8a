/*
 * Every read is one slewing step: the monotonic time since the last read
 * moves the clock, and the wall clock may pull it by at most a fraction of
 * that. The state is the last read; nothing runs in between, so a clock
 * read seldom slews seldom but by as much.
 */
#define _POSIX_C_SOURCE 200809L

#include "wallclock.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"

struct hbd_wallclock {
    pthread_mutex_t mu;
    hbd_clock_fn mono, wall;
    void *mono_arg, *wall_arg;
    double max_fast, max_slow, log_step;
    double last_mono; /* the monotonic clock at the last read */
    double now;       /* this clock at the last read */
    double offset;    /* wall - now at the last read */
    int apart;        /* a step was logged and the clocks do not agree yet */
};

static double read_clock(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double system_mono(void *arg)
{
    (void)arg;
    return read_clock(CLOCK_MONOTONIC);
}

static double system_wall(void *arg)
{
    (void)arg;
    return read_clock(CLOCK_REALTIME);
}

static int rate_ok(double r, double max)
{
    return isfinite(r) && r >= 0 && r < max;
}

int hbd_wallclock_new(hbd_wallclock **out, const hbd_wallclock_options *opts, hbeat_error *err)
{
    *out = NULL;
    hbd_wallclock_options o = {0};
    if (opts != NULL)
        o = *opts;
    if (!rate_ok(o.max_fast, 1) || !rate_ok(o.max_slow, 1) || !rate_ok(o.log_step, INFINITY))
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "clock: slew rates must be in [0, 1) and the log step >= 0");
    hbd_wallclock *c = calloc(1, sizeof *c);
    if (c == NULL)
        return hbeat_error_set(err, HBEAT_ENOMEM, "clock: out of memory");
    pthread_mutex_init(&c->mu, NULL);
    c->mono = o.mono != NULL ? o.mono : system_mono;
    c->mono_arg = o.mono_arg;
    c->wall = o.wall != NULL ? o.wall : system_wall;
    c->wall_arg = o.wall_arg;
    c->max_fast = o.max_fast > 0 ? o.max_fast : HBD_WALLCLOCK_MAX_FAST;
    c->max_slow = o.max_slow > 0 ? o.max_slow : HBD_WALLCLOCK_MAX_SLOW;
    c->log_step = o.log_step > 0 ? o.log_step : HBD_WALLCLOCK_LOG_STEP;
    c->last_mono = c->mono(c->mono_arg);
    c->now = c->wall(c->wall_arg);
    *out = c;
    return 0;
}

void hbd_wallclock_free(hbd_wallclock *c)
{
    if (c == NULL)
        return;
    pthread_mutex_destroy(&c->mu);
    free(c);
}

double hbd_wallclock_now(void *arg)
{
    hbd_wallclock *c = arg;
    pthread_mutex_lock(&c->mu);
    double mono = c->mono(c->mono_arg);
    double wall = c->wall(c->wall_arg);
    double elapsed = mono - c->last_mono;
    /* An injected clock might stand, run back or read NaN: time stands. */
    if (elapsed > 0)
        c->last_mono = mono;
    else
        elapsed = 0;
    double guess = c->now + elapsed;
    /* A wall clock that cannot be read tells nothing new. */
    double behind = isfinite(wall) ? wall - guess : c->offset;
    /* How far the wall clock ran away from the monotonic one since the
       last read: zero but for a step (both are slewed alike by NTP). */
    double step = behind - c->offset;
    double pull = behind;
    if (pull > c->max_fast * elapsed)
        pull = c->max_fast * elapsed;
    else if (pull < -c->max_slow * elapsed)
        pull = -c->max_slow * elapsed;
    c->now = guess + pull;
    c->offset = behind - pull;
    double now = c->now, offset = c->offset;
    int stepped = fabs(step) > c->log_step;
    int in_step = !stepped && c->apart && offset == 0;
    if (stepped)
        c->apart = offset != 0;
    else if (in_step)
        c->apart = 0;
    pthread_mutex_unlock(&c->mu);

    double rate = offset > 0 ? c->max_fast : c->max_slow;
    if (stepped && offset != 0)
        hbd_warn("the wall clock moved %+.3f s against the monotonic clock; deadlines and the "
                 "reaper keep monotonic time and %s at most %g s per s (%.3f s apart, in step "
                 "in about %.0f s)",
                 step, offset > 0 ? "catch up" : "fall back", rate, fabs(offset),
                 fabs(offset) / rate);
    else if (stepped)
        hbd_warn("the wall clock moved %+.3f s against the monotonic clock in %.3f s; "
                 "deadlines and the reaper followed it within the slew limit",
                 step, elapsed);
    else if (in_step)
        hbd_info("deadlines and the reaper are in step with the wall clock again");
    return now;
}

double hbd_wallclock_offset(hbd_wallclock *c)
{
    pthread_mutex_lock(&c->mu);
    double offset = c->offset;
    pthread_mutex_unlock(&c->mu);
    return offset;
}
