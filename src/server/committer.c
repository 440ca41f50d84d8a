/*
 * The writer swaps the queue out under the lock and writes it without the
 * lock, so requests keep queueing during the fsync: that wait is what
 * groups them. Tickets are batch numbers: `open` is the batch now filling,
 * `durable` the last one committed.
 */
#define _POSIX_C_SOURCE 200809L

#include "server/committer.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/log.h"
#include "server/metrics_hooks.h"

typedef struct batch {
    hbd_rec *recs;
    size_t count, cap;
    int must_sync; /* holds a change that is not lazy */
} batch;

struct hbd_committer {
    hbd_store *store;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work; /* queue not empty, or stopping */
    pthread_cond_t done; /* durable advanced, or failed */
    batch queue, writing;
    uint64_t open;    /* ticket of the batch now filling */
    uint64_t durable; /* every ticket <= this is committed */
    int failed;
    int stopping;
    hbd_durable *waiters;
    hbd_sync sync;
    /* HBEATD_TEST_COMMIT_DELAY_MS: tests hold a batch in flight with it. */
    long test_delay_ms;
};

static void fire(hbd_durable *list, int rc)
{
    while (list != NULL) {
        hbd_durable *next = list->next;
        list->fn(list->arg, rc);
        list = next;
    }
}

/* Unlinks the waiters whose fate is now known; called with mu held. */
static hbd_durable *take_ready(hbd_committer *c)
{
    hbd_durable *ready = NULL, **pp = &c->waiters;
    while (*pp != NULL) {
        hbd_durable *w = *pp;
        if (c->failed || w->ticket <= c->durable) {
            *pp = w->next;
            w->next = ready;
            ready = w;
        } else {
            pp = &w->next;
        }
    }
    return ready;
}

