/*
 * Watching a run over gRPC: a WatchRuns stream on the gateway's channel,
 * whose messages (the run's status, then each change, numbered) go to the
 * watcher's push callback; the newest number wins, so a status older than
 * one already passed on is dropped.
 *
 * The stream lives on the gateway's completion queue thread. It is started
 * with "wait for ready", so while the server is down it waits for the
 * channel to reconnect instead of failing; when a stream ends (the server
 * stopped, or the connection broke) a new one is started, and it begins
 * with the run's current status, so no change is missed. Streams that end
 * without a message (a server that is stopping refuses new ones) are
 * started again after a growing pause, 0.1 s up to 2 s, which gRPC's
 * channel state watch times on the same queue. A stream the server refuses
 * for good (an unknown run, a refused token) ends the watch, with a line
 * in the log.
 */
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/support/time.h>

#include "core/log_internal.h"
#include "transports/grpc/grpc_internal.h"

/* The pause before watching anew after a stream that brought nothing. */
#define RETRY_FIRST_MS 100
#define RETRY_MAX_MS   2000

/* One outstanding batch of a stream: the tag the queue hands back. */
typedef struct watch_tag {
    hbeat__grpc_tag kind; /* HBEAT__GRPC_TAG_WATCH */
    hbeat__grpc_watch *watch;
    int which; /* OPENED, RECEIVED, ENDED or PAUSED */
} watch_tag;

enum { OPENED, RECEIVED, ENDED, PAUSED, TAGS };

struct hbeat__grpc_watch {
    watch_tag tags[TAGS];
    hbeat__grpc_gw *gw;
    int64_t run_id;
    hbeat_status_push_fn push;
    void *arg;
    /* The stream, under gw->mu (but for newest and messages, which only
       the queue thread touches once the stream is open). */
    grpc_call *call;
    grpc_metadata auth;
    grpc_byte_buffer *request, *message;
    grpc_metadata_array initial, trailing;
    grpc_status_code status;
    grpc_slice details;
    int batches; /* outstanding, the pause included */
    uint64_t newest;
    int messages; /* on this stream */
    int pause_ms; /* before the next stream; 0 after one that brought messages */
    int stopping, finished, counted;
    hbeat__grpc_watch *next;
};

static grpc_byte_buffer *request_for(int64_t run_id)
{
    HbeatPb__WatchRunsRequest req = HBEAT_PB__WATCH_RUNS_REQUEST__INIT;
    req.n_workflow_run_ids = 1;
    req.workflow_run_ids = &run_id;
    grpc_slice s = grpc_slice_malloc(hbeat_pb__watch_runs_request__get_packed_size(&req));
    hbeat_pb__watch_runs_request__pack(&req, GRPC_SLICE_START_PTR(s));
    grpc_byte_buffer *b = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return b;
}

static int start_batch(hbeat__grpc_watch *w, grpc_op *ops, size_t n, int which)
{
    w->batches++;
    if (grpc_call_start_batch(w->call, ops, n, &w->tags[which], NULL) != GRPC_CALL_OK) {
        w->batches--;
        return -1;
    }
    return 0;
}

static void receive_next(hbeat__grpc_watch *w)
{
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &w->message;
    start_batch(w, &op, 1, RECEIVED);
}

static void close_stream(hbeat__grpc_watch *w);

/* Opens a stream: the request, then the status (whenever it ends). 0, or
   -1 when gRPC would not start it. With gw->mu held. */
static int open_stream(hbeat__grpc_watch *w)
{
    hbeat__grpc_gw *gw = w->gw;
    w->call = grpc_channel_create_registered_call(gw->channel, NULL, GRPC_PROPAGATE_DEFAULTS,
                                                  gw->cq, gw->methods[HBEAT__GRPC_WATCH_RUNS],
                                                  gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (w->call == NULL) {
        return -1;
    }
    w->messages = 0;
    w->newest = 0;
    w->request = request_for(w->run_id);
    grpc_metadata_array_init(&w->initial);
    grpc_metadata_array_init(&w->trailing);
    w->details = grpc_empty_slice();
    grpc_op ops[4];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].flags = GRPC_INITIAL_METADATA_WAIT_FOR_READY;
    ops[0].data.send_initial_metadata.metadata = hbeat__grpc_auth_metadata(gw, &w->auth);
    ops[0].data.send_initial_metadata.count = ops[0].data.send_initial_metadata.metadata != NULL;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = w->request;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &w->initial;
    grpc_op end;
    memset(&end, 0, sizeof(end));
    end.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    end.data.recv_status_on_client.trailing_metadata = &w->trailing;
    end.data.recv_status_on_client.status = &w->status;
    end.data.recv_status_on_client.status_details = &w->details;
    if (start_batch(w, ops, 4, OPENED) == 0 && start_batch(w, &end, 1, ENDED) == 0) {
        return 0;
    }
    grpc_call_cancel(w->call, NULL);
    if (w->batches > 0) {
        return 0; /* ends through the queue like any stream */
    }
    close_stream(w);
    return -1;
}

