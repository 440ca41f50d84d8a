/*
 * Two real hbeatd sharing one PostgreSQL database (PG_URI from
 * tests/support/with_pg.sh): a run created through one is beaten through
 * the other, an operator's change through one reaches a client of the
 * other; concurrent beats and operator changes through both lose no
 * acknowledged change; kill -9 of one under a two-host URL; both reaping,
 * each due run reaped once; the start-up grace kept by the service, not
 * by each instance; the database restarted under load; the database
 * frozen (no answer: calls fail within --db-timeout); two instances
 * creating the schema at once, a newer schema refused, a version 1
 * database migrated; bad connection
 * strings and a wrong password.
 */
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>

#include "hbeat/hbeat.h"
#include "integration/common/itest.h"
#include "support/hbeatd_harness.h"
#ifdef HBEAT_TEST_GRPC
#include "support/tgrpc.h"
#endif
#include "support/tsock.h"

#define TIMEOUT 1.0

typedef struct pair {
    hbd_harness a, b;
} pair;

static const char *pg_uri(void)
{
    const char *uri = getenv("PG_URI");
    if (uri == NULL || uri[0] == '\0')
        fail_msg("PG_URI is not set: run this test through tests/support/with_pg.sh");
    return uri;
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Empties the shared tables, so each case starts from nothing (the
   first hbeatd of a case creates them when absent). */
static void empty_db(void)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "psql -q -d '%s' -c \"SET client_min_messages = warning; DO \\$\\$ BEGIN IF "
             "to_regclass('hbeat_runs') IS NOT NULL THEN TRUNCATE hbeat_runs RESTART IDENTITY; "
             "UPDATE hbeat_reaper SET last_seen = 0, grace_until = 0; END IF; END \\$\\$\"",
             pg_uri());
    assert_int_equal(system(cmd), 0);
}

static int start_pair(void **state, const char *const *args)
{
    empty_db();
    pair *p = calloc(1, sizeof *p);
    if (p == NULL || hbd_harness_start(&p->a, args) != 0 || hbd_harness_start(&p->b, args) != 0) {
        if (p != NULL) {
            hbd_harness_cleanup(&p->a);
            free(p);
        }
        return -1;
    }
    *state = p;
    return 0;
}

static int setup(void **state)
{
    static const char *args[] = {"--db", NULL, "--reap-grace", "100000", NULL};
    args[1] = pg_uri();
    return start_pair(state, args);
}

static int setup_reaping(void **state)
{
    static const char *args[] = {"--db", NULL, "--reap-grace", "0", "--reap-interval",
                                 "0.05", NULL};
    args[1] = pg_uri();
    return start_pair(state, args);
}

static int teardown(void **state)
{
    pair *p = *state;
    hbd_harness_cleanup(&p->a);
    hbd_harness_cleanup(&p->b);
    free(p);
    return 0;
}

static void run_through_both(void **state)
{
    pair *p = *state;
    hbeat_gateway *ra = itest_open(p->a.rest_url, TIMEOUT);
    hbeat_gateway *nb = itest_open(p->b.nng_tcp_url, TIMEOUT);
    int64_t id = itest_new_run(ra, "R");
    char status[HBEAT_STATUS_MAX + 1];
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(itest_beat(nb, id, "R", 60, status, &err), 0);
    assert_string_equal(status, "R");
    hbeat_run_info run = itest_get(ra, id);
    assert_int_equal(run.beats, 1);
    /* The operator, through A; the client of B hears it at its next beat. */
    assert_int_equal(hbeat_run_set_status(ra, id, "D", 0, &run, &err), 0);
    assert_int_equal(itest_beat(nb, id, "R", 60, status, &err), 0);
    assert_string_equal(status, "D");
    run = itest_get(nb, id);
    assert_string_equal(run.status, "D");
    assert_int_equal(run.beats, 1);
    /* gRPC builds its replies once the database has answered too. */
    if (p->b.grpc_url[0] != '\0') {
        hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
        o.request_timeout = TIMEOUT;
        hbeat_gateway *gb = NULL;
        assert_int_equal(hbeat_gateway_open(&gb, p->b.grpc_url, &o, &err), 0);
        assert_int_equal(itest_beat(gb, id, "R", 60, status, &err), 0);
        assert_string_equal(status, "D");
        run = itest_get(gb, id);
        assert_int_equal(run.beats, 1);
        assert_int_equal(hbeat_run_get(gb, id + 1000, &run, &err), HBEAT_ENOTFOUND);
        hbeat_gateway_free(gb);
    }
    hbeat_gateway_free(ra);
    hbeat_gateway_free(nb);
}

