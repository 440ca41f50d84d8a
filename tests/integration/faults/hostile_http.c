#define _POSIX_C_SOURCE 200809L

#include "hostile_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define REQ_MAX (64 * 1024)

typedef struct hh_conn {
    hh_peer *p;
    int fd;
    pthread_t thread;
    struct hh_conn *next;
} hh_conn;

struct hh_peer {
    int lfd;
    char url[64];
    pthread_t accept_thread;
    pthread_mutex_t mu;
    int stopping;
    hh_mode mode;
    unsigned answered[HH_MODES];
    unsigned wrong_json_next;
    unsigned unexpected;
    uint64_t huge_sent_max;
    unsigned huge_done;
    uint64_t rng;
    hh_conn *conns;
};

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

static int send_all(int fd, const void *buf, size_t len)
{
    const char *b = buf;
    while (len > 0) {
        ssize_t n = send(fd, b, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

static int send_str(int fd, const char *s)
{
    return send_all(fd, s, strlen(s));
}

/* Reads one request (head and Content-Length body) into buf; returns its
   length, or -1 at EOF or on anything unreadable. `have` carries bytes
   that arrived early across requests. */
static long read_request(int fd, char *buf, size_t *have)
{
    char *end;
    for (;;) {
        buf[*have] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (end != NULL)
            break;
        if (*have >= REQ_MAX - 1)
            return -1;
        ssize_t n = recv(fd, buf + *have, REQ_MAX - 1 - *have, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        *have += (size_t)n;
    }
    size_t head = (size_t)(end - buf) + 4;
    size_t body = 0;
    for (const char *l = strstr(buf, "\r\n"); l != NULL && l < end; l = strstr(l + 2, "\r\n")) {
        if (strncasecmp(l + 2, "content-length:", 15) == 0)
            body = (size_t)strtoul(l + 17, NULL, 10);
    }
    if (head + body >= REQ_MAX)
        return -1;
    while (*have < head + body) {
        ssize_t n = recv(fd, buf + *have, REQ_MAX - 1 - *have, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        *have += (size_t)n;
    }
    return (long)(head + body);
}

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
    send_str(fd, reply);
}

static uint64_t next_random(hh_peer *p)
{
    pthread_mutex_lock(&p->mu);
    uint64_t x = p->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    p->rng = x;
    pthread_mutex_unlock(&p->mu);
    return x;
}

static void garbage(hh_peer *p, int fd)
{
    unsigned char junk[256];
    for (size_t i = 0; i < sizeof(junk); i += 8) {
        uint64_t r = next_random(p);
        memcpy(junk + i, &r, 8);
    }
    /* Whatever the draw, it must not start like an HTTP reply. */
    junk[0] = 0xfe;
    send_all(fd, junk, sizeof(junk));
}

/* Streams up to HH_HUGE_LEN body bytes, keeping the largest count any one
   stream reached up to date as it goes (a client that stops reading
   without closing leaves the stream blocked, not finished). */
static void huge(hh_peer *p, int fd, int chunked)
{
    static const char head_len[] = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                                   "content-length: 104857600\r\n\r\n";
    static const char head_chunked[] = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                                       "transfer-encoding: chunked\r\n\r\n";
    char chunk[16384];
    memset(chunk, ' ', sizeof(chunk));
    chunk[0] = '{';
    uint64_t sent = 0;
    if (send_str(fd, chunked ? head_chunked : head_len) != 0)
        sent = HH_HUGE_LEN + 1; /* nothing to stream */
    while (sent < HH_HUGE_LEN) {
        if (chunked && send_str(fd, "4000\r\n") != 0)
            break;
        if (send_all(fd, chunk, sizeof(chunk)) != 0)
            break;
        if (chunked && send_str(fd, "\r\n") != 0)
            break;
        sent += sizeof(chunk);
        chunk[0] = ' ';
        pthread_mutex_lock(&p->mu);
        if (sent > p->huge_sent_max)
            p->huge_sent_max = sent;
        pthread_mutex_unlock(&p->mu);
    }
    if (chunked && sent == HH_HUGE_LEN)
        send_str(fd, "0\r\n\r\n");
    pthread_mutex_lock(&p->mu);
    p->huge_done++;
    pthread_mutex_unlock(&p->mu);
}

/* Answers one request; returns 1 when the connection is to be closed. */
static int answer(hh_peer *p, int fd, const char *req)
{
    pthread_mutex_lock(&p->mu);
    hh_mode mode = p->mode;
    p->answered[mode]++;
    if (strstr(req, "/log_heartbeat") == NULL)
        p->unexpected++;
    unsigned wrong = p->wrong_json_next++ % WRONG_BODIES;
    pthread_mutex_unlock(&p->mu);

    char reply[512];
    switch (mode) {
    case HH_HONEST:
        honest(fd, req);
        return 0;
    case HH_GARBAGE:
        garbage(p, fd);
        return 1;
    case HH_TRUNCATED:
        send_str(fd, "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
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
        send_str(fd, reply);
        return 1;
    }
    case HH_WRONG_JSON:
        snprintf(reply, sizeof(reply),
                 "HTTP/1.1 200 OK\r\ncontent-length: %zu\r\ncontent-type: application/json\r\n"
                 "\r\n%s",
                 strlen(wrong_bodies[wrong]), wrong_bodies[wrong]);
        send_str(fd, reply);
        return 0;
    case HH_CLOSE_IN_STATUS:
        send_str(fd, "HTTP/1.1 20");
        return 1;
    case HH_CLOSE_IN_HEAD:
        send_str(fd, "HTTP/1.1 200 OK\r\ncontent-type: appl");
        return 1;
    case HH_MODES:
        break;
    }
    return 1;
}

static void *conn_main(void *arg)
{
    hh_conn *c = arg;
    char *buf = malloc(REQ_MAX);
    size_t have = 0;
    for (;;) {
        long len = read_request(c->fd, buf, &have);
        if (len < 0)
            break;
        char saved = buf[len];
        buf[len] = '\0';
        int close_now = answer(c->p, c->fd, buf);
        buf[len] = saved;
        memmove(buf, buf + len, have - (size_t)len);
        have -= (size_t)len;
        if (close_now)
            break;
    }
    /* Closed under the lock: stop() shuts live fds down under it and must
       never hit a number the process has reused since. */
    pthread_mutex_lock(&c->p->mu);
    close(c->fd);
    c->fd = -1;
    pthread_mutex_unlock(&c->p->mu);
    free(buf);
    return NULL;
}

static void *accept_main(void *arg)
{
    hh_peer *p = arg;
    for (;;) {
        int fd = accept(p->lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            break;
        }
        hh_conn *c = calloc(1, sizeof(*c));
        c->p = p;
        c->fd = fd;
        pthread_mutex_lock(&p->mu);
        if (p->stopping) {
            pthread_mutex_unlock(&p->mu);
            close(fd);
            free(c);
            continue;
        }
        c->next = p->conns;
        p->conns = c;
        if (pthread_create(&c->thread, NULL, conn_main, c) != 0) {
            p->conns = c->next;
            close(fd);
            free(c);
        }
        pthread_mutex_unlock(&p->mu);
    }
    return NULL;
}

hh_peer *hh_start(void)
{
    hh_peer *p = calloc(1, sizeof(*p));
    pthread_mutex_init(&p->mu, NULL);
    p->rng = 0x9e3779b97f4a7c15ull;
    p->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof(a);
    if (p->lfd < 0 || bind(p->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(p->lfd, 128) != 0 || getsockname(p->lfd, (struct sockaddr *)&a, &alen) != 0) {
        perror("hostile_http");
        abort();
    }
    snprintf(p->url, sizeof(p->url), "http://127.0.0.1:%u/api/v3", (unsigned)ntohs(a.sin_port));
    pthread_create(&p->accept_thread, NULL, accept_main, p);
    return p;
}

void hh_stop(hh_peer *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_mutex_unlock(&p->mu);
    /* On Linux this wakes the blocked accept(). */
    shutdown(p->lfd, SHUT_RDWR);
    pthread_join(p->accept_thread, NULL);
    close(p->lfd);
    pthread_mutex_lock(&p->mu);
    for (hh_conn *c = p->conns; c != NULL; c = c->next) {
        if (c->fd >= 0)
            shutdown(c->fd, SHUT_RDWR);
    }
    pthread_mutex_unlock(&p->mu);
    while (p->conns != NULL) {
        hh_conn *c = p->conns;
        p->conns = c->next;
        pthread_join(c->thread, NULL);
        free(c);
    }
    pthread_mutex_destroy(&p->mu);
    free(p);
}

const char *hh_url(const hh_peer *p)
{
    return p->url;
}

void hh_set_mode(hh_peer *p, hh_mode mode)
{
    pthread_mutex_lock(&p->mu);
    p->mode = mode;
    pthread_mutex_unlock(&p->mu);
}

unsigned hh_answered(hh_peer *p, hh_mode mode)
{
    pthread_mutex_lock(&p->mu);
    unsigned n = p->answered[mode];
    pthread_mutex_unlock(&p->mu);
    return n;
}

uint64_t hh_huge_sent_max(hh_peer *p)
{
    pthread_mutex_lock(&p->mu);
    uint64_t n = p->huge_sent_max;
    pthread_mutex_unlock(&p->mu);
    return n;
}

unsigned hh_unexpected(hh_peer *p)
{
    pthread_mutex_lock(&p->mu);
    unsigned n = p->unexpected;
    pthread_mutex_unlock(&p->mu);
    return n;
}

unsigned hh_huge_done(hh_peer *p)
{
    pthread_mutex_lock(&p->mu);
    unsigned n = p->huge_done;
    pthread_mutex_unlock(&p->mu);
    return n;
}
