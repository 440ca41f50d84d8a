/*
 * Pipe accounting for nng_limits.h. Pipes are few (bounded by max_pipes),
 * so a flat array searched linearly is plenty: an accept or a close costs
 * at most max_pipes comparisons, against a TCP and maybe a TLS handshake.
 */
#include "server/nng_limits.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/log.h"
#include "server/metrics.h"

typedef struct slot {
    uint32_t pipe; /* nng pipe id; 0: free */
    int has_addr;
    unsigned char addr[17]; /* family byte, then 4 or 16 address bytes */
} slot;

/* Listeners are few; their ids are recycled slots of a small table. */
#define ARRIVAL_SLOTS 32

typedef struct arrivals {
    int listener_id; /* 0: free */
    unsigned long count;
} arrivals;

struct hbd_nng_limits {
    pthread_mutex_t mu;
    arrivals arrived[ARRIVAL_SLOTS];
    unsigned int max_pipes, max_per_addr;
    slot *slots; /* max_pipes of them */
    unsigned int open;
    unsigned long refused;
    time_t last_warning;
};

/* The peer's address as a comparable key; 0 when it has none (ipc). */
static int addr_key(nng_pipe p, unsigned char key[17])
{
    nng_sockaddr sa;
    memset(key, 0, 17);
    if (nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) != 0)
        return 0;
    if (sa.s_family == NNG_AF_INET) {
        key[0] = 4;
        memcpy(key + 1, &sa.s_in.sa_addr, 4);
        return 1;
    }
    if (sa.s_family == NNG_AF_INET6) {
        key[0] = 6;
        memcpy(key + 1, sa.s_in6.sa_addr, 16);
        return 1;
    }
    return 0;
}

/* Called with mu held. Dialed pipes (id -1) are not counted. */
static void count_arrival(hbd_nng_limits *l, int listener_id)
{
    if (listener_id <= 0)
        return;
    arrivals *free_slot = NULL;
    for (int i = 0; i < ARRIVAL_SLOTS; i++) {
        if (l->arrived[i].listener_id == listener_id) {
            l->arrived[i].count++;
            return;
        }
        if (l->arrived[i].listener_id == 0 && free_slot == NULL)
            free_slot = &l->arrived[i];
    }
    if (free_slot != NULL)
        *free_slot = (arrivals){listener_id, 1};
}

unsigned long hbd_nng_limits_arrivals(hbd_nng_limits *l, int listener_id)
{
    unsigned long n = 0;
    pthread_mutex_lock(&l->mu);
    for (int i = 0; i < ARRIVAL_SLOTS; i++) {
        if (l->arrived[i].listener_id == listener_id)
            n = l->arrived[i].count;
    }
    pthread_mutex_unlock(&l->mu);
    return n;
}

void hbd_nng_limits_forget(hbd_nng_limits *l, int listener_id)
{
    pthread_mutex_lock(&l->mu);
    for (int i = 0; i < ARRIVAL_SLOTS; i++) {
        if (l->arrived[i].listener_id == listener_id)
            l->arrived[i] = (arrivals){0, 0};
    }
    pthread_mutex_unlock(&l->mu);
}

static void on_pipe(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    hbd_nng_limits *l = arg;
    uint32_t id = (uint32_t)nng_pipe_id(p);
    if (ev == NNG_PIPE_EV_REM_POST) {
        pthread_mutex_lock(&l->mu);
        for (unsigned int i = 0; i < l->max_pipes; i++) {
            if (l->slots[i].pipe == id) {
                l->slots[i].pipe = 0;
                l->open--;
                hbd_metrics_connection(HBD_PROTO_NNG, -1);
                break;
            }
        }
        pthread_mutex_unlock(&l->mu);
        return;
    }
    /* NNG_PIPE_EV_ADD_PRE */
    unsigned char key[17];
    int has_addr = addr_key(p, key);
    int listener_id = nng_listener_id(nng_pipe_listener(p));
    pthread_mutex_lock(&l->mu);
    count_arrival(l, listener_id);
    const char *why = NULL;
    slot *free_slot = NULL;
    unsigned int same = 0;
    for (unsigned int i = 0; i < l->max_pipes; i++) {
        slot *s = &l->slots[i];
        if (s->pipe == 0) {
            if (free_slot == NULL)
                free_slot = s;
        } else if (has_addr && s->has_addr && memcmp(s->addr, key, sizeof key) == 0) {
            same++;
        }
    }
    if (free_slot == NULL)
        why = "the connection limit (--max-connections)";
    else if (has_addr && l->max_per_addr > 0 && same >= l->max_per_addr)
        why = "the per-address limit (--max-connections-per-ip)";
    int warn = 0;
    if (why == NULL) {
        free_slot->pipe = id;
        free_slot->has_addr = has_addr;
        memcpy(free_slot->addr, key, sizeof key);
        l->open++;
        hbd_metrics_connection(HBD_PROTO_NNG, 1);
    } else {
        l->refused++;
        /* A flood must not flood the log too: one line a second at most. */
        time_t now = time(NULL);
        warn = now != l->last_warning;
        l->last_warning = now;
    }
    unsigned long refused = l->refused;
    pthread_mutex_unlock(&l->mu);
    if (why != NULL) {
        if (warn)
            hbd_warn_limited("nng: refused connection",
                             "nng: refusing a connection over %s; %lu refused so far", why,
                             refused);
        /* Closed here, the socket never sees the pipe and no further
           event comes for it. */
        nng_pipe_close(p);
    }
}

int hbd_nng_limits_attach(hbd_nng_limits **out, nng_socket sock, unsigned int max_pipes,
                          unsigned int max_per_addr, hbeat_error *err)
{
    *out = NULL;
    if (max_pipes == 0)
        return hbeat_error_set(err, HBEAT_EINVAL, "nng: the connection limit must be > 0");
    hbd_nng_limits *l = calloc(1, sizeof *l);
    if (l == NULL || (l->slots = calloc(max_pipes, sizeof *l->slots)) == NULL) {
        free(l);
        return hbeat_error_set(err, HBEAT_ENOMEM, "nng: out of memory");
    }
    pthread_mutex_init(&l->mu, NULL);
    l->max_pipes = max_pipes;
    l->max_per_addr = max_per_addr;
    int rv = nng_pipe_notify(sock, NNG_PIPE_EV_ADD_PRE, on_pipe, l);
    if (rv == 0)
        rv = nng_pipe_notify(sock, NNG_PIPE_EV_REM_POST, on_pipe, l);
    if (rv != 0) {
        hbd_nng_limits_free(l);
        int rc = hbeat_error_set(err, HBEAT_ESYSTEM, "nng: cannot watch connections: %s",
                                 nng_strerror(rv));
        if (err != NULL)
            err->native = rv;
        return rc;
    }
    *out = l;
    return 0;
}

unsigned int hbd_nng_limits_open(hbd_nng_limits *l)
{
    pthread_mutex_lock(&l->mu);
    unsigned int n = l->open;
    pthread_mutex_unlock(&l->mu);
    return n;
}

void hbd_nng_limits_free(hbd_nng_limits *l)
{
    if (l == NULL)
        return;
    pthread_mutex_destroy(&l->mu);
    free(l->slots);
    free(l);
}
