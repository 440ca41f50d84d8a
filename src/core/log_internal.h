/* The library's own messages, routed through hbeat_log_set_handler(). */
#ifndef HBEAT_CORE_LOG_INTERNAL_H
#define HBEAT_CORE_LOG_INTERNAL_H

#include "hbeat/log.h"

void hbeat__log(hbeat_log_level level, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
