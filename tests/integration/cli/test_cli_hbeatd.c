/*
 * The `hbeat` tool against the real hbeatd (started by the harness on free
 * loopback ports and a temp ipc path): the admin commands over every
 * transport, `hbeat beat` with --count, an operator's `run set-status ID C`
 * reaching running `hbeat beat` clients that print it and exit 0, and what
 * happens when the server is gone. The tool runs as child processes; every
 * wait is bounded and every process started is stopped.
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <setjmp.h>
#include <stddef.h>

#include <cmocka.h>

#include "subprocess.h"
#include "support/hbeatd_harness.h"

#define LIMIT    60.0
#define MAX_ARGS 32

static void expect_out(const hb_proc *p, const char *needle)
{
    if (!strstr(p->out, needle))
        fail_msg("stdout lacks \"%s\"; stdout:\n%s\nstderr:\n%s", needle, p->out, p->err);
}

static void expect_err(const hb_proc *p, const char *needle)
{
    if (!strstr(p->err, needle))
        fail_msg("stderr lacks \"%s\"; stderr:\n%s", needle, p->err);
}

static const char *const clean_env[] = {"-HBEAT_URL", "-HBEAT_TOKEN", "-HBEAT_TOKEN_FILE", NULL};

/* argv for the tool from a NULL-terminated list of arguments. */
static void make_argv(char *argv[MAX_ARGS], const char *first, va_list ap)
{
    int n = 0;
    argv[n++] = HBEAT_CLI;
    for (const char *a = first; a && n < MAX_ARGS - 1; a = va_arg(ap, const char *))
        argv[n++] = (char *)a;
    argv[n] = NULL;
}

/* Run the tool to the end; @return its exit code. */
static int tool(hb_proc *p, const char *first, ...)
{
    char *argv[MAX_ARGS];
    va_list ap;
    va_start(ap, first);
    make_argv(argv, first, ap);
    va_end(ap);
    return hb_proc_run(p, argv, clean_env, LIMIT);
}

/* Start the tool and leave it running. */
static void tool_start(hb_proc *p, const char *first, ...)
{
    char *argv[MAX_ARGS];
    va_list ap;
    va_start(ap, first);
    make_argv(argv, first, ap);
    va_end(ap);
    assert_int_equal(hb_proc_start(p, argv, clean_env), 0);
}

/* `hbeat run create` over @p url; @return the new run's id. */
static int64_t create_run(const char *url, const char *status)
{
    hb_proc p;
    int rc = tool(&p, "run", "create", "--workflow", "7", "--status", status, "--url", url,
                  "--json", NULL);
    if (rc != 0)
        fail_msg("run create over %s: exit %d: %s", url, rc, p.err);
    long long id = 0;
    const char *at = strstr(p.out, "\"workflow_run_id\":");
    assert_non_null(at);
    assert_int_equal(sscanf(at, "\"workflow_run_id\":%lld", &id), 1);
    assert_true(id > 0);
    char want[64];
    snprintf(want, sizeof want, "\"status\":\"%s\"", status);
    expect_out(&p, want);
    return id;
}

typedef struct fixture {
    hbd_harness h;
    const char *urls[4]; /* every client URL hbeatd serves, NULL-terminated */
} fixture;

static int start(void **state, const char *const *extra_args)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f || hbd_harness_start(&f->h, extra_args) != 0) {
        free(f);
        return -1;
    }
    int n = 0;
    f->urls[n++] = f->h.nng_tcp_url;
    f->urls[n++] = f->h.nng_ipc_url;
#if CLI_TEST_HAVE_REST
    f->urls[n++] = f->h.rest_url;
#endif
    (void)n;
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return start(state, NULL);
}

/* hbeatd whose reaper never runs during a test: a lapsed lease must not
   also end the run. */
static int setup_no_reaper(void **state)
{
    static const char *const args[] = {"--reap-interval", "3600", NULL};
    return start(state, args);
}

