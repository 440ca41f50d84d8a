/*
 * hbeatd's monotonic time, in one place: now in seconds, a deadline some
 * seconds from now for a timed wait, and a condition variable whose timed
 * waits run on the monotonic clock (a wall-clock step must neither cut a
 * wait short nor stretch it). Header-only, so that every component can use
 * it without a link dependency.
 */
#ifndef HBD_MONOTONIC_H
#define HBD_MONOTONIC_H

#include <math.h>
#include <pthread.h>
#include <time.h>

/* Monotonic seconds. */
static inline double hbd_mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* `t` moved on by `seconds` (>= 0). */
static inline struct timespec hbd_mono_add(struct timespec t, double seconds)
{
    double whole;
    double frac = modf(seconds, &whole);
    t.tv_sec += (time_t)whole;
    t.tv_nsec += (long)(frac * 1e9);
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

/* The monotonic time `seconds` from now, for pthread_cond_timedwait on a
   condition made by hbd_mono_cond_init. */
static inline struct timespec hbd_mono_deadline(double seconds)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return hbd_mono_add(now, seconds);
}

/* A condition variable whose timed waits read the monotonic clock. */
static inline int hbd_mono_cond_init(pthread_cond_t *cond)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(cond, &ca);
    pthread_condattr_destroy(&ca);
    return rc;
}

#endif /* HBD_MONOTONIC_H */
