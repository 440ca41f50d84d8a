/*
 * hbeat's gRPC client against an independent gRPC server: the
 * HeartbeatService of hbeat_grpc_peer.py, on Debian's python3-grpcio. Beats,
 * status updates and the admin calls; a status change made on the server
 * reaching a service's callback; tokens; many calls on one channel with no
 * thread per call; and the faults: server stopped, killed and restarted,
 * silent, slow past the deadline, garbage, oversized or mismatched replies,
 * closing with a call in flight.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "grpc_peer.h"
#include "hbeat/hbeat.h"
#include "hbeat/sys/gateway.h"
#include "support/tsock.h"
#include "transports/grpc/grpc_internal.h"

static grpc_peer peer; /* --mode normal, for the group */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static hbeat_gateway *open_gw(const char *url, double timeout, const char *token)
{
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.request_timeout = timeout;
    o.token = token;
    hbeat_gateway *gw = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_gateway_open(&gw, url, &o, &err);
    if (rc != 0) {
        fail_msg("open %s: %s", url, err.message);
    }
    return gw;
}

static int start_mode(grpc_peer *p, const char *mode)
{
    const char *args[] = {"--mode", mode, NULL};
    return grpc_peer_start(p, args);
}

static int setup(void **state)
{
    (void)state;
    return start_mode(&peer, "normal");
}

static int teardown(void **state)
{
    (void)state;
    grpc_peer_cleanup(&peer);
    return 0;
}

/* ---- the calls ---- */

static void test_beats_updates_and_admin(void **state)
{
    (void)state;
    hbeat_gateway *gw = open_gw(peer.url, 5.0, NULL);
    assert_string_equal(hbeat_gateway_transport(gw), "grpc");
    hbeat_error err = HBEAT_ERROR_INIT;

    hbeat_run_create_options co = HBEAT_RUN_CREATE_OPTIONS_INIT;
    co.next_report_increment = 60.0;
    hbeat_run_info run;
    assert_int_equal(hbeat_run_create_with(gw, 41, &co, &run, &err), 0);
    assert_true(run.workflow_run_id > 0);
    assert_int_equal(run.workflow_id, 41);
    assert_string_equal(run.status, "G");
    assert_true(run.deadline > 0.0);

    char status[HBEAT_STATUS_MAX + 1];
    assert_int_equal(hbeat_gateway_log_heartbeat(gw, run.workflow_run_id, "R", 90.0, status, &err),
                     0);
    assert_string_equal(status, "R");
    assert_int_equal(hbeat_gateway_update_status(gw, run.workflow_run_id, "D", status, &err), 0);
    assert_string_equal(status, "D");

    hbeat_run_info got;
    assert_int_equal(hbeat_run_get(gw, run.workflow_run_id, &got, &err), 0);
    assert_string_equal(got.status, "D");
    assert_int_equal(got.beats, 1);

    /* Three more runs: the peer's pages hold two, so the listing pages. */
    hbeat_run_info more;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(hbeat_run_create(gw, 42, "Q", &more, &err), 0);
    }
    hbeat_run_info *runs = NULL;
    size_t n = 0;
    assert_int_equal(hbeat_run_list(gw, NULL, &runs, &n, &err), 0);
    assert_true(n >= 4);
    for (size_t i = 1; i < n; i++) {
        assert_true(runs[i].workflow_run_id > runs[i - 1].workflow_run_id);
    }
    hbeat_run_list_free(runs);
    assert_int_equal(hbeat_run_list(gw, "Q", &runs, &n, &err), 0);
    assert_int_equal(n, 3);
    hbeat_run_list_free(runs);

    assert_int_equal(hbeat_run_set_status(gw, more.workflow_run_id, "H", 1, &got, &err), 0);
    assert_string_equal(got.status, "H");

    err = (hbeat_error)HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_run_get(gw, 999999, &got, &err), HBEAT_ENOTFOUND);
    assert_non_null(strstr(err.message, "NOT_FOUND"));
    assert_int_equal(err.native, 5);
    hbeat_gateway_free(gw);
}

/* ---- a status change made on the server reaches the service ---- */

typedef struct change {
    pthread_mutex_t mu;
    char old_status[HBEAT_STATUS_MAX + 1], new_status[HBEAT_STATUS_MAX + 1];
    int seen;
} change;

static void on_change(void *arg, const char *old_status, const char *new_status)
{
    change *c = arg;
    pthread_mutex_lock(&c->mu);
    snprintf(c->old_status, sizeof(c->old_status), "%s", old_status);
    snprintf(c->new_status, sizeof(c->new_status), "%s", new_status);
    c->seen++;
    pthread_mutex_unlock(&c->mu);
}

