/*
 * The read timeout, whole-request edition. libmicrohttpd's own timeout
 * (MHD_OPTION_CONNECTION_TIMEOUT) only closes a connection that has been
 * silent for that long, so a client sending one header byte every few
 * seconds keeps its connection (and its slot under the connection limits)
 * forever. Here every connection carries a deadline by which its next
 * request must be complete; a sweeper thread shuts down the socket of any
 * connection past it, and libmicrohttpd, seeing the socket end, closes the
 * connection on its own thread.
 *
 * Why shutdown() from another thread is safe: the sweeper only touches
 * sockets of connections in the set, under the set's lock, and a
 * connection leaves the set (MHD_CONNECTION_NOTIFY_CLOSED) before
 * libmicrohttpd closes its socket, so the descriptor can never have been
 * reused for another connection.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "server/log.h"
#include "server/rest/rest_secure.h"

struct hbd_rest_deadlines {
    pthread_mutex_t mu;
    pthread_cond_t wake;
    pthread_t thread;
    int stopping;
    long long timeout_ms;
    long long period_ms;
    hbd_rest_deadline head; /* sentinel of a circular list */
    unsigned long closed;
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *sweeper(void *arg)
{
    hbd_rest_deadlines *set = arg;
    pthread_mutex_lock(&set->mu);
    time_t last_log = 0;
    while (!set->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += (long)(set->period_ms % 1000) * 1000000L;
        until.tv_sec += (time_t)(set->period_ms / 1000) + until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        while (!set->stopping &&
               pthread_cond_timedwait(&set->wake, &set->mu, &until) != ETIMEDOUT) {
        }
        if (set->stopping)
            break;
        long long now = now_ms();
        unsigned long closed = 0;
        for (hbd_rest_deadline *d = set->head.next; d != &set->head; d = d->next) {
            long long due = atomic_load(&d->due_ms);
            if (due == 0 || due > now || d->shut)
                continue;
            d->shut = 1;
            shutdown(d->fd, SHUT_RDWR);
            closed++;
        }
        set->closed += closed;
        time_t t = time(NULL);
        if (closed > 0 && t != last_log) {
            /* At most one line a second, whatever the flood; not under the
               lock the connections take. */
            last_log = t;
            unsigned long total = set->closed;
            pthread_mutex_unlock(&set->mu);
            hbd_log(HBEAT_LOG_WARN,
                    "rest: closed %lu connection(s) that did not deliver a request within "
                    "%.3g s (--read-timeout); %lu so far",
                    closed, (double)set->timeout_ms / 1000.0, total);
            pthread_mutex_lock(&set->mu);
        }
    }
    pthread_mutex_unlock(&set->mu);
    return NULL;
}

int hbd_rest_deadlines_start(hbd_rest_deadlines **out, double seconds)
{
    *out = NULL;
    hbd_rest_deadlines *set = calloc(1, sizeof *set);
    if (set == NULL)
        return -1;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&set->mu, NULL);
    pthread_cond_init(&set->wake, &ca);
    pthread_condattr_destroy(&ca);
    set->head.next = set->head.prev = &set->head;
    set->timeout_ms = (long long)(seconds * 1000.0);
    if (set->timeout_ms < 1)
        set->timeout_ms = 1;
    /* Late by at most an eighth of the timeout, and never busy. */
    set->period_ms = set->timeout_ms / 8;
    if (set->period_ms < 20)
        set->period_ms = 20;
    if (set->period_ms > 1000)
        set->period_ms = 1000;
    if (pthread_create(&set->thread, NULL, sweeper, set) != 0) {
        pthread_cond_destroy(&set->wake);
        pthread_mutex_destroy(&set->mu);
        free(set);
        return -1;
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
    pthread_join(set->thread, NULL);
    pthread_cond_destroy(&set->wake);
    pthread_mutex_destroy(&set->mu);
    free(set);
}

void hbd_rest_deadline_add(hbd_rest_deadlines *set, hbd_rest_deadline *d, struct MHD_Connection *c)
{
    d->prev = d->next = NULL;
    d->shut = 0;
    atomic_store(&d->due_ms, 0);
    if (set == NULL)
        return;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci == NULL)
        return;
    d->fd = ci->connect_fd;
    hbd_rest_deadline_arm(set, d);
    pthread_mutex_lock(&set->mu);
    d->next = set->head.next;
    d->prev = &set->head;
    set->head.next->prev = d;
    set->head.next = d;
    pthread_mutex_unlock(&set->mu);
}

void hbd_rest_deadline_remove(hbd_rest_deadlines *set, hbd_rest_deadline *d)
{
    if (set == NULL)
        return;
    /* Under the lock even to look: a neighbour's removal rewrites our
       links. */
    pthread_mutex_lock(&set->mu);
    if (d->next != NULL) {
        d->prev->next = d->next;
        d->next->prev = d->prev;
        d->next = d->prev = NULL;
    }
    pthread_mutex_unlock(&set->mu);
}

void hbd_rest_deadline_arm(hbd_rest_deadlines *set, hbd_rest_deadline *d)
{
    if (set != NULL)
        atomic_store(&d->due_ms, now_ms() + set->timeout_ms);
}

void hbd_rest_deadline_disarm(hbd_rest_deadline *d)
{
    atomic_store(&d->due_ms, 0);
}
