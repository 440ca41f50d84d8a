/* One case of the hostile suite; see runner.h. */
#define _POSIX_C_SOURCE 200809L

#include "runner.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <cmocka.h>

#include "hbeat/hbeat.h"
#include "support/hbd_observe.h"
#include "support/rawpeer.h"
#include "support/tsock.h"
#include "tuning.h"

#define MIB 1024L

static const char *const gauges[] = {
    "hbeatd_open_connections{protocol=\"nng\"}",
    "hbeatd_open_connections{protocol=\"rest\"}",
};

void hx_case_check(hx_case *c, int ok, const char *fmt, ...)
{
    if (ok)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    size_t used = strlen(c->failures);
    snprintf(c->failures + used, sizeof c->failures - used, "  - %s\n", line);
    c->nfailures++;
}

/* The attacks hold thousands of sockets: the soft limit goes up to the
   hard one. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

typedef struct sample {
    long fds, rss_kib;
    double nng, rest; /* -1 when /metrics did not answer */
} sample;

/* The lowest descriptor count over a few samples: what is left when the
   honest clients' connections in flight (and hbeatd's own ipc probe) are
   not counted. */
static long fds_floor(hx_case *c)
{
    long low = -1;
    for (int i = 0; i < 3; i++) {
        if (i > 0)
            rp_sleep(HX_SAMPLE_EVERY_S);
        long n = hbd_fd_count(c->h.pid);
        if (n >= 0 && (low < 0 || n < low))
            low = n;
    }
    return low;
}

/* With `settled`, the descriptors are fds_floor's. */
static sample observe(hx_case *c, int scrape, int settled)
{
    sample s = {settled ? fds_floor(c) : hbd_fd_count(c->h.pid), hbd_rss_kib(c->h.pid), -1, -1};
    double v[2];
    if (scrape && hbd_scrape(c->metrics_url, c->tls ? c->ca_file : NULL, 2.0, 2, gauges, v) == 0) {
        s.nng = v[0];
        s.rest = v[1];
    }
    return s;
}

static long rss_slack_kib(void)
{
    return (HX_SANITIZED ? HX_RSS_SLACK_SAN : HX_RSS_SLACK_MIB) * MIB;
}

static long peak_rss_kib(void)
{
    return (HX_SANITIZED ? HX_PEAK_RSS_SAN_MIB : HX_PEAK_RSS_MIB) * MIB;
}

static void add_honest(hx_case *c, const char *name, const char *url, int fresh)
{
    assert_true(c->nhonest < HX_HONEST_MAX);
    hx_honest *k = &c->honest[c->nhonest++];
    memset(k, 0, sizeof *k);
    snprintf(k->name, sizeof k->name, "%s", name);
    snprintf(k->url, sizeof k->url, "%s", url);
    k->fresh = fresh;
    /* The library refuses a CA file for a URL without TLS. */
    int tls = strncmp(url, "https://", 8) == 0 || strncmp(url, "nng+tls+tcp://", 14) == 0;
    k->ca_file = tls ? c->ca_file : NULL;
    k->phase = &c->phase;
}

static void create_runs(hx_case *c)
{
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.request_timeout = 10.0;
    hbeat_gateway *admin = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbeat_gateway_open(&admin, c->h.nng_tcp_url, &o, &err) != 0)
        fail_msg("open %s: %s", c->h.nng_tcp_url, err.message);
    for (int i = 0; i < c->nhonest; i++) {
        hbeat_run_info run;
        if (hbeat_run_create(admin, 7, "R", &run, &err) != 0)
            fail_msg("create_run: %s", err.message);
        c->honest[i].run = run.workflow_run_id;
    }
    hbeat_gateway_free(admin);
}

