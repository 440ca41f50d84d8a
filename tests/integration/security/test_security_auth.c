/*
 * Tokens and rights against the real hbeatd, over both protocols (nng's
 * Request.token, REST's Authorization: Bearer): no token or a wrong one
 * is refused (HBEAT_EAUTH: 401 with WWW-Authenticate / UNAUTHENTICATED), a
 * client token is refused every admin call (HBEAT_EFORBIDDEN: 403 /
 * PERMISSION_DENIED), and no refused request changes any run. SIGHUP
 * reloads the token file; a broken file keeps the old tokens. No token
 * ever reaches the log. Without a token file hbeatd listens on loopback
 * only (unless --allow-remote) and says that authentication is off. The
 * `hbeat` tool takes --token, --token-file and HBEAT_TOKEN.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "hbeat/hbeat.h"
#include "integration/security/sec_support.h"
#include "subprocess.h"

#define TIMEOUT 5.0

static const char CLIENT[] = "client-token-0123456789abcdef";
static const char OPERATOR[] = "operator-token-0123456789abcdef";
static const char WRONG[] = "wrong-token-0123456789abcdef";
static const char NEW_OPERATOR[] = "new-operator-token-0123456789abcdef";

typedef struct fixture {
    hbd_harness h;
    char dir[128];
    char tokens[256];
    char rest_url[300];
    int64_t runs[3];
} fixture;

static void write_tokens(fixture *f, const char *text)
{
    assert_int_equal(sec_write_file(f->tokens, text), 0);
}

/* hbeatd with a token file holding CLIENT and OPERATOR, and three runs. */
static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/hbeat-auth-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->tokens, sizeof f->tokens, "%s/tokens", f->dir);
    char text[512];
    snprintf(text, sizeof text, "# hbeatd tokens\n\nclient %s\n  operator\t%s  \n", CLIENT,
             OPERATOR);
    write_tokens(f, text);
    const char *args[] = {"--token-file", f->tokens, NULL};
    assert_int_equal(hbd_harness_start(&f->h, args), 0);
    snprintf(f->rest_url, sizeof f->rest_url, "%s", f->h.rest_url);
    hbeat_gateway *op = sec_open(f->h.nng_tcp_url, OPERATOR, NULL, TIMEOUT);
    for (int i = 0; i < 3; i++) {
        hbeat_run_info run;
        assert_int_equal(hbeat_run_create(op, 10 + i, "R", &run, NULL), 0);
        f->runs[i] = run.workflow_run_id;
        char status[HBEAT_STATUS_MAX + 1];
        assert_int_equal(
            hbeat_gateway_log_heartbeat(op, run.workflow_run_id, "R", 600.0, status, NULL), 0);
    }
    hbeat_gateway_free(op);
    *state = f;
    return 0;
}

/* No token, wrong or right, ever appears in the log. */
static void assert_no_token_logged(const fixture *f)
{
    const char *all[] = {CLIENT, OPERATOR, WRONG, NEW_OPERATOR};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (sec_log_contains(&f->h, all[i]))
            fail_msg("hbeatd's log holds a token: %s", all[i]);
    }
}

static int teardown(void **state)
{
    fixture *f = *state;
    assert_no_token_logged(f);
    assert_int_equal(hbd_harness_stop(&f->h), 0);
    hbd_harness_cleanup(&f->h);
    unlink(f->tokens);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Every run as the operator sees it. */
typedef struct snapshot {
    hbeat_run_info *runs;
    size_t n;
} snapshot;

static void take(const fixture *f, snapshot *s)
{
    hbeat_gateway *op = sec_open(f->h.nng_tcp_url, OPERATOR, NULL, TIMEOUT);
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_run_list(op, NULL, &s->runs, &s->n, &err);
    if (rc != 0)
        fail_msg("list as operator: %s", err.message);
    hbeat_gateway_free(op);
}

static void assert_same(const snapshot *a, const snapshot *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_int_equal(a->runs[i].workflow_run_id, b->runs[i].workflow_run_id);
        assert_int_equal(a->runs[i].workflow_id, b->runs[i].workflow_id);
        assert_string_equal(a->runs[i].status, b->runs[i].status);
        assert_true(a->runs[i].deadline == b->runs[i].deadline);
        assert_true(a->runs[i].last_heartbeat == b->runs[i].last_heartbeat);
        assert_int_equal(a->runs[i].beats, b->runs[i].beats);
    }
}

static void release(snapshot *s)
{
    hbeat_run_list_free(s->runs);
    s->runs = NULL;
}

