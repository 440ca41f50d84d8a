/*
 * The gRPC rows of the bench: the floor, a raw unary call made with gRPC's
 * C core itself (registered method, one pluck queue, the heartbeat's
 * protobuf bytes packed once), against hbeat_service_tick() and
 * hbeat_service_tick_async() through hbeat_gateway_open("grpc://..."), all
 * three to the same minimal gRPC core echo server (hbeat-bench-grpc-server,
 * a process of its own), interleaved in blocks of 100 so that noise from
 * the rest of the machine falls on all of them alike. Then the client's
 * memory and threads, measured in a child process that has done nothing
 * else: before opening the gateway, and after 200 beats.
 *
 *     hbeat-bench-grpc [--beats N] [--smoke]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "grpc_load.h"
#include "grpc_push.h"
#include "grpc_unary.h"
#include "hbeat/hbeat.h"
#include "util.h"

#define BLOCK 100
/* Runs each hbeatd holds for the load (client i beats run i + 1). */
#define LOAD_RUNS 256

/* ---- the floor: one raw unary call ---- */

typedef struct raw_client {
    grpc_channel *ch;
    void *method;
    grpc_completion_queue *cq;
    uint64_t seq;
} raw_client;

static void raw_open(raw_client *c, const char *target)
{
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    c->ch = grpc_channel_create(target, creds, NULL);
    grpc_channel_credentials_release(creds);
    c->method =
        grpc_channel_register_call(c->ch, "/hbeat.v1.HeartbeatService/LogHeartbeat", NULL, NULL);
    c->cq = grpc_completion_queue_create_for_pluck(NULL);
}

static void raw_close(raw_client *c)
{
    grpc_completion_queue_shutdown(c->cq);
    grpc_completion_queue_destroy(c->cq);
    grpc_channel_destroy(c->ch);
}

static void raw_call(raw_client *c, grpc_byte_buffer *req)
{
    gpr_timespec deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_seconds(5, GPR_TIMESPAN));
    grpc_call *call = grpc_channel_create_registered_call(c->ch, NULL, GRPC_PROPAGATE_DEFAULTS,
                                                          c->cq, c->method, deadline, NULL);
    bench_grpc_unary u;
    bench_grpc_unary_start(call, &u, req, call);
    grpc_event ev =
        grpc_completion_queue_pluck(c->cq, call, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (ev.type != GRPC_OP_COMPLETE || !bench_grpc_unary_finish(&u)) {
        bench_die("raw gRPC call failed: status %d", (int)u.status);
    }
    grpc_call_unref(call);
}

/* ---- the service ---- */

typedef struct async_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, rc;
} async_wait;

static void on_tick(void *arg, int rc, const hbeat_update *u, const hbeat_error *err)
{
    (void)u;
    (void)err;
    async_wait *w = arg;
    pthread_mutex_lock(&w->mu);
    w->done = 1;
    w->rc = rc;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void tick_async(hbeat_service *svc, async_wait *w)
{
    w->done = 0;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbeat_service_tick_async(svc, on_tick, w, &err) != 0) {
        bench_die("tick_async: %s", err.message);
    }
    pthread_mutex_lock(&w->mu);
    while (!w->done) {
        pthread_cond_wait(&w->cv, &w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    if (w->rc != 0) {
        bench_die("tick_async failed: %d", w->rc);
    }
}

static hbeat_service *open_service(const char *url, hbeat_gateway **gw)
{
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbeat_gateway_open(gw, url, NULL, &err) != 0) {
        bench_die("open %s: %s", url, err.message);
    }
    hbeat_service_options so = HBEAT_SERVICE_OPTIONS_INIT;
    so.workflow_run_id = 1;
    hbeat_service *svc;
    if (hbeat_service_new(&svc, *gw, &so, &err) != 0) {
        bench_die("service: %s", err.message);
    }
    return svc;
}

static void tick(hbeat_service *svc)
{
    hbeat_update u;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbeat_service_tick(svc, &u, &err) != 0) {
        bench_die("tick: %s", err.message);
    }
}

/* ---- client memory and threads, in a child of its own ---- */

