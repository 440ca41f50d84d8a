/*
 * Whoever commits takes the queue out under the lock and writes it without
 * the lock, so requests keep queueing during the write and its fsync: that
 * wait is what groups them. Tickets are batch numbers: `open` is the batch
 * now filling, `durable` the last one committed. One commit runs at a time
 * (`busy`), by one of two hands:
 *
 *   - inline: a request that asks to be told when its change is durable
 *     (notify, wait) and finds no commit running and nothing in the queue
 *     that needs an fsync commits the queue itself, in its own thread. A
 *     steady stream of heartbeats (lazy under "changes", or any change under
 *     "normal" and ":memory:") thus costs no thread hand-off: the reply
 *     leaves from the thread that received the request, as in a server
 *     without a store.
 *   - the writer thread: batches that need an fsync (which would stall a
 *     front end's thread for the length of a disk flush), and whatever
 *     queues while a commit runs. It keeps going while the queue refills,
 *     which is group commit under load.
 *
 * The writer also checkpoints the WAL when it is due (store.h), so that no
 * request's commit pays for it; while one is due, commits are the
 * writer's.
 *
 * Progress: a request that cannot commit inline wakes the writer, and so
 * does an inline commit that ends with changes queued behind it. A change
 * queued by a caller that never waits for it is picked up by the writer
 * within IDLE_FLUSH_MS.
 */
#define _POSIX_C_SOURCE 200809L

#include "committer.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "metrics.h"
#include "monotonic.h"

#define IDLE_FLUSH_MS 100

typedef struct batch {
    hbd_run_record *recs;
    size_t count, cap;
    int must_sync; /* holds a change that is not lazy */
} batch;

