/*
 * The nng front end's own types, shared by its files: front_nng.c (the
 * event loop, connections, requests, start and stop) and
 * front_nng_accept.c (accepting, and the connection limits).
 */
#ifndef HBD_FRONT_NNG_INTERNAL_H
#define HBD_FRONT_NNG_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "front_nng.h"
#include "metrics.h"
#include "sp_listen.h"
#include "sp_tls.h"
#include "sp_wire.h"

#define MAX_PIPELINE    32
#define OUT_HIGH        (256 * 1024)
#define IN_CHUNK        4096
#define READS_PER_EVENT 16
#define ACCEPT_BURST    64
#define MAX_EVENTS      64
#define TICK_MS         100
#define STOP_TIMEOUT_S  10.0
#define ACCEPT_PAUSE_S  0.1
/* Room before a reply for its frame header and backtrace. */
#define REPLY_ROOM (HBD_SP_MAX_FRAME_HEAD + HBD_SP_MAX_BACKTRACE)

enum { K_LISTENER, K_CONN, K_WAKE };
enum { C_TLS, C_GREET, C_OPEN };

typedef struct listener {
    int kind; /* K_LISTENER: first, as in every epoll tag */
    hbd_sp_listener l;
    int armed;        /* in the epoll set */
    double resume_at; /* accepting paused (no descriptors) until then */
} listener;

typedef struct conn {
    int kind; /* K_CONN */
    int fd;
    listener *lst;
    int state;
    int dead;    /* closed; freed once its requests are back */
    int reading; /* in read_conn: replies are batched, flushed after */
    hbd_sp_tls *tls;
    unsigned char key[17]; /* the peer: address, or uid over ipc */
    uint8_t greet_in[HBD_SP_GREETING_LEN];
    size_t greet_got, greet_sent;
    hbd_sp_reader rd;
    uint8_t in[IN_CHUNK];
    size_t in_off, in_len;
    uint8_t *out; /* replies not yet sent */
    size_t out_off, out_len, out_cap;
    unsigned int pending; /* requests waiting for their commit */
    double deadline;      /* the next whole request (or greeting) by then */
    double heard;         /* when the peer last sent anything */
    double stalled_since; /* replies waiting, no progress since */
    uint32_t events;
    struct conn *prev, *next; /* live connections; dead ones: next only */
} conn;

typedef struct request {
    struct hbd_nng *srv;
    conn *c;
    hbd_durable durable;
    double started;
    hbd_route route;
    hbd_result result; /* the codec's; a failed commit overrides it */
    int rc;
    uint8_t bt[HBD_SP_MAX_BACKTRACE];
    size_t bt_len;
    uint8_t *buf; /* REPLY_ROOM, then the reply */
    size_t len;
    struct hbd_codec_pending *later; /* a deferred engine's call, packed once reported */
    struct request *next;
} request;

struct hbd_nng {
    int wake_kind; /* K_WAKE: the eventfd's epoll tag */
    hbd_engine *engine;
    hbd_auth *auth;
    size_t max_message;
    unsigned int max_conns, max_per_peer;
    double timeout;
    hbd_sp_tls_ctx *tls;
    listener *lst;
    size_t nlst;
    int ep, wake;
    pthread_t thread;
    pthread_mutex_t mu;
    request *ready; /* durable replies from other threads, newest first */
    int stop_asked;
    /* The loop thread's own. */
    conn *conns, *graveyard;
    unsigned int nconns;
    unsigned long pending;
    int stopping;
    double stop_deadline;
};

/* Closes a connection: off the epoll set, its socket reset (or closed,
   when stopping), its slot given back; freed once its requests are back. */
void hbd_nng_close_conn(hbd_nng *srv, conn *c, const char *why);
/* Adds a listener to the epoll set, or takes it off (on: 1 or 0). */
void hbd_nng_arm_listener(hbd_nng *srv, listener *l, int on);
/* Accepts what a listener has waiting (a burst at most), within the
   connection limits. */
void hbd_nng_accept(hbd_nng *srv, listener *l, double now);

#endif /* HBD_FRONT_NNG_INTERNAL_H */
