/*
 * Integration-test harness: starts the real hbeatd on loopback in a fresh
 * temp dir (free tcp ports, an ipc socket and a SQLite file inside the dir),
 * waits until every listener is bound, and stops it again.
 *
 * Typical use:
 *     hbd_harness h;
 *     assert_int_equal(hbd_harness_start(&h, NULL), 0);
 *     ... talk to h.nng_tcp_url, h.nng_ipc_url, h.rest_url, h.grpc_url ...
 *     assert_int_equal(hbd_harness_stop(&h), 0);
 *     hbd_harness_cleanup(&h);
 *
 * Not thread-safe: use one harness from one thread. hbeatd's log goes to
 * <dir>/hbeatd.log; it is copied to stderr when a start fails, and at
 * cleanup when the environment sets HBD_HARNESS_VERBOSE=1.
 * HBD_HARNESS_WRAPPER runs hbeatd under a tool, e.g.
 * HBD_HARNESS_WRAPPER="valgrind -q --error-exitcode=99 --leak-check=full";
 * a tool's error then shows as a non-zero hbd_harness_stop().
 */
#ifndef HBD_HARNESS_H
#define HBD_HARNESS_H

#include <sys/types.h>

#define HBD_HARNESS_MAX_ARGS 32

typedef struct hbd_harness {
    pid_t pid;               /* 0 when hbeatd is not running */
    char dir[256];           /* fresh temp dir, removed by cleanup */
    char db_path[512];       /* <dir>/hbeatd.db */
    char nng_tcp_url[256];   /* client form: nng+tcp://127.0.0.1:PORT */
    char nng_ipc_url[512];   /* client form: nng+ipc:///<dir>/hbeatd.sock */
    char rest_url[256];      /* http://127.0.0.1:PORT/api/v3; "" without REST */
    char rest_host_port[64]; /* 127.0.0.1:PORT; "" without REST */
    char grpc_url[128];      /* grpc:// or grpcs://127.0.0.1:PORT; "" without gRPC */

    /* Private. */
    int tcp_port;
    int http_port;
    int grpc_port;
    int nextra;
    char *extra[HBD_HARNESS_MAX_ARGS];
    char log_path[512];
    char ready_path[512];
    char sock_path[512];
} hbd_harness;

/* Makes a temp dir and starts hbeatd in it, with `extra_args` (NULL-
   terminated, or NULL) appended to the harness's own flags; later flags
   win, so e.g. {"--reap-interval", "0.05", NULL} works. Waits (at most
   10 s, 60 s under a wrapper) for hbeatd's ready file. Returns 0, or -1 with a message on stderr
   (hbeatd is then not running; cleanup still removes the dir). */
int hbd_harness_start(hbd_harness *h, const char *const *extra_args);
/* Starts hbeatd again after a stop or kill9, with the same db, the SAME
   tcp/http ports and ipc path, and the same extra args. 0 or -1. */
int hbd_harness_restart(hbd_harness *h);
/* SIGTERM, then waits (at most 10 s, 60 s under a wrapper; then SIGKILL). Returns hbeatd's exit
   status (0 for a clean stop), 128+N when signal N ended it, -1 when it was
   not running or had to be killed. */
int hbd_harness_stop(hbd_harness *h);
/* SIGKILL and reap: a crash, for persistence tests. */
void hbd_harness_kill9(hbd_harness *h);
/* Freeze and thaw the server (SIGSTOP/SIGCONT), e.g. to make a request time
   out. */
void hbd_harness_sigstop(hbd_harness *h);
void hbd_harness_sigcont(hbd_harness *h);
/* Kills hbeatd if running, removes the temp dir. Safe to call twice. */
void hbd_harness_cleanup(hbd_harness *h);

#endif /* HBD_HARNESS_H */
