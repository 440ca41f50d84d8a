#define _POSIX_C_SOURCE 200809L

#include "rest_peer.h"

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "support/tsock.h"

#define MAX_REQUESTS 1024
#define MAX_SCRIPT   64
#define BUF_MAX      (64 * 1024)

typedef struct script_item {
    peer_action a;
    char *bytes;
} script_item;

struct peer {
    tsock_server *srv;
    char url[64];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    peer_request *requests;
    int nrequests;
    script_item script[MAX_SCRIPT];
    int script_head;
    int script_tail;
};

int peer_jobmon_ok(char *out, size_t cap, const char *status)
{
    char body[64];
    int n = snprintf(body, sizeof(body), "{\"status\":\"%s\"}", status);
    return snprintf(out, cap,
                    "HTTP/1.1 200 OK\r\ndate: Mon, 01 Dec 2025 12:00:00 GMT\r\nserver: "
                    "uvicorn\r\ncontent-length: %d\r\ncontent-type: application/json\r\n\r\n%s",
                    n, body);
}

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 413:
        return "Request Entity Too Large";
    case 500:
        return "Internal Server Error";
    default:
        return "Whatever";
    }
}

void peer_push_reply(peer *p, int status, const char *content_type, const char *body,
                     int close_after)
{
    size_t cap = strlen(body) + 512;
    char *buf = malloc(cap);
    snprintf(buf, cap,
             "HTTP/1.1 %d %s\r\ndate: Mon, 01 Dec 2025 12:00:00 GMT\r\nserver: "
             "uvicorn\r\ncontent-length: %zu\r\ncontent-type: %s\r\n\r\n%s",
             status, reason(status), strlen(body), content_type, body);
    peer_action a = {PEER_RESPOND, buf, 0, close_after, 0, 0, 0};
    peer_push(p, a);
    free(buf);
}

void peer_push(peer *p, peer_action a)
{
    pthread_mutex_lock(&p->mu);
    script_item *it = &p->script[p->script_tail++ % MAX_SCRIPT];
    size_t len = a.bytes == NULL ? 0 : a.len != 0 ? a.len : strlen(a.bytes);
    it->bytes = NULL;
    if (a.bytes != NULL) {
        it->bytes = malloc(len + 1);
        memcpy(it->bytes, a.bytes, len);
        it->bytes[len] = '\0';
    }
    it->a = a;
    it->a.bytes = it->bytes;
    it->a.len = len;
    pthread_mutex_unlock(&p->mu);
}

/* Reads the next request on the connection into r; 0, or -1 at EOF or
   on error. */
static int read_request(int fd, tsock_http *in, peer_request *r)
{
    if (tsock_http_next(fd, in) < 0)
        return -1;
    const char *buf = in->buf;
    char target[2048] = "";
    sscanf(buf, "%15s %2047s", r->method, target);
    char *q = strchr(target, '?');
    if (q != NULL) {
        *q = '\0';
        snprintf(r->query, sizeof(r->query), "%s", q + 1);
    }
    /* Cut to fit; the precision keeps -Wformat-truncation quiet. */
    snprintf(r->path, sizeof(r->path), "%.*s", (int)sizeof(r->path) - 1, target);
    const char *line = strstr(buf, "\r\n") + 2;
    size_t hl = in->head - (size_t)(line - buf);
    if (hl >= sizeof(r->headers))
        hl = sizeof(r->headers) - 1;
    memcpy(r->headers, line, hl);
    r->headers[hl] = '\0';
    size_t body_len = in->len - in->head;
    r->body_len = body_len < sizeof(r->body) - 1 ? body_len : sizeof(r->body) - 1;
    memcpy(r->body, buf + in->head, r->body_len);
    r->body[r->body_len] = '\0';
    return 0;
}

static void default_action(const peer_request *r, char *out, size_t cap)
{
    char status[32] = "R";
    const char *s = strstr(r->body, "\"status\": \"");
    if (s != NULL)
        sscanf(s + 11, "%31[^\"]", status);
    peer_jobmon_ok(out, cap, status);
}

static void stream_huge(int fd, const peer_action *a)
{
    static char chunk[16384];
    memset(chunk, 'x', sizeof(chunk));
    if (tsock_send_all(fd, a->bytes, a->len) != 0)
        return;
    size_t sent = 0;
    while (sent < a->huge_len) {
        size_t n = a->huge_len - sent < sizeof(chunk) ? a->huge_len - sent : sizeof(chunk);
        if (a->chunked) {
            char size_line[32];
            int l = snprintf(size_line, sizeof(size_line), "%zx\r\n", n);
            if (tsock_send_all(fd, size_line, (size_t)l) != 0)
                return;
        }
        if (tsock_send_all(fd, chunk, n) != 0)
            return;
        if (a->chunked && tsock_send_all(fd, "\r\n", 2) != 0)
            return;
        sent += n;
    }
    if (a->chunked)
        tsock_send_all(fd, "0\r\n\r\n", 5);
}

