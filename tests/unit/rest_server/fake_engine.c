/* See fake_engine.h. Thread-safe: one mutex around everything. */
#define _POSIX_C_SOURCE 200809L

#include "unit/rest_server/fake_engine.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/log.h"

struct hbd_engine {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    hbd_run runs[FAKE_MAX_RUNS];
    size_t count;
    unsigned int calls;
    int fail_next;
    int fail_commit;
    uint64_t next_ticket;
    /* Held notifications, oldest first. */
    hbd_durable *head, *tail;
    int gate_closed;
    unsigned int held;
    unsigned int notified;
    int async;
    int quit;
    pthread_t notifier;
};

static const char *const valid[] = {"GL", "LB", "LA", "BI", "IO", "OR", "IE", "OE", "BE",
                                    "BC", "BH", "RD", "RS", "RC", "RH", "RE", "CT", "HT"};

/* 1 valid, 2 untimely (R->R, L->L), 0 invalid. */
static int transition(const char *from, const char *to)
{
    if (strlen(from) != 1 || strlen(to) != 1)
        return 0;
    if (from[0] == to[0] && (from[0] == 'R' || from[0] == 'L'))
        return 2;
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        if (valid[i][0] == from[0] && valid[i][1] == to[0])
            return 1;
    }
    return 0;
}

static int is_code(const char *s)
{
    return strlen(s) == 1 && strchr("GLBIORDSECHTA", s[0]) != NULL;
}

hbd_engine *fake_engine_new(void)
{
    hbd_engine *e = calloc(1, sizeof *e);
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    return e;
}

/* Takes the held list and the failure to report; called locked. */
static hbd_durable *take_held(hbd_engine *e, int *rc)
{
    hbd_durable *list = e->head;
    e->head = e->tail = NULL;
    *rc = e->fail_commit;
    if (list != NULL)
        e->fail_commit = 0;
    return list;
}

static void deliver(hbd_engine *e, hbd_durable *list, int rc)
{
    while (list != NULL) {
        hbd_durable *next = list->next;
        pthread_mutex_lock(&e->mu);
        e->notified++;
        pthread_mutex_unlock(&e->mu);
        list->fn(list->arg, rc);
        list = next;
    }
}

