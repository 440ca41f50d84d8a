/**
 * @file stop_event.h
 * @brief A one-way flag that asks a heartbeat loop to stop; set it from any
 *        thread (a signal handler excepted).
 */
#ifndef HBEAT_STOP_EVENT_H
#define HBEAT_STOP_EVENT_H

#include "hbeat/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The stop event. Opaque; every call on it is thread-safe. */
typedef struct hbeat_stop_event hbeat_stop_event;

/**
 * @brief Make a stop event, not set.
 *
 * On success *out is owned by the caller: free it with
 * hbeat_stop_event_free() once no loop waits on it.
 * @return 0, HBEAT_EINVAL for a NULL @p out, HBEAT_ENOMEM or HBEAT_ESYSTEM.
 */
HBEAT_API int hbeat_stop_event_new(hbeat_stop_event **out);

/** @brief Free the event. NULL is a no-op. */
HBEAT_API void hbeat_stop_event_free(hbeat_stop_event *event);

/** @brief Set the event and wake everything waiting on it. NULL is a no-op. */
HBEAT_API void hbeat_stop_event_set(hbeat_stop_event *event);

/** @brief Clear the event so that it can be used again. NULL is a no-op. */
HBEAT_API void hbeat_stop_event_clear(hbeat_stop_event *event);

/** @brief 1 when the event is set, else 0 (also for NULL). */
HBEAT_API int hbeat_stop_event_is_set(hbeat_stop_event *event);

/**
 * @brief Wait on the system's monotonic clock until the event is set or
 *        @p timeout_seconds pass.
 *
 * A negative or NaN timeout is treated as 0; +INFINITY waits for good.
 * @return 1 when the event is set, 0 on timeout, HBEAT_EINVAL for NULL.
 */
HBEAT_API int hbeat_stop_event_wait(hbeat_stop_event *event, double timeout_seconds);

#ifdef __cplusplus
}
#endif

#endif /* HBEAT_STOP_EVENT_H */
