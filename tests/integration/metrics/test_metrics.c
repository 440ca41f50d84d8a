/*
 * GET /metrics on a real hbeatd (tests/support/hbeatd_harness.h): every
 * line must be valid exposition format (expo.c, a strict reader of our
 * own), and the counters must move as beats arrive over nng and REST and
 * as the reaper takes runs. Beats go through the library's own nng and
 * REST gateways, as a user's would.
 *
 * Waiting is only ever for a state (a counter reaching a value), bounded
 * by a generous limit; nothing depends on how fast the machine is.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "expo.h"
#include "hbeat/hbeat.h"
#include "http.h"
#include "support/hbeatd_harness.h"

#define WAIT_S 20.0

/* ---- the reader itself must be able to say no ------------------------- */

static const char good_text[] = "# HELP a_total Things.\n"
                                "# TYPE a_total counter\n"
                                "a_total{x=\"1\",y=\"q\\\"uote\"} 3\n"
                                "a_total{x=\"2\"} 0\n"
                                "# TYPE g gauge\n"
                                "g -1.5e3\n"
                                "g{s=\"nan\"} NaN\n"
                                "# HELP h_seconds Latency.\n"
                                "# TYPE h_seconds histogram\n"
                                "h_seconds_bucket{le=\"0.1\",p=\"a\"} 1\n"
                                "h_seconds_bucket{p=\"a\",le=\"1\"} 2\n"
                                "h_seconds_bucket{p=\"a\",le=\"+Inf\"} 3\n"
                                "h_seconds_sum{p=\"a\"} 2.5\n"
                                "h_seconds_count{p=\"a\"} 3\n";

static void test_reader_accepts_valid_text(void **state)
{
    (void)state;
    expo e;
    if (expo_parse(&e, good_text, strlen(good_text)) != 0) {
        fail_msg("%s", e.error);
    }
    assert_true(expo_get(&e, "a_total", "x=\"1\",y=\"q\\\"uote\"") == 3);
    assert_true(expo_get(&e, "g", "") == -1500);
    assert_true(isnan(expo_get(&e, "g", "s=\"nan\"")));
    assert_true(expo_get(&e, "h_seconds_bucket", "le=\"1\",p=\"a\"") == 2);
    assert_string_equal(expo_type(&e, "h_seconds"), "histogram");
    assert_int_equal(expo_series(&e, "h_seconds_bucket"), 3);
    expo_free(&e);
}

static void test_reader_rejects_invalid_text(void **state)
{
    (void)state;
    static const struct {
        const char *why, *text;
    } bad[] = {
        {"no final newline", "# TYPE g gauge\ng 1"},
        {"sample without TYPE", "g 1\n"},
        {"bad metric name", "# TYPE 1g gauge\n1g 1\n"},
        {"bad label name", "# TYPE g gauge\ng{1x=\"a\"} 1\n"},
        {"unquoted label value", "# TYPE g gauge\ng{x=a} 1\n"},
        {"bad escape", "# TYPE g gauge\ng{x=\"\\t\"} 1\n"},
        {"unterminated labels", "# TYPE g gauge\ng{x=\"a\" 1\n"},
        {"duplicate label", "# TYPE g gauge\ng{x=\"a\",x=\"b\"} 1\n"},
        {"bad value", "# TYPE g gauge\ng 1,5\n"},
        {"missing value", "# TYPE g gauge\ng\n"},
        {"Inf without sign", "# TYPE g gauge\ng Inf\n"},
        {"two spaces", "# TYPE g gauge\ng  1\n"},
        {"series twice", "# TYPE g gauge\ng{x=\"a\"} 1\ng{x=\"a\"} 2\n"},
        {"TYPE twice", "# TYPE g gauge\n# TYPE g gauge\ng 1\n"},
        {"HELP twice", "# HELP g a\n# HELP g b\n# TYPE g gauge\ng 1\n"},
        {"TYPE after samples", "# TYPE g gauge\ng 1\n# TYPE g gauge\n"},
        {"unknown type", "# TYPE g meter\ng 1\n"},
        {"counter without _total", "# TYPE c counter\nc 1\n"},
        {"negative counter", "# TYPE c_total counter\nc_total -1\n"},
        {"family split", "# TYPE a gauge\n# TYPE b gauge\na 1\nb 1\na{x=\"y\"} 1\n"},
        {"CR in a line", "# TYPE g gauge\ng 1\r\n"},
        {"bucket without le", "# TYPE h histogram\nh_bucket 1\nh_sum 1\nh_count 1\n"},
        {"bare histogram sample", "# TYPE h histogram\nh 1\n"},
        {"le on _count",
         "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count{le=\"1\"} 1\n"},
        {"no +Inf bucket", "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n"},
        {"+Inf != count",
         "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n"},
        {"buckets going down",
         "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n"},
        {"le out of order", "# TYPE h histogram\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\n"
                            "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n"},
        {"no _sum", "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n"},
        {"no _count", "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\n"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expo e;
        int rc = expo_parse(&e, bad[i].text, strlen(bad[i].text));
        expo_free(&e);
        if (rc == 0) {
            fail_msg("accepted text with %s", bad[i].why);
        }
    }
}

/* ---- scraping hbeatd ---------------------------------------------------- */

typedef struct fx {
    hbd_harness h;
    int started;
    char metrics_url[320];
    hbeat_gateway *nng;
    hbeat_gateway *rest;
} fx;

static int start(void **state, const char *const *args)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    *state = f;
    assert_int_equal(hbd_harness_start(&f->h, args), 0);
    f->started = 1;
    snprintf(f->metrics_url, sizeof f->metrics_url, "http://%s/metrics", f->h.rest_host_port);
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbeat_gateway_open(&f->nng, f->h.nng_tcp_url, &o, &err) != 0 ||
        hbeat_gateway_open(&f->rest, f->h.rest_url, &o, &err) != 0) {
        fail_msg("gateway: %s", err.message);
    }
    return 0;
}