static void start_hbeatd(hx_case *c, const char *const *extra)
{
    const char *args[32];
    int n = 0;
    args[n++] = "--max-connections";
    args[n++] = HX_MAX_CONNECTIONS;
    args[n++] = "--max-connections-per-ip";
    args[n++] = HX_MAX_PER_IP;
    args[n++] = "--read-timeout";
    args[n++] = HX_READ_TIMEOUT;
    if (c->tls) {
        args[n++] = "--tls-cert";
        args[n++] = sec_cert(&c->certs, SEC_SERVER_CRT, 0);
        args[n++] = "--tls-key";
        args[n++] = sec_cert(&c->certs, SEC_SERVER_KEY, 1);
        args[n++] = "--listen";
        args[n++] = "tls+tcp://127.0.0.1:0";
    }
    /* The case's own flags come last: later flags win. */
    for (; extra != NULL && *extra != NULL && n < 31; extra++)
        args[n++] = *extra;
    args[n] = NULL;
    if (hbd_harness_start(&c->h, args) != 0)
        fail_msg("hbeatd did not start");
    if (c->tls) {
        if (sec_ready_url(&c->h, "nng tls+tcp://", c->tls_url, sizeof c->tls_url) != 0 ||
            sec_ready_url(&c->h, "http https://", c->rest_url, sizeof c->rest_url) != 0)
            fail_msg("hbeatd's ready file lacks the tls+tcp or https line");
    } else {
        snprintf(c->rest_url, sizeof c->rest_url, "%s", c->h.rest_url);
        snprintf(c->rest_plain, sizeof c->rest_plain, "http://%s", c->h.rest_host_port);
    }
    /* .../api/v3 -> .../metrics */
    snprintf(c->metrics_url, sizeof c->metrics_url, "%s", c->rest_url);
    char *api = strstr(c->metrics_url, "/api/v3");
    if (api == NULL)
        fail_msg("no /api/v3 in %s", c->rest_url);
    snprintf(api, sizeof c->metrics_url - (size_t)(api - c->metrics_url), "/metrics");
}

/* Under ASan, freed memory waits in a quarantine (256 MiB by default)
   before malloc reuses it, so hbeatd's RSS would show the quarantine
   rather than what hbeatd holds. hbeatd gets a small one (unless the
   caller chose a size); the test process keeps the caller's options. */
static void start_hbeatd_sanitized(hx_case *c, const char *const *extra)
{
    const char *now = getenv("ASAN_OPTIONS");
    char *saved = now != NULL ? strdup(now) : NULL;
    if (HX_SANITIZED && (saved == NULL || strstr(saved, "quarantine_size_mb") == NULL)) {
        char opts[2048];
        snprintf(opts, sizeof opts, "%s%squarantine_size_mb=%d", saved != NULL ? saved : "",
                 saved != NULL && saved[0] != '\0' ? ":" : "", HX_ASAN_QUARANTINE_MIB);
        setenv("ASAN_OPTIONS", opts, 1);
    }
    start_hbeatd(c, extra);
    if (saved != NULL)
        setenv("ASAN_OPTIONS", saved, 1);
    else
        unsetenv("ASAN_OPTIONS");
    free(saved);
}

static unsigned long tries(hx_honest *k, int phase)
{
    return atomic_load(&k->ok[phase]) + atomic_load(&k->failed[phase]);
}

/* Stops everything begin started, before a setup failure ends the test:
   a failed case must not leave threads or a server behind. */
static void abandon_case(hx_case *c)
{
    for (int i = 0; i < c->nhonest; i++)
        hx_honest_stop(&c->honest[i]);
    for (int i = 0; i < c->nhonest; i++)
        hx_honest_join(&c->honest[i]);
    hbd_harness_cleanup(&c->h);
    if (c->tls)
        sec_certs_remove(&c->certs);
}

static void warm_up(hx_case *c)
{
    double until = rp_now() + HX_WARMUP_S;
    for (;;) {
        int ready = 0;
        for (int i = 0; i < c->nhonest; i++)
            ready += atomic_load(&c->honest[i].ok[HX_WARMUP]) >= HX_WARMUP_BEATS;
        if (ready == c->nhonest)
            return;
        if (rp_now() > until) {
            for (int i = 0; i < c->nhonest; i++)
                fprintf(stderr, "  %s: %lu ok, %lu failed; first error: %s\n", c->honest[i].name,
                        atomic_load(&c->honest[i].ok[HX_WARMUP]),
                        atomic_load(&c->honest[i].failed[HX_WARMUP]),
                        c->honest[i].first_error[HX_WARMUP]);
            abandon_case(c);
            fail_msg("%s: the honest clients did not warm up within %.0f s", c->name, HX_WARMUP_S);
        }
        rp_sleep(0.02);
    }
}