static void *notifier_main(void *arg)
{
    hbd_engine *e = arg;
    pthread_mutex_lock(&e->mu);
    for (;;) {
        while (!e->quit && (e->head == NULL || e->gate_closed))
            pthread_cond_wait(&e->cv, &e->mu);
        if (e->quit && (e->head == NULL || e->gate_closed))
            break;
        int rc;
        hbd_durable *list = take_held(e, &rc);
        pthread_mutex_unlock(&e->mu);
        deliver(e, list, rc);
        pthread_mutex_lock(&e->mu);
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

void fake_engine_async(hbd_engine *e)
{
    e->async = 1;
    pthread_create(&e->notifier, NULL, notifier_main, e);
}

void fake_engine_free(hbd_engine *e)
{
    if (e == NULL)
        return;
    if (e->async) {
        pthread_mutex_lock(&e->mu);
        e->quit = 1;
        pthread_cond_broadcast(&e->cv);
        pthread_mutex_unlock(&e->mu);
        pthread_join(e->notifier, NULL);
    }
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
    free(e);
}

static hbd_run *find(hbd_engine *e, int64_t id)
{
    for (size_t i = 0; i < e->count; i++) {
        if (e->runs[i].id == id)
            return &e->runs[i];
    }
    return NULL;
}

int64_t fake_engine_add(hbd_engine *e, int64_t workflow_id, const char *status)
{
    pthread_mutex_lock(&e->mu);
    hbd_run *r = &e->runs[e->count];
    memset(r, 0, sizeof *r);
    r->id = (int64_t)e->count + 1;
    r->workflow_id = workflow_id;
    snprintf(r->status, sizeof r->status, "%s", status);
    e->count++;
    int64_t id = r->id;
    pthread_mutex_unlock(&e->mu);
    return id;
}

int fake_engine_get(hbd_engine *e, int64_t id, hbd_run *out)
{
    pthread_mutex_lock(&e->mu);
    hbd_run *r = find(e, id);
    if (r != NULL)
        *out = *r;
    pthread_mutex_unlock(&e->mu);
    return r != NULL ? 0 : -1;
}

size_t fake_engine_snapshot(hbd_engine *e, hbd_run *out, size_t max)
{
    pthread_mutex_lock(&e->mu);
    size_t n = e->count < max ? e->count : max;
    memcpy(out, e->runs, n * sizeof *out);
    pthread_mutex_unlock(&e->mu);
    return n;
}

unsigned int fake_engine_calls(hbd_engine *e)
{
    pthread_mutex_lock(&e->mu);
    unsigned int n = e->calls;
    pthread_mutex_unlock(&e->mu);
    return n;
}

unsigned int fake_engine_notified(hbd_engine *e)
{
    pthread_mutex_lock(&e->mu);
    unsigned int n = e->notified;
    pthread_mutex_unlock(&e->mu);
    return n;
}

void fake_engine_fail_next(hbd_engine *e, int code)
{
    pthread_mutex_lock(&e->mu);
    e->fail_next = code;
    pthread_mutex_unlock(&e->mu);
}

void fake_engine_fail_commit(hbd_engine *e, int code)
{
    pthread_mutex_lock(&e->mu);
    e->fail_commit = code;
    pthread_mutex_unlock(&e->mu);
}

void fake_engine_gate_close(hbd_engine *e)
{
    pthread_mutex_lock(&e->mu);
    e->gate_closed = 1;
    pthread_mutex_unlock(&e->mu);
}

void fake_engine_gate_open(hbd_engine *e)
{
    pthread_mutex_lock(&e->mu);
    e->gate_closed = 0;
    pthread_cond_broadcast(&e->cv);
    int rc = 0;
    hbd_durable *list = e->async ? NULL : take_held(e, &rc);
    pthread_mutex_unlock(&e->mu);
    deliver(e, list, rc);
}

void fake_engine_wait_held(hbd_engine *e, unsigned int n)
{
    pthread_mutex_lock(&e->mu);
    while (e->held < n)
        pthread_cond_wait(&e->cv, &e->mu);
    pthread_mutex_unlock(&e->mu);
}

void hbd_engine_when_durable(hbd_engine *e, uint64_t ticket, hbd_durable *w, hbd_durable_fn fn,
                             void *arg)
{
    pthread_mutex_lock(&e->mu);
    w->next = NULL;
    w->ticket = ticket;
    w->fn = fn;
    w->arg = arg;
    if (!e->async && !e->gate_closed) {
        int rc = e->fail_commit;
        e->fail_commit = 0;
        e->notified++;
        pthread_mutex_unlock(&e->mu);
        fn(arg, rc);
        return;
    }
    if (e->tail != NULL)
        e->tail->next = w;
    else
        e->head = w;
    e->tail = w;
    if (e->gate_closed)
        e->held++;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

/* Counts the call, consumes an injected failure, hands out a ticket;
   called locked. */
static int enter(hbd_engine *e, uint64_t *ticket, hbeat_error *err)
{
    e->calls++;
    *ticket = 0;
    int code = e->fail_next;
    e->fail_next = 0;
    if (code != 0)
        return hbeat_error_set(err, code, "injected failure");
    *ticket = ++e->next_ticket;
    return 0;
}

static int not_found(int64_t run_id, hbeat_error *err)
{
    return hbeat_error_set(err, HBEAT_ENOTFOUND, "workflow run %lld not found", (long long)run_id);
}

int hbd_engine_heartbeat_begin(hbd_engine *e, int64_t run_id, const char *status,
                               double next_report_increment, hbd_run *out, uint64_t *ticket,
                               hbeat_error *err)
{
    pthread_mutex_lock(&e->mu);
    int rc = enter(e, ticket, err);
    hbd_run *r = rc == 0 ? find(e, run_id) : NULL;
    if (rc == 0 && r == NULL)
        rc = not_found(run_id, err);
    if (rc == 0) {
        if (transition(r->status, status) != 0) {
            snprintf(r->status, sizeof r->status, "%s", status);
            r->deadline = FAKE_NOW + next_report_increment;
            r->last_heartbeat = FAKE_NOW;
            r->beats++;
        }
        *out = *r;
    }
    pthread_mutex_unlock(&e->mu);
    return rc;
}

int hbd_engine_update_status_begin(hbd_engine *e, int64_t run_id, const char *status, hbd_run *out,
                                   uint64_t *ticket, hbeat_error *err)
{
    pthread_mutex_lock(&e->mu);
    int rc = enter(e, ticket, err);
    hbd_run *r = rc == 0 ? find(e, run_id) : NULL;
    if (rc == 0 && r == NULL)
        rc = not_found(run_id, err);
    if (rc == 0) {
        if (transition(r->status, status) != 0)
            snprintf(r->status, sizeof r->status, "%s", status);
        *out = *r;
    }
    pthread_mutex_unlock(&e->mu);
    return rc;
}

int hbd_engine_create_run_begin(hbd_engine *e, int64_t workflow_id, const char *status,
                                const double *next_report_increment, hbd_run *out, uint64_t *ticket,
                                hbeat_error *err)
{
    pthread_mutex_lock(&e->mu);
    int rc = enter(e, ticket, err);
    if (rc == 0 && !is_code(status))
        rc = hbeat_error_set(err, HBEAT_EINVAL, "unknown status \"%s\"", status);
    if (rc == 0 && next_report_increment != NULL && !(*next_report_increment >= 0))
        rc = hbeat_error_set(err, HBEAT_EINVAL, "next_report_increment must be >= 0");
    if (rc == 0 && e->count == FAKE_MAX_RUNS)
        rc = hbeat_error_set(err, HBEAT_ESYSTEM, "fake engine full");
    if (rc == 0) {
        hbd_run *r = &e->runs[e->count];
        memset(r, 0, sizeof *r);
        r->id = (int64_t)e->count + 1;
        r->workflow_id = workflow_id;
        snprintf(r->status, sizeof r->status, "%s", status);
        if (next_report_increment != NULL)
            r->deadline = FAKE_NOW + *next_report_increment;
        e->count++;
        *out = *r;
    }
    pthread_mutex_unlock(&e->mu);
    return rc;
}

int hbd_engine_get_run_begin(hbd_engine *e, int64_t run_id, hbd_run *out, uint64_t *ticket,
                             hbeat_error *err)
{
    pthread_mutex_lock(&e->mu);
    int rc = enter(e, ticket, err);
    hbd_run *r = rc == 0 ? find(e, run_id) : NULL;
    if (rc == 0 && r == NULL)
        rc = not_found(run_id, err);
    if (rc == 0)
        *out = *r;
    pthread_mutex_unlock(&e->mu);
    return rc;
}

int hbd_engine_list_runs_begin(hbd_engine *e, const char *status, int64_t after_id, uint32_t limit,
                               hbd_run **out, size_t *count, int64_t *next_after_id,
                               uint64_t *ticket, hbeat_error *err)
{
    pthread_mutex_lock(&e->mu);
    int rc = enter(e, ticket, err);
    if (rc == 0) {
        *out = calloc(limit, sizeof **out);
        *count = 0;
        *next_after_id = 0;
        for (size_t i = 0; i < e->count; i++) {
            hbd_run *r = &e->runs[i];
            if (r->id <= after_id || (status != NULL && strcmp(status, r->status) != 0))
                continue;
            if (*count == limit) {
                *next_after_id = (*out)[limit - 1].id;
                break;
            }
            (*out)[(*count)++] = *r;
        }
    }
    pthread_mutex_unlock(&e->mu);
    return rc;
}

int hbd_engine_set_status_begin(hbd_engine *e, int64_t run_id, const char *status, int force,
                                hbd_run *out, uint64_t *ticket, hbeat_error *err)
{
    pthread_mutex_lock(&e->mu);
    int rc = enter(e, ticket, err);
    hbd_run *r = rc == 0 ? find(e, run_id) : NULL;
    if (rc == 0 && r == NULL)
        rc = not_found(run_id, err);
    if (rc == 0 && !is_code(status))
        rc = hbeat_error_set(err, HBEAT_EINVAL, "unknown status \"%s\"", status);
    if (rc == 0) {
        if (force || transition(r->status, status) != 0)
            snprintf(r->status, sizeof r->status, "%s", status);
        *out = *r;
    }
    pthread_mutex_unlock(&e->mu);
    return rc;
}

/* --- the log --- */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned int log_count;
static char log_last[1024];

void hbd_log(hbeat_log_level level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&log_mu);
    log_count++;
    memcpy(log_last, line, sizeof line);
    pthread_mutex_unlock(&log_mu);
    if (getenv("REST_TEST_VERBOSE") != NULL)
        fprintf(stderr, "log[%d]: %s\n", (int)level, line);
}

void fake_log_reset(void)
{
    /* These tests count the lines of single requests; the limiter has
       tests of its own (tests/unit/security/test_log_limit.c). */
    hbd_log_limit_configure(1e9, 0);
    pthread_mutex_lock(&log_mu);
    log_count = 0;
    log_last[0] = '\0';
    pthread_mutex_unlock(&log_mu);
}

unsigned int fake_log_count(void)
{
    pthread_mutex_lock(&log_mu);
    unsigned int n = log_count;
    pthread_mutex_unlock(&log_mu);
    return n;
}

void fake_log_last(char *out, size_t cap)
{
    pthread_mutex_lock(&log_mu);
    snprintf(out, cap, "%s", log_last);
    pthread_mutex_unlock(&log_mu);
}
