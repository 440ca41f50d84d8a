/*
 * hbeatd's REST routes against the real binary (started by the harness):
 * Jobmon's success bytes, every bad request of rest_cases.h refused with
 * the right status and changing no run, the admin routes, the body limit,
 * raw HTTP on a socket, and 64 clients at once whose replies were all
 * durable (the same after kill -9).
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
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

#include "integration/rest_server/http_client.h"
#include "support/hbeatd_harness.h"
#include "support/rest_cases.h"

static hbd_harness h;
static CURL *curl;

static const char beat_body[] = "{\"status\": \"R\", \"next_report_increment\": 45.0}";

/* --- small helpers over the admin routes --- */

static void url_of(const char *path, char *out, size_t cap)
{
    snprintf(out, cap, "%s%s", h.rest_url, path);
}

/* POST /runs; returns the new id. */
static int64_t create_run(CURL *c, int64_t workflow_id, const char *status)
{
    char url[512], body[128];
    url_of("/runs", url, sizeof url);
    snprintf(body, sizeof body, "{\"workflow_id\": %lld, \"status\": \"%s\"}",
             (long long)workflow_id, status);
    http_reply r;
    int64_t id = -1;
    if (http_do(c, "POST", url, body, strlen(body), 0, &r) == 0 && r.status == 200) {
        json_t *doc = json_loadb(r.body, r.len, 0, NULL);
        json_t *v = json_object_get(json_object_get(doc, "run"), "workflow_run_id");
        if (json_is_integer(v))
            id = json_integer_value(v);
        json_decref(doc);
    }
    http_reply_free(&r);
    return id;
}

/* GET /runs/{id}: the exact reply body, malloc'ed ("" when it failed). */
static char *get_run_body(CURL *c, int64_t id)
{
    char url[512];
    snprintf(url, sizeof url, "%s/runs/%lld", h.rest_url, (long long)id);
    http_reply r;
    if (http_do(c, "GET", url, NULL, 0, 0, &r) != 0 || r.status != 200) {
        http_reply_free(&r);
        return calloc(1, 1);
    }
    return r.body;
}

/* The whole run table, as the list route writes it. */
static char *list_all(CURL *c)
{
    char url[512];
    url_of("/runs?limit=1000", url, sizeof url);
    http_reply r;
    if (http_do(c, "GET", url, NULL, 0, 0, &r) != 0 || r.status != 200) {
        http_reply_free(&r);
        return calloc(1, 1);
    }
    return r.body;
}

/* POST a beat; the reply's status token into st (cap 16). 0 or -1. */
static int beat(CURL *c, int64_t id, const char *status, double inc, char st[16])
{
    char url[512], body[128];
    snprintf(url, sizeof url, "%s/workflow_run/%lld/log_heartbeat?client_jobmon_version=3.6.0",
             h.rest_url, (long long)id);
    snprintf(body, sizeof body, "{\"status\": \"%s\", \"next_report_increment\": %.1f}", status,
             inc);
    http_reply r;
    int rc = -1;
    if (http_do(c, "POST", url, body, strlen(body), 0, &r) == 0 && r.status == 200 && r.len > 13 &&
        memcmp(r.body, "{\"status\":\"", 11) == 0 && memcmp(r.body + r.len - 2, "\"}", 2) == 0 &&
        r.len - 13 < 16) {
        snprintf(st, 16, "%.*s", (int)(r.len - 13), r.body + 11);
        rc = 0;
    }
    http_reply_free(&r);
    return rc;
}

/* A run walked from G to R with a beat behind it. */
static int64_t running_run(CURL *c, int64_t workflow_id)
{
    int64_t id = create_run(c, workflow_id, "G");
    const char *path[] = {"L", "B", "I", "O", "R"};
    char st[16];
    for (int i = 0; id > 0 && i < 5; i++) {
        if (beat(c, id, path[i], 600.0, st) != 0 || strcmp(st, path[i]) != 0)
            return -1;
    }
    return id;
}

