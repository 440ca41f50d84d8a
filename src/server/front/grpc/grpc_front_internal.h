/* Between front_grpc.c (the server, its queue and its call slots) and
   grpc_serve.c (one call, from its request to its answer). */
#ifndef HBD_GRPC_FRONT_INTERNAL_H
#define HBD_GRPC_FRONT_INTERNAL_H

#include <grpc/grpc.h>
#include <pthread.h>
#include <stdatomic.h>

#include "front_grpc.h"
#include "metrics.h"

/* The methods served, by index. */
enum {
    HBD_GRPC_METHODS = HBD_CALL_COUNT + 1, /* the calls, then health's Check */
    HBD_GRPC_HEALTH_CHECK = HBD_CALL_COUNT,
    HBD_GRPC_UNKNOWN = -1 /* any other method: UNIMPLEMENTED */
};

/* What a completion on the queue is about; the first member of its tag. */
typedef enum hbd_grpc_tag { TAG_NEW_CALL, TAG_ANSWERED, TAG_SHUTDOWN } hbd_grpc_tag;

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
    int counted; /* in srv->in_flight */
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

#endif /* HBD_GRPC_FRONT_INTERNAL_H */
