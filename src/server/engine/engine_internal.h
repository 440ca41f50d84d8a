/* The engine's state, shared by engine.c and reaper.c only. */
#ifndef HBD_ENGINE_INTERNAL_H
#define HBD_ENGINE_INTERNAL_H

#include <pthread.h>

#include "engine.h"
#include "run_store.h"
#include "runs.h"

struct hbd_committer;
struct hbd_reaper;
struct hbd_store;
struct hbd_wallclock;

struct hbd_engine {
    pthread_mutex_t mu; /* guards runs and closing */
    hbd_run_table runs;
    int closing;
    /* The run store in use (run_store.h): SQLite's, whose self is this
       engine and whose state is the fields below, or another. */
    const hbd_run_store_ops *ops;
    void *ops_self;
    struct hbd_store *store;
    struct hbd_committer *committer;
    struct hbd_reaper *reaper;
    /* Unix seconds that a wall-clock step does not move (wallclock.h),
       unless a test injected its own. */
    double (*clock)(void *arg);
    void *clock_arg;
    struct hbd_wallclock *wallclock; /* owned; NULL with an injected clock */
    double started;                  /* engine clock at open */
    double grace;                    /* seconds after `started` before the first reap */
    uint64_t changes;                /* status changes since open; atomic */
    /* The store reports every status change itself (run_store.h, watch),
       the reaper's moves included. */
    int store_reports;
    /* The watcher of status changes (hbd_engine_watch_changes). */
    pthread_mutex_t watch_mu;
    hbd_change_fn watch_fn;
    void *watch_arg;
};

/* Reports run `run_id`'s move to status index `status`, numbered
   `change`, to the watcher once `ticket` is durable. Called without mu. */
void hbd_engine__report_change(hbd_engine *e, uint64_t ticket, int64_t run_id, int status,
                               uint64_t change);
/* The store's own report of a committed change (hbd_store_change_fn). */
void hbd_engine__store_changed(void *engine, int64_t run_id, int status, uint64_t change);
/* SQLite's reaper pass (reaper.c), for its run_store.h table. */
int hbd_engine_mem_reap(void *self, double now, int look_only, hbd_reaped_run **out, size_t *count,
                        hbeat_error *err);

#endif /* HBD_ENGINE_INTERNAL_H */
