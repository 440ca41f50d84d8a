/**
 * @file clock.h
 * @brief The monotonic clock that schedules beats; the system's, or one
 *        injected for tests (see hbeat/sys/fake.h and hbeat/sys/clock.h).
 */
#ifndef HBEAT_CLOCK_H
#define HBEAT_CLOCK_H

#include <stdint.h>

#include "hbeat/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A monotonic clock. Opaque; thread-safe. */
typedef struct hbeat_clock hbeat_clock;

/**
 * @brief The system's monotonic clock (CLOCK_MONOTONIC).
 *
 * A process-wide object owned by the library: never free it (freeing it is
 * a no-op all the same).
 */
HBEAT_API hbeat_clock *hbeat_clock_system(void);

/** @brief Now on @p clock, in nanoseconds from the clock's own origin. */
HBEAT_API int64_t hbeat_clock_now_ns(hbeat_clock *clock);

/**
 * @brief Free a clock made with hbeat_clock_new() or a fake clock.
 *
 * NULL and the system clock are no-ops. Nothing may use the clock any more:
 * free the services that use it first.
 */
HBEAT_API void hbeat_clock_free(hbeat_clock *clock);

#ifdef __cplusplus
}
#endif

#endif /* HBEAT_CLOCK_H */
