/*
 * The gRPC load generator (grpc_load.h). Calls are made the way any gRPC
 * core client makes them (registered method, one batch of six ops); the
 * request is packed per call with the client's run and sequence number.
 * Channels get a subchannel pool of their own, or gRPC would put them all
 * on one connection.
 */
#include "grpc_load.h"

#include <stdlib.h>
#include <string.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "grpc_unary.h"
#include "util.h"

#define MAX_CHANNELS 16

typedef struct client {
    grpc_load *l;
    int64_t run;
    uint64_t seq;
    int64_t started;
    grpc_call *call;
    grpc_byte_buffer *req;
    bench_grpc_unary u;
} client;

struct grpc_load {
    grpc_channel *ch[MAX_CHANNELS];
    void *method[MAX_CHANNELS];
    unsigned nch;
    int64_t first_run;
    grpc_completion_queue *cq;
};

grpc_load *grpc_load_open(const char *target, unsigned channels, int64_t first_run)
{
    grpc_load *l = calloc(1, sizeof *l);
    if (l == NULL)
        return NULL;
    l->nch = channels < 1 ? 1 : channels > MAX_CHANNELS ? MAX_CHANNELS : channels;
    l->first_run = first_run;
    grpc_arg arg = {.type = GRPC_ARG_INTEGER,
                    .key = (char *)GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL,
                    .value.integer = 1};
    grpc_channel_args args = {1, &arg};
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    for (unsigned i = 0; i < l->nch; i++) {
        l->ch[i] = grpc_channel_create(target, creds, &args);
        l->method[i] = grpc_channel_register_call(
            l->ch[i], "/hbeat.v1.HeartbeatService/LogHeartbeat", NULL, NULL);
    }
    grpc_channel_credentials_release(creds);
    l->cq = grpc_completion_queue_create_for_next(NULL);
    return l;
}

void grpc_load_close(grpc_load *l)
{
    if (l == NULL)
        return;
    grpc_completion_queue_shutdown(l->cq);
    while (grpc_completion_queue_next(l->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(l->cq);
    for (unsigned i = 0; i < l->nch; i++)
        grpc_channel_destroy(l->ch[i]);
    free(l);
}

static void start_call(grpc_load *l, client *c, unsigned index)
{
    unsigned k = index % l->nch;
    gpr_timespec deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_seconds(10, GPR_TIMESPAN));
    c->call = grpc_channel_create_registered_call(l->ch[k], NULL, GRPC_PROPAGATE_DEFAULTS, l->cq,
                                                  l->method[k], deadline, NULL);
    c->req = bench_grpc_beat(c->run, ++c->seq);
    c->started = bench_now_ns();
    if (bench_grpc_unary_start(c->call, &c->u, c->req, c) != GRPC_CALL_OK)
        bench_die("grpc load: cannot start a call");
}

/* Frees what the finished call held; 1 when it succeeded. */
static int finish_call(client *c, int success)
{
    int ok = bench_grpc_unary_finish(&c->u) && success;
    grpc_byte_buffer_destroy(c->req);
    grpc_call_unref(c->call);
    c->call = NULL;
    return ok;
}

int grpc_load_round(grpc_load *l, unsigned clients, double warmup_s, double duration_s,
                    pid_t server_pid, grpc_load_result *out)
{
    memset(out, 0, sizeof *out);
    client *cs = calloc(clients, sizeof *cs);
    if (cs == NULL)
        return -1;
    bench_samples lat;
    bench_samples_init(&lat, 1024);
    int64_t now = bench_now_ns();
    int64_t t_measure = now + (int64_t)(warmup_s * 1e9);
    int64_t t_end = t_measure + (int64_t)(duration_s * 1e9);
    int64_t cpu0 = -1, w0 = 0, w1 = 0;
    for (unsigned i = 0; i < clients; i++) {
        cs[i].l = l;
        cs[i].run = l->first_run + i;
        start_call(l, &cs[i], i);
    }
    unsigned in_flight = clients;
    int measuring = 0;
    while (in_flight > 0) {
        grpc_event ev = grpc_completion_queue_next(
            l->cq,
            gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(50, GPR_TIMESPAN)),
            NULL);
        now = bench_now_ns();
        if (!measuring && now >= t_measure) {
            measuring = 1;
            w0 = now;
            cpu0 = server_pid > 0 ? bench_cpu_ns(server_pid) : -1;
        }
        if (measuring == 1 && now >= t_end) {
            measuring = 2;
            w1 = now;
            int64_t cpu1 = server_pid > 0 ? bench_cpu_ns(server_pid) : -1;
            out->server_cpu_ns = cpu0 >= 0 && cpu1 >= 0 ? cpu1 - cpu0 : -1;
        }
        if (ev.type != GRPC_OP_COMPLETE)
            continue;
        client *c = ev.tag;
        int64_t took = now - c->started;
        int ok = finish_call(c, ev.success);
        if (measuring == 1) {
            if (ok) {
                out->done++;
                bench_samples_add(&lat, took);
            } else {
                out->errors++;
            }
        } else if (!ok) {
            out->errors++;
        }
        if (measuring < 2)
            start_call(l, c, (unsigned)(c - cs));
        else
            in_flight--;
    }
    out->seconds = (double)(w1 - w0) / 1e9;
    out->p99_us = bench_samples_quantile_us(&lat, 0.99);
    bench_samples_free(&lat);
    free(cs);
    return out->errors == 0 ? 0 : -1;
}
