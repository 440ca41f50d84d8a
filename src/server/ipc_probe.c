#define _POSIX_C_SOURCE 200809L

#include "server/ipc_probe.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* The SP handshake: "\0SP\0", the sender's protocol (REQ0 = 0x30, REP0 =
   0x31) in network order, two reserved zero bytes. */
static const unsigned char req_header[8] = {0, 'S', 'P', 0, 0x00, 0x30, 0, 0};

void hbd_ipc_probe_init(hbd_ipc_probe *p)
{
    p->fd = -1;
    p->started = 0;
    p->last = 0;
}

void hbd_ipc_probe_reset(hbd_ipc_probe *p, double now)
{
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
    p->last = now;
}

/* Connects and sends our half of the handshake. -1: nobody to ask (no
   socket file, refused); the listener is then not the one stuck. */
static int start(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n = strlen(path);
    if (n >= sizeof sa.sun_path)
        return -1;
    memcpy(sa.sun_path, path, n + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    /* A unix connect completes at once while the backlog has room; a full
       backlog (EAGAIN) is itself a sign that nobody accepts. */
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int stuck = errno == EAGAIN;
        close(fd);
        return stuck ? -2 : -1;
    }
    if (send(fd, req_header, sizeof req_header, MSG_NOSIGNAL) != (ssize_t)sizeof req_header) {
        close(fd);
        return -1;
    }
    return fd;
}

hbd_ipc_health hbd_ipc_probe_step(hbd_ipc_probe *p, const char *path, unsigned long arrivals,
                                  double now, double every, double dead_after)
{
    if (p->fd < 0) {
        if (now - p->last < every)
            return HBD_IPC_FINE;
        int fd = start(path);
        if (fd == -2)
            return HBD_IPC_DEAD;
        if (fd < 0) {
            p->last = now;
            return HBD_IPC_FINE;
        }
        p->fd = fd;
        p->started = now;
        p->arrivals = arrivals;
        return HBD_IPC_WAITING;
    }
    /* Any arrival since the probe connected shows the listener at work
       (ours, or a client's); closing after it is an ordinary disconnect. */
    if (arrivals != p->arrivals) {
        hbd_ipc_probe_reset(p, now);
        return HBD_IPC_FINE;
    }
    return now - p->started >= dead_after ? HBD_IPC_DEAD : HBD_IPC_WAITING;
}
