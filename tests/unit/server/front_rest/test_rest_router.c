/*
 * The REST router and its JSON rules, without HTTP: requests go straight
 * into hbd_rest_route() against the real engine (engine.h) on a fixed
 * clock, over a :memory: store (a temporary file where a test makes the
 * store fail, fault_vfs.h), so every case is deterministic and can check
 * that a refused request changed no run. The front end's log lines are
 * read back from stderr (log_capture.h).
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "log.h"
#include "rest_internal.h"
#include "support/engine_wait.h"
#include "support/fault_vfs.h"
#include "support/log_capture.h"
#include "support/rest_cases.h"

/* The engine's clock: every heartbeat happens at this Unix time. */
#define FAKE_NOW 1764280000.0

static hbd_engine *eng;
static hbd_rest_reply reply;
/* The store's file; "" while the store is in memory. */
static char db_path[64];

static double fake_clock(void *arg)
{
    (void)arg;
    return FAKE_NOW;
}

/* Opens `eng` over `path` (":memory:" or a file); 0 or -1. */
static int open_engine(const char *path)
{
    hbd_engine_options o;
    memset(&o, 0, sizeof o);
    o.db_path = path;
    o.reap_interval = 0; /* no reaper thread: only requests change runs */
    o.clock = fake_clock;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbd_engine_open(&eng, &o, &err) != 0) {
        fprintf(stderr, "hbd_engine_open %s: %s\n", path, err.message);
        return -1;
    }
    return 0;
}

static void remove_store(void)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; db_path[0] != '\0' && i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char p[96];
        snprintf(p, sizeof p, "%s%s", db_path, suffixes[i]);
        unlink(p);
    }
    db_path[0] = '\0';
}

/* Moves the tests onto a store in a temporary file, whose writes
   fault_vfs.h can fail (an in-memory store writes no file). */
static void store_in_file(void)
{
    hbd_engine_close(eng);
    eng = NULL;
    snprintf(db_path, sizeof db_path, "/tmp/hbd-rest-router-XXXXXX");
    int fd = mkstemp(db_path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(open_engine(db_path), 0);
}

/* A new run of `workflow_id` in `status`, durable; its id. The engine
   creates a run in any status, with no deadline and no beat yet. */
static int64_t add_run(int64_t workflow_id, const char *status)
{
    hbd_run run;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbd_engine_create_run(eng, workflow_id, status, NULL, &run, &err) != 0)
        fail_msg("create_run: %s", err.message);
    return run.id;
}

static hbd_run get_run(int64_t id)
{
    hbd_run run;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbd_engine_get_run(eng, id, &run, &err) != 0)
        fail_msg("get_run %lld: %s", (long long)id, err.message);
    return run;
}

/* Every run, for a before/after comparison (free()). */
static hbd_run *snapshot(size_t *count)
{
    hbd_run *runs;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbd_engine_list_all(eng, &runs, count, &err) != 0)
        fail_msg("list_runs: %s", err.message);
    return runs;
}

/* ---- the front end's log ----
   stderr is captured around each request routed, and the front end's
   lines ("rest: ...") are kept. The level stays at warn, where the front
   end writes every line it has (rest_reply.c); the engine's info lines
   about the runs the tests make would only clutter the output, and do
   not count. */
static unsigned int log_lines;
static char log_text[8192]; /* the lines since log_reset, as many as fit */
static char log_last[1024];

static void log_reset(void)
{
    /* These tests count the lines of single requests; the limiter has
       tests of its own (tests/unit/server/log/test_log_limit.c). */
    hbd_log_limit_configure(1e9, 0);
    log_lines = 0;
    log_text[0] = '\0';
    log_last[0] = '\0';
}

static void log_keep(const char *text)
{
    while (*text != '\0') {
        size_t len = strcspn(text, "\n");
        char line[sizeof log_last];
        snprintf(line, sizeof line, "%.*s", (int)len, text);
        if (strstr(line, " rest: ") != NULL) {
            log_lines++;
            memcpy(log_last, line, sizeof line);
            size_t used = strlen(log_text);
            snprintf(log_text + used, sizeof log_text - used, "%s\n", line);
        }
        text += len + (text[len] == '\n');
    }
}

/* Query parameters of the request being routed, %XX-decoded. */
static char query_keys[8][64], query_vals[8][256];
static int query_n;

