/*
 * WatchRuns: a server-streaming call that carries the status of each
 * watched run, then each change of one as it commits (the engine's feed,
 * hbd_engine_watch_changes). Every message carries the change's number, so
 * a client keeps the newest of what it is told, whatever the order: the
 * first status of a run (read when the stream opens) and the changes
 * committed around that moment may arrive in either order.
 *
 * A watcher's state is guarded by the front end's watch_mu: the feed adds
 * messages from the committer's thread, the queue thread sends them one
 * batch at a time. A watcher is freed once its stream is over (its
 * RECV_CLOSE_ON_SERVER came back) and nothing of it is outstanding.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>

#include "common/grpc_codes.h"
#include "grpc_front_internal.h"
#include "hbeat/v1/hbeat.pb-c.h"
#include "log.h"

/* Runs one stream may watch. */
#define MAX_WATCHED 1000
/* Messages a watcher may have waiting; past it the client is too slow to
   follow, and its stream ends (RESOURCE_EXHAUSTED: it may subscribe
   again, and the new stream starts with every run's status). */
#define MAX_QUEUED 1024

typedef struct queued {
    grpc_byte_buffer *buf;
    struct queued *next;
} queued;

struct hbd_grpc_watcher;
typedef struct first_read {
    hbd_durable w;
    struct hbd_grpc_watcher *watcher;
    hbd_run run;
    hbeat_error err;
} first_read;

typedef struct hbd_grpc_watcher {
    hbd_grpc_watch_tag sent_tag, closed_tag;
    hbd_grpc *srv;
    grpc_call *call;
    int64_t *ids; /* sorted */
    size_t nids;
    /* The first status of every run: one read each, answered when durable
       (at once, or later with a deferred store); sent once all are in. */
    struct first_read *reads;
    size_t first_pending;
    int first_rc; /* the first read that failed, or 0 */
    int64_t first_failed_id;
    /* Under srv->watch_mu. */
    queued *head, **tail;
    size_t queued;
    grpc_byte_buffer *sending; /* the message of the batch in flight */
    int in_flight;             /* a batch on `sent` is outstanding */
    int header_sent;
    int ending, ended; /* a final status is due / has been started */
    int closed;        /* the stream is over */
    grpc_status_code end_status;
    char end_message[128];
    grpc_slice end_details;
    int cancelled;
    struct hbd_grpc_watcher *next;
} hbd_grpc_watcher;

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int watches(const hbd_grpc_watcher *w, int64_t id)
{
    return bsearch(&id, w->ids, w->nids, sizeof id, cmp_id) != NULL;
}

static grpc_byte_buffer *pack_change(int64_t run_id, const char *status, uint64_t change)
{
    HbeatPb__RunChange m = HBEAT_PB__RUN_CHANGE__INIT;
    m.workflow_run_id = run_id;
    m.status = (char *)status;
    m.change = change;
    size_t len = hbeat_pb__run_change__get_packed_size(&m);
    grpc_slice s = grpc_slice_malloc(len);
    hbeat_pb__run_change__pack(&m, GRPC_SLICE_START_PTR(s));
    grpc_byte_buffer *buf = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return buf;
}

static void free_messages(queued *m)
{
    while (m != NULL) {
        queued *next = m->next;
        grpc_byte_buffer_destroy(m->buf);
        free(m);
        m = next;
    }
}

/* Asks for the stream to end with `status` once what is queued is sent.
   Under watch_mu. */
static void end_locked(hbd_grpc_watcher *w, grpc_status_code status, const char *why)
{
    if (w->ending)
        return;
    w->ending = 1;
    w->end_status = status;
    snprintf(w->end_message, sizeof w->end_message, "%s", why);
}

/* Starts the next batch when none is in flight. Under watch_mu. */
static void kick_locked(hbd_grpc_watcher *w)
{
    if (w->in_flight || w->closed || w->ended)
        return;
    grpc_op ops[2];
    memset(ops, 0, sizeof ops);
    size_t n = 0;
    if (w->head == NULL && !w->ending)
        return;
    if (!w->header_sent) {
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
        w->header_sent = 1;
    }
    if (w->head != NULL) {
        queued *m = w->head;
        w->head = m->next;
        if (w->head == NULL)
            w->tail = &w->head;
        w->queued--;
        w->sending = m->buf;
        free(m);
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = w->sending;
    } else {
        w->end_details = grpc_slice_from_copied_string(w->end_message);
        ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        ops[n].data.send_status_from_server.status = w->end_status;
        ops[n++].data.send_status_from_server.status_details = &w->end_details;
        w->ended = 1;
    }
    if (grpc_call_start_batch(w->call, ops, n, &w->sent_tag, NULL) == GRPC_CALL_OK)
        w->in_flight = 1;
    else
        hbd_error("grpc: cannot send on a WatchRuns stream");
}

