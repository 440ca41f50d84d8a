#include "core/log_internal.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static hbeat_log_fn log_fn = NULL;
static void *log_arg = NULL;
static hbeat_log_level log_min = HBEAT_LOG_WARN;

void hbeat_log_set_handler(hbeat_log_fn fn, void *arg, hbeat_log_level min_level)
{
    pthread_mutex_lock(&log_mu);
    log_fn = fn;
    log_arg = arg;
    log_min = fn != NULL ? min_level : HBEAT_LOG_WARN;
    pthread_mutex_unlock(&log_mu);
}

static const char *level_name(hbeat_log_level level)
{
    switch (level) {
    case HBEAT_LOG_DEBUG:
        return "debug";
    case HBEAT_LOG_INFO:
        return "info";
    case HBEAT_LOG_WARN:
        return "warning";
    case HBEAT_LOG_ERROR:
        return "error";
    }
    return "?";
}

void hbeat__log(hbeat_log_level level, const char *fmt, ...)
{
    pthread_mutex_lock(&log_mu);
    hbeat_log_fn fn = log_fn;
    void *arg = log_arg;
    hbeat_log_level min = log_min;
    pthread_mutex_unlock(&log_mu);
    if (level < min)
        return;

    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    if (fn != NULL)
        fn(arg, level, message);
    else
        fprintf(stderr, "hbeat: %s: %s\n", level_name(level), message);
}
