/*
 * A scripted hbeat server for the nng transport's unit tests: a REP socket
 * in this process (inproc:// or ipc:// in a temp dir) that answers each
 * request as its current mode says, right or wrong on purpose.
 */
#ifndef HBEAT_TEST_NNG_PEER_H
#define HBEAT_TEST_NNG_PEER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>

typedef enum peer_mode {
    PEER_GOOD,        /* a correct reply to whatever was asked */
    PEER_GARBAGE,     /* bytes that are not a Reply */
    PEER_TRUNCATED,   /* a correct reply cut short */
    PEER_WRONG_CASE,  /* a correct reply for another call */
    PEER_NOT_SET,     /* a Reply with no result at all */
    PEER_STATUS,      /* a correct reply whose status is peer.status */
    PEER_WRONG_SEQ,   /* a heartbeat reply with sequence + 1 */
    PEER_ERROR,       /* an Error with peer.error_code, peer.error_message */
    PEER_SILENT,      /* never answer */
    PEER_DROP,        /* close the connection the request came on */
    PEER_HUGE,        /* a valid reply padded to peer.huge_size bytes */
    PEER_RUN_MISSING, /* a run reply without its RunInfo */
    PEER_RUN_OTHER,   /* a run reply about another run */
    PEER_PAGE_STUCK,  /* list_runs: next_after_id never advances */
    PEER_PAGE_ORDER,  /* list_runs: the second page repeats the first */
} peer_mode;

typedef struct peer {
    char listen_url[300]; /* nng form: inproc://x or ipc:///dir/sock */
    char client_url[310]; /* hbeat form: nng+inproc://x, nng+ipc:///... */

    /* Script; change under `mu` (peer_set). */
    peer_mode mode;
    char status[64]; /* PEER_STATUS: status to send ("" allowed) */
    int error_code;  /* PEER_ERROR */
    char error_message[128];
    size_t huge_size;   /* PEER_HUGE */
    int64_t total_runs; /* list_runs: runs 1..total_runs exist */
    uint32_t page_size; /* list_runs page size */

    /* What came in; read under `mu`. */
    unsigned requests;
    int last_case;
    char last_token[128];
    char last_status[64];
    uint64_t last_sequence;
    int64_t last_run_id;
    double last_increment;
    int last_force;

    /* Private. */
    nng_socket sock;
    int running;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} peer;

/* Listen on inproc://<name> (ipc_dir NULL) or ipc://<ipc_dir>/<name>. */
void peer_init(peer *p, const char *name, const char *ipc_dir);
/* Start listening and answering; can be called again after peer_stop. */
int peer_start(peer *p);
/* Close the socket (dropping connections) and join the thread. */
void peer_stop(peer *p);
void peer_destroy(peer *p);

void peer_set_mode(peer *p, peer_mode mode);
void peer_set_status(peer *p, const char *status);
void peer_set_error(peer *p, int code, const char *message);
unsigned peer_requests(peer *p);
/* Block until at least n requests arrived; 0, or -1 after 30 s. */
int peer_wait_requests(peer *p, unsigned n);

/* A fresh temp dir for ipc sockets; remove with rm_temp_dir. */
void make_temp_dir(char *out, size_t size);
void rm_temp_dir(const char *dir);

#endif
