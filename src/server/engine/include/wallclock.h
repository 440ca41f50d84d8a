/*
 * The engine's clock: Unix seconds that advance with the monotonic clock.
 *
 * Deadlines are stored and shown as wall-clock times, because they must
 * survive a restart and mean something to an operator. But a step of the
 * wall clock (date -s, a first NTP sync, a VM restored from a snapshot)
 * must not move them: read raw, a +60 s step reaps every run within 60 s
 * of its deadline at once, and a -3600 s step holds the reaper off for an
 * hour. So this clock starts at the wall time read when it is created and
 * from then on advances by the monotonic time elapsed. It follows the wall
 * clock only by slewing: at most max_fast seconds faster or max_slow
 * seconds slower per second of monotonic time, never backwards. The wall
 * clock running away from the monotonic clock by more than log_step
 * seconds between two reads is logged once (a warning), and so is the
 * moment the two agree again (info).
 *
 * Catching up on a forward step is slow on purpose: a healthy client beats
 * every interval and announces interval * report_by_buffer, so it survives
 * the catch-up as long as report_by_buffer > 1 + max_fast (Jobmon's
 * default is 3.1). Falling back after a backward step only makes the
 * reaper late, by at most max_slow / (1 - max_slow) of a deadline, so it
 * may be quicker.
 *
 * Thread-safe.
 */
#ifndef HBD_WALLCLOCK_H
#define HBD_WALLCLOCK_H

#include "hbeat/errors.h"

/* A raw clock in seconds. */
typedef double (*hbd_clock_fn)(void *arg);

/* Defaults: 5% faster to catch up (a 60 s step in 20 min), 20% slower to
   fall back (an hour's step in 5 h), and steps of more than half a second
   are logged. */
#define HBD_WALLCLOCK_MAX_FAST 0.05
#define HBD_WALLCLOCK_MAX_SLOW 0.2
#define HBD_WALLCLOCK_LOG_STEP 0.5

typedef struct hbd_wallclock_options {
    /* Never steps; any epoch. NULL: CLOCK_MONOTONIC. */
    hbd_clock_fn mono;
    void *mono_arg;
    /* Unix seconds; may step. NULL: CLOCK_REALTIME. */
    hbd_clock_fn wall;
    void *wall_arg;
    /* Fractions of a second per second, in [0, 1) for max_slow; 0 takes
       the default. */
    double max_fast;
    double max_slow;
    /* Seconds; 0 takes the default. */
    double log_step;
} hbd_wallclock_options;

typedef struct hbd_wallclock hbd_wallclock;

/* opts may be NULL (all defaults). Reads both clocks once: the clock starts
   at the wall time. HBEAT_EINVAL for a rate out of range. */
int hbd_wallclock_new(hbd_wallclock **out, const hbd_wallclock_options *opts, hbeat_error *err);
/* NULL is a no-op. */
void hbd_wallclock_free(hbd_wallclock *clock);
/* Now, in Unix seconds; never less than the previous answer. The
   signature is the engine's clock (engine.h): pass the hbd_wallclock as
   arg. */
double hbd_wallclock_now(void *clock);
/* Wall clock minus this clock at the last read: how far it still has to
   slew. */
double hbd_wallclock_offset(hbd_wallclock *clock);

#endif /* HBD_WALLCLOCK_H */
