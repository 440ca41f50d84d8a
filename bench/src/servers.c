/*
 * The floors: the simplest servers that do the same job on the wire as
 * hbeatd, so that hbeatd's cost can be read as a ratio to them.
 *
 *   hbeat-bench-server tcp  --ready-file F
 *       loopback TCP ping-pong: echoes whatever it reads (a thread per
 *       connection, blocking read/write: the cheapest round trip there is).
 *   hbeat-bench-server nng  --ready-file F --ipc PATH [--contexts N]
 *       nng REP echo on tcp and ipc: N contexts with asynchronous I/O, the
 *       shape hbeatd's front end has (64 by default, as hbeatd), each
 *       sending back the request message untouched.
 *   hbeat-bench-server http --ready-file F [--threads N]
 *       a minimal HTTP/1.1 keep-alive server: one epoll loop per thread
 *       (default: one per CPU), reads a request (headers and a
 *       Content-Length body) and answers 200 {"status":"R"} with the
 *       headers Jobmon's server sends.
 *
 * Each writes its addresses to the ready file (temp + rename), like hbeatd,
 * and runs until SIGTERM or SIGINT.
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *ready_file;

static void write_ready(const char *text)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", ready_file);
    FILE *f = fopen(tmp, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0 || rename(tmp, ready_file) != 0) {
        perror("ready file");
        exit(1);
    }
}

static int listen_loopback(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 4096) != 0) {
        perror("bind/listen");
        exit(1);
    }
    socklen_t len = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &len);
    *port = ntohs(sa.sin_port);
    return fd;
}

static void wait_for_signal(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    int sig;
    sigwait(&set, &sig);
}

/* ---- tcp ping-pong ------------------------------------------------------ */

static void *tcp_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[4096];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0)
            break;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(fd, buf + off, (size_t)(n - off));
            if (w <= 0)
                goto out;
            off += w;
        }
    }
out:
    close(fd);
    return NULL;
}

static void *tcp_accept(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_t t;
        if (pthread_create(&t, NULL, tcp_conn, (void *)(intptr_t)fd) == 0)
            pthread_detach(t);
        else
            close(fd);
    }
    return NULL;
}

static int run_tcp(void)
{
    int port;
    int lfd = listen_loopback(&port);
    pthread_t t;
    pthread_create(&t, NULL, tcp_accept, (void *)(intptr_t)lfd);
    char text[128];
    snprintf(text, sizeof text, "tcp 127.0.0.1:%d\n", port);
    write_ready(text);
    wait_for_signal();
    return 0;
}

/* ---- nng echo ------------------------------------------------------------ */

typedef struct echo_ctx {
    nng_ctx ctx;
    nng_aio *aio;
    int sending;
} echo_ctx;

static void echo_cb(void *arg)
{
    echo_ctx *e = arg;
    int rv = nng_aio_result(e->aio);
    if (e->sending) {
        if (rv != 0) {
            nng_msg_free(nng_aio_get_msg(e->aio));
            nng_aio_set_msg(e->aio, NULL);
        }
        e->sending = 0;
        nng_ctx_recv(e->ctx, e->aio);
        return;
    }
    if (rv != 0) {
        if (rv == NNG_ECLOSED)
            return;
        nng_ctx_recv(e->ctx, e->aio);
        return;
    }
    /* The request message goes straight back as the reply. */
    e->sending = 1;
    nng_ctx_send(e->ctx, e->aio);
}

static int run_nng(const char *ipc_path, int contexts)
{
    nng_socket sock;
    int rv = nng_rep0_open(&sock);
    if (rv != 0) {
        fprintf(stderr, "nng_rep0_open: %s\n", nng_strerror(rv));
        return 1;
    }
    echo_ctx *ctxs = calloc((size_t)contexts, sizeof *ctxs);
    for (int i = 0; i < contexts; i++) {
        if ((rv = nng_aio_alloc(&ctxs[i].aio, echo_cb, &ctxs[i])) != 0 ||
            (rv = nng_ctx_open(&ctxs[i].ctx, sock)) != 0) {
            fprintf(stderr, "nng ctx: %s\n", nng_strerror(rv));
            return 1;
        }
    }
    nng_listener tl, il;
    char ipc_url[600];
    snprintf(ipc_url, sizeof ipc_url, "ipc://%s", ipc_path);
    if ((rv = nng_listener_create(&tl, sock, "tcp://127.0.0.1:0")) != 0 ||
        (rv = nng_listener_start(tl, 0)) != 0 || (rv = nng_listen(sock, ipc_url, &il, 0)) != 0) {
        fprintf(stderr, "nng listen: %s\n", nng_strerror(rv));
        return 1;
    }
    int port = 0;
    nng_listener_get_int(tl, NNG_OPT_TCP_BOUND_PORT, &port);
    for (int i = 0; i < contexts; i++)
        nng_ctx_recv(ctxs[i].ctx, ctxs[i].aio);
    char text[1024];
    snprintf(text, sizeof text, "nng tcp://127.0.0.1:%d\nnng %s\n", port, ipc_url);
    write_ready(text);
    wait_for_signal();
    /* Exit without tearing down: nothing is left to answer. */
    return 0;
}