static const char *query_get(void *ctx, const char *key)
{
    for (int i = 0; i < query_n; i++) {
        if (strcmp(query_keys[i], key) == 0)
            return query_vals[i];
    }
    return NULL;
}

static void decode(char *dst, size_t cap, const char *src, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n + 1 < cap; i++) {
        unsigned int c;
        if (src[i] == '%' && i + 2 < len && sscanf(src + i + 1, "%2x", &c) == 1) {
            dst[n++] = (char)c;
            i += 2;
        } else {
            dst[n++] = src[i];
        }
    }
    dst[n] = '\0';
}

/* Routes one request ("path?query" allowed); returns the HTTP status. */
static unsigned int route_n(const char *method, const char *path, const char *body, size_t body_len)
{
    char p[8192];
    snprintf(p, sizeof p, "%s", path);
    query_n = 0;
    char *q = strchr(p, '?');
    if (q != NULL) {
        *q++ = '\0';
        while (*q != '\0' && query_n < 8) {
            size_t len = strcspn(q, "&");
            char *eq = memchr(q, '=', len);
            size_t klen = eq != NULL ? (size_t)(eq - q) : len;
            decode(query_keys[query_n], sizeof query_keys[0], q, klen);
            if (eq != NULL)
                decode(query_vals[query_n], sizeof query_vals[0], eq + 1, len - klen - 1);
            else
                query_vals[query_n][0] = '\0';
            query_n++;
            q += len + (q[len] == '&');
        }
    }
    hbd_rest_request req = {method, p, body, body_len, query_get, NULL};
    hbd_rest_reply_release(&reply);
    int capturing = log_capture_start() == 0;
    hbd_rest_route(eng, &req, HBD_RIGHT_OPERATOR, &reply);
    char *text = capturing ? log_capture_stop() : NULL;
    if (!capturing)
        fail_msg("cannot capture stderr");
    assert_non_null(text);
    log_keep(text);
    if (getenv("REST_TEST_VERBOSE") != NULL)
        fputs(text, stderr);
    free(text);
    return reply.status;
}

static unsigned int route(const char *method, const char *path, const char *body)
{
    return route_n(method, path, body, body != NULL ? strlen(body) : 0);
}

static int body_is(const char *expected)
{
    return reply.len == strlen(expected) && memcmp(reply.body, expected, reply.len) == 0;
}

static void print_body(void)
{
    fprintf(stderr, "body: %.*s\n", (int)reply.len, reply.body);
}

/* The reply is Jobmon's error shape for `status`; returns the message. */
static const char *check_error_body(unsigned int status, char *msg, size_t cap)
{
    json_error_t jerr;
    json_t *doc = json_loadb(reply.body, reply.len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL)
        print_body();
    assert_non_null(doc);
    assert_int_equal(json_object_size(doc), 1);
    json_t *e = json_object_get(doc, "error");
    assert_true(json_is_object(e));
    assert_int_equal(json_object_size(e), 3);
    assert_string_equal(json_string_value(json_object_get(e, "type")), rest_case_type(status));
    char code[8];
    snprintf(code, sizeof code, "%u", status);
    assert_string_equal(json_string_value(json_object_get(e, "status_code")), code);
    const char *m = json_string_value(json_object_get(e, "exception_message"));
    assert_non_null(m);
    assert_true(strlen(m) > 0);
    snprintf(msg, cap, "%s", m);
    json_decref(doc);
    /* Compact: jansson's JSON_COMPACT writes no space outside strings. */
    assert_int_equal(memcmp(reply.body, "{\"error\":{\"type\":\"", 18), 0);
    return msg;
}

static int setup(void **state)
{
    (void)state;
    hbd_log_set_level(HBEAT_LOG_WARN);
    fault_vfs_set(FAULT_NONE);
    db_path[0] = '\0';
    hbd_rest_reply_init(&reply);
    log_reset();
    return open_engine(":memory:");
}

static int teardown(void **state)
{
    (void)state;
    fault_vfs_set(FAULT_NONE);
    hbd_rest_reply_release(&reply);
    hbd_engine_close(eng);
    eng = NULL;
    remove_store();
    hbd_log_set_level(HBEAT_LOG_INFO);
    return 0;
}

