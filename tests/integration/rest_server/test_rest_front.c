/*
 * The HTTP front end in-process, over loopback, against the fake engine:
 * what needs control of the engine (a commit held back while the server
 * stops, a commit that fails) or of the front end's options (a small body
 * limit, a port already taken). The same routes against the real hbeatd
 * are in test_rest_hbeatd.c.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "integration/rest_server/http_client.h"
#include "server/front_rest.h"
#include "unit/rest_server/fake_engine.h"
#include "unit/rest_server/rest_cases.h"

#define MAX_BODY 4096

typedef struct fixture {
    hbd_engine *eng;
    hbd_rest *rest;
    char base[64];
    CURL *curl;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->eng = fake_engine_new();
    /* Durable notifications from another thread, as with the real store:
       every successful reply goes through suspend and resume. */
    fake_engine_async(f->eng);
    hbd_rest_options o = {"127.0.0.1", 0, MAX_BODY, 2};
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbd_rest_start(&f->rest, f->eng, &o, NULL, &err) != 0) {
        fprintf(stderr, "hbd_rest_start: %s\n", err.message);
        return -1;
    }
    snprintf(f->base, sizeof f->base, "http://127.0.0.1:%u/api/v3",
             (unsigned)hbd_rest_port(f->rest));
    f->curl = curl_easy_init();
    fake_log_reset();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    curl_easy_cleanup(f->curl);
    hbd_rest_stop(f->rest);
    fake_engine_free(f->eng);
    free(f);
    return 0;
}

static void url_of(const fixture *f, const char *path, char *out, size_t cap)
{
    snprintf(out, cap, "%s%s", f->base, path);
}

static const char beat_body[] = "{\"status\": \"R\", \"next_report_increment\": 45.0}";

static void test_port_is_reported(void **state)
{
    fixture *f = *state;
    assert_true(hbd_rest_port(f->rest) != 0);
    assert_int_equal(hbd_rest_port(NULL), 0);
}

