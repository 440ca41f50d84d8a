/*
 * Request framing against the real hbeatd, on raw sockets: a request whose body length has two
 * readings (Content-Length with Transfer-Encoding, two different Content-Lengths, an encoding other
 * than one "chunked") is refused with 400 and its connection closed, so that a request smuggled
 * behind it is never read; well-formed framing (one Content-Length, repeats of one value, plain
 * chunked) is served as before.
 *
 * Also the log under a flood of bad requests: a few lines, not one per
 * request.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "hbeat/hbeat.h"
#include "integration/security/sec_support.h"

static const char beat[] = "{\"status\": \"R\", \"next_report_increment\": 60}";

typedef struct fx {
    hbd_harness h;
    int port;
    int64_t run;
} fx;

static int setup(void **state)
{
    static fx f;
    memset(&f, 0, sizeof f);
    if (hbd_harness_start(&f.h, NULL) != 0)
        return -1;
    f.port = sec_ready_port(&f.h, "http http://");
    hbeat_gateway *gw = sec_open(f.h.rest_url, NULL, NULL, 10.0);
    hbeat_run_info run;
    int rc = hbeat_run_create(gw, 5, "R", &run, NULL);
    hbeat_gateway_free(gw);
    if (rc != 0)
        return -1;
    f.run = run.workflow_run_id;
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    int rc = hbd_harness_stop(&f->h);
    hbd_harness_cleanup(&f->h);
    return rc == 0 ? 0 : -1;
}

/* Reads one response off `fd` (head, and the body its Content-Length
   announces) into `out`; its length, or -1 when the connection ended or
   5 s passed first. */
static long read_response(int fd, char *out, size_t size)
{
    size_t have = 0;
    double until = sec_now() + 5.0;
    while (have + 1 < size && sec_now() < until) {
        ssize_t r = recv(fd, out + have, size - 1 - have, 0);
        if (r <= 0)
            return -1;
        have += (size_t)r;
        out[have] = '\0';
        const char *end = strstr(out, "\r\n\r\n");
        if (end == NULL)
            continue;
        const char *cl = strstr(out, "Content-Length: ");
        size_t body = cl != NULL && cl < end ? strtoul(cl + 16, NULL, 10) : 0;
        if (have >= (size_t)(end + 4 - out) + body)
            return (long)have;
    }
    return -1;
}

/* Sends `head` and `body` on a fresh connection and reads one response.
   Returns the fd (still open, for the caller to probe and close). */
