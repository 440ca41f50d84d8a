#define _POSIX_C_SOURCE 200809L

#include "support/tsock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

typedef struct tsock_conn {
    tsock_server *s;
    int fd;
    int index;
    pthread_t thread;
    struct tsock_conn *next;
} tsock_conn;

struct tsock_server {
    tsock_serve_fn serve;
    void *arg;
    int lfd;
    unsigned short port;
    char dir[32];
    char path[96];
    pthread_t accept_thread;
    pthread_mutex_t mu;
    int stopping;
    int nconns;
    tsock_conn *conns;
};

static void *conn_main(void *arg)
{
    tsock_conn *c = arg;
    c->s->serve(c->s->arg, c->fd, c->index);
    /* Closed under the lock: stop shuts live fds down under it and must
       never hit a number the process has reused since. */
    pthread_mutex_lock(&c->s->mu);
    close(c->fd);
    c->fd = -1;
    pthread_mutex_unlock(&c->s->mu);
    return NULL;
}

static void *accept_main(void *arg)
{
    tsock_server *s = arg;
    for (;;) {
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            break;
        }
        tsock_conn *c = calloc(1, sizeof(*c));
        c->s = s;
        c->fd = fd;
        pthread_mutex_lock(&s->mu);
        if (s->stopping) {
            pthread_mutex_unlock(&s->mu);
            close(fd);
            free(c);
            continue;
        }
        c->index = s->nconns;
        c->next = s->conns;
        s->conns = c;
        if (pthread_create(&c->thread, NULL, conn_main, c) != 0) {
            s->conns = c->next;
            close(fd);
            free(c);
        } else {
            s->nconns++;
        }
        pthread_mutex_unlock(&s->mu);
    }
    return NULL;
}

static tsock_server *server_new(tsock_serve_fn serve, void *arg)
{
    tsock_server *s = calloc(1, sizeof(*s));
    s->serve = serve;
    s->arg = arg;
    pthread_mutex_init(&s->mu, NULL);
    return s;
}

static tsock_server *server_run(tsock_server *s, int bound)
{
    if (!bound || listen(s->lfd, 128) != 0) {
        perror("tsock: listen");
        abort();
    }
    pthread_create(&s->accept_thread, NULL, accept_main, s);
    return s;
}

tsock_server *tsock_listen_tcp(tsock_serve_fn serve, void *arg)
{
    tsock_server *s = server_new(serve, arg);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof(a);
    int bound = s->lfd >= 0 && bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
                getsockname(s->lfd, (struct sockaddr *)&a, &alen) == 0;
    s->port = ntohs(a.sin_port);
    return server_run(s, bound);
}

tsock_server *tsock_listen_unix(tsock_serve_fn serve, void *arg)
{
    tsock_server *s = server_new(serve, arg);
    snprintf(s->dir, sizeof(s->dir), "/tmp/hbeat-peer-XXXXXX");
    int bound = mkdtemp(s->dir) != NULL;
    snprintf(s->path, sizeof(s->path), "%s/peer.sock", s->dir);
    s->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a;
    memset(&a, 0, sizeof(a));
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", s->path);
    bound = bound && s->lfd >= 0 && bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) == 0;
    return server_run(s, bound);
}

unsigned short tsock_port(const tsock_server *s)
{
    return s->port;
}

const char *tsock_path(const tsock_server *s)
{
    return s->path;
}

int tsock_connections(tsock_server *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->nconns;
    pthread_mutex_unlock(&s->mu);
    return n;
}

void tsock_stop(tsock_server *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    pthread_mutex_unlock(&s->mu);
    /* On Linux this wakes the blocked accept(), for AF_UNIX as for TCP. */
    shutdown(s->lfd, SHUT_RDWR);
    pthread_join(s->accept_thread, NULL);
    close(s->lfd);
    pthread_mutex_lock(&s->mu);
    for (tsock_conn *c = s->conns; c != NULL; c = c->next) {
        if (c->fd >= 0)
            shutdown(c->fd, SHUT_RDWR);
    }
    pthread_mutex_unlock(&s->mu);
    while (s->conns != NULL) {
        tsock_conn *c = s->conns;
        s->conns = c->next;
        pthread_join(c->thread, NULL);
        free(c);
    }
    if (s->path[0] != '\0') {
        unlink(s->path);
        rmdir(s->dir);
    }
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* Sends `out` or, when it is NULL, receives into `in`, until `len` bytes
   have gone. */
static int whole(int fd, const char *out, char *in, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = out != NULL ? send(fd, out + done, len - done, MSG_NOSIGNAL)
                                : recv(fd, in + done, len - done, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        done += (size_t)n;
    }
    return 0;
}

int tsock_send_all(int fd, const void *buf, size_t len)
{
    return whole(fd, buf, NULL, len);
}

int tsock_send_str(int fd, const char *s)
{
    return whole(fd, s, NULL, strlen(s));
}

int tsock_recv_all(int fd, void *buf, size_t len)
{
    return whole(fd, NULL, buf, len);
}

void tsock_http_init(tsock_http *r, size_t cap)
{
    memset(r, 0, sizeof(*r));
    r->buf = malloc(cap);
    r->cap = cap;
}

void tsock_http_free(tsock_http *r)
{
    free(r->buf);
    r->buf = NULL;
}

/* One recv() more into r->buf: 0, or -1 at EOF, on error or when full. */
static int fill(int fd, tsock_http *r)
{
    for (;;) {
        if (r->have >= r->cap - 1)
            return -1;
        ssize_t n = recv(fd, r->buf + r->have, r->cap - 1 - r->have, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        r->have += (size_t)n;
        return 0;
    }
}

long tsock_http_next(int fd, tsock_http *r)
{
    if (r->len > 0) {
        r->buf[r->len] = r->saved;
        memmove(r->buf, r->buf + r->len, r->have - r->len);
        r->have -= r->len;
        r->len = 0;
    }
    char *end;
    for (;;) {
        r->buf[r->have] = '\0';
        end = strstr(r->buf, "\r\n\r\n");
        if (end != NULL)
            break;
        if (fill(fd, r) != 0)
            return -1;
    }
    r->head = (size_t)(end - r->buf) + 4;
    size_t body = 0;
    for (const char *l = strstr(r->buf, "\r\n"); l != NULL && l < end; l = strstr(l + 2, "\r\n")) {
        if (strncasecmp(l + 2, "content-length:", 15) == 0)
            body = (size_t)strtoul(l + 17, NULL, 10);
    }
    /* Too big to fit: read until the buffer is full, then give up. */
    if (body > r->cap)
        body = r->cap;
    while (r->have < r->head + body) {
        if (fill(fd, r) != 0)
            return -1;
    }
    r->len = r->head + body;
    r->saved = r->buf[r->len];
    r->buf[r->len] = '\0';
    return (long)r->len;
}

void tsock_no_proxy(void)
{
    static const char *const vars[] = {"http_proxy",  "HTTP_PROXY", "https_proxy",
                                       "HTTPS_PROXY", "all_proxy",  "ALL_PROXY"};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
}

uint64_t tsock_xorshift(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

unsigned short tsock_refused_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    unsigned short port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}