static void test_heartbeat_success_bytes(void **state)
{
    (void)state;
    int64_t id = add_run(7, "R");
    char path[128];
    snprintf(path, sizeof path, "/api/v3/workflow_run/%lld/log_heartbeat", (long long)id);
    assert_int_equal(route("POST", path, "{\"status\": \"R\", \"next_report_increment\": 45.0}"),
                     200);
    assert_true(body_is("{\"status\":\"R\"}"));
    assert_null(reply.allow);
    /* The reply reports a change: it waits for the engine's commit, which
       comes. */
    assert_true(reply.wait_durable);
    assert_true(reply.ticket != 0);
    assert_int_equal(hbd_engine_wait_durable(eng, reply.ticket), 0);
    hbd_run run = get_run(id);
    assert_int_equal(run.beats, 1);
    assert_true(run.deadline == FAKE_NOW + 45.0);
    /* An integer increment is a number too; 0 is allowed. */
    assert_int_equal(route("POST", path, "{\"next_report_increment\": 0, \"status\": \"R\"}"), 200);
    assert_true(body_is("{\"status\":\"R\"}"));
    run = get_run(id);
    assert_true(run.deadline == FAKE_NOW);
    /* Exactly one year is the largest increment. */
    assert_int_equal(
        route("POST", path, "{\"status\": \"R\", \"next_report_increment\": 31536000}"), 200);
    /* Unknown fields are ignored, as Jobmon ignores them; so is whitespace. */
    assert_int_equal(
        route("POST", path, " \n{\"status\":\"R\",\"next_report_increment\":1.5e1,\"x\":[1]}\r\n "),
        200);
    run = get_run(id);
    assert_int_equal(run.beats, 4);
    assert_true(run.deadline == FAKE_NOW + 15.0);
    /* Success is quiet. */
    assert_int_equal(log_lines, 0);
}

static void test_heartbeat_changes_status(void **state)
{
    (void)state;
    int64_t id = add_run(7, "O");
    char path[128];
    snprintf(path, sizeof path, "/api/v3/workflow_run/%lld/log_heartbeat", (long long)id);
    assert_int_equal(route("POST", path, "{\"status\": \"R\", \"next_report_increment\": 10}"),
                     200);
    assert_true(body_is("{\"status\":\"R\"}"));
}

static void test_invalid_transition_is_200_with_held_status(void **state)
{
    (void)state;
    int64_t id = add_run(7, "D");
    char path[128];
    snprintf(path, sizeof path, "/api/v3/workflow_run/%lld/log_heartbeat", (long long)id);
    assert_int_equal(route("POST", path, "{\"status\": \"R\", \"next_report_increment\": 45.0}"),
                     200);
    assert_true(body_is("{\"status\":\"D\"}"));
    hbd_run run = get_run(id);
    assert_int_equal(run.beats, 0);
    assert_true(run.deadline == 0.0);
    /* A token that is valid but not one of Jobmon's is the engine's call,
       not the front end's: the engine refuses it (400, in its words) and
       the run stays as it was. */
    assert_int_equal(route("POST", path, "{\"status\": \"Q\", \"next_report_increment\": 45.0}"),
                     400);
    char msg[512];
    check_error_body(400, msg, sizeof msg);
    assert_non_null(strstr(msg, "invalid status 'Q'"));
    hbd_run after = get_run(id);
    assert_memory_equal(&run, &after, sizeof run);
}

static void test_update_status(void **state)
{
    (void)state;
    int64_t id = add_run(7, "R");
    char path[128];
    snprintf(path, sizeof path, "/api/v3/workflow_run/%lld/update_status", (long long)id);
    assert_int_equal(route("PUT", path, "{\"status\": \"H\"}"), 200);
    assert_true(body_is("{\"status\":\"H\"}"));
    /* H -> R is not a transition: the held status comes back. */
    assert_int_equal(route("PUT", path, "{\"status\": \"R\"}"), 200);
    assert_true(body_is("{\"status\":\"H\"}"));
    hbd_run run = get_run(id);
    assert_string_equal(run.status, "H");
    assert_int_equal(run.beats, 0);
}

