/*
 * Each line is formatted into one buffer and written with one fputs, so
 * lines from different threads do not interleave (stdio locks the stream
 * per call).
 */
#define _POSIX_C_SOURCE 200809L

#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static atomic_int min_level = HBEAT_LOG_INFO;

static const char *const names[] = {"debug", "info", "warn", "error"};

void hbd_log_set_level(hbeat_log_level level)
{
    atomic_store(&min_level, (int)level);
}

int hbd_log_parse_level(const char *name)
{
    for (int i = 0; name != NULL && i < 4; i++) {
        if (strcmp(name, names[i]) == 0)
            return i;
    }
    return -1;
}

void hbd_log(hbeat_log_level level, const char *fmt, ...)
{
    if ((int)level < atomic_load(&min_level) || (int)level < 0 || (int)level > 3)
        return;
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char line[1024];
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ hbeatd %-5s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000L, names[level]);
    if (n < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    /* Messages may quote network input: keep each to one printable line. */
    for (char *p = line + n; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
            *p = '?';
    }
    strcat(line, "\n");
    fputs(line, stderr);
}
