#define _GNU_SOURCE

#include "load.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"

#define IN_CAP 8192

typedef struct lconn {
    int fd;
    int dead;
    uint32_t id;
    char *out;
    size_t out_len, out_off;
    size_t in_len;
    int64_t sent_ns;
    char in[IN_CAP];
} lconn;

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static void raise_nofile(unsigned int want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want + 64) {
        rl.rlim_cur = rl.rlim_max < want + 64 ? rl.rlim_max : want + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int full_io(int fd, void *buf, size_t len, int writing)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = writing ? write(fd, p, len) : read(fd, p, len);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int dial(const load_opts *o, char *err, size_t errlen)
{
    int fd;
    if (o->proto == LOAD_SP_IPC) {
        struct sockaddr_un sa = {0};
        sa.sun_family = AF_UNIX;
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", o->path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            fail(err, errlen, "connect %s: %s", o->path, strerror(errno));
            if (fd >= 0)
                close(fd);
            return -1;
        }
    } else {
        struct sockaddr_in sa = {0};
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)o->port);
        inet_pton(AF_INET, o->host, &sa.sin_addr);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            fail(err, errlen, "connect %s:%d: %s", o->host, o->port, strerror(errno));
            if (fd >= 0)
                close(fd);
            return -1;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if (o->proto != LOAD_HTTP) {
        /* SP handshake: we are REQ (protocol 0x30), the peer must be REP
           (0x31). */
        unsigned char hello[8] = {0, 'S', 'P', 0, 0x00, 0x30, 0, 0}, peer[8];
        if (full_io(fd, hello, 8, 1) != 0 || full_io(fd, peer, 8, 0) != 0 || peer[1] != 'S' ||
            peer[2] != 'P' || peer[5] != 0x31) {
            close(fd);
            return fail(err, errlen, "SP handshake failed");
        }
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static void put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static uint64_t get_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* Frames the payload once; each request then only rewrites its id. */
static int build_out(const load_opts *o, lconn *c, const struct iovec *req)
{
    size_t pre = o->proto == LOAD_SP_TCP ? 12 : o->proto == LOAD_SP_IPC ? 13 : 0;
    c->out_len = pre + req->iov_len;
    c->out = malloc(c->out_len);
    if (c->out == NULL)
        return -1;
    unsigned char *p = (unsigned char *)c->out;
    if (o->proto == LOAD_SP_IPC)
        *p++ = 1; /* message type: data */
    if (pre != 0)
        put_be64(p, (uint64_t)req->iov_len + 4);
    memcpy(c->out + pre, req->iov_base, req->iov_len);
    return 0;
}

static void set_id(const load_opts *o, lconn *c)
{
    if (o->proto == LOAD_HTTP)
        return;
    unsigned char *p = (unsigned char *)c->out + (o->proto == LOAD_SP_IPC ? 9 : 8);
    uint32_t id = 0x80000000u | (c->id & 0x7fffffffu);
    p[0] = (unsigned char)(id >> 24);
    p[1] = (unsigned char)(id >> 16);
    p[2] = (unsigned char)(id >> 8);
    p[3] = (unsigned char)id;
}

/* Writes what is left of the request; 0 done, 1 would block, -1 error. */
static int flush_out(lconn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 1;
        if (n <= 0)
            return -1;
        c->out_off += (size_t)n;
    }
    return 0;
}

/* Length of the complete reply at the start of c->in (0: need more, -1:
   malformed); *ok is 0 for an error reply. */
static long reply_length(const load_opts *o, const lconn *c, int *ok)
{
    const unsigned char *p = (const unsigned char *)c->in;
    *ok = 1;
    if (o->proto == LOAD_HTTP) {
        const char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
        if (end == NULL)
            return c->in_len >= IN_CAP ? -1 : 0;
        size_t head = (size_t)(end - c->in) + 4;
        if (c->in_len < 12 || strncmp(c->in, "HTTP/1.", 7) != 0)
            return -1;
        *ok = strncmp(c->in + 9, "200", 3) == 0;
        long body = -1;
        for (const char *q = c->in; q < end;) {
            const char *eol = memmem(q, (size_t)(end - q), "\r\n", 2);
            if (eol == NULL)
                eol = end;
            if ((size_t)(eol - q) > 15 && strncasecmp(q, "Content-Length:", 15) == 0)
                body = strtol(q + 15, NULL, 10);
            q = eol + 2;
        }
        if (body < 0 || head + (size_t)body > IN_CAP)
            return -1;
        return head + (size_t)body <= c->in_len ? (long)(head + (size_t)body) : 0;
    }
    size_t pre = o->proto == LOAD_SP_IPC ? 9 : 8;
    if (c->in_len < pre)
        return 0;
    uint64_t len = get_be64(p + pre - 8);
    if (len < 4 || len > IN_CAP - pre)
        return -1;
    if (c->in_len < pre + len)
        return 0;
    /* The reply's header is our request id; its body a protobuf Reply,
       whose field 1 (tag 0x0a) is the error case. */
    uint32_t id = (uint32_t)p[pre] << 24 | (uint32_t)p[pre + 1] << 16 | (uint32_t)p[pre + 2] << 8 |
                  p[pre + 3];
    if (id != (0x80000000u | (c->id & 0x7fffffffu)))
        return -1;
    *ok = len == 4 || p[pre + 4] != 0x0a;
    return (long)(pre + len);
}

/* Connections still open, and requests sent but not yet answered. */
typedef struct flow {
    unsigned int alive, waiting;
    uint64_t issued;
} flow;