#define RUNS    8
#define BEATS   150
#define STOPPED 4 /* runs 1..STOPPED are set to D during the beats */

typedef struct beater {
    const char *url;
    int64_t first;
    uint64_t counted[RUNS]; /* replies that said R: beats the server counted */
    int failures;
} beater;

static void *beat_all(void *arg)
{
    beater *b = arg;
    hbeat_gateway *gw = itest_open(b->url, 5.0);
    for (int i = 0; i < BEATS; i++) {
        for (int r = 0; r < RUNS; r++) {
            char status[HBEAT_STATUS_MAX + 1];
            hbeat_error err = HBEAT_ERROR_INIT;
            if (itest_beat(gw, b->first + r, "R", 60, status, &err) != 0)
                b->failures++;
            else if (strcmp(status, "R") == 0)
                b->counted[r]++;
        }
    }
    hbeat_gateway_free(gw);
    return NULL;
}

static void concurrent_changes_never_lost(void **state)
{
    pair *p = *state;
    hbeat_gateway *admin = itest_open(p->a.rest_url, 5.0);
    int64_t first = itest_new_run(admin, "R");
    for (int r = 1; r < RUNS; r++)
        assert_int_equal(itest_new_run(admin, "R"), first + r);
    beater b[4] = {{p->a.nng_tcp_url, first, {0}, 0},
                   {p->b.nng_tcp_url, first, {0}, 0},
                   {p->a.rest_url, first, {0}, 0},
                   {p->b.rest_url, first, {0}, 0}};
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, beat_all, &b[i]), 0);
    /* Operator changes through B while the beats go on. */
    hbeat_gateway *op = itest_open(p->b.rest_url, 5.0);
    for (int r = 0; r < STOPPED; r++) {
        pause_ms(50);
        hbeat_run_info run;
        hbeat_error err = HBEAT_ERROR_INIT;
        assert_int_equal(hbeat_run_set_status(op, first + r, "D", 0, &run, &err), 0);
        assert_string_equal(run.status, "D");
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    uint64_t total = 0;
    for (int r = 0; r < RUNS; r++) {
        uint64_t counted = 0;
        for (int i = 0; i < 4; i++)
            counted += b[i].counted[r];
        hbeat_run_info run = itest_get(admin, first + r);
        /* Every acknowledged change is there: the operator's status
           (a beat in R never takes it back) and every beat counted. */
        assert_string_equal(run.status, r < STOPPED ? "D" : "R");
        assert_int_equal(run.beats, counted);
        total += counted;
    }
    for (int i = 0; i < 4; i++)
        assert_int_equal(b[i].failures, 0);
    print_message("%" PRIu64 " beats counted over %d runs through two hbeatd\n", total, RUNS);
    hbeat_gateway_free(op);
    hbeat_gateway_free(admin);
}