/* ---- minimal HTTP -------------------------------------------------------- */

#define HTTP_BUF 8192

static const char http_reply[] = "HTTP/1.1 200 OK\r\n"
                                 "Content-Type: application/json\r\n"
                                 "Content-Length: 14\r\n"
                                 "\r\n"
                                 "{\"status\":\"R\"}";

typedef struct hconn {
    int fd;
    size_t len;
    char buf[HTTP_BUF];
} hconn;

typedef struct hworker {
    int lfd;
    int ep;
} hworker;

/* Length of the complete request at the start of buf, 0 when more is
   needed, -1 when it is malformed. */
static long request_length(const char *buf, size_t len)
{
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (end == NULL)
        return len >= HTTP_BUF ? -1 : 0;
    size_t head = (size_t)(end - buf) + 4;
    long body = 0;
    for (const char *p = buf; p < end;) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (eol == NULL)
            eol = end;
        if ((size_t)(eol - p) > 15 && strncasecmp(p, "Content-Length:", 15) == 0)
            body = strtol(p + 15, NULL, 10);
        p = eol + 2;
    }
    if (body < 0 || head + (size_t)body > HTTP_BUF)
        return -1;
    return head + (size_t)body <= len ? (long)(head + (size_t)body) : 0;
}

static void hconn_close(hworker *w, hconn *c)
{
    epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c);
}

static void *http_worker(void *arg)
{
    hworker *w = arg;
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(w->ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL) {
                for (;;) {
                    int fd = accept4(w->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0)
                        break;
                    int one = 1;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    hconn *c = malloc(sizeof *c);
                    c->fd = fd;
                    c->len = 0;
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev);
                }
                continue;
            }
            hconn *c = evs[i].data.ptr;
            ssize_t r = read(c->fd, c->buf + c->len, HTTP_BUF - c->len);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN)
                    continue;
                hconn_close(w, c);
                continue;
            }
            c->len += (size_t)r;
            long req;
            while ((req = request_length(c->buf, c->len)) > 0) {
                /* Replies are tiny: the socket buffer always takes one. */
                if (write(c->fd, http_reply, sizeof http_reply - 1) != sizeof http_reply - 1) {
                    req = -1;
                    break;
                }
                memmove(c->buf, c->buf + req, c->len - (size_t)req);
                c->len -= (size_t)req;
            }
            if (req < 0)
                hconn_close(w, c);
        }
    }
    return NULL;
}

static int run_http(int threads)
{
    int port;
    int lfd = listen_loopback(&port);
    /* Non-blocking, so that the workers woken together never block in
       accept. */
    fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK);
    for (int i = 0; i < threads; i++) {
        hworker *w = calloc(1, sizeof *w);
        w->lfd = lfd;
        w->ep = epoll_create1(EPOLL_CLOEXEC);
        /* EPOLLEXCLUSIVE: one worker wakes per new connection. */
        struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = NULL};
        epoll_ctl(w->ep, EPOLL_CTL_ADD, lfd, &ev);
        pthread_t t;
        pthread_create(&t, NULL, http_worker, w);
    }
    char text[128];
    snprintf(text, sizeof text, "http http://127.0.0.1:%d/api/v3\n", port);
    write_ready(text);
    wait_for_signal();
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: hbeat-bench-server tcp|nng|http --ready-file F [--ipc PATH] "
                        "[--contexts N] [--threads N]\n");
        return 2;
    }
    const char *kind = argv[1];
    const char *ipc = "/tmp/hbeat-bench-echo.sock";
    int contexts = 64;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = ncpu > 0 ? (int)ncpu : 1;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--ready-file") == 0)
            ready_file = argv[i + 1];
        else if (strcmp(argv[i], "--ipc") == 0)
            ipc = argv[i + 1];
        else if (strcmp(argv[i], "--contexts") == 0)
            contexts = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--threads") == 0)
            threads = atoi(argv[i + 1]);
    }
    if (ready_file == NULL || contexts < 1 || threads < 1) {
        fprintf(stderr, "hbeat-bench-server: --ready-file is required\n");
        return 2;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (strcmp(kind, "tcp") == 0)
        return run_tcp();
    if (strcmp(kind, "nng") == 0)
        return run_nng(ipc, contexts);
    if (strcmp(kind, "http") == 0)
        return run_http(threads);
    fprintf(stderr, "hbeat-bench-server: unknown kind %s\n", kind);
    return 2;
}
