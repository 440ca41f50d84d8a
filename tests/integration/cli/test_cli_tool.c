/*
 * The `hbeat` tool without a server: help, version, usage errors, clear
 * errors for URLs it cannot use, and `hbeat beat` over fake:// (count,
 * JSON, HBEAT_URL, a clean stop on SIGINT and SIGTERM). The tool runs as a
 * child process; every wait is bounded.
 */
#define _POSIX_C_SOURCE 200809L

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "subprocess.h"

#define LIMIT 60.0

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

/* Run the tool with HBEAT_URL unset; @return its exit code. */
static int hbeat(hb_proc *p, char *const argv[])
{
    static const char *const env[] = {"-HBEAT_URL", "-HBEAT_TOKEN", "-HBEAT_TOKEN_FILE", NULL};
    return hb_proc_run(p, argv, env, LIMIT);
}

static void test_help_and_version(void **state)
{
    (void)state;
    hb_proc p;
    char *help[] = {HBEAT_CLI, "--help", NULL};
    assert_int_equal(hbeat(&p, help), 0);
    expect_out(&p, "Usage: hbeat COMMAND");
    expect_out(&p, "Exit status: 0 success; 1 failure");
    expect_out(&p, "HBEAT_URL");

    char *beat_help[] = {HBEAT_CLI, "beat", "--help", NULL};
    assert_int_equal(hbeat(&p, beat_help), 0);
    expect_out(&p, "Usage: hbeat beat [URL] --run ID");
    expect_out(&p, "--max-failures N");
    expect_out(&p, "--token-file");

    char *help_run[] = {HBEAT_CLI, "help", "run", NULL};
    assert_int_equal(hbeat(&p, help_run), 0);
    expect_out(&p, "hbeat run set-status ID STATUS [--force]");

    char *version[] = {HBEAT_CLI, "--version", NULL};
    assert_int_equal(hbeat(&p, version), 0);
    expect_out(&p, "hbeat " HBEAT_VERSION_TEXT " (library " HBEAT_VERSION_TEXT ")\n");
}

static void expect_usage_error(char *const argv[], const char *in_stderr)
{
    hb_proc p;
    int rc = hbeat(&p, argv);
    if (rc != 2)
        fail_msg("exit %d, want 2; stderr:\n%s", rc, p.err);
    expect_err(&p, in_stderr);
    assert_int_equal(p.out_len, 0);
}

static void test_usage_errors_exit_2(void **state)
{
    (void)state;
    char *none[] = {HBEAT_CLI, NULL};
    expect_usage_error(none, "no command given");
    char *unknown[] = {HBEAT_CLI, "frobnicate", NULL};
    expect_usage_error(unknown, "unknown command \"frobnicate\"");
    char *no_run[] = {HBEAT_CLI, "beat", "fake://", NULL};
    expect_usage_error(no_run, "--run ID is required");
    char *no_url[] = {HBEAT_CLI, "beat", "--run", "1", NULL};
    expect_usage_error(no_url, "no server URL");
    char *bad_run[] = {HBEAT_CLI, "beat", "fake://", "--run", "-3", NULL};
    expect_usage_error(bad_run, "--run: expected a positive integer");
    char *bad_interval[] = {HBEAT_CLI, "beat", "fake://", "--run", "1", "--interval", "-1", NULL};
    expect_usage_error(bad_interval, "--interval: expected a number >= 0");
    char *nan_interval[] = {HBEAT_CLI, "beat", "fake://", "-r", "1", "--interval=nan", NULL};
    expect_usage_error(nan_interval, "--interval");
    char *bad_buffer[] = {HBEAT_CLI, "beat", "fake://", "-r", "1", "--buffer", "0.5", NULL};
    expect_usage_error(bad_buffer, "--buffer: expected a number >= 1");
    char *bad_status[] = {HBEAT_CLI, "beat", "fake://", "-r", "1", "--status", "not valid", NULL};
    expect_usage_error(bad_status, "is not a status");
    char *missing_value[] = {HBEAT_CLI, "beat", "fake://", "--run", NULL};
    expect_usage_error(missing_value, "option --run needs a value");
    char *unknown_opt[] = {HBEAT_CLI, "beat", "fake://", "-r", "1", "--bogus", NULL};
    expect_usage_error(unknown_opt, "unknown option \"--bogus\"");
    char *extra[] = {HBEAT_CLI, "beat", "fake://", "fake://", "-r", "1", NULL};
    expect_usage_error(extra, "unexpected argument");
    char *run_none[] = {HBEAT_CLI, "run", NULL};
    expect_usage_error(run_none, "Usage: hbeat run create");
    char *run_unknown[] = {HBEAT_CLI, "run", "delete", "1", "-u", "fake://", NULL};
    expect_usage_error(run_unknown, "unknown command \"delete\"");
    char *create_no_wf[] = {HBEAT_CLI, "run", "create", "-u", "fake://", NULL};
    expect_usage_error(create_no_wf, "--workflow W is required");
    char *get_no_id[] = {HBEAT_CLI, "run", "get", "-u", "fake://", NULL};
    expect_usage_error(get_no_id, "usage: hbeat run get ID");
    char *set_bad[] = {HBEAT_CLI, "run", "set-status", "1", "", "-u", "fake://", NULL};
    expect_usage_error(set_bad, "is not a status");
    char *run_no_url[] = {HBEAT_CLI, "run", "list", NULL};
    expect_usage_error(run_no_url, "no server URL");
}