static void client_carries_on_after_kill9(void **state)
{
    pair *p = *state;
    hbeat_gateway *admin = itest_open(p->b.rest_url, TIMEOUT);
    int64_t id = itest_new_run(admin, "R");
    /* nng+tcp://A,B */
    char url[512];
    const char *hb = strstr(p->b.nng_tcp_url, "://") + 3;
    snprintf(url, sizeof url, "%s,%s", p->a.nng_tcp_url, hb);
    tsock_no_proxy();
    hbeat_gateway_options o = HBEAT_GATEWAY_OPTIONS_INIT;
    o.request_timeout = 0.5;
    hbeat_gateway *gw = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_gateway_open(&gw, url, &o, &err), 0);
    assert_string_equal(hbeat_gateway_transport(gw), "failover");
    char status[HBEAT_STATUS_MAX + 1];
    for (int i = 0; i < 20; i++)
        assert_int_equal(itest_beat(gw, id, "R", 60, status, &err), 0);
    hbd_harness_kill9(&p->a);
    double killed = itest_now();
    /* The next beat goes to B within the request timeout. */
    int rc = itest_beat(gw, id, "R", 60, status, &err);
    double took = itest_now() - killed;
    if (rc != 0)
        fail_msg("beat after the kill: %s", err.message);
    print_message("first beat after kill -9 of one hbeatd answered in %.3f s\n", took);
    assert_true(took < 1.0);
    for (int i = 0; i < 20; i++)
        assert_int_equal(itest_beat(gw, id, "R", 60, status, &err), 0);
    hbeat_run_info run = itest_get(admin, id);
    assert_int_equal(run.beats, 41); /* nothing acknowledged lost */
    hbeat_gateway_free(gw);
    hbeat_gateway_free(admin);
}

/* Lines of `path` that contain `needle`. */
static int count_lines(const char *path, const char *needle, int64_t *ids, int max)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        const char *at = strstr(line, needle);
        if (at == NULL)
            continue;
        if (n < max)
            ids[n] = strtoll(at + strlen(needle), NULL, 10);
        n++;
    }
    fclose(f);
    return n;
}

#define DUE 60

static void each_due_run_reaped_once(void **state)
{
    pair *p = *state;
    hbeat_gateway *admin = itest_open(p->a.rest_url, 5.0);
    int64_t first = 0;
    for (int i = 0; i < DUE; i++) {
        hbeat_run_info run;
        hbeat_error err = HBEAT_ERROR_INIT;
        hbeat_run_create_options o = HBEAT_RUN_CREATE_OPTIONS_INIT;
        o.status = "R";
        o.next_report_increment = 0.3;
        assert_int_equal(hbeat_run_create_with(admin, 7, &o, &run, &err), 0);
        if (i == 0)
            first = run.workflow_run_id;
    }
    double until = itest_now() + 10;
    for (;;) {
        hbeat_run_info *runs = NULL;
        size_t n = 0;
        hbeat_error err = HBEAT_ERROR_INIT;
        assert_int_equal(hbeat_run_list(admin, "E", &runs, &n, &err), 0);
        hbeat_run_list_free(runs);
        if (n == DUE)
            break;
        assert_true(itest_now() < until);
        pause_ms(50);
    }
    pause_ms(300); /* a few more passes by both */
    int64_t a_ids[DUE], b_ids[DUE];
    int na = count_lines(p->a.log_path, "reaped run ", a_ids, DUE);
    int nb = count_lines(p->b.log_path, "reaped run ", b_ids, DUE);
    print_message("reaped by A: %d, by B: %d\n", na, nb);
    assert_int_equal(na + nb, DUE);
    int seen[DUE] = {0};
    for (int i = 0; i < na; i++)
        seen[a_ids[i] - first]++;
    for (int i = 0; i < nb; i++)
        seen[b_ids[i] - first]++;
    for (int i = 0; i < DUE; i++)
        assert_int_equal(seen[i], 1);
    hbeat_gateway_free(admin);
}

/* The grace an hbeatd announced at start: "reaping starts after X s". */
static double grace_of(const hbd_harness *h)
{
    FILE *f = fopen(h->log_path, "r");
    assert_non_null(f);
    char line[512];
    double grace = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        const char *at = strstr(line, "reaping starts after ");
        if (at != NULL)
            grace = atof(at + strlen("reaping starts after "));
    }
    fclose(f);
    return grace;
}