struct hbd_committer {
    hbd_store *store;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work; /* the writer has something to do, or stopping */
    pthread_cond_t done; /* durable advanced, or failed */
    batch queue, writing;
    uint64_t open;    /* ticket of the batch now filling */
    uint64_t durable; /* every ticket <= this is committed */
    int busy;         /* a commit runs (and owns `writing` and the store) */
    int failed;
    int stopping;
    hbd_durable *waiters;
    hbd_sync sync;
    /* HBEATD_TEST_COMMIT_DELAY_MS: tests hold a batch in flight with it
       (on the writer thread only: no inline commits then). */
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

/* Whether a batch must be fsynced. */
static int needs_sync(const hbd_committer *c, const batch *b)
{
    return c->sync == HBD_SYNC_FULL || (c->sync == HBD_SYNC_CHANGES && b->must_sync);
}

/* Commits the queue: called with mu held, `busy` clear and the queue not
   empty; returns with mu held, `busy` clear again and the waiters whose
   fate is now known unlinked into *ready (to be fired without the lock). */
static int commit_queue(hbd_committer *c, hbd_durable **ready)
{
    c->busy = 1;
    batch tmp = c->writing;
    c->writing = c->queue;
    c->queue = tmp;
    uint64_t ticket = c->open++;
    int sync = needs_sync(c, &c->writing);
    pthread_mutex_unlock(&c->mu);

    hbeat_error err = HBEAT_ERROR_INIT;
    hbd_debug("committing batch %llu: %zu changes%s", (unsigned long long)ticket, c->writing.count,
              sync ? ", fsynced" : "");
    double started = hbd_mono_now();
    if (c->test_delay_ms > 0) {
        struct timespec ts = {c->test_delay_ms / 1000, (c->test_delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    int rc = hbd_store_commit(c->store, c->writing.recs, c->writing.count, sync, &err);
    if (rc != 0)
        hbd_error("%s; refusing further changes (restart hbeatd)", err.message);
    else
        hbd_debug("committed batch %llu", (unsigned long long)ticket);
    hbd_metrics_commit(hbd_mono_now() - started, (unsigned int)c->writing.count);
    c->writing.count = 0;
    c->writing.must_sync = 0;

    pthread_mutex_lock(&c->mu);
    c->busy = 0;
    if (rc != 0) {
        c->failed = 1;
        /* Fail-stop: drop what queued behind the failure. */
        c->queue.count = 0;
        c->queue.must_sync = 0;
    } else {
        c->durable = ticket;
    }
    *ready = take_ready(c);
    pthread_cond_broadcast(&c->done);
    return rc;
}

/* With mu held and `busy` clear: checkpoints the store (store.h), here on
   the writer thread rather than inside some request's commit. Requests
   queue meanwhile and go out in the batch after it. */
static void checkpoint(hbd_committer *c)
{
    c->busy = 1;
    pthread_mutex_unlock(&c->mu);
    hbeat_error err = HBEAT_ERROR_INIT;
    double started = hbd_mono_now();
    if (hbd_store_checkpoint(c->store, &err) != 0)
        hbd_warn("%s; will try again later", err.message);
    else
        hbd_debug("checkpointed the WAL in %.1f ms", (hbd_mono_now() - started) * 1e3);
    pthread_mutex_lock(&c->mu);
    c->busy = 0;
    pthread_cond_broadcast(&c->done);
}

/* With mu held: commit the queue in this thread when allowed (see the file
   comment), else make sure the writer will. Returns with mu held; *ready
   as for commit_queue (NULL when nothing was committed here). */
static void commit_or_hand_off(hbd_committer *c, hbd_durable **ready)
{
    *ready = NULL;
    if (c->busy || c->failed || c->queue.count == 0)
        return; /* the running commit hands off what it leaves */
    if (c->test_delay_ms > 0 || c->stopping || needs_sync(c, &c->queue) ||
        hbd_store_checkpoint_due(c->store)) {
        pthread_cond_signal(&c->work);
        return;
    }
    commit_queue(c, ready);
    if (c->queue.count > 0)
        pthread_cond_signal(&c->work);
}

static void *writer(void *arg)
{
    hbd_committer *c = arg;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while ((c->queue.count == 0 || c->busy) && !c->stopping) {
            /* Woken when there is work; the time limit only bounds how long
               a change nobody waits for can sit in the queue. */
            struct timespec until = hbd_mono_deadline(IDLE_FLUSH_MS / 1000.0);
            if (pthread_cond_timedwait(&c->work, &c->mu, &until) == ETIMEDOUT &&
                c->queue.count > 0 && !c->busy)
                break;
        }
        if (c->busy) {
            /* Stopping while an inline commit runs: let it finish. */
            pthread_cond_wait(&c->done, &c->mu);
            continue;
        }
        if (c->queue.count == 0)
            break;
        hbd_durable *ready;
        int rc = commit_queue(c, &ready);
        pthread_mutex_unlock(&c->mu);
        fire(ready, rc != 0 ? HBEAT_ESYSTEM : 0);
        pthread_mutex_lock(&c->mu);
        if (!c->busy && !c->failed && hbd_store_checkpoint_due(c->store))
            checkpoint(c);
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
    hbd_mono_cond_init(&c->work);
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

static int add(hbd_committer *c, const hbd_run_record *rec, int lazy, uint64_t *ticket,
               hbeat_error *err)
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
            hbd_run_record *recs = realloc(c->queue.recs, cap * sizeof *recs);
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
        /* A change that needs an fsync goes to the writer at once; a lazy
           one waits for its caller's notify or wait, which may commit it
           inline. */
        if (!c->busy && needs_sync(c, &c->queue))
            pthread_cond_signal(&c->work);
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int hbd_committer_add(hbd_committer *c, const hbd_run_record *rec, uint64_t *ticket,
                      hbeat_error *err)
{
    return add(c, rec, 0, ticket, err);
}

int hbd_committer_add_lazy(hbd_committer *c, const hbd_run_record *rec, uint64_t *ticket,
                           hbeat_error *err)
{
    return add(c, rec, 1, ticket, err);
}

int hbd_committer_wait(hbd_committer *c, uint64_t ticket, hbeat_error *err)
{
    pthread_mutex_lock(&c->mu);
    while (ticket > c->durable && !c->failed) {
        hbd_durable *ready;
        commit_or_hand_off(c, &ready);
        if (ready != NULL) {
            pthread_mutex_unlock(&c->mu);
            fire(ready, c->failed ? HBEAT_ESYSTEM : 0);
            pthread_mutex_lock(&c->mu);
            continue;
        }
        if (ticket > c->durable && !c->failed)
            pthread_cond_wait(&c->done, &c->mu);
    }
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
    hbd_durable *ready = NULL;
    if (!known) {
        w->next = c->waiters;
        c->waiters = w;
        commit_or_hand_off(c, &ready);
    }
    int failed = c->failed;
    pthread_mutex_unlock(&c->mu);
    if (known)
        fn(arg, rc);
    else
        fire(ready, failed ? HBEAT_ESYSTEM : 0);
}

int hbd_committer_failed(hbd_committer *c)
{
    pthread_mutex_lock(&c->mu);
    int failed = c->failed;
    pthread_mutex_unlock(&c->mu);
    return failed;
}
