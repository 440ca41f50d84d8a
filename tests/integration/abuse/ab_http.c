/* Malformed REST requests over raw sockets, kept alive where the server
   allows it. */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "abuse.h"

/* Past hbeatd's 64 KiB body limit, below the size it drains before the
   413 (4 MiB): sent whole, answered 413. */
#define OVERSIZED (100 * 1024)
/* Generous, for sanitizer builds. */
#define REPLY_TIMEOUT_MS 20000
#define RESP_MAX         (16 * 1024)

typedef enum kind {
    K_BAD_JSON,    /* the body is not JSON */
    K_WRONG_TYPES, /* a number where a string goes, and the reverse */
    K_BAD_VALUES,  /* a missing field, an invalid status, a bad increment */
    K_WRONG_METHOD,
    K_OVERSIZED,     /* a 100 KiB body */
    K_NON_NUMERIC,   /* /workflow_run/abc/log_heartbeat */
    K_DECLARED_HUGE, /* Content-Length: 50 MB, no body sent */
    K_KINDS
} kind;

static const char *const kind_names[] = {"invalid JSON", "wrong types", "bad values",
                                         "wrong method", "oversized",   "non-numeric id",
                                         "declared huge"};

typedef struct conn {
    int fd;
    struct sockaddr_in addr;
} conn;

static int connect_to(conn *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0)
        return -1;
    if (connect(c->fd, (struct sockaddr *)&c->addr, sizeof(c->addr)) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    return 0;
}

static void drop(conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

static int send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads one response; its status code, or -1 when the connection ended
   first (or timed out). *close_after is set when the server said
   Connection: close. */
static int read_response(int fd, int *close_after)
{
    char buf[RESP_MAX + 1];
    size_t have = 0;
    char *end = NULL;
    *close_after = 0;
    for (;;) {
        buf[have] = '\0';
        if ((end = strstr(buf, "\r\n\r\n")) != NULL)
            break;
        if (have == RESP_MAX)
            return -1;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, REPLY_TIMEOUT_MS) != 1)
            return -1;
        ssize_t n = recv(fd, buf + have, RESP_MAX - have, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        have += (size_t)n;
    }
    int status = 0;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    size_t body = 0;
    for (char *l = strstr(buf, "\r\n"); l != NULL && l < end; l = strstr(l + 2, "\r\n")) {
        if (strncasecmp(l + 2, "content-length:", 15) == 0)
            body = (size_t)strtoul(l + 17, NULL, 10);
        else if (strncasecmp(l + 2, "connection:", 11) == 0 && strstr(l + 13, "close") != NULL &&
                 strstr(l + 13, "close") < strstr(l + 2, "\r\n"))
            *close_after = 1;
    }
    size_t want = (size_t)(end - buf) + 4 + body;
    while (have < want) {
        char sink[4096];
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, REPLY_TIMEOUT_MS) != 1)
            return -1;
        ssize_t n = recv(fd, sink, sizeof(sink), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        have += (size_t)n;
    }
    return status;
}

/* Builds request i into *out (malloc'd); returns its length and sets the
   status hbeatd must answer. */
