/*
 * The `hbeat` tool against the scripted REST peer (tests/support/rest_peer.h):
 * the client_jobmon_version it sends ($HBEAT_CLIENT_JOBMON_VERSION,
 * --client-jobmon-version, the default), how it prints the reason of
 * Jobmon's error replies, and the first deadline `run create` asks for. The tool runs as a child
 * process; every wait is bounded.
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
#include "support/rest_peer.h"

#define LIMIT 60.0

static int setup(void **state)
{
    *state = peer_start();
    return 0;
}

static int teardown(void **state)
{
    hb_proc_kill_all();
    peer_stop(*state);
    return 0;
}

static void expect_err(const hb_proc *p, const char *needle)
{
    if (!strstr(p->err, needle))
        fail_msg("stderr lacks \"%s\"; stderr:\n%s", needle, p->err);
}

/* One beat of run 4 with `env` and, when not NULL, the flag; the query
   the peer saw. */
static int beat_once(peer *pr, const char *const env[], const char *flag_value, hb_proc *p,
                     char query[1024])
{
    int first = peer_request_count(pr);
    char *argv[] = {HBEAT_CLI,
                    "beat",
                    (char *)peer_url(pr),
                    "--run",
                    "4",
                    "--count",
                    "1",
                    flag_value != NULL ? "--client-jobmon-version" : NULL,
                    (char *)flag_value,
                    NULL};
    int rc = hb_proc_run(p, argv, env, LIMIT);
    peer_request r;
    query[0] = '\0';
    if (peer_get(pr, first, &r) == 0)
        memcpy(query, r.query, sizeof(r.query));
    return rc;
}

static void test_default_version(void **state)
{
    static const char *const env[] = {"-HBEAT_URL", "-HBEAT_CLIENT_JOBMON_VERSION", NULL};
    hb_proc p;
    char query[1024];
    assert_int_equal(beat_once(*state, env, NULL, &p, query), 0);
    assert_string_equal(query, "client_jobmon_version=" HBEAT_VERSION_TEXT);
}

static void test_version_from_the_environment(void **state)
{
    static const char *const env[] = {"-HBEAT_URL", "HBEAT_CLIENT_JOBMON_VERSION=3.6.0", NULL};
    hb_proc p;
    char query[1024];
    assert_int_equal(beat_once(*state, env, NULL, &p, query), 0);
    assert_string_equal(query, "client_jobmon_version=3.6.0");
}

/* The flag beats the environment; what a query cannot carry is escaped. */
static void test_flag_beats_the_environment(void **state)
{
    static const char *const env[] = {"-HBEAT_URL", "HBEAT_CLIENT_JOBMON_VERSION=3.6.0", NULL};
    hb_proc p;
    char query[1024];
    assert_int_equal(beat_once(*state, env, "3.5.1 rc&x", &p, query), 0);
    assert_string_equal(query, "client_jobmon_version=3.5.1%20rc%26x");
}

static void test_bad_version_is_a_usage_error(void **state)
{
    static const char *const env[] = {"-HBEAT_URL", NULL};
    static const char *const bad_env[] = {"-HBEAT_URL", "HBEAT_CLIENT_JOBMON_VERSION=3.6\t0", NULL};
    hb_proc p;
    char query[1024];
    assert_int_equal(beat_once(*state, env, "", &p, query), 2);
    expect_err(&p, "client_jobmon_version is empty");
    assert_int_equal(beat_once(*state, bad_env, NULL, &p, query), 2);
    expect_err(&p, "client_jobmon_version has a control character");
    assert_int_equal(peer_request_count(*state), 0);
}

