/*
 * What keeps slow and idle clients from holding the REST front end's
 * connections (rest_secure.h). Every connection is in one set, under one
 * lock, with a deadline by which its next request must be complete.
 *
 * The read timeout, whole-request edition. libmicrohttpd's own timeout
 * (MHD_OPTION_CONNECTION_TIMEOUT) only closes a connection that has been
 * silent for that long, so a client sending one header byte every few
 * seconds would keep its connection forever. A sweeper thread shuts down
 * the socket of any connection past its deadline, and libmicrohttpd,
 * seeing the socket end, closes the connection on its own thread.
 *
 * The minimum rate. The read timeout alone still let a slowloris hold a
 * slot for the whole timeout (30 s by default) and reconnect. So once a
 * request has begun to arrive, it must keep arriving: after a short grace,
 * at least min_rate bytes per second on average, or the connection is
 * shut. The bytes are the kernel's count for the socket (TCP_INFO's
 * tcpi_bytes_received): what the client sent, whether or not
 * libmicrohttpd has read it yet, so a busy server never blames a client.
 * A connection waiting for its next request without sending anything is
 * not "slow": idle keep-alive connections are honest; they are governed by
 * the read timeout and by the table below.
 *
 * The table. At its connection limit libmicrohttpd stops accepting, so a
 * table full of slow connections starved every new client until their
 * timeouts ran out (honest requests succeeded 2 times in 12 under 256
 * slow connections from each of five addresses). hbeatd now keeps
 * libmicrohttpd's limits a little above its own and counts connections
 * here. A new connection that makes the table, or its address's share,
 * too full is admitted, and the connection that has waited longest for its
 * request gives way: the slowest trickler or the longest-idle keep-alive,
 * since neither has finished a request in all that time. Why this one: an
 * honest client sends its request as soon as it connects and is served in
 * milliseconds, so it is never the oldest waiting; an attacker cannot make
 * its connections look younger without reconnecting, which only makes
 * them the next to go. A connection being served (its request in, a reply
 * pending or a commit awaited) never gives way; when every other one is
 * busy, the new connection is the one shut.
 *
 * Why shutdown() from another thread is safe: the set only touches sockets
 * of connections in it, under its lock, and a connection leaves the set
 * (MHD_CONNECTION_NOTIFY_CLOSED) before libmicrohttpd closes its socket,
 * so the descriptor can never have been reused for another connection.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "log.h"
#include "monotonic.h"
#include "rest_secure.h"

/* How often the rate is looked at: the grace is short, so often. */
#define RATE_PERIOD_MS 250

struct hbd_rest_deadlines {
    pthread_mutex_t mu;
    pthread_cond_t wake;
    pthread_t thread;
    int has_thread;
    int stopping;
    hbd_rest_guard g;
    long long timeout_ms, grace_ms, period_ms;
    hbd_rest_deadline head;     /* sentinel of a circular list */
    unsigned int live;          /* in the set and not shut */
    hbd_rest_addrmap *per_addr; /* live ones per address; NULL: no limit */
    /* For the log. */
    unsigned long timed_out, too_slow; /* since the last line */
    unsigned long timed_out_total, too_slow_total;
    long long last_log_ms;
};

static long long mono_ms(void)
{
    return (long long)(hbd_mono_now() * 1000.0);
}

static long long now_ms(const hbd_rest_deadlines *set)
{
    return set->g.now_ms != NULL ? set->g.now_ms(set->g.arg) : mono_ms();
}

static long long tcp_received(int fd)
{
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    memset(&ti, 0, sizeof ti);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 ||
        len < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof ti.tcpi_bytes_received)
        return -1; /* not TCP, or a kernel before 4.1: the read timeout still holds */
    return (long long)ti.tcpi_bytes_received;
}

static long long received(const hbd_rest_deadlines *set, int fd)
{
    return set->g.received != NULL ? set->g.received(set->g.arg, fd) : tcp_received(fd);
}

/* Shuts the connection down; libmicrohttpd then closes it. Under the lock. */
static void retire(hbd_rest_deadlines *set, hbd_rest_deadline *d)
{
    if (d->shut)
        return;
    d->shut = 1;
    shutdown(d->fd, SHUT_RDWR);
    set->live--;
    hbd_rest_addrmap_leave(set->per_addr, d->peer);
    d->peer = NULL;
}

