/* A clock that moves only when a test advances it. Reading it takes no lock,
   so a waiter may read it while holding its own lock. Watches are one-shot:
   an advance wakes and forgets every watcher, so the number of watchers is
   the number of loops asleep since the clock last moved. Wakes run under the
   clock's lock, so unwatch() returning means no wake is running. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#include "core/clock_internal.h"
#include "core/stop_event_internal.h"
#include "hbeat/sys/fake.h"

typedef struct watcher {
    hbeat_clock_wake_fn wake;
    void *arg;
} watcher;

typedef struct fake_clock {
    pthread_mutex_t mu;
    pthread_cond_t changed; /* the watcher list changed */
    int64_t now;            /* atomic */
    watcher *watchers;
    int count;
    int cap;
} fake_clock;

static int64_t fake_now(void *self)
{
    fake_clock *fc = self;
    return __atomic_load_n(&fc->now, __ATOMIC_ACQUIRE);
}

static int fake_watch(void *self, hbeat_clock_wake_fn wake, void *arg)
{
    fake_clock *fc = self;
    pthread_mutex_lock(&fc->mu);
    if (fc->count == fc->cap) {
        int cap = fc->cap ? fc->cap * 2 : 8;
        watcher *grown = realloc(fc->watchers, (size_t)cap * sizeof(*grown));
        if (grown == NULL) {
            pthread_mutex_unlock(&fc->mu);
            return HBEAT_ENOMEM;
        }
        fc->watchers = grown;
        fc->cap = cap;
    }
    fc->watchers[fc->count++] = (watcher){wake, arg};
    pthread_cond_broadcast(&fc->changed);
    pthread_mutex_unlock(&fc->mu);
    return 0;
}

static void fake_unwatch(void *self, hbeat_clock_wake_fn wake, void *arg)
{
    fake_clock *fc = self;
    pthread_mutex_lock(&fc->mu);
    for (int i = 0; i < fc->count; i++) {
        if (fc->watchers[i].wake == wake && fc->watchers[i].arg == arg) {
            fc->watchers[i] = fc->watchers[--fc->count];
            break;
        }
    }
    pthread_cond_broadcast(&fc->changed);
    pthread_mutex_unlock(&fc->mu);
}

static void fake_destroy(void *self)
{
    fake_clock *fc = self;
    pthread_cond_destroy(&fc->changed);
    pthread_mutex_destroy(&fc->mu);
    free(fc->watchers);
    free(fc);
}

static const hbeat_clock_vtable fake_clock_vtable = {
    .version = HBEAT_CLOCK_VTABLE_VERSION,
    .now_ns = fake_now,
    .watch = fake_watch,
    .unwatch = fake_unwatch,
    .destroy = fake_destroy,
};

int hbeat_fake_clock_new(hbeat_clock **out, int64_t start_ns, hbeat_error *err)
{
    if (out == NULL)
        return hbeat_error_set(err, HBEAT_EINVAL, "hbeat_fake_clock_new: out is required");
    fake_clock *fc = calloc(1, sizeof(*fc));
    if (fc == NULL)
        return hbeat_error_set(err, HBEAT_ENOMEM, "out of memory for a fake clock");
    pthread_mutex_init(&fc->mu, NULL);
    hbeat__cond_init_monotonic(&fc->changed);
    fc->now = start_ns;
    int rc = hbeat_clock_new(out, &fake_clock_vtable, fc, err);
    if (rc != 0)
        fake_destroy(fc);
    return rc;
}

int hbeat_fake_clock_advance(hbeat_clock *clock, int64_t ns)
{
    fake_clock *fc = hbeat__clock_impl(clock, &fake_clock_vtable);
    if (fc == NULL || ns < 0)
        return HBEAT_EINVAL;
    pthread_mutex_lock(&fc->mu);
    __atomic_add_fetch(&fc->now, ns, __ATOMIC_ACQ_REL);
    for (int i = 0; i < fc->count; i++)
        fc->watchers[i].wake(fc->watchers[i].arg);
    fc->count = 0;
    pthread_cond_broadcast(&fc->changed);
    pthread_mutex_unlock(&fc->mu);
    return 0;
}

int hbeat_fake_clock_waiters(hbeat_clock *clock)
{
    fake_clock *fc = hbeat__clock_impl(clock, &fake_clock_vtable);
    if (fc == NULL)
        return HBEAT_EINVAL;
    pthread_mutex_lock(&fc->mu);
    int count = fc->count;
    pthread_mutex_unlock(&fc->mu);
    return count;
}

int hbeat_fake_clock_wait_waiters(hbeat_clock *clock, int n, double timeout_seconds)
{
    fake_clock *fc = hbeat__clock_impl(clock, &fake_clock_vtable);
    if (fc == NULL || isnan(timeout_seconds))
        return HBEAT_EINVAL;
    struct timespec until = hbeat__deadline_in(timeout_seconds);
    int rc = 0;
    pthread_mutex_lock(&fc->mu);
    while (fc->count < n && rc == 0) {
        if (pthread_cond_timedwait(&fc->changed, &fc->mu, &until) == ETIMEDOUT)
            rc = fc->count >= n ? 0 : HBEAT_ETIMEDOUT;
    }
    pthread_mutex_unlock(&fc->mu);
    return rc;
}