static void take_baseline(hx_case *c)
{
    c->base_fds = c->base_rss_kib = -1;
    c->base_nng = c->base_rest = -1;
    for (int i = 0; i < HX_BASELINE_SAMPLES; i++) {
        sample s = observe(c, 1, 0);
        if (s.fds > c->base_fds)
            c->base_fds = s.fds;
        if (s.rss_kib > c->base_rss_kib)
            c->base_rss_kib = s.rss_kib;
        if (s.nng > c->base_nng)
            c->base_nng = s.nng;
        if (s.rest > c->base_rest)
            c->base_rest = s.rest;
        rp_sleep(HX_SAMPLE_EVERY_S);
    }
    if (c->base_fds < 0 || c->base_rss_kib < 0 || c->base_nng < 0 || c->base_rest < 0) {
        abandon_case(c);
        fail_msg("%s: no baseline (fds %ld, rss %ld KiB, slots nng %.0f rest %.0f)", c->name,
                 c->base_fds, c->base_rss_kib, c->base_nng, c->base_rest);
    }
    c->peak_fds = c->base_fds;
    c->peak_rss_kib = c->base_rss_kib;
    hbd_fd_kinds(c->h.pid, c->base_kinds, sizeof c->base_kinds);
    fprintf(stderr,
            "hostile %s: baseline: %ld descriptors, connection slots nng %.0f rest %.0f, "
            "RSS %.1f MiB\n",
            c->name, c->base_fds, c->base_nng, c->base_rest, (double)c->base_rss_kib / MIB);
}

void hx_case_begin(hx_case *c, const char *name, int tls, const char *const *extra_args)
{
    memset(c, 0, sizeof *c);
    c->name = name;
    c->tls = tls;
    atomic_init(&c->phase, HX_WARMUP);
    atomic_init(&c->running, 0);
    raise_nofile();
    tsock_no_proxy();
    if (tls) {
        if (!sec_have_openssl()) {
            fprintf(stderr, "hostile %s: skipped: no openssl to make certificates\n", name);
            skip();
        }
        if (sec_certs_make(&c->certs) != 0)
            fail_msg("certificates: %s", c->certs.why);
        snprintf(c->ca_file, sizeof c->ca_file, "%s", sec_cert(&c->certs, SEC_CA, 2));
    }
    start_hbeatd_sanitized(c, extra_args);

    add_honest(c, "nng tcp (kept)", c->h.nng_tcp_url, 0);
    add_honest(c, "nng tcp (fresh)", c->h.nng_tcp_url, 1);
    add_honest(c, "nng ipc (kept)", c->h.nng_ipc_url, 0);
    add_honest(c, "nng ipc (fresh)", c->h.nng_ipc_url, 1);
    add_honest(c, "REST (kept)", c->rest_url, 0);
    add_honest(c, "REST (fresh)", c->rest_url, 1);
    if (tls) {
        add_honest(c, "nng tls+tcp (kept)", c->tls_url, 0);
        add_honest(c, "nng tls+tcp (fresh)", c->tls_url, 1);
    }
    create_runs(c);
    for (int i = 0; i < c->nhonest; i++)
        assert_int_equal(hx_honest_start(&c->honest[i]), 0);
    warm_up(c);
    take_baseline(c);
}

static void *attack_main(void *arg)
{
    hx_attack_run *a = arg;
    a->rc = a->pattern->run(&a->opts, &a->report);
    atomic_fetch_sub(&a->owner->running, 1);
    return NULL;
}

void hx_case_attack(hx_case *c, const char *label, const char *pattern, const char *url,
                    hx_opts opts)
{
    assert_true(c->nattacks < HX_ATTACKS_MAX);
    hx_attack_run *a = &c->attacks[c->nattacks];
    memset(a, 0, sizeof *a);
    snprintf(a->label, sizeof a->label, "%s", label);
    a->pattern = hx_find(pattern);
    assert_non_null(a->pattern);
    snprintf(a->url, sizeof a->url, "%s", url);
    a->opts = opts;
    a->opts.url = a->url;
    a->owner = c;
    atomic_store(&c->phase, HX_ATTACK);
    atomic_fetch_add(&c->running, 1);
    if (pthread_create(&a->thread, NULL, attack_main, a) != 0) {
        atomic_fetch_sub(&c->running, 1);
        fail_msg("cannot start attack %s", label);
    }
    c->nattacks++;
}