/* ---- the sweeper ---- */

/* The request on `d` has been arriving slower than the minimum rate. */
static int too_slow(hbd_rest_deadlines *set, hbd_rest_deadline *d, long long now)
{
    unsigned int arms = atomic_load(&d->arms);
    long long bytes = received(set, d->fd);
    if (arms != d->seen_arms) {
        /* Armed again since the last look: a new request, measured anew.
           Bytes that came before this look count for nothing, which only
           ever errs for the client. */
        d->seen_arms = arms;
        d->base_bytes = bytes;
        d->began_ms = 0;
        return 0;
    }
    if (bytes < 0 || d->base_bytes < 0)
        return 0;
    if (d->began_ms == 0) {
        if (bytes > d->base_bytes)
            d->began_ms = now;
        return 0;
    }
    long long elapsed = now - d->began_ms - set->grace_ms;
    return elapsed > 0 &&
           (double)(bytes - d->base_bytes) * 1000.0 < set->g.min_rate * (double)elapsed;
}

static void sweep_locked(hbd_rest_deadlines *set, long long now)
{
    for (hbd_rest_deadline *d = set->head.next; d != &set->head; d = d->next) {
        if (d->shut)
            continue;
        long long due = atomic_load(&d->due_ms);
        if (due == 0)
            continue; /* being served */
        if (due <= now) {
            retire(set, d);
            set->timed_out++;
        } else if (set->g.min_rate > 0 && too_slow(set, d, now)) {
            retire(set, d);
            set->too_slow++;
        }
    }
}

/* At most one line a second, whatever the flood; not under the lock the
   connections take. Called with the lock held; returns with it held. */
static void log_closed(hbd_rest_deadlines *set, long long now)
{
    if ((set->timed_out == 0 && set->too_slow == 0) || now - set->last_log_ms < 1000)
        return;
    set->last_log_ms = now;
    unsigned long timed_out = set->timed_out, slow = set->too_slow;
    set->timed_out_total += timed_out;
    set->too_slow_total += slow;
    set->timed_out = set->too_slow = 0;
    unsigned long timed_out_total = set->timed_out_total, slow_total = set->too_slow_total;
    pthread_mutex_unlock(&set->mu);
    if (timed_out > 0)
        hbd_warn("rest: closed %lu connection(s) that did not deliver a request within %.3g s "
                 "(--read-timeout); %lu so far",
                 timed_out, (double)set->timeout_ms / 1000.0, timed_out_total);
    if (slow > 0)
        hbd_warn("rest: closed %lu connection(s) sending a request slower than %.0f bytes/s "
                 "(--min-request-rate); %lu so far",
                 slow, set->g.min_rate, slow_total);
    pthread_mutex_lock(&set->mu);
}

void hbd_rest_deadlines_sweep(hbd_rest_deadlines *set)
{
    pthread_mutex_lock(&set->mu);
    long long now = now_ms(set);
    sweep_locked(set, now);
    log_closed(set, now);
    pthread_mutex_unlock(&set->mu);
}

static void *sweeper(void *arg)
{
    hbd_rest_deadlines *set = arg;
    pthread_mutex_lock(&set->mu);
    while (!set->stopping) {
        struct timespec until = hbd_mono_deadline((double)set->period_ms / 1000.0);
        while (!set->stopping &&
               pthread_cond_timedwait(&set->wake, &set->mu, &until) != ETIMEDOUT) {
        }
        if (set->stopping)
            break;
        long long now = now_ms(set);
        sweep_locked(set, now);
        log_closed(set, now);
    }
    pthread_mutex_unlock(&set->mu);
    return NULL;
}