static void test_status_change_reaches_callback(void **state)
{
    (void)state;
    hbeat_gateway *gw = open_gw(peer.url, 5.0, NULL);
    hbeat_error err = HBEAT_ERROR_INIT;
    hbeat_run_info run;
    assert_int_equal(hbeat_run_create(gw, 7, "R", &run, &err), 0);

    change c = {PTHREAD_MUTEX_INITIALIZER, "", "", 0};
    hbeat_service_options so = HBEAT_SERVICE_OPTIONS_INIT;
    so.workflow_run_id = run.workflow_run_id;
    so.interval = 0.1;
    so.on_status_change = on_change;
    so.on_status_change_arg = &c;
    hbeat_service *svc;
    assert_int_equal(hbeat_service_new(&svc, gw, &so, &err), 0);
    assert_int_equal(hbeat_service_start(svc, &err), 0);

    hbeat_run_info got;
    assert_int_equal(hbeat_run_set_status(gw, run.workflow_run_id, "H", 1, &got, &err), 0);
    int seen = 0;
    for (int i = 0; i < 100 && !seen; i++) {
        sleep_ms(50);
        pthread_mutex_lock(&c.mu);
        seen = c.seen;
        pthread_mutex_unlock(&c.mu);
    }
    assert_int_equal(hbeat_service_stop(svc, &err), 0);
    assert_true(seen >= 1);
    assert_string_equal(c.old_status, "R");
    assert_string_equal(c.new_status, "H");
    char now[HBEAT_STATUS_MAX + 1];
    assert_int_equal(hbeat_service_status(svc, now), 0);
    assert_string_equal(now, "H");
    hbeat_service_free(svc);
    hbeat_gateway_free(gw);
}

/* ---- one channel, many threads ---- */

typedef struct worker {
    hbeat_gateway *gw;
    int64_t run;
    int ok;
} worker;

static void *beat_many(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < 25; i++) {
        char status[HBEAT_STATUS_MAX + 1];
        hbeat_error err = HBEAT_ERROR_INIT;
        if (hbeat_gateway_log_heartbeat(w->gw, w->run, "R", 90.0, status, &err) == 0) {
            w->ok++;
        }
    }
    return NULL;
}

static void test_threads_share_one_gateway(void **state)
{
    (void)state;
    hbeat_gateway *gw = open_gw(peer.url, 5.0, NULL);
    hbeat_error err = HBEAT_ERROR_INIT;
    hbeat_run_info run;
    assert_int_equal(hbeat_run_create(gw, 8, "R", &run, &err), 0);
    pthread_t t[8];
    worker w[8];
    for (int i = 0; i < 8; i++) {
        w[i] = (worker){gw, run.workflow_run_id, 0};
        assert_int_equal(pthread_create(&t[i], NULL, beat_many, &w[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].ok, 25);
    }
    hbeat_run_info got;
    assert_int_equal(hbeat_run_get(gw, run.workflow_run_id, &got, &err), 0);
    assert_int_equal(got.beats, 200);
    hbeat_gateway_free(gw);
}

/* ---- asynchronous beats: the completion queue, no thread per call ---- */

typedef struct tally {
    pthread_mutex_t mu;
    int done, ok, timed_out, canceled;
} tally;

static void count_done(void *arg, int rc, const hbeat_heartbeat_reply *reply,
                       const hbeat_error *err)
{
    tally *t = arg;
    pthread_mutex_lock(&t->mu);
    t->done++;
    t->ok += rc == 0 && reply != NULL && strcmp(reply->status, "R") == 0;
    t->timed_out += rc == HBEAT_ETIMEDOUT;
    t->canceled += rc == HBEAT_ECANCELED && err != NULL && err->code == HBEAT_ECANCELED;
    pthread_mutex_unlock(&t->mu);
}

static int tally_done(tally *t)
{
    pthread_mutex_lock(&t->mu);
    int d = t->done;
    pthread_mutex_unlock(&t->mu);
    return d;
}

static int thread_count(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    int n = -1;
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "Threads: %d", &n) == 1) {
            break;
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return n;
}

static int start_async(hbeat_gateway *gw, int64_t run, uint64_t seq, tally *t)
{
    hbeat_heartbeat_request req = {run, "R", 90.0, seq};
    hbeat_error err = HBEAT_ERROR_INIT;
    return hbeat__grpc_vtable.log_heartbeat_async(hbeat_gateway_self(gw), &req, count_done, t,
                                                  &err);
}