static void *writer(void *arg)
{
    hbd_committer *c = arg;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (c->queue.count == 0 && !c->stopping)
            pthread_cond_wait(&c->work, &c->mu);
        if (c->queue.count == 0)
            break;
        batch tmp = c->writing;
        c->writing = c->queue;
        c->queue = tmp;
        uint64_t ticket = c->open++;
        pthread_mutex_unlock(&c->mu);

        hbeat_error err = HBEAT_ERROR_INIT;
        hbd_debug("committing batch %llu: %zu changes", (unsigned long long)ticket,
                  c->writing.count);
        double started = hbd_metrics_now();
        if (c->test_delay_ms > 0) {
            struct timespec ts = {c->test_delay_ms / 1000, (c->test_delay_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
        int sync =
            c->sync == HBD_SYNC_FULL || (c->sync == HBD_SYNC_CHANGES && c->writing.must_sync);
        int rc = hbd_store_commit(c->store, c->writing.recs, c->writing.count, sync, &err);
        if (rc != 0)
            hbd_error("%s; refusing further changes (restart hbeatd)", err.message);
        else
            hbd_debug("committed batch %llu", (unsigned long long)ticket);
        hbd_metrics_commit(hbd_metrics_now() - started, (unsigned int)c->writing.count);
        c->writing.count = 0;
        c->writing.must_sync = 0;

        pthread_mutex_lock(&c->mu);
        if (rc != 0)
            c->failed = 1;
        else
            c->durable = ticket;
        hbd_durable *ready = take_ready(c);
        pthread_cond_broadcast(&c->done);
        pthread_mutex_unlock(&c->mu);
        fire(ready, rc != 0 ? HBEAT_ESYSTEM : 0);
        pthread_mutex_lock(&c->mu);
        if (c->failed) {
            /* Fail-stop: drop what queued behind the failure. */
            c->queue.count = 0;
            c->queue.must_sync = 0;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

int hbd_committer_start(hbd_committer **out, hbd_store *store, hbeat_error *err)
{
    *out = NULL;
    hbd_committer *c = calloc(1, sizeof *c);
    if (c == NULL)
        return hbeat_error_set(err, HBEAT_ENOMEM, "committer: out of memory");
    c->store = store;
    c->open = 1;
    c->sync = HBD_SYNC_CHANGES;
    const char *delay = getenv("HBEATD_TEST_COMMIT_DELAY_MS");
    if (delay != NULL) {
        c->test_delay_ms = strtol(delay, NULL, 10);
        if (c->test_delay_ms < 0 || c->test_delay_ms > 10000)
            c->test_delay_ms = 0;
        if (c->test_delay_ms > 0)
            hbd_warn("HBEATD_TEST_COMMIT_DELAY_MS=%ld: every commit is delayed (tests only)",
                     c->test_delay_ms);
    }
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->work, NULL);
    pthread_cond_init(&c->done, NULL);
    int rc = pthread_create(&c->thread, NULL, writer, c);
    if (rc != 0) {
        pthread_cond_destroy(&c->done);
        pthread_cond_destroy(&c->work);
        pthread_mutex_destroy(&c->mu);
        free(c);
        rc =
            hbeat_error_set(err, HBEAT_ESYSTEM, "committer: cannot start thread: %s", strerror(rc));
        return rc;
    }
    *out = c;
    return 0;
}

void hbd_committer_stop(hbd_committer *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    c->stopping = 1;
    pthread_cond_signal(&c->work);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    /* Nothing can be pending now, but never leave a waiter hanging. */
    c->failed = c->failed || c->queue.count > 0;
    fire(take_ready(c), c->failed ? HBEAT_ESYSTEM : 0);
    pthread_cond_destroy(&c->done);
    pthread_cond_destroy(&c->work);
    pthread_mutex_destroy(&c->mu);
    free(c->queue.recs);
    free(c->writing.recs);
    free(c);
}

void hbd_committer_set_sync(hbd_committer *c, hbd_sync mode)
{
    pthread_mutex_lock(&c->mu);
    c->sync = mode == HBD_SYNC_DEFAULT ? HBD_SYNC_CHANGES : mode;
    pthread_mutex_unlock(&c->mu);
}

static int add(hbd_committer *c, const hbd_rec *rec, int lazy, uint64_t *ticket, hbeat_error *err)
{
    int rc = 0;
    pthread_mutex_lock(&c->mu);
    if (c->failed) {
        rc = hbeat_error_set(err, HBEAT_ESYSTEM, "the store failed; hbeatd refuses changes");
    } else if (c->stopping) {
        rc = hbeat_error_set(err, HBEAT_ECANCELED, "hbeatd is shutting down");
    } else {
        if (c->queue.count == c->queue.cap) {
            size_t cap = c->queue.cap ? c->queue.cap * 2 : 256;
            hbd_rec *recs = realloc(c->queue.recs, cap * sizeof *recs);
            if (recs == NULL) {
                pthread_mutex_unlock(&c->mu);
                return hbeat_error_set(err, HBEAT_ENOMEM, "committer: out of memory");
            }
            c->queue.recs = recs;
            c->queue.cap = cap;
        }
        c->queue.recs[c->queue.count++] = *rec;
        c->queue.must_sync |= !lazy;
        *ticket = c->open;
        if (c->queue.count == 1)
            pthread_cond_signal(&c->work);
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int hbd_committer_add(hbd_committer *c, const hbd_rec *rec, uint64_t *ticket, hbeat_error *err)
{
    return add(c, rec, 0, ticket, err);
}

int hbd_committer_add_lazy(hbd_committer *c, const hbd_rec *rec, uint64_t *ticket, hbeat_error *err)
{
    return add(c, rec, 1, ticket, err);
}

int hbd_committer_wait(hbd_committer *c, uint64_t ticket, hbeat_error *err)
{
    pthread_mutex_lock(&c->mu);
    while (ticket > c->durable && !c->failed)
        pthread_cond_wait(&c->done, &c->mu);
    int ok = ticket <= c->durable;
    pthread_mutex_unlock(&c->mu);
    if (!ok)
        return hbeat_error_set(err, HBEAT_ESYSTEM, "the store failed to commit the change");
    return 0;
}

void hbd_committer_notify(hbd_committer *c, uint64_t ticket, hbd_durable *w, hbd_durable_fn fn,
                          void *arg)
{
    w->ticket = ticket;
    w->fn = fn;
    w->arg = arg;
    pthread_mutex_lock(&c->mu);
    int known = ticket <= c->durable || c->failed;
    int rc = ticket <= c->durable ? 0 : HBEAT_ESYSTEM;
    if (!known) {
        w->next = c->waiters;
        c->waiters = w;
    }
    pthread_mutex_unlock(&c->mu);
    if (known)
        fn(arg, rc);
}

int hbd_committer_failed(hbd_committer *c)
{
    pthread_mutex_lock(&c->mu);
    int failed = c->failed;
    pthread_mutex_unlock(&c->mu);
    return failed;
}