static int group_setup(void **state)
{
    const char *args[] = {"--reap-grace", "100000", NULL};
    if (hbd_harness_start(&h, args) != 0 || h.rest_url[0] == '\0')
        return -1;
    curl = curl_easy_init();
    return 0;
}

static int group_teardown(void **state)
{
    curl_easy_cleanup(curl);
    int rc = hbd_harness_stop(&h);
    hbd_harness_cleanup(&h);
    /* A clean stop with idle keep-alive connections open is exit 0. */
    return rc == 0 ? 0 : -1;
}

/* --- tests --- */

static void test_jobmon_success_bytes(void **state)
{
    int64_t id = running_run(curl, 1);
    assert_true(id > 0);
    char url[512];
    snprintf(url, sizeof url, "%s/workflow_run/%lld/log_heartbeat?client_jobmon_version=3.6.0",
             h.rest_url, (long long)id);
    http_reply r;
    assert_int_equal(http_do(curl, "POST", url, beat_body, strlen(beat_body), 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/json");
    assert_true(http_body_is(&r, "{\"status\":\"R\"}"));
    /* Keep-alive: the connection of the earlier requests was reused. */
    assert_int_equal(r.new_connections, 0);
    http_reply_free(&r);

    snprintf(url, sizeof url, "%s/workflow_run/%lld/update_status", h.rest_url, (long long)id);
    assert_int_equal(http_do(curl, "PUT", url, "{\"status\": \"H\"}", 15, 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/json");
    assert_true(http_body_is(&r, "{\"status\":\"H\"}"));
    http_reply_free(&r);
}

static void test_invalid_transition_is_200_with_held_status(void **state)
{
    int64_t id = running_run(curl, 2);
    assert_true(id > 0);
    char *before = get_run_body(curl, id);
    char st[16];
    /* R -> G is not a transition: 200, R kept, deadline untouched. */
    assert_int_equal(beat(curl, id, "G", 5.0, st), 0);
    assert_string_equal(st, "R");
    char *after = get_run_body(curl, id);
    assert_string_equal(before, after);
    free(before);
    free(after);

    char url[512];
    snprintf(url, sizeof url, "%s/workflow_run/%lld/update_status", h.rest_url, (long long)id);
    http_reply r;
    assert_int_equal(http_do(curl, "PUT", url, "{\"status\": \"D\"}", 15, 0, &r), 0);
    assert_true(http_body_is(&r, "{\"status\":\"D\"}"));
    http_reply_free(&r);
    assert_int_equal(http_do(curl, "PUT", url, "{\"status\": \"R\"}", 15, 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(http_body_is(&r, "{\"status\":\"D\"}"));
    http_reply_free(&r);
}

static void test_bad_requests_change_nothing(void **state)
{
    int64_t id = running_run(curl, 3);
    assert_true(id > 0);
    char *before = list_all(curl);
    assert_true(strlen(before) > 0);
    for (size_t i = 0; i < REST_BAD_CASE_COUNT; i++) {
        const rest_case *c = &rest_bad_cases[i];
        char url[512];
        rest_case_path(c, h.rest_url, id, url, sizeof url);
        http_reply r;
        assert_int_equal(http_do(curl, c->method, url, c->body, rest_case_body_len(c), 0, &r), 0);
        if (r.status != (long)c->status)
            fprintf(stderr, "case \"%s\": got %ld, want %u: %s\n", c->name, r.status, c->status,
                    r.body);
        http_check_error(&r, c->status);
        if (c->allow != NULL)
            assert_string_equal(r.allow, c->allow);
        http_reply_free(&r);

        char *after = list_all(curl);
        if (strcmp(before, after) != 0)
            fprintf(stderr, "case \"%s\" changed the runs\n", c->name);
        assert_string_equal(before, after);
        free(after);
    }
    free(before);
}

/* hbeatd's log so far (<dir>/hbeatd.log), malloc'ed. */
static char *read_log(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/hbeatd.log", h.dir);
    FILE *f = fopen(path, "r");
    char *buf = calloc(1, 4 * 1024 * 1024);
    if (f != NULL) {
        size_t n = fread(buf, 1, 4 * 1024 * 1024 - 1, f);
        buf[n] = '\0';
        fclose(f);
    }
    return buf;
}

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

static void test_refusals_are_logged_briefly(void **state)
{
    int64_t id = running_run(curl, 6);
    assert_true(id > 0);
    enum { LONG = 10000 };
    char *body = malloc(LONG + 100);
    int n = snprintf(body, LONG + 100, "{\"status\": \"");
    memset(body + n, 'Q', LONG);
    snprintf(body + n + LONG, 100, "\", \"next_report_increment\": 45.0}");
    char url[512];
    snprintf(url, sizeof url, "%s/workflow_run/%lld/log_heartbeat", h.rest_url, (long long)id);
    http_reply r;
    assert_int_equal(http_do(curl, "POST", url, body, strlen(body), 0, &r), 0);
    http_check_error(&r, 400);
    /* The reply quotes at most 80 bytes of it... */
    assert_true(longest_run(r.body, 'Q') <= 80);
    assert_true(longest_run(r.body, 'Q') > 0);
    http_reply_free(&r);
    free(body);

    /* ...and so does the one log line that says what was wrong. */
    char *log = read_log();
    const char *line = strstr(log, "400 InvalidUsage: field \"status\" is not a valid status");
    assert_non_null(line);
    assert_true(longest_run(log, 'Q') <= 80);
    assert_true(longest_run(log, 'Q') > 0);
    free(log);
}

static void test_admin_routes(void **state)
{
    char url[512];
    http_reply r;
    url_of("/runs", url, sizeof url);
    /* Without a status a run starts in G. */
    assert_int_equal(http_do(curl, "POST", url, "{\"workflow_id\": 77}", 19, 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/json");
    json_t *doc = json_loadb(r.body, r.len, 0, NULL);
    json_t *run = json_object_get(doc, "run");
    assert_true(json_is_object(run));
    int64_t id = json_integer_value(json_object_get(run, "workflow_run_id"));
    assert_true(id > 0);
    assert_int_equal(json_integer_value(json_object_get(run, "workflow_id")), 77);
    assert_string_equal(json_string_value(json_object_get(run, "status")), "G");
    assert_true(json_is_number(json_object_get(run, "deadline")));
    assert_true(json_is_number(json_object_get(run, "last_heartbeat")));
    assert_int_equal(json_integer_value(json_object_get(run, "beats")), 0);
    json_decref(doc);
    http_reply_free(&r);
    /* Compact, in the documented key order. */
    char *got = get_run_body(curl, id);
    char prefix[128];
    snprintf(prefix, sizeof prefix,
             "{\"run\":{\"workflow_run_id\":%lld,\"workflow_id\":77,\"status\":\"G\",\"deadline\":",
             (long long)id);
    assert_int_equal(strncmp(got, prefix, strlen(prefix)), 0);
    assert_non_null(strstr(got, ",\"last_heartbeat\":"));
    assert_non_null(strstr(got, ",\"beats\":0}}"));
    free(got);

    /* The engine refuses a status that is not one of Jobmon's codes. */
    assert_int_equal(
        http_do(curl, "POST", url, "{\"workflow_id\": 77, \"status\": \"Q\"}", 35, 0, &r), 0);
    http_check_error(&r, 400);
    http_reply_free(&r);

    /* A beat shows in the run. */
    char st[16];
    assert_int_equal(beat(curl, id, "L", 30.0, st), 0);
    assert_string_equal(st, "L");
    got = get_run_body(curl, id);
    doc = json_loads(got, 0, NULL);
    run = json_object_get(doc, "run");
    assert_int_equal(json_integer_value(json_object_get(run, "beats")), 1);
    double deadline = json_real_value(json_object_get(run, "deadline"));
    double last = json_real_value(json_object_get(run, "last_heartbeat"));
    assert_true(last > 1.7e9);
    assert_true(deadline > last + 29.0 && deadline < last + 31.0);
    json_decref(doc);
    free(got);

    /* Set status: refused by the state machine unless forced. */
    snprintf(url, sizeof url, "%s/runs/%lld/status", h.rest_url, (long long)id);
    assert_int_equal(http_do(curl, "PUT", url, "{\"status\": \"A\"}", 15, 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"status\":\"A\""));
    http_reply_free(&r);
    assert_int_equal(http_do(curl, "PUT", url, "{\"status\": \"R\", \"force\": true}", 30, 0, &r),
                     0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"status\":\"R\""));
    http_reply_free(&r);

    /* List: by status, and in pages that cover every run exactly once. */
    int64_t a = create_run(curl, 78, "D"), b = create_run(curl, 78, "D");
    assert_true(a > 0 && b > a);
    url_of("/runs?status=D", url, sizeof url);
    assert_int_equal(http_do(curl, "GET", url, NULL, 0, 0, &r), 0);
    assert_int_equal(r.status, 200);
    doc = json_loadb(r.body, r.len, 0, NULL);
    json_t *runs = json_object_get(doc, "runs");
    size_t nd = json_array_size(runs);
    assert_true(nd >= 2);
    for (size_t i = 0; i < nd; i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(runs, i), "status")),
                            "D");
    json_decref(doc);
    http_reply_free(&r);

    int64_t after = 0, last_id = 0;
    size_t total = 0;
    for (int page = 0; page < 1000; page++) {
        snprintf(url, sizeof url, "%s/runs?limit=2&after_id=%lld", h.rest_url, (long long)after);
        assert_int_equal(http_do(curl, "GET", url, NULL, 0, 0, &r), 0);
        assert_int_equal(r.status, 200);
        doc = json_loadb(r.body, r.len, 0, NULL);
        runs = json_object_get(doc, "runs");
        assert_true(json_array_size(runs) <= 2);
        for (size_t i = 0; i < json_array_size(runs); i++) {
            int64_t rid =
                json_integer_value(json_object_get(json_array_get(runs, i), "workflow_run_id"));
            assert_true(rid > last_id);
            last_id = rid;
            total++;
        }
        after = json_integer_value(json_object_get(doc, "next_after_id"));
        json_decref(doc);
        http_reply_free(&r);
        if (after == 0)
            break;
    }
    assert_int_equal(after, 0);
    assert_true(last_id >= b);
    assert_true(total >= 3);
}

static void test_body_limit(void **state)
{
    int64_t id = running_run(curl, 4);
    assert_true(id > 0);
    char url[512];
    snprintf(url, sizeof url, "%s/workflow_run/%lld/log_heartbeat", h.rest_url, (long long)id);
    char *before = get_run_body(curl, id);

    enum { BIG = 1024 * 1024 };
    char *body = malloc(BIG);
    memset(body, ' ', BIG);
    memcpy(body, beat_body, strlen(beat_body));
    http_reply r;
    assert_int_equal(http_do(curl, "POST", url, body, BIG, 0, &r), 0);
    http_check_error(&r, 413);
    /* The body was read and dropped: the connection stays. */
    assert_string_equal(r.connection, "");
    http_reply_free(&r);
    assert_int_equal(http_do(curl, "POST", url, body, BIG, 1, &r), 0);
    http_check_error(&r, 413);
    http_reply_free(&r);
    char *after = get_run_body(curl, id);
    assert_string_equal(before, after);
    free(after);

    /* A padded body well under the limit is fine, chunked or not. */
    assert_int_equal(http_do(curl, "POST", url, body, 16 * 1024, 0, &r), 0);
    assert_int_equal(r.status, 200);
    http_reply_free(&r);
    assert_int_equal(http_do(curl, "POST", url, body, 16 * 1024, 1, &r), 0);
    assert_int_equal(r.status, 200);
    http_reply_free(&r);
    free(body);
    free(before);
}

static unsigned short http_port(void)
{
    int port = 0;
    const char *colon = strrchr(h.rest_host_port, ':');
    if (colon == NULL || sscanf(colon + 1, "%d", &port) != 1)
        return 0;
    return (unsigned short)port;
}

static void test_raw_http(void **state)
{
    int64_t id = running_run(curl, 5);
    assert_true(id > 0);
    int fd = raw_connect(http_port());
    assert_true(fd >= 0);
    /* Two requests in one write (pipelined), as a raw client may send. */
    char req[1024];
    int n = 0;
    for (int i = 0; i < 2; i++)
        n += snprintf(req + n, sizeof req - (size_t)n,
                      "POST /api/v3/workflow_run/%lld/log_heartbeat?client_jobmon_version=3.6.0 "
                      "HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\n\r\n%s",
                      (long long)id, strlen(beat_body), beat_body);
    assert_int_equal(raw_send(fd, req, (size_t)n), 0);
    char buf[4096] = "";
    raw_read(fd, buf, sizeof buf, "{\"status\":\"R\"}", 2);
    assert_int_equal(strncmp(buf, "HTTP/1.1 200 OK\r\n", 17), 0);
    assert_non_null(strstr(buf, "\r\nContent-Type: application/json\r\n"));
    assert_non_null(strstr(buf, "\r\nContent-Length: 14\r\n"));
    const char *second = strstr(buf + 17, "HTTP/1.1 200 OK\r\n");
    assert_non_null(second);
    assert_non_null(strstr(second, "\r\n\r\n{\"status\":\"R\"}"));
    close(fd);

    /* Garbage instead of HTTP: an error from the HTTP layer, no crash. */
    fd = raw_connect(http_port());
    assert_true(fd >= 0);
    const char junk[] = "\x01\x02 not http at all\r\n\r\n";
    assert_int_equal(raw_send(fd, junk, sizeof junk - 1), 0);
    memset(buf, 0, sizeof buf);
    raw_read(fd, buf, sizeof buf, "\r\n\r\n", 1);
    assert_int_equal(strncmp(buf, "HTTP/1.1 400", 12), 0);
    close(fd);

    /* A client that sends half a request and leaves. */
    fd = raw_connect(http_port());
    assert_true(fd >= 0);
    const char half[] = "POST /api/v3/workflow_run/1/log_heartbeat HTTP/1.1\r\nContent-Length: 40"
                        "\r\n\r\n{\"sta";
    assert_int_equal(raw_send(fd, half, sizeof half - 1), 0);
    close(fd);

    /* Still serving. */
    char st[16];
    assert_int_equal(beat(curl, id, "R", 45.0, st), 0);
    assert_string_equal(st, "R");
}

/* --- 64 clients at once --- */

enum { NCLIENTS = 64, RBEATS = 10, SHARED_BEATS = 10 };

typedef struct client {
    int index;
    int64_t run;
    int beats;
    char error[160];
} client;

static int64_t shared_run;

typedef struct step {
    const char *send, *expect;
    int counts; /* a valid (or untimely) beat counts; an invalid one does not */
} step;

static void *client_main(void *arg)
{
    client *cl = arg;
    CURL *c = curl_easy_init();
    cl->run = create_run(c, 1000 + cl->index, "G");
    if (cl->run <= 0) {
        snprintf(cl->error, sizeof cl->error, "create failed");
        curl_easy_cleanup(c);
        return NULL;
    }
    const char *resume = cl->index % 2 ? "C" : "H";
    step steps[32];
    int n = 0;
    steps[n++] = (step){"L", "L", 1};
    steps[n++] = (step){"L", "L", 1}; /* untimely: no change, still a beat */
    steps[n++] = (step){"B", "B", 1};
    steps[n++] = (step){"D", "B", 0}; /* invalid: B -> D */
    steps[n++] = (step){"I", "I", 1};
    steps[n++] = (step){"O", "O", 1};
    for (int i = 0; i < RBEATS; i++)
        steps[n++] = (step){"R", "R", 1};
    steps[n++] = (step){resume, resume, 1};
    steps[n++] = (step){"R", resume, 0}; /* invalid: C/H -> R */
    steps[n++] = (step){"T", "T", 1};
    for (int i = 0; i < n; i++) {
        char st[16] = "-";
        if (beat(c, cl->run, steps[i].send, 600.0, st) != 0 || strcmp(st, steps[i].expect) != 0) {
            snprintf(cl->error, sizeof cl->error, "run %lld step %d: sent %s, got %s",
                     (long long)cl->run, i, steps[i].send, st);
            break;
        }
        cl->beats += steps[i].counts;
        if (i < SHARED_BEATS && (beat(c, shared_run, "R", 600.0, st) != 0 || strcmp(st, "R"))) {
            snprintf(cl->error, sizeof cl->error, "shared beat %d failed", i);
            break;
        }
    }
    curl_easy_cleanup(c);
    return NULL;
}

static int64_t beats_of(CURL *c, int64_t id, char status[16])
{
    char *body = get_run_body(c, id);
    json_t *doc = json_loads(body, 0, NULL);
    json_t *run = json_object_get(doc, "run");
    int64_t beats = json_is_integer(json_object_get(run, "beats"))
                        ? json_integer_value(json_object_get(run, "beats"))
                        : -1;
    const char *s = json_string_value(json_object_get(run, "status"));
    snprintf(status, 16, "%s", s != NULL ? s : "?");
    json_decref(doc);
    free(body);
    return beats;
}

static void test_64_clients_durable(void **state)
{
    shared_run = create_run(curl, 999, "R");
    assert_true(shared_run > 0);
    static client clients[NCLIENTS];
    pthread_t threads[NCLIENTS];
    for (int i = 0; i < NCLIENTS; i++) {
        memset(&clients[i], 0, sizeof clients[i]);
        clients[i].index = i;
        assert_int_equal(pthread_create(&threads[i], NULL, client_main, &clients[i]), 0);
    }
    for (int i = 0; i < NCLIENTS; i++)
        pthread_join(threads[i], NULL);
    for (int i = 0; i < NCLIENTS; i++) {
        if (clients[i].error[0] != '\0')
            fail_msg("client %d: %s", i, clients[i].error);
    }
    char st[16];
    for (int i = 0; i < NCLIENTS; i++) {
        assert_int_equal(beats_of(curl, clients[i].run, st), clients[i].beats);
        assert_string_equal(st, "T");
    }
    assert_int_equal(beats_of(curl, shared_run, st), NCLIENTS * SHARED_BEATS);
    char *table = list_all(curl);

    /* Every reply was sent only once durable: a crash loses none of it. */
    curl_easy_cleanup(curl);
    hbd_harness_kill9(&h);
    assert_int_equal(hbd_harness_restart(&h), 0);
    curl = curl_easy_init();
    char *again = list_all(curl);
    assert_string_equal(table, again);
    free(table);
    free(again);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jobmon_success_bytes),
        cmocka_unit_test(test_invalid_transition_is_200_with_held_status),
        /* Before the flood of bad requests: refusals are logged at a
           limited rate (log.h), and this one wants its line. */
        cmocka_unit_test(test_refusals_are_logged_briefly),
        cmocka_unit_test(test_bad_requests_change_nothing),
        cmocka_unit_test(test_admin_routes),
        cmocka_unit_test(test_body_limit),
        cmocka_unit_test(test_raw_http),
        cmocka_unit_test(test_64_clients_durable),
    };
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    curl_global_cleanup();
    return rc;
}
