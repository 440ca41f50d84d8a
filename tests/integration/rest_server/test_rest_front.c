/*
 * The HTTP front end in-process, over loopback, against the real engine on
 * a fixed clock, its store in a temporary file: what needs control of the
 * store (a commit held back while the server stops, a commit that fails:
 * fault_vfs.h underneath SQLite) or of the front end's options (a small
 * body limit, a port already taken). The same routes against the real
 * hbeatd are in test_rest_hbeatd.c.
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

#include "front_rest.h"
#include "integration/rest_server/http_client.h"
#include "log.h"
#include "store.h" /* HBD_SYNC_FULL */
#include "support/engine_wait.h"
#include "support/fault_vfs.h"
#include "support/log_capture.h"
#include "support/rest_cases.h"

#define MAX_BODY 4096
/* The engine's clock: every heartbeat happens at this Unix time. */
#define FAKE_NOW 1764280000.0

/* A request sent from a thread of its own. */
typedef struct bg_request {
    char url[256];
    http_reply reply;
    int rc;
} bg_request;

typedef struct fixture {
    hbd_engine *eng;
    hbd_rest *rest;
    char base[64];
    CURL *curl;
    char db[64]; /* the store's file */
    /* test_stop_answers_requests_in_flight's threads: joined by teardown
       should the test fail while they run. */
    bg_request beat;
    pthread_t beat_thread, stop_thread;
    int beat_running, stop_running;
} fixture;

static double fake_clock(void *arg)
{
    (void)arg;
    return FAKE_NOW;
}

/* The engine over `path` (a file or ":memory:"); NULL on failure. */
static hbd_engine *open_engine(const char *path)
{
    hbd_engine_options o;
    memset(&o, 0, sizeof o);
    o.db_path = path;
    o.reap_interval = 0; /* no reaper thread: only requests change runs */
    o.clock = fake_clock;
    /* Every commit is fsynced, so every commit is the writer thread's, as
       a status change is in hbeatd: each successful reply that reports a
       change goes through suspend and resume, and a commit held back
       (FAULT_HOLD) never holds one of the front end's threads. */
    o.sync = HBD_SYNC_FULL;
    hbd_engine *e = NULL;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbd_engine_open(&e, &o, &err) != 0)
        fprintf(stderr, "hbd_engine_open %s: %s\n", path, err.message);
    return e;
}

static void remove_store(const char *path)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char p[96];
        snprintf(p, sizeof p, "%s%s", path, suffixes[i]);
        unlink(p);
    }
}

static int start_front(fixture *f)
{
    hbd_rest_options o = {"127.0.0.1", 0, MAX_BODY, 2};
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbd_rest_start(&f->rest, f->eng, &o, NULL, &err) != 0) {
        fprintf(stderr, "hbd_rest_start: %s\n", err.message);
        return -1;
    }
    snprintf(f->base, sizeof f->base, "http://127.0.0.1:%u/api/v3",
             (unsigned)hbd_rest_port(f->rest));
    return 0;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    fault_vfs_set(FAULT_NONE);
    snprintf(f->db, sizeof f->db, "/tmp/hbd-rest-front-XXXXXX");
    int fd = mkstemp(f->db);
    if (fd < 0) {
        free(f);
        return -1;
    }
    close(fd);
    f->eng = open_engine(f->db);
    if (f->eng == NULL || start_front(f) != 0) {
        hbd_engine_close(f->eng);
        remove_store(f->db);
        free(f);
        return -1;
    }
    f->curl = curl_easy_init();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    /* A test that failed while commits were held must not leave the stop
       waiting for them. */
    fault_vfs_set(FAULT_NONE);
    if (f->beat_running) {
        pthread_join(f->beat_thread, NULL);
        http_reply_free(&f->beat.reply);
    }
    if (f->stop_running) {
        pthread_join(f->stop_thread, NULL);
        f->rest = NULL;
    }
    curl_easy_cleanup(f->curl);
    hbd_rest_stop(f->rest);
    hbd_engine_close(f->eng);
    remove_store(f->db);
    free(f);
    return 0;
}

/* A new run of `workflow_id` in `status`, durable; its id. The engine
   creates a run in any status, with no deadline and no beat yet. */
static int64_t add_run(hbd_engine *e, int64_t workflow_id, const char *status)
{
    hbd_run run;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbd_engine_create_run(e, workflow_id, status, NULL, &run, &err) != 0)
        fail_msg("create_run: %s", err.message);
    return run.id;
}

