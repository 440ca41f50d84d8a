/* The engine's state, shared by engine.c and reaper.c only. */
#ifndef HBD_ENGINE_INTERNAL_H
#define HBD_ENGINE_INTERNAL_H

#include <pthread.h>

#include "engine.h"
#include "runs.h"

struct hbd_committer;
struct hbd_reaper;
struct hbd_store;
struct hbd_wallclock;

struct hbd_engine {
    pthread_mutex_t mu; /* guards runs and closing */
    hbd_run_table runs;
    int closing;
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
};

#endif /* HBD_ENGINE_INTERNAL_H */
