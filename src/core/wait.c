#include "core/wait.h"

#include <errno.h>

#include "core/clock_internal.h"
#include "core/stop_event_internal.h"

static void wake_stop_event(void *arg)
{
    hbeat_stop_event *ev = arg;
    pthread_mutex_lock(&ev->mu);
    pthread_cond_broadcast(&ev->cond);
    pthread_mutex_unlock(&ev->mu);
}

/* Sleeps on the stop event's condition until `stop` is set or the clock
   reaches `deadline_ns`. A clock that moves only when told (the fake one)
   wakes us through a one-shot watch, renewed before every look at the time
   so that no change is missed: a change after the look needs stop->mu, which
   we hold until we sleep. The system clock needs a timed wait; any other
   clock is taken to run at real speed, so we sleep for the time left and
   look again. */
int hbeat__wait_until(hbeat_clock *clock, hbeat_stop_event *stop, int64_t deadline_ns)
{
    hbeat_clock *system = hbeat_clock_system();
    int watchable = hbeat__clock_is_watchable(clock);
    for (;;) {
        int watched = watchable && hbeat__clock_watch(clock, wake_stop_event, stop) == 0;
        pthread_mutex_lock(&stop->mu);
        int stopped = stop->set;
        int64_t now = hbeat_clock_now_ns(clock);
        int rc = 0;
        if (!stopped && now < deadline_ns) {
            if (watched) {
                rc = pthread_cond_wait(&stop->cond, &stop->mu);
            } else {
                int64_t until =
                    clock == system ? deadline_ns : hbeat__monotonic_ns() + (deadline_ns - now);
                struct timespec ts = hbeat__timespec_from_ns(until);
                rc = pthread_cond_timedwait(&stop->cond, &stop->mu, &ts);
            }
        }
        stopped = stop->set;
        pthread_mutex_unlock(&stop->mu);
        if (watched)
            hbeat__clock_unwatch(clock, wake_stop_event, stop);
        if (stopped)
            return 1;
        if (now >= deadline_ns || (rc != 0 && rc != ETIMEDOUT))
            return 0;
    }
}
