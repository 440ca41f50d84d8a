#define _POSIX_C_SOURCE 200809L

#include "peer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS    256
#define MAX_REQUESTS 1024
#define MAX_SCRIPT   64
#define BUF_MAX      (64 * 1024)

typedef struct script_item {
    peer_action a;
    char *bytes;
} script_item;

typedef struct conn {
    peer *p;
    int fd;
    int index;
    pthread_t thread;
} conn;

struct peer {
    int lfd;
    unsigned short port;
    char url[64];
    pthread_t accept_thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stopping;
    conn conns[MAX_CONNS];
    int nconns;
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

/* Reads one request into r; 0, or -1 at EOF/error. buf/have carry bytes
   across requests on the connection. */
static int read_request(int fd, char *buf, size_t *have, peer_request *r)
{
    char *end;
    for (;;) {
        buf[*have] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (end != NULL)
            break;
        if (*have >= BUF_MAX - 1)
            return -1;
        ssize_t n = recv(fd, buf + *have, BUF_MAX - 1 - *have, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        *have += (size_t)n;
    }
    size_t head_len = (size_t)(end - buf) + 4;
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
    size_t hl = head_len - (size_t)(line - buf);
    if (hl >= sizeof(r->headers))
        hl = sizeof(r->headers) - 1;
    memcpy(r->headers, line, hl);
    r->headers[hl] = '\0';
    char cl[32];
    size_t body_len = 0;
    if (peer_header(r, "content-length", cl, sizeof(cl)) != NULL)
        body_len = (size_t)strtoul(cl, NULL, 10);
    while (*have < head_len + body_len) {
        if (*have >= BUF_MAX - 1)
            return -1;
        ssize_t n = recv(fd, buf + *have, BUF_MAX - 1 - *have, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        *have += (size_t)n;
    }
    r->body_len = body_len < sizeof(r->body) - 1 ? body_len : sizeof(r->body) - 1;
    memcpy(r->body, buf + head_len, r->body_len);
    r->body[r->body_len] = '\0';
    size_t used = head_len + body_len;
    memmove(buf, buf + used, *have - used);
    *have -= used;
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
    if (send_all(fd, a->bytes, a->len) != 0)
        return;
    size_t sent = 0;
    while (sent < a->huge_len) {
        size_t n = a->huge_len - sent < sizeof(chunk) ? a->huge_len - sent : sizeof(chunk);
        if (a->chunked) {
            char size_line[32];
            int l = snprintf(size_line, sizeof(size_line), "%zx\r\n", n);
            if (send_all(fd, size_line, (size_t)l) != 0)
                return;
        }
        if (send_all(fd, chunk, n) != 0)
            return;
        if (a->chunked && send_all(fd, "\r\n", 2) != 0)
            return;
        sent += n;
    }
    if (a->chunked)
        send_all(fd, "0\r\n\r\n", 5);
}

static void *conn_main(void *arg)
{
    conn *c = arg;
    peer *p = c->p;
    char *buf = malloc(BUF_MAX);
    size_t have = 0;
    peer_request *r = calloc(1, sizeof(*r));
    for (;;) {
        memset(r, 0, sizeof(*r));
        if (read_request(c->fd, buf, &have, r) != 0)
            break;
        r->conn = c->index;
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
                send_all(c->fd, def, strlen(def));
            } else {
                send_all(c->fd, it.bytes, it.a.len);
            }
            close_now = it.a.close_after;
            if (it.a.reset_next) {
                struct pollfd pfd = {c->fd, POLLIN, 0};
                poll(&pfd, 1, 30000);
                struct linger lg = {1, 0};
                setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
                close_now = 1;
            }
            break;
        case PEER_SILENT:
            /* Wait for the client (or peer_stop) to end the connection. */
            while (recv(c->fd, buf, BUF_MAX, 0) > 0)
                ;
            close_now = 1;
            break;
        case PEER_CLOSE:
            close_now = 1;
            break;
        case PEER_HUGE:
            stream_huge(c->fd, &it.a);
            close_now = 1;
            break;
        }
        free(it.bytes);
        if (close_now)
            break;
    }
    /* Closed, not just shut down: Jobmon's server drops the connection
       after an error reply exactly so, without "Connection: close". */
    pthread_mutex_lock(&p->mu);
    close(c->fd);
    c->fd = -1;
    pthread_mutex_unlock(&p->mu);
    free(r);
    free(buf);
    return NULL;
}

static void *accept_main(void *arg)
{
    peer *p = arg;
    for (;;) {
        int fd = accept(p->lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            break;
        }
        pthread_mutex_lock(&p->mu);
        if (p->stopping || p->nconns >= MAX_CONNS) {
            pthread_mutex_unlock(&p->mu);
            close(fd);
            continue;
        }
        conn *c = &p->conns[p->nconns];
        c->p = p;
        c->fd = fd;
        c->index = p->nconns;
        p->nconns++;
        pthread_create(&c->thread, NULL, conn_main, c);
        pthread_mutex_unlock(&p->mu);
    }
    return NULL;
}

void peer_no_proxy(void)
{
    static const char *const vars[] = {"http_proxy",  "HTTP_PROXY", "https_proxy",
                                       "HTTPS_PROXY", "all_proxy",  "ALL_PROXY"};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
}

peer *peer_start(void)
{
    peer_no_proxy();
    peer *p = calloc(1, sizeof(*p));
    p->requests = calloc(MAX_REQUESTS, sizeof(peer_request));
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(p->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(p->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(p->lfd, 64) != 0) {
        perror("peer");
        abort();
    }
    socklen_t len = sizeof(a);
    getsockname(p->lfd, (struct sockaddr *)&a, &len);
    p->port = ntohs(a.sin_port);
    snprintf(p->url, sizeof(p->url), "http://127.0.0.1:%u/api/v3", (unsigned)p->port);
    pthread_create(&p->accept_thread, NULL, accept_main, p);
    return p;
}

void peer_stop(peer *p)
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
    for (int i = 0; i < p->nconns; i++) {
        if (p->conns[i].fd >= 0)
            shutdown(p->conns[i].fd, SHUT_RDWR);
    }
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nconns; i++)
        pthread_join(p->conns[i].thread, NULL);
    while (p->script_head != p->script_tail)
        free(p->script[p->script_head++ % MAX_SCRIPT].bytes);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->requests);
    free(p);
}

unsigned short peer_port(const peer *p)
{
    return p->port;
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
    pthread_mutex_lock(&p->mu);
    int n = p->nconns;
    pthread_mutex_unlock(&p->mu);
    return n;
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