static int exchange(const fx *f, const char *head, const char *body, char *reply, size_t size)
{
    int fd = sec_connect(NULL, f->port);
    assert_true(fd >= 0);
    char req[2048];
    int n = snprintf(req, sizeof req, "%s\r\n%s", head, body);
    assert_true(n > 0 && (size_t)n < sizeof req);
    assert_int_equal(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
    if (read_response(fd, reply, size) < 0)
        fail_msg("no whole response to:\n%s\ngot: %s", req, reply);
    return fd;
}

static void expect_refused(const fx *f, const char *head, const char *body, const char *why)
{
    char reply[4096] = "";
    int fd = exchange(f, head, body, reply, sizeof reply);
    if (strncmp(reply, "HTTP/1.1 400", 12) != 0 || strstr(reply, why) == NULL)
        fail_msg("wanted a 400 saying \"%s\" to:\n%s\ngot:\n%s", why, head, reply);
    assert_non_null(strstr(reply, "\"type\":\"InvalidUsage\""));
    assert_non_null(strstr(reply, "Connection: close"));
    /* And nothing more is read from the connection: it ends. */
    if (!sec_closed_within(fd, 2.0))
        fail_msg("the connection stayed open after refusing:\n%s", head);
    close(fd);
}

static void expect_served(const fx *f, const char *head, const char *body)
{
    char reply[4096] = "";
    int fd = exchange(f, head, body, reply, sizeof reply);
    if (strncmp(reply, "HTTP/1.1 200", 12) != 0 || strstr(reply, "{\"status\":\"R\"}") == NULL)
        fail_msg("wanted a 200 to:\n%s\ngot:\n%s", head, reply);
    /* Kept alive: served requests do not end their connection. */
    assert_int_equal(sec_closed_within(fd, 0.2), 0);
    close(fd);
}

#define HEAD_START "POST /api/v3/workflow_run/%lld/log_heartbeat HTTP/1.1\r\nHost: x\r\n"

static void test_content_length_with_transfer_encoding(void **state)
{
    fx *f = *state;
    char head[512], body[256];
    snprintf(body, sizeof body, "%zx\r\n%s\r\n0\r\n\r\n", strlen(beat), beat);
    snprintf(head, sizeof head, HEAD_START "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
             (long long)f->run);
    expect_refused(f, head, body, "both Content-Length and Transfer-Encoding");
    /* The other order reads the same. */
    snprintf(head, sizeof head, HEAD_START "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n",
             (long long)f->run);
    expect_refused(f, head, body, "both Content-Length and Transfer-Encoding");
}

static void test_two_content_lengths(void **state)
{
    fx *f = *state;
    char head[512];
    snprintf(head, sizeof head, HEAD_START "Content-Length: %zu\r\nContent-Length: 0\r\n",
             (long long)f->run, strlen(beat));
    expect_refused(f, head, beat, "two different Content-Length headers");
    /* The same value twice has one reading (RFC 9112 6.3): served. */
    snprintf(head, sizeof head, HEAD_START "Content-Length: %zu\r\nContent-Length: %zu\r\n",
             (long long)f->run, strlen(beat), strlen(beat));
    expect_served(f, head, beat);
}

static void test_encodings_other_than_one_chunked(void **state)
{
    fx *f = *state;
    char head[512], body[256];
    snprintf(body, sizeof body, "%zx\r\n%s\r\n0\r\n\r\n", strlen(beat), beat);
    snprintf(head, sizeof head, HEAD_START "Transfer-Encoding: gzip, chunked\r\n",
             (long long)f->run);
    expect_refused(f, head, body, "the only Transfer-Encoding accepted is chunked");
    snprintf(head, sizeof head,
             HEAD_START "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
             (long long)f->run);
    expect_refused(f, head, body, "one Transfer-Encoding header only");
    /* Plain chunked is served, and so is a single Content-Length. */
    snprintf(head, sizeof head, HEAD_START "Transfer-Encoding: chunked\r\n", (long long)f->run);
    expect_served(f, head, body);
    snprintf(head, sizeof head, HEAD_START "Content-Length: %zu\r\n", (long long)f->run,
             strlen(beat));
    expect_served(f, head, beat);
}

/* What a front proxy going by Content-Length would pass on as one request
   carries a second one for hbeatd; refused and closed, it is never read. */
static void test_a_smuggled_request_is_never_answered(void **state)
{
    fx *f = *state;
    char smuggled[256], body[512], head[512];
    snprintf(smuggled, sizeof smuggled, "GET /api/v3/runs/%lld HTTP/1.1\r\nHost: x\r\n\r\n",
             (long long)f->run);
    snprintf(body, sizeof body, "0\r\n\r\n%s", smuggled);
    snprintf(head, sizeof head,
             HEAD_START "Content-Length: %zu\r\nTransfer-Encoding: chunked\r\n"
                        "Content-Type: application/json\r\n",
             (long long)f->run, strlen(body));
    int fd = sec_connect(NULL, f->port);
    assert_true(fd >= 0);
    char req[2048];
    int n = snprintf(req, sizeof req, "%s\r\n%s", head, body);
    assert_int_equal(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
    /* Everything hbeatd sends before it closes: one response, the 400. */
    char all[8192];
    size_t have = 0;
    double until = sec_now() + 5.0;
    for (;;) {
        ssize_t r = recv(fd, all + have, sizeof all - 1 - have, 0);
        if (r <= 0 || sec_now() > until)
            break;
        have += (size_t)r;
    }
    all[have] = '\0';
    close(fd);
    assert_true(sec_now() <= until); /* it closed; no timeout */
    assert_true(strncmp(all, "HTTP/1.1 400", 12) == 0);
    const char *second = strstr(all + 1, "HTTP/1.1 ");
    if (second != NULL)
        fail_msg("a second response came back:\n%s", all);
}

/* 300 bad requests: the log says a few of them and counts the rest
   (log.h), rather than a line each. */
static void test_a_flood_of_bad_requests_is_logged_briefly(void **state)
{
    fx *f = *state;
    int fd = sec_connect(NULL, f->port);
    assert_true(fd >= 0);
    for (int i = 0; i < 300; i++) {
        char req[256], reply[2048];
        int n =
            snprintf(req, sizeof req, "GET /api/v3/runs/flood-%d HTTP/1.1\r\nHost: x\r\n\r\n", i);
        assert_int_equal(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
        assert_true(read_response(fd, reply, sizeof reply) > 0);
        if (strncmp(reply, "HTTP/1.1 400", 12) != 0)
            fail_msg("request %d: %s", i, reply);
    }
    close(fd);
    char path[600];
    snprintf(path, sizeof path, "%s/hbeatd.log", f->h.dir);
    FILE *log = fopen(path, "r");
    assert_non_null(log);
    char line[2048];
    int lines = 0;
    while (fgets(line, sizeof line, log) != NULL)
        lines += strstr(line, "/flood-") != NULL;
    fclose(log);
    if (lines < 1 || lines > 12)
        fail_msg("300 bad requests wrote %d log lines; want a few", lines);
    /* The count of the rest follows (the main loop's flush, within 5 s). */
    assert_int_equal(sec_log_wait(&f->h, "rest: refused request: ", 8.0), 0);
    assert_true(sec_log_contains(&f->h, "similar lines suppressed"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_content_length_with_transfer_encoding, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_two_content_lengths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_encodings_other_than_one_chunked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_smuggled_request_is_never_answered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_flood_of_bad_requests_is_logged_briefly, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