static hbd_run get_run(hbd_engine *e, int64_t id)
{
    hbd_run run;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbd_engine_get_run(e, id, &run, &err) != 0)
        fail_msg("get_run %lld: %s", (long long)id, err.message);
    return run;
}

/* Every run, for a before/after comparison (free()). */
static hbd_run *snapshot(hbd_engine *e, size_t *count)
{
    hbd_run *runs;
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbd_engine_list_all(e, &runs, count, &err) != 0)
        fail_msg("list_runs: %s", err.message);
    return runs;
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
    int64_t id = add_run(f->eng, 7, "R");
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

    hbd_run run = get_run(f->eng, id);
    assert_int_equal(run.beats, 2);
    assert_string_equal(run.status, "D");
}

static void test_bad_requests(void **state)
{
    fixture *f = *state;
    for (size_t i = 0; i < REST_BAD_CASE_COUNT; i++) {
        const rest_case *c = &rest_bad_cases[i];
        int64_t id = add_run(f->eng, 7, "R");
        size_t nb, na;
        hbd_run *before = snapshot(f->eng, &nb);

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

        /* Nothing changed, whether the front end or the engine refused it. */
        hbd_run *after = snapshot(f->eng, &na);
        assert_int_equal(na, nb);
        assert_memory_equal(before, after, na * sizeof after[0]);
        free(before);
        free(after);
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
    int64_t id = add_run(f->eng, 7, "R");
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

    hbd_run before = get_run(f->eng, id);
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
    hbd_run after = get_run(f->eng, id);
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
    int64_t id = add_run(f->eng, 7, "R");
    hbd_run before = get_run(f->eng, id);
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
    assert_int_equal(get_run(f->eng, id).beats, before.beats + 1);

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

/* Stops the front end and the engine and starts both again over the same
   file, as an operator restarts hbeatd after a store failure. */
static void restart(fixture *f)
{
    hbd_rest_stop(f->rest);
    f->rest = NULL;
    hbd_engine_close(f->eng);
    f->eng = open_engine(f->db);
    assert_non_null(f->eng);
    assert_int_equal(start_front(f), 0);
}

static void test_commit_failure_is_500(void **state)
{
    fixture *f = *state;
    int64_t id = add_run(f->eng, 7, "R");
    hbd_run before = get_run(f->eng, id);
    char url[256];
    snprintf(url, sizeof url, "%s/workflow_run/%lld/log_heartbeat", f->base, (long long)id);
    /* The store's writes fail: the beat is taken, its commit fails, and
       the reply that waited for it is a 500. */
    fault_vfs_set(FAULT_FAIL);
    http_reply r;
    assert_int_equal(log_capture_start(), 0);
    int rc = http_do(f->curl, "POST", url, beat_body, strlen(beat_body), 0, &r);
    char *log = log_capture_stop();
    assert_non_null(log);
    assert_int_equal(rc, 0);
    http_check_error(&r, 500);
    /* What the store said stays in the log: the committer's line is
       "<store's message>; refusing further changes (restart hbeatd)". */
    const char *end = strstr(log, "; refusing further changes");
    if (end == NULL)
        fprintf(stderr, "log: %s\n", log);
    assert_non_null(end);
    const char *begin = end;
    while (begin > log && begin[-1] != '\n')
        begin--;
    const char *level = strstr(begin, " hbeatd error ");
    assert_true(level != NULL && level < end);
    begin = level + strlen(" hbeatd error ");
    char said[256];
    snprintf(said, sizeof said, "%.*s", (int)(end - begin), begin);
    assert_true(strlen(said) > 0);
    assert_null(strstr(r.body, said));
    assert_null(strstr(r.body, "refusing"));
    free(log);
    http_reply_free(&r);

    /* The store has failed for good: the next change is refused at once,
       on the same connection. */
    assert_int_equal(http_do(f->curl, "POST", url, beat_body, strlen(beat_body), 0, &r), 0);
    http_check_error(&r, 500);
    assert_int_equal(r.new_connections, 0);
    http_reply_free(&r);

    /* Restarted over the same file with the disk sound again, the server
       answers the next call; the failed beats never became durable. */
    fault_vfs_set(FAULT_NONE);
    restart(f);
    hbd_run reloaded = get_run(f->eng, id);
    assert_memory_equal(&before, &reloaded, sizeof before);
    snprintf(url, sizeof url, "%s/workflow_run/%lld/log_heartbeat", f->base, (long long)id);
    assert_int_equal(http_do(f->curl, "POST", url, beat_body, strlen(beat_body), 0, &r), 0);
    assert_int_equal(r.status, 200);
    http_reply_free(&r);
    assert_int_equal(get_run(f->eng, id).beats, before.beats + 1);
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
        cl[i] = (client){f, add_run(f->eng, 100 + i, "R"), 0};
        assert_int_equal(pthread_create(&th[i], NULL, client_main, &cl[i]), 0);
    }
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(cl[i].ok, BEATS);
        assert_int_equal(get_run(f->eng, cl[i].id).beats, BEATS);
    }
}

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

