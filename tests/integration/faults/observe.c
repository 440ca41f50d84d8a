#define _POSIX_C_SOURCE 200809L

#include "observe.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "support/tsock.h"

#define MAX_FRAGMENTS 8

/* The observer whose handler is installed, for dumping what the loop said
   when a wait on the statistics times out. */
static fx_observer *active;

static void dump_tail(fx_observer *o, unsigned n)
{
    if (o == NULL)
        return;
    pthread_mutex_lock(&o->mu);
    unsigned long from = o->total > n ? o->total - n : 0;
    unsigned long oldest = o->total > FX_LOG_LINES ? o->total - FX_LOG_LINES : 0;
    if (from < oldest)
        from = oldest;
    fprintf(stderr, "the last log lines:\n");
    for (unsigned long i = from; i < o->total; i++)
        fprintf(stderr, "  %s\n", o->lines[i % FX_LOG_LINES]);
    pthread_mutex_unlock(&o->mu);
}

double fx_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void fx_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static struct timespec deadline_in(double seconds)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double whole = (double)(time_t)seconds;
    ts.tv_sec += (time_t)whole;
    ts.tv_nsec += (long)((seconds - whole) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static void on_log(void *arg, hbeat_log_level level, const char *message)
{
    fx_observer *o = arg;
    static const char *const names[] = {"debug", "info", "warn", "error"};
    pthread_mutex_lock(&o->mu);
    snprintf(o->lines[o->total % FX_LOG_LINES], FX_LOG_LINE, "%s: %s",
             (unsigned)level < 4 ? names[level] : "?", message);
    o->total++;
    pthread_cond_broadcast(&o->cv);
    pthread_mutex_unlock(&o->mu);
}

void fx_observe_begin(fx_observer *o)
{
    memset(o, 0, sizeof(*o));
    pthread_mutex_init(&o->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&o->cv, &ca);
    pthread_condattr_destroy(&ca);
    active = o;
    hbeat_log_set_handler(on_log, o, HBEAT_LOG_INFO);
}

void fx_observe_end(fx_observer *o)
{
    hbeat_log_set_handler(NULL, NULL, HBEAT_LOG_WARN);
    active = NULL;
    pthread_cond_destroy(&o->cv);
    pthread_mutex_destroy(&o->mu);
}

void fx_on_lease(void *arg, int lost)
{
    fx_observer *o = arg;
    pthread_mutex_lock(&o->mu);
    /* Losses and regains must alternate, starting with a loss. */
    if (lost ? o->lost != o->regained : o->lost != o->regained + 1)
        o->out_of_turn++;
    if (lost)
        o->lost++;
    else
        o->regained++;
    pthread_cond_broadcast(&o->cv);
    pthread_mutex_unlock(&o->mu);
}

fx_mark fx_mark_now(fx_observer *o)
{
    pthread_mutex_lock(&o->mu);
    fx_mark m = {o->total, o->lost, o->regained};
    pthread_mutex_unlock(&o->mu);
    return m;
}

static int holds_all(const char *line, const char *const *frags, int n)
{
    for (int i = 0; i < n; i++) {
        if (strstr(line, frags[i]) == NULL)
            return 0;
    }
    return 1;
}

/* First kept line at or after `from`. */
static unsigned long first_kept(const fx_observer *o, unsigned long from)
{
    unsigned long oldest = o->total > FX_LOG_LINES ? o->total - FX_LOG_LINES : 0;
    return from > oldest ? from : oldest;
}

int fx_wait_log(fx_observer *o, unsigned long mark, char *out, size_t cap, ...)
{
    const char *frags[MAX_FRAGMENTS];
    int n = 0;
    va_list ap;
    va_start(ap, cap);
    const char *f;
    while ((f = va_arg(ap, const char *)) != NULL && n < MAX_FRAGMENTS)
        frags[n++] = f;
    va_end(ap);

    struct timespec until = deadline_in(FX_WAIT_S);
    pthread_mutex_lock(&o->mu);
    unsigned long next = mark;
    for (;;) {
        for (next = first_kept(o, next); next < o->total; next++) {
            const char *line = o->lines[next % FX_LOG_LINES];
            if (holds_all(line, frags, n)) {
                if (out != NULL)
                    snprintf(out, cap, "%s", line);
                pthread_mutex_unlock(&o->mu);
                return 0;
            }
        }
        if (pthread_cond_timedwait(&o->cv, &o->mu, &until) == ETIMEDOUT)
            break;
    }
    fprintf(stderr, "fx_wait_log: no line with \"%s\"%s after %.0f s; lines since the mark:\n",
            n > 0 ? frags[0] : "", n > 1 ? " (and more)" : "", FX_WAIT_S);
    for (unsigned long i = first_kept(o, mark); i < o->total; i++)
        fprintf(stderr, "  %s\n", o->lines[i % FX_LOG_LINES]);
    pthread_mutex_unlock(&o->mu);
    return -1;
}

unsigned fx_count_log(fx_observer *o, unsigned long mark, const char *fragment)
{
    unsigned n = 0;
    pthread_mutex_lock(&o->mu);
    for (unsigned long i = first_kept(o, mark); i < o->total; i++) {
        if (strstr(o->lines[i % FX_LOG_LINES], fragment) != NULL)
            n++;
    }
    pthread_mutex_unlock(&o->mu);
    return n;
}

int fx_wait_lease(fx_observer *o, int lost)
{
    struct timespec until = deadline_in(FX_WAIT_S);
    int rc = 0;
    pthread_mutex_lock(&o->mu);
    while ((o->lost == o->regained + 1) != (lost != 0) && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&o->cv, &o->mu, &until);
    int ok = (o->lost == o->regained + 1) == (lost != 0);
    if (!ok)
        fprintf(stderr, "fx_wait_lease: the lease was not told %s; losses %u, regains %u\n",
                lost ? "lost" : "regained", o->lost, o->regained);
    pthread_mutex_unlock(&o->mu);
    if (!ok)
        dump_tail(o, 12);
    return ok ? 0 : -1;
}

void fx_lease_counts(fx_observer *o, unsigned *lost, unsigned *regained)
{
    pthread_mutex_lock(&o->mu);
    *lost = o->lost;
    *regained = o->regained;
    pthread_mutex_unlock(&o->mu);
}

hbeat_service_stats fx_stats(hbeat_service *svc)
{
    hbeat_service_stats s;
    memset(&s, 0, sizeof(s));
    s.version = HBEAT_SERVICE_STATS_VERSION;
    if (hbeat_service_get_stats(svc, &s) != 0)
        fail_msg("hbeat_service_get_stats failed");
    return s;
}

int fx_wait_stats(hbeat_service *svc, fx_stats_pred pred, const void *arg, hbeat_service_stats *out)
{
    double until = fx_now() + FX_WAIT_S;
    hbeat_service_stats s;
    for (;;) {
        s = fx_stats(svc);
        if (pred(&s, arg))
            break;
        if (fx_now() > until) {
            fprintf(stderr,
                    "fx_wait_stats: timed out: sent %llu acked %llu failed %llu in a row %u\n",
                    (unsigned long long)s.beats_sent, (unsigned long long)s.beats_acknowledged,
                    (unsigned long long)s.beats_failed, s.consecutive_failures);
            dump_tail(active, 12);
            if (out != NULL)
                *out = s;
            return -1;
        }
        fx_sleep_ms(5);
    }
    if (out != NULL)
        *out = s;
    return 0;
}

int fx_acked_at_least(const hbeat_service_stats *s, const void *arg)
{
    return s->beats_acknowledged >= *(const uint64_t *)arg && s->consecutive_failures == 0;
}

int fx_failures_at_least(const hbeat_service_stats *s, const void *arg)
{
    return s->consecutive_failures >= *(const unsigned *)arg;
}

int fx_recovered_after(const hbeat_service_stats *s, const void *arg)
{
    return s->consecutive_failures == 0 && s->beats_acknowledged > *(const uint64_t *)arg;
}

hbeat_service *fx_start_loop(hbeat_gateway *gw, int64_t run_id, fx_observer *o)
{
    hbeat_service_options so = HBEAT_SERVICE_OPTIONS_INIT;
    so.workflow_run_id = run_id;
    so.interval = 0.2;
    so.report_by_buffer = 3.0;
    so.max_consecutive_failures = 0;
    so.on_lease_change = fx_on_lease;
    so.on_lease_change_arg = o;
    so.seed = 42;
    hbeat_service *svc = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbeat_service_new(&svc, gw, &so, &err) != 0)
        fail_msg("hbeat_service_new: %s", err.message);
    o->svc = svc;
    if (hbeat_service_start(svc, &err) != 0)
        fail_msg("hbeat_service_start: %s", err.message);
    return svc;
}