/* `token` makes every call in [first, last] on `url` fail with `code`. */
static void expect_calls(const char *url, const char *token, int first, int last, int code,
                         int64_t run)
{
    hbeat_gateway *gw = sec_open(url, token, NULL, TIMEOUT);
    for (int c = first; c <= last; c++) {
        hbeat_error err = HBEAT_ERROR_INIT;
        int rc = sec_call(gw, c, run, &err);
        if (rc != code)
            fail_msg("%s over %s with token %s: expected %s, got %s: %s", sec_call_names[c], url,
                     token != NULL ? token : "(none)", hbeat_strerror(code), hbeat_strerror(rc),
                     err.message);
        /* The reply never echoes the token. */
        if (token != NULL && strstr(err.message, token) != NULL)
            fail_msg("%s: the error message echoes the token: %s", sec_call_names[c], err.message);
    }
    hbeat_gateway_free(gw);
}

static void test_no_token_or_wrong_token(void **state)
{
    fixture *f = *state;
    snapshot before, after;
    take(f, &before);
    const char *urls[] = {f->h.nng_tcp_url, f->h.nng_ipc_url, f->rest_url};
    const char *tokens[] = {NULL, WRONG, "client-token-0123456789abcdeX", "client"};
    for (size_t u = 0; u < 3; u++) {
        for (size_t t = 0; t < sizeof tokens / sizeof tokens[0]; t++)
            expect_calls(urls[u], tokens[t], C_BEAT, C_SET, HBEAT_EAUTH, f->runs[0]);
    }
    take(f, &after);
    assert_same(&before, &after);
    release(&before);
    release(&after);
    assert_true(sec_log_contains(&f->h, "refused: a valid token is required"));
}

static void test_client_token_has_no_admin_rights(void **state)
{
    fixture *f = *state;
    snapshot before, after;
    take(f, &before);
    const char *urls[] = {f->h.nng_tcp_url, f->rest_url};
    for (size_t u = 0; u < 2; u++)
        expect_calls(urls[u], CLIENT, C_CREATE, C_SET, HBEAT_EFORBIDDEN, f->runs[1]);
    take(f, &after);
    assert_same(&before, &after);
    release(&after);

    /* What a client may do it can: the comparison above would see it. */
    for (size_t u = 0; u < 2; u++) {
        hbeat_gateway *gw = sec_open(urls[u], CLIENT, NULL, TIMEOUT);
        char status[HBEAT_STATUS_MAX + 1];
        hbeat_error err = HBEAT_ERROR_INIT;
        if (hbeat_gateway_log_heartbeat(gw, f->runs[1], "R", 3600.0, status, &err) != 0)
            fail_msg("client heartbeat over %s: %s", urls[u], err.message);
        assert_string_equal(status, "R");
        hbeat_gateway_free(gw);
    }
    take(f, &after);
    assert_int_equal(after.runs[1].beats, before.runs[1].beats + 2);
    release(&before);
    release(&after);

    hbeat_gateway *gw = sec_open(f->rest_url, CLIENT, NULL, TIMEOUT);
    char status[HBEAT_STATUS_MAX + 1];
    assert_int_equal(hbeat_gateway_update_status(gw, f->runs[2], "D", status, NULL), 0);
    assert_string_equal(status, "D");
    hbeat_gateway_free(gw);
}

static void test_operator_token_may_do_everything(void **state)
{
    fixture *f = *state;
    const char *urls[] = {f->h.nng_tcp_url, f->rest_url};
    for (size_t u = 0; u < 2; u++)
        expect_calls(urls[u], OPERATOR, C_BEAT, C_SET, 0, f->runs[0]);
}