void hx_case_wait(hx_case *c)
{
    while (atomic_load(&c->running) > 0) {
        sample s = observe(c, 0, 0);
        if (s.fds > c->peak_fds)
            c->peak_fds = s.fds;
        if (s.rss_kib > c->peak_rss_kib)
            c->peak_rss_kib = s.rss_kib;
        rp_sleep(0.1);
    }
    for (int i = 0; i < c->nattacks; i++) {
        hx_attack_run *a = &c->attacks[i];
        if (a->joined)
            continue;
        pthread_join(a->thread, NULL);
        a->joined = 1;
        char label[128];
        snprintf(label, sizeof label, "hostile %s: attack %s (%s)", c->name, a->label,
                 a->pattern->name);
        hx_report_print(stderr, label, &a->report);
        hx_case_check(c, a->rc == 0, "attack %s could not run: %s", a->label, a->report.note);
    }
}

const hx_report *hx_case_report(const hx_case *c, int i)
{
    return &c->attacks[i].report;
}

/* What hbeatd's descriptors are now, and were at the baseline. */
static void print_kinds(hx_case *c)
{
    char now[600];
    hbd_fd_kinds(c->h.pid, now, sizeof now);
    fprintf(stderr, "hostile %s: hbeatd's descriptors now: %s\n", c->name, now);
    fprintf(stderr, "hostile %s: at the baseline:          %s\n", c->name, c->base_kinds);
}

static int at_baseline(const hx_case *c, const sample *s)
{
    return s->fds >= 0 && s->fds <= c->base_fds + HX_FD_SLACK && s->nng >= 0 &&
           s->nng <= c->base_nng + HX_SLOT_SLACK && s->rest >= 0 &&
           s->rest <= c->base_rest + HX_SLOT_SLACK && s->rss_kib >= 0 &&
           s->rss_kib <= c->base_rss_kib + rss_slack_kib();
}

static void recover(hx_case *c)
{
    double t0 = rp_now();
    sample s;
    for (;;) {
        s = observe(c, 1, 1);
        if (at_baseline(c, &s)) {
            fprintf(stderr, "hostile %s: back at the baseline %.1f s after the attack\n", c->name,
                    rp_now() - t0);
            return;
        }
        if (rp_now() - t0 > HX_RECOVER_S)
            break;
        rp_sleep(0.1);
    }
    hx_case_check(c, 0,
                  "not back at the baseline %.0f s after the attack: descriptors %ld (baseline "
                  "%ld), slots nng %.0f (%.0f), rest %.0f (%.0f) (-1: /metrics did not answer), "
                  "RSS %.1f MiB (%.1f)",
                  HX_RECOVER_S, s.fds, c->base_fds, s.nng, c->base_nng, s.rest, c->base_rest,
                  (double)s.rss_kib / MIB, (double)c->base_rss_kib / MIB);
    print_kinds(c);
}

/* Beats the slowest honest client has tried in the after window. */
static unsigned long fewest_after(hx_case *c)
{
    unsigned long low = (unsigned long)-1;
    for (int i = 0; i < c->nhonest; i++) {
        unsigned long n = tries(&c->honest[i], HX_AFTER);
        if (n < low)
            low = n;
    }
    return low;
}

static void after_window(hx_case *c)
{
    atomic_store(&c->phase, HX_AFTER);
    double t0 = rp_now();
    long first = fds_floor(c);
    unsigned long fresh0 = 0;
    for (int i = 0; i < c->nhonest; i++)
        fresh0 += c->honest[i].fresh ? tries(&c->honest[i], HX_AFTER) : 0;
    /* A client may still be in a beat that began during the attack: the
       window lasts until every client has tried a few of its own. */
    while (rp_now() - t0 < HX_AFTER_S ||
           (fewest_after(c) < HX_AFTER_MIN_BEATS && rp_now() - t0 < HX_AFTER_MAX_S))
        rp_sleep(0.05);
    long last = fds_floor(c);
    unsigned long fresh = 0;
    for (int i = 0; i < c->nhonest; i++)
        fresh += c->honest[i].fresh ? tries(&c->honest[i], HX_AFTER) : 0;
    fresh -= fresh0;
    fprintf(stderr,
            "hostile %s: after the attack: descriptors %ld -> %ld over %lu fresh honest "
            "connections\n",
            c->name, first, last, fresh);
    if (last > first + HX_FD_GROWTH)
        print_kinds(c);
    hx_case_check(c, last <= first + HX_FD_GROWTH,
                  "descriptors grew from %ld to %ld while honest clients made %lu fresh "
                  "connections after the attack",
                  first, last, fresh);
    sample s = observe(c, 1, 1);
    hx_case_check(c, at_baseline(c, &s),
                  "at the end: descriptors %ld (baseline %ld), slots nng %.0f (%.0f), rest %.0f "
                  "(%.0f), RSS %.1f MiB (%.1f)",
                  s.fds, c->base_fds, s.nng, c->base_nng, s.rest, c->base_rest,
                  (double)s.rss_kib / MIB, (double)c->base_rss_kib / MIB);
}