void fx_drop_loop(fx_observer *o)
{
    if (o->svc == NULL)
        return;
    hbeat_service_stop(o->svc, NULL);
    hbeat_service_free(o->svc);
    o->svc = NULL;
}

void fx_stop_loop(fx_observer *o, const fx_mark *start)
{
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_service_stop(o->svc, &err);
    hbeat_service_free(o->svc);
    o->svc = NULL;
    if (rc != 0)
        fail_msg("the loop ended with %d (%s): %s", rc, hbeat_strerror(rc), err.message);
    /* Quiet now: every callback has run, and each logs before it calls. */
    unsigned lost, regained;
    fx_lease_counts(o, &lost, &regained);
    pthread_mutex_lock(&o->mu);
    unsigned out_of_turn = o->out_of_turn;
    pthread_mutex_unlock(&o->mu);
    assert_int_equal(out_of_turn, 0);
    assert_int_equal(lost, regained);
    assert_true(lost > start->lost);
    assert_int_equal(fx_count_log(o, start->line, "no beat acknowledged within the lease"),
                     lost - start->lost);
    assert_int_equal(fx_count_log(o, start->line, "lease regained"), regained - start->regained);
}

hbeat_gateway *fx_open(const char *url, double request_timeout)
{
    tsock_no_proxy();
    hbeat_gateway_options go = HBEAT_GATEWAY_OPTIONS_INIT;
    go.request_timeout = request_timeout;
    go.connect_timeout = request_timeout;
    hbeat_gateway *gw = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbeat_gateway_open(&gw, url, &go, &err) != 0)
        fail_msg("open %s: %s", url, err.message);
    return gw;
}

