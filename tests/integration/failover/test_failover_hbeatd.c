/*
 * Failover between two real hbeatd, each with a store of its own (a SQLite
 * file in its temp dir), holding the same run: a client whose URL lists
 * both beats through the first; kill -9 of that one, and the client goes
 * on through the other within one interval, over nng and over REST, on
 * the loop's asynchronous path and on tick(). Then the `hbeat` tool with
 * such a URL.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "hbeat/hbeat.h"
#include "integration/common/itest.h"
#include "subprocess.h"
#include "support/hbeatd_harness.h"
#include "support/tsock.h"

#define INTERVAL 1.0
#define TIMEOUT  0.5
#define LIMIT    30.0

typedef struct pair {
    hbd_harness a, b;
    int64_t run;
    char host_a[64], host_b[64];
} pair;

static void pause_ms(long ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static hbeat_gateway *open_url(const char *url)
{
    tsock_no_proxy();
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.request_timeout = TIMEOUT;
    hbeat_gateway *gw = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbeat_gateway_open(&gw, url, &o, &err) != 0)
        fail_msg("open %s: %s", url, err.message);
    return gw;
}

/* The same run on each server: created through each one's own URL. */
static int64_t create_on(const char *url)
{
    hbeat_gateway *gw = open_url(url);
    hbeat_run_info run;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbeat_run_create(gw, 7, "R", &run, &err) != 0)
        fail_msg("create on %s: %s", url, err.message);
    hbeat_gateway_free(gw);
    return run.workflow_run_id;
}

static int setup(void **state)
{
    static const char *const no_reaping[] = {"--reap-grace", "100000", NULL};
    pair *p = calloc(1, sizeof(*p));
    if (p == NULL || hbd_harness_start(&p->a, no_reaping) != 0 ||
        hbd_harness_start(&p->b, no_reaping) != 0) {
        if (p != NULL) {
            hbd_harness_cleanup(&p->a);
            free(p);
        }
        return -1;
    }
    *state = p;
    return 0;
}

static int teardown(void **state)
{
    pair *p = *state;
    hb_proc_kill_all();
    hbd_harness_cleanup(&p->a);
    hbd_harness_cleanup(&p->b);
    free(p);
    return 0;
}

/* "scheme://A,B/path" from two one-server URLs of the same scheme. */
static void two_host_url(char *out, size_t size, const char *url_a, const char *url_b, pair *p)
{
    const char *ha = strstr(url_a, "://") + 3, *hb = strstr(url_b, "://") + 3;
    size_t la = strcspn(ha, "/"), lb = strcspn(hb, "/");
    snprintf(p->host_a, sizeof(p->host_a), "%.*s", (int)la, ha);
    snprintf(p->host_b, sizeof(p->host_b), "%.*s", (int)lb, hb);
    snprintf(out, size, "%.*s%s,%s%s", (int)(ha - url_a), url_a, p->host_a, p->host_b, ha + la);
}

static hbeat_service_stats stats_of(hbeat_service *svc)
{
    hbeat_service_stats st;
    memset(&st, 0, sizeof(st));
    st.version = HBEAT_SERVICE_STATS_VERSION;
    assert_int_equal(hbeat_service_get_stats(svc, &st), 0);
    return st;
}

/* Waits (bounded) until the service has an acknowledgement from `host`
   after `acked` acknowledgements; returns when it saw it. */
static double wait_ack_from(hbeat_service *svc, const char *host, uint64_t acked)
{
    double until = itest_now() + LIMIT;
    while (itest_now() < until) {
        hbeat_service_stats st = stats_of(svc);
        if (st.beats_acknowledged > acked && strcmp(st.server, host) == 0)
            return itest_now();
        pause_ms(5);
    }
    hbeat_service_stats st = stats_of(svc);
    fail_msg("no beat answered by %s within %g s (last from '%s', %" PRIu64 " answered, %" PRIu64
             " failed: %s)",
             host, LIMIT, st.server, st.beats_acknowledged, st.beats_failed, st.last_error.message);
    return 0;
}

static int lease_lost_told;

static void on_lease(void *arg, int lost)
{
    (void)arg;
    if (lost)
        __atomic_add_fetch(&lease_lost_told, 1, __ATOMIC_SEQ_CST);
}

