/*
 * hbeatd's log: one line per message on stderr, with a UTC time and level,
 * from any thread. The level is set once at start-up.
 */
#ifndef HBD_LOG_H
#define HBD_LOG_H

#include "hbeat/log.h"

void hbd_log_set_level(hbeat_log_level level);
/* "debug", "info", "warn", "error" -> level; -1 when unknown. */
int hbd_log_parse_level(const char *name);
void hbd_log(hbeat_log_level level, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#define hbd_debug(...) hbd_log(HBEAT_LOG_DEBUG, __VA_ARGS__)
#define hbd_info(...)  hbd_log(HBEAT_LOG_INFO, __VA_ARGS__)
#define hbd_warn(...)  hbd_log(HBEAT_LOG_WARN, __VA_ARGS__)
#define hbd_error(...) hbd_log(HBEAT_LOG_ERROR, __VA_ARGS__)

#endif /* HBD_LOG_H */