void fx_wait_healthy(fx_observer *o, hbeat_service *svc, uint64_t beats)
{
    assert_int_equal(fx_wait_stats(svc, fx_acked_at_least, &beats, NULL), 0);
    assert_int_equal(fx_wait_lease(o, 0), 0);
}

static void dump_lines(fx_observer *o, unsigned long from)
{
    pthread_mutex_lock(&o->mu);
    for (unsigned long i = first_kept(o, from); i < o->total; i++)
        fprintf(stderr, "  %s\n", o->lines[i % FX_LOG_LINES]);
    pthread_mutex_unlock(&o->mu);
}

void fx_expect_outage(fx_observer *o, hbeat_service *svc, const fx_mark *m, const fx_case *c,
                      int every_line)
{
    unsigned three = 3;
    hbeat_service_stats s;
    assert_int_equal(fx_wait_stats(svc, fx_failures_at_least, &three, &s), 0);
    assert_int_equal(fx_wait_lease(o, 1), 0);
    assert_int_equal(
        fx_wait_log(o, m->line, NULL, 0, "heartbeat failed", c->phrase, (const char *)NULL), 0);
    assert_true(hbeat_service_lease_lost(svc));
    assert_true(hbeat_service_lease_remaining(svc) < 0.0);

    /* The loop's log line tells the error by its words; a beat through the
       same service shows the code itself. */
    hbeat_update up;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_service_tick(svc, &up, &err);
    if (rc != c->code)
        fail_msg("tick: %d (%s), expected %d (%s): %s", rc, hbeat_strerror(rc), c->code,
                 hbeat_strerror(c->code), err.message);
    assert_int_equal(err.code, c->code);
    if (strstr(err.message, c->phrase) == NULL)
        fail_msg("tick's message without \"%s\": %s", c->phrase, err.message);
    if (c->http_status != 0)
        assert_int_equal(err.http_status, c->http_status);
    if (getenv("FX_VERBOSE") != NULL)
        fprintf(stderr, "fault: %s (%d) http %d native %d: %s\n", hbeat_strerror(rc), rc,
                err.http_status, err.native, err.message);

    /* It keeps going: more failures after the tick, the lease still lost,
       told once (the callbacks check that losses and regains alternate). */
    unsigned more = s.consecutive_failures + 1;
    assert_int_equal(fx_wait_stats(svc, fx_failures_at_least, &more, &s), 0);
    assert_true(s.beats_failed >= more);
    assert_true(hbeat_service_is_running(svc));
    assert_true(hbeat_service_lease_lost(svc));
    assert_int_equal(fx_wait_lease(o, 1), 0);

    if (every_line) {
        /* Every failed beat met this fault, and no other. */
        unsigned failed = fx_count_log(o, m->line, "heartbeat failed");
        unsigned matching = 0;
        pthread_mutex_lock(&o->mu);
        for (unsigned long i = first_kept(o, m->line); i < o->total; i++) {
            const char *line = o->lines[i % FX_LOG_LINES];
            if (strstr(line, "heartbeat failed") != NULL && strstr(line, c->phrase) != NULL)
                matching++;
        }
        pthread_mutex_unlock(&o->mu);
        if (matching != failed) {
            fprintf(stderr, "lines since the fault began:\n");
            dump_lines(o, m->line);
            fail_msg("%u of %u failure lines say \"%s\"", matching, failed, c->phrase);
        }
    }
}

void fx_expect_recovery(fx_observer *o, hbeat_service *svc, const fx_mark *m)
{
    uint64_t acked = fx_stats(svc).beats_acknowledged;
    assert_int_equal(fx_wait_stats(svc, fx_recovered_after, &acked, NULL), 0);
    assert_int_equal(fx_wait_lease(o, 0), 0);
    assert_int_equal(fx_wait_log(o, m->line, NULL, 0, "lease regained", (const char *)NULL), 0);
    assert_true(hbeat_service_is_running(svc));
    /* It stays healthy: more beats, none failing, the lease held. */
    uint64_t later = fx_stats(svc).beats_acknowledged + 3;
    assert_int_equal(fx_wait_stats(svc, fx_acked_at_least, &later, NULL), 0);
    assert_int_equal(fx_wait_lease(o, 0), 0);
    assert_int_equal(hbeat_service_lease_lost(svc), 0);
}

void fx_run_case(hbeat_gateway *gw, fx_observer *obs, const fx_case *c, fx_set_fn set, void *peer)
{
    fx_mark start = fx_mark_now(obs);
    hbeat_service *svc = fx_start_loop(gw, 1, obs);
    fx_wait_healthy(obs, svc, 3);

    fx_mark m = fx_mark_now(obs);
    set(peer, 1);
    fx_expect_outage(obs, svc, &m, c, 1);

    m = fx_mark_now(obs);
    set(peer, 0);
    fx_expect_recovery(obs, svc, &m);
    fx_stop_loop(obs, &start);
}
