/*
 * The gRPC front end's server (front_grpc.h): gRPC's C core listens,
 * speaks HTTP/2 and TLS, and hands each call to one thread, which takes
 * everything off one completion queue. Every method is registered with
 * its request read in advance, and each keeps a few slots waiting for its
 * next call; one more slot takes calls to any other method and answers
 * them UNIMPLEMENTED (an unregistered method nobody asks for would wait
 * for its deadline). A call waits for its commit without holding the
 * thread: its answer is sent from wherever the commit is reported.
 * WatchRuns streams live in grpc_watch.c.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "defaults.h"
#include "grpc_front_internal.h"
#include "log.h"

/* Calls each method can have arrive while the thread is busy elsewhere. */
#define SLOTS_PER_METHOD 8
/* How long stopping waits for calls in flight before cancelling them. */
#define DRAIN_SECONDS 10

static const char *const method_paths[HBD_GRPC_METHODS] = {
    [HBD_CALL_HEARTBEAT] = "/hbeat.v1.HeartbeatService/LogHeartbeat",
    [HBD_CALL_UPDATE_STATUS] = "/hbeat.v1.HeartbeatService/UpdateStatus",
    [HBD_CALL_CREATE_RUN] = "/hbeat.v1.HeartbeatService/CreateRun",
    [HBD_CALL_GET_RUN] = "/hbeat.v1.HeartbeatService/GetRun",
    [HBD_CALL_LIST_RUNS] = "/hbeat.v1.HeartbeatService/ListRuns",
    [HBD_CALL_SET_STATUS] = "/hbeat.v1.HeartbeatService/SetStatus",
    [HBD_GRPC_HEALTH_CHECK] = "/grpc.health.v1.Health/Check",
    [HBD_GRPC_WATCH_RUNS] = "/hbeat.v1.HeartbeatService/WatchRuns",
};

/* Puts a new slot out for `method`'s next call. 0 or -1. */
static int wait_for_call(hbd_grpc *srv, int method)
{
    hbd_grpc_call *c = calloc(1, sizeof *c);
    if (c == NULL)
        return -1;
    c->tag = TAG_NEW_CALL;
    c->srv = srv;
    c->method = method;
    c->status_details = grpc_empty_slice();
    grpc_metadata_array_init(&c->metadata);
    grpc_call_details_init(&c->details);
    grpc_call_error e;
    if (method == HBD_GRPC_UNKNOWN)
        e = grpc_server_request_call(srv->server, &c->call, &c->details, &c->metadata, srv->cq,
                                     srv->cq, c);
    else
        e = grpc_server_request_registered_call(srv->server, srv->registered[method], &c->call,
                                                &c->deadline, &c->metadata, &c->payload, srv->cq,
                                                srv->cq, c);
    if (e != GRPC_CALL_OK) {
        hbd_grpc_answered(c);
        return -1;
    }
    return 0;
}

static void *serve_queue(void *arg)
{
    hbd_grpc *srv = arg;
    for (;;) {
        grpc_event ev =
            grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            return NULL;
        if (ev.type != GRPC_OP_COMPLETE)
            continue;
        /* An answer's batch may have been started on another thread:
           order what it wrote before reading the tag (see answer_mu). */
        pthread_mutex_lock(&srv->answer_mu);
        pthread_mutex_unlock(&srv->answer_mu);
        hbd_grpc_tag *tag = ev.tag;
        if (*tag == TAG_SHUTDOWN) {
            pthread_mutex_lock(&srv->mu);
            srv->shut_down = 1;
            pthread_cond_broadcast(&srv->cv);
            pthread_mutex_unlock(&srv->mu);
            continue;
        }
        if (*tag == TAG_WATCH_SENT || *tag == TAG_WATCH_CLOSED) {
            hbd_grpc_watch_completed((hbd_grpc_watch_tag *)tag, ev.success);
            continue;
        }
        hbd_grpc_call *c = (hbd_grpc_call *)tag;
        if (*tag == TAG_ANSWERED || !ev.success) {
            /* Answered, or a slot that will never get a call: the server
               is shutting down. */
            hbd_grpc_answered(c);
            continue;
        }
        if (!atomic_load(&srv->stopping) && wait_for_call(srv, c->method) != 0)
            hbd_error("grpc: cannot wait for more calls");
        hbd_grpc_serve(c);
    }
}

static grpc_server_credentials *credentials(const hbd_grpc_security *sec)
{
    if (sec == NULL || sec->tls == NULL)
        return grpc_insecure_server_credentials_create();
    grpc_ssl_pem_key_cert_pair pair = {sec->tls->key_pem, sec->tls->cert_pem};
    const char *ca = sec->tls->client_ca_pem;
    return grpc_ssl_server_credentials_create_ex(
        ca, &pair, 1,
        ca != NULL ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                   : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
        NULL);
}

static grpc_server *create_server(const hbd_grpc_options *o, const hbd_grpc_security *sec)
{
    size_t max_message = o->max_message ? o->max_message : HBD_DEFAULT_MAX_REQUEST;
    double handshake =
        sec != NULL && sec->read_timeout > 0 ? sec->read_timeout : HBD_DEFAULT_READ_TIMEOUT;
    /* No per-connection stream limit: a call past the limit on calls in
       flight is refused at once (UNAVAILABLE) rather than left queued in
       HTTP/2 until its deadline. */
    grpc_arg args[] = {
        {GRPC_ARG_INTEGER, GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, {.integer = (int)max_message}},
        {GRPC_ARG_INTEGER,
         GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
         {.integer = (int)(handshake * 1000)}},
    };
    grpc_channel_args ch = {sizeof args / sizeof args[0], args};
    return grpc_server_create(&ch, NULL);
}