int hbd_rest_deadlines_start(hbd_rest_deadlines **out, const hbd_rest_guard *guard)
{
    *out = NULL;
    hbd_rest_deadlines *set = calloc(1, sizeof *set);
    if (set == NULL)
        return -1;
    set->g = *guard;
    if (guard->max_connections > 0 || guard->max_per_address > 0) {
        unsigned int cap = guard->capacity;
        if (cap <= guard->max_connections)
            cap = guard->max_connections + 1;
        set->per_addr = hbd_rest_addrmap_new(cap);
        if (set->per_addr == NULL) {
            free(set);
            return -1;
        }
    }
    pthread_mutex_init(&set->mu, NULL);
    hbd_mono_cond_init(&set->wake);
    set->head.next = set->head.prev = &set->head;
    set->timeout_ms = (long long)(guard->read_timeout * 1000.0);
    if (set->timeout_ms < 1)
        set->timeout_ms = 1;
    set->grace_ms = (long long)(guard->grace * 1000.0);
    /* Late by at most an eighth of the timeout, and never busy. */
    set->period_ms = set->timeout_ms / 8;
    if (set->period_ms < 20)
        set->period_ms = 20;
    if (set->period_ms > 1000)
        set->period_ms = 1000;
    if (guard->min_rate > 0 && set->period_ms > RATE_PERIOD_MS)
        set->period_ms = RATE_PERIOD_MS;
    if (!guard->no_thread) {
        if (pthread_create(&set->thread, NULL, sweeper, set) != 0) {
            pthread_cond_destroy(&set->wake);
            pthread_mutex_destroy(&set->mu);
            hbd_rest_addrmap_free(set->per_addr);
            free(set);
            return -1;
        }
        set->has_thread = 1;
    }
    *out = set;
    return 0;
}

void hbd_rest_deadlines_stop(hbd_rest_deadlines *set)
{
    if (set == NULL)
        return;
    pthread_mutex_lock(&set->mu);
    set->stopping = 1;
    pthread_cond_signal(&set->wake);
    pthread_mutex_unlock(&set->mu);
    if (set->has_thread)
        pthread_join(set->thread, NULL);
    pthread_cond_destroy(&set->wake);
    pthread_mutex_destroy(&set->mu);
    hbd_rest_addrmap_free(set->per_addr);
    free(set);
}

/* ---- the table ---- */

/* Who gives way when the table is full: among the connections waiting
   for a request (other than `except`; from address `only` when not
   NULL), one of the address holding the most connections, and of those
   the one that has waited longest. The address first, so that clients on
   addresses of their own are left alone while an address holds more; the
   wait next, since an honest client sends its request as soon as it
   connects and is served in milliseconds. NULL when every connection is
   being served. */
static hbd_rest_deadline *give_way(hbd_rest_deadlines *set, const hbd_rest_deadline *except,
                                   const hbd_rest_addr *only)
{
    hbd_rest_deadline *best = NULL;
    unsigned long best_count = 0;
    long long best_due = 0;
    for (hbd_rest_deadline *d = set->head.next; d != &set->head; d = d->next) {
        if (d->shut || d == except || (only != NULL && d->peer != only))
            continue;
        /* Every deadline is its arm time plus the same timeout. */
        long long due = atomic_load(&d->due_ms);
        if (due == 0)
            continue;
        unsigned long count = d->peer != NULL ? d->peer->count : 0;
        /* On a tie the one added first, which lies further from the
           list's head. */
        if (best == NULL || count > best_count || (count == best_count && due <= best_due)) {
            best = d;
            best_count = count;
            best_due = due;
        }
    }
    return best;
}

static int address_key(const struct sockaddr *sa, unsigned char key[16])
{
    if (sa == NULL)
        return 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        memset(key, 0, 10);
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &in->sin_addr, 4);
        return 1;
    }
    if (sa->sa_family == AF_INET6) {
        memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return 1;
    }
    return 0;
}

static void address_text(const hbd_rest_addr *a, char *out, size_t size)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (a == NULL)
        snprintf(out, size, "?");
    else if (memcmp(a->key, mapped, 12) == 0)
        inet_ntop(AF_INET, a->key + 12, out, (socklen_t)size);
    else
        inet_ntop(AF_INET6, a->key, out, (socklen_t)size);
}

