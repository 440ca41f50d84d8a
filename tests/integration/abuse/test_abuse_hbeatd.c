/*
 * hbeatd under abuse: 32 clients beat valid heartbeats,
 * each for its own run, through the public library (nng+tcp, nng+ipc and
 * REST, split between them), while other threads throw 10,000 malformed
 * requests at the same server (nng: garbage protobuf, unknown calls,
 * truncated and mistyped messages, bad values, oversized messages; REST:
 * invalid JSON, wrong types, bad values, wrong methods, oversized bodies,
 * non-numeric ids). Many of them aim at the clients' own runs.
 *
 * Then: every valid beat was answered correctly (no failure, the status
 * still R, and the server counted exactly the beats the clients got
 * answers for), every malformed request was refused as the contract says,
 * and hbeatd's resident set after warm-up grew by no more than 10% by the
 * end. Under a sanitizer the RSS is the sanitizer's (quarantine, shadow
 * memory), so there it is reported but not judged; LeakSanitizer checks
 * hbeatd's exit instead.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "abuse.h"
#include "hbeat/hbeat.h"
#include "support/hbeatd_harness.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

#define CLIENTS 32
/* The issue's number; HBEAT_ABUSE_MALFORMED=N in the environment makes a
   longer soak run by hand. */
#define MALFORMED_DEFAULT 10000
#define SENDERS           4 /* nng+tcp, nng+ipc, and two over HTTP */
#define WARMUP_BAD        2000
#define WARMUP_BEATS      10
/* A valid beat may take this long before it counts as a failure: the test
   is about wrong answers, not speed, and sanitizer builds are slow. */
#define REQUEST_TIMEOUT 20.0
#define WAIT_S          240.0

static const char *const server_args[] = {"--reap-grace", "100000", NULL};

typedef struct client {
    const char *url;
    int64_t run;
    hbeat_gateway *gw;
    hbeat_service *svc;
    hbeat_stop_event *stop;
    pthread_t thread;
    atomic_ulong beats; /* acknowledged */
    unsigned failures;  /* written by the client thread, read after join */
    char first_failure[300];
} client;

typedef struct sender {
    int http;
    const char *address;
    ab_target target;
    ab_tally tally;
    pthread_t thread;
} sender;

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

/* hbeatd's resident set, in kB; 0 when it cannot be read. */
static long rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = 0;
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    }
    fclose(f);
    return kb;
}

static void *client_main(void *arg)
{
    client *c = arg;
    while (!hbeat_stop_event_is_set(c->stop)) {
        hbeat_update up;
        hbeat_error err = HBEAT_ERROR_INIT;
        int rc = hbeat_service_tick(c->svc, &up, &err);
        if (rc != 0 || up.changed) {
            if (c->failures++ == 0) {
                if (rc != 0)
                    snprintf(c->first_failure, sizeof(c->first_failure), "%s: %s",
                             hbeat_strerror(rc), err.message);
                else
                    snprintf(c->first_failure, sizeof(c->first_failure),
                             "the server moved the run from %s to %s", up.previous_status,
                             up.status);
            }
        } else {
            atomic_fetch_add(&c->beats, 1);
        }
        /* Pacing only: the valid beats are to be interleaved with the
           malformed ones, not to crowd them out. */
        hbeat_stop_event_wait(c->stop, 0.005);
    }
    return NULL;
}

static void *sender_main(void *arg)
{
    sender *s = arg;
    if (s->http)
        ab_http_run(s->address, &s->target, &s->tally);
    else
        ab_nng_run(s->address, &s->target, &s->tally);
    return NULL;
}

static hbeat_gateway *open_gw(const char *url)
{
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.request_timeout = REQUEST_TIMEOUT;
    o.connect_timeout = REQUEST_TIMEOUT;
    hbeat_gateway *gw = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbeat_gateway_open(&gw, url, &o, &err) != 0)
        fail_msg("open %s: %s", url, err.message);
    return gw;
}

