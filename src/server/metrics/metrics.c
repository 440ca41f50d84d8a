/*
 * hbeatd's metrics (metrics.h): fixed arrays of relaxed atomic counters,
 * indexed by enum, so recording never allocates or locks; the text is built
 * only when /metrics is scraped.
 *
 * Histograms keep one counter per bucket (not cumulative) and derive both
 * the cumulative buckets and _count from those counters at render time, so
 * a scrape racing a request still shows monotonic buckets with +Inf equal
 * to _count. _sum is kept apart (in nanoseconds) and may be one request
 * ahead or behind, which Prometheus tolerates.
 *
 * The runs by status come from the caller, so that metrics know nothing of
 * the engine and everything that records (the committer, the reaper, the
 * front ends) links them as a leaf.
 */
#include "metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hbeat/errors.h"

/* ---- histograms ---------------------------------------------------------- */

/* Request latency: from a fraction of a millisecond (a read answered from
   memory) to seconds (a commit stuck behind a slow disk). */
static const double request_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                        0.025,  0.05,    0.1,    0.25,  0.5,    1.0,   2.5};
#define REQUEST_BUCKETS (sizeof request_bounds / sizeof request_bounds[0] + 1)

/* A group commit is one SQLite transaction, usually with one fsync: a few
   milliseconds on a disk, well under one without the fsync. */
static const double commit_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                       0.025,  0.05,    0.1,    0.25,  0.5,    1.0};
#define COMMIT_BUCKETS (sizeof commit_bounds / sizeof commit_bounds[0] + 1)

typedef struct request_hist {
    atomic_uint_fast64_t buckets[REQUEST_BUCKETS]; /* last: above every bound */
    atomic_uint_fast64_t sum_ns;
} request_hist;

typedef struct commit_hist {
    atomic_uint_fast64_t buckets[COMMIT_BUCKETS];
    atomic_uint_fast64_t sum_ns;
} commit_hist;

/* ---- the counters ------------------------------------------------------- */

static atomic_uint_fast64_t requests[HBD_PROTO_COUNT][HBD_ROUTE_COUNT][HBD_RESULT_COUNT];
static request_hist request_latency[HBD_PROTO_COUNT][HBD_ROUTE_COUNT];

/* The reaper's four moves, in the order of reap_kinds. */
static const struct {
    const char *from, *to;
} reap_kinds[] = {{"L", "A"}, {"C", "T"}, {"H", "T"}, {"R", "E"}};
#define REAP_KINDS (sizeof reap_kinds / sizeof reap_kinds[0])
static atomic_uint_fast64_t reaped[REAP_KINDS];

static commit_hist commits;
static atomic_uint_fast64_t committed_changes;

static atomic_int_fast64_t connections[HBD_PROTO_COUNT];
/* 1 while the store answers; a database may go away and come back. */
static atomic_int store_up = 1;

static const char *const proto_names[HBD_PROTO_COUNT] = {"nng", "rest", "grpc"};

static const char *route_name(hbd_route route)
{
    static const char *const others[] = {"metrics", "status_page", "other"};
    return route < HBD_CALL_COUNT ? hbd_call_name((hbd_call)route) : others[route - HBD_CALL_COUNT];
}

/* ---- recording ------------------------------------------------------------ */

static uint_fast64_t to_ns(double seconds)
{
    if (!(seconds > 0)) /* negative, zero or NaN */
        return 0;
    if (seconds > 1e9)
        return (uint_fast64_t)1e18;
    return (uint_fast64_t)(seconds * 1e9 + 0.5);
}

/* A negative or NaN latency (a clock that went wrong) counts as 0. */
static size_t bucket_of(const double *bounds, size_t nbounds, double seconds)
{
    if (!(seconds > 0))
        seconds = 0;
    size_t i = 0;
    while (i < nbounds && !(seconds <= bounds[i]))
        i++;
    return i;
}

void hbd_metrics_request(hbd_proto proto, hbd_route route, hbd_result result, double seconds)
{
    if ((unsigned)proto >= HBD_PROTO_COUNT || route < 0 || route >= HBD_ROUTE_COUNT ||
        (unsigned)result >= HBD_RESULT_COUNT)
        return;
    atomic_fetch_add_explicit(&requests[proto][route][result], 1, memory_order_relaxed);
    request_hist *h = &request_latency[proto][route];
    size_t b = bucket_of(request_bounds, REQUEST_BUCKETS - 1, seconds);
    atomic_fetch_add_explicit(&h->buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_ns, to_ns(seconds), memory_order_relaxed);
}