static int setup(void **state)
{
    return start(state, NULL);
}

/* No fsync per run: the gauge tests create a thousand runs. */
static int setup_memory(void **state)
{
    static const char *const args[] = {"--db", ":memory:", NULL};
    return start(state, args);
}

static int setup_reaping(void **state)
{
    static const char *const args[] = {"--reap-interval", "0.05", "--reap-grace", "0", NULL};
    return start(state, args);
}

static int teardown(void **state)
{
    fx *f = *state;
    hbeat_gateway_free(f->nng);
    hbeat_gateway_free(f->rest);
    int rc = f->started ? hbd_harness_stop(&f->h) : 0;
    hbd_harness_cleanup(&f->h);
    free(f);
    /* A clean stop after all the scraping: 0. */
    assert_int_equal(rc, 0);
    return 0;
}

/* Scrapes and checks the whole text; the caller frees `e`. */
static void scrape(fx *f, expo *e)
{
    obs_http r;
    int rc = obs_http_do("GET", f->metrics_url, NULL, &r);
    if (rc != 0) {
        fail_msg("GET %s: curl error %d", f->metrics_url, rc);
    }
    assert_int_equal(r.status, 200);
    char ct[128];
    assert_int_equal(obs_http_header(&r, "Content-Type", ct, sizeof ct), 0);
    if (strncmp(ct, "text/plain; version=0.0.4", 25) != 0) {
        fail_msg("Content-Type: %s", ct);
    }
    if (expo_parse(e, r.body, r.len) != 0) {
        fprintf(stderr, "---- /metrics ----\n%s----\n", r.body);
        fail_msg("/metrics is not valid exposition format: %s", e->error);
    }
    obs_http_free(&r);
}

static double get(const expo *e, const char *name, const char *labels)
{
    double v = expo_get(e, name, labels);
    if (isnan(v)) {
        fail_msg("no series %s{%s}", name, labels);
    }
    return v;
}

static double requests(const expo *e, const char *proto, const char *route, const char *result)
{
    char labels[160];
    snprintf(labels, sizeof labels, "protocol=\"%s\",result=\"%s\",route=\"%s\"", proto, result,
             route);
    double v = expo_get(e, "hbeatd_requests_total", labels);
    return isnan(v) ? 0 : v; /* an error series appears once it happened */
}

static double hist_count(const expo *e, const char *name, const char *labels)
{
    char n[160];
    snprintf(n, sizeof n, "%s_count", name);
    return get(e, n, labels);
}