static void close_stream(hbeat__grpc_watch *w)
{
    grpc_call_unref(w->call);
    w->call = NULL;
    grpc_byte_buffer_destroy(w->request);
    w->request = NULL;
    grpc_metadata_array_destroy(&w->initial);
    grpc_metadata_array_destroy(&w->trailing);
    grpc_slice_unref(w->details);
}

/* A stream message: the run's status, passed on when newer than any
   before. Without gw->mu, so that push may take its own locks. */
static void deliver(hbeat__grpc_watch *w, grpc_byte_buffer *message)
{
    grpc_byte_buffer_reader r;
    if (!grpc_byte_buffer_reader_init(&r, message)) {
        return;
    }
    grpc_slice body = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    HbeatPb__RunChange *m =
        hbeat_pb__run_change__unpack(NULL, GRPC_SLICE_LENGTH(body), GRPC_SLICE_START_PTR(body));
    grpc_slice_unref(body);
    if (m == NULL || m->workflow_run_id != w->run_id || !hbeat_status_is_valid(m->status)) {
        hbeat__log(HBEAT_LOG_WARN,
                   "gRPC: %.160s: a WatchRuns message that is not a status of "
                   "run %lld; ignored",
                   w->gw->url, (long long)w->run_id);
    } else if (w->messages++ == 0 || m->change > w->newest) {
        w->newest = m->change;
        w->push(w->arg, w->run_id, m->status);
    }
    hbeat_pb__run_change__free_unpacked(m, NULL);
}

static void finish_locked(hbeat__grpc_watch *w);

/* The stream is over and nothing of it is outstanding: watch anew, or end
   the watch. With gw->mu held. */
static void stream_over(hbeat__grpc_watch *w)
{
    hbeat__grpc_gw *gw = w->gw;
    grpc_status_code status = w->status;
    char details[160];
    size_t n = GRPC_SLICE_LENGTH(w->details);
    n = n < sizeof(details) - 1 ? n : sizeof(details) - 1;
    memcpy(details, GRPC_SLICE_START_PTR(w->details), n);
    details[n] = '\0';
    w->pause_ms = w->messages > 0                  ? 0
                  : w->pause_ms == 0               ? RETRY_FIRST_MS
                  : w->pause_ms * 2 < RETRY_MAX_MS ? w->pause_ms * 2
                                                   : RETRY_MAX_MS;
    close_stream(w);
    int refused = status == GRPC_STATUS_NOT_FOUND || status == GRPC_STATUS_UNAUTHENTICATED ||
                  status == GRPC_STATUS_PERMISSION_DENIED ||
                  status == GRPC_STATUS_INVALID_ARGUMENT || status == GRPC_STATUS_UNIMPLEMENTED;
    if (!w->stopping && !gw->closing && !refused) {
        if (w->pause_ms == 0 && open_stream(w) == 0) {
            return;
        }
        /* Times the pause: fires when the channel's state changes or at the
           deadline, whichever comes first. */
        gpr_timespec at = gpr_time_add(
            gpr_now(GPR_CLOCK_MONOTONIC),
            gpr_time_from_millis(w->pause_ms ? w->pause_ms : RETRY_FIRST_MS, GPR_TIMESPAN));
        grpc_channel_watch_connectivity_state(gw->channel,
                                              grpc_channel_check_connectivity_state(gw->channel, 0),
                                              at, gw->cq, &w->tags[PAUSED]);
        w->batches++;
        return;
    }
    if (refused) {
        hbeat__log(HBEAT_LOG_WARN, "gRPC: %.160s: watching run %lld ends: %s", gw->url,
                   (long long)w->run_id, details);
    }
    finish_locked(w);
}

