#include "server_model.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_support.h"
#include "log.h"

static double fixed_clock(void *arg)
{
    (void)arg;
    return FZ_NOW;
}

hbd_engine *fz_engine_open(void)
{
    if (!fuzz_verbose())
        hbd_log_set_level(HBEAT_LOG_ERROR);
    hbd_engine_options o;
    memset(&o, 0, sizeof o);
    o.db_path = ":memory:";
    /* No reaper thread: the deadlines are compared by the targets. */
    o.reap_interval = 0;
    o.reap_grace = 0;
    o.clock = fixed_clock;
    hbd_engine *e = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbd_engine_open(&e, &o, &err);
    FUZZ_CHECK(rc == 0, "hbd_engine_open: %s", err.message);
    /* The non-blocking calls, and one wait for the last commit: seeding
       is most of the time an input costs. */
    uint64_t ticket = 0;
    hbd_run run;
    for (int i = 0; i < FZ_SEED_RUNS; i++) {
        char status[2] = {FZ_STATUSES[i], '\0'};
        rc = hbd_engine_create_run_begin(e, 100 + i + 1, status, NULL, &run, &ticket, &err);
        FUZZ_CHECK(rc == 0 && run.id == i + 1, "seeding run %d: %s", i + 1, err.message);
    }
    rc = hbd_engine_heartbeat_begin(e, 6, "R", 45.0, &run, &ticket, &err);
    FUZZ_CHECK(rc == 0 && run.deadline == FZ_NOW + 45.0, "seeding a beat: %s", err.message);
    fz_wait_durable(e, ticket);
    return e;
}

void fz_engine_close(hbd_engine *e)
{
    hbd_engine_close(e);
}

void fz_snapshot_take(hbd_engine *e, fz_snapshot *out)
{
    out->runs = NULL;
    out->count = 0;
    size_t cap = 0;
    int64_t after = 0;
    do {
        hbd_run *page = NULL;
        size_t n = 0;
        int64_t next = 0;
        hbeat_error err = HBEAT_ERROR_INIT;
        int rc = hbd_engine_list_runs(e, NULL, after, HBD_LIST_MAX, &page, &n, &next, &err);
        FUZZ_CHECK(rc == 0, "listing runs: %s", err.message);
        FUZZ_CHECK(next == 0 || (n > 0 && next == page[n - 1].id && next > after),
                   "listing after %lld: %zu runs, next %lld", (long long)after, n, (long long)next);
        if (out->count + n > cap) {
            cap = (out->count + n) * 2;
            out->runs = realloc(out->runs, cap * sizeof *out->runs);
            FUZZ_CHECK(out->runs != NULL, "out of memory");
        }
        if (n > 0)
            memcpy(out->runs + out->count, page, n * sizeof *page);
        out->count += n;
        free(page);
        after = next;
    } while (after != 0);
    for (size_t i = 1; i < out->count; i++)
        FUZZ_CHECK(out->runs[i].id > out->runs[i - 1].id, "run ids do not ascend");
}

void fz_snapshot_free(fz_snapshot *s)
{
    free(s->runs);
    s->runs = NULL;
    s->count = 0;
}

const hbd_run *fz_snapshot_find(const fz_snapshot *s, int64_t id)
{
    size_t lo = 0, hi = s->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->runs[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->count && s->runs[lo].id == id ? &s->runs[lo] : NULL;
}

int fz_run_equal(const hbd_run *a, const hbd_run *b)
{
    return a->id == b->id && a->workflow_id == b->workflow_id &&
           strcmp(a->status, b->status) == 0 && a->deadline == b->deadline &&
           a->last_heartbeat == b->last_heartbeat && a->beats == b->beats;
}

int fz_snapshot_equal(const fz_snapshot *a, const fz_snapshot *b)
{
    if (a->count != b->count)
        return 0;
    for (size_t i = 0; i < a->count; i++) {
        if (!fz_run_equal(&a->runs[i], &b->runs[i]))
            return 0;
    }
    return 1;
}

void fz_expect_state(const fz_snapshot *before, const fz_snapshot *after, const hbd_run *changed,
                     const char *what)
{
    size_t want = before->count;
    const hbd_run *old = changed != NULL ? fz_snapshot_find(before, changed->id) : NULL;
    if (changed != NULL && old == NULL)
        want++;
    FUZZ_CHECK(after->count == want, "%s left %zu runs, want %zu", what, after->count, want);
    for (size_t i = 0; i < before->count; i++) {
        const hbd_run *w = &before->runs[i] == old ? changed : &before->runs[i];
        FUZZ_CHECK(fz_run_equal(w, &after->runs[i]),
                   "%s left run %lld as %lld/%s/%.17g/%.17g/%llu, want %lld/%s/%.17g/%.17g/%llu",
                   what, (long long)w->id, (long long)after->runs[i].workflow_id,
                   after->runs[i].status, after->runs[i].deadline, after->runs[i].last_heartbeat,
                   (unsigned long long)after->runs[i].beats, (long long)w->workflow_id, w->status,
                   w->deadline, w->last_heartbeat, (unsigned long long)w->beats);
    }
    if (want > before->count)
        FUZZ_CHECK(fz_run_equal(changed, &after->runs[before->count]), "%s added run %lld wrongly",
                   what, (long long)changed->id);
}

int fz_status_known(const char *token)
{
    return token != NULL && token[0] != '\0' && token[1] == '\0' &&
           strchr(FZ_STATUSES, token[0]) != NULL;
}

fz_transition fz_transition_of(const char *from, const char *to)
{
    /* Jobmon's workflow-run states. */
    static const char *const valid[] = {"GL", "LB", "LA", "BI", "IO", "OR", "IE", "OE", "BE",
                                        "BC", "BH", "RD", "RS", "RC", "RH", "RE", "CT", "HT"};
    if ((from[0] == 'R' && to[0] == 'R') || (from[0] == 'L' && to[0] == 'L'))
        return FZ_UNTIMELY;
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        if (valid[i][0] == from[0] && valid[i][1] == to[0])
            return FZ_VALID;
    }
    return FZ_INVALID;
}

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    int rc;
} waiter;

static void durable(void *arg, int rc)
{
    waiter *w = arg;
    pthread_mutex_lock(&w->mu);
    w->done = 1;
    w->rc = rc;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void fz_wait_durable(hbd_engine *e, uint64_t ticket)
{
    waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    hbd_durable d;
    hbd_engine_when_durable(e, ticket, &d, durable, &w);
    pthread_mutex_lock(&w.mu);
    while (!w.done)
        pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    FUZZ_CHECK(w.rc == 0, "ticket %llu never became durable (%d)", (unsigned long long)ticket,
               w.rc);
}
