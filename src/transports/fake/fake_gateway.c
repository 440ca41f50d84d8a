/* An in-memory gateway for unit tests: scripted answers, injected failures
   (the Nth call, once or for good, in the manner of SQLite's test_vfs.c),
   simulated latency on a fake clock and a record of every call. It is
   thread-safe, so the core may also use its asynchronous path. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/builtins.h"
#include "core/clock_internal.h"
#include "core/gateway_internal.h"
#include "core/stop_event_internal.h"
#include "hbeat/sys/fake.h"
#include "hbeat/sys/gateway.h"

typedef struct status_token {
    char s[HBEAT_STATUS_MAX + 1];
} status_token;

typedef struct pending_call {
    hbeat_gateway_done_fn done;
    void *arg;
    int rc;
    hbeat_heartbeat_reply reply;
    hbeat_error err;
} pending_call;

typedef struct fake {
    pthread_mutex_t mu;
    pthread_cond_t recorded; /* a call was recorded */
    hbeat_clock *clock;
    int64_t latency_ns;

    /* Script: queued replies first, then the held status, else an echo. */
    status_token *replies;
    size_t reply_head, reply_count, reply_cap;
    char held[HBEAT_STATUS_MAX + 1];

    /* Injected failure. */
    int fail_code;
    unsigned int fail_countdown; /* fail when it reaches 0 from 1 */
    int fail_persistent;
    int failing; /* failing for good */
    char fail_message[128];

    hbeat_fake_call *calls;
    size_t call_count, call_cap;

    pending_call *pending;
    size_t pending_count, pending_cap;
    int closed;
} fake;

static int grow(void **items, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t next = *cap ? *cap * 2 : 16;
    while (next < need)
        next *= 2;
    void *grown = realloc(*items, next * size);
    if (grown == NULL)
        return HBEAT_ENOMEM;
    *items = grown;
    *cap = next;
    return 0;
}

/* Decides a call's outcome and records it; called with f->mu held. */
static int answer(fake *f, hbeat_fake_call_kind kind, int64_t run_id, const char *status,
                  double increment, uint64_t sequence, hbeat_heartbeat_reply *reply,
                  hbeat_error *err)
{
    int rc = 0;
    if (f->fail_countdown > 0 && --f->fail_countdown == 0) {
        rc = f->fail_code;
        f->failing = f->fail_persistent;
    } else if (f->failing) {
        rc = f->fail_code;
    }
    if (rc != 0) {
        hbeat_error_set(err, rc, "fake gateway: %s",
                        f->fail_message[0] ? f->fail_message : hbeat_strerror(rc));
    } else {
        memset(reply, 0, sizeof(*reply));
        if (f->reply_count > 0) {
            strcpy(reply->status, f->replies[f->reply_head].s);
            f->reply_head = (f->reply_head + 1) % f->reply_cap;
            f->reply_count--;
        } else {
            strcpy(reply->status, f->held[0] ? f->held : status);
        }
    }

    if (grow((void **)&f->calls, &f->call_cap, f->call_count + 1, sizeof(*f->calls)) == 0) {
        hbeat_fake_call *c = &f->calls[f->call_count++];
        memset(c, 0, sizeof(*c));
        c->kind = kind;
        c->workflow_run_id = run_id;
        strncpy(c->status, status, HBEAT_STATUS_MAX);
        c->next_report_increment = increment;
        c->sequence = sequence;
        c->time_ns = hbeat_clock_now_ns(f->clock);
        c->result = rc;
        pthread_cond_broadcast(&f->recorded);
    }
    return rc;
}

/* Simulated latency: the call takes that long on a fake clock. */
static void take_time(fake *f)
{
    pthread_mutex_lock(&f->mu);
    int64_t latency = f->latency_ns;
    pthread_mutex_unlock(&f->mu);
    if (latency > 0)
        hbeat_fake_clock_advance(f->clock, latency);
}

static int fake_log_heartbeat(void *self, const hbeat_heartbeat_request *req,
                              hbeat_heartbeat_reply *reply, hbeat_error *err)
{
    fake *f = self;
    pthread_mutex_lock(&f->mu);
    int rc = answer(f, HBEAT_FAKE_HEARTBEAT, req->workflow_run_id, req->status,
                    req->next_report_increment, req->sequence, reply, err);
    pthread_mutex_unlock(&f->mu);
    take_time(f);
    return rc;
}

static int fake_update_status(void *self, int64_t run_id, const char *status,
                              hbeat_heartbeat_reply *reply, hbeat_error *err)
{
    fake *f = self;
    pthread_mutex_lock(&f->mu);
    int rc = answer(f, HBEAT_FAKE_UPDATE_STATUS, run_id, status, 0, 0, reply, err);
    pthread_mutex_unlock(&f->mu);
    take_time(f);
    return rc;
}