void hbd_metrics_reaped(const char *from, const char *to)
{
    if (from == NULL || to == NULL)
        return;
    for (size_t i = 0; i < REAP_KINDS; i++) {
        if (strcmp(from, reap_kinds[i].from) == 0 && strcmp(to, reap_kinds[i].to) == 0) {
            atomic_fetch_add_explicit(&reaped[i], 1, memory_order_relaxed);
            return;
        }
    }
}

void hbd_metrics_commit(double seconds, unsigned int changes)
{
    size_t b = bucket_of(commit_bounds, COMMIT_BUCKETS - 1, seconds);
    atomic_fetch_add_explicit(&commits.buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&commits.sum_ns, to_ns(seconds), memory_order_relaxed);
    atomic_fetch_add_explicit(&committed_changes, changes, memory_order_relaxed);
}

void hbd_metrics_connection(hbd_proto proto, int delta)
{
    if ((unsigned)proto >= HBD_PROTO_COUNT)
        return;
    atomic_fetch_add_explicit(&connections[proto], delta, memory_order_relaxed);
}

/* ---- rendering ------------------------------------------------------------ */

typedef struct buf {
    char *p;
    size_t len, cap;
    int oom;
} buf;

#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 2, 3)))
#endif
static void
put(buf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2;
        while (cap - b->len <= (size_t)n)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

static void header(buf *b, const char *name, const char *type, const char *help)
{
    put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A bucket bound as Prometheus writes it: shortest exact form. */
static void put_le(buf *b, double bound)
{
    char s[32];
    snprintf(s, sizeof s, "%.17g", bound);
    for (int prec = 1; prec < 17; prec++) {
        char t[32];
        snprintf(t, sizeof t, "%.*g", prec, bound);
        if (strtod(t, NULL) == bound) {
            memcpy(s, t, sizeof s);
            break;
        }
    }
    put(b, "%s", s);
}

/* One histogram series: `labels` is "" or `k="v",...` without braces. */
static void put_histogram(buf *b, const char *name, const char *labels, const double *bounds,
                          size_t nbuckets, atomic_uint_fast64_t *buckets,
                          atomic_uint_fast64_t *sum_ns)
{
    const char *sep = labels[0] != '\0' ? "," : "";
    uint64_t cum = 0;
    for (size_t i = 0; i < nbuckets; i++) {
        cum += atomic_load_explicit(&buckets[i], memory_order_relaxed);
        put(b, "%s_bucket{%s%sle=\"", name, labels, sep);
        if (i + 1 < nbuckets)
            put_le(b, bounds[i]);
        else
            put(b, "+Inf");
        put(b, "\"} %llu\n", (unsigned long long)cum);
    }
    uint64_t ns = atomic_load_explicit(sum_ns, memory_order_relaxed);
    const char *open = labels[0] != '\0' ? "{" : "";
    const char *close = labels[0] != '\0' ? "}" : "";
    put(b, "%s_sum%s%s%s %llu.%09llu\n", name, open, labels, close,
        (unsigned long long)(ns / 1000000000u), (unsigned long long)(ns % 1000000000u));
    put(b, "%s_count%s%s%s %llu\n", name, open, labels, close, (unsigned long long)cum);
}

/* The routes each protocol serves; their series are written even at 0 so
   that rate() sees them from the first scrape. */
static int proto_has_route(hbd_proto proto, hbd_route route)
{
    if (proto == HBD_PROTO_REST)
        return 1;
    return route != HBD_ROUTE_METRICS && route != HBD_ROUTE_STATUS_PAGE;
}

static void render_requests(buf *b)
{
    header(b, "hbeatd_requests_total", "counter",
           "Requests answered, by protocol, route and result.");
    for (int p = 0; p < HBD_PROTO_COUNT; p++) {
        for (int r = 0; r < HBD_ROUTE_COUNT; r++) {
            for (int x = 0; x < HBD_RESULT_COUNT; x++) {
                uint64_t n = atomic_load_explicit(&requests[p][r][x], memory_order_relaxed);
                /* Written at 0 too: each route's ok series ("other" is never
                   ok). An error series appears once it happened. */
                int always = x == HBD_RESULT_OK && r != HBD_ROUTE_OTHER &&
                             proto_has_route((hbd_proto)p, (hbd_route)r);
                if (n == 0 && !always)
                    continue;
                put(b, "hbeatd_requests_total{protocol=\"%s\",route=\"%s\",result=\"%s\"} %llu\n",
                    proto_names[p], route_name(r), hbd_result_name((hbd_result)x),
                    (unsigned long long)n);
            }
        }
    }
    header(b, "hbeatd_request_duration_seconds", "histogram",
           "Time from receiving a request to its reply being ready (after its commit), "
           "by protocol and route.");
    for (int p = 0; p < HBD_PROTO_COUNT; p++) {
        for (int r = 0; r < HBD_ROUTE_COUNT; r++) {
            if (!proto_has_route((hbd_proto)p, (hbd_route)r))
                continue;
            char labels[96];
            snprintf(labels, sizeof labels, "protocol=\"%s\",route=\"%s\"", proto_names[p],
                     route_name(r));
            request_hist *h = &request_latency[p][r];
            put_histogram(b, "hbeatd_request_duration_seconds", labels, request_bounds,
                          REQUEST_BUCKETS, h->buckets, &h->sum_ns);
        }
    }
}

static void render_runs(buf *b, const uint64_t runs[HBD_METRICS_STATUSES])
{
    header(b, "hbeatd_runs", "gauge", "Workflow runs held, by status (Jobmon's status codes).");
    for (int i = 0; i < HBD_METRICS_STATUSES; i++)
        put(b, "hbeatd_runs{status=\"%c\"} %llu\n", HBD_METRICS_STATUS_CODES[i],
            (unsigned long long)runs[i]);
}

static void render_reaper(buf *b)
{
    header(b, "hbeatd_reaped_runs_total", "counter",
           "Runs the reaper moved because their deadline passed, by transition.");
    for (size_t i = 0; i < REAP_KINDS; i++)
        put(b, "hbeatd_reaped_runs_total{from=\"%s\",to=\"%s\"} %llu\n", reap_kinds[i].from,
            reap_kinds[i].to,
            (unsigned long long)atomic_load_explicit(&reaped[i], memory_order_relaxed));
}

static void render_store(buf *b)
{
    header(b, "hbeatd_store_commit_duration_seconds", "histogram",
           "Time to write one group commit: one SQLite transaction, with its fsync when "
           "the batch needs one.");
    put_histogram(b, "hbeatd_store_commit_duration_seconds", "", commit_bounds, COMMIT_BUCKETS,
                  commits.buckets, &commits.sum_ns);
    header(b, "hbeatd_store_committed_changes_total", "counter",
           "Changes written by group commits; divided by the commit count, the mean batch size.");
    put(b, "hbeatd_store_committed_changes_total %llu\n",
        (unsigned long long)atomic_load_explicit(&committed_changes, memory_order_relaxed));
    header(b, "hbeatd_store_up", "gauge",
           "1 while the store answers, 0 while hbeatd cannot reach its database.");
    put(b, "hbeatd_store_up %d\n", atomic_load_explicit(&store_up, memory_order_relaxed));
}

void hbd_metrics_store_up(int up)
{
    atomic_store_explicit(&store_up, up ? 1 : 0, memory_order_relaxed);
}

static void render_connections(buf *b)
{
    header(b, "hbeatd_open_connections", "gauge", "Client connections open now, by protocol.");
    for (int p = 0; p < HBD_PROTO_COUNT; p++) {
        /* gRPC's library keeps its connections to itself. */
        if (p == HBD_PROTO_GRPC)
            continue;
        long long n = (long long)atomic_load_explicit(&connections[p], memory_order_relaxed);
        put(b, "hbeatd_open_connections{protocol=\"%s\"} %lld\n", proto_names[p], n);
    }
}

int hbd_metrics_render(const uint64_t runs[HBD_METRICS_STATUSES], char **out, size_t *len)
{
    static const uint64_t none[HBD_METRICS_STATUSES];
    if (out == NULL || len == NULL)
        return HBEAT_EINVAL;
    if (runs == NULL)
        runs = none;
    *out = NULL;
    *len = 0;
    buf b = {malloc(16384), 0, 16384, 0};
    if (b.p == NULL)
        return HBEAT_ENOMEM;
    render_requests(&b);
    render_runs(&b, runs);
    render_reaper(&b);
    render_store(&b);
    render_connections(&b);
    if (b.oom) {
        free(b.p);
        return HBEAT_ENOMEM;
    }
    *out = b.p;
    *len = b.len;
    return 0;
}