static void test_bad_requests(void **state)
{
    (void)state;
    for (size_t i = 0; i < REST_BAD_CASE_COUNT; i++) {
        const rest_case *c = &rest_bad_cases[i];
        int64_t id = add_run(7, "R");
        char path[512];
        snprintf(path, sizeof path, "/api/v3/workflow_run/%lld/log_heartbeat", (long long)id);
        assert_int_equal(route("POST", path, "{\"status\":\"R\",\"next_report_increment\":30}"),
                         200);

        size_t nb, na;
        hbd_run *before = snapshot(&nb);
        log_reset();

        rest_case_path(c, HBD_REST_BASE, id, path, sizeof path);
        unsigned int status = route_n(c->method, path, c->body, rest_case_body_len(c));
        if (status != c->status)
            fprintf(stderr, "case \"%s\": got %u, want %u\n", c->name, status, c->status);
        assert_int_equal(status, c->status);
        char msg[512];
        check_error_body(c->status, msg, sizeof msg);
        assert_false(reply.wait_durable);
        if (c->allow != NULL) {
            assert_non_null(reply.allow);
            assert_string_equal(reply.allow, c->allow);
        } else {
            assert_null(reply.allow);
        }
        /* Nothing changed, whether the front end refused it on its own or
           the engine did (c->reaches_engine): every run is as it was. The
           real engine keeps no count of its calls, so which of the two
           refused it is not checked here. */
        hbd_run *after = snapshot(&na);
        if (na != nb || (na > 0 && memcmp(before, after, na * sizeof after[0]) != 0))
            fprintf(stderr, "case \"%s\" changed a run\n", c->name);
        assert_int_equal(na, nb);
        assert_memory_equal(before, after, na * sizeof after[0]);
        free(before);
        free(after);
        /* One log line says what was wrong. */
        assert_int_equal(log_lines, 1);
        assert_non_null(strstr(log_last, msg));
    }
}

/* Longest run of `ch` in `s`. */
static size_t longest_run(const char *s, char ch)
{
    size_t best = 0, cur = 0;
    for (; *s != '\0'; s++) {
        cur = *s == ch ? cur + 1 : 0;
        if (cur > best)
            best = cur;
    }
    return best;
}

static void test_messages_quote_at_most_80_bytes(void **state)
{
    (void)state;
    int64_t id = add_run(7, "R");
    enum { BIG = 5000 };
    char *big = malloc(BIG + 200);
    char msg[512];

    /* A long status string. */
    int n = snprintf(big, BIG + 200, "{\"status\": \"");
    memset(big + n, 'A', BIG);
    snprintf(big + n + BIG, 200, "\", \"next_report_increment\": 45.0}");
    char path[6000];
    snprintf(path, sizeof path, "/api/v3/workflow_run/%lld/log_heartbeat", (long long)id);
    log_reset();
    assert_int_equal(route("POST", path, big), 400);
    check_error_body(400, msg, sizeof msg);
    assert_int_equal(longest_run(msg, 'A'), 80);
    assert_int_equal(longest_run(log_last, 'A'), 80);

    /* Garbage jansson quotes back ("near '...'"). */
    memset(big, 'B', BIG);
    big[BIG] = '\0';
    big[0] = '{';
    assert_int_equal(route("POST", path, big), 400);
    check_error_body(400, msg, sizeof msg);
    assert_true(longest_run(msg, 'B') <= 80);

    /* A long unknown path, and a long id. */
    n = snprintf(path, sizeof path, "/api/v3/");
    memset(path + n, 'C', BIG);
    path[n + BIG] = '\0';
    log_reset();
    assert_int_equal(route("GET", path, NULL), 404);
    check_error_body(404, msg, sizeof msg);
    /* The 80 bytes quoted include the "/api/v3/" prefix. */
    assert_int_equal(longest_run(msg, 'C'), 80 - 8);
    assert_int_equal(longest_run(log_last, 'C'), 80 - 8);

    n = snprintf(path, sizeof path, "/api/v3/runs/");
    memset(path + n, '9', BIG);
    path[n + BIG] = '\0';
    assert_int_equal(route("GET", path, NULL), 400);
    check_error_body(400, msg, sizeof msg);
    assert_int_equal(longest_run(msg, '9'), 80);

    /* Control bytes and non-ASCII never reach the message or the log. */
    log_reset();
    assert_int_equal(route("GET", "/api/v3/x\ny\x01\xc3\xa9", NULL), 404);
    check_error_body(404, msg, sizeof msg);
    assert_non_null(strstr(msg, "x?y???"));
    assert_int_equal(log_lines, 1);
    assert_non_null(strstr(log_last, "x?y???"));
    free(big);
}

