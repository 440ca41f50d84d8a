/* Between front_grpc.c (the server, its queue and its call slots) and
   grpc_serve.c (one call, from its request to its answer). */
#ifndef HBD_GRPC_FRONT_INTERNAL_H
#define HBD_GRPC_FRONT_INTERNAL_H

#include <grpc/grpc.h>
#include <pthread.h>
#include <stdatomic.h>

#include "front_grpc.h"
#include "metrics.h"

/* The methods served, by index: the calls, health's Check, WatchRuns. */
enum {
    HBD_GRPC_HEALTH_CHECK = HBD_CALL_COUNT,
    HBD_GRPC_WATCH_RUNS,
    HBD_GRPC_METHODS,
    HBD_GRPC_UNKNOWN = -1 /* any other method: UNIMPLEMENTED */
};

/* What a completion on the queue is about; the first member of its tag. */
typedef enum hbd_grpc_tag {
    TAG_NEW_CALL,
    TAG_ANSWERED,
    TAG_SHUTDOWN,
    TAG_WATCH_SENT,  /* a watcher's message or final status went out */
    TAG_WATCH_CLOSED /* a watcher's stream is over (client gone, or ended) */
} hbd_grpc_tag;

struct hbd_grpc_watcher;
/* A watcher's tag: its kind and its watcher. */
typedef struct hbd_grpc_watch_tag {
    hbd_grpc_tag kind;
    struct hbd_grpc_watcher *watcher;
} hbd_grpc_watch_tag;

struct hbd_grpc {
    hbd_engine *engine;
    hbd_auth *auth;
    grpc_server *server;
    grpc_completion_queue *cq;
    void *registered[HBD_GRPC_METHODS];
    pthread_t thread;
    int thread_started;
    unsigned int max_calls;
    atomic_uint in_flight;
    atomic_int stopping;
    hbd_grpc_tag shutdown_tag;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int shut_down; /* the shutdown tag has come */
    char url[96];
    /* Taken around starting an answer's batch, and by the queue thread
       before it reads an answered call: the answer may start on the
       store's writer thread, and the hand-off inside gRPC's library is
       invisible to ThreadSanitizer. */
    pthread_mutex_t answer_mu;
    /* Open WatchRuns streams, and how many. */
    pthread_mutex_t watch_mu;
    struct hbd_grpc_watcher *watchers;
    unsigned int nwatchers;
};

/* One call, from the slot that waits for it to its answer. */
typedef struct hbd_grpc_call {
    hbd_grpc_tag tag;
    hbd_grpc *srv;
    int method; /* an index above, or HBD_GRPC_UNKNOWN */
    grpc_call *call;
    gpr_timespec deadline;
    grpc_call_details details; /* the unknown method's name */
    grpc_metadata_array metadata;
    grpc_byte_buffer *payload;
    double started;
    int counted; /* in the metrics */
    int slot;    /* holds one of srv->in_flight */
    /* The answer: a reply message, or a status with a message. */
    grpc_byte_buffer *reply;
    grpc_status_code status;
    char message[256];
    grpc_slice status_details;
    int cancelled;
    hbd_durable durable;
    /* With a deferred engine: the request and the call's outputs, until
       its ticket is reported and the reply built (grpc_serve.c). */
    struct grpc_later *later;
} hbd_grpc_call;

/* Serves a call that has just arrived: answers it now, or once its change
   is durable. */
void hbd_grpc_serve(hbd_grpc_call *c);
/* The call's answer has been sent (or the call is gone): records it and
   frees it. */
void hbd_grpc_answered(hbd_grpc_call *c);
/* The right the call's "authorization: Bearer TOKEN" metadata grants. */
hbd_right hbd_grpc_bearer_right(const hbd_grpc_call *c);

/* WatchRuns (grpc_watch.c). A new WatchRuns call: the stream takes the
   call over, or the call is answered with an error. */
void hbd_grpc_watch_begin(hbd_grpc_call *c);
/* A watcher's batch completed (a TAG_WATCH_* tag). */
void hbd_grpc_watch_completed(hbd_grpc_watch_tag *tag, int success);
/* The engine's feed of status changes (hbd_change_fn). */
void hbd_grpc_watch_change(void *srv, int64_t run_id, const char *status, uint64_t change);
/* Ends every stream (UNAVAILABLE: the server is stopping). */
void hbd_grpc_watch_end_all(hbd_grpc *srv);

#endif /* HBD_GRPC_FRONT_INTERNAL_H */