static double hist_sum(const expo *e, const char *name, const char *labels)
{
    char n[160];
    snprintf(n, sizeof n, "%s_sum", name);
    return get(e, n, labels);
}

static int64_t create_run(fx *f, const char *status)
{
    hbeat_run_info run;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbeat_run_create(f->rest, 7, status, &run, &err) != 0) {
        fail_msg("create run: %s", err.message);
    }
    return run.workflow_run_id;
}

static void beat(hbeat_gateway *gw, int64_t run, const char *status, double increment)
{
    char held[HBEAT_STATUS_MAX + 1];
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbeat_gateway_log_heartbeat(gw, run, status, increment, held, &err) != 0) {
        fail_msg("beat run %lld: %s", (long long)run, err.message);
    }
    assert_string_equal(held, status);
}

/* Polls /metrics until `name{labels}` reaches `want` (a state, not a
   duration: the limit only bounds a failing test). */
static void wait_for(fx *f, const char *name, const char *labels, double want, expo *out)
{
    struct timespec t0, now, pause = {0, 20 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        scrape(f, out);
        double v = expo_get(out, name, labels);
        if (v == want)
            return;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9 > WAIT_S) {
            fail_msg("%s{%s} is %g, want %g", name, labels, v, want);
        }
        expo_free(out);
        nanosleep(&pause, NULL);
    }
}

static void test_every_family_is_there_with_help_and_type(void **state)
{
    fx *f = *state;
    expo e;
    scrape(f, &e);
    static const struct {
        const char *name, *type;
    } families[] = {
        {"hbeatd_requests_total", "counter"},
        {"hbeatd_request_duration_seconds", "histogram"},
        {"hbeatd_runs", "gauge"},
        {"hbeatd_reaped_runs_total", "counter"},
        {"hbeatd_store_commit_duration_seconds", "histogram"},
        {"hbeatd_store_committed_changes_total", "counter"},
        {"hbeatd_open_connections", "gauge"},
    };
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
        const char *type = expo_type(&e, families[i].name);
        if (type == NULL || strcmp(type, families[i].type) != 0) {
            fail_msg("%s: TYPE %s, want %s", families[i].name, type ? type : "(none)",
                     families[i].type);
        }
    }
    /* Every status has its gauge, every reaper move its counter, from the
       first scrape on. */
    assert_int_equal(expo_series(&e, "hbeatd_runs"), 13);
    for (const char *s = "GLBIORDSECHTA"; *s != '\0'; s++) {
        char labels[32];
        snprintf(labels, sizeof labels, "status=\"%c\"", *s);
        assert_true(get(&e, "hbeatd_runs", labels) == 0);
    }
    assert_int_equal(expo_series(&e, "hbeatd_reaped_runs_total"), 4);
    assert_true(get(&e, "hbeatd_reaped_runs_total", "from=\"R\",to=\"E\"") == 0);
    assert_true(get(&e, "hbeatd_open_connections", "protocol=\"nng\"") >= 0);
    /* This scrape's own connection is open while it is served. */
    assert_true(get(&e, "hbeatd_open_connections", "protocol=\"rest\"") >= 1);
    /* Each protocol's ok series exists at 0 before any request. */
    assert_true(get(&e, "hbeatd_requests_total",
                    "protocol=\"nng\",result=\"ok\",route=\"heartbeat\"") == 0);
    assert_true(isnan(
        expo_get(&e, "hbeatd_requests_total", "protocol=\"nng\",result=\"ok\",route=\"metrics\"")));
    expo_free(&e);
}

