/*
 * Accepting nng connections, and the connection limits: every accepted
 * connection counts from its accept; at either limit the connection whose
 * peer has been silent longest (and that has nothing in flight) gives way
 * to the new one; when every one is busy the new one is closed.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "front_nng_internal.h"
#include "log.h"
#include "metrics.h"

static void peer_key(int fd, int ipc, unsigned char key[17])
{
    memset(key, 0, 17);
    if (ipc) {
        struct ucred cred;
        socklen_t len = sizeof cred;
        key[0] = 'u';
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
            memcpy(key + 1, &cred.uid, sizeof cred.uid);
        return;
    }
    struct sockaddr_storage sa;
    socklen_t len = sizeof sa;
    if (getpeername(fd, (struct sockaddr *)&sa, &len) != 0)
        return;
    if (sa.ss_family == AF_INET) {
        key[0] = 4;
        memcpy(key + 1, &((struct sockaddr_in *)&sa)->sin_addr, 4);
    } else if (sa.ss_family == AF_INET6) {
        key[0] = 6;
        memcpy(key + 1, &((struct sockaddr_in6 *)&sa)->sin6_addr, 16);
    }
}

/* The connection whose peer has been silent longest and that has nothing
   in flight (no request waiting, no reply unsent); NULL when every one is
   busy. `key` NULL: any peer. A connection that never sent a byte ranks
   by its accept, so a flood of silent connections gives way before a
   client that is speaking (say, in the middle of its TLS handshake). */
static conn *longest_idle(hbd_nng *srv, const unsigned char *key, unsigned int *same)
{
    conn *victim = NULL;
    unsigned int n = 0;
    for (conn *c = srv->conns; c != NULL; c = c->next) {
        if (key != NULL && memcmp(c->key, key, sizeof c->key) != 0)
            continue;
        n++;
        if (c->pending == 0 && c->out_off == c->out_len &&
            (victim == NULL || c->heard < victim->heard))
            victim = c;
    }
    if (same != NULL)
        *same = n;
    return victim;
}

static void note_refused(void)
{
    hbd_warn_limited("nng: refused", "nng: a new connection was refused: every connection is "
                                     "busy, or no file descriptor is left");
}

/* Makes room for one more connection from `key`: 0, or -1 when every
   connection that counts is busy. */
static int make_room(hbd_nng *srv, const unsigned char *key)
{
    if (srv->max_per_peer > 0) {
        unsigned int same = 0;
        conn *victim = longest_idle(srv, key, &same);
        if (same >= srv->max_per_peer) {
            if (victim == NULL) {
                note_refused();
                return -1;
            }
            hbd_nng_close_conn(srv, victim, "gave way to a newer connection from the same peer");
            hbd_warn_limited("nng: per peer", "nng: --max-connections-per-ip reached: the "
                                              "longest-silent connection of that peer gave way "
                                              "to a new one");
        }
    }
    if (srv->nconns >= srv->max_conns) {
        conn *victim = longest_idle(srv, NULL, NULL);
        if (victim == NULL) {
            note_refused();
            return -1;
        }
        hbd_nng_close_conn(srv, victim, "gave way to a newer connection");
        hbd_warn_limited("nng: all", "nng: --max-connections reached: the longest-silent "
                                     "connection gave way to a new one");
    }
    return 0;
}

static void admit(hbd_nng *srv, listener *l, int fd, double now)
{
    int ipc = l->l.url.scheme == HBD_SP_IPC;
    unsigned char key[17];
    peer_key(fd, ipc, key);
    conn *c = make_room(srv, key) == 0 ? calloc(1, sizeof *c) : NULL;
    if (c == NULL) {
        close(fd);
        return;
    }
    c->kind = K_CONN;
    c->fd = fd;
    c->lst = l;
    memcpy(c->key, key, sizeof key);
    c->deadline = now + srv->timeout;
    c->heard = now;
    hbd_sp_reader_init(&c->rd, ipc, srv->max_message + HBD_SP_MAX_BACKTRACE);
    if (!ipc) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    c->state = C_GREET;
    if (l->l.url.scheme == HBD_SP_TLS_TCP) {
        c->state = C_TLS;
        if ((c->tls = hbd_sp_tls_new(srv->tls, fd)) == NULL) {
            hbd_sp_reader_free(&c->rd);
            free(c);
            close(fd);
            return;
        }
    }
    c->events = EPOLLIN | EPOLLOUT;
    struct epoll_event e = {.events = c->events, .data.ptr = c};
    if (epoll_ctl(srv->ep, EPOLL_CTL_ADD, fd, &e) != 0) {
        hbd_sp_tls_free(c->tls);
        hbd_sp_reader_free(&c->rd);
        free(c);
        close(fd);
        return;
    }
    c->next = srv->conns;
    if (srv->conns != NULL)
        srv->conns->prev = c;
    srv->conns = c;
    srv->nconns++;
    hbd_metrics_connection(HBD_PROTO_NNG, +1);
}

void hbd_nng_arm_listener(hbd_nng *srv, listener *l, int on)
{
    if (l->armed == on || l->l.fd < 0)
        return;
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = l};
    epoll_ctl(srv->ep, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, l->l.fd, &e);
    l->armed = on;
}

void hbd_nng_accept(hbd_nng *srv, listener *l, double now)
{
    for (int i = 0; i < ACCEPT_BURST; i++) {
        int fd = accept4(l->l.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            admit(srv, l, fd, now);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
            continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            /* Out of descriptors: free one if an idle connection can give
               way, else stop accepting for a moment (the listener would
               wake us at once, again and again). */
            conn *victim = longest_idle(srv, NULL, NULL);
            if (victim != NULL) {
                hbd_nng_close_conn(srv, victim, "gave way: out of file descriptors");
                continue;
            }
            note_refused();
            hbd_nng_arm_listener(srv, l, 0);
            l->resume_at = now + ACCEPT_PAUSE_S;
        }
        break;
    }
}