int hbd_rest_deadline_add_fd(hbd_rest_deadlines *set, hbd_rest_deadline *d, int fd,
                             const struct sockaddr *peer)
{
    d->prev = d->next = NULL;
    d->fd = fd;
    d->shut = 0;
    d->peer = NULL;
    atomic_store(&d->due_ms, 0);
    atomic_store(&d->arms, 0);
    if (set == NULL)
        return 0;
    unsigned char key[16];
    int has_key = address_key(peer, key);
    hbd_rest_deadline_arm(set, d);
    /* A new socket has received nothing before it was accepted: its first
       request is measured from its first byte. */
    d->seen_arms = atomic_load(&d->arms);
    d->base_bytes = 0;
    d->began_ms = 0;

    enum { NONE, ADDRESS, TABLE } full = NONE;
    hbd_rest_deadline *victim = NULL;
    unsigned long count = 0;
    pthread_mutex_lock(&set->mu);
    long long now = now_ms(set);
    d->next = set->head.next;
    d->prev = &set->head;
    set->head.next->prev = d;
    set->head.next = d;
    set->live++;
    if (set->per_addr != NULL && has_key)
        d->peer = hbd_rest_addrmap_join(set->per_addr, key);
    if (set->g.max_per_address > 0 && d->peer != NULL && d->peer->count > set->g.max_per_address) {
        /* Room is made within the address's own share, so that one
           address's connections never push out another's. */
        full = ADDRESS;
        count = d->peer->count - 1;
        victim = give_way(set, d, d->peer);
    } else if (set->g.max_connections > 0 && set->live > set->g.max_connections) {
        full = TABLE;
        count = set->live - 1;
        victim = give_way(set, d, NULL);
    }
    int refused = full != NONE && victim == NULL;
    if (refused)
        victim = d;
    long long waited = 0;
    char from[INET6_ADDRSTRLEN + 1] = "?";
    if (victim != NULL) {
        waited = now - (atomic_load(&victim->due_ms) - set->timeout_ms);
        address_text(victim->peer, from, sizeof from);
        retire(set, victim);
    }
    pthread_mutex_unlock(&set->mu);

    if (refused)
        hbd_warn_limited("rest: refused connection",
                         "rest: the connection table is full (%lu %s) and every connection is "
                         "being served; closed a new connection from %s",
                         count, full == TABLE ? "open, --max-connections" : "from that address",
                         from);
    else if (full == TABLE)
        hbd_warn_limited("rest: table full",
                         "rest: the connection table is full (%lu open, --max-connections); "
                         "closed the connection that had waited longest for a request on the "
                         "busiest address (%.1f s, from %s) to admit a new one",
                         count, (double)waited / 1000.0, from);
    else if (full == ADDRESS)
        hbd_warn_limited("rest: address full",
                         "rest: %s has %lu connections open (--max-connections-per-ip); closed "
                         "its one that had waited longest for a request (%.1f s) to admit a "
                         "new one",
                         from, count, (double)waited / 1000.0);
    return refused ? -1 : 0;
}

int hbd_rest_deadline_add(hbd_rest_deadlines *set, hbd_rest_deadline *d, struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci == NULL) {
        /* Not in the set: never touched by it. */
        d->prev = d->next = NULL;
        d->shut = 0;
        d->peer = NULL;
        atomic_store(&d->due_ms, 0);
        atomic_store(&d->arms, 0);
        return 0;
    }
    const union MHD_ConnectionInfo *ai =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    return hbd_rest_deadline_add_fd(set, d, ci->connect_fd, ai != NULL ? ai->client_addr : NULL);
}

void hbd_rest_deadline_remove(hbd_rest_deadlines *set, hbd_rest_deadline *d)
{
    if (set == NULL)
        return;
    /* Under the lock even to look: a neighbour's removal rewrites our
       links. */
    pthread_mutex_lock(&set->mu);
    if (d->next != NULL) {
        if (!d->shut) {
            set->live--;
            hbd_rest_addrmap_leave(set->per_addr, d->peer);
            d->peer = NULL;
        }
        d->prev->next = d->next;
        d->next->prev = d->prev;
        d->next = d->prev = NULL;
    }
    pthread_mutex_unlock(&set->mu);
}

void hbd_rest_deadline_arm(hbd_rest_deadlines *set, hbd_rest_deadline *d)
{
    if (set == NULL)
        return;
    atomic_store(&d->due_ms, now_ms(set) + set->timeout_ms);
    atomic_fetch_add(&d->arms, 1);
}

void hbd_rest_deadline_disarm(hbd_rest_deadline *d)
{
    atomic_store(&d->due_ms, 0);
}

unsigned int hbd_rest_deadlines_live(hbd_rest_deadlines *set)
{
    pthread_mutex_lock(&set->mu);
    unsigned int n = set->live;
    pthread_mutex_unlock(&set->mu);
    return n;
}