static void test_counters_move_as_beats_arrive(void **state)
{
    fx *f = *state;
    expo a, b;
    int64_t run = create_run(f, "R");
    scrape(f, &a);

    for (int i = 0; i < 3; i++)
        beat(f->nng, run, "R", 600);
    for (int i = 0; i < 2; i++)
        beat(f->rest, run, "R", 600);
    char held[HBEAT_STATUS_MAX + 1];
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_gateway_log_heartbeat(f->nng, 987654, "R", 600, held, &err),
                     HBEAT_ENOTFOUND);
    assert_int_equal(hbeat_gateway_log_heartbeat(f->rest, 987654, "R", 600, held, &err),
                     HBEAT_ENOTFOUND);
    /* A body that is not JSON, and an unknown route, over plain HTTP. */
    char url[400];
    snprintf(url, sizeof url, "%s/workflow_run/%lld/log_heartbeat", f->h.rest_url, (long long)run);
    obs_http r;
    assert_int_equal(obs_http_do("POST", url, "{not json", &r), 0);
    assert_int_equal(r.status, 400);
    obs_http_free(&r);
    snprintf(url, sizeof url, "http://%s/nowhere", f->h.rest_host_port);
    assert_int_equal(obs_http_do("GET", url, NULL, &r), 0);
    assert_int_equal(r.status, 404);
    obs_http_free(&r);
    /* An nng admin call: get_run. */
    hbeat_run_info info;
    assert_int_equal(hbeat_run_get(f->nng, run, &info, &err), 0);
    assert_int_equal(info.beats, 5);

    scrape(f, &b);
#define DELTA(p, route, result) (requests(&b, p, route, result) - requests(&a, p, route, result))
    assert_true(DELTA("nng", "heartbeat", "ok") == 3);
    assert_true(DELTA("nng", "heartbeat", "not_found") == 1);
    assert_true(DELTA("nng", "get_run", "ok") == 1);
    assert_true(DELTA("rest", "heartbeat", "ok") == 2);
    assert_true(DELTA("rest", "heartbeat", "not_found") == 1);
    assert_true(DELTA("rest", "heartbeat", "bad_request") == 1);
    assert_true(DELTA("rest", "other", "not_found") == 1);
    assert_true(DELTA("rest", "create_run", "ok") == 0); /* created before `a` */
    /* The scrape `a` itself: counted once its reply was ready. */
    assert_true(DELTA("rest", "metrics", "ok") == 1);
#undef DELTA

    /* Latency: one observation per request, whatever its result. */
    static const char nng_hb[] = "protocol=\"nng\",route=\"heartbeat\"";
    static const char rest_hb[] = "protocol=\"rest\",route=\"heartbeat\"";
    static const char lat[] = "hbeatd_request_duration_seconds";
    assert_true(hist_count(&b, lat, nng_hb) - hist_count(&a, lat, nng_hb) == 4);
    assert_true(hist_count(&b, lat, rest_hb) - hist_count(&a, lat, rest_hb) == 4);
    assert_true(hist_sum(&b, lat, nng_hb) > hist_sum(&a, lat, nng_hb));
    /* All results of a route add up to its histogram's count. */
    static const char *const results[] = {"ok",           "bad_request", "not_found",
                                          "unauthorized", "too_large",   "server_error"};
    double total = 0;
    for (size_t i = 0; i < 6; i++)
        total += requests(&b, "rest", "heartbeat", results[i]);
    assert_true(total == hist_count(&b, lat, rest_hb));

    /* The runs gauge and the store. */
    assert_true(get(&b, "hbeatd_runs", "status=\"R\"") == 1);
    static const char commit[] = "hbeatd_store_commit_duration_seconds";
    assert_true(hist_count(&b, commit, "") - hist_count(&a, commit, "") >= 1);
    assert_true(hist_sum(&b, commit, "") > hist_sum(&a, commit, ""));
    assert_true(get(&b, "hbeatd_store_committed_changes_total", "") -
                    get(&a, "hbeatd_store_committed_changes_total", "") >=
                1);
    /* The library's nng gateway is connected; closing it closes its pipe. */
    assert_true(get(&b, "hbeatd_open_connections", "protocol=\"nng\"") >= 1);
    expo_free(&a);
    expo_free(&b);
    hbeat_gateway_free(f->nng);
    f->nng = NULL;
    wait_for(f, "hbeatd_open_connections", "protocol=\"nng\"", 0, &b);
    expo_free(&b);
}

static void test_runs_gauge_counts_every_status(void **state)
{
    fx *f = *state;
    static const char statuses[] = "GLBIORDSECHTA";
    /* 1 run in G, 2 in L, 3 in B, ... 13 in A. */
    for (int i = 0; statuses[i] != '\0'; i++) {
        char s[2] = {statuses[i], '\0'};
        for (int k = 0; k <= i; k++)
            create_run(f, s);
    }
    expo e;
    scrape(f, &e);
    for (int i = 0; statuses[i] != '\0'; i++) {
        char labels[32];
        snprintf(labels, sizeof labels, "status=\"%c\"", statuses[i]);
        if (get(&e, "hbeatd_runs", labels) != i + 1) {
            fail_msg("hbeatd_runs{%s} = %g, want %d", labels, get(&e, "hbeatd_runs", labels),
                     i + 1);
        }
    }
    expo_free(&e);
}