static void grace_belongs_to_the_service(void **state)
{
    (void)state;
    empty_db();
    static const char *args[] = {"--db", NULL, "--reap-interval", "0.2", NULL};
    args[1] = pg_uri();
    hbd_harness a, b, c;
    assert_int_equal(hbd_harness_start(&a, args), 0);
    hbeat_gateway *gw = itest_open(a.rest_url, TIMEOUT);
    hbeat_run_info run;
    hbeat_run_create_options o = HBEAT_RUN_CREATE_OPTIONS_INIT;
    o.status = "R";
    o.next_report_increment = 30;
    assert_int_equal(hbeat_run_create_with(gw, 7, &o, &run, NULL), 0);
    hbeat_gateway_free(gw);
    /* B starts while A reaps: no grace of its own. */
    assert_int_equal(hbd_harness_start(&b, args), 0);
    assert_true(grace_of(&b) == 0);
    assert_int_equal(hbd_harness_stop(&a), 0);
    assert_int_equal(hbd_harness_stop(&b), 0);
    /* The whole service was down (longer than two intervals and a
       second): the first to start takes a full deadline... */
    pause_ms(1600);
    assert_int_equal(hbd_harness_restart(&a), 0);
    double full = grace_of(&a);
    print_message("grace after the whole service was down: %g s\n", full);
    assert_true(full == 30);
    /* ...and one starting meanwhile shares what is left of it. */
    assert_int_equal(hbd_harness_start(&c, args), 0);
    double shared = grace_of(&c);
    print_message("grace of an instance joining it: %g s\n", shared);
    assert_true(shared > 25 && shared <= 30);
    hbd_harness_cleanup(&a);
    hbd_harness_cleanup(&b);
    hbd_harness_cleanup(&c);
}

static void cluster(const char *verb)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "\"$PG_CLUSTER\" %s \"$PG_DIR\" >/dev/null", verb);
    assert_int_equal(system(cmd), 0);
}

/* hbeatd_store_up from the server's /metrics: 1, 0, or -1 when absent. */
static int store_up(const hbd_harness *h)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "curl -s --noproxy '*' http://%s/metrics | grep '^hbeatd_store_up '",
             h->rest_host_port);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    char line[128] = "";
    if (fgets(line, sizeof line, f) == NULL)
        line[0] = '\0';
    pclose(f);
    return line[0] != '\0' ? atoi(line + strlen("hbeatd_store_up ")) : -1;
}

static void database_restart_under_load(void **state)
{
    pair *p = *state;
    hbeat_gateway *gw = itest_open(p->a.rest_url, TIMEOUT);
    int64_t id = itest_new_run(gw, "R");
    char status[HBEAT_STATUS_MAX + 1];
    hbeat_error err = HBEAT_ERROR_INIT;
    int acked = 0;
    for (int i = 0; i < 10; i++)
        acked += itest_beat(gw, id, "R", 60, status, &err) == 0;
    assert_int_equal(acked, 10);
    cluster("stop");
    /* Down: each beat fails at once with a clear error, none hangs. */
    for (int i = 0; i < 5; i++) {
        double t0 = itest_now();
        int rc = itest_beat(gw, id, "R", 60, status, &err);
        assert_int_not_equal(rc, 0);
        assert_true(itest_now() - t0 < TIMEOUT);
        if (i == 4)
            print_message("while the database is down: %s\n", err.message);
    }
    assert_non_null(strstr(err.message, "unavailable"));
    /* nng says the same, and /metrics shows the store down. */
    hbeat_gateway *ng = itest_open(p->a.nng_tcp_url, TIMEOUT);
    assert_int_not_equal(itest_beat(ng, id, "R", 60, status, &err), 0);
    print_message("nng while the database is down: %s\n", err.message);
    assert_non_null(strstr(err.message, "UNAVAILABLE"));
    assert_int_equal(store_up(&p->a), 0);
#ifdef HBEAT_TEST_GRPC
    /* gRPC's health service says so too, and SERVING once it is back. */
    assert_int_equal(tgrpc_health(p->a.grpc_url), 2 /* NOT_SERVING */);
#endif
    cluster("restart");
    /* Back without restarting hbeatd: within a few reconnect attempts. */
    double until = itest_now() + 10;
    while (itest_beat(gw, id, "R", 60, status, &err) != 0) {
        assert_true(itest_now() < until);
        pause_ms(100);
    }
    acked++;
    for (int i = 0; i < 5; i++)
        acked += itest_beat(gw, id, "R", 60, status, &err) == 0;
    assert_int_equal(itest_beat(ng, id, "R", 60, status, &err), 0);
    acked++;
    assert_int_equal(store_up(&p->a), 1);
#ifdef HBEAT_TEST_GRPC
    assert_int_equal(tgrpc_health(p->a.grpc_url), 1 /* SERVING */);
#endif
    hbeat_run_info run = itest_get(gw, id);
    assert_int_equal(run.beats, acked); /* every acknowledged beat is there */
    hbeat_gateway_free(ng);
    hbeat_gateway_free(gw);
}

