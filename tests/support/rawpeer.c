/* Raw client connections and nng's SP wire; see rawpeer.h. */
#define _POSIX_C_SOURCE 200809L

#include "support/rawpeer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

const unsigned char rp_req_greeting[8] = {0, 'S', 'P', 0, 0x00, 0x30, 0, 0};

double rp_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void rp_sleep(double seconds)
{
    if (seconds <= 0)
        return;
    struct timespec ts;
    ts.tv_sec = (time_t)seconds;
    ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Milliseconds left until `until` for poll(), at least 0. */
static int ms_left(double until)
{
    double left = until - rp_now();
    return left <= 0 ? 0 : (int)(left * 1000.0) + 1;
}

static int host_port(const char *s, rp_addr *out)
{
    char host[64];
    int port;
    if (sscanf(s, "%63[0-9.]:%d", host, &port) != 2 || port <= 0 || port > 65535)
        return -1;
    struct in_addr ignored;
    if (inet_pton(AF_INET, host, &ignored) != 1)
        return -1;
    snprintf(out->host, sizeof out->host, "%s", host);
    out->port = port;
    return 0;
}

int rp_parse(const char *url, rp_addr *out)
{
    memset(out, 0, sizeof *out);
    if (strncmp(url, "nng+", 4) == 0)
        url += 4;
    if (strncmp(url, "ipc://", 6) == 0) {
        if (url[6] != '/' || strlen(url + 6) >= sizeof out->path)
            return -1;
        out->is_unix = 1;
        out->sp = 1;
        snprintf(out->path, sizeof out->path, "%s", url + 6);
        return 0;
    }
    if (strncmp(url, "tcp://", 6) == 0) {
        out->sp = 1;
        return host_port(url + 6, out);
    }
    if (strncmp(url, "tls+tcp://", 10) == 0) {
        out->sp = out->tls = 1;
        return host_port(url + 10, out);
    }
    if (strncmp(url, "http://", 7) == 0) {
        out->http = 1;
        return host_port(url + 7, out);
    }
    if (strncmp(url, "https://", 8) == 0) {
        out->http = out->tls = 1;
        return host_port(url + 8, out);
    }
    return -1;
}

void rp_source(char *out, size_t cap, const char *base, int n)
{
    unsigned a, b, c, d;
    if (sscanf(base, "%u.%u.%u.%u", &a, &b, &c, &d) != 4)
        a = 127, b = 0, c = 0, d = 1;
    snprintf(out, cap, "%u.%u.%u.%u", a, b, c, (d + (unsigned)n) & 0xff);
}

int rp_connect_start(const rp_addr *a, const char *src, int *connected)
{
    *connected = 0;
    int fd = socket(a->is_unix ? AF_UNIX : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int rc;
    if (a->is_unix) {
        struct sockaddr_un sa;
        memset(&sa, 0, sizeof sa);
        sa.sun_family = AF_UNIX;
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", a->path);
        rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    } else {
        struct sockaddr_in sa;
        memset(&sa, 0, sizeof sa);
        sa.sin_family = AF_INET;
        if (src != NULL) {
            if (inet_pton(AF_INET, src, &sa.sin_addr) != 1 ||
                bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
                close(fd);
                return -1;
            }
        }
        sa.sin_port = htons((unsigned short)a->port);
        inet_pton(AF_INET, a->host, &sa.sin_addr);
        rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    }
    if (rc == 0) {
        *connected = 1;
        return fd;
    }
    /* A Unix socket whose backlog is full says EAGAIN: as good as in
       progress, but it never completes; the caller's timeout ends it. */
    if (errno == EINPROGRESS || errno == EAGAIN)
        return fd;
    close(fd);
    return -1;
}

int rp_connect_result(int fd)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
        return -1;
    struct sockaddr_storage peer;
    len = sizeof peer;
    return getpeername(fd, (struct sockaddr *)&peer, &len) == 0 ? 0 : -1;
}

int rp_connect(const rp_addr *a, const char *src, double timeout)
{
    double until = rp_now() + timeout;
    int connected;
    int fd = rp_connect_start(a, src, &connected);
    if (fd < 0 || connected)
        return fd;
    for (;;) {
        struct pollfd p = {fd, POLLOUT, 0};
        int n = poll(&p, 1, ms_left(until));
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 1 && rp_connect_result(fd) == 0)
            return fd;
        close(fd);
        return -1;
    }
}

int rp_greeting_is_rep(const unsigned char got[8])
{
    return got[0] == 0 && got[1] == 'S' && got[2] == 'P' && got[3] == 0 && got[4] == 0 &&
           got[5] == 0x31;
}

int rp_sp_connect(const rp_addr *a, const char *src, double timeout)
{
    double until = rp_now() + timeout;
    int fd = rp_connect(a, src, timeout);
    if (fd < 0)
        return -1;
    unsigned char got[8];
    if (rp_send_within(fd, rp_req_greeting, sizeof rp_req_greeting, until - rp_now()) != 0 ||
        rp_recv_within(fd, got, sizeof got, until - rp_now()) != 0 || !rp_greeting_is_rep(got)) {
        close(fd);
        return -1;
    }
    return fd;
}

size_t rp_frame_head(unsigned char *out, int ipc, uint64_t len)
{
    size_t n = 0;
    if (ipc)
        out[n++] = 1;
    for (int i = 7; i >= 0; i--)
        out[n++] = (unsigned char)(len >> (8 * i));
    return n;
}

size_t rp_request(unsigned char *out, int ipc, uint32_t id, const void *body, size_t body_len)
{
    size_t n = rp_frame_head(out, ipc, 4 + (uint64_t)body_len);
    id |= 0x80000000u;
    for (int i = 3; i >= 0; i--)
        out[n++] = (unsigned char)(id >> (8 * i));
    if (body_len > 0)
        memcpy(out + n, body, body_len);
    return n + body_len;
}

size_t rp_get_run_body(unsigned char out[4], unsigned run)
{
    /* Request.get_run (field 13, bytes) holding GetRunRequest
       .workflow_run_id (field 1, varint). */
    out[0] = 13 << 3 | 2;
    out[1] = 2;
    out[2] = 1 << 3 | 0;
    out[3] = (unsigned char)(run & 0x7f);
    return 4;
}

long rp_send_some(int fd, const void *buf, size_t len)
{
    for (;;) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0)
            return (long)n;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    }
}

int rp_send_within(int fd, const void *buf, size_t len, double timeout)
{
    double until = rp_now() + timeout;
    const unsigned char *p = buf;
    while (len > 0) {
        long n = rp_send_some(fd, p, len);
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
        if (len == 0)
            break;
        struct pollfd pf = {fd, POLLOUT, 0};
        int r = poll(&pf, 1, ms_left(until));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
    }
    return 0;
}

int rp_recv_within(int fd, void *buf, size_t len, double timeout)
{
    double until = rp_now() + timeout;
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = recv(fd, p, len, MSG_DONTWAIT);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            return -1;
        struct pollfd pf = {fd, POLLIN, 0};
        int r = poll(&pf, 1, ms_left(until));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
    }
    return 0;
}

int rp_closed_within(int fd, double timeout)
{
    double until = rp_now() + timeout;
    char sink[4096];
    for (;;) {
        ssize_t n = recv(fd, sink, sizeof sink, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            return 1;
        if (rp_now() >= until)
            return 0;
        if (n > 0)
            continue;
        struct pollfd pf = {fd, POLLIN, 0};
        int r = poll(&pf, 1, ms_left(until));
        if (r < 0 && errno != EINTR)
            return 0;
    }
}