/* What a REST client sees on the wire. */
static void test_rest_status_codes_and_headers(void **state)
{
    fixture *f = *state;
    int port = sec_ready_port(&f->h, "http http://");
    assert_true(port > 0);
    char reply[8192];
    char req[512];

    assert_true(
        sec_http(port, "GET /api/v3/runs HTTP/1.1\r\nHost: x\r\n\r\n", reply, sizeof reply) > 0);
    assert_non_null(strstr(reply, "HTTP/1.1 401"));
    assert_non_null(strstr(reply, "WWW-Authenticate: Bearer"));
    assert_non_null(strstr(reply, "\"Unauthorized\""));

    snprintf(req, sizeof req,
             "GET /api/v3/runs HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\n\r\n", OPERATOR);
    assert_true(sec_http(port, req, reply, sizeof reply) > 0);
    assert_non_null(strstr(reply, "HTTP/1.1 401"));
    assert_null(strstr(reply, OPERATOR));

    snprintf(req, sizeof req,
             "GET /api/v3/runs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", WRONG);
    assert_true(sec_http(port, req, reply, sizeof reply) > 0);
    assert_non_null(strstr(reply, "HTTP/1.1 401"));
    assert_null(strstr(reply, WRONG));

    snprintf(req, sizeof req,
             "GET /api/v3/runs HTTP/1.1\r\nHost: x\r\nAuthorization: bearer   %s\r\n\r\n", CLIENT);
    assert_true(sec_http(port, req, reply, sizeof reply) > 0);
    assert_non_null(strstr(reply, "HTTP/1.1 403"));
    assert_non_null(strstr(reply, "\"Forbidden\""));

    snprintf(req, sizeof req,
             "GET /api/v3/runs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
             "Connection: close\r\n\r\n",
             OPERATOR);
    assert_true(sec_http(port, req, reply, sizeof reply) > 0);
    assert_non_null(strstr(reply, "HTTP/1.1 200"));

    /* Refused on its headers: a large body is never read (the answer comes
       although the body is never sent). */
    assert_true(sec_http(port,
                         "POST /api/v3/workflow_run/1/log_heartbeat HTTP/1.1\r\nHost: x\r\n"
                         "Content-Type: application/json\r\nContent-Length: 60000\r\n\r\n",
                         reply, sizeof reply) > 0);
    assert_non_null(strstr(reply, "HTTP/1.1 401"));

    /* The metrics and the status page need a token too. */
    assert_true(sec_http(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", reply, sizeof reply) >
                0);
    assert_non_null(strstr(reply, "HTTP/1.1 401"));
}

static void test_sighup_reloads_tokens(void **state)
{
    fixture *f = *state;
    char text[512];
    snprintf(text, sizeof text, "client %s\noperator %s\n", CLIENT, NEW_OPERATOR);
    write_tokens(f, text);
    kill(f->h.pid, SIGHUP);
    assert_int_equal(sec_log_wait(&f->h, "reloaded tokens from", 10.0), 0);
    expect_calls(f->h.nng_tcp_url, NEW_OPERATOR, C_LIST, C_LIST, 0, 0);
    expect_calls(f->rest_url, NEW_OPERATOR, C_LIST, C_LIST, 0, 0);
    expect_calls(f->h.nng_tcp_url, OPERATOR, C_LIST, C_LIST, HBEAT_EAUTH, 0);
    expect_calls(f->rest_url, OPERATOR, C_LIST, C_LIST, HBEAT_EAUTH, 0);

    /* A broken file: the tokens in force stay in force. */
    snprintf(text, sizeof text, "operator %s\nsuperuser %s\n", OPERATOR, WRONG);
    write_tokens(f, text);
    kill(f->h.pid, SIGHUP);
    assert_int_equal(sec_log_wait(&f->h, "keeping the tokens in force", 10.0), 0);
    assert_true(sec_log_contains(&f->h, "line 2"));
    expect_calls(f->h.nng_tcp_url, NEW_OPERATOR, C_LIST, C_LIST, 0, 0);
    expect_calls(f->h.nng_tcp_url, OPERATOR, C_LIST, C_LIST, HBEAT_EAUTH, 0);

    /* A vanished file likewise. */
    unlink(f->tokens);
    kill(f->h.pid, SIGHUP);
    assert_int_equal(sec_log_wait(&f->h, "No such file or directory; keeping", 10.0), 0);
    expect_calls(f->rest_url, NEW_OPERATOR, C_LIST, C_LIST, 0, 0);
}

/* The `hbeat` tool: --token, --token-file, HBEAT_TOKEN. */
static int run_tool(const char *url, const char *const *extra, const char *env_token, hb_proc *p)
{
    char *argv[16];
    int n = 0;
    argv[n++] = HBEAT_CLI;
    argv[n++] = "run";
    argv[n++] = "list";
    argv[n++] = "--url";
    argv[n++] = (char *)url;
    for (; extra != NULL && *extra != NULL; extra++)
        argv[n++] = (char *)*extra;
    argv[n] = NULL;
    char env[128];
    snprintf(env, sizeof env, "HBEAT_TOKEN=%s", env_token != NULL ? env_token : "");
    const char *changes[] = {env_token != NULL ? env : "-HBEAT_TOKEN", "-HBEAT_TOKEN_FILE",
                             "-HBEAT_URL", NULL};
    assert_int_equal(hb_proc_start(p, argv, changes), 0);
    int rc = hb_proc_wait_exit(p, 30.0);
    return rc;
}

static void test_tool_takes_tokens(void **state)
{
    fixture *f = *state;
    char file[300];
    snprintf(file, sizeof file, "%s/mytoken", f->dir);
    assert_int_equal(sec_write_file(file, OPERATOR), 0);
    const char *urls[] = {f->h.nng_tcp_url, f->rest_url};
    for (int u = 0; u < 2; u++) {
        hb_proc p;
        assert_int_equal(run_tool(urls[u], NULL, NULL, &p), 1);
        assert_non_null(strstr(p.err, "authentication"));
        hb_proc_cleanup(&p);

        const char *with_token[] = {"--token", OPERATOR, NULL};
        assert_int_equal(run_tool(urls[u], with_token, NULL, &p), 0);
        hb_proc_cleanup(&p);

        const char *with_file[] = {"--token-file", file, NULL};
        assert_int_equal(run_tool(urls[u], with_file, NULL, &p), 0);
        hb_proc_cleanup(&p);

        assert_int_equal(run_tool(urls[u], NULL, OPERATOR, &p), 0);
        hb_proc_cleanup(&p);

        assert_int_equal(run_tool(urls[u], NULL, CLIENT, &p), 1);
        assert_non_null(strstr(p.err, "permission denied"));
        hb_proc_cleanup(&p);

        /* The option beats the environment. */
        assert_int_equal(run_tool(urls[u], with_token, CLIENT, &p), 0);
        hb_proc_cleanup(&p);
    }
    unlink(file);
}

/* hbeatd run directly: its exit code and what it said. */
static int run_hbeatd(const char *const *args, hb_proc *p)
{
    char *argv[24];
    int n = 0;
    argv[n++] = HBEATD_BIN;
    for (; *args != NULL; args++)
        argv[n++] = (char *)*args;
    argv[n] = NULL;
    const char *changes[] = {"-HBEATD_LISTEN", "-HBEATD_HTTP", "-HBEATD_TOKEN_FILE", "-HBEATD_DB",
                             NULL};
    assert_int_equal(hb_proc_start(p, argv, changes), 0);
    return hb_proc_wait_exit(p, 30.0);
}

static void test_loopback_only_without_tokens(void **state)
{
    (void)state;
    const char *const refused[][8] = {
        {"--listen", "tcp://0.0.0.0:0", "--http", "none", "--db", ":memory:", NULL},
        {"--listen", "tcp://[::]:0", "--http", "none", "--db", ":memory:", NULL},
        {"--listen", "tcp://*:0", "--http", "none", "--db", ":memory:", NULL},
        {"--listen", "tcp://192.0.2.1:0", "--http", "none", "--db", ":memory:", NULL},
        {"--listen", "ipc:///tmp/x.sock", "--http", "0.0.0.0:0", "--db", ":memory:", NULL},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        hb_proc p;
        int rc = run_hbeatd(refused[i], &p);
        if (rc != 2)
            fail_msg("hbeatd %s %s %s %s: exit %d, wanted 2: %s", refused[i][0], refused[i][1],
                     refused[i][2], refused[i][3], rc, p.err);
        assert_non_null(strstr(p.err, "not a loopback address"));
        assert_non_null(strstr(p.err, "--token-file"));
        assert_non_null(strstr(p.err, "--allow-remote"));
        hb_proc_cleanup(&p);
    }

    /* Loopback: fine, and it says that authentication is off. */
    hbd_harness h;
    assert_int_equal(hbd_harness_start(&h, NULL), 0);
    assert_true(sec_log_contains(&h, "warn  authentication is off"));
    assert_int_equal(hbd_harness_stop(&h), 0);
    hbd_harness_cleanup(&h);

    /* --allow-remote: told otherwise, it listens, and still warns. */
    const char *remote[] = {"--listen", "tcp://0.0.0.0:0", "--allow-remote", NULL};
    assert_int_equal(hbd_harness_start(&h, remote), 0);
    assert_true(sec_log_contains(&h, "authentication is off"));
    assert_true(sec_log_contains(&h, "--allow-remote"));
    assert_int_equal(hbd_harness_stop(&h), 0);
    hbd_harness_cleanup(&h);
}

static void test_remote_with_tokens(void **state)
{
    fixture *f = *state;
    /* A token file is enough to listen beyond loopback; plain TCP there
       is worth a warning. */
    hbd_harness h;
    const char *args[] = {"--token-file", f->tokens, "--listen", "tcp://0.0.0.0:0", NULL};
    assert_int_equal(hbd_harness_start(&h, args), 0);
    assert_false(sec_log_contains(&h, "authentication is off"));
    assert_true(sec_log_contains(&h, "clear text"));
    assert_int_equal(hbd_harness_stop(&h), 0);
    hbd_harness_cleanup(&h);
}

static void test_bad_token_files_refused_at_start(void **state)
{
    fixture *f = *state;
    char path[300];
    snprintf(path, sizeof path, "%s/bad-tokens", f->dir);
    const char *bad[] = {
        "admin sometoken-0123456789abc\n",    /* unknown right */
        "client\n",                           /* no token */
        "client short\n",                     /* too short */
        "client two words-0123456789 here\n", /* a space inside */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(sec_write_file(path, bad[i]), 0);
        hb_proc p;
        const char *args[] = {
            "--token-file", path,       "--listen", "tcp://127.0.0.1:0", "--http", "none",
            "--db",         ":memory:", NULL};
        int rc = run_hbeatd(args, &p);
        if (rc != 2)
            fail_msg("token file %zu: exit %d, wanted 2: %s", i, rc, p.err);
        assert_non_null(strstr(p.err, "line 1"));
        /* The offending line is not quoted: it may hold a secret. */
        assert_null(strstr(p.err, "0123456789"));
        hb_proc_cleanup(&p);
    }
    unlink(path);
    const char *missing[] = {
        "--token-file", "/nonexistent/tokens", "--http", "none", "--db", ":memory:", NULL};
    hb_proc p;
    assert_int_equal(run_hbeatd(missing, &p), 2);
    assert_non_null(strstr(p.err, "/nonexistent/tokens"));
    hb_proc_cleanup(&p);
}

/* A FIFO as the token file: opening one used to block
   until a writer came. At start hbeatd now exits 2 at once, saying why; on
   SIGHUP it keeps the tokens in force, and SIGTERM still stops it (the
   main loop that reloads is also the one that stops). */
static void test_a_fifo_as_token_file(void **state)
{
    (void)state;
    char dir[64] = "/tmp/hbeat-fifo-XXXXXX", tokens[128], fifo[128];
    assert_non_null(mkdtemp(dir));
    snprintf(tokens, sizeof tokens, "%s/tokens", dir);
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);

    const char *args[] = {
        "--token-file", fifo,       "--listen", "tcp://127.0.0.1:0", "--http", "none",
        "--db",         ":memory:", NULL};
    char *argv[16];
    int n = 0;
    argv[n++] = HBEATD_BIN;
    for (const char *const *a = args; *a != NULL; a++)
        argv[n++] = (char *)*a;
    argv[n] = NULL;
    const char *changes[] = {"-HBEATD_LISTEN", "-HBEATD_HTTP", "-HBEATD_TOKEN_FILE", "-HBEATD_DB",
                             NULL};
    hb_proc p;
    assert_int_equal(hb_proc_start(&p, argv, changes), 0);
    int rc = hb_proc_wait_exit(&p, 10.0);
    if (rc != 2 || strstr(p.err, "not a regular file (a FIFO)") == NULL)
        fail_msg("hbeatd with a FIFO as token file: exit %d (-1: still running after 10 s), "
                 "wanted 2: %s",
                 rc, p.err);
    hb_proc_cleanup(&p);

    char text[512];
    snprintf(text, sizeof text, "client %s\noperator %s\n", CLIENT, OPERATOR);
    assert_int_equal(sec_write_file(tokens, text), 0);
    hbd_harness h;
    const char *hargs[] = {"--token-file", tokens, NULL};
    assert_int_equal(hbd_harness_start(&h, hargs), 0);
    assert_int_equal(rename(fifo, tokens), 0);
    kill(h.pid, SIGHUP);
    assert_int_equal(
        sec_log_wait(&h, "not a regular file (a FIFO); keeping the tokens in force", 10.0), 0);
    expect_calls(h.nng_tcp_url, OPERATOR, C_LIST, C_LIST, 0, 0);
    expect_calls(h.rest_url, OPERATOR, C_LIST, C_LIST, 0, 0);
    double t0 = sec_now();
    assert_int_equal(hbd_harness_stop(&h), 0);
    assert_true(sec_now() - t0 < 5.0);
    hbd_harness_cleanup(&h);
    unlink(tokens);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_no_token_or_wrong_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_token_has_no_admin_rights, setup, teardown),
        cmocka_unit_test_setup_teardown(test_operator_token_may_do_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rest_status_codes_and_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sighup_reloads_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tool_takes_tokens, setup, teardown),
        cmocka_unit_test(test_loopback_only_without_tokens),
        cmocka_unit_test_setup_teardown(test_remote_with_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_token_files_refused_at_start, setup, teardown),
        cmocka_unit_test(test_a_fifo_as_token_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
