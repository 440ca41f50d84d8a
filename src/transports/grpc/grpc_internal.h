/*
 * The gRPC transport's private pieces, shared between its files:
 *   url.c       grpc://HOST:PORT and grpcs://HOST:PORT -> a gRPC target
 *   settings.c  timeouts, size cap, token and TLS files from the options
 *   codec.c     replies: a call's final status and its message, checked
 *   calls.c     one unary call on the gateway's channel; the completion
 *               queue thread; closing with calls in flight
 *   watch.c     WatchRuns streams behind the vtable's watch
 *   gateway.c   the vtable and hbeat__grpc_open
 */
#ifndef HBEAT_TRANSPORTS_GRPC_INTERNAL_H
#define HBEAT_TRANSPORTS_GRPC_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <grpc/grpc.h>

#include "hbeat/errors.h"
#include "hbeat/sys/gateway.h"
#include "transports/wire/wire.h"

/* Defaults: no timeout is ever infinite. */
#define HBEAT__GRPC_DEFAULT_TIMEOUT_S         5.0
#define HBEAT__GRPC_DEFAULT_CONNECT_TIMEOUT_S 5.0
#define HBEAT__GRPC_DEFAULT_MAX_REPLY         ((size_t)1 << 20)
#define HBEAT__GRPC_MAX_TIMEOUT_S             2000000.0
/* Redial quickly after a server restart: first retry after 100 ms, never
   more than 1 s apart (gRPC's own default grows to 120 s). */
#define HBEAT__GRPC_BACKOFF_FIRST_MS 100
#define HBEAT__GRPC_BACKOFF_MAX_MS   1000
/* The largest gRPC target we build, host and port. */
#define HBEAT__GRPC_TARGET_MAX 300

/* The calls of hbeat.v1.HeartbeatService. */
typedef enum hbeat__grpc_method {
    HBEAT__GRPC_LOG_HEARTBEAT,
    HBEAT__GRPC_UPDATE_STATUS,
    HBEAT__GRPC_CREATE_RUN,
    HBEAT__GRPC_GET_RUN,
    HBEAT__GRPC_LIST_RUNS,
    HBEAT__GRPC_SET_STATUS,
    HBEAT__GRPC_WATCH_RUNS, /* server streaming: watch.c */
    HBEAT__GRPC_METHODS
} hbeat__grpc_method;

/* What a completion on the gateway's queue is about: every tag starts with
   one of these. */
typedef enum hbeat__grpc_tag {
    HBEAT__GRPC_TAG_CALL = 1, /* a unary call's one batch (calls.c) */
    HBEAT__GRPC_TAG_WATCH     /* a batch of a watch's stream (watch.c) */
} hbeat__grpc_tag;

/* ---- url.c ---- */

/* Check @p url and write its gRPC target ("HOST:PORT", "[v6]:PORT") into
   @p target; *tls is 1 for grpcs://. */
int hbeat__grpc_url_target(const char *url, char *target, size_t target_size, int *tls,
                           hbeat_error *err);

/* ---- settings.c ---- */

typedef struct hbeat__grpc_settings {
    double timeout_s;
    double connect_timeout_s;
    size_t max_reply;
    /* "Bearer <token>" for the authorization metadata, or NULL. */
    char *authorization;
    char *user_agent;
    /* grpcs only: PEM text read from the files (ca_pem NULL: gRPC's
       default roots), and whether verification is off. */
    int tls;
    int insecure;
    char *ca_pem, *cert_pem, *key_pem;
} hbeat__grpc_settings;

int hbeat__grpc_settings_from(hbeat__grpc_settings *out, const char *url, int tls,
                              const hbeat_gateway_options *opts, hbeat_error *err);
void hbeat__grpc_settings_release(hbeat__grpc_settings *s);

/* ---- codec.c ---- */

/* Path ("/hbeat.v1.HeartbeatService/LogHeartbeat") and reply type of a
   method. */
const char *hbeat__grpc_method_path(hbeat__grpc_method m);
const ProtobufCMessageDescriptor *hbeat__grpc_method_reply(hbeat__grpc_method m);