static void judge_honest(hx_case *c)
{
    for (int i = 0; i < c->nhonest; i++) {
        hx_honest *k = &c->honest[i];
        unsigned long ok = atomic_load(&k->ok[HX_ATTACK]);
        unsigned long n = tries(k, HX_ATTACK);
        unsigned long after_ok = atomic_load(&k->ok[HX_AFTER]);
        unsigned long after_n = tries(k, HX_AFTER);
        fprintf(stderr,
                "hostile %s: honest %-20s during %4lu/%-4lu ok (slowest %.2f s), after "
                "%3lu/%-3lu ok%s%s%s%s\n",
                c->name, k->name, ok, n, k->slowest[HX_ATTACK], after_ok, after_n,
                k->first_error[HX_ATTACK][0] ? "; first failure during: " : "",
                k->first_error[HX_ATTACK], k->first_error[HX_AFTER][0] ? "; after: " : "",
                k->first_error[HX_AFTER]);
        hx_case_check(
            c, n >= HX_DURING_MIN_TRIES && (double)ok >= HX_DURING_MIN_OK * (double)n,
            "honest %s: %lu of %lu beats succeeded during the attack (want >= %.0f%%)%s%s", k->name,
            ok, n, 100.0 * HX_DURING_MIN_OK,
            k->first_error[HX_ATTACK][0] ? "; first failure: " : "", k->first_error[HX_ATTACK]);
        hx_case_check(c, after_n >= HX_AFTER_MIN_BEATS && after_ok == after_n,
                      "honest %s: %lu of %lu beats succeeded after the attack (want all)%s%s",
                      k->name, after_ok, after_n, k->first_error[HX_AFTER][0] ? "; first: " : "",
                      k->first_error[HX_AFTER]);
    }
}

void hx_case_end(hx_case *c)
{
    recover(c);
    after_window(c);
    atomic_store(&c->phase, HX_DONE);
    for (int i = 0; i < c->nhonest; i++)
        hx_honest_stop(&c->honest[i]);
    for (int i = 0; i < c->nhonest; i++)
        hx_honest_join(&c->honest[i]);
    judge_honest(c);

    fprintf(stderr, "hostile %s: peak during the attack: %ld descriptors, RSS %.1f MiB\n", c->name,
            c->peak_fds, (double)c->peak_rss_kib / MIB);
    hx_case_check(c, c->peak_fds <= c->base_fds + HX_MAX_CONN_N + HX_PEAK_FD_SLACK,
                  "hbeatd held %ld descriptors during the attack (baseline %ld, "
                  "--max-connections %d)",
                  c->peak_fds, c->base_fds, HX_MAX_CONN_N);
    hx_case_check(c, c->peak_rss_kib <= c->base_rss_kib + peak_rss_kib(),
                  "hbeatd's RSS reached %.1f MiB during the attack (baseline %.1f MiB, bound "
                  "+%ld MiB)",
                  (double)c->peak_rss_kib / MIB, (double)c->base_rss_kib / MIB,
                  peak_rss_kib() / MIB);

    int stop = hbd_harness_stop(&c->h);
    hx_case_check(c, stop == 0,
                  "hbeatd did not stop cleanly: status %d (under a sanitizer: a report, see "
                  "the log with HBD_HARNESS_VERBOSE=1)",
                  stop);
    hbd_harness_cleanup(&c->h);
    if (c->tls)
        sec_certs_remove(&c->certs);
    if (c->nfailures > 0) {
        fprintf(stderr, "hostile %s: %d checks failed:\n%s", c->name, c->nfailures, c->failures);
        fail_msg("hostile %s: %d checks failed (listed above)", c->name, c->nfailures);
    }
    fprintf(stderr, "hostile %s: withstood\n", c->name);
}