/* The runs gauge pages through the engine (1000 runs a page). */
static void test_runs_gauge_beyond_one_page(void **state)
{
    fx *f = *state;
    for (int i = 0; i < 1003; i++)
        create_run(f, i % 5 == 0 ? "R" : "G");
    expo e;
    scrape(f, &e);
    assert_true(get(&e, "hbeatd_runs", "status=\"R\"") == 201);
    assert_true(get(&e, "hbeatd_runs", "status=\"G\"") == 802);
    expo_free(&e);
}

static void test_reaper_counter_moves_after_a_reap(void **state)
{
    fx *f = *state;
    int64_t r = create_run(f, "R");
    int64_t l = create_run(f, "L");
    int64_t alive = create_run(f, "R");
    beat(f->rest, alive, "R", 3600);
    /* Deadlines a millisecond away: the next reaper pass takes them. */
    beat(f->nng, r, "R", 0.001);
    beat(f->rest, l, "L", 0.001);

    expo e;
    wait_for(f, "hbeatd_reaped_runs_total", "from=\"R\",to=\"E\"", 1, &e);
    expo_free(&e);
    wait_for(f, "hbeatd_reaped_runs_total", "from=\"L\",to=\"A\"", 1, &e);
    assert_true(get(&e, "hbeatd_reaped_runs_total", "from=\"C\",to=\"T\"") == 0);
    assert_true(get(&e, "hbeatd_reaped_runs_total", "from=\"H\",to=\"T\"") == 0);
    assert_true(get(&e, "hbeatd_runs", "status=\"E\"") == 1);
    assert_true(get(&e, "hbeatd_runs", "status=\"A\"") == 1);
    assert_true(get(&e, "hbeatd_runs", "status=\"R\"") == 1);
    expo_free(&e);
    hbeat_run_info info;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_run_get(f->rest, r, &info, &err), 0);
    assert_string_equal(info.status, "E");
}

/* ---- the routes themselves over HTTP ---------------------------------- */

