/**
 * @file sys/clock.h
 * @brief For those who inject their own clock: the clock method table.
 *
 * The system clock and the fake clock (hbeat/sys/fake.h) cover most needs.
 * A clock that moves by itself in real time needs only now_ns. A clock that
 * jumps when told (like the fake one) must also offer watch/unwatch, so that
 * a loop waiting on it wakes when time moves instead of sleeping in real
 * time.
 */
#ifndef HBEAT_SYS_CLOCK_H
#define HBEAT_SYS_CLOCK_H

#include <stdint.h>

#include "hbeat/clock.h"
#include "hbeat/common.h"
#include "hbeat/errors.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Version 1 of hbeat_clock_vtable. */
#define HBEAT_CLOCK_VTABLE_VERSION 1

/** Called by a watchable clock whenever its time moves. */
typedef void (*hbeat_clock_wake_fn)(void *arg);

/** The method table of a clock. */
typedef struct hbeat_clock_vtable {
    /** HBEAT_CLOCK_VTABLE_VERSION. */
    unsigned int version;
    /** Required. Monotonic time in nanoseconds; thread-safe. */
    int64_t (*now_ns)(void *self);
    /**
     * Optional, with unwatch. Register a one-shot wake-up: at the next change
     * of time the clock forgets the registration and calls @p wake(@p arg).
     * Wakes run under the clock's own lock, so they must not call the clock.
     */
    int (*watch)(void *self, hbeat_clock_wake_fn wake, void *arg);
    /**
     * Optional, with watch. Drop a registration if it is still there; after
     * it returns, @p wake is not running and will not be called for it.
     */
    void (*unwatch)(void *self, hbeat_clock_wake_fn wake, void *arg);
    /** Optional. Release @p self. */
    void (*destroy)(void *self);
} hbeat_clock_vtable;

/**
 * @brief Wrap a clock implementation; the handle owns @p self on success.
 * @return 0, HBEAT_EINVAL, HBEAT_EVERSION or HBEAT_ENOMEM.
 */
HBEAT_API int hbeat_clock_new(hbeat_clock **out, const hbeat_clock_vtable *vtable, void *self,
                              hbeat_error *err);

#ifdef __cplusplus
}
#endif

#endif /* HBEAT_SYS_CLOCK_H */
