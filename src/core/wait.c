#include "core/wait.h"

#include <errno.h>

#include "core/clock_internal.h"
#include "core/stop_event_internal.h"

void hbeat__wake(hbeat_stop_event *stop)
{
    pthread_mutex_lock(&stop->mu);
    stop->wakes++;
    pthread_cond_broadcast(&stop->cond);
    pthread_mutex_unlock(&stop->mu);
}

static void wake_stop_event(void *arg)
{
    hbeat__wake(arg);
}

static int is_ready(const int *ready)
{
    return ready != NULL && __atomic_load_n(ready, __ATOMIC_ACQUIRE);
}

/* Sleeps on the stop event's condition. A clock that moves only when told
   (the fake one) wakes us through a one-shot watch, renewed before every look
   at the time so that no change is missed: a change after the look needs
   stop->mu, which we hold until we sleep, and one between the registration
   and the look shows in stop->wakes. The same holds for `ready`. The
   system clock needs a timed wait; any other clock is taken to run at real
   speed, so we sleep for the time left and look again. */
int hbeat__wait_until(hbeat_clock *clock, hbeat_stop_event *stop, int64_t deadline_ns,
                      const int *ready)
{
    hbeat_clock *system = hbeat_clock_system();
    int watchable = hbeat__clock_is_watchable(clock);
    for (;;) {
        pthread_mutex_lock(&stop->mu);
        unsigned int wakes = stop->wakes;
        int stopped_before = stop->set;
        pthread_mutex_unlock(&stop->mu);
        /* Decide before watching, so that a registered watch always means
           "about to sleep": a test that waits for waiters then sees a loop
           that has finished reacting to the last move of the clock. */
        if (stopped_before)
            return HBEAT__WAIT_STOPPED;
        if (is_ready(ready))
            return HBEAT__WAIT_READY;
        if (hbeat_clock_now_ns(clock) >= deadline_ns)
            return HBEAT__WAIT_DEADLINE;
        int watched = watchable && hbeat__clock_watch(clock, wake_stop_event, stop) == 0;
        pthread_mutex_lock(&stop->mu);
        int64_t now = hbeat_clock_now_ns(clock);
        int rc = 0;
        if (!stop->set && !is_ready(ready) && now < deadline_ns && stop->wakes == wakes) {
            if (watched) {
                rc = pthread_cond_wait(&stop->cond, &stop->mu);
            } else {
                int64_t until =
                    clock == system ? deadline_ns : hbeat__monotonic_ns() + (deadline_ns - now);
                struct timespec ts = hbeat__timespec_from_ns(until);
                rc = pthread_cond_timedwait(&stop->cond, &stop->mu, &ts);
            }
        }
        int stopped = stop->set;
        pthread_mutex_unlock(&stop->mu);
        if (watched)
            hbeat__clock_unwatch(clock, wake_stop_event, stop);
        if (stopped)
            return HBEAT__WAIT_STOPPED;
        if (is_ready(ready))
            return HBEAT__WAIT_READY;
        if (now >= deadline_ns || (rc != 0 && rc != ETIMEDOUT))
            return HBEAT__WAIT_DEADLINE;
    }
}
