/* The stop event's insides, shared with the wait primitive. */
#ifndef HBEAT_CORE_STOP_EVENT_INTERNAL_H
#define HBEAT_CORE_STOP_EVENT_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "hbeat/stop_event.h"

struct hbeat_stop_event {
    pthread_mutex_t mu;
    /* Signalled on set, and by a watched clock whenever its time moves. */
    pthread_cond_t cond; /* on CLOCK_MONOTONIC */
    int set;
    /* Counts hbeat__wake() calls, so that a waiter can tell that a wake-up
       came between its registration with a clock and its going to sleep. */
    unsigned int wakes;
};

/* Initialise a condition variable that times out on CLOCK_MONOTONIC. */
int hbeat__cond_init_monotonic(pthread_cond_t *cond);

/* The CLOCK_MONOTONIC moment `seconds` from now, for a timed wait; negative
   or NaN counts as 0, and far futures are cut to 10^9 seconds (31 years) so
   that the arithmetic cannot overflow. */
struct timespec hbeat__deadline_in(double seconds);

/* Absolute CLOCK_MONOTONIC time `ns` as a timespec. */
struct timespec hbeat__timespec_from_ns(int64_t ns);

#endif