static int bind_port(hbd_grpc *srv, const hbd_grpc_options *o, const hbd_grpc_security *sec,
                     hbeat_error *err)
{
    int v6 = strchr(o->host, ':') != NULL;
    char addr[80];
    snprintf(addr, sizeof addr, "%s%s%s:%u", v6 ? "[" : "", o->host, v6 ? "]" : "",
             (unsigned)o->port);
    grpc_server_credentials *creds = credentials(sec);
    if (creds == NULL)
        return hbeat_error_set(err, HBEAT_EINVAL, "grpc: the TLS certificate or key is refused");
    int port = grpc_server_add_http2_port(srv->server, addr, creds);
    grpc_server_credentials_release(creds);
    if (port == 0)
        return hbeat_error_set(err, HBEAT_ESYSTEM, "cannot serve gRPC on %s", addr);
    snprintf(srv->url, sizeof srv->url, "%s://%s%s%s:%d",
             sec != NULL && sec->tls != NULL ? "grpcs" : "grpc", v6 ? "[" : "", o->host,
             v6 ? "]" : "", port);
    return 0;
}

int hbd_grpc_start(hbd_grpc **out, hbd_engine *engine, const hbd_grpc_options *o,
                   const hbd_grpc_security *sec, hbeat_error *err)
{
    *out = NULL;
    if (engine == NULL || o == NULL || o->host == NULL)
        return hbeat_error_set(err, HBEAT_EINVAL, "hbd_grpc_start: NULL argument");
    hbd_grpc *srv = calloc(1, sizeof *srv);
    if (srv == NULL)
        return hbeat_error_set(err, HBEAT_ENOMEM, "out of memory");
    grpc_init();
    srv->engine = engine;
    srv->auth = sec != NULL ? sec->auth : NULL;
    srv->max_calls = o->max_calls ? o->max_calls : HBD_DEFAULT_GRPC_MAX_CALLS;
    srv->shutdown_tag = TAG_SHUTDOWN;
    pthread_mutex_init(&srv->mu, NULL);
    pthread_cond_init(&srv->cv, NULL);
    pthread_mutex_init(&srv->watch_mu, NULL);
    pthread_mutex_init(&srv->answer_mu, NULL);
    srv->server = create_server(o, sec);
    srv->cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(srv->server, srv->cq, NULL);
    for (int m = 0; m < HBD_GRPC_METHODS; m++)
        srv->registered[m] = grpc_server_register_method(
            srv->server, method_paths[m], NULL, GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
    int rc = bind_port(srv, o, sec, err);
    if (rc != 0) {
        hbd_grpc_stop(srv);
        return rc;
    }
    grpc_server_start(srv->server);
    for (int m = 0; m < HBD_GRPC_METHODS; m++) {
        for (int i = 0; i < SLOTS_PER_METHOD; i++)
            wait_for_call(srv, m);
    }
    wait_for_call(srv, HBD_GRPC_UNKNOWN);
    if (pthread_create(&srv->thread, NULL, serve_queue, srv) != 0) {
        hbd_grpc_stop(srv);
        return hbeat_error_set(err, HBEAT_ESYSTEM, "cannot start the gRPC thread");
    }
    srv->thread_started = 1;
    hbd_engine_watch_changes(engine, hbd_grpc_watch_change, srv);
    *out = srv;
    return 0;
}

const char *hbd_grpc_url(const hbd_grpc *grpc)
{
    return grpc != NULL ? grpc->url : NULL;
}

/* Waits for the server's shutdown tag until `deadline` (monotonic); 1 when
   it came. */
static int wait_shut_down(hbd_grpc *srv, const struct timespec *deadline)
{
    pthread_mutex_lock(&srv->mu);
    int rc = 0;
    while (!srv->shut_down && rc == 0)
        rc = pthread_cond_timedwait(&srv->cv, &srv->mu, deadline);
    int done = srv->shut_down;
    pthread_mutex_unlock(&srv->mu);
    return done;
}

void hbd_grpc_stop(hbd_grpc *srv)
{
    if (srv == NULL)
        return;
    atomic_store(&srv->stopping, 1);
    if (srv->thread_started) {
        /* Streams never end by themselves: end them, or the shutdown
           would wait for them. */
        hbd_engine_watch_changes(srv->engine, NULL, NULL);
        hbd_grpc_watch_end_all(srv);
        grpc_server_shutdown_and_notify(srv->server, srv->cq, &srv->shutdown_tag);
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += DRAIN_SECONDS;
        if (!wait_shut_down(srv, &deadline)) {
            hbd_warn("grpc: calls still in flight after %d s; cancelling them", DRAIN_SECONDS);
            grpc_server_cancel_all_calls(srv->server);
            deadline.tv_sec += DRAIN_SECONDS;
            wait_shut_down(srv, &deadline);
        }
    }
    grpc_server_destroy(srv->server);
    grpc_completion_queue_shutdown(srv->cq);
    if (srv->thread_started) {
        pthread_join(srv->thread, NULL);
    } else {
        /* Slots put out before the thread started come back here. */
        for (;;) {
            grpc_event ev =
                grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
            if (ev.type == GRPC_QUEUE_SHUTDOWN)
                break;
            if (ev.type == GRPC_OP_COMPLETE && *(hbd_grpc_tag *)ev.tag != TAG_SHUTDOWN)
                hbd_grpc_answered(ev.tag);
        }
    }
    grpc_completion_queue_destroy(srv->cq);
    pthread_cond_destroy(&srv->cv);
    pthread_mutex_destroy(&srv->mu);
    pthread_mutex_destroy(&srv->watch_mu);
    pthread_mutex_destroy(&srv->answer_mu);
    free(srv);
    grpc_shutdown();
}