/*
 * Turn a finished call into its reply message or an error: a status other
 * than OK is its hbeat code (common/grpc_codes.h) with the server's words;
 * OK without a message, or with one that does not decode as the method's
 * reply, is HBEAT_EPROTO. On 0 *out (unpacked into @p arena) must be freed
 * with hbeat__wire_reply_free(). @p tls: a failure to connect is examined
 * for a TLS reason (HBEAT_ETLS).
 */
int hbeat__grpc_decode(ProtobufCMessage **out, hbeat__grpc_method m, int status,
                       const char *details, const void *data, size_t len, int has_message, int tls,
                       hbeat__wire_arena *arena, const char *url, hbeat_error *err);

/* ---- calls.c ---- */

typedef struct hbeat__grpc_gw hbeat__grpc_gw;
typedef struct hbeat__grpc_call hbeat__grpc_call;
typedef struct hbeat__grpc_watch hbeat__grpc_watch;

/* A finished call: rc 0 and *reply, or an error in err. Runs on the
   completion queue thread (async) or the caller's (blocking). */
typedef void (*hbeat__grpc_finish_fn)(void *arg, int rc, ProtobufCMessage *reply,
                                      hbeat__wire_arena *arena, const hbeat_error *err);

struct hbeat__grpc_gw {
    /* First: the blocking calls (wire/calls.c) take the gateway as theirs. */
    hbeat__wire_gateway wire;
    grpc_channel *channel;
    void *methods[HBEAT__GRPC_METHODS];
    /* Async calls complete here; `poller` runs grpc_completion_queue_next. */
    grpc_completion_queue *cq;
    pthread_t poller;
    int poller_started;
    int grpc_up;
    char *url;
    hbeat__grpc_settings set;

    pthread_mutex_t mu;
    pthread_cond_t idle;
    int closing;
    unsigned int in_flight;
    /* Calls in flight, for close to cancel. */
    hbeat__grpc_call *calls;
    /* Watches (watch.c); each counts in in_flight while its stream may
       still start batches. */
    hbeat__grpc_watch *watches;
};

/* Make the channel and start the completion queue thread. */
int hbeat__grpc_connect(hbeat__grpc_gw *gw, const char *target, hbeat_error *err);

/* One blocking call: send @p req, wait for the reply within the request
   timeout. On 0 *out is the reply, to be freed with hbeat__wire_reply_free. */
int hbeat__grpc_call_blocking(hbeat__grpc_gw *gw, hbeat__grpc_method m, const ProtobufCMessage *req,
                              hbeat__wire_arena *arena, ProtobufCMessage **out, hbeat_error *err);

/* Start a call whose completion runs @p finish on the completion queue
   thread; on error @p finish is never called. */
int hbeat__grpc_call_async(hbeat__grpc_gw *gw, hbeat__grpc_method m, const ProtobufCMessage *req,
                           hbeat__grpc_finish_fn finish, void *arg, hbeat_error *err);

/* Take gw->mu to start something new on the gateway: 0 with the lock held,
   or HBEAT_ECANCELED (lock released) when the gateway is closing. */
int hbeat__grpc_enter(hbeat__grpc_gw *gw, hbeat_error *err);

/* Cancel every call in flight (they end with HBEAT_ECANCELED) and wait for
   them; later calls are refused. */
void hbeat__grpc_shutdown(hbeat__grpc_gw *gw);
/* Stop the completion queue thread and release the channel. */
void hbeat__grpc_disconnect(hbeat__grpc_gw *gw);

/* ---- watch.c ---- */

/* The vtable's watch and unwatch. */
int hbeat__grpc_watch_start(void *self, int64_t workflow_run_id, hbeat_status_push_fn push,
                            void *arg, void **handle, hbeat_error *err);
void hbeat__grpc_unwatch(void *self, void *handle);
/* A completion with a HBEAT__GRPC_TAG_WATCH tag (the queue thread). */
void hbeat__grpc_watch_event(void *tag, int success);
/* Cancels every watch's stream (closing: none restarts); with gw->mu held. */
void hbeat__grpc_watch_cancel_all_locked(hbeat__grpc_gw *gw);
/* The authorization metadata of every call, or NULL (count 0). */
grpc_metadata *hbeat__grpc_auth_metadata(hbeat__grpc_gw *gw, grpc_metadata *md);

/* ---- gateway.c ---- */

extern const hbeat_gateway_vtable hbeat__grpc_vtable;

#endif /* HBEAT_TRANSPORTS_GRPC_INTERNAL_H */