typedef struct ticked {
    pthread_mutex_t mu;
    int done, rc;
    pthread_t caller;
    int on_caller;
} ticked;

static void on_tick(void *arg, int rc, const hbeat_update *update, const hbeat_error *err)
{
    (void)update;
    (void)err;
    ticked *t = arg;
    pthread_mutex_lock(&t->mu);
    t->done++;
    t->rc = rc;
    t->on_caller = pthread_equal(pthread_self(), t->caller);
    pthread_mutex_unlock(&t->mu);
}

static int tick_seen(ticked *t)
{
    pthread_mutex_lock(&t->mu);
    int d = t->done;
    pthread_mutex_unlock(&t->mu);
    return d;
}

static void test_async_beats_complete_on_the_queue(void **state)
{
    (void)state;
    hbeat_gateway *gw = open_gw(peer.url, 5.0, NULL);
    hbeat_error err = HBEAT_ERROR_INIT;
    hbeat_run_info run;
    assert_int_equal(hbeat_run_create(gw, 9, "R", &run, &err), 0);
    tally t = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0};
    for (uint64_t i = 0; i < 64; i++) {
        assert_int_equal(start_async(gw, run.workflow_run_id, i, &t), 0);
    }
    for (int i = 0; i < 200 && tally_done(&t) < 64; i++) {
        sleep_ms(25);
    }
    assert_int_equal(t.done, 64);
    assert_int_equal(t.ok, 64);

    /* hbeat_service_tick_async over the same path: a thread of the
       gateway's completes it, not the caller's. */
    hbeat_service_options so = HBEAT_SERVICE_OPTIONS_INIT;
    so.workflow_run_id = run.workflow_run_id;
    hbeat_service *svc;
    assert_int_equal(hbeat_service_new(&svc, gw, &so, &err), 0);
    ticked tk = {PTHREAD_MUTEX_INITIALIZER, 0, -1, pthread_self(), 0};
    assert_int_equal(hbeat_service_tick_async(svc, on_tick, &tk, &err), 0);
    for (int i = 0; i < 200 && !tick_seen(&tk); i++) {
        sleep_ms(25);
    }
    assert_int_equal(tk.done, 1);
    assert_int_equal(tk.rc, 0);
    assert_false(tk.on_caller);
    hbeat_service_free(svc);
    hbeat_gateway_free(gw);
}

static void test_no_thread_per_call(void **state)
{
    (void)state;
    grpc_peer slow;
    assert_int_equal(start_mode(&slow, "slow"), 0);
    hbeat_gateway *gw = open_gw(slow.url, 1.5, NULL);
    tally t = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0};
    /* One call first, so that gRPC's own threads are up. */
    assert_int_equal(start_async(gw, 1, 0, &t), 0);
    for (int i = 0; i < 200 && tally_done(&t) < 1; i++) {
        sleep_ms(25);
    }
    int before = thread_count();
    double t0 = now_s();
    for (uint64_t i = 1; i <= 64; i++) {
        assert_int_equal(start_async(gw, 1, i, &t), 0);
    }
    int during = thread_count();
    for (int i = 0; i < 400 && tally_done(&t) < 65; i++) {
        sleep_ms(25);
    }
    double took = now_s() - t0;
    assert_int_equal(t.done, 65);
    assert_int_equal(t.timed_out, 65);
    /* Every deadline came from request_timeout, at once for all. */
    assert_true(took >= 1.3 && took < 4.0);
    print_message("threads: %d before, %d with 64 calls in flight\n", before, during);
    assert_true(during <= before + 4);
    hbeat_gateway_free(gw);
    grpc_peer_cleanup(&slow);
}

static void test_close_cancels_calls_in_flight(void **state)
{
    (void)state;
    grpc_peer slow;
    assert_int_equal(start_mode(&slow, "slow"), 0);
    hbeat_gateway *gw = open_gw(slow.url, 20.0, NULL);
    tally t = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0};
    for (uint64_t i = 0; i < 4; i++) {
        assert_int_equal(start_async(gw, 1, i, &t), 0);
    }
    sleep_ms(300);
    double t0 = now_s();
    hbeat_gateway_free(gw);
    assert_true(now_s() - t0 < 3.0);
    assert_int_equal(t.done, 4);
    assert_int_equal(t.canceled, 4);
    grpc_peer_cleanup(&slow);
}

/* ---- tokens ---- */

