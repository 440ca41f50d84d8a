#define _POSIX_C_SOURCE 200809L

#include "hostile_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/tsock.h"

#define REQ_MAX (64 * 1024)

_Static_assert(HH_MODES <= FX_HOSTILE_MODES, "fx_hostile counts every mode");

/* Bodies a client must refuse although the status is 200. */
static const char *const wrong_bodies[] = {
    "{\"state\":\"R\"}",          /* the wrong member */
    "{\"status\":42}",            /* the wrong type */
    "{\"status\":\"RUNNING\"}",   /* not a status token */
    "[\"R\"]",                    /* not an object */
    "{\"status\":\"R\"",          /* not JSON at all */
    "{\"status\":\"R\",\"x\":1}", /* a member too many */
    "",                           /* nothing */
};
#define WRONG_BODIES (sizeof(wrong_bodies) / sizeof(wrong_bodies[0]))

static void honest(int fd, const char *req)
{
    char status[8] = "R";
    const char *s = strstr(req, "\"status\": \"");
    if (s != NULL)
        sscanf(s + 11, "%7[^\"]", status);
    char body[32], reply[256];
    int n = snprintf(body, sizeof(body), "{\"status\":\"%s\"}", status);
    snprintf(reply, sizeof(reply),
             "HTTP/1.1 200 OK\r\ndate: Mon, 01 Dec 2025 12:00:00 GMT\r\nserver: uvicorn\r\n"
             "content-length: %d\r\ncontent-type: application/json\r\n\r\n%s",
             n, body);
    tsock_send_str(fd, reply);
}

static void garbage(fx_hostile *p, int fd)
{
    unsigned char junk[256];
    for (size_t i = 0; i < sizeof(junk); i += 8) {
        uint64_t r = fx_hostile_random(p);
        memcpy(junk + i, &r, 8);
    }
    /* Whatever the draw, it must not start like an HTTP reply. */
    junk[0] = 0xfe;
    tsock_send_all(fd, junk, sizeof(junk));
}

/* Streams up to HH_HUGE_LEN body bytes, keeping the largest count any one
   stream reached up to date as it goes (a client that stops reading
   without closing leaves the stream blocked, not finished). */
static void huge(fx_hostile *p, int fd, int chunked)
{
    static const char head_len[] = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                                   "content-length: 104857600\r\n\r\n";
    static const char head_chunked[] = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                                       "transfer-encoding: chunked\r\n\r\n";
    char chunk[16384];
    memset(chunk, ' ', sizeof(chunk));
    chunk[0] = '{';
    uint64_t sent = 0;
    if (tsock_send_str(fd, chunked ? head_chunked : head_len) != 0)
        sent = HH_HUGE_LEN + 1; /* nothing to stream */
    while (sent < HH_HUGE_LEN) {
        if (chunked && tsock_send_str(fd, "4000\r\n") != 0)
            break;
        if (tsock_send_all(fd, chunk, sizeof(chunk)) != 0)
            break;
        if (chunked && tsock_send_str(fd, "\r\n") != 0)
            break;
        sent += sizeof(chunk);
        chunk[0] = ' ';
        fx_hostile_huge_sent(p, sent);
    }
    if (chunked && sent == HH_HUGE_LEN)
        tsock_send_str(fd, "0\r\n\r\n");
    fx_hostile_huge_ended(p);
}

/* Answers one request; returns 1 when the connection is to be closed. */
static int answer(fx_hostile *p, int fd, const char *req)
{
    unsigned nth = 0;
    hh_mode mode = (hh_mode)fx_hostile_next(p, &nth);
    if (strstr(req, "/log_heartbeat") == NULL)
        fx_hostile_count_unexpected(p);
    unsigned wrong = nth % WRONG_BODIES;

    char reply[512];
    switch (mode) {
    case HH_HONEST:
        honest(fd, req);
        return 0;
    case HH_GARBAGE:
        garbage(p, fd);
        return 1;
    case HH_TRUNCATED:
        tsock_send_str(fd, "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                           "content-length: 64\r\n\r\n{\"status\":");
        return 1;
    case HH_HUGE:
    case HH_HUGE_CHUNKED:
        huge(p, fd, mode == HH_HUGE_CHUNKED);
        return 1;
    case HH_500: {
        const char *body = "{\"error\": {\"type\": \"ServerError\", \"exception_message\": "
                           "\"the database is gone\", \"status_code\": \"500\"}}";
        snprintf(reply, sizeof(reply),
                 "HTTP/1.1 500 Internal Server Error\r\ncontent-length: %zu\r\n"
                 "content-type: application/custom+json\r\n\r\n%s",
                 strlen(body), body);
        tsock_send_str(fd, reply);
        return 1;
    }
    case HH_WRONG_JSON:
        snprintf(reply, sizeof(reply),
                 "HTTP/1.1 200 OK\r\ncontent-length: %zu\r\ncontent-type: application/json\r\n"
                 "\r\n%s",
                 strlen(wrong_bodies[wrong]), wrong_bodies[wrong]);
        tsock_send_str(fd, reply);
        return 0;
    case HH_CLOSE_IN_STATUS:
        tsock_send_str(fd, "HTTP/1.1 20");
        return 1;
    case HH_CLOSE_IN_HEAD:
        tsock_send_str(fd, "HTTP/1.1 200 OK\r\ncontent-type: appl");
        return 1;
    case HH_MODES:
        break;
    }
    return 1;
}

static void serve(void *arg, int fd, int index)
{
    (void)index;
    tsock_http in;
    tsock_http_init(&in, REQ_MAX);
    while (tsock_http_next(fd, &in) >= 0 && !answer(arg, fd, in.buf))
        ;
    tsock_http_free(&in);
}

fx_hostile *hh_start(void)
{
    fx_hostile *p = fx_hostile_new(0x9e3779b97f4a7c15ull);
    p->srv = tsock_listen_tcp(serve, p);
    snprintf(p->url, sizeof(p->url), "http://127.0.0.1:%u/api/v3", (unsigned)tsock_port(p->srv));
    return p;
}
