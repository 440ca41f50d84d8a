/*
 * What every scripted or hostile test peer needs below its protocol: a
 * listener on 127.0.0.1 (free port) or on a Unix socket in a fresh temp
 * dir, one thread per accepted connection, a stop that ends them all, and
 * whole reads and writes. Peers speak their protocol in the serve function.
 *
 * Library target: hbeat_test_sockets (no hbeatd needed).
 */
#ifndef HBEAT_TEST_SUPPORT_TSOCK_H
#define HBEAT_TEST_SUPPORT_TSOCK_H

#include <stddef.h>
#include <stdint.h>

/* Serves one connection on a thread of its own; `index` is the accept
   order, from 0. The server closes `fd` once this returns (closed, not
   just shut down: a peer can set SO_LINGER to reset it instead). */
typedef void (*tsock_serve_fn)(void *arg, int fd, int index);

typedef struct tsock_server tsock_server;

/* Listens on 127.0.0.1 with a free port. A peer that cannot listen is a
   broken machine, not a test result: these abort with a message. */
tsock_server *tsock_listen_tcp(tsock_serve_fn serve, void *arg);
/* Listens on <fresh temp dir>/peer.sock; tsock_stop removes both. */
tsock_server *tsock_listen_unix(tsock_serve_fn serve, void *arg);
/* The TCP port, or 0 for a Unix socket. */
unsigned short tsock_port(const tsock_server *s);
/* The socket's path, or "" for TCP. */
const char *tsock_path(const tsock_server *s);
/* Connections accepted (and served) so far. */
int tsock_connections(tsock_server *s);
/* Stops accepting, shuts every live connection down (which wakes a serve
   function blocked reading), joins every thread and frees the server.
   NULL is a no-op. */
void tsock_stop(tsock_server *s);

/* A loopback TCP port nobody listens on: bound once for its number, then
   closed, so that a connection to it is refused at once (until something
   else takes the port, which a test's lifetime makes unlikely). 0 when no
   port could be bound. */
unsigned short tsock_refused_port(void);

/* Whole writes (never SIGPIPE) and reads, retried on EINTR: 0, or -1 when
   the connection ends or fails first. */
int tsock_send_all(int fd, const void *buf, size_t len);
int tsock_send_str(int fd, const char *s);
int tsock_recv_all(int fd, void *buf, size_t len);

/* Reads HTTP/1.1 requests off one connection, one whole request (head and
   the body its Content-Length announces) at a time. */
typedef struct tsock_http {
    char *buf; /* the current request first, then what came after it */
    size_t cap;
    size_t have; /* bytes in buf */
    size_t len;  /* the current request's length, head and body */
    size_t head; /* its head's length, blank line included */
    char saved;  /* the byte its terminating NUL stands on */
} tsock_http;

void tsock_http_init(tsock_http *r, size_t cap);
void tsock_http_free(tsock_http *r);
/* Drops the current request and reads the next to the front of r->buf,
   NUL-terminated; its length, or -1 at EOF, on error, or when it does not
   fit in cap - 1 bytes. */
long tsock_http_next(int fd, tsock_http *r);

/* Peers are on loopback: a proxy from the environment (which libcurl
   would honour) must not get in between. */
void tsock_no_proxy(void);

/* xorshift64: junk that is the same on every run. */
uint64_t tsock_xorshift(uint64_t *state);

#endif