static int fake_log_heartbeat_async(void *self, const hbeat_heartbeat_request *req,
                                    hbeat_gateway_done_fn done, void *arg, hbeat_error *err)
{
    fake *f = self;
    pthread_mutex_lock(&f->mu);
    int rc = 0;
    if (f->closed)
        rc = hbeat_error_set(err, HBEAT_ECANCELED, "fake gateway: closed");
    else if (grow((void **)&f->pending, &f->pending_cap, f->pending_count + 1,
                  sizeof(*f->pending)) != 0)
        rc = hbeat_error_set(err, HBEAT_ENOMEM, "fake gateway: out of memory");
    if (rc == 0) {
        pending_call *p = &f->pending[f->pending_count++];
        memset(p, 0, sizeof(*p));
        p->done = done;
        p->arg = arg;
        p->rc = answer(f, HBEAT_FAKE_HEARTBEAT, req->workflow_run_id, req->status,
                       req->next_report_increment, req->sequence, &p->reply, &p->err);
    }
    pthread_mutex_unlock(&f->mu);
    return rc;
}

/* Completes up to `max` pending calls with their own outcome, or all of them
   with `cancel_rc` when it is not 0. */
static int complete(fake *f, int max, int cancel_rc)
{
    int completed = 0;
    for (;;) {
        pthread_mutex_lock(&f->mu);
        if (f->pending_count == 0 || (max >= 0 && completed >= max)) {
            pthread_mutex_unlock(&f->mu);
            return completed;
        }
        pending_call p = f->pending[0];
        memmove(f->pending, f->pending + 1, (f->pending_count - 1) * sizeof(*f->pending));
        f->pending_count--;
        pthread_mutex_unlock(&f->mu);

        if (cancel_rc != 0) {
            p.rc =
                hbeat_error_set(&p.err, cancel_rc, "fake gateway: closed with the call in flight");
        }
        p.done(p.arg, p.rc, p.rc == 0 ? &p.reply : NULL, p.rc == 0 ? NULL : &p.err);
        completed++;
    }
}

static void fake_close(void *self)
{
    fake *f = self;
    pthread_mutex_lock(&f->mu);
    f->closed = 1;
    pthread_mutex_unlock(&f->mu);
    complete(f, -1, HBEAT_ECANCELED);
}

static void fake_destroy(void *self)
{
    fake *f = self;
    pthread_cond_destroy(&f->recorded);
    pthread_mutex_destroy(&f->mu);
    free(f->replies);
    free(f->calls);
    free(f->pending);
    free(f);
}

static const hbeat_gateway_vtable fake_vtable = {
    .version = HBEAT_GATEWAY_VTABLE_VERSION,
    .name = "fake",
    .flags = HBEAT_GATEWAY_THREAD_SAFE,
    .destroy = fake_destroy,
    .log_heartbeat = fake_log_heartbeat,
    .close = fake_close,
    .update_status = fake_update_status,
};

static const hbeat_gateway_vtable fake_async_vtable = {
    .version = HBEAT_GATEWAY_VTABLE_VERSION,
    .name = "fake",
    .flags = HBEAT_GATEWAY_THREAD_SAFE,
    .destroy = fake_destroy,
    .log_heartbeat = fake_log_heartbeat,
    .log_heartbeat_async = fake_log_heartbeat_async,
    .close = fake_close,
    .update_status = fake_update_status,
};

static fake *fake_of(hbeat_gateway *gw)
{
    fake *f = hbeat__gateway_impl(gw, &fake_vtable);
    return f != NULL ? f : hbeat__gateway_impl(gw, &fake_async_vtable);
}

int hbeat_fake_gateway_new(hbeat_gateway **out, hbeat_clock *clock, unsigned int flags,
                           hbeat_error *err)
{
    if (out == NULL)
        return hbeat_error_set(err, HBEAT_EINVAL, "hbeat_fake_gateway_new: out is required");
    if (flags & ~HBEAT_FAKE_ASYNC)
        return hbeat_error_set(err, HBEAT_EINVAL, "hbeat_fake_gateway_new: unknown flags 0x%x",
                               flags);
    fake *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return hbeat_error_set(err, HBEAT_ENOMEM, "out of memory for a fake gateway");
    pthread_mutex_init(&f->mu, NULL);
    hbeat__cond_init_monotonic(&f->recorded);
    f->clock = clock != NULL ? clock : hbeat_clock_system();
    const hbeat_gateway_vtable *vt = (flags & HBEAT_FAKE_ASYNC) ? &fake_async_vtable : &fake_vtable;
    int rc = hbeat_gateway_new(out, vt, f, err);
    if (rc != 0)
        fake_destroy(f);
    return rc;
}

int hbeat__fake_open(hbeat_gateway **out, const char *url, const hbeat_gateway_options *opts,
                     void *data, hbeat_error *err)
{
    (void)url;
    (void)opts;
    (void)data;
    return hbeat_fake_gateway_new(out, NULL, 0, err);
}