/* The pause is over: watch anew, unless the watch or the gateway ends. */
static void pause_over(hbeat__grpc_watch *w)
{
    if (!w->stopping && !w->gw->closing && open_stream(w) == 0) {
        return;
    }
    finish_locked(w);
}

static void finish_locked(hbeat__grpc_watch *w)
{
    hbeat__grpc_gw *gw = w->gw;
    w->finished = 1;
    if (w->counted) {
        w->counted = 0;
        gw->in_flight--;
    }
    pthread_cond_broadcast(&gw->idle);
}

void hbeat__grpc_watch_event(void *tag, int success)
{
    watch_tag *t = tag;
    hbeat__grpc_watch *w = t->watch;
    hbeat__grpc_gw *gw = w->gw;
    grpc_byte_buffer *message = NULL;
    pthread_mutex_lock(&gw->mu);
    w->batches--;
    if (t->which == PAUSED) {
        pause_over(w);
        pthread_mutex_unlock(&gw->mu);
        return;
    }
    if (t->which == OPENED && success) {
        receive_next(w);
    } else if (t->which == RECEIVED && w->message != NULL) {
        message = w->message;
        w->message = NULL;
        receive_next(w);
    }
    pthread_mutex_unlock(&gw->mu);
    /* The next completion of this stream waits for this one: this thread
       takes them all. */
    if (message != NULL) {
        deliver(w, message);
        grpc_byte_buffer_destroy(message);
    }
    pthread_mutex_lock(&gw->mu);
    if (w->batches == 0) {
        stream_over(w);
    }
    pthread_mutex_unlock(&gw->mu);
}

int hbeat__grpc_watch_start(void *self, int64_t workflow_run_id, hbeat_status_push_fn push,
                            void *arg, void **handle, hbeat_error *err)
{
    hbeat__grpc_gw *gw = self;
    if (workflow_run_id <= 0 || push == NULL || handle == NULL) {
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "gRPC: watch needs a run id > 0, a push callback and a handle");
    }
    hbeat__grpc_watch *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        return hbeat_error_set(err, HBEAT_ENOMEM, "gRPC: out of memory");
    }
    for (int i = 0; i < TAGS; i++) {
        w->tags[i] = (watch_tag){HBEAT__GRPC_TAG_WATCH, w, i};
    }
    w->gw = gw;
    w->run_id = workflow_run_id;
    w->push = push;
    w->arg = arg;
    if (hbeat__grpc_enter(gw, err) != 0) {
        free(w);
        return HBEAT_ECANCELED;
    }
    w->next = gw->watches;
    gw->watches = w;
    gw->in_flight++;
    w->counted = 1;
    /* Under the lock, so that a close cancelling every watch sees it. */
    int rc = open_stream(w);
    pthread_mutex_unlock(&gw->mu);
    if (rc != 0) {
        hbeat__grpc_unwatch(gw, w);
        return hbeat_error_set(err, HBEAT_ESYSTEM, "gRPC: %.160s: cannot start a WatchRuns call",
                               gw->url);
    }
    *handle = w;
    return 0;
}

void hbeat__grpc_watch_cancel_all_locked(hbeat__grpc_gw *gw)
{
    for (hbeat__grpc_watch *w = gw->watches; w != NULL; w = w->next) {
        if (w->call != NULL) {
            grpc_call_cancel(w->call, NULL);
        }
    }
}

void hbeat__grpc_unwatch(void *self, void *handle)
{
    hbeat__grpc_gw *gw = self;
    hbeat__grpc_watch *w = handle;
    pthread_mutex_lock(&gw->mu);
    w->stopping = 1;
    if (w->call != NULL && !w->finished) {
        grpc_call_cancel(w->call, NULL);
    }
    if (w->call == NULL && w->batches == 0 && !w->finished) {
        /* Never opened: nothing will come back for it. */
        w->finished = 1;
        if (w->counted) {
            gw->in_flight--;
            pthread_cond_broadcast(&gw->idle);
        }
        w->counted = 0;
    }
    while (!w->finished) {
        pthread_cond_wait(&gw->idle, &gw->mu);
    }
    for (hbeat__grpc_watch **p = &gw->watches; *p != NULL; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            break;
        }
    }
    pthread_mutex_unlock(&gw->mu);
    free(w);
}