static void serve(void *arg, int fd, int index)
{
    peer *p = arg;
    tsock_http in;
    tsock_http_init(&in, BUF_MAX);
    peer_request *r = calloc(1, sizeof(*r));
    for (;;) {
        memset(r, 0, sizeof(*r));
        if (read_request(fd, &in, r) != 0)
            break;
        r->conn = index;
        script_item it = {{PEER_RESPOND, NULL, 0, 0, 0, 0, 0}, NULL};
        pthread_mutex_lock(&p->mu);
        if (p->script_head != p->script_tail)
            it = p->script[p->script_head++ % MAX_SCRIPT];
        if (p->nrequests < MAX_REQUESTS)
            p->requests[p->nrequests++] = *r;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);

        int close_now = 0;
        char def[512];
        switch (it.a.mode) {
        case PEER_RESPOND:
            if (it.bytes == NULL) {
                default_action(r, def, sizeof(def));
                tsock_send_all(fd, def, strlen(def));
            } else {
                tsock_send_all(fd, it.bytes, it.a.len);
            }
            close_now = it.a.close_after;
            if (it.a.reset_next) {
                struct pollfd pfd = {fd, POLLIN, 0};
                poll(&pfd, 1, 30000);
                struct linger lg = {1, 0};
                setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
                close_now = 1;
            }
            break;
        case PEER_SILENT:
            /* Wait for the client (or peer_stop) to end the connection. */
            while (recv(fd, in.buf, in.cap, 0) > 0)
                ;
            close_now = 1;
            break;
        case PEER_CLOSE:
            close_now = 1;
            break;
        case PEER_HUGE:
            stream_huge(fd, &it.a);
            close_now = 1;
            break;
        }
        free(it.bytes);
        if (close_now)
            break;
    }
    /* tsock closes it, not just shuts it down: Jobmon's server drops the
       connection after an error reply exactly so, without
       "Connection: close". */
    free(r);
    tsock_http_free(&in);
}

void peer_no_proxy(void)
{
    tsock_no_proxy();
}

peer *peer_start(void)
{
    peer_no_proxy();
    peer *p = calloc(1, sizeof(*p));
    p->requests = calloc(MAX_REQUESTS, sizeof(peer_request));
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->srv = tsock_listen_tcp(serve, p);
    snprintf(p->url, sizeof(p->url), "http://127.0.0.1:%u/api/v3", (unsigned)tsock_port(p->srv));
    return p;
}

void peer_stop(peer *p)
{
    if (p == NULL)
        return;
    tsock_stop(p->srv);
    while (p->script_head != p->script_tail)
        free(p->script[p->script_head++ % MAX_SCRIPT].bytes);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->requests);
    free(p);
}

unsigned short peer_port(const peer *p)
{
    return tsock_port(p->srv);
}

const char *peer_url(const peer *p)
{
    return p->url;
}

int peer_request_count(peer *p)
{
    pthread_mutex_lock(&p->mu);
    int n = p->nrequests;
    pthread_mutex_unlock(&p->mu);
    return n;
}

int peer_connection_count(peer *p)
{
    return tsock_connections(p->srv);
}

int peer_get(peer *p, int i, peer_request *out)
{
    pthread_mutex_lock(&p->mu);
    int ok = i >= 0 && i < p->nrequests;
    if (ok)
        *out = p->requests[i];
    pthread_mutex_unlock(&p->mu);
    return ok ? 0 : -1;
}

int peer_wait_requests(peer *p, int n)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 30;
    int rc = 0;
    pthread_mutex_lock(&p->mu);
    while (p->nrequests < n && rc == 0)
        rc = pthread_cond_timedwait(&p->cv, &p->mu, &until);
    int ok = p->nrequests >= n;
    pthread_mutex_unlock(&p->mu);
    return ok ? 0 : -1;
}

const char *peer_header(const peer_request *r, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    const char *line = r->headers;
    while (*line != '\0' && strncmp(line, "\r\n", 2) != 0) {
        const char *eol = strstr(line, "\r\n");
        if (eol == NULL)
            break;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            size_t n = (size_t)(eol - v);
            if (n >= cap)
                n = cap - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            return out;
        }
        line = eol + 2;
    }
    return NULL;
}