int hbeat_fake_gateway_push_reply(hbeat_gateway *gw, const char *status)
{
    fake *f = fake_of(gw);
    if (f == NULL || !hbeat_status_is_valid(status))
        return HBEAT_EINVAL;
    pthread_mutex_lock(&f->mu);
    int rc = 0;
    if (f->reply_count == f->reply_cap) {
        /* Unroll the ring into a bigger array. */
        size_t cap = f->reply_cap ? f->reply_cap * 2 : 8;
        status_token *grown = malloc(cap * sizeof(*grown));
        if (grown == NULL) {
            rc = HBEAT_ENOMEM;
        } else {
            for (size_t i = 0; i < f->reply_count; i++)
                grown[i] = f->replies[(f->reply_head + i) % f->reply_cap];
            free(f->replies);
            f->replies = grown;
            f->reply_cap = cap;
            f->reply_head = 0;
        }
    }
    if (rc == 0) {
        status_token *t = &f->replies[(f->reply_head + f->reply_count) % f->reply_cap];
        strcpy(t->s, status);
        f->reply_count++;
    }
    pthread_mutex_unlock(&f->mu);
    return rc;
}

int hbeat_fake_gateway_set_server_status(hbeat_gateway *gw, const char *status)
{
    fake *f = fake_of(gw);
    if (f == NULL || (status != NULL && !hbeat_status_is_valid(status)))
        return HBEAT_EINVAL;
    pthread_mutex_lock(&f->mu);
    strcpy(f->held, status != NULL ? status : "");
    pthread_mutex_unlock(&f->mu);
    return 0;
}

int hbeat_fake_gateway_fail(hbeat_gateway *gw, int code, unsigned int nth, int persistent,
                            const char *message)
{
    fake *f = fake_of(gw);
    if (f == NULL || code >= 0 || nth == 0)
        return HBEAT_EINVAL;
    pthread_mutex_lock(&f->mu);
    f->fail_code = code;
    f->fail_countdown = nth;
    f->fail_persistent = persistent != 0;
    f->failing = 0;
    strncpy(f->fail_message, message != NULL ? message : "", sizeof(f->fail_message) - 1);
    f->fail_message[sizeof(f->fail_message) - 1] = '\0';
    pthread_mutex_unlock(&f->mu);
    return 0;
}

int hbeat_fake_gateway_heal(hbeat_gateway *gw)
{
    fake *f = fake_of(gw);
    if (f == NULL)
        return HBEAT_EINVAL;
    pthread_mutex_lock(&f->mu);
    f->fail_countdown = 0;
    f->failing = 0;
    pthread_mutex_unlock(&f->mu);
    return 0;
}

int hbeat_fake_gateway_set_latency(hbeat_gateway *gw, int64_t ns)
{
    fake *f = fake_of(gw);
    if (f == NULL || ns < 0)
        return HBEAT_EINVAL;
    pthread_mutex_lock(&f->mu);
    f->latency_ns = ns;
    pthread_mutex_unlock(&f->mu);
    return 0;
}

int hbeat_fake_gateway_complete(hbeat_gateway *gw, int max)
{
    fake *f = fake_of(gw);
    if (f == NULL || max < 0)
        return HBEAT_EINVAL;
    return complete(f, max, 0);
}

int hbeat_fake_gateway_pending(hbeat_gateway *gw)
{
    fake *f = fake_of(gw);
    if (f == NULL)
        return HBEAT_EINVAL;
    pthread_mutex_lock(&f->mu);
    int n = (int)f->pending_count;
    pthread_mutex_unlock(&f->mu);
    return n;
}

int hbeat_fake_gateway_call_count(hbeat_gateway *gw)
{
    fake *f = fake_of(gw);
    if (f == NULL)
        return HBEAT_EINVAL;
    pthread_mutex_lock(&f->mu);
    int n = (int)f->call_count;
    pthread_mutex_unlock(&f->mu);
    return n;
}

int hbeat_fake_gateway_call(hbeat_gateway *gw, int index, hbeat_fake_call *out)
{
    fake *f = fake_of(gw);
    if (f == NULL || out == NULL || index < 0)
        return HBEAT_EINVAL;
    pthread_mutex_lock(&f->mu);
    int rc = HBEAT_EINVAL;
    if ((size_t)index < f->call_count) {
        *out = f->calls[index];
        rc = 0;
    }
    pthread_mutex_unlock(&f->mu);
    return rc;
}

int hbeat_fake_gateway_clear_calls(hbeat_gateway *gw)
{
    fake *f = fake_of(gw);
    if (f == NULL)
        return HBEAT_EINVAL;
    pthread_mutex_lock(&f->mu);
    f->call_count = 0;
    pthread_mutex_unlock(&f->mu);
    return 0;
}

int hbeat_fake_gateway_wait_calls(hbeat_gateway *gw, int n, double timeout_seconds)
{
    fake *f = fake_of(gw);
    if (f == NULL || isnan(timeout_seconds))
        return HBEAT_EINVAL;
    struct timespec until = hbeat__deadline_in(timeout_seconds);
    int rc = 0;
    pthread_mutex_lock(&f->mu);
    while ((int)f->call_count < n && rc == 0) {
        if (pthread_cond_timedwait(&f->recorded, &f->mu, &until) == ETIMEDOUT)
            rc = (int)f->call_count >= n ? 0 : HBEAT_ETIMEDOUT;
    }
    pthread_mutex_unlock(&f->mu);
    return rc;
}
