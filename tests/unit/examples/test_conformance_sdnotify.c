/*
 * The gateway conformance suite (tests/conformance) against the systemd
 * watchdog gateway of examples/sdnotify_gateway.c, with a datagram socket
 * in a temp dir standing in for systemd's notify socket, as
 * test_sdnotify_gateway.c does.
 *
 * systemd holds no runs and never answers: every beat "answers" the status
 * it sent, any run id is accepted, and nobody can change a run behind the
 * client's back. So the target has no server_set_status, and the suite
 * skips the cases that need one, each with that reason printed; everything
 * else (beats, increments, tick and tick_async, update_status, threads,
 * the loop on a fake clock, bad input, freeing) must hold as for a server.
 *
 * A thread plays systemd: it reads every datagram, so that no case fills
 * the socket's queue, and checks that each is well-formed sd_notify (lines
 * of KEY=VALUE with the keys the gateway documents, READY=1 only first).
 * A malformed datagram fails the case that sent it.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "conformance/gateway_conformance.h"
#include "sdnotify_gateway.h"

typedef struct fake_systemd {
    int by_env; /* 1: open "sdnotify://" with NOTIFY_SOCKET set; 0: name the socket */
    char dir[40];
    char path[64];
    int fd;
    pthread_t reader;
    int stop; /* atomic */
    /* Written by the reader only; read after it is joined. */
    int datagrams;
    int watchdogs;
    int readys;
    char bad[200]; /* the first malformed datagram, or "" */
} fake_systemd;

/* One line of a notification: a key the gateway documents, '=', a value. */
static int line_ok(const char *line, size_t len)
{
    static const char *const keys[] = {
        "READY=", "WATCHDOG=", "WATCHDOG_USEC=", "STATUS=", "STOPPING="};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        size_t k = strlen(keys[i]);
        if (len > k && strncmp(line, keys[i], k) == 0)
            return 1;
    }
    return 0;
}

static void check_datagram(fake_systemd *s, const char *msg, size_t len)
{
    s->datagrams++;
    const char *why = NULL;
    if (len == 0 || msg[len - 1] != '\n')
        why = "does not end in a newline";
    for (const char *p = msg; why == NULL && p < msg + len;) {
        const char *nl = memchr(p, '\n', (size_t)(msg + len - p));
        if (!line_ok(p, (size_t)(nl - p)))
            why = "has a line that is not a documented KEY=VALUE";
        else if (strncmp(p, "READY=1\n", 8) == 0 &&
                 (p != msg || s->readys++ > 0 || s->watchdogs > 0))
            why = "says READY=1 again, or after WATCHDOG=1, or not first";
        else if (strncmp(p, "WATCHDOG=1\n", 11) == 0)
            s->watchdogs++;
        p = nl + 1;
    }
    if (why != NULL && s->bad[0] == '\0')
        snprintf(s->bad, sizeof s->bad, "datagram %d %s: \"%.120s\"", s->datagrams, why, msg);
}

/* Reads until told to stop and the queue is empty. */
static void *read_notifications(void *arg)
{
    fake_systemd *s = arg;
    char buf[1024];
    for (;;) {
        ssize_t n = recv(s->fd, buf, sizeof buf - 1, 0);
        if (n >= 0) {
            buf[n] = '\0';
            check_datagram(s, buf, (size_t)n);
        } else if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
            snprintf(s->bad, sizeof s->bad, "recv: %s", strerror(errno));
            break;
        } else if (__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
            break; /* the receive timeout with nothing left to read */
        }
    }
    return NULL;
}

static int bind_notify_socket(fake_systemd *s)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", s->path);
    s->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s->fd < 0)
        return -1;
    /* Short, so that the reader notices a stop soon after the last datagram. */
    struct timeval tv = {0, 50000};
    if (bind(s->fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) {
        close(s->fd);
        return -1;
    }
    return 0;
}

static int sd_setup(void *ctx, hbeat_gateway **gw, int64_t *run_id)
{
    fake_systemd *s = ctx;
    s->stop = 0;
    s->datagrams = s->watchdogs = s->readys = 0;
    s->bad[0] = '\0';
    snprintf(s->dir, sizeof s->dir, "/tmp/hbeat-sdconf-XXXXXX");
    if (mkdtemp(s->dir) == NULL)
        return HBEAT_ESYSTEM;
    snprintf(s->path, sizeof s->path, "%s/notify", s->dir);
    if (bind_notify_socket(s) != 0) {
        rmdir(s->dir);
        return HBEAT_ESYSTEM;
    }
    if (pthread_create(&s->reader, NULL, read_notifications, s) != 0) {
        close(s->fd);
        unlink(s->path);
        rmdir(s->dir);
        return HBEAT_ESYSTEM;
    }
    char url[200];
    if (s->by_env) {
        setenv("NOTIFY_SOCKET", s->path, 1);
        snprintf(url, sizeof url, "sdnotify://");
    } else {
        unsetenv("NOTIFY_SOCKET");
        snprintf(url, sizeof url, "sdnotify://%s", s->path);
    }
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat_gateway_open(gw, url, NULL, &err);
    if (rc != 0)
        fprintf(stderr, "open %s: %s\n", url, err.message);
    *run_id = 4711;
    return rc;
}

static void sd_teardown(void *ctx, hbeat_gateway *gw)
{
    fake_systemd *s = ctx;
    /* Nothing is sent once the gateway is gone; the reader then empties
       the queue and ends at its next receive timeout. */
    hbeat_gateway_free(gw);
    __atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
    pthread_join(s->reader, NULL);
    close(s->fd);
    unlink(s->path);
    rmdir(s->dir);
    unsetenv("NOTIFY_SOCKET");
    print_message("  systemd got %d notifications, %d WATCHDOG=1\n", s->datagrams, s->watchdogs);
    if (s->bad[0] != '\0')
        fail_msg("malformed notification: %s", s->bad);
}

int main(void)
{
    static const char why_no_server[] =
        "systemd never answers a notification, so no one can change the run behind the "
        "client's back (every beat answers the status it sent)";
    static const char why_any_run[] = "systemd holds no runs: any run id is accepted";
    hbeat_error err = HBEAT_ERROR_INIT;
    if (sdnotify_gateway_register(&err) != 0) {
        fprintf(stderr, "register sdnotify://: %s\n", err.message);
        return 1;
    }
    static fake_systemd by_env = {.by_env = 1}, by_path = {.by_env = 0};
    const hbeat_conformance_target targets[] = {
        {
            .name = "sdnotify:// ($NOTIFY_SOCKET)",
            .ctx = &by_env,
            .setup = sd_setup,
            .server_set_status = NULL,
            .why_no_server = why_no_server,
            .teardown = sd_teardown,
            .knows_runs = 0,
            .why_any_run = why_any_run,
            .has_update_status = 1,
        },
        {
            .name = "sdnotify:///path",
            .ctx = &by_path,
            .setup = sd_setup,
            .server_set_status = NULL,
            .why_no_server = why_no_server,
            .teardown = sd_teardown,
            .knows_runs = 0,
            .why_any_run = why_any_run,
            .has_update_status = 1,
        },
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++)
        failed += hbeat_conformance_run(&targets[i]);
    sdnotify_gateway_unregister(NULL);
    return failed != 0;
}
