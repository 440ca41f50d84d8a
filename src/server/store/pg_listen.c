/*
 * The feed of status changes on PostgreSQL (pg_listen.h). The thread
 * sleeps in poll() on the connection's socket and on a pipe that wakes it
 * to stop, so a notification is reported as soon as it arrives and
 * stopping never waits for one.
 */
#define _POSIX_C_SOURCE 200809L

#include "pg_listen.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "monotonic.h"
#include "pg_store.h"
#include "run_status.h"

/* Milliseconds between reconnect attempts, as the workers wait. */
#define RECONNECT_MS 500
/* Silence, in store timeouts, after which the connection is probed. */
#define PROBE_AFTER 2

struct hbd_pg_listener {
    PGconn *conn;
    char where[256];
    hbd_store_change_fn fn;
    void *arg;
    double timeout; /* seconds for an answer (--db-timeout) */
    int wake[2];    /* a byte on wake[1] stops the thread */
    pthread_t thread;
    int started;
};

/* libpq's message without its trailing newline. */
static int message_len(const char *m)
{
    size_t n = strlen(m);
    while (n > 0 && (m[n - 1] == '\n' || m[n - 1] == ' '))
        n--;
    return (int)n;
}

static int listen_on(PGconn *c)
{
    PGresult *r = PQexec(c, "LISTEN " HBD_PG_CHANNEL);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok;
}

/* Waits until `fd` (-1: none) is readable or `timeout_ms` (-1: no limit)
   has passed: -1 when asked to stop, 1 when readable, 0 when the time
   ran out. */
static int wait_for(hbd_pg_listener *l, int fd, int timeout_ms)
{
    struct pollfd p[2] = {{.fd = l->wake[0], .events = POLLIN}, {.fd = fd, .events = POLLIN}};
    int n;
    do
        n = poll(p, fd >= 0 ? 2 : 1, timeout_ms);
    while (n < 0 && errno == EINTR);
    if (n > 0 && p[0].revents != 0)
        return -1;
    return n > 0;
}

/* The connection has been silent for a while: a query, so that one a
   network dropped without a word, or a database that stopped answering,
   is found out within the store's timeout. 0 when it answered, -1 when
   it did not, 1 when asked to stop. Notifications that come meanwhile
   wait in libpq for the loop. */
static int probe(hbd_pg_listener *l)
{
    PGconn *c = l->conn;
    if (!PQsendQuery(c, "SELECT 1"))
        return -1;
    double deadline = hbd_mono_now() + l->timeout;
    for (;;) {
        if (!PQconsumeInput(c))
            return -1;
        while (!PQisBusy(c)) {
            PGresult *r = PQgetResult(c);
            if (r == NULL)
                return 0;
            int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
            PQclear(r);
            if (!ok)
                return -1;
        }
        int left_ms = (int)((deadline - hbd_mono_now()) * 1000.0);
        if (left_ms <= 0)
            return -1;
        int w = wait_for(l, PQsocket(c), left_ms);
        if (w < 0)
            return 1;
    }
}

/* "id from to changes" (the schema's trigger) to the store's watcher. */
static void deliver(hbd_pg_listener *l, const PGnotify *n)
{
    long long id = 0;
    unsigned long long change = 0;
    char from[4], to[4];
    int status = -1;
    if (sscanf(n->extra, "%lld %3s %3s %llu", &id, from, to, &change) == 4)
        status = hbd_status_index(to);
    if (id <= 0 || status < 0) {
        /* Someone else's NOTIFY on the channel: not ours to report. */
        hbd_warn_limited("postgresql: foreign notification",
                         "postgresql: ignoring a notification on " HBD_PG_CHANNEL
                         " that is not a status change: %.64s",
                         n->extra);
        return;
    }
    hbd_debug("run %lld: %s -> %s (change %llu, committed)", id, from, to, change);
    l->fn(l->arg, id, status, change);
}

/* Until the connection listens again (0) or the thread is asked to stop
   (-1). */