static void client_memory(const char *url, long out[4])
{
    int fds[2];
    if (pipe(fds) != 0) {
        bench_die("pipe");
    }
    pid_t pid = fork();
    if (pid == 0) {
        long v[4];
        v[0] = bench_rss_kb(0);
        v[1] = bench_threads(0);
        hbeat_gateway *gw;
        hbeat_service *svc = open_service(url, &gw);
        for (int i = 0; i < 200; i++) {
            tick(svc);
        }
        v[2] = bench_rss_kb(0);
        v[3] = bench_threads(0);
        if (write(fds[1], v, sizeof(v)) != (ssize_t)sizeof(v)) {
            _exit(1);
        }
        hbeat_service_free(svc);
        hbeat_gateway_free(gw);
        _exit(0);
    }
    close(fds[1]);
    if (read(fds[0], out, 4 * sizeof(long)) != (ssize_t)(4 * sizeof(long))) {
        bench_die("client memory: the child failed");
    }
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
}

/* ---- hbeatd over gRPC: throughput and status push ---- */

typedef struct grpc_server {
    const char *name;
    char dir[256];
    pid_t pid;
    char target[64]; /* HOST:PORT */
    char url[96];
} grpc_server;

/* durable: a SQLite file with hbeatd's default --sync, else ":memory:". */
static void start_hbeatd(grpc_server *s, const char *name, int durable)
{
    s->name = name;
    if (bench_mkdtemp(s->dir, sizeof(s->dir), "grpc-hbeatd") != 0) {
        bench_die("mkdtemp");
    }
    char ready_path[512], log_path[512], db[512], ready[2048];
    snprintf(ready_path, sizeof(ready_path), "%s/ready", s->dir);
    snprintf(log_path, sizeof(log_path), "%s/log", s->dir);
    snprintf(db, sizeof(db), "%s/hbeatd.db", s->dir);
    char *argv[] = {(char *)BENCH_HBEATD,
                    "--listen",
                    "tcp://127.0.0.1:0",
                    "--http",
                    "none",
                    "--grpc",
                    "127.0.0.1:0",
                    "--log-level",
                    "warn",
                    "--db",
                    durable ? db : ":memory:",
                    "--ready-file",
                    ready_path,
                    NULL};
    s->pid = bench_spawn(argv, log_path, NULL);
    if (s->pid < 0 || bench_wait_ready(s->pid, ready_path, 20.0, ready, sizeof(ready)) != 0 ||
        bench_ready_value(ready, "grpc", "grpc://", s->url, sizeof(s->url)) != 0) {
        bench_die("hbeatd (%s) did not start with gRPC; its log: %s", name, log_path);
    }
    snprintf(s->target, sizeof(s->target), "%s", s->url + strlen("grpc://"));
}

static void stop_server(grpc_server *s)
{
    bench_stop(s->pid);
    bench_rmtree(s->dir);
}

/* Creates runs 1..n in status R on a fresh hbeatd. */
static void create_runs(grpc_server *s, int n)
{
    hbeat_gateway *gw;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbeat_gateway_open(&gw, s->url, NULL, &err) != 0) {
        bench_die("open %s: %s", s->url, err.message);
    }
    for (int i = 1; i <= n; i++) {
        hbeat_run_info info;
        if (hbeat_run_create(gw, 1, "R", &info, &err) != 0) {
            bench_die("create run on %s: %s", s->name, err.message);
        }
        if (info.workflow_run_id != i) {
            bench_die("%s: run %lld, expected %d", s->name, (long long)info.workflow_run_id, i);
        }
    }
    hbeat_gateway_free(gw);
}

typedef struct tp_sum {
    uint64_t done;
    double seconds;
    int64_t cpu_ns;
    double p99[8];
    int rounds;
} tp_sum;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double tp_rate(const tp_sum *t)
{
    return t->seconds > 0 ? (double)t->done / t->seconds : 0;
}

static void print_tp_row(const char *name, unsigned clients, tp_sum *t, const tp_sum *floor)
{
    qsort(t->p99, (size_t)t->rounds, sizeof(double), cmp_double);
    double rate = tp_rate(t);
    char cpu[32] = "-";
    if (t->cpu_ns >= 0 && t->done > 0) {
        snprintf(cpu, sizeof(cpu), "%.1f", (double)t->cpu_ns / 1e3 / (double)t->done);
    }
    printf("%-32s %7u %10.0f %7.2f %9.0f %12s\n", name, clients, rate, rate / tp_rate(floor),
           t->p99[t->rounds / 2], cpu);
}