static unsigned long min_beats(client *cl)
{
    unsigned long m = (unsigned long)-1;
    for (int i = 0; i < CLIENTS; i++) {
        unsigned long b = atomic_load(&cl[i].beats);
        if (b < m)
            m = b;
    }
    return m;
}

static unsigned malformed_count(void)
{
    const char *env = getenv("HBEAT_ABUSE_MALFORMED");
    long n = env != NULL ? strtol(env, NULL, 10) : 0;
    return n >= 1000 && n <= 100000000 ? (unsigned)n : MALFORMED_DEFAULT;
}

static void test_abuse(void **state)
{
    (void)state;
    const unsigned malformed = malformed_count();
    static const char *const proxies[] = {"http_proxy",  "HTTP_PROXY", "https_proxy",
                                          "HTTPS_PROXY", "all_proxy",  "ALL_PROXY"};
    for (size_t i = 0; i < sizeof(proxies) / sizeof(proxies[0]); i++)
        unsetenv(proxies[i]);

    hbd_harness h;
    assert_int_equal(hbd_harness_start(&h, server_args), 0);
    assert_true(h.rest_url[0] != '\0');
    hbeat_gateway *admin = open_gw(h.rest_url);
    hbeat_stop_event *stop = NULL;
    assert_int_equal(hbeat_stop_event_new(&stop), 0);

    /* The valid clients: a third each on nng+tcp, nng+ipc and REST. */
    static client cl[CLIENTS];
    int64_t runs[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        client *c = &cl[i];
        memset(c, 0, sizeof(*c));
        c->url = i % 3 == 0 ? h.nng_tcp_url : i % 3 == 1 ? h.nng_ipc_url : h.rest_url;
        hbeat_run_info run;
        hbeat_error err = HBEAT_ERROR_INIT;
        if (hbeat_run_create(admin, 7, "R", &run, &err) != 0)
            fail_msg("create_run: %s", err.message);
        c->run = runs[i] = run.workflow_run_id;
        c->gw = open_gw(c->url);
        hbeat_service_options so = HBEAT_SERVICE_OPTIONS_INIT;
        so.workflow_run_id = c->run;
        if (hbeat_service_new(&c->svc, c->gw, &so, &err) != 0)
            fail_msg("service: %s", err.message);
        c->stop = stop;
        atomic_init(&c->beats, 0);
    }
    for (int i = 0; i < CLIENTS; i++)
        assert_int_equal(pthread_create(&cl[i].thread, NULL, client_main, &cl[i]), 0);

    /* The malformed requests, from threads and sockets of their own. */
    atomic_uint progress;
    atomic_init(&progress, 0);
    static sender snd[SENDERS];
    const char *addresses[SENDERS] = {h.nng_tcp_url, h.nng_ipc_url, h.rest_host_port,
                                      h.rest_host_port};
    for (int i = 0; i < SENDERS; i++) {
        memset(&snd[i], 0, sizeof(snd[i]));
        snd[i].http = i >= 2;
        snd[i].address = addresses[i];
        snd[i].target.runs = runs;
        snd[i].target.nruns = CLIENTS;
        snd[i].target.count = malformed / SENDERS;
        snd[i].target.seed = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
        snd[i].target.progress = &progress;
        assert_int_equal(pthread_create(&snd[i].thread, NULL, sender_main, &snd[i]), 0);
    }

    /* Warm-up: the server has met every kind of request many times. */
    double t0 = now_s();
    while ((atomic_load(&progress) < WARMUP_BAD || min_beats(cl) < WARMUP_BEATS) &&
           now_s() - t0 < WAIT_S)
        sleep_ms(10);
    long rss_warm = rss_kb(h.pid);
    unsigned bad_at_warm = atomic_load(&progress);
    double t_warm = now_s();

    for (int i = 0; i < SENDERS; i++)
        pthread_join(snd[i].thread, NULL);
    /* The end: all malformed requests answered, the valid beats still
       going, as at the warm-up point. */
    long rss_end = rss_kb(h.pid);
    double t_end = now_s();
    hbeat_stop_event_set(stop);
    for (int i = 0; i < CLIENTS; i++)
        pthread_join(cl[i].thread, NULL);

    /* hbeatd lived through it. */
    assert_int_equal(kill(h.pid, 0), 0);

    unsigned long total_beats = 0;
    unsigned failing = 0;
    for (int i = 0; i < CLIENTS; i++) {
        client *c = &cl[i];
        unsigned long beats = atomic_load(&c->beats);
        total_beats += beats;
        if (c->failures != 0) {
            failing++;
            fprintf(stderr, "client %d (%s): %u failures; first: %s\n", i, c->url, c->failures,
                    c->first_failure);
        }
        /* The server counted exactly the beats this client got answers
           for: none lost, none doubled, no malformed request taken for
           one. Its status is still the one the client reports. */
        hbeat_run_info run;
        hbeat_error err = HBEAT_ERROR_INIT;
        assert_int_equal(hbeat_run_get(admin, c->run, &run, &err), 0);
        if (strcmp(run.status, "R") != 0) {
            fprintf(stderr, "client %d (%s): the run is in %s\n", i, c->url, run.status);
            failing++;
        }
        if (run.beats < beats || run.beats > beats + c->failures) {
            fprintf(stderr, "client %d (%s): the server counted %llu beats, the client %lu\n", i,
                    c->url, (unsigned long long)run.beats, beats);
            failing++;
        }
        if (beats < WARMUP_BEATS) {
            fprintf(stderr, "client %d (%s): only %lu beats\n", i, c->url, beats);
            failing++;
        }
    }

    unsigned sent = 0, right = 0, dropped = 0, wrong = 0;
    for (int i = 0; i < SENDERS; i++) {
        ab_tally *t = &snd[i].tally;
        sent += t->sent;
        right += t->refused_right;
        dropped += t->dropped;
        wrong += t->wrong;
        if (t->wrong != 0)
            fprintf(stderr, "sender %d (%s): %u wrong answers; first: %s\n", i, snd[i].address,
                    t->wrong, t->first_wrong);
    }
    fprintf(stderr,
            "abuse: %lu valid beats from %d clients, %u malformed requests (%u refused as "
            "specified, %u dropped as specified, %u wrong) in %.1f s; hbeatd RSS %ld kB after "
            "warm-up (%u malformed), %ld kB at the end (%+.1f%% over %.1f s)%s\n",
            total_beats, CLIENTS, sent, right, dropped, wrong, t_end - t0, rss_warm, bad_at_warm,
            rss_end, rss_warm > 0 ? 100.0 * (double)(rss_end - rss_warm) / (double)rss_warm : 0.0,
            t_end - t_warm, SANITIZED ? " (sanitizer build: RSS not judged)" : "");

    for (int i = 0; i < CLIENTS; i++) {
        hbeat_service_free(cl[i].svc);
        hbeat_gateway_free(cl[i].gw);
    }
    hbeat_gateway_free(admin);
    hbeat_stop_event_free(stop);
    /* 0 is a clean stop (and, under a sanitizer, a clean report). */
    int stop_rc = hbd_harness_stop(&h);
    hbd_harness_cleanup(&h);

    assert_int_equal(failing, 0);
    assert_int_equal(sent, malformed / SENDERS * SENDERS);
    assert_int_equal(wrong, 0);
    assert_int_equal(right + dropped, sent);
    assert_true(rss_warm > 0 && rss_end > 0);
    if (!SANITIZED && (double)rss_end > 1.10 * (double)rss_warm)
        fail_msg("hbeatd's RSS grew from %ld kB to %ld kB (more than 10%%)", rss_warm, rss_end);
    assert_int_equal(stop_rc, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