static void test_engine_errors(void **state)
{
    (void)state;
    /* On a file, so that the store's writes can fail (fault_vfs.h). */
    store_in_file();
    int64_t id = add_run(7, "R");
    char path[128], set_path[128], msg[512];
    snprintf(path, sizeof path, "/api/v3/workflow_run/%lld/log_heartbeat", (long long)id);
    snprintf(set_path, sizeof set_path, "/api/v3/runs/%lld/status", (long long)id);
    const char *body = "{\"status\": \"R\", \"next_report_increment\": 45.0}";

    /* The engine's EINVAL: an operator's invalid transition without force
       is refused, not ignored; its message goes back to the client. */
    assert_int_equal(route("PUT", set_path, "{\"status\": \"G\"}"), 400);
    check_error_body(400, msg, sizeof msg);
    assert_non_null(strstr(msg, "R -> G is not a valid transition"));
    assert_string_equal(get_run(id).status, "R");

    /* A commit that fails. The change was taken in memory, so the router
       answers 200 and the reply waits for its commit, which reports
       HBEAT_ESYSTEM (the server then answers 500: rest_front's
       test_commit_failure_is_500). */
    fault_vfs_set(FAULT_FAIL);
    assert_int_equal(route("POST", path, body), 200);
    assert_true(reply.wait_durable);
    /* (The store's error line, expected, is kept off the test's output.) */
    assert_int_equal(log_capture_start(), 0);
    int rc = hbd_engine_wait_durable(eng, reply.ticket);
    free(log_capture_stop());
    assert_int_equal(rc, HBEAT_ESYSTEM);
    /* From then on the store refuses every change at once (fail-stop). */
    hbd_run run;
    hbeat_error err = HBEAT_ERROR_INIT;
    assert_int_equal(hbd_engine_heartbeat(eng, id, "R", 45.0, &run, &err), HBEAT_ESYSTEM);
    assert_true(err.message[0] != '\0');

    log_reset();
    assert_int_equal(route("POST", path, body), 500);
    check_error_body(500, msg, sizeof msg);
    /* The store's detail stays in the log. */
    assert_null(strstr(msg, err.message));
    assert_non_null(strstr(log_text, err.message));
    assert_int_equal(route("POST", "/api/v3/runs", "{\"workflow_id\": 1}"), 500);
    /* The engine cannot be made to return HBEAT_ECANCELED (it does only
       while it closes) or HBEAT_ENOMEM: that they answer 503 and 500 is
       the outcome table's, checked in tests/unit/server/calls/test_calls.c. */

    /* The router keeps nothing of a failure: once the store is sound again
       (a restart, which reloads what was durable) the next call is fine. */
    fault_vfs_set(FAULT_NONE);
    hbd_engine_close(eng);
    eng = NULL;
    assert_int_equal(open_engine(db_path), 0);
    assert_int_equal(route("POST", path, body), 200);
    assert_int_equal(hbd_engine_wait_durable(eng, reply.ticket), 0);
    /* The failed beats were never durable: this is the run's first. */
    assert_int_equal(get_run(id).beats, 1);
}