/* Every server at every client count, in rounds interleaved server by
   server; beats/s over all rounds, p99 the median of the rounds'. */
static void throughput(grpc_server *servers, int nservers, int rounds, double warmup,
                       double duration)
{
    static const unsigned counts[] = {1, 16, 256};
    grpc_load *loads[4];
    for (int i = 0; i < nservers; i++) {
        loads[i] = grpc_load_open(servers[i].target, 4, 1);
        if (loads[i] == NULL) {
            bench_die("grpc load: out of memory");
        }
    }
    printf("\ngRPC throughput, closed loop, one call in flight per client, 4 channels; "
           "%d rounds of %.2f s (after %.2f s of warm-up) per row, interleaved\n",
           rounds, duration, warmup);
    printf("%-32s %7s %10s %7s %9s %12s\n", "server", "clients", "beats/s", "ratio", "p99 us",
           "cpu us/beat");
    for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
        tp_sum sums[4];
        memset(sums, 0, sizeof(sums));
        for (int r = 0; r < rounds; r++) {
            for (int i = 0; i < nservers; i++) {
                grpc_load_result res;
                if (grpc_load_round(loads[i], counts[c], warmup, duration, servers[i].pid, &res) !=
                    0) {
                    bench_die("grpc load on %s: %llu errors", servers[i].name,
                              (unsigned long long)res.errors);
                }
                sums[i].done += res.done;
                sums[i].seconds += res.seconds;
                sums[i].cpu_ns = res.server_cpu_ns < 0 || sums[i].cpu_ns < 0
                                     ? -1
                                     : sums[i].cpu_ns + res.server_cpu_ns;
                sums[i].p99[sums[i].rounds++] = res.p99_us;
            }
        }
        for (int i = 0; i < nservers; i++) {
            print_tp_row(servers[i].name, counts[c], &sums[i], &sums[0]);
        }
    }
    for (int i = 0; i < nservers; i++) {
        grpc_load_close(loads[i]);
    }
}

static void status_push(grpc_server *s, double interval, int changes)
{
    bench_samples with, without;
    bench_samples_init(&with, (size_t)changes);
    bench_samples_init(&without, (size_t)changes);
    grpc_push_measure(s->url, LOAD_RUNS + 1, LOAD_RUNS + 2, interval, changes, &with, &without);
    printf("\nset_status to on_status_change over grpc:// (%s), %d changes at random points "
           "of a %.0f s interval (milliseconds)\n",
           s->name, changes, interval);
    printf("%-32s %10s %10s\n", "service", "median", "max");
    printf("%-32s %10.1f %10.1f\n", "watching (options.watch = 1)",
           bench_samples_quantile_us(&with, 0.5) / 1e3,
           bench_samples_quantile_us(&with, 1.0) / 1e3);
    printf("%-32s %10.1f %10.1f\n", "not watching", bench_samples_quantile_us(&without, 0.5) / 1e3,
           bench_samples_quantile_us(&without, 1.0) / 1e3);
    bench_samples_free(&with);
    bench_samples_free(&without);
}

