/* Progress-gated liveness: the application says its work moves
   (hbeat_service_progress), and the loop beats only while it has said so
   within progress_timeout. A live process whose work is stuck then stops
   extending its lease, and the server's reaper treats it as dead.

   hbeat_service_progress runs on any thread, often, so it only stores the
   time. A loop asleep while stalled is woken through its stop event and the
   `ready` flag of hbeat__wait_until: the reporter stores the time, then looks
   at loop_stalled; the loop sets loop_stalled, then looks at the time again.
   Both are sequentially consistent, so at least one of them sees the other:
   either the loop finds the progress before it sleeps, or the reporter finds
   the stall and wakes it. */
#include <pthread.h>
#include <stdint.h>

#include "core/clock_internal.h"
#include "core/log_internal.h"
#include "core/service_internal.h"
#include "core/wait.h"

void hbeat_service_progress(hbeat_service *svc)
{
    if (svc == NULL)
        return;
    int64_t now = hbeat_clock_now_ns(svc->clock);
    /* Reporters racing each other must not move the time back. */
    int64_t seen = __atomic_load_n(&svc->last_progress_ns, __ATOMIC_RELAXED);
    while (now > seen && !__atomic_compare_exchange_n(&svc->last_progress_ns, &seen, now, 1,
                                                      __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
        ;
    if (!__atomic_load_n(&svc->loop_stalled, __ATOMIC_SEQ_CST))
        return;
    __atomic_store_n(&svc->progress_wake, 1, __ATOMIC_SEQ_CST);
    pthread_mutex_lock(&svc->mu);
    if (svc->loop_stop != NULL)
        hbeat__wake(svc->loop_stop);
    pthread_mutex_unlock(&svc->mu);
}

int64_t hbeat__stall_at(hbeat_service *svc)
{
    if (svc->progress_timeout_ns == 0)
        return INT64_MAX;
    int64_t last = __atomic_load_n(&svc->last_progress_ns, __ATOMIC_SEQ_CST);
    return last > INT64_MAX - svc->progress_timeout_ns ? INT64_MAX
                                                       : last + svc->progress_timeout_ns;
}

/* Records the change and tells the application, with free held off as for
   the other callbacks. Only the loop's thread gets here. */
static void change(hbeat_service *svc, int stalled, int64_t now)
{
    int64_t last = __atomic_load_n(&svc->last_progress_ns, __ATOMIC_RELAXED);
    pthread_mutex_lock(&svc->mu); /* so that the statistics see both at once */
    __atomic_store_n(&svc->loop_stalled, stalled, __ATOMIC_SEQ_CST);
    if (stalled)
        svc->stats.stalls++;
    svc->callbacks_running++;
    pthread_mutex_unlock(&svc->mu);

    if (stalled)
        hbeat__log(HBEAT_LOG_WARN,
                   "run %lld: no progress reported for %.3f s (progress_timeout %.3f s); "
                   "withholding heartbeats, so the server may reap the run",
                   (long long)svc->run_id, (double)(now - last) / 1e9,
                   (double)svc->progress_timeout_ns / 1e9);
    else
        hbeat__log(HBEAT_LOG_INFO, "run %lld: progress reported again; heartbeats resume",
                   (long long)svc->run_id);
    if (svc->on_stall != NULL)
        svc->on_stall(svc->on_stall_arg, stalled);

    pthread_mutex_lock(&svc->mu);
    svc->callbacks_running--;
    pthread_cond_broadcast(&svc->idle);
    pthread_mutex_unlock(&svc->mu);
}

int hbeat__progress_gate(hbeat_service *svc, int64_t now)
{
    if (svc->progress_timeout_ns == 0)
        return 0;
    int was = __atomic_load_n(&svc->loop_stalled, __ATOMIC_RELAXED);
    int stalled = now >= hbeat__stall_at(svc);
    if (stalled && !was) {
        change(svc, 1, now);
        was = 1;
    }
    if (stalled) {
        /* Armed before the second look: a report after it sets the flag. */
        __atomic_store_n(&svc->progress_wake, 0, __ATOMIC_SEQ_CST);
        stalled = now >= hbeat__stall_at(svc);
    }
    if (!stalled && was)
        change(svc, 0, now);
    return stalled;
}

void hbeat__progress_loop_ended(hbeat_service *svc)
{
    pthread_mutex_lock(&svc->mu);
    __atomic_store_n(&svc->loop_stalled, 0, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&svc->mu);
}