static void test_admin_routes(void **state)
{
    (void)state;
    /* Create, with and without a start status. */
    assert_int_equal(route("POST", "/api/v3/runs", "{\"workflow_id\": 7, \"status\": \"G\"}"), 200);
    assert_true(body_is("{\"run\":{\"workflow_run_id\":1,\"workflow_id\":7,\"status\":\"G\","
                        "\"deadline\":0.0,\"last_heartbeat\":0.0,\"beats\":0}}"));
    assert_int_equal(route("POST", "/api/v3/runs", "{\"workflow_id\": 8}"), 200);
    assert_non_null(strstr(reply.body, "\"workflow_run_id\":2,\"workflow_id\":8,\"status\":\"G\""));
    assert_int_equal(route("POST", "/api/v3/runs", "{\"workflow_id\": 9, \"status\": \"R\"}"), 200);
    /* The engine refuses a status that is not one of Jobmon's. */
    assert_int_equal(route("POST", "/api/v3/runs", "{\"workflow_id\": 9, \"status\": \"Q\"}"), 400);

    /* Beat run 3 so it has a deadline, then get it. */
    assert_int_equal(route("POST", "/api/v3/workflow_run/3/log_heartbeat",
                           "{\"status\":\"R\",\"next_report_increment\":45.25}"),
                     200);
    assert_int_equal(route("GET", "/api/v3/runs/3?client_jobmon_version=3.6.0", NULL), 200);
    assert_true(body_is("{\"run\":{\"workflow_run_id\":3,\"workflow_id\":9,\"status\":\"R\","
                        "\"deadline\":1764280045.25,\"last_heartbeat\":1764280000.0,"
                        "\"beats\":1}}"));

    /* List: all, by status, and in pages. */
    assert_int_equal(route("GET", "/api/v3/runs", NULL), 200);
    json_t *doc = json_loadb(reply.body, reply.len, 0, NULL);
    assert_non_null(doc);
    assert_int_equal(json_array_size(json_object_get(doc, "runs")), 3);
    assert_int_equal(json_integer_value(json_object_get(doc, "next_after_id")), 0);
    json_decref(doc);
    assert_int_equal(route("GET", "/api/v3/runs?status=R", NULL), 200);
    assert_non_null(strstr(reply.body, "{\"runs\":[{\"workflow_run_id\":3,"));
    assert_non_null(strstr(reply.body, "}],\"next_after_id\":0}"));
    assert_int_equal(route("GET", "/api/v3/runs?status=&limit=2", NULL), 200);
    doc = json_loadb(reply.body, reply.len, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(doc, "runs")), 2);
    assert_int_equal(json_integer_value(json_object_get(doc, "next_after_id")), 2);
    json_decref(doc);
    assert_int_equal(route("GET", "/api/v3/runs?after_id=2&limit=2", NULL), 200);
    assert_true(body_is("{\"runs\":[{\"workflow_run_id\":3,\"workflow_id\":9,\"status\":\"R\","
                        "\"deadline\":1764280045.25,\"last_heartbeat\":1764280000.0,"
                        "\"beats\":1}],\"next_after_id\":0}"));
    assert_int_equal(route("GET", "/api/v3/runs?status=D", NULL), 200);
    assert_true(body_is("{\"runs\":[],\"next_after_id\":0}"));

    /* Set status: through the state machine, or forced. */
    assert_int_equal(route("PUT", "/api/v3/runs/3/status", "{\"status\": \"C\"}"), 200);
    assert_non_null(strstr(reply.body, "\"status\":\"C\""));
    /* C -> R is not a transition: the engine refuses an operator's
       explicit request rather than ignore it, and the run keeps C. */
    assert_int_equal(route("PUT", "/api/v3/runs/3/status", "{\"status\": \"R\", \"force\": false}"),
                     400);
    assert_string_equal(get_run(3).status, "C");
    assert_int_equal(route("PUT", "/api/v3/runs/3/status", "{\"status\": \"R\", \"force\": true}"),
                     200);
    assert_non_null(strstr(reply.body, "\"status\":\"R\""));
}

/* POST /runs takes next_report_increment, as Jobmon's POST /workflow_run
   names it: a number sets the first deadline; absent or null (an older
   client) sets none; anything else is a 400 that says so. */
static void test_create_takes_next_report_increment(void **state)
{
    (void)state;
    assert_int_equal(route("POST", "/api/v3/runs",
                           "{\"workflow_id\": 7, \"status\": \"L\", "
                           "\"next_report_increment\": 93.5}"),
                     200);
    assert_true(body_is("{\"run\":{\"workflow_run_id\":1,\"workflow_id\":7,\"status\":\"L\","
                        "\"deadline\":1764280093.5,\"last_heartbeat\":0.0,\"beats\":0}}"));
    assert_int_equal(
        route("POST", "/api/v3/runs", "{\"workflow_id\": 7, \"next_report_increment\": 0}"), 200);
    assert_non_null(strstr(reply.body, "\"deadline\":1764280000.0,"));
    assert_int_equal(
        route("POST", "/api/v3/runs", "{\"workflow_id\": 7, \"next_report_increment\": null}"),
        200);
    assert_non_null(strstr(reply.body, "\"deadline\":0.0,"));
    assert_int_equal(route("POST", "/api/v3/runs", "{\"workflow_id\": 7}"), 200);
    assert_non_null(strstr(reply.body, "\"deadline\":0.0,"));

    char msg[256];
    static const char *const bad[] = {"\"93\"", "true", "[93]", "{}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char body[128];
        snprintf(body, sizeof body, "{\"workflow_id\": 7, \"next_report_increment\": %s}", bad[i]);
        assert_int_equal(route("POST", "/api/v3/runs", body), 400);
        check_error_body(400, msg, sizeof msg);
        assert_string_equal(msg, "field \"next_report_increment\" must be a number");
    }
    /* The engine's own checks (range) come back as 400 too. */
    assert_int_equal(
        route("POST", "/api/v3/runs", "{\"workflow_id\": 7, \"next_report_increment\": -1}"), 400);
    check_error_body(400, msg, sizeof msg);
    assert_non_null(strstr(msg, "next_report_increment"));
    /* jansson refuses numbers that overflow a double: not JSON we take. */
    assert_int_equal(
        route("POST", "/api/v3/runs", "{\"workflow_id\": 7, \"next_report_increment\": 1e999}"),
        400);
    size_t count;
    free(snapshot(&count));
    assert_int_equal(count, 4);
}

