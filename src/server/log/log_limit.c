/*
 * Rate-limited log lines (log.h). A refused request used to cost a log
 * line, so 400,000 bad requests wrote 50 MB of log: the log was the
 * cheapest thing to attack. Each call site now has a token bucket: a burst
 * of lines passes (the first ones are what an operator needs to see), then
 * one line per interval, and what was left out is counted and said in one
 * line. Per site rather than global, so that a flood of one kind of
 * request cannot hide the lines of another.
 *
 * One lock for all sites: these lines come from error paths, which the
 * bucket keeps cheap; the lines themselves are written outside it.
 * The text goes out through hbd_log, so a test that provides its own
 * hbd_log sees it too.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "log.h"
#include "monotonic.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static hbd_log_site *sites; /* every site that has logged, for the flush */
static double (*clock_fn)(void);
static double burst = HBD_LOG_BURST;
static double interval = HBD_LOG_INTERVAL_S;

static double now(void)
{
    if (clock_fn != NULL)
        return clock_fn();
    return hbd_mono_now();
}

static void refill(hbd_log_site *s, double t)
{
    if (t > s->refilled) {
        s->tokens += (t - s->refilled) / interval;
        if (s->tokens > burst)
            s->tokens = burst;
    }
    s->refilled = t;
}

static void summary(const hbd_log_site *s, hbeat_log_level level, unsigned long n, double span)
{
    hbd_log(level, "%s: %lu similar line%s suppressed in the last %.1f s", s->key, n,
            n == 1 ? "" : "s", span);
}

void hbd_log_limited(hbd_log_site *s, hbeat_log_level level, const char *fmt, ...)
{
    double t = now();
    unsigned long pending = 0;
    double span = 0;
    pthread_mutex_lock(&mu);
    if (!s->registered) {
        s->registered = 1;
        s->tokens = burst;
        s->refilled = t;
        s->suppressed = 0;
        s->next = sites;
        sites = s;
    }
    s->level = level;
    refill(s, t);
    int admit = s->tokens >= 1.0;
    if (admit) {
        s->tokens -= 1.0;
        pending = s->suppressed;
        span = t - s->since;
        s->suppressed = 0;
    } else if (s->suppressed++ == 0) {
        s->since = t;
    }
    pthread_mutex_unlock(&mu);
    if (!admit)
        return;
    /* The count first: it belongs before the line that ends the quiet. */
    if (pending > 0)
        summary(s, level, pending, span);
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    hbd_log(level, "%s", line);
}

void hbd_log_flush_suppressed(void)
{
    double t = now();
    for (;;) {
        /* One site at a time, each line written outside the lock. */
        hbd_log_site *due = NULL;
        unsigned long n = 0;
        double span = 0;
        pthread_mutex_lock(&mu);
        for (hbd_log_site *s = sites; s != NULL && due == NULL; s = s->next) {
            if (s->suppressed > 0 && t - s->since >= interval) {
                due = s;
                n = s->suppressed;
                span = t - s->since;
                s->suppressed = 0;
            }
        }
        hbeat_log_level level = due != NULL ? due->level : HBEAT_LOG_WARN;
        pthread_mutex_unlock(&mu);
        if (due == NULL)
            return;
        summary(due, level, n, span);
    }
}

static void forget_all(void)
{
    for (hbd_log_site *s = sites, *next; s != NULL; s = next) {
        next = s->next;
        s->registered = 0;
        s->suppressed = 0;
        s->next = NULL;
    }
    sites = NULL;
}

void hbd_log_limit_set_clock(double (*fn)(void))
{
    pthread_mutex_lock(&mu);
    clock_fn = fn;
    forget_all();
    pthread_mutex_unlock(&mu);
}

void hbd_log_limit_configure(double b, double i)
{
    pthread_mutex_lock(&mu);
    burst = b > 0 ? b : HBD_LOG_BURST;
    interval = i > 0 ? i : HBD_LOG_INTERVAL_S;
    forget_all();
    pthread_mutex_unlock(&mu);
}