/* Jobmon's reason reaches the person in full, from both commands. */
static void test_jobmon_error_reason_is_printed_whole(void **state)
{
    peer *pr = *state;
    peer_push_reply(pr, 500, "application/custom+json",
                    "{\"error\":{\"type\":\"<class 'sqlalchemy.exc.NoResultFound'>\","
                    "\"exception_message\":\"No row was found when one was required\","
                    "\"status_code\":\"500\"}}",
                    1);
    static const char *const env[] = {"-HBEAT_URL", NULL};
    hb_proc p;
    char *beat[] = {HBEAT_CLI, "beat", (char *)peer_url(pr), "--run", "4", "--max-failures",
                    "1",       NULL};
    assert_int_equal(hb_proc_run(&p, beat, env, LIMIT), 1);
    expect_err(&p, "beat 1 run 4 failed: server error: rest: HTTP 500 from POST "
                   "/api/v3/workflow_run/4/log_heartbeat: NoResultFound: No row was found when "
                   "one was required\n");

    peer_push_reply(pr, 404, "application/json",
                    "{\"error\":{\"type\":\"NotFound\",\"exception_message\":\"no workflow run "
                    "77\",\"status_code\":\"404\"}}",
                    0);
    char *get[] = {HBEAT_CLI, "run", "get", "77", "--url", (char *)peer_url(pr), NULL};
    assert_int_equal(hb_proc_run(&p, get, env, LIMIT), 1);
    expect_err(&p, "hbeat: run 77: not found: rest: HTTP 404 from GET /api/v3/runs/77: NotFound: "
                   "no workflow run 77\n");
}

/* `run create`: the first deadline the tool asks for (93 s by default,
   --increment, none), and a warning when the server ignored it (an
   hbeatd older than the field answers with no deadline). */
static void test_run_create_increment(void **state)
{
    peer *pr = *state;
    static const char *const env[] = {"-HBEAT_URL", NULL};
    static const char no_deadline[] =
        "{\"run\":{\"workflow_run_id\":12,\"workflow_id\":7,\"status\":\"G\","
        "\"deadline\":0.0,\"last_heartbeat\":0.0,\"beats\":0}}";
    static const char with_deadline[] =
        "{\"run\":{\"workflow_run_id\":13,\"workflow_id\":7,\"status\":\"G\","
        "\"deadline\":1764280093.0,\"last_heartbeat\":0.0,\"beats\":0}}";
    hb_proc p;
    peer_request r;

    peer_push_reply(pr, 200, "application/json", with_deadline, 0);
    char *plain[] = {HBEAT_CLI, "run", "create", "-w", "7", "-u", (char *)peer_url(pr), NULL};
    assert_int_equal(hb_proc_run(&p, plain, env, LIMIT), 0);
    assert_int_equal(p.err_len, 0);
    assert_int_equal(peer_get(pr, 0, &r), 0);
    assert_string_equal(r.body,
                        "{\"workflow_id\": 7, \"status\": \"G\", \"next_report_increment\": "
                        "93.0}");

    peer_push_reply(pr, 200, "application/json", no_deadline, 0);
    char *given[] = {
        HBEAT_CLI, "run", "create", "-w", "7", "--increment", "12.5", "-u", (char *)peer_url(pr),
        NULL};
    assert_int_equal(hb_proc_run(&p, given, env, LIMIT), 0);
    assert_int_equal(peer_get(pr, 1, &r), 0);
    assert_non_null(strstr(r.body, "\"next_report_increment\": 12.5}"));
    expect_err(&p, "hbeat: warning: the server gave run 12 no deadline (an hbeatd older than "
                   "this tool ignores --increment)");

    peer_push_reply(pr, 200, "application/json", no_deadline, 0);
    char *none[] = {
        HBEAT_CLI, "run", "create", "-w", "7", "--increment", "none", "-u", (char *)peer_url(pr),
        NULL};
    assert_int_equal(hb_proc_run(&p, none, env, LIMIT), 0);
    assert_int_equal(peer_get(pr, 2, &r), 0);
    assert_string_equal(r.body, "{\"workflow_id\": 7, \"status\": \"G\"}");
    assert_int_equal(p.err_len, 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_default_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_from_the_environment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flag_beats_the_environment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_version_is_a_usage_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_jobmon_error_reason_is_printed_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_create_increment, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
