#define _GNU_SOURCE

#include "sp_listen.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define BACKLOG 1024

static int sys_fail(hbeat_error *err, const char *url, const char *what, int e)
{
    int code = hbeat_error_set(err, HBEAT_ESYSTEM, "nng: cannot listen on %.200s: %s: %s", url,
                               what, strerror(e));
    if (err != NULL)
        err->native = e;
    return code;
}

static int listen_tcp(hbd_sp_listener *l, const char *url, hbeat_error *err)
{
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)l->url.port);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = l->url.family ? l->url.family : AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(l->url.host[0] ? l->url.host : NULL, port, &hints, &res);
    if (rc != 0)
        return hbeat_error_set(err, HBEAT_EINVAL, "nng: cannot listen on %.200s: %s", url,
                               gai_strerror(rc));
    /* The first address, as nng binds: "localhost" is one socket. */
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, BACKLOG) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return sys_fail(err, url, fd < 0 ? "socket" : "bind", e);
    }
    freeaddrinfo(res);
    struct sockaddr_storage sa;
    socklen_t len = sizeof sa;
    unsigned port_bound = l->url.port;
    if (getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port_bound = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                                    : ((struct sockaddr_in *)&sa)->sin_port);
    const char *colon = strrchr(url, ':');
    snprintf(l->bound, sizeof l->bound, "%.*s:%u", (int)(colon - url), url, port_bound);
    l->fd = fd;
    return 0;
}

/* 1 when a server answers on the socket file. */
static int someone_listens(const struct sockaddr_un *sa)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 1;
    int live = connect(fd, (const struct sockaddr *)sa, sizeof *sa) == 0 || errno != ECONNREFUSED;
    close(fd);
    return live;
}

static int listen_ipc(hbd_sp_listener *l, const char *url, hbeat_error *err)
{
    struct sockaddr_un sa = {0};
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, l->url.path, strlen(l->url.path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return sys_fail(err, url, "socket", errno);
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    if (rc != 0 && errno == EADDRINUSE && !someone_listens(&sa)) {
        unlink(sa.sun_path); /* left by a process that has gone */
        rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    }
    if (rc != 0 || listen(fd, BACKLOG) != 0) {
        int e = errno;
        close(fd);
        return sys_fail(err, url, "bind", e);
    }
    snprintf(l->bound, sizeof l->bound, "%s", url);
    l->fd = fd;
    return 0;
}

int hbd_sp_listen(hbd_sp_listener *l, const char *url, hbeat_error *err)
{
    char why[256];
    memset(l, 0, sizeof *l);
    l->fd = -1;
    if (hbd_sp_url_parse(url, &l->url, why, sizeof why) != 0)
        return hbeat_error_set(err, HBEAT_EINVAL, "nng: bad listen URL: %s", why);
    return l->url.scheme == HBD_SP_IPC ? listen_ipc(l, url, err) : listen_tcp(l, url, err);
}

void hbd_sp_listener_close(hbd_sp_listener *l)
{
    if (l->fd < 0)
        return;
    close(l->fd);
    l->fd = -1;
    if (l->url.scheme == HBD_SP_IPC)
        unlink(l->url.path);
}