static void test_large_list_reply(void **state)
{
    (void)state;
    for (int i = 0; i < 200; i++)
        add_run(1000 + i, "R");
    assert_int_equal(route("GET", "/api/v3/runs?limit=1000", NULL), 200);
    /* Past the inline buffer: the body comes from the heap. */
    assert_true(reply.len > HBD_REST_REPLY_INLINE);
    json_t *doc = json_loadb(reply.body, reply.len, 0, NULL);
    assert_non_null(doc);
    assert_int_equal(json_array_size(json_object_get(doc, "runs")), 200);
    json_decref(doc);
}

static void test_status_encoding_matches_jansson(void **state)
{
    char tok[HBEAT_STATUS_MAX + 1];
    for (int c = 0x21; c < 0x7f; c++) {
        for (int len = 1; len <= HBEAT_STATUS_MAX; len += HBEAT_STATUS_MAX - 1) {
            memset(tok, c, (size_t)len);
            tok[len] = '\0';
            json_t *doc = json_pack("{s:s}", "status", tok);
            char *want = json_dumps(doc, JSON_COMPACT);
            hbd_rest_reply_status(&reply, tok);
            assert_int_equal(reply.status, 200);
            assert_true(body_is(want));
            free(want);
            json_decref(doc);
        }
    }
    /* A token outside the rule still comes out as valid JSON. */
    hbd_rest_reply_status(&reply, "a b");
    assert_true(body_is("{\"status\":\"a b\"}"));
}

static void test_parse_int(void **state)
{
    int64_t v = -5;
    assert_int_equal(hbd_rest_parse_int("1", 1, 1, &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(hbd_rest_parse_int("9223372036854775807", 19, 1, &v), 0);
    assert_true(v == INT64_MAX);
    assert_int_equal(hbd_rest_parse_int("9223372036854775808", 19, 1, &v), -1);
    assert_int_equal(hbd_rest_parse_int("007", 3, 1, &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(hbd_rest_parse_int("0", 1, 1, &v), -1);
    assert_int_equal(hbd_rest_parse_int("0", 1, 0, &v), 0);
    assert_int_equal(hbd_rest_parse_int("", 0, 0, &v), -1);
    assert_int_equal(hbd_rest_parse_int("-1", 2, 0, &v), -1);
    assert_int_equal(hbd_rest_parse_int(" 1", 2, 0, &v), -1);
    assert_int_equal(hbd_rest_parse_int("12", 1, 0, &v), 0);
    assert_int_equal(v, 1);
}

static void test_echo(void **state)
{
    char out[HBD_REST_ECHO_MAX + 4];
    char in[200];
    memset(in, 'x', sizeof in);
    hbd_rest_echo(out, sizeof out, in, sizeof in);
    assert_int_equal(strlen(out), HBD_REST_ECHO_MAX + 3);
    assert_string_equal(out + HBD_REST_ECHO_MAX, "...");
    hbd_rest_echo(out, sizeof out, in, HBD_REST_ECHO_MAX);
    assert_int_equal(strlen(out), HBD_REST_ECHO_MAX);
    hbd_rest_echo(out, sizeof out, "a\0b\x7f\xff", 5);
    assert_string_equal(out, "a?b??");
    char small[6];
    hbd_rest_echo(small, sizeof small, "abcdefgh", 8);
    assert_string_equal(small, "ab...");
    hbd_rest_echo(out, sizeof out, NULL, 0);
    assert_string_equal(out, "");
}

int main(void)
{
    /* Before any store is opened: every store then goes through it. */
    if (fault_vfs_install() != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_heartbeat_success_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_heartbeat_changes_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_transition_is_200_with_held_status, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_update_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_messages_quote_at_most_80_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admin_routes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_takes_next_report_increment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_list_reply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_encoding_matches_jansson, setup, teardown),
        cmocka_unit_test(test_parse_int),
        cmocka_unit_test(test_echo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
