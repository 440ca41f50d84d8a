/* Sleeping until a moment on any clock, or until a stop event is set. */
#ifndef HBEAT_CORE_WAIT_H
#define HBEAT_CORE_WAIT_H

#include <stdint.h>

#include "hbeat/clock.h"
#include "hbeat/stop_event.h"

/* Wait until `deadline_ns` on `clock` or until `stop` is set.
   Returns 1 when stopped, 0 when the deadline was reached. */
int hbeat__wait_until(hbeat_clock *clock, hbeat_stop_event *stop, int64_t deadline_ns);

#endif