/* hbeatd whose reaper acts within 50 ms of a deadline. */
static int setup_fast_reaper(void **state)
{
    static const char *const args[] = {"--reap-interval", "0.05", "--reap-grace", "0", NULL};
    return start(state, args);
}

static int teardown(void **state)
{
    fixture *f = *state;
    hb_proc_kill_all();
    hbd_harness_cleanup(&f->h);
    free(f);
    return 0;
}

/* Every admin command over the first transport; the others only need to
   show that they carry each call (each process costs start-up time under
   the sanitizers). */
static void test_admin_commands(void **state)
{
    fixture *f = *state;
    for (int i = 0; f->urls[i]; i++) {
        const char *url = f->urls[i];
        int all = i == 0;
        hb_proc p;
        char id_text[32], want[128];

        int64_t id = create_run(url, "G");
        snprintf(id_text, sizeof id_text, "%" PRId64, id);

        assert_int_equal(tool(&p, "run", "get", id_text, "--url", url, NULL), 0);
        snprintf(want, sizeof want, "run %s: workflow 7, status G (registered), 0 beats", id_text);
        expect_out(&p, want);

        if (all) {
            int64_t running = create_run(url, "R");
            assert_int_equal(tool(&p, "run", "list", "-u", url, NULL), 0);
            expect_out(&p, "RUN      WORKFLOW  STATUS");
            snprintf(want, sizeof want, "\n%-8" PRId64 " 7         G (registered)", id);
            expect_out(&p, want);
            snprintf(want, sizeof want, "\n%-8" PRId64 " 7         R (running)", running);
            expect_out(&p, want);

            /* A filter by status, as JSON lines. */
            assert_int_equal(tool(&p, "run", "list", "--status", "R", "-u", url, "--json", NULL),
                             0);
            snprintf(want, sizeof want, "{\"workflow_run_id\":%" PRId64 ",", running);
            expect_out(&p, want);
            snprintf(want, sizeof want, "{\"workflow_run_id\":%" PRId64 ",", id);
            assert_null(strstr(p.out, want));
            assert_null(strstr(p.out, "\"status\":\"G\""));
        } else {
            assert_int_equal(tool(&p, "run", "list", "-u", url, "--json", NULL), 0);
            snprintf(want, sizeof want, "{\"workflow_run_id\":%" PRId64 ",", id);
            expect_out(&p, want);
        }

        /* Through the state machine: G -> L is valid, L -> R is not. */
        assert_int_equal(tool(&p, "run", "set-status", id_text, "L", "-u", url, NULL), 0);
        expect_out(&p, "status L (linking)");
        if (!all)
            continue;
        assert_int_equal(tool(&p, "run", "set-status", id_text, "R", "-u", url, NULL), 1);
        expect_err(&p, "hbeat: run ");
        assert_int_equal(tool(&p, "run", "get", id_text, "-u", url, "--json", NULL), 0);
        expect_out(&p, "\"status\":\"L\"");
        assert_int_equal(
            tool(&p, "run", "set-status", id_text, "R", "--force", "-u", url, "--json", NULL), 0);
        expect_out(&p, "\"status\":\"R\"");

        assert_int_equal(tool(&p, "run", "get", "999999", "-u", url, NULL), 1);
        expect_err(&p, "hbeat: run 999999: not found");
    }
}

/* Unix time: what hbeatd's deadlines are given in. */
static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* `run create --json` over `url`, with --increment unless NULL; the id,
   and the deadline printed. */
static int64_t create_json(const char *url, const char *status, const char *increment,
                           double *deadline)
{
    hb_proc p;
    int rc = increment != NULL
                 ? tool(&p, "run", "create", "-w", "7", "-s", status, "--increment", increment,
                        "-u", url, "--json", NULL)
                 : tool(&p, "run", "create", "-w", "7", "-s", status, "-u", url, "--json", NULL);
    if (rc != 0)
        fail_msg("run create over %s: exit %d: %s", url, rc, p.err);
    long long id = 0;
    const char *at = strstr(p.out, "\"workflow_run_id\":");
    assert_non_null(at);
    assert_int_equal(sscanf(at, "\"workflow_run_id\":%lld", &id), 1);
    at = strstr(p.out, "\"deadline\":");
    assert_non_null(at);
    assert_int_equal(sscanf(at, "\"deadline\":%lf", deadline), 1);
    assert_int_equal(p.err_len, 0);
    return id;
}

