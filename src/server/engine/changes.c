/*
 * The engine's feed of status changes (hbd_engine_watch_changes): each
 * change reaches the watcher once it is durable, never before, so a
 * watcher is never told of a status a crash could take back. The watcher
 * is read when the report fires, under its own lock, so that setting
 * another (or none) takes effect at once for reports still pending.
 *
 * A store that watches its own runs (run_store.h, watch: PostgreSQL) is
 * the feed's only source: it hears every committed change, whichever
 * instance made it, and says when it may have missed some.
 */
#include <stdlib.h>

#include "committer.h"
#include "engine_internal.h"
#include "log.h"
#include "run_status.h"

typedef struct report {
    hbd_durable w;
    hbd_engine *engine;
    int64_t run_id;
    int status;
    uint64_t change;
} report;

static void fire(void *arg, int rc)
{
    report *r = arg;
    hbd_engine *e = r->engine;
    if (rc == 0) {
        pthread_mutex_lock(&e->watch_mu);
        if (e->watch_fn != NULL)
            e->watch_fn(e->watch_arg, r->run_id, hbd_status_token(r->status), r->change);
        pthread_mutex_unlock(&e->watch_mu);
    }
    free(r);
}

void hbd_engine__report_change(hbd_engine *e, uint64_t ticket, int64_t run_id, int status,
                               uint64_t change)
{
    pthread_mutex_lock(&e->watch_mu);
    int watched = e->watch_fn != NULL;
    pthread_mutex_unlock(&e->watch_mu);
    if (!watched)
        return;
    report *r = malloc(sizeof *r);
    if (r == NULL) {
        hbd_warn("out of memory: a status change is not reported to its watchers");
        return;
    }
    *r = (report){.engine = e, .run_id = run_id, .status = status, .change = change};
    /* Ticket 0: durable already (the reaper reports after its commit, on
       any store). Other tickets come from the SQLite store's calls, whose
       committer may be waited on more than once; a deferred store's
       tickets are its callers' to wait for, and it reports no calls here. */
    if (ticket == 0)
        fire(r, 0);
    else
        hbd_committer_notify(e->committer, ticket, &r->w, fire, r);
}

void hbd_engine__store_changed(void *engine, int64_t run_id, int status, uint64_t change)
{
    hbd_engine *e = engine;
    if (run_id != 0) {
        /* Committed already: the store reports only what it has seen
           committed. */
        hbd_engine__report_change(e, 0, run_id, status, change);
        return;
    }
    pthread_mutex_lock(&e->watch_mu);
    if (e->watch_fn != NULL)
        e->watch_fn(e->watch_arg, 0, NULL, 0);
    pthread_mutex_unlock(&e->watch_mu);
}

void hbd_engine_watch_changes(hbd_engine *e, hbd_change_fn fn, void *arg)
{
    pthread_mutex_lock(&e->watch_mu);
    e->watch_fn = fn;
    e->watch_arg = arg;
    pthread_mutex_unlock(&e->watch_mu);
}
