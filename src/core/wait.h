/* Sleeping until a moment on any clock, until a stop event is set, or until
   a flag is raised by another thread. */
#ifndef HBEAT_CORE_WAIT_H
#define HBEAT_CORE_WAIT_H

#include <stdint.h>

#include "hbeat/clock.h"
#include "hbeat/stop_event.h"

enum { HBEAT__WAIT_DEADLINE = 0, HBEAT__WAIT_STOPPED = 1, HBEAT__WAIT_READY = 2 };

/* Wait until `deadline_ns` on `clock`, until `stop` is set, or until `*ready`
   (read atomically; may be NULL) is non-zero. Whoever raises `*ready` must
   then call hbeat__wake(stop). Returns one of the HBEAT__WAIT_* values. */
int hbeat__wait_until(hbeat_clock *clock, hbeat_stop_event *stop, int64_t deadline_ns,
                      const int *ready);

/* Wake everything waiting on `stop` without setting it. */
void hbeat__wake(hbeat_stop_event *stop);

#endif