/* A URL the tool cannot use says why, with the library's words. */
static void test_unusable_urls(void **state)
{
    (void)state;
    char *unknown[] = {HBEAT_CLI, "beat", "gopher://host", "--run", "1", NULL};
    expect_usage_error(unknown, "hbeat: gopher://host: unknown URL scheme:");
    char *not_url[] = {HBEAT_CLI, "run", "list", "--url", "127.0.0.1:7780", NULL};
    expect_usage_error(not_url, "hbeat: 127.0.0.1:7780: invalid argument:");
#if !CLI_TEST_HAVE_NNG
    char *not_built[] = {HBEAT_CLI, "beat", "nng+tcp://127.0.0.1:7781", "--run", "1", NULL};
    expect_usage_error(not_built, "transport not built in");
#endif
#if !CLI_TEST_HAVE_REST
    char *not_built_rest[] = {HBEAT_CLI, "run", "list", "-u", "http://127.0.0.1:7780/api/v3", NULL};
    expect_usage_error(not_built_rest, "transport not built in");
#endif
}

/* Lines about the lease may come in between when the machine is slow (the
   window is 0.31 s here); the beats must be there, in order, and no more. */
static void test_beat_count_over_fake(void **state)
{
    (void)state;
    hb_proc p;
    char *argv[] = {HBEAT_CLI, "beat", "fake://",    "--run", "3",
                    "--count", "3",    "--interval", "0.1",   NULL};
    assert_int_equal(hbeat(&p, argv), 0);
    const char *b1 = strstr(p.out, "beat 1 run 3: status R\n");
    const char *b2 = strstr(p.out, "beat 2 run 3: status R\n");
    const char *b3 = strstr(p.out, "beat 3 run 3: status R\n");
    assert_true(b1 == p.out && b2 > b1 && b3 > b2);
    assert_int_equal(hb_proc_count_lines(&p, "beat "), 3);
    assert_int_equal(p.err_len, 0);

    /* The status reported is the one asked for; options after the URL or
       before it, in both spellings. */
    char *status[] = {HBEAT_CLI, "beat", "-n", "1", "--status=O", "fake://", "-r", "4", NULL};
    assert_int_equal(hbeat(&p, status), 0);
    assert_string_equal(p.out, "beat 1 run 4: status O\n");
}

