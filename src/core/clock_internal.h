/* What the core needs to know of a clock beyond the public calls. */
#ifndef HBEAT_CORE_CLOCK_INTERNAL_H
#define HBEAT_CORE_CLOCK_INTERNAL_H

#include "hbeat/sys/clock.h"

struct hbeat_clock {
    const hbeat_clock_vtable *vtable;
    void *self;
};

/* 1 when the clock moves only when told and announces it (watch/unwatch). */
int hbeat__clock_is_watchable(const hbeat_clock *clock);
int hbeat__clock_watch(hbeat_clock *clock, hbeat_clock_wake_fn wake, void *arg);
void hbeat__clock_unwatch(hbeat_clock *clock, hbeat_clock_wake_fn wake, void *arg);

/* The implementation behind `clock` when it uses `vtable`, else NULL. */
void *hbeat__clock_impl(const hbeat_clock *clock, const hbeat_clock_vtable *vtable);

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t hbeat__monotonic_ns(void);

#endif