int main(int argc, char **argv)
{
    size_t beats = 5000;
    int rounds = 3, changes = 7;
    double warmup = 0.25, duration = 0.75, interval = 2.0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--smoke") == 0) {
            beats = 300;
            rounds = 1;
            warmup = 0.1;
            duration = 0.2;
            changes = 2;
            interval = 1.0;
        } else if (strcmp(argv[i], "--beats") == 0 && i + 1 < argc) {
            beats = (size_t)strtoul(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "usage: hbeat-bench-grpc [--beats N] [--smoke]\n");
            return 2;
        }
    }
    beats = (beats + BLOCK - 1) / BLOCK * BLOCK;

    char dir[256], ready_path[512], log_path[512], ready[256], port[32];
    if (bench_mkdtemp(dir, sizeof(dir), "grpc") != 0) {
        bench_die("mkdtemp");
    }
    snprintf(ready_path, sizeof(ready_path), "%s/ready", dir);
    snprintf(log_path, sizeof(log_path), "%s/server.log", dir);
    char *sargv[] = {(char *)BENCH_GRPC_SERVER, ready_path, NULL};
    pid_t server = bench_spawn(sargv, log_path, NULL);
    if (server < 0 || bench_wait_ready(server, ready_path, 10.0, ready, sizeof(ready)) != 0 ||
        bench_ready_value(ready, "grpc", "", port, sizeof(port)) != 0) {
        bench_die("the gRPC echo server did not start");
    }
    char target[64], url[96];
    snprintf(target, sizeof(target), "127.0.0.1:%s", port);
    snprintf(url, sizeof(url), "grpc://%s", target);

    /* Before this process starts gRPC: fork() and gRPC do not mix. */
    long mem[4];
    client_memory(url, mem);
    grpc_server servers[3] = {{.name = "echo server (floor)", .pid = server}};
    snprintf(servers[0].target, sizeof(servers[0].target), "%s", target);
    start_hbeatd(&servers[1], "hbeatd durable", 1);
    start_hbeatd(&servers[2], "hbeatd :memory:", 0);

    grpc_init();
    raw_client raw;
    raw_open(&raw, target);
    grpc_byte_buffer *req = bench_grpc_beat(1, 0);
    hbeat_gateway *gw;
    hbeat_service *svc = open_service(url, &gw);
    async_wait w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    for (int i = 0; i < 200; i++) { /* warm-up: connections, caches */
        raw_call(&raw, req);
        tick(svc);
        tick_async(svc, &w);
    }
    bench_samples s_raw, s_tick, s_async;
    bench_samples_init(&s_raw, beats);
    bench_samples_init(&s_tick, beats);
    bench_samples_init(&s_async, beats);
    for (size_t done = 0; done < beats; done += BLOCK) {
        for (int i = 0; i < BLOCK; i++) {
            int64_t t0 = bench_now_ns();
            raw_call(&raw, req);
            bench_samples_add(&s_raw, bench_now_ns() - t0);
        }
        for (int i = 0; i < BLOCK; i++) {
            int64_t t0 = bench_now_ns();
            tick(svc);
            bench_samples_add(&s_tick, bench_now_ns() - t0);
        }
        for (int i = 0; i < BLOCK; i++) {
            int64_t t0 = bench_now_ns();
            tick_async(svc, &w);
            bench_samples_add(&s_async, bench_now_ns() - t0);
        }
    }
    double raw50 = bench_samples_quantile_us(&s_raw, 0.5);
    printf("gRPC, %zu beats each, interleaved in blocks of %d (microseconds)\n", beats, BLOCK);
    printf("%-44s %10s %10s %8s\n", "row", "median", "p99", "ratio");
    printf("%-44s %10.1f %10.1f %8s\n", "floor: raw gRPC core unary call", raw50,
           bench_samples_quantile_us(&s_raw, 0.99), "1.00");
    double t50 = bench_samples_quantile_us(&s_tick, 0.5);
    printf("%-44s %10.1f %10.1f %8.2f\n", "service tick (grpc://)", t50,
           bench_samples_quantile_us(&s_tick, 0.99), t50 / raw50);
    double a50 = bench_samples_quantile_us(&s_async, 0.5);
    printf("%-44s %10.1f %10.1f %8.2f\n", "service tick_async, waited for (grpc://)", a50,
           bench_samples_quantile_us(&s_async, 0.99), a50 / raw50);
    printf("client: RSS %ld KiB before the gateway, %ld KiB after 200 beats (+%ld KiB); "
           "threads %ld -> %ld\n",
           mem[0], mem[2], mem[2] - mem[0], mem[1], mem[3]);

    hbeat_service_free(svc);
    hbeat_gateway_free(gw);
    grpc_byte_buffer_destroy(req);
    raw_close(&raw);

    create_runs(&servers[1], LOAD_RUNS + 2);
    create_runs(&servers[2], LOAD_RUNS);
    throughput(servers, 3, rounds, warmup, duration);
    status_push(&servers[1], interval, changes);
    stop_server(&servers[1]);
    stop_server(&servers[2]);
    grpc_shutdown();
    bench_samples_free(&s_raw);
    bench_samples_free(&s_tick);
    bench_samples_free(&s_async);
    bench_stop(server);
    bench_rmtree(dir);
    return 0;
}
