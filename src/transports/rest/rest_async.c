/* Asynchronous heartbeats: one worker thread per gateway, started on the
   first asynchronous call, drives every such beat at once on its own curl
   multi handle (so its keep-alive connections are shared by them). The
   caller prepares a slot and queues it; the worker adds it to the multi
   handle, and when the transfer ends gives the slot back and runs the
   callback, outside every lock, so a callback may start the next beat.
   On close the worker cancels what it holds, calls those callbacks with
   HBEAT_ECANCELED and exits; close() joins it, so no callback runs after
   close returns. */
#define _POSIX_C_SOURCE 200809L

#include "transports/rest/rest_internal.h"

#include <signal.h>
#include <string.h>

static void complete(rest_gw *gw, rest_slot *s, CURLcode res, int canceled)
{
    hbeat_error e = HBEAT_ERROR_INIT;
    hbeat_heartbeat_reply reply;
    memset(&reply, 0, sizeof(reply));
    int rc = hbeat__rest_transfer_result(s, res, canceled, &e);
    if (rc == 0)
        rc = hbeat__rest_json_status_reply(s, &reply, &e);
    hbeat_gateway_done_fn done = s->done;
    void *arg = s->done_arg;
    hbeat__rest_slot_release(gw, s);
    done(arg, rc, rc == 0 ? &reply : NULL, rc == 0 ? NULL : &e);
}

static void remove_inflight(rest_slot **list, rest_slot *s)
{
    for (rest_slot **p = list; *p != NULL; p = &(*p)->next) {
        if (*p == s) {
            *p = s->next;
            return;
        }
    }
}

/* Moves newly queued slots into the multi handle, or cancels them. */
static void admit(rest_gw *gw, rest_slot *queue, int closing, rest_slot **inflight)
{
    while (queue != NULL) {
        rest_slot *s = queue;
        queue = s->next;
        if (closing) {
            complete(gw, s, CURLE_OK, 1);
            continue;
        }
        CURLMcode mc = curl_multi_add_handle(gw->amulti, s->easy);
        if (mc != CURLM_OK) {
            strncpy(s->errbuf, curl_multi_strerror(mc), sizeof(s->errbuf) - 1);
            complete(gw, s, mc == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY : CURLE_FAILED_INIT, 0);
            continue;
        }
        s->next = *inflight;
        *inflight = s;
    }
}

static void reap(rest_gw *gw, rest_slot **inflight)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(gw->amulti, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode res = msg->data.result;
        rest_slot *s = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&s);
        curl_multi_remove_handle(gw->amulti, easy);
        if (!s->retried && hbeat__rest_slot_retry(s, res)) {
            s->retried = 1;
            if (curl_multi_add_handle(gw->amulti, easy) == CURLM_OK)
                continue;
        }
        remove_inflight(inflight, s);
        complete(gw, s, res, 0);
    }
}

static void *worker_main(void *arg)
{
    rest_gw *gw = arg;
    rest_slot *inflight = NULL;
    for (;;) {
        pthread_mutex_lock(&gw->mu);
        int closing = atomic_load(&gw->closing);
        rest_slot *queue = gw->aqueue;
        gw->aqueue = gw->aqueue_tail = NULL;
        pthread_mutex_unlock(&gw->mu);

        admit(gw, queue, closing, &inflight);
        if (closing)
            break;
        int running = 0;
        curl_multi_perform(gw->amulti, &running);
        reap(gw, &inflight);
        curl_multi_poll(gw->amulti, NULL, 0, 1000, NULL);
    }
    while (inflight != NULL) {
        rest_slot *s = inflight;
        inflight = s->next;
        curl_multi_remove_handle(gw->amulti, s->easy);
        complete(gw, s, CURLE_OK, 1);
    }
    return NULL;
}

/* With gw->mu held. The worker blocks every signal, so that signals meant
   for the application are never delivered on a thread of ours. */
static int start_worker(rest_gw *gw, hbeat_error *err)
{
    gw->amulti = curl_multi_init();
    if (gw->amulti == NULL)
        return hbeat_error_set(err, HBEAT_ENOMEM, "rest: out of memory for a curl multi handle");
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&gw->worker, NULL, worker_main, gw);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        curl_multi_cleanup(gw->amulti);
        gw->amulti = NULL;
        hbeat_error_set(err, HBEAT_ESYSTEM, "rest: cannot start the worker thread: %s",
                        strerror(rc));
        if (err != NULL)
            err->native = rc;
        return HBEAT_ESYSTEM;
    }
    gw->worker_started = 1;
    return 0;
}

int hbeat__rest_async_submit(rest_gw *gw, rest_slot *s, hbeat_gateway_done_fn done, void *arg,
                             hbeat_error *err)
{
    pthread_mutex_lock(&gw->mu);
    if (atomic_load(&gw->closing)) {
        pthread_mutex_unlock(&gw->mu);
        return hbeat_error_set(err, HBEAT_ECANCELED, "rest: the gateway is closed");
    }
    if (!gw->worker_started) {
        int rc = start_worker(gw, err);
        if (rc != 0) {
            pthread_mutex_unlock(&gw->mu);
            return rc;
        }
    }
    s->done = done;
    s->done_arg = arg;
    s->retried = 0;
    s->next = NULL;
    if (gw->aqueue_tail != NULL)
        gw->aqueue_tail->next = s;
    else
        gw->aqueue = s;
    gw->aqueue_tail = s;
    /* The worker owns it now: close() no longer waits for this thread. */
    s->held = 0;
    if (--gw->nheld == 0)
        pthread_cond_broadcast(&gw->cv);
    curl_multi_wakeup(gw->amulti);
    pthread_mutex_unlock(&gw->mu);
    return 0;
}

void hbeat__rest_async_wake(rest_gw *gw)
{
    if (gw->worker_started)
        curl_multi_wakeup(gw->amulti);
}

void hbeat__rest_async_join(rest_gw *gw)
{
    if (gw->worker_started) {
        pthread_join(gw->worker, NULL);
        gw->worker_started = 0;
    }
}