static void test_bearer_token(void **state)
{
    (void)state;
    grpc_peer p;
    const char *args[] = {"--token", "s3cret-token", NULL};
    assert_int_equal(grpc_peer_start(&p, args), 0);
    hbeat_run_info run;
    hbeat_error err = HBEAT_ERROR_INIT;

    hbeat_gateway *gw = open_gw(p.url, 5.0, NULL);
    assert_int_equal(hbeat_run_create(gw, 1, NULL, &run, &err), HBEAT_EAUTH);
    assert_non_null(strstr(err.message, "UNAUTHENTICATED"));
    hbeat_gateway_free(gw);

    gw = open_gw(p.url, 5.0, "wrong");
    assert_int_equal(hbeat_run_create(gw, 1, NULL, &run, &err), HBEAT_EAUTH);
    hbeat_gateway_free(gw);

    gw = open_gw(p.url, 5.0, "s3cret-token");
    assert_int_equal(hbeat_run_create(gw, 1, NULL, &run, &err), 0);
    hbeat_gateway_free(gw);

    char path[320];
    snprintf(path, sizeof(path), "%s/token", p.dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("s3cret-token\n", f);
    fclose(f);
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.token_file = path;
    assert_int_equal(hbeat_gateway_open(&gw, p.url, &o, &err), 0);
    assert_int_equal(hbeat_run_create(gw, 1, NULL, &run, &err), 0);
    hbeat_gateway_free(gw);
    unlink(path);
    grpc_peer_cleanup(&p);
}

/* ---- faults ---- */

static void test_server_stopped(void **state)
{
    (void)state;
    grpc_peer p;
    assert_int_equal(start_mode(&p, "normal"), 0);
    char url[128];
    snprintf(url, sizeof(url), "%s", p.url);
    grpc_peer_cleanup(&p);
    hbeat_gateway *gw = open_gw(url, 3.0, NULL);
    hbeat_error err = HBEAT_ERROR_INIT;
    char status[HBEAT_STATUS_MAX + 1];
    double t0 = now_s();
    assert_int_equal(hbeat_gateway_log_heartbeat(gw, 1, "R", 90.0, status, &err), HBEAT_ETRANSPORT);
    assert_true(now_s() - t0 < 2.5);
    assert_non_null(strstr(err.message, "UNAVAILABLE"));
    hbeat_gateway_free(gw);
}

static void test_killed_and_restarted(void **state)
{
    (void)state;
    grpc_peer p;
    assert_int_equal(start_mode(&p, "normal"), 0);
    hbeat_gateway *gw = open_gw(p.url, 2.0, NULL);
    hbeat_error err = HBEAT_ERROR_INIT;
    hbeat_run_info run;
    assert_int_equal(hbeat_run_create(gw, 1, NULL, &run, &err), 0);

    grpc_peer_kill9(&p);
    int rc = hbeat_run_get(gw, run.workflow_run_id, &run, &err);
    assert_true(rc == HBEAT_ETRANSPORT || rc == HBEAT_ETIMEDOUT);

    assert_int_equal(grpc_peer_restart(&p), 0);
    /* The same gateway reconnects by itself, within its backoff (1 s). */
    double t0 = now_s();
    do {
        rc = hbeat_run_create(gw, 1, NULL, &run, &err);
        if (rc != 0) {
            sleep_ms(50);
        }
    } while (rc != 0 && now_s() - t0 < 5.0);
    assert_int_equal(rc, 0);
    print_message("reconnected %.2f s after the restart\n", now_s() - t0);
    hbeat_gateway_free(gw);
    grpc_peer_cleanup(&p);
}

static void serve_silence(void *arg, int fd, int index)
{
    (void)arg;
    (void)index;
    char buf[512];
    while (read(fd, buf, sizeof(buf)) > 0) {
    }
}

static void test_silent_server(void **state)
{
    (void)state;
    tsock_server *s = tsock_listen_tcp(serve_silence, NULL);
    char url[64];
    snprintf(url, sizeof(url), "grpc://127.0.0.1:%u", tsock_port(s));
    hbeat_gateway *gw = open_gw(url, 1.0, NULL);
    hbeat_error err = HBEAT_ERROR_INIT;
    char status[HBEAT_STATUS_MAX + 1];
    double t0 = now_s();
    assert_int_equal(hbeat_gateway_log_heartbeat(gw, 1, "R", 90.0, status, &err), HBEAT_ETIMEDOUT);
    double took = now_s() - t0;
    assert_true(took >= 0.9 && took < 3.0);
    hbeat_gateway_free(gw);
    tsock_stop(s);
}

/* A peer in `mode` answers a beat with `want`. */
static void expect_beat(const char *mode, int want, const char *needle)
{
    grpc_peer p;
    assert_int_equal(start_mode(&p, mode), 0);
    hbeat_gateway *gw = open_gw(p.url, 2.0, NULL);
    hbeat_error err = HBEAT_ERROR_INIT;
    hbeat_run_info run;
    /* The peer answers every call alike; a run id is all a beat needs. */
    char status[HBEAT_STATUS_MAX + 1];
    double t0 = now_s();
    int rc = hbeat_gateway_log_heartbeat(gw, 1, "R", 90.0, status, &err);
    print_message("%s: %d %s (%.2f s)\n", mode, rc, err.message, now_s() - t0);
    assert_int_equal(rc, want);
    assert_int_equal(err.code, want);
    assert_non_null(strstr(err.message, needle));
    if (strcmp(mode, "slow") != 0) {
        /* The admin calls meet the same. */
        assert_int_equal(hbeat_run_create(gw, 1, NULL, &run, &err), want);
    }
    hbeat_gateway_free(gw);
    grpc_peer_cleanup(&p);
}

static void test_garbage_reply(void **state)
{
    (void)state;
    expect_beat("garbage", HBEAT_EPROTO, "is not a hbeat.v1.");
}

static void test_oversized_reply(void **state)
{
    (void)state;
    expect_beat("oversize", HBEAT_ETOOBIG, "RESOURCE_EXHAUSTED");
}

static void test_deadline(void **state)
{
    (void)state;
    expect_beat("slow", HBEAT_ETIMEDOUT, "DEADLINE_EXCEEDED");
}

static void test_reply_for_another_beat(void **state)
{
    (void)state;
    grpc_peer p;
    assert_int_equal(start_mode(&p, "wrongseq"), 0);
    hbeat_gateway *gw = open_gw(p.url, 2.0, NULL);
    hbeat_error err = HBEAT_ERROR_INIT;
    hbeat_run_info run;
    assert_int_equal(hbeat_run_create(gw, 1, NULL, &run, &err), 0);
    char status[HBEAT_STATUS_MAX + 1];
    assert_int_equal(hbeat_gateway_log_heartbeat(gw, run.workflow_run_id, "R", 9.0, status, &err),
                     HBEAT_EPROTO);
    assert_non_null(strstr(err.message, "discarded"));
    hbeat_gateway_free(gw);
    grpc_peer_cleanup(&p);
}

/* ---- the hbeat tool ---- */

#ifdef HBEAT_CLI
/* Runs the hbeat tool with `args` against the group's peer; its stdout
   into out, its exit status returned. */
static int cli(const char *args, char *out, size_t size)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "%s %s --url %s 2>&1", HBEAT_CLI, args, peer.url);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void test_cli_takes_grpc_urls(void **state)
{
    (void)state;
    char out[4096];
    assert_int_equal(cli("run create --workflow 77 --json", out, sizeof(out)), 0);
    long long id = 0;
    assert_int_equal(sscanf(out, "{\"workflow_run_id\":%lld", &id), 1);
    char args[128];
    snprintf(args, sizeof(args), "beat --run %lld --count 2 --interval 0.05", id);
    assert_int_equal(cli(args, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "beat 2 run"));
    snprintf(args, sizeof(args), "run set-status %lld D --force", id);
    assert_int_equal(cli(args, out, sizeof(out)), 0);
    snprintf(args, sizeof(args), "run get %lld", id);
    assert_int_equal(cli(args, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "status D"));
    assert_non_null(strstr(out, "2 beats"));
    assert_int_equal(cli("run list --status D", out, sizeof(out)), 0);
    assert_int_equal(cli("run get 987654", out, sizeof(out)), 1);
    assert_non_null(strstr(out, "NOT_FOUND"));
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_beats_updates_and_admin),
        cmocka_unit_test(test_status_change_reaches_callback),
        cmocka_unit_test(test_threads_share_one_gateway),
        cmocka_unit_test(test_async_beats_complete_on_the_queue),
        cmocka_unit_test(test_no_thread_per_call),
        cmocka_unit_test(test_close_cancels_calls_in_flight),
        cmocka_unit_test(test_bearer_token),
        cmocka_unit_test(test_server_stopped),
        cmocka_unit_test(test_killed_and_restarted),
        cmocka_unit_test(test_silent_server),
        cmocka_unit_test(test_garbage_reply),
        cmocka_unit_test(test_oversized_reply),
        cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_reply_for_another_beat),
#ifdef HBEAT_CLI
        cmocka_unit_test(test_cli_takes_grpc_urls),
#endif
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
