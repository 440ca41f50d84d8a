/**
 * @file log.h
 * @brief Route hbeat's own messages into the application's logging.
 */
#ifndef HBEAT_LOG_H
#define HBEAT_LOG_H

#include "hbeat/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Message levels, most verbose first. */
typedef enum hbeat_log_level {
    HBEAT_LOG_DEBUG = 0,
    HBEAT_LOG_INFO = 1,
    HBEAT_LOG_WARN = 2,
    HBEAT_LOG_ERROR = 3
} hbeat_log_level;

/**
 * @brief Receives one message. May be called from any thread, also
 *        concurrently; @p message is valid for the call only.
 */
typedef void (*hbeat_log_fn)(void *arg, hbeat_log_level level, const char *message);

/**
 * @brief Send the library's messages at @p min_level and above to @p fn.
 *
 * NULL @p fn restores the default, which writes warnings and errors to
 * stderr. Thread-safe; takes effect for messages logged after it returns.
 */
HBEAT_API void hbeat_log_set_handler(hbeat_log_fn fn, void *arg, hbeat_log_level min_level);

#ifdef __cplusplus
}
#endif

#endif /* HBEAT_LOG_H */