static void test_beat_json_and_hbeat_url(void **state)
{
    (void)state;
    hb_proc p;
    char *argv[] = {HBEAT_CLI, "beat", "--run", "5", "-n", "2", "-i", "0.1", "--json", NULL};
    const char *env[] = {"HBEAT_URL=fake://", NULL};
    assert_int_equal(hb_proc_run(&p, argv, env, LIMIT), 0);
    assert_true(strstr(p.out, "{\"event\":\"beat\",\"beat\":1,\"workflow_run_id\":5,\"sent\":\"R\","
                              "\"status\":\"R\"}\n") == p.out);
    expect_out(&p, "{\"event\":\"beat\",\"beat\":2,\"workflow_run_id\":5,\"sent\":\"R\","
                   "\"status\":\"R\"}\n");
    assert_int_equal(hb_proc_count_lines(&p, "{\"event\":\"beat\","), 2);
    assert_int_equal(hb_proc_count_lines(&p, "{"), hb_proc_count_lines(&p, ""));
}

static void test_beat_stats(void **state)
{
    (void)state;
    hb_proc p;
    char *argv[] = {HBEAT_CLI, "beat", "fake://", "-r",      "2", "-n",
                    "2",       "-i",   "0.1",     "--stats", NULL};
    assert_int_equal(hbeat(&p, argv), 0);
    expect_out(&p, "beat 2 run 2: status R\n");
    expect_out(&p,
               "\nstats run 2: 2 sent, 2 answered, 0 failed, 0 status changes; round trip min ");
    assert_int_equal(p.out[p.out_len - 1], '\n');
    assert_non_null(strstr(strstr(p.out, "\nstats run"), " ms\n"));

    char *json[] = {HBEAT_CLI, "beat", "fake://", "-r", "2", "-n", "1", "--stats", "--json", NULL};
    assert_int_equal(hbeat(&p, json), 0);
    expect_out(&p, "{\"event\":\"stats\",\"workflow_run_id\":2,\"sent\":1,\"answered\":1,"
                   "\"failed\":0,\"status_changes\":0,\"rtt_min\":");
}

/* Without --count the tool beats until a signal, then exits 0. */
static void stop_with(int sig)
{
    hb_proc p;
    char *argv[] = {HBEAT_CLI, "beat", "fake://", "--run", "6", "--interval", "0.1", NULL};
    assert_int_equal(hb_proc_start(&p, argv, NULL), 0);
    assert_int_equal(hb_proc_wait_for(&p, "beat 3 run 6: status R\n", LIMIT), 0);
    hb_proc_signal(&p, sig);
    int rc = hb_proc_wait_exit(&p, LIMIT);
    if (rc != 0)
        fail_msg("exit %d after signal %d; stderr:\n%s", rc, sig, p.err);
    /* Every line is whole: the tool did not die mid-line. */
    assert_int_equal(p.out[p.out_len - 1], '\n');
    hb_proc_cleanup(&p);
}

static void test_sigterm_stops_cleanly(void **state)
{
    (void)state;
    stop_with(SIGTERM);
}

static void test_sigint_stops_cleanly(void **state)
{
    (void)state;
    stop_with(SIGINT);
}

/* fake:// has no admin calls: a failure (1), said plainly. */
static void test_admin_over_a_transport_without_it(void **state)
{
    (void)state;
    hb_proc p;
    char *argv[] = {HBEAT_CLI, "run", "get", "1", "--url", "fake://", NULL};
    assert_int_equal(hbeat(&p, argv), 1);
    expect_err(&p, "the fake transport has no admin calls");
}

static int kill_children(void **state)
{
    (void)state;
    hb_proc_kill_all();
    return 0;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_help_and_version, kill_children),
        cmocka_unit_test_teardown(test_usage_errors_exit_2, kill_children),
        cmocka_unit_test_teardown(test_unusable_urls, kill_children),
        cmocka_unit_test_teardown(test_beat_count_over_fake, kill_children),
        cmocka_unit_test_teardown(test_beat_json_and_hbeat_url, kill_children),
        cmocka_unit_test_teardown(test_beat_stats, kill_children),
        cmocka_unit_test_teardown(test_sigterm_stops_cleanly, kill_children),
        cmocka_unit_test_teardown(test_sigint_stops_cleanly, kill_children),
        cmocka_unit_test_teardown(test_admin_over_a_transport_without_it, kill_children),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