/* Freezes (SIGSTOP) or thaws the cluster's processes: a server that
   holds its connections open and answers nothing, as a hung host or a
   network dropping every packet would. The postmaster first, so that it
   starts no one meanwhile; thawed in the other order. */
static int frozen;

static void freeze_db(int freeze)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             freeze ? "pid=$(head -n1 \"$PG_DIR/data/postmaster.pid\") && kill -STOP $pid && "
                      "pkill -STOP -P $pid"
                    : "pid=$(head -n1 \"$PG_DIR/data/postmaster.pid\") && pkill -CONT -P $pid; "
                      "kill -CONT $pid");
    assert_int_equal(system(cmd), 0);
    frozen = freeze;
}

static int setup_short_timeout(void **state)
{
    static const char *args[] = {"--db", NULL, "--reap-grace", "100000", "--db-timeout", "1", NULL};
    args[1] = pg_uri();
    return start_pair(state, args);
}

static int teardown_thawed(void **state)
{
    if (frozen)
        freeze_db(0);
    return teardown(state);
}

typedef struct beat_in_flight {
    const char *url;
    int64_t id;
    int rc;
} beat_in_flight;

static void *beat_once(void *arg)
{
    beat_in_flight *b = arg;
    hbeat_gateway *gw = itest_open(b->url, 10);
    char status[HBEAT_STATUS_MAX + 1];
    hbeat_error err = HBEAT_ERROR_INIT;
    b->rc = itest_beat(gw, b->id, "R", 60, status, &err);
    hbeat_gateway_free(gw);
    return NULL;
}

static void database_frozen(void **state)
{
    pair *p = *state;
    /* The clients would wait 10 s: what ends each call is hbeatd's
       --db-timeout of 1 s. */
    hbeat_gateway *gw = itest_open(p->a.rest_url, 10);
    hbeat_gateway *ng = itest_open(p->a.nng_tcp_url, 10);
    int64_t id = itest_new_run(gw, "R");
    char status[HBEAT_STATUS_MAX + 1];
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(itest_beat(gw, id, "R", 60, status, &err), 0);
    freeze_db(1);
    for (int i = 0; i < 6; i++) {
        double t0 = itest_now();
        int rc = itest_beat(i % 2 == 0 ? gw : ng, id, "R", 60, status, &err);
        double took = itest_now() - t0;
        print_message("%s while the database is frozen, after %.2f s: %s\n",
                      i % 2 == 0 ? "REST" : "nng", took, err.message);
        assert_int_not_equal(rc, 0);
        assert_true(took < 3.5);
    }
    freeze_db(0);
    double until = itest_now() + 10;
    while (itest_beat(gw, id, "R", 60, status, &err) != 0) {
        assert_true(itest_now() < until);
        pause_ms(100);
    }
    assert_int_equal(itest_beat(ng, id, "R", 60, status, &err), 0);
    hbeat_gateway_free(ng);
    hbeat_gateway_free(gw);

    /* Nor does a frozen database hold up a stop, with a call in flight. */
    freeze_db(1);
    beat_in_flight b = {.url = p->a.rest_url, .id = id};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, beat_once, &b), 0);
    pause_ms(200);
    double t0 = itest_now();
    assert_int_equal(hbd_harness_stop(&p->a), 0);
    double took = itest_now() - t0;
    print_message("hbeatd stopped in %.2f s with the database frozen\n", took);
    assert_true(took < 5);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_not_equal(b.rc, 0);
    freeze_db(0);
}

