/*
 * The gRPC floor server: gRPC's C core and nothing else. It answers every
 * unary call, whatever its method, with a hbeat.v1.HeartbeatReply that
 * echoes the request's sequence number (status "R"), so that a raw gRPC
 * call and hbeat's service tick meet the very same server; what the
 * service adds is the difference.
 *
 *     hbeat-bench-grpc-server READY_FILE [THREADS]
 *
 * Listens on 127.0.0.1 (a free port), writes "grpc PORT" to READY_FILE
 * once serving, stops on SIGTERM. Each of THREADS (default 2) threads
 * keeps 64 calls requested on its own completion queue.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "hbeat/v1/hbeat.pb-c.h"

#define PENDING 64

typedef struct slot {
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array md;
    grpc_byte_buffer *req;
    int phase; /* 0: requested, 1: read, 2: answered */
    int cancelled;
} slot;

static grpc_server *server;
static volatile sig_atomic_t stopping;

static void request(slot *s, grpc_completion_queue *cq)
{
    memset(s, 0, sizeof(*s));
    grpc_call_details_init(&s->details);
    grpc_metadata_array_init(&s->md);
    grpc_server_request_call(server, &s->call, &s->details, &s->md, cq, cq, s);
}

static void release(slot *s)
{
    grpc_call_details_destroy(&s->details);
    grpc_metadata_array_destroy(&s->md);
    if (s->req != NULL) {
        grpc_byte_buffer_destroy(s->req);
    }
    if (s->call != NULL) {
        grpc_call_unref(s->call);
    }
}

/* The reply to a HeartbeatRequest's bytes. */
static grpc_byte_buffer *answer(grpc_byte_buffer *req)
{
    uint64_t seq = 0;
    if (req != NULL) {
        grpc_byte_buffer_reader r;
        grpc_byte_buffer_reader_init(&r, req);
        grpc_slice all = grpc_byte_buffer_reader_readall(&r);
        grpc_byte_buffer_reader_destroy(&r);
        HbeatPb__HeartbeatRequest *hb = hbeat_pb__heartbeat_request__unpack(
            NULL, GRPC_SLICE_LENGTH(all), GRPC_SLICE_START_PTR(all));
        if (hb != NULL) {
            seq = hb->sequence;
            hbeat_pb__heartbeat_request__free_unpacked(hb, NULL);
        }
        grpc_slice_unref(all);
    }
    HbeatPb__HeartbeatReply rep = HBEAT_PB__HEARTBEAT_REPLY__INIT;
    rep.status = "R";
    rep.sequence = seq;
    grpc_slice out = grpc_slice_malloc(hbeat_pb__heartbeat_reply__get_packed_size(&rep));
    hbeat_pb__heartbeat_reply__pack(&rep, GRPC_SLICE_START_PTR(out));
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&out, 1);
    grpc_slice_unref(out);
    return bb;
}

static void *serve(void *arg)
{
    grpc_completion_queue *cq = arg;
    slot *slots = calloc(PENDING, sizeof(slot));
    grpc_byte_buffer **replies = calloc(PENDING, sizeof(*replies));
    for (int i = 0; i < PENDING; i++) {
        request(&slots[i], cq);
    }
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN) {
            break;
        }
        slot *s = ev.tag;
        size_t i = (size_t)(s - slots);
        if (!ev.success && s->phase == 0) {
            continue; /* shutting down: the request was never matched */
        }
        grpc_op ops[4];
        memset(ops, 0, sizeof(ops));
        if (s->phase == 0) {
            s->phase = 1;
            ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
            ops[1].op = GRPC_OP_RECV_MESSAGE;
            ops[1].data.recv_message.recv_message = &s->req;
            grpc_call_start_batch(s->call, ops, 2, s, NULL);
        } else if (s->phase == 1) {
            s->phase = 2;
            replies[i] = answer(s->req);
            ops[0].op = GRPC_OP_SEND_MESSAGE;
            ops[0].data.send_message.send_message = replies[i];
            ops[1].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
            ops[1].data.send_status_from_server.status = GRPC_STATUS_OK;
            ops[2].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
            ops[2].data.recv_close_on_server.cancelled = &s->cancelled;
            grpc_call_start_batch(s->call, ops, 3, s, NULL);
        } else {
            grpc_byte_buffer_destroy(replies[i]);
            replies[i] = NULL;
            release(s);
            if (!stopping) {
                request(s, cq);
            }
        }
    }
    free(replies);
    free(slots);
    return NULL;
}

static void on_term(int sig)
{
    (void)sig;
    stopping = 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: hbeat-bench-grpc-server READY_FILE [THREADS]\n");
        return 2;
    }
    int nthreads = argc > 2 ? atoi(argv[2]) : 2;
    if (nthreads < 1 || nthreads > 64) {
        nthreads = 2;
    }
    grpc_init();
    server = grpc_server_create(NULL, NULL);
    grpc_completion_queue *cqs[64];
    for (int i = 0; i < nthreads; i++) {
        cqs[i] = grpc_completion_queue_create_for_next(NULL);
        grpc_server_register_completion_queue(server, cqs[i], NULL);
    }
    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    int port = grpc_server_add_http2_port(server, "127.0.0.1:0", creds);
    grpc_server_credentials_release(creds);
    if (port <= 0) {
        fprintf(stderr, "hbeat-bench-grpc-server: cannot listen\n");
        return 1;
    }
    grpc_server_start(server);
    pthread_t t[64];
    for (int i = 0; i < nthreads; i++) {
        pthread_create(&t[i], NULL, serve, cqs[i]);
    }
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", argv[1]);
    FILE *f = fopen(tmp, "w");
    if (f == NULL) {
        return 1;
    }
    fprintf(f, "grpc %d\n", port);
    fclose(f);
    rename(tmp, argv[1]);

    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    while (!stopping) {
        pause();
    }
    grpc_completion_queue *done = grpc_completion_queue_create_for_pluck(NULL);
    grpc_server_shutdown_and_notify(server, done, NULL);
    grpc_server_cancel_all_calls(server);
    grpc_completion_queue_pluck(done, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    for (int i = 0; i < nthreads; i++) {
        grpc_completion_queue_shutdown(cqs[i]);
        pthread_join(t[i], NULL);
        grpc_completion_queue_destroy(cqs[i]);
    }
    grpc_server_destroy(server);
    grpc_completion_queue_shutdown(done);
    grpc_completion_queue_destroy(done);
    grpc_shutdown();
    return 0;
}