/* 1 once a write or sync has been held since fault_vfs_held() was
   `before` (bounded wait). */
static int wait_held(int before)
{
    for (int i = 0; i < 2000; i++) {
        if (fault_vfs_held() > before)
            return 1;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static void test_stop_answers_requests_in_flight(void **state)
{
    fixture *f = *state;
    int64_t id = add_run(f->eng, 7, "R");
    char url[256], get_url[256];
    snprintf(url, sizeof url, "%s/workflow_run/%lld/log_heartbeat", f->base, (long long)id);
    snprintf(get_url, sizeof get_url, "%s/runs/%lld", f->base, (long long)id);

    /* An idle keep-alive connection, open before the stop. */
    http_reply r;
    assert_int_equal(http_do(f->curl, "GET", get_url, NULL, 0, 0, &r), 0);
    assert_int_equal(r.status, 200);
    http_reply_free(&r);

    /* A beat whose commit is held back (its write waits in the store's
       writer thread): in flight when the stop begins. */
    int held = fault_vfs_held();
    fault_vfs_set(FAULT_HOLD);
    memset(&f->beat, 0, sizeof f->beat);
    snprintf(f->beat.url, sizeof f->beat.url, "%s", url);
    f->beat.rc = -1;
    assert_int_equal(pthread_create(&f->beat_thread, NULL, bg_beat, &f->beat), 0);
    f->beat_running = 1;
    assert_true(wait_held(held));
    assert_int_equal(pthread_create(&f->stop_thread, NULL, bg_stop, f->rest), 0);
    f->stop_running = 1;
    unsigned short port = hbd_rest_port(f->rest);
    assert_true(wait_refused(port));

    /* A request on the old connection meanwhile: refused, and closed. */
    assert_int_equal(http_do(f->curl, "GET", get_url, NULL, 0, 0, &r), 0);
    http_check_error(&r, 503);
    assert_string_equal(r.connection, "close");
    http_reply_free(&r);

    /* The commit lands: the beat is answered, then the stop completes. */
    fault_vfs_set(FAULT_NONE);
    pthread_join(f->beat_thread, NULL);
    f->beat_running = 0;
    assert_int_equal(f->beat.rc, 0);
    assert_int_equal(f->beat.reply.status, 200);
    assert_true(http_body_is(&f->beat.reply, "{\"status\":\"R\"}"));
    http_reply_free(&f->beat.reply);
    pthread_join(f->stop_thread, NULL);
    f->stop_running = 0;
    f->rest = NULL; /* stopped; teardown's stop is then a no-op */
    /* What was answered is durable. */
    assert_int_equal(get_run(f->eng, id).beats, 1);
}

static void test_start_errors(void **state)
{
    (void)state;
    hbd_engine *eng = open_engine(":memory:");
    assert_non_null(eng);
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
    hbd_engine_close(eng);
}

static void test_ipv6_loopback(void **state)
{
    (void)state;
    hbd_engine *eng = open_engine(":memory:");
    assert_non_null(eng);
    hbd_rest *rest = NULL;
    hbd_rest_options o = {"::1", 0, 0, 1};
    hbeat_error err = HBEAT_ERROR_INIT;
    if (hbd_rest_start(&rest, eng, &o, NULL, &err) != 0) {
        hbd_engine_close(eng);
        skip(); /* no IPv6 on this machine */
    }
    int64_t id = add_run(eng, 7, "R");
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
    assert_int_equal(get_run(eng, id).beats, 1);
    hbd_engine_close(eng);
}

int main(void)
{
    /* Before any store is opened: every store then goes through it. */
    if (fault_vfs_install() != 0)
        return 1;
    /* The engine's info lines (a store opened, a run created) would only
       clutter the output; the front end's warnings still show. */
    hbd_log_set_level(HBEAT_LOG_WARN);
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
