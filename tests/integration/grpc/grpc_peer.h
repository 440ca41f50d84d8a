/*
 * The independent gRPC server of hbeat_grpc_peer.py (Debian's
 * python3-grpcio), started as a child process on a free loopback port and
 * stopped again; restartable on the same port.
 */
#ifndef HBEAT_TEST_GRPC_PEER_H
#define HBEAT_TEST_GRPC_PEER_H

#include <sys/types.h>

#define GRPC_PEER_MAX_ARGS 16

typedef struct grpc_peer {
    pid_t pid; /* 0 when not running */
    int port;
    char dir[256];
    char url[128]; /* grpc://127.0.0.1:PORT (grpcs:// with --cert) */
    int nargs;
    char *args[GRPC_PEER_MAX_ARGS];
} grpc_peer;

/* Start the peer with `extra` (NULL-terminated, or NULL: "--mode normal"
   and no TLS) on a free port; waits at most 20 s for it to serve. 0 or -1
   with a message on stderr. */
int grpc_peer_start(grpc_peer *p, const char *const *extra);
/* Start it again on the same port with the same arguments. */
int grpc_peer_restart(grpc_peer *p);
/* SIGTERM and wait (SIGKILL after 10 s). */
void grpc_peer_stop(grpc_peer *p);
/* SIGKILL and reap: a crash. */
void grpc_peer_kill9(grpc_peer *p);
/* Stop if running and remove the temp dir. */
void grpc_peer_cleanup(grpc_peer *p);

#endif /* HBEAT_TEST_GRPC_PEER_H */