/* hbeatd with `db` (and `env`, e.g. "PGPASSWORD=x"): its exit status and
   the last line of its stderr. */
static int run_hbeatd(const char *env, const char *db, char *line, size_t size)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "%s '%s' --db '%s' --listen tcp://127.0.0.1:0 --http none 2>&1 >/dev/null | tail -n1",
             env, HBEATD_PATH, db);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    line[0] = '\0';
    if (fgets(line, (int)size, f) == NULL)
        line[0] = '\0';
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void psql(const char *sql)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "psql -q -d '%s' -c \"SET client_min_messages = warning; %s\"",
             pg_uri(), sql);
    assert_int_equal(system(cmd), 0);
}

static int file_has(const char *path, const char *needle)
{
    int64_t none[1];
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    fclose(f);
    return count_lines(path, needle, none, 1);
}

static void schema_made_once_and_guarded(void **state)
{
    (void)state;
    psql("DROP TABLE IF EXISTS hbeat_runs, hbeat_reaper, hbeat_schema");
    /* Two hbeatd at once on an empty database: one creates the schema,
       the other waits for it, and both serve. */
    char dir[] = "/tmp/hbeat-pg-race-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "for i in 1 2; do '%s' --db '%s' --listen tcp://127.0.0.1:0 --http none "
             "--ready-file %s/ready$i 2>%s/log$i & echo $! >%s/pid$i; done",
             HBEATD_PATH, pg_uri(), dir, dir, dir);
    assert_int_equal(system(cmd), 0);
    char r1[128], r2[128], l1[128], l2[128];
    snprintf(r1, sizeof r1, "%s/ready1", dir);
    snprintf(r2, sizeof r2, "%s/ready2", dir);
    snprintf(l1, sizeof l1, "%s/log1", dir);
    snprintf(l2, sizeof l2, "%s/log2", dir);
    double until = itest_now() + 10;
    while (!(file_has(r1, "nng") && file_has(r2, "nng")) && itest_now() < until)
        pause_ms(20);
    int both = file_has(r1, "nng") && file_has(r2, "nng");
    int migrated =
        file_has(l1, "schema migrated to version 1") + file_has(l2, "schema migrated to version 1");
    snprintf(cmd, sizeof cmd, "kill $(cat %s/pid1 %s/pid2); sleep 0.3; rm -rf %s", dir, dir, dir);
    assert_int_equal(system(cmd), 0);
    assert_true(both);
    assert_int_equal(migrated, 1);

    /* A schema from a newer hbeatd is refused, with the reason. */
    psql("INSERT INTO hbeat_schema VALUES (99)");
    char line[1024];
    assert_int_equal(run_hbeatd("", pg_uri(), line, sizeof line), 0); /* tail's status */
    print_message("%s", line);
    assert_non_null(strstr(line, "the schema is version 99, newer than this hbeatd's 2"));
    snprintf(cmd, sizeof cmd, "'%s' --db '%s' --listen tcp://127.0.0.1:0 --http none 2>/dev/null",
             HBEATD_PATH, pg_uri());
    int st = system(cmd);
    assert_int_equal(WEXITSTATUS(st), 1);
    psql("DELETE FROM hbeat_schema WHERE version = 99");
}

/* A database of schema version 1 (before runs counted their status
   changes) is brought to version 2 on start, its runs kept. */