static void enqueue_locked(hbd_grpc_watcher *w, grpc_byte_buffer *buf)
{
    if (w->closed || w->ending) {
        grpc_byte_buffer_destroy(buf);
        return;
    }
    if (w->queued == MAX_QUEUED) {
        grpc_byte_buffer_destroy(buf);
        hbd_warn_limited("grpc: slow watcher",
                         "grpc WatchRuns: %d changes waiting; ending a "
                         "stream whose client does not keep up",
                         MAX_QUEUED);
        end_locked(w, GRPC_STATUS_RESOURCE_EXHAUSTED, "too many changes waiting; watch again");
        return;
    }
    queued *m = malloc(sizeof *m);
    if (m == NULL) {
        grpc_byte_buffer_destroy(buf);
        end_locked(w, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    m->buf = buf;
    m->next = NULL;
    *w->tail = m;
    w->tail = &m->next;
    w->queued++;
}

/* Frees `w` when nothing of it is outstanding any more. Called with
   watch_mu held; returns 1 when `w` is gone (and must not be touched). */
static int release_if_done_locked(hbd_grpc_watcher *w)
{
    if (!w->closed || w->in_flight || w->first_pending)
        return 0;
    free_messages(w->head);
    free(w->reads);
    grpc_byte_buffer_destroy(w->sending);
    grpc_slice_unref(w->end_details);
    grpc_call_unref(w->call);
    free(w->ids);
    free(w);
    return 1;
}

static void unlink_locked(hbd_grpc_watcher *w)
{
    hbd_grpc *srv = w->srv;
    for (hbd_grpc_watcher **p = &srv->watchers; *p != NULL; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            srv->nwatchers--;
            return;
        }
    }
}

void hbd_grpc_watch_completed(hbd_grpc_watch_tag *tag, int success)
{
    hbd_grpc_watcher *w = tag->watcher;
    hbd_grpc *srv = w->srv;
    pthread_mutex_lock(&srv->watch_mu);
    if (tag->kind == TAG_WATCH_CLOSED) {
        w->closed = 1;
        unlink_locked(w);
    } else {
        w->in_flight = 0;
        grpc_byte_buffer_destroy(w->sending);
        w->sending = NULL;
        if (!success)
            end_locked(w, GRPC_STATUS_UNAVAILABLE, "the stream is broken");
        kick_locked(w);
    }
    release_if_done_locked(w);
    pthread_mutex_unlock(&srv->watch_mu);
}

/* Every run's first status is in: queue them behind anything the feed
   queued meanwhile (the change numbers order them), or end the stream
   when a run could not be read. Under watch_mu. */
static void first_done_locked(hbd_grpc_watcher *w)
{
    if (w->first_rc == HBEAT_ENOTFOUND) {
        char why[96];
        snprintf(why, sizeof why, "no workflow run %lld", (long long)w->first_failed_id);
        end_locked(w, GRPC_STATUS_NOT_FOUND, why);
    } else if (w->first_rc != 0) {
        end_locked(w, (grpc_status_code)hbeat__grpc_status_from_code(w->first_rc),
                   "cannot read the runs' status");
    } else {
        for (size_t i = 0; i < w->nids; i++) {
            const hbd_run *r = &w->reads[i].run;
            enqueue_locked(w, pack_change(r->id, r->status, r->change));
        }
    }
    kick_locked(w);
}

static void on_first_read(void *arg, int rc)
{
    first_read *f = arg;
    hbd_grpc_watcher *w = f->watcher;
    hbd_grpc *srv = w->srv;
    pthread_mutex_lock(&srv->watch_mu);
    if (rc != 0 && w->first_rc == 0) {
        w->first_rc = rc;
        w->first_failed_id = w->ids[f - w->reads];
    }
    if (--w->first_pending == 0)
        first_done_locked(w);
    release_if_done_locked(w);
    pthread_mutex_unlock(&srv->watch_mu);
}

/* Starts reading every run's status; on_first_read collects them. */
static void read_first(hbd_grpc_watcher *w)
{
    for (size_t i = 0; i < w->nids; i++) {
        first_read *f = &w->reads[i];
        f->watcher = w;
        f->err = (hbeat_error)HBEAT_ERROR_INIT;
        uint64_t ticket = 0;
        int rc = hbd_engine_get_run_begin(w->srv->engine, w->ids[i], &f->run, &ticket, &f->err);
        if (rc != 0)
            on_first_read(f, rc);
        else
            hbd_engine_when_durable(w->srv->engine, ticket, &f->w, on_first_read, f);
    }
}

/* Ends every stream UNAVAILABLE once what it has queued is sent. Under
   watch_mu. */
static void end_all_locked(hbd_grpc *srv, const char *why)
{
    for (hbd_grpc_watcher *w = srv->watchers; w != NULL; w = w->next) {
        end_locked(w, GRPC_STATUS_UNAVAILABLE, why);
        kick_locked(w);
    }
}

void hbd_grpc_watch_change(void *arg, int64_t run_id, const char *status, uint64_t change)
{
    hbd_grpc *srv = arg;
    pthread_mutex_lock(&srv->watch_mu);
    if (status == NULL) {
        /* Changes may have been missed: a stream that went on would let
           its client believe a status that is no longer so. Its client
           watches again, and the new stream starts with every run's
           current status. */
        if (srv->watchers != NULL)
            hbd_warn("grpc WatchRuns: the feed of changes was interrupted; ending %u streams "
                     "(their clients watch again)",
                     srv->nwatchers);
        end_all_locked(srv, "the feed of changes was interrupted; watch again");
        pthread_mutex_unlock(&srv->watch_mu);
        return;
    }
    grpc_byte_buffer *buf = NULL;
    for (hbd_grpc_watcher *w = srv->watchers; w != NULL; w = w->next) {
        if (!watches(w, run_id))
            continue;
        if (buf == NULL)
            buf = pack_change(run_id, status, change);
        enqueue_locked(w, grpc_byte_buffer_copy(buf));
        kick_locked(w);
    }
    grpc_byte_buffer_destroy(buf);
    pthread_mutex_unlock(&srv->watch_mu);
}

void hbd_grpc_watch_end_all(hbd_grpc *srv)
{
    pthread_mutex_lock(&srv->watch_mu);
    end_all_locked(srv, "hbeatd is stopping");
    pthread_mutex_unlock(&srv->watch_mu);
}

/* The request's run ids, sorted and checked; 0, or an error in `c`. */
static int read_request(hbd_grpc_call *c, int64_t **ids, size_t *nids)
{
    grpc_byte_buffer_reader r;
    if (c->payload == NULL || !grpc_byte_buffer_reader_init(&r, c->payload)) {
        c->status = GRPC_STATUS_INVALID_ARGUMENT;
        snprintf(c->message, sizeof c->message, "no request message");
        return -1;
    }
    grpc_slice in = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    HbeatPb__WatchRunsRequest *req =
        hbeat_pb__watch_runs_request__unpack(NULL, GRPC_SLICE_LENGTH(in), GRPC_SLICE_START_PTR(in));
    grpc_slice_unref(in);
    int rc = -1;
    c->status = GRPC_STATUS_INVALID_ARGUMENT;
    if (req == NULL) {
        snprintf(c->message, sizeof c->message, "malformed request: not a WatchRunsRequest");
    } else if (req->n_workflow_run_ids == 0 || req->n_workflow_run_ids > MAX_WATCHED) {
        snprintf(c->message, sizeof c->message, "watch 1 to %d runs (got %zu)", MAX_WATCHED,
                 req->n_workflow_run_ids);
    } else if ((*ids = malloc(req->n_workflow_run_ids * sizeof **ids)) == NULL) {
        c->status = GRPC_STATUS_RESOURCE_EXHAUSTED;
        snprintf(c->message, sizeof c->message, "out of memory");
    } else {
        memcpy(*ids, req->workflow_run_ids, req->n_workflow_run_ids * sizeof **ids);
        qsort(*ids, req->n_workflow_run_ids, sizeof **ids, cmp_id);
        size_t n = 0;
        for (size_t i = 0; i < req->n_workflow_run_ids; i++) {
            if (n == 0 || (*ids)[i] != (*ids)[n - 1])
                (*ids)[n++] = (*ids)[i];
        }
        *nids = n;
        c->status = GRPC_STATUS_OK;
        rc = 0;
    }
    hbeat_pb__watch_runs_request__free_unpacked(req, NULL);
    return rc;
}

/* Refuses the call with the status and message it holds. */
static void refuse(hbd_grpc_call *c)
{
    c->counted = 0;
    hbd_warn_limited("grpc: refused WatchRuns", "grpc WatchRuns: refused: %s", c->message);
    grpc_op ops[3];
    memset(ops, 0, sizeof ops);
    c->status_details = grpc_slice_from_copied_string(c->message);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[1].data.send_status_from_server.status = c->status;
    ops[1].data.send_status_from_server.status_details = &c->status_details;
    ops[2].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[2].data.recv_close_on_server.cancelled = &c->cancelled;
    c->tag = TAG_ANSWERED;
    if (grpc_call_start_batch(c->call, ops, 3, c, NULL) != GRPC_CALL_OK)
        hbd_grpc_answered(c);
}

void hbd_grpc_watch_begin(hbd_grpc_call *c)
{
    hbd_grpc *srv = c->srv;
    hbd_right right = hbd_grpc_bearer_right(c);
    int64_t *ids = NULL;
    size_t nids = 0;
    if (right == HBD_RIGHT_NONE) {
        c->status = GRPC_STATUS_UNAUTHENTICATED;
        snprintf(c->message, sizeof c->message,
                 "a valid token is required (authorization: Bearer TOKEN)");
        refuse(c);
        return;
    }
    if (read_request(c, &ids, &nids) != 0) {
        refuse(c);
        return;
    }
    hbd_grpc_watcher *w = calloc(1, sizeof *w);
    if (w == NULL) {
        free(ids);
        c->status = GRPC_STATUS_RESOURCE_EXHAUSTED;
        snprintf(c->message, sizeof c->message, "out of memory");
        refuse(c);
        return;
    }
    w->sent_tag = (hbd_grpc_watch_tag){TAG_WATCH_SENT, w};
    w->closed_tag = (hbd_grpc_watch_tag){TAG_WATCH_CLOSED, w};
    w->srv = srv;
    w->ids = ids;
    w->nids = nids;
    w->tail = &w->head;
    w->end_details = grpc_empty_slice();
    w->reads = calloc(nids, sizeof *w->reads);

    pthread_mutex_lock(&srv->watch_mu);
    int full = srv->nwatchers >= srv->max_calls;
    pthread_mutex_unlock(&srv->watch_mu);
    if (w->reads == NULL || full) {
        c->status = GRPC_STATUS_RESOURCE_EXHAUSTED;
        if (full)
            snprintf(c->message, sizeof c->message, "too many WatchRuns streams (%u)",
                     srv->max_calls);
        else
            snprintf(c->message, sizeof c->message, "out of memory");
        free(w->reads);
        free(w->ids);
        free(w);
        refuse(c);
        return;
    }
    /* The stream takes the call over. */
    w->call = c->call;
    c->call = NULL;
    c->counted = 0;
    hbd_grpc_answered(c);
    grpc_op close_op;
    memset(&close_op, 0, sizeof close_op);
    close_op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    close_op.data.recv_close_on_server.cancelled = &w->cancelled;
    pthread_mutex_lock(&srv->watch_mu);
    if (grpc_call_start_batch(w->call, &close_op, 1, &w->closed_tag, NULL) != GRPC_CALL_OK) {
        /* Nothing will ever complete for it: drop it here. */
        pthread_mutex_unlock(&srv->watch_mu);
        hbd_error("grpc: cannot start a WatchRuns stream");
        free(w->reads);
        grpc_call_unref(w->call);
        free(w->ids);
        free(w);
        return;
    }
    w->next = srv->watchers;
    srv->watchers = w;
    srv->nwatchers++;
    w->first_pending = nids;
    if (atomic_load(&srv->stopping))
        end_locked(w, GRPC_STATUS_UNAVAILABLE, "hbeatd is stopping");
    pthread_mutex_unlock(&srv->watch_mu);
    read_first(w);
}