/* `hbeat run create --increment S`: the run has a deadline from the
   moment it exists, so one whose client never beats is reaped (L -> A);
   the default is 93 s; "none" keeps a run without a deadline until its
   first beat; a bad value is a usage error that says why. */
static void test_create_with_increment(void **state)
{
    fixture *f = *state;
    for (int i = 0; f->urls[i]; i++) {
        const char *url = f->urls[i];
        hb_proc p;
        char id_text[32];
        double deadline, now = wall_now();
        int64_t id = create_json(url, "L", "0.3", &deadline);
        assert_true(deadline >= now + 0.29 && deadline <= wall_now() + 0.31);
        double never_deadline;
        int64_t never = create_json(url, "L", "none", &never_deadline);
        assert_true(never_deadline == 0);
        double default_deadline;
        now = wall_now();
        create_json(url, "R", NULL, &default_deadline);
        assert_true(default_deadline >= now + 92.9 && default_deadline <= now + 93.0 + LIMIT);

        /* Never beaten, reaped: poll with the tool, bounded. */
        snprintf(id_text, sizeof id_text, "%" PRId64, id);
        double limit = wall_now() + LIMIT;
        for (;;) {
            assert_int_equal(tool(&p, "run", "get", id_text, "-u", url, NULL), 0);
            if (strstr(p.out, "status A (aborted), 0 beats") != NULL)
                break;
            if (wall_now() > limit)
                fail_msg("run %s not reaped: %s", id_text, p.out);
        }
        snprintf(id_text, sizeof id_text, "%" PRId64, never);
        assert_int_equal(tool(&p, "run", "get", id_text, "-u", url, NULL), 0);
        expect_out(&p, "status L (linking), 0 beats, last beat -, deadline -");
    }
    static const char *const bad[][2] = {{"-1", "expected a number >= 0"},
                                         {"nan", "expected a number >= 0"},
                                         {"inf", "expected a number >= 0"},
                                         {"1e9", "at most 31536000 seconds"},
                                         {"soon", "expected a number >= 0"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hb_proc p;
        assert_int_equal(
            tool(&p, "run", "create", "-w", "7", "--increment", bad[i][0], "-u", f->urls[0], NULL),
            2);
        expect_err(&p, bad[i][1]);
        assert_int_equal(p.out_len, 0);
    }
}

static void test_beat_with_count(void **state)
{
    fixture *f = *state;
    for (int i = 0; f->urls[i]; i++) {
        const char *url = f->urls[i];
        hb_proc p;
        char id_text[32], want[128];
        int64_t id = create_run(url, "R");
        snprintf(id_text, sizeof id_text, "%" PRId64, id);

        assert_int_equal(
            tool(&p, "beat", url, "--run", id_text, "--count", "3", "--interval", "0.1", NULL), 0);
        for (int k = 1; k <= 3; k++) {
            snprintf(want, sizeof want, "beat %d run %s: status R\n", k, id_text);
            expect_out(&p, want);
        }
        assert_int_equal(hb_proc_count_lines(&p, "beat "), 3);
        assert_int_equal(p.err_len, 0);

        /* The server counted them and moved the deadline. */
        assert_int_equal(tool(&p, "run", "get", id_text, "-u", url, "--json", NULL), 0);
        expect_out(&p, "\"beats\":3}");
        assert_null(strstr(p.out, "\"deadline\":0,"));
    }
}

/* The operator's change reaches every running client, which prints it
   and exits 0; the run keeps the status the operator gave it. */
static void test_set_status_reaches_running_beats(void **state)
{
    fixture *f = *state;
    hb_proc clients[4], p;
    int n = 0;
    char id_text[32];
    int64_t id = create_run(f->urls[0], "R");
    snprintf(id_text, sizeof id_text, "%" PRId64, id);

    for (; f->urls[n]; n++)
        tool_start(&clients[n], "beat", f->urls[n], "--run", id_text, "--interval", "0.1", NULL);
    for (int i = 0; i < n; i++) {
        if (hb_proc_wait_for(&clients[i], "beat 2 run ", LIMIT) != 0)
            fail_msg("client %s never beat twice: %s", f->urls[i], clients[i].err);
    }

    assert_int_equal(tool(&p, "run", "set-status", id_text, "C", "-u", f->urls[0], NULL), 0);
    expect_out(&p, "status C (cold resume)");

    for (int i = 0; i < n; i++) {
        if (hb_proc_wait_for(&clients[i], "status change R -> C\n", LIMIT) != 0)
            fail_msg("client %s missed the change:\n%s\n%s", f->urls[i], clients[i].out,
                     clients[i].err);
        int rc = hb_proc_wait_exit(&clients[i], LIMIT);
        if (rc != 0)
            fail_msg("client %s exit %d:\n%s", f->urls[i], rc, clients[i].err);
        expect_out(&clients[i], "is now C (cold resume): stopping\n");
        hb_proc_cleanup(&clients[i]);
    }
    assert_int_equal(tool(&p, "run", "get", id_text, "-u", f->urls[0], "--json", NULL), 0);
    expect_out(&p, "\"status\":\"C\"");
}

/* A run that has already ended stops the client at its first beat. */
/* Interval 0, as Jobmon's workflow builder uses it: a beat on every check,
   at the loop's 0.1 s pace, each telling the server a window of 0. */
static void test_beat_with_interval_zero(void **state)
{
    fixture *f = *state;
    hb_proc p;
    char id_text[32];
    int64_t id = create_run(f->urls[0], "R");
    snprintf(id_text, sizeof id_text, "%" PRId64, id);
    assert_int_equal(
        tool(&p, "beat", f->urls[0], "--run", id_text, "--count", "3", "--interval", "0", NULL), 0);
    assert_int_equal(hb_proc_count_lines(&p, "beat "), 3);
    assert_int_equal(tool(&p, "beat", f->urls[0], "--run", id_text, "--interval", "-1", NULL), 2);
    expect_err(&p, "--interval: expected a number >= 0");
}

static void test_beat_on_an_ended_run_stops_at_once(void **state)
{
    fixture *f = *state;
    hb_proc p;
    char id_text[32], want[128];
    int64_t id = create_run(f->urls[0], "D");
    snprintf(id_text, sizeof id_text, "%" PRId64, id);
    assert_int_equal(tool(&p, "beat", f->urls[0], "-r", id_text, "-i", "30", "--json", NULL), 0);
    snprintf(want, sizeof want, "\"workflow_run_id\":%s,\"sent\":\"R\",\"status\":\"D\"}", id_text);
    expect_out(&p, want);
    expect_out(&p, "{\"event\":\"status_change\"");
    expect_out(&p, "\"from\":\"R\",\"to\":\"D\"}\n");
}

/* An unknown run is a failure; the tool gives up after --max-failures,
   saying why in hbeatd's words over every transport. */
static void test_beat_on_an_unknown_run_gives_up(void **state)
{
    fixture *f = *state;
    hb_proc p;
    assert_int_equal(
        tool(&p, "beat", f->urls[0], "-r", "999999", "-i", "0.1", "--max-failures", "2", NULL), 1);
    expect_err(&p, "beat 1 run 999999 failed: not found");
    expect_err(&p, "giving up after 2 failed beats in a row: not found");
    assert_int_equal(p.out_len, 0);
    for (int i = 0; f->urls[i]; i++) {
        assert_int_equal(tool(&p, "beat", f->urls[i], "-r", "999999", "--max-failures", "1", NULL),
                         1);
        expect_err(&p, "failed: not found: ");
        expect_err(&p, "no workflow run 999999");
        assert_null(strstr(p.err, "{\"error\""));
        assert_int_equal(tool(&p, "run", "get", "999999", "-u", f->urls[i], NULL), 1);
        expect_err(&p, "hbeat: run 999999: not found: ");
        expect_err(&p, "no workflow run 999999");
        assert_null(strstr(p.err, "{\"error\""));
    }
}

static void test_server_gone(void **state)
{
    fixture *f = *state;
    hb_proc p;
    assert_int_equal(hbd_harness_stop(&f->h), 0);
    for (int i = 0; f->urls[i]; i++) {
        assert_int_equal(tool(&p, "beat", f->urls[i], "-r", "1", "-i", "0.1", "--max-failures", "2",
                              "--timeout", "1", NULL),
                         1);
        expect_err(&p, "giving up after 2 failed beats in a row");
        assert_int_equal(tool(&p, "run", "get", "1", "-u", f->urls[i], "--timeout", "1", NULL), 1);
        expect_err(&p, "hbeat: run 1: ");
    }
}

/* The server stops answering: once the promised window passes the client
   says the lease is lost; when the server answers again, that it is back. */
static void test_lease_lost_and_regained(void **state)
{
    fixture *f = *state;
    hb_proc p;
    char id_text[32];
    int64_t id = create_run(f->urls[0], "R");
    snprintf(id_text, sizeof id_text, "%" PRId64, id);
    tool_start(&p, "beat", f->urls[0], "--run", id_text, "--interval", "0.1", "--buffer", "2",
               "--timeout", "0.5", "--max-failures", "0", NULL);
    assert_int_equal(hb_proc_wait_for(&p, "beat 2 run ", LIMIT), 0);

    hbd_harness_sigstop(&f->h);
    int lost = hb_proc_wait_for(&p,
                                "lease lost: no beat answered within 0.2 s; the server may "
                                "reap run ",
                                LIMIT);
    hbd_harness_sigcont(&f->h);
    if (lost != 0)
        fail_msg("no lease lost:\n%s\n%s", p.out, p.err);
    if (hb_proc_wait_for(&p, "lease regained: run ", LIMIT) != 0)
        fail_msg("no lease regained:\n%s\n%s", p.out, p.err);
    assert_true(strstr(p.out, "lease regained") > strstr(p.out, "lease lost"));

    hb_proc_signal(&p, SIGTERM);
    assert_int_equal(hb_proc_wait_exit(&p, LIMIT), 0);
    hb_proc_cleanup(&p);
}

#ifdef EXAMPLE_RUNTIME_SELECT
/* The runtime_select example, unchanged, over each transport. */
static void test_runtime_select_example(void **state)
{
    fixture *f = *state;
    for (int i = 0; f->urls[i]; i++) {
        hb_proc p;
        char id_text[32], want[128];
        int64_t id = create_run(f->urls[i], "R");
        snprintf(id_text, sizeof id_text, "%" PRId64, id);
        char *argv[] = {EXAMPLE_RUNTIME_SELECT, (char *)f->urls[i], id_text, "2", NULL};
        assert_int_equal(hb_proc_run(&p, argv, NULL, LIMIT), 0);
        snprintf(want, sizeof want, "beat 2 run %s: server holds R\n", id_text);
        expect_out(&p, want);
    }
}
#endif

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_admin_commands, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_with_increment, setup_fast_reaper, teardown),
        cmocka_unit_test_setup_teardown(test_beat_with_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_beat_with_interval_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_status_reaches_running_beats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_beat_on_an_ended_run_stops_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_beat_on_an_unknown_run_gives_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_lost_and_regained, setup_no_reaper, teardown),
#ifdef EXAMPLE_RUNTIME_SELECT
        cmocka_unit_test_setup_teardown(test_runtime_select_example, setup, teardown),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
