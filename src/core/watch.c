/* Watching: a gateway that can push (vtable version 4) tells the service
   its run's status as the server reports it; when that differs from the
   service's, the loop beats at once, and the beat's answer brings the
   change through the one path every change takes (tick.c). The push only
   wakes the loop, so a change is adopted, counted and told exactly as a
   beat's would be, and the beat stays the liveness signal. */
#include <string.h>

#include "core/gateway_internal.h"
#include "core/log_internal.h"
#include "core/service_internal.h"
#include "core/wait.h"

static void on_push(void *arg, int64_t workflow_run_id, const char *status)
{
    hbeat_service *svc = arg;
    (void)workflow_run_id;
    pthread_mutex_lock(&svc->mu);
    int differs = status != NULL && strcmp(status, svc->status) != 0;
    hbeat_stop_event *stop = svc->loop_stop;
    if (differs) {
        __atomic_store_n(&svc->push_wake, 1, __ATOMIC_SEQ_CST);
        if (stop != NULL)
            hbeat__wake(stop);
    }
    pthread_mutex_unlock(&svc->mu);
    if (differs)
        hbeat__log(HBEAT_LOG_DEBUG, "run %lld: the server pushed status %s; beating now",
                   (long long)svc->run_id, status);
}

void hbeat__watch_start(hbeat_service *svc)
{
    if (!svc->watch)
        return;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat__gateway_watch(svc->gw, svc->run_id, on_push, svc, &svc->watch_handle, &err);
    if (rc != 0) {
        svc->watch_handle = NULL;
        hbeat__log(HBEAT_LOG_WARN, "run %lld: cannot watch the run's status (%s); beating as usual",
                   (long long)svc->run_id, err.message);
    }
}

void hbeat__watch_stop(hbeat_service *svc)
{
    if (svc->watch_handle == NULL)
        return;
    hbeat__gateway_unwatch(svc->gw, svc->watch_handle);
    svc->watch_handle = NULL;
    __atomic_store_n(&svc->push_wake, 0, __ATOMIC_SEQ_CST);
}

int hbeat__watch_take_push(hbeat_service *svc)
{
    return __atomic_exchange_n(&svc->push_wake, 0, __ATOMIC_SEQ_CST);
}