static size_t build(kind k, const ab_target *t, uint64_t *rng, char **out, int *expect)
{
    long long run = (long long)t->runs[tsock_xorshift(rng) % t->nruns];
    char path[128];
    snprintf(path, sizeof(path), "/api/v3/workflow_run/%lld/log_heartbeat", run);
    const char *method = "POST";
    const char *body = "";
    char *big = NULL;
    size_t declared = 0;
    switch (k) {
    case K_BAD_JSON: {
        static const char *const bodies[] = {
            "{\"status\": \"D\", \"next_report_increment\": ", "status=D", "{\"status\": \"D\"",
            "\x01\x02\x03", "{\"status\": \"D\", \"next_report_increment\": 45.0}}"};
        body = bodies[tsock_xorshift(rng) % 5];
        *expect = 400;
        break;
    }
    case K_WRONG_TYPES: {
        static const char *const bodies[] = {
            "{\"status\": 5, \"next_report_increment\": 45.0}",
            "{\"status\": \"D\", \"next_report_increment\": \"45\"}",
            "{\"status\": [\"D\"], \"next_report_increment\": 45.0}", "[\"D\", 45.0]",
            "{\"status\": null, \"next_report_increment\": 45.0}"};
        body = bodies[tsock_xorshift(rng) % 5];
        *expect = 400;
        break;
    }
    case K_BAD_VALUES: {
        static const char *const bodies[] = {
            "{\"status\": \"D\"}", "{\"next_report_increment\": 45.0}",
            "{\"status\": \"Z\", \"next_report_increment\": 45.0}",
            "{\"status\": \"D\", \"next_report_increment\": -1.0}",
            "{\"status\": \"D\", \"next_report_increment\": 1e300}"};
        body = bodies[tsock_xorshift(rng) % 5];
        *expect = 400;
        break;
    }
    case K_WRONG_METHOD: {
        static const char *const methods[] = {"GET", "PUT", "DELETE", "PATCH"};
        method = methods[tsock_xorshift(rng) % 4];
        body = "{\"status\": \"D\", \"next_report_increment\": 45.0}";
        *expect = 405;
        break;
    }
    case K_OVERSIZED: {
        /* Valid JSON, aimed at a live run, refused only for its size. */
        static const char head[] = "{\"status\": \"D\", \"next_report_increment\": 45.0";
        big = malloc(OVERSIZED + 1);
        memset(big, ' ', OVERSIZED);
        memcpy(big, head, sizeof(head) - 1);
        big[OVERSIZED - 1] = '}';
        big[OVERSIZED] = '\0';
        body = big;
        *expect = 413;
        break;
    }
    case K_NON_NUMERIC: {
        /* Not "%31": that is "1" (RFC 3986 equivalence), a valid id. */
        static const char *const ids[] = {"abc", "1x", "-", "0x10", "1.5", "1e3", "%41"};
        snprintf(path, sizeof(path), "/api/v3/workflow_run/%s/log_heartbeat",
                 ids[tsock_xorshift(rng) % 7]);
        body = "{\"status\": \"D\", \"next_report_increment\": 45.0}";
        *expect = 400;
        break;
    }
    case K_DECLARED_HUGE:
        declared = 50u * 1000 * 1000;
        *expect = 413;
        break;
    case K_KINDS:
        break;
    }
    size_t blen = strlen(body);
    size_t cap = blen + 512;
    *out = malloc(cap);
    int n = snprintf(*out, cap,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     method, path, declared != 0 ? declared : blen);
    memcpy(*out + n, body, blen);
    free(big);
    return (size_t)n + blen;
}

int ab_http_run(const char *host_port, const ab_target *t, ab_tally *out)
{
    memset(out, 0, sizeof(*out));
    conn c = {-1, {0}};
    c.addr.sin_family = AF_INET;
    unsigned port = 0;
    char host[64] = "";
    if (sscanf(host_port, "%63[^:]:%u", host, &port) != 2 ||
        inet_pton(AF_INET, host, &c.addr.sin_addr) != 1) {
        ab_wrong(out, "http: bad address %s", host_port);
        return -1;
    }
    c.addr.sin_port = htons((unsigned short)port);
    uint64_t rng = t->seed;
    for (unsigned i = 0; i < t->count; i++) {
        kind k = (kind)(i % K_KINDS);
        char *req;
        int expect;
        size_t len = build(k, t, &rng, &req, &expect);
        out->sent++;
        int status = -1, close_after = 0;
        /* A kept-alive connection the server has just closed fails before
           any answer: that one attempt is made again on a new one. */
        for (int attempt = 0; attempt < 2 && status < 0; attempt++) {
            if (c.fd < 0 && connect_to(&c) != 0)
                break;
            /* A body the server refuses early may meet a closed socket:
               the answer, if it came, is still read. */
            send_all(c.fd, req, len);
            status = read_response(c.fd, &close_after);
            if (status < 0 || close_after)
                drop(&c);
        }
        free(req);
        if (status == expect)
            out->refused_right++;
        else if (status < 0)
            ab_wrong(out, "http %s: no answer", kind_names[k]);
        else
            ab_wrong(out, "http %s: status %d, expected %d", kind_names[k], status, expect);
        atomic_fetch_add(t->progress, 1);
    }
    drop(&c);
    return 0;
}