static void test_jobmon_success_bytes_and_keep_alive(void **state)
{
    fixture *f = *state;
    int64_t id = fake_engine_add(f->eng, 7, "R");
    char url[256];
    snprintf(url, sizeof url, "%s/workflow_run/%lld/log_heartbeat?client_jobmon_version=3.6.0",
             f->base, (long long)id);
    http_reply r;
    assert_int_equal(http_do(f->curl, "POST", url, beat_body, strlen(beat_body), 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/json");
    assert_true(http_body_is(&r, "{\"status\":\"R\"}"));
    assert_int_equal(r.new_connections, 1);
    http_reply_free(&r);
    /* The connection is kept: the next beat opens none. */
    assert_int_equal(http_do(f->curl, "POST", url, beat_body, strlen(beat_body), 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.new_connections, 0);
    http_reply_free(&r);

    snprintf(url, sizeof url, "%s/workflow_run/%lld/update_status", f->base, (long long)id);
    assert_int_equal(http_do(f->curl, "PUT", url, "{\"status\": \"D\"}", 15, 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(http_body_is(&r, "{\"status\":\"D\"}"));
    assert_int_equal(r.new_connections, 0);
    http_reply_free(&r);
    /* D -> R is invalid: still 200, with the status held. */
    snprintf(url, sizeof url, "%s/workflow_run/%lld/log_heartbeat", f->base, (long long)id);
    assert_int_equal(http_do(f->curl, "POST", url, beat_body, strlen(beat_body), 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(http_body_is(&r, "{\"status\":\"D\"}"));
    http_reply_free(&r);

    hbd_run run;
    assert_int_equal(fake_engine_get(f->eng, id, &run), 0);
    assert_int_equal(run.beats, 2);
    assert_string_equal(run.status, "D");
}

static void test_bad_requests(void **state)
{
    fixture *f = *state;
    for (size_t i = 0; i < REST_BAD_CASE_COUNT; i++) {
        const rest_case *c = &rest_bad_cases[i];
        int64_t id = fake_engine_add(f->eng, 7, "R");
        hbd_run before[FAKE_MAX_RUNS], after[FAKE_MAX_RUNS];
        size_t nb = fake_engine_snapshot(f->eng, before, FAKE_MAX_RUNS);

        char url[512];
        rest_case_path(c, f->base, id, url, sizeof url);
        http_reply r;
        assert_int_equal(http_do(f->curl, c->method, url, c->body, rest_case_body_len(c), 0, &r),
                         0);
        if (r.status != (long)c->status)
            fprintf(stderr, "case \"%s\": got %ld, want %u: %s\n", c->name, r.status, c->status,
                    r.body);
        http_check_error(&r, c->status);
        if (c->allow != NULL)
            assert_string_equal(r.allow, c->allow);
        http_reply_free(&r);

        size_t na = fake_engine_snapshot(f->eng, after, FAKE_MAX_RUNS);
        assert_int_equal(na, nb);
        assert_memory_equal(before, after, na * sizeof after[0]);
    }
    /* The connection survived all of that. */
    char url[256];
    url_of(f, "/runs/1", url, sizeof url);
    http_reply r;
    assert_int_equal(http_do(f->curl, "GET", url, NULL, 0, 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.new_connections, 0);
    http_reply_free(&r);
}

/* A heartbeat body of exactly `size` bytes (padded with spaces). */
static char *padded_beat(size_t size)
{
    char *b = malloc(size + 1);
    memset(b, ' ', size);
    memcpy(b, beat_body, strlen(beat_body));
    b[size] = '\0';
    return b;
}

static void test_body_limit(void **state)
{
    fixture *f = *state;
    int64_t id = fake_engine_add(f->eng, 7, "R");
    char url[256];
    snprintf(url, sizeof url, "%s/workflow_run/%lld/log_heartbeat", f->base, (long long)id);
    http_reply r;

    char *body = padded_beat(MAX_BODY);
    assert_int_equal(http_do(f->curl, "POST", url, body, MAX_BODY, 0, &r), 0);
    assert_int_equal(r.status, 200);
    http_reply_free(&r);
    assert_int_equal(http_do(f->curl, "POST", url, body, MAX_BODY, 1, &r), 0);
    assert_int_equal(r.status, 200);
    http_reply_free(&r);
    free(body);

    hbd_run before, after;
    assert_int_equal(fake_engine_get(f->eng, id, &before), 0);
    /* One byte over: refused from the Content-Length alone. */
    body = padded_beat(MAX_BODY + 1);
    assert_int_equal(http_do(f->curl, "POST", url, body, MAX_BODY + 1, 0, &r), 0);
    http_check_error(&r, 413);
    http_reply_free(&r);
    free(body);
    /* Chunked, so only counting tells. */
    body = padded_beat(3 * MAX_BODY);
    assert_int_equal(http_do(f->curl, "POST", url, body, 3 * MAX_BODY, 1, &r), 0);
    http_check_error(&r, 413);
    http_reply_free(&r);
    /* Far over, declared: read and dropped, so the connection stays. */
    free(body);
    body = padded_beat(1024 * 1024);
    assert_int_equal(http_do(f->curl, "POST", url, body, 1024 * 1024, 0, &r), 0);
    http_check_error(&r, 413);
    assert_string_equal(r.connection, "");
    http_reply_free(&r);
    assert_int_equal(http_do(f->curl, "POST", url, body, 1024 * 1024, 0, &r), 0);
    http_check_error(&r, 413);
    assert_int_equal(r.new_connections, 0);
    http_reply_free(&r);
    free(body);
    assert_int_equal(fake_engine_get(f->eng, id, &after), 0);
    assert_memory_equal(&before, &after, sizeof before);

    /* And the server still answers. */
    assert_int_equal(http_do(f->curl, "POST", url, beat_body, strlen(beat_body), 0, &r), 0);
    assert_int_equal(r.status, 200);
    http_reply_free(&r);
}

/* Request line and headers of a raw heartbeat, with `extra` headers. */
static void beat_head(char *out, size_t cap, int64_t id, const char *extra)
{
    snprintf(out, cap,
             "POST /api/v3/workflow_run/%lld/log_heartbeat HTTP/1.1\r\n"
             "Host: x\r\nContent-Type: application/json\r\n%s\r\n",
             (long long)id, extra);
}

/* The JSON body of a raw reply (after the blank line). */
static const char *raw_body(const char *reply)
{
    const char *p = strstr(reply, "\r\n\r\n");
    return p != NULL ? p + 4 : "";
}

static void test_oversized_bodies_raw(void **state)
{
    fixture *f = *state;
    int64_t id = fake_engine_add(f->eng, 7, "R");
    hbd_run before, after;
    assert_int_equal(fake_engine_get(f->eng, id, &before), 0);
    char head[512], buf[8192];

    /* A client that waits for 100 Continue is refused before it sends. */
    int fd = raw_connect(hbd_rest_port(f->rest));
    assert_true(fd >= 0);
    beat_head(head, sizeof head, id, "Content-Length: 104857600\r\nExpect: 100-continue\r\n");
    assert_int_equal(raw_send(fd, head, strlen(head)), 0);
    raw_read(fd, buf, sizeof buf, "}}", 1);
    assert_int_equal(strncmp(buf, "HTTP/1.1 413 ", 13), 0);
    assert_non_null(strstr(buf, "\r\nConnection: close\r\n"));
    assert_non_null(strstr(raw_body(buf), "\"PayloadTooLarge\""));
    close(fd);

    /* So is one that declares far more than would be worth dropping. */
    fd = raw_connect(hbd_rest_port(f->rest));
    assert_true(fd >= 0);
    beat_head(head, sizeof head, id, "Content-Length: 104857600\r\n");
    assert_int_equal(raw_send(fd, head, strlen(head)), 0);
    raw_read(fd, buf, sizeof buf, "}}", 1);
    assert_int_equal(strncmp(buf, "HTTP/1.1 413 ", 13), 0);
    close(fd);

    /* A little over: dropped, answered, and the connection serves on. */
    fd = raw_connect(hbd_rest_port(f->rest));
    assert_true(fd >= 0);
    beat_head(head, sizeof head, id, "Content-Length: 5000\r\n");
    char *body = padded_beat(5000);
    assert_int_equal(raw_send(fd, head, strlen(head)), 0);
    assert_int_equal(raw_send(fd, body, 5000), 0);
    free(body);
    raw_read(fd, buf, sizeof buf, "}}", 1);
    assert_int_equal(strncmp(buf, "HTTP/1.1 413 ", 13), 0);
    assert_null(strstr(buf, "Connection: close"));
    char ok[512];
    char cl[64];
    snprintf(cl, sizeof cl, "Content-Length: %zu\r\n", strlen(beat_body));
    beat_head(ok, sizeof ok, id, cl);
    assert_int_equal(raw_send(fd, ok, strlen(ok)), 0);
    assert_int_equal(raw_send(fd, beat_body, strlen(beat_body)), 0);
    raw_read(fd, buf, sizeof buf, "{\"status\":\"R\"}", 1);
    assert_int_equal(strncmp(buf, "HTTP/1.1 200 ", 13), 0);
    close(fd);
    assert_int_equal(fake_engine_get(f->eng, id, &after), 0);
    assert_int_equal(after.beats, before.beats + 1);

    /* A chunked body that never ends: dropped for a while, then the
       connection is closed. */
    fd = raw_connect(hbd_rest_port(f->rest));
    assert_true(fd >= 0);
    beat_head(head, sizeof head, id, "Transfer-Encoding: chunked\r\n");
    assert_int_equal(raw_send(fd, head, strlen(head)), 0);
    static char chunk[65536 + 16];
    int hl = snprintf(chunk, sizeof chunk, "10000\r\n");
    memset(chunk + hl, ' ', 65536);
    memcpy(chunk + hl + 65536, "\r\n", 2);
    size_t sent = 0;
    while (sent < 64u * 1024 * 1024 && raw_send(fd, chunk, (size_t)hl + 65536 + 2) == 0)
        sent += 65536;
    /* The server gave up long before 64 MiB; nothing was answered. */
    assert_true(sent < 64u * 1024 * 1024);
    assert_int_equal(raw_read(fd, buf, sizeof buf, "HTTP/1.1", 1), 0);
    close(fd);

    /* Still serving. */
    http_reply r;
    char url[256];
    snprintf(url, sizeof url, "%s/workflow_run/%lld/log_heartbeat", f->base, (long long)id);
    assert_int_equal(http_do(f->curl, "POST", url, beat_body, strlen(beat_body), 0, &r), 0);
    assert_int_equal(r.status, 200);
    http_reply_free(&r);
}

static void test_commit_failure_is_500(void **state)
{
    fixture *f = *state;
    int64_t id = fake_engine_add(f->eng, 7, "R");
    char url[256];
    snprintf(url, sizeof url, "%s/workflow_run/%lld/log_heartbeat", f->base, (long long)id);
    fake_engine_fail_commit(f->eng, HBEAT_ESYSTEM);
    http_reply r;
    assert_int_equal(http_do(f->curl, "POST", url, beat_body, strlen(beat_body), 0, &r), 0);
    http_check_error(&r, 500);
    /* What the store said stays in the log. */
    assert_null(strstr(r.body, "injected"));
    http_reply_free(&r);
    assert_int_equal(http_do(f->curl, "POST", url, beat_body, strlen(beat_body), 0, &r), 0);
    assert_int_equal(r.status, 200);
    http_reply_free(&r);
}

enum { CLIENTS = 32, BEATS = 50 };

typedef struct client {
    const fixture *f;
    int64_t id;
    int ok;
} client;

static void *client_main(void *arg)
{
    client *c = arg;
    CURL *h = curl_easy_init();
    char url[256];
    snprintf(url, sizeof url, "%s/workflow_run/%lld/log_heartbeat", c->f->base, (long long)c->id);
    for (int i = 0; i < BEATS; i++) {
        http_reply r;
        if (http_do(h, "POST", url, beat_body, strlen(beat_body), 0, &r) == 0 && r.status == 200 &&
            http_body_is(&r, "{\"status\":\"R\"}"))
            c->ok++;
        http_reply_free(&r);
    }
    curl_easy_cleanup(h);
    return NULL;
}

static void test_many_concurrent_clients(void **state)
{
    fixture *f = *state;
    client cl[CLIENTS];
    pthread_t th[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        cl[i] = (client){f, fake_engine_add(f->eng, 100 + i, "R"), 0};
        assert_int_equal(pthread_create(&th[i], NULL, client_main, &cl[i]), 0);
    }
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(cl[i].ok, BEATS);
        hbd_run run;
        assert_int_equal(fake_engine_get(f->eng, cl[i].id, &run), 0);
        assert_int_equal(run.beats, BEATS);
    }
}

typedef struct bg_request {
    const char *url;
    http_reply reply;
    int rc;
} bg_request;

static void *bg_beat(void *arg)
{
    bg_request *b = arg;
    CURL *h = curl_easy_init();
    b->rc = http_do(h, "POST", b->url, beat_body, strlen(beat_body), 0, &b->reply);
    curl_easy_cleanup(h);
    return NULL;
}

static void *bg_stop(void *arg)
{
    hbd_rest_stop(arg);
    return NULL;
}

/* 1 once nothing accepts connections on the port (bounded wait). */
static int wait_refused(unsigned short port)
{
    for (int i = 0; i < 2000; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {0};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
        int e = errno;
        close(fd);
        if (rc != 0 && e == ECONNREFUSED)
            return 1;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static void test_stop_answers_requests_in_flight(void **state)
{
    fixture *f = *state;
    int64_t id = fake_engine_add(f->eng, 7, "R");
    char url[256], get_url[256];
    snprintf(url, sizeof url, "%s/workflow_run/%lld/log_heartbeat", f->base, (long long)id);
    snprintf(get_url, sizeof get_url, "%s/runs/%lld", f->base, (long long)id);

    /* An idle keep-alive connection, open before the stop. */
    http_reply r;
    assert_int_equal(http_do(f->curl, "GET", get_url, NULL, 0, 0, &r), 0);
    assert_int_equal(r.status, 200);
    http_reply_free(&r);

    /* A beat whose commit is held back: in flight when the stop begins. */
    fake_engine_gate_close(f->eng);
    bg_request beat = {url, {0}, -1};
    pthread_t bt, st;
    assert_int_equal(pthread_create(&bt, NULL, bg_beat, &beat), 0);
    fake_engine_wait_held(f->eng, 1);
    assert_int_equal(pthread_create(&st, NULL, bg_stop, f->rest), 0);
    unsigned short port = hbd_rest_port(f->rest);
    assert_true(wait_refused(port));

    /* A request on the old connection meanwhile: refused, and closed. */
    assert_int_equal(http_do(f->curl, "GET", get_url, NULL, 0, 0, &r), 0);
    http_check_error(&r, 503);
    assert_string_equal(r.connection, "close");
    http_reply_free(&r);

    /* The commit lands: the beat is answered, then the stop completes. */
    fake_engine_gate_open(f->eng);
    pthread_join(bt, NULL);
    assert_int_equal(beat.rc, 0);
    assert_int_equal(beat.reply.status, 200);
    assert_true(http_body_is(&beat.reply, "{\"status\":\"R\"}"));
    http_reply_free(&beat.reply);
    pthread_join(st, NULL);
    f->rest = NULL; /* stopped; teardown's stop is then a no-op */
}

static void test_start_errors(void **state)
{
    hbd_engine *eng = fake_engine_new();
    hbd_rest *rest = NULL, *second = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;

    hbd_rest_options bad_host = {"localhost", 0, 0, 1};
    assert_int_equal(hbd_rest_start(&rest, eng, &bad_host, NULL, &err), HBEAT_EINVAL);
    assert_null(rest);
    assert_non_null(strstr(err.message, "localhost"));
    assert_int_equal(hbd_rest_start(NULL, eng, &bad_host, NULL, NULL), HBEAT_EINVAL);
    assert_int_equal(hbd_rest_start(&rest, NULL, &bad_host, NULL, NULL), HBEAT_EINVAL);
    assert_int_equal(hbd_rest_start(&rest, eng, NULL, NULL, NULL), HBEAT_EINVAL);

    /* Defaults (threads 0, max_body 0) work; the port is taken twice. */
    hbd_rest_options o = {"127.0.0.1", 0, 0, 0};
    assert_int_equal(hbd_rest_start(&rest, eng, &o, NULL, &err), 0);
    o.port = hbd_rest_port(rest);
    hbeat_error_clear(&err);
    assert_int_equal(hbd_rest_start(&second, eng, &o, NULL, &err), HBEAT_ESYSTEM);
    assert_null(second);
    assert_true(err.message[0] != '\0');
    hbd_rest_stop(rest);
    hbd_rest_stop(NULL);
    fake_engine_free(eng);
}

static void test_ipv6_loopback(void **state)
{
    hbd_engine *eng = fake_engine_new();
    hbd_rest *rest = NULL;
    hbd_rest_options o = {"::1", 0, 0, 1};
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbd_rest_start(&rest, eng, &o, NULL, &err) != 0) {
        fake_engine_free(eng);
        skip(); /* no IPv6 on this machine */
    }
    int64_t id = fake_engine_add(eng, 7, "R");
    char url[128];
    snprintf(url, sizeof url, "http://[::1]:%u/api/v3/workflow_run/%lld/log_heartbeat",
             (unsigned)hbd_rest_port(rest), (long long)id);
    CURL *h = curl_easy_init();
    http_reply r;
    assert_int_equal(http_do(h, "POST", url, beat_body, strlen(beat_body), 0, &r), 0);
    assert_int_equal(r.status, 200);
    http_reply_free(&r);
    curl_easy_cleanup(h);
    hbd_rest_stop(rest);
    fake_engine_free(eng);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_port_is_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_jobmon_success_bytes_and_keep_alive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized_bodies_raw, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_failure_is_500, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_concurrent_clients, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_answers_requests_in_flight, setup, teardown),
        cmocka_unit_test(test_start_errors),
        cmocka_unit_test(test_ipv6_loopback),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
