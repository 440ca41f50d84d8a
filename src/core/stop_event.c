#include "core/stop_event_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "core/clock_internal.h"
#include "hbeat/errors.h"

int hbeat__cond_init_monotonic(pthread_cond_t *cond)
{
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0)
        return -1;
    int rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
    return rc == 0 ? 0 : -1;
}

struct timespec hbeat__timespec_from_ns(int64_t ns)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    return ts;
}

struct timespec hbeat__deadline_in(double seconds)
{
    if (!(seconds > 0))
        seconds = 0;
    if (seconds > 1e9)
        seconds = 1e9;
    return hbeat__timespec_from_ns(hbeat__monotonic_ns() + (int64_t)(seconds * 1e9));
}

int hbeat_stop_event_new(hbeat_stop_event **out)
{
    if (out == NULL)
        return HBEAT_EINVAL;
    hbeat_stop_event *ev = calloc(1, sizeof(*ev));
    if (ev == NULL)
        return HBEAT_ENOMEM;
    if (pthread_mutex_init(&ev->mu, NULL) != 0) {
        free(ev);
        return HBEAT_ESYSTEM;
    }
    if (hbeat__cond_init_monotonic(&ev->cond) != 0) {
        pthread_mutex_destroy(&ev->mu);
        free(ev);
        return HBEAT_ESYSTEM;
    }
    *out = ev;
    return 0;
}

void hbeat_stop_event_free(hbeat_stop_event *ev)
{
    if (ev == NULL)
        return;
    pthread_cond_destroy(&ev->cond);
    pthread_mutex_destroy(&ev->mu);
    free(ev);
}

void hbeat_stop_event_set(hbeat_stop_event *ev)
{
    if (ev == NULL)
        return;
    pthread_mutex_lock(&ev->mu);
    ev->set = 1;
    pthread_cond_broadcast(&ev->cond);
    pthread_mutex_unlock(&ev->mu);
}

void hbeat_stop_event_clear(hbeat_stop_event *ev)
{
    if (ev == NULL)
        return;
    pthread_mutex_lock(&ev->mu);
    ev->set = 0;
    pthread_mutex_unlock(&ev->mu);
}

int hbeat_stop_event_is_set(hbeat_stop_event *ev)
{
    if (ev == NULL)
        return 0;
    pthread_mutex_lock(&ev->mu);
    int set = ev->set;
    pthread_mutex_unlock(&ev->mu);
    return set;
}

int hbeat_stop_event_wait(hbeat_stop_event *ev, double timeout_seconds)
{
    if (ev == NULL)
        return HBEAT_EINVAL;
    int forever = isinf(timeout_seconds) && timeout_seconds > 0;
    struct timespec ts = hbeat__deadline_in(timeout_seconds);

    pthread_mutex_lock(&ev->mu);
    while (!ev->set) {
        int rc = forever ? pthread_cond_wait(&ev->cond, &ev->mu)
                         : pthread_cond_timedwait(&ev->cond, &ev->mu, &ts);
        if (rc == ETIMEDOUT)
            break;
    }
    int set = ev->set;
    pthread_mutex_unlock(&ev->mu);
    return set;
}