static void version_1_database_migrates(void **state)
{
    (void)state;
    empty_db();
    hbd_harness h;
    static const char *args[] = {"--db", NULL, NULL};
    args[1] = pg_uri();
    assert_int_equal(hbd_harness_start(&h, args), 0);
    hbeat_gateway *gw = itest_open(h.rest_url, TIMEOUT);
    int64_t id = itest_new_run(gw, "R");
    hbeat_gateway_free(gw);
    assert_int_equal(hbd_harness_stop(&h), 0);
    hbd_harness_cleanup(&h);
    psql("DROP TRIGGER hbeat_runs_status_changed ON hbeat_runs;"
         " DROP FUNCTION hbeat_runs_status_changed();"
         " ALTER TABLE hbeat_runs DROP COLUMN changes; DELETE FROM hbeat_schema WHERE version = 2");

    assert_int_equal(hbd_harness_start(&h, args), 0);
    int64_t none[1];
    assert_int_equal(count_lines(h.log_path, "schema migrated to version 2", none, 1), 1);
    gw = itest_open(h.rest_url, TIMEOUT);
    hbeat_run_info run = itest_get(gw, id);
    assert_string_equal(run.status, "R");
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbeat_run_set_status(gw, id, "D", 0, &run, &err), 0);
    hbeat_gateway_free(gw);
    assert_int_equal(hbd_harness_stop(&h), 0);
    hbd_harness_cleanup(&h);
    psql("DO \\$\\$ BEGIN IF (SELECT changes FROM hbeat_runs WHERE status = 'D') <> 1 THEN"
         " RAISE 'the status change was not counted'; END IF; END \\$\\$");
}

static void bad_connections_are_clear_errors(void **state)
{
    (void)state;
    char line[1024];
    /* PIPESTATUS is bash's; the pipe's status is tail's, so ask hbeatd's
       status through a file instead. */
    char db[512];
    snprintf(db, sizeof db, "postgresql://hbeat@127.0.0.1:%d/hbeat?connect_timeout=2",
             tsock_refused_port());
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' --db '%s' --listen tcp://127.0.0.1:0 --http none 2>/dev/null",
             HBEATD_PATH, db);
    int st = system(cmd);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 1);
    run_hbeatd("", db, line, sizeof line);
    print_message("%s", line);
    assert_non_null(strstr(line, "cannot connect to postgresql"));

    /* A wrong password: refused, and the password is nowhere. */
    const char *tcp = getenv("PG_TCP_URI");
    assert_non_null(tcp);
    snprintf(cmd, sizeof cmd,
             "PGPASSWORD=wrong-secret-4711 '%s' --db '%s' "
             "--listen tcp://127.0.0.1:0 --http none 2>/dev/null",
             HBEATD_PATH, tcp);
    st = system(cmd);
    assert_int_equal(WEXITSTATUS(st), 1);
    run_hbeatd("PGPASSWORD=wrong-secret-4711", tcp, line, sizeof line);
    print_message("%s", line);
    assert_non_null(strstr(line, "password authentication failed"));
    assert_null(strstr(line, "wrong-secret"));

    /* The right one, from libpq's usual places (here PGPASSWORD): starts,
       and the log never shows it. */
    hbd_harness h;
    static const char *args[] = {"--db", NULL, NULL};
    args[1] = tcp;
    assert_int_equal(setenv("PGPASSWORD", getenv("PG_PASSWORD"), 1), 0);
    assert_int_equal(hbd_harness_start(&h, args), 0);
    unsetenv("PGPASSWORD");
    assert_int_equal(hbd_harness_stop(&h), 0);
    int64_t none[1];
    assert_int_equal(count_lines(h.log_path, getenv("PG_PASSWORD"), none, 1), 0);
    assert_int_equal(count_lines(h.log_path, "store postgresql (host=127.0.0.1", none, 1), 1);
    hbd_harness_cleanup(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(run_through_both, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_changes_never_lost, setup, teardown),
        cmocka_unit_test_setup_teardown(client_carries_on_after_kill9, setup, teardown),
        cmocka_unit_test_setup_teardown(each_due_run_reaped_once, setup_reaping, teardown),
        cmocka_unit_test_setup_teardown(database_restart_under_load, setup, teardown),
        cmocka_unit_test_setup_teardown(database_frozen, setup_short_timeout, teardown_thawed),
        cmocka_unit_test(grace_belongs_to_the_service),
        cmocka_unit_test(schema_made_once_and_guarded),
        cmocka_unit_test(version_1_database_migrates),
        cmocka_unit_test(bad_connections_are_clear_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