static void carries_on_after_kill(pair *p, const char *url_a, const char *url_b)
{
    p->run = create_on(url_a);
    assert_int_equal(create_on(url_b), p->run);
    char url[512];
    two_host_url(url, sizeof(url), url_a, url_b, p);
    hbeat_gateway *gw = open_url(url);
    assert_string_equal(hbeat_gateway_transport(gw), "failover");

    hbeat_service_options o = HBEAT_SERVICE_OPTIONS_INIT;
    o.workflow_run_id = p->run;
    o.interval = INTERVAL;
    o.report_by_buffer = 3.1;
    o.on_lease_change = on_lease;
    hbeat_service *svc = NULL;
    assert_int_equal(hbeat_service_new(&svc, gw, &o, NULL), 0);
    lease_lost_told = 0;
    assert_int_equal(hbeat_service_start(svc, NULL), 0);
    wait_ack_from(svc, p->host_a, 1);

    hbeat_service_stats before = stats_of(svc);
    double last_ack = itest_now() - before.time_since_ack;
    hbd_harness_kill9(&p->a);
    double killed = itest_now();
    double answered = wait_ack_from(svc, p->host_b, before.beats_acknowledged);
    print_message("first beat through %s %.3f s after the kill of %s, %.3f s after the last "
                  "beat it answered (interval %g s, request timeout %g s)\n",
                  p->host_b, answered - killed, p->host_a, answered - last_ack, INTERVAL, TIMEOUT);
    /* The beat due after the kill is answered within one interval of when
       it was due: it came at most an interval after the last answer, and
       met the dead server for at most its request timeout. */
    assert_true(answered - last_ack <= 2 * INTERVAL);
    hbeat_service_stats after = stats_of(svc);
    /* The beat that met the dead server went on to the other: not one
       failed, the lease held, and the loop runs on. */
    if (after.beats_failed != 0)
        fail_msg("%" PRIu64 " beats failed: %s", after.beats_failed, after.last_error.message);
    assert_int_equal(after.server_changes, 1);
    assert_int_equal(__atomic_load_n(&lease_lost_told, __ATOMIC_SEQ_CST), 0);
    assert_true(hbeat_service_is_running(svc));

    /* A blocking tick goes there too, and the server counts the beats. */
    hbeat_update up;
    assert_int_equal(hbeat_service_tick(svc, &up, NULL), 0);
    assert_int_equal(hbeat_service_stop(svc, NULL), 0);
    hbeat_run_info run;
    assert_int_equal(hbeat_run_get(gw, p->run, &run, NULL), 0);
    assert_true(run.beats >= 2);
    assert_string_equal(run.status, "R");
    hbeat_service_free(svc);
    hbeat_gateway_free(gw);
}

static void nng_carries_on_after_kill(void **state)
{
    pair *p = *state;
    carries_on_after_kill(p, p->a.nng_tcp_url, p->b.nng_tcp_url);
}

static void rest_carries_on_after_kill(void **state)
{
    pair *p = *state;
    if (p->a.rest_url[0] == '\0')
        skip();
    carries_on_after_kill(p, p->a.rest_url, p->b.rest_url);
}

/* A server's answer is not a failure: a run only the second server knows
   is "not found" on the first, and the call does not go on. */
static void an_answer_does_not_move_on(void **state)
{
    pair *p = *state;
    create_on(p->b.nng_tcp_url);
    int64_t only_b = create_on(p->b.nng_tcp_url);
    char url[512];
    two_host_url(url, sizeof(url), p->a.nng_tcp_url, p->b.nng_tcp_url, p);
    hbeat_gateway *gw = open_url(url);
    char out[HBEAT_STATUS_MAX + 1];
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_gateway_log_heartbeat(gw, only_b, "R", 30.0, out, &err),
                     HBEAT_ENOTFOUND);
    assert_true(strncmp(err.message, p->host_a, strlen(p->host_a)) == 0);
    hbeat_gateway_free(gw);
}

/* ---- the hbeat tool --------------------------------------------------- */

#define MAX_ARGS 24
static const char *const clean_env[] = {"-HBEAT_URL", "-HBEAT_TOKEN", "-HBEAT_TOKEN_FILE", NULL};

static int tool(hb_proc *p, const char *first, ...)
{
    char *argv[MAX_ARGS];
    int n = 0;
    argv[n++] = HBEAT_CLI;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && n < MAX_ARGS - 1; a = va_arg(ap, const char *))
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    return hb_proc_run(p, argv, clean_env, LIMIT);
}

static void the_tool_takes_a_list_of_servers(void **state)
{
    pair *p = *state;
    p->run = create_on(p->a.nng_tcp_url);
    assert_int_equal(create_on(p->b.nng_tcp_url), p->run);
    char url[512], id[32];
    two_host_url(url, sizeof(url), p->a.nng_tcp_url, p->b.nng_tcp_url, p);
    snprintf(id, sizeof(id), "%" PRId64, p->run);
    hbd_harness_kill9(&p->a);

    hb_proc proc;
    assert_int_equal(tool(&proc, "beat", url, "--run", id, "--interval", "0.2", "--count", "3",
                          "--timeout", "1", NULL),
                     0);
    assert_int_equal(hb_proc_count_lines(&proc, "beat "), 3);
    assert_int_equal(tool(&proc, "run", "get", id, "--url", url, "--timeout", "1", NULL), 0);

    /* A new run is never sent to a second server: the dead one may have
       made it. Each run of the tool starts at the first server listed. */
    assert_int_equal(
        tool(&proc, "run", "create", "--workflow", "7", "--url", url, "--timeout", "1", NULL), 1);
    if (strstr(proc.err, "not sent to another server") == NULL)
        fail_msg("unexpected message: %s", proc.err);
    char live_first[512];
    two_host_url(live_first, sizeof(live_first), p->b.nng_tcp_url, p->a.nng_tcp_url, p);
    assert_int_equal(tool(&proc, "run", "create", "--workflow", "7", "--url", live_first,
                          "--timeout", "1", NULL),
                     0);

    assert_int_equal(tool(&proc, "run", "get", id, "--url", "nng+tcp://127.0.0.1:1,,h2:2", NULL),
                     2);
    if (strstr(proc.err, "server 2 of the list is empty") == NULL)
        fail_msg("unexpected message: %s", proc.err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(nng_carries_on_after_kill, setup, teardown),
        cmocka_unit_test_setup_teardown(rest_carries_on_after_kill, setup, teardown),
        cmocka_unit_test_setup_teardown(an_answer_does_not_move_on, setup, teardown),
        cmocka_unit_test_setup_teardown(the_tool_takes_a_list_of_servers, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