static void test_observe_routes_over_http(void **state)
{
    fx *f = *state;
    char url[320], v[512];
    obs_http r;

    /* HEAD /metrics: the headers, no body. */
    assert_int_equal(obs_http_do("HEAD", f->metrics_url, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 0);
    assert_int_equal(obs_http_header(&r, "Content-Type", v, sizeof v), 0);
    assert_non_null(strstr(v, "version=0.0.4"));
    obs_http_free(&r);

    /* Read-only: another method is refused with Allow. */
    assert_int_equal(obs_http_do("POST", f->metrics_url, "{}", &r), 0);
    assert_int_equal(r.status, 405);
    assert_int_equal(obs_http_header(&r, "Allow", v, sizeof v), 0);
    assert_string_equal(v, "GET, HEAD");
    obs_http_free(&r);

    /* The status page: HTML, self-contained, locked down. */
    snprintf(url, sizeof url, "http://%s/", f->h.rest_host_port);
    assert_int_equal(obs_http_do("GET", url, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(obs_http_header(&r, "Content-Type", v, sizeof v), 0);
    assert_string_equal(v, "text/html; charset=utf-8");
    assert_int_equal(obs_http_header(&r, "Content-Security-Policy", v, sizeof v), 0);
    assert_non_null(strstr(v, "default-src 'none'"));
    assert_non_null(strstr(v, "connect-src 'self'"));
    assert_non_null(strstr(r.body, "<table id=\"runs\">"));
    assert_non_null(strstr(r.body, "/api/v3/runs"));
    assert_int_equal(strlen(r.body), r.len);
    /* Nothing is loaded from anywhere else. */
    assert_null(strstr(r.body, "http://"));
    assert_null(strstr(r.body, "https://"));
    assert_null(strstr(r.body, "src=\""));
    obs_http_free(&r);
    assert_int_equal(obs_http_do("DELETE", url, NULL, &r), 0);
    assert_int_equal(r.status, 405);
    obs_http_free(&r);

    expo e;
    scrape(f, &e);
    assert_true(requests(&e, "rest", "status_page", "ok") == 1);
    assert_true(requests(&e, "rest", "status_page", "bad_request") == 1);
    assert_true(requests(&e, "rest", "metrics", "bad_request") == 1);
    assert_true(requests(&e, "rest", "metrics", "ok") == 1); /* the HEAD */
    expo_free(&e);
}

/* ---- with tokens: /metrics needs an operator, the page needs nothing --- */

static char token_file[64];

static int setup_tokens(void **state)
{
    snprintf(token_file, sizeof token_file, "/tmp/hbeat-obs-tokens-XXXXXX");
    int fd = mkstemp(token_file);
    assert_true(fd >= 0);
    static const char tokens[] =
        "# test tokens\noperator op-secret-0123456789abcdef\nclient cl-secret-0123456789abcdef\n";
    assert_int_equal(write(fd, tokens, sizeof tokens - 1), (ssize_t)(sizeof tokens - 1));
    close(fd);
    static const char *args[] = {"--token-file", token_file, NULL};
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    *state = f;
    assert_int_equal(hbd_harness_start(&f->h, args), 0);
    f->started = 1;
    snprintf(f->metrics_url, sizeof f->metrics_url, "http://%s/metrics", f->h.rest_host_port);
    return 0;
}

static int teardown_tokens(void **state)
{
    unlink(token_file);
    return teardown(state);
}

static void test_tokens_guard_metrics_not_the_page(void **state)
{
    fx *f = *state;
    obs_http r;
    assert_int_equal(obs_http_do("GET", f->metrics_url, NULL, &r), 0);
    assert_int_equal(r.status, 401);
    obs_http_free(&r);
    assert_int_equal(obs_http_do_auth("GET", f->metrics_url, NULL, "wrong", &r), 0);
    assert_int_equal(r.status, 401);
    obs_http_free(&r);
    assert_int_equal(
        obs_http_do_auth("GET", f->metrics_url, NULL, "cl-secret-0123456789abcdef", &r), 0);
    assert_int_equal(r.status, 403);
    assert_null(strstr(r.body, "hbeatd_requests_total"));
    obs_http_free(&r);

    /* The page loads without a token; the runs it fetches need one. */
    char url[320];
    snprintf(url, sizeof url, "http://%s/", f->h.rest_host_port);
    assert_int_equal(obs_http_do("GET", url, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "Authorization"));
    obs_http_free(&r);
    snprintf(url, sizeof url, "%s/runs", f->h.rest_url);
    assert_int_equal(obs_http_do("GET", url, NULL, &r), 0);
    assert_int_equal(r.status, 401);
    obs_http_free(&r);
    assert_int_equal(obs_http_do_auth("GET", url, NULL, "op-secret-0123456789abcdef", &r), 0);
    assert_int_equal(r.status, 200);
    obs_http_free(&r);

    assert_int_equal(
        obs_http_do_auth("GET", f->metrics_url, NULL, "op-secret-0123456789abcdef", &r), 0);
    assert_int_equal(r.status, 200);
    expo e;
    if (expo_parse(&e, r.body, r.len) != 0) {
        fail_msg("%s", e.error);
    }
    obs_http_free(&r);
    assert_true(requests(&e, "rest", "metrics", "unauthorized") == 3);
    assert_true(requests(&e, "rest", "status_page", "ok") == 1);
    assert_true(requests(&e, "rest", "list_runs", "unauthorized") == 1);
    assert_true(requests(&e, "rest", "list_runs", "ok") == 1);
    expo_free(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reader_accepts_valid_text),
        cmocka_unit_test(test_reader_rejects_invalid_text),
        cmocka_unit_test_setup_teardown(test_every_family_is_there_with_help_and_type, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_counters_move_as_beats_arrive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_runs_gauge_counts_every_status, setup_memory,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_runs_gauge_beyond_one_page, setup_memory, teardown),
        cmocka_unit_test_setup_teardown(test_reaper_counter_moves_after_a_reap, setup_reaping,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_observe_routes_over_http, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokens_guard_metrics_not_the_page, setup_tokens,
                                        teardown_tokens),
    };
    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