static int reconnect(hbd_pg_listener *l)
{
    for (;;) {
        if (wait_for(l, -1, RECONNECT_MS) < 0)
            return -1;
        PQreset(l->conn);
        if (PQstatus(l->conn) == CONNECTION_OK && listen_on(l->conn)) {
            hbd_info("postgresql: the feed of changes is back (%s); watchers read the runs again",
                     l->where);
            l->fn(l->arg, 0, -1, 0);
            return 0;
        }
    }
}

static void *listen_main(void *arg)
{
    hbd_pg_listener *l = arg;
    for (;;) {
        /* libpq may hold notifications already read (with LISTEN's own
           reply, or several in one packet): report them before sleeping. */
        PGnotify *n;
        while ((n = PQnotifies(l->conn)) != NULL) {
            deliver(l, n);
            PQfreemem(n);
        }
        int fd = PQsocket(l->conn);
        int silent = 0;
        if (fd >= 0 && PQstatus(l->conn) == CONNECTION_OK) {
            int w = wait_for(l, fd, (int)(PROBE_AFTER * l->timeout * 1000.0));
            if (w < 0)
                break;
            if (w == 0) {
                int p = probe(l);
                if (p > 0)
                    break;
                silent = p < 0;
                if (!silent)
                    continue;
            } else if (PQconsumeInput(l->conn) && PQstatus(l->conn) == CONNECTION_OK) {
                continue;
            }
        }
        char timeout[64];
        snprintf(timeout, sizeof timeout, "the database did not answer within %g s", l->timeout);
        const char *why = silent ? timeout : PQerrorMessage(l->conn);
        hbd_error("postgresql: the feed of changes lost its connection to %s: %.*s; WatchRuns "
                  "streams end, reconnecting",
                  l->where, message_len(why), why);
        l->fn(l->arg, 0, -1, 0);
        if (reconnect(l) != 0)
            break;
    }
    return NULL;
}

int hbd_pg_listen_start(hbd_pg_listener **out, PGconn *conn, const char *where, double timeout,
                        hbd_store_change_fn fn, void *arg, hbeat_error *err)
{
    *out = NULL;
    hbd_pg_listener *l = calloc(1, sizeof *l);
    if (l == NULL) {
        PQfinish(conn);
        return hbeat_error_set(err, HBEAT_ENOMEM, "out of memory");
    }
    l->conn = conn;
    snprintf(l->where, sizeof l->where, "%s", where);
    l->fn = fn;
    l->arg = arg;
    l->timeout = timeout;
    l->wake[0] = l->wake[1] = -1;
    int rc = 0;
    if (!listen_on(conn)) {
        const char *why = PQerrorMessage(conn);
        rc = hbeat_error_set(err, HBEAT_ESYSTEM, "postgresql: LISTEN " HBD_PG_CHANNEL ": %.*s",
                             message_len(why), why);
    } else if (pipe(l->wake) != 0) {
        rc = hbeat_error_set(err, HBEAT_ESYSTEM, "postgresql: the feed of changes: pipe: %s",
                             strerror(errno));
    } else {
        fcntl(l->wake[0], F_SETFD, FD_CLOEXEC);
        fcntl(l->wake[1], F_SETFD, FD_CLOEXEC);
        int prc = pthread_create(&l->thread, NULL, listen_main, l);
        if (prc != 0)
            rc = hbeat_error_set(err, HBEAT_ESYSTEM,
                                 "postgresql: cannot start the feed of changes: %s", strerror(prc));
        l->started = prc == 0;
    }
    if (rc != 0) {
        hbd_pg_listen_stop(l);
        return rc;
    }
    *out = l;
    return 0;
}

void hbd_pg_listen_stop(hbd_pg_listener *l)
{
    if (l == NULL)
        return;
    if (l->started) {
        ssize_t w;
        do
            w = write(l->wake[1], "", 1);
        while (w < 0 && errno == EINTR);
        pthread_join(l->thread, NULL);
    }
    for (int i = 0; i < 2; i++)
        if (l->wake[i] >= 0)
            close(l->wake[i]);
    PQfinish(l->conn);
    free(l);
}