/* A connection that failed: out of the run, its request counted as an
   error. */
static void drop(lconn *c, flow *f, load_result *r)
{
    c->dead = 1;
    f->alive--;
    f->waiting--;
    r->errors++;
}

/* Sends c's request (its id already set for this round) at `now`. */
static void send_request(const load_opts *o, int ep, lconn *c, int64_t now, flow *f, load_result *r)
{
    set_id(o, c);
    c->out_off = 0;
    c->sent_ns = now;
    f->issued++;
    f->waiting++;
    int sent = flush_out(c);
    if (sent == 1) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    } else if (sent < 0) {
        drop(c, f, r);
    }
}

int load_run(const load_opts *o, load_result *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    if (o->clients == 0 || o->nreqs == 0)
        return fail(err, errlen, "no clients or no request");
    raise_nofile(o->clients);
    lconn *conns = calloc(o->clients, sizeof *conns);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (conns == NULL || ep < 0) {
        free(conns);
        return fail(err, errlen, "out of memory");
    }
    int rc = 0;
    unsigned int opened = 0;
    for (; opened < o->clients; opened++) {
        lconn *c = &conns[opened];
        c->fd = dial(o, err, errlen);
        if (c->fd < 0 || build_out(o, c, &o->reqs[opened % o->nreqs]) != 0) {
            rc = -1;
            if (c->fd >= 0)
                close(c->fd);
            break;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    }
    if (rc != 0) {
        for (unsigned int i = 0; i < opened; i++) {
            close(conns[i].fd);
            free(conns[i].out);
        }
        free(conns);
        close(ep);
        return rc;
    }

    bench_samples lat;
    bench_samples_init(&lat, 1 << 16);
    uint64_t completed = 0;
    int64_t start = bench_now_ns();
    int64_t win_from = o->total > 0 ? start : start + (int64_t)(o->warmup_s * 1e9);
    int64_t win_to = o->total > 0 ? INT64_MAX : win_from + (int64_t)(o->duration_s * 1e9);
    flow f = {o->clients, 0, 0};

    /* Every connection sends its first request. */
    for (unsigned int i = 0; i < o->clients; i++) {
        lconn *c = &conns[i];
        if (o->total > 0 && f.issued >= o->total)
            break;
        c->id = 1;
        send_request(o, ep, c, bench_now_ns(), &f, r);
    }

    struct epoll_event evs[512];
    int64_t now = bench_now_ns();
    int64_t cpu0 = -1, cpu1 = -1, my0 = -1, my1 = -1;
    int in_window = 0;
    while (f.alive > 0 && f.waiting > 0) {
        if (o->total > 0 ? completed >= o->total : now >= win_to)
            break;
        int n = epoll_wait(ep, evs, 512, 1000);
        now = bench_now_ns();
        if (!in_window && now >= win_from) {
            in_window = 1;
            if (o->server_pid > 0)
                cpu0 = bench_cpu_ns(o->server_pid);
            my0 = bench_cpu_ns(0);
        }
        if (n < 0 && errno != EINTR) {
            rc = fail(err, errlen, "epoll_wait: %s", strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++) {
            lconn *c = evs[i].data.ptr;
            if (c->dead)
                continue;
            if (evs[i].events & EPOLLOUT) {
                if (flush_out(c) == 0) {
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                }
            }
            if (!(evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                continue;
            ssize_t got = read(c->fd, c->in + c->in_len, IN_CAP - c->in_len);
            if (got <= 0) {
                if (got < 0 && (errno == EAGAIN || errno == EINTR))
                    continue;
                drop(c, &f, r);
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                continue;
            }
            c->in_len += (size_t)got;
            int ok;
            long len = reply_length(o, c, &ok);
            if (len == 0)
                continue;
            if (len < 0) {
                drop(c, &f, r);
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                continue;
            }
            /* One request in flight per connection: nothing follows it. */
            c->in_len = 0;
            f.waiting--;
            completed++;
            if (!ok)
                r->errors++;
            if (c->sent_ns >= win_from && now < win_to) {
                r->done++;
                bench_samples_add(&lat, now - c->sent_ns);
            }
            if (o->total > 0 ? f.issued >= o->total : now >= win_to)
                continue;
            c->id++;
            send_request(o, ep, c, now, &f, r);
        }
    }
    if (o->server_pid > 0)
        cpu1 = bench_cpu_ns(o->server_pid);
    my1 = bench_cpu_ns(0);
    r->server_cpu_us = cpu0 >= 0 && cpu1 >= cpu0 && r->done > 0
                           ? (double)(cpu1 - cpu0) / 1e3 / (double)r->done
                           : NAN;
    r->client_cpu_us =
        my0 >= 0 && my1 >= my0 && r->done > 0 ? (double)(my1 - my0) / 1e3 / (double)r->done : NAN;
    int64_t end = o->total > 0 ? now : (now < win_to ? now : win_to);
    r->seconds = (double)(end - win_from) / 1e9;
    r->rate = r->seconds > 0 ? (double)r->done / r->seconds : 0;
    r->p50_us = bench_samples_quantile_us(&lat, 0.50);
    r->p99_us = bench_samples_quantile_us(&lat, 0.99);
    if (rc == 0 && f.alive < o->clients && r->done == 0)
        rc = fail(err, errlen, "every connection failed");
    bench_samples_free(&lat);
    for (unsigned int i = 0; i < o->clients; i++) {
        close(conns[i].fd);
        free(conns[i].out);
    }
    free(conns);
    close(ep);
    return rc;
}
