/*
 * sdnotify_gateway.c: a hbeat gateway that feeds systemd's service watchdog.
 *
 * A job run by systemd with WatchdogSec= must tell systemd, again and again,
 * that it is alive, or systemd kills and (with Restart=) restarts it. That is
 * exactly what a heartbeat service does, so this gateway turns each beat into
 * an sd_notify datagram on the socket systemd names in $NOTIFY_SOCKET:
 *
 *   READY=1                first beat only: start-up is over (Type=notify)
 *   WATCHDOG=1             every beat: "still alive"
 *   WATCHDOG_USEC=<n>      when the beat's next_report_increment changes: the
 *                          watchdog's timeout becomes the report window, so
 *                          systemd expects the next beat exactly as a hbeat
 *                          server would (this also arms the watchdog when
 *                          the unit set no WatchdogSec=)
 *   STATUS=run 42: R (running)
 *                          when the reported status changes; shown by
 *                          `systemctl status`
 *   STOPPING=1             once the job reports an end state (D, S, E, T, A)
 *
 * It is written only against hbeat's public headers (hbeat/hbeat.h,
 * hbeat/sys/gateway.h, hbeat/sys/transport.h), as a gateway for any other
 * backend would be, and registers the "sdnotify" URL scheme.
 *
 * What it leaves out, and why:
 *
 *   - Replies. systemd never answers a notification, so no one can change
 *     the run's status from the other side: every beat "answers" the status
 *     it sent. Use a hbeatd or Jobmon URL where a server must steer the run.
 *   - The admin calls (runs create/get/list/set-status): systemd holds no
 *     runs. hbeat reports HBEAT_ENOTSUP for them, as for any gateway that
 *     leaves an optional method out.
 *   - The rest of sd_notify: MAINPID=, RELOADING=1, EXTEND_TIMEOUT_USEC=,
 *     ERRNO=, file descriptor store (FDSTORE=1, which needs SCM_RIGHTS), and
 *     the NOTIFY_SOCKET=vsock:... form for virtual machines (systemd 253+).
 *     None of them is a heartbeat.
 *   - Checking WATCHDOG_PID and WATCHDOG_USEC from the environment (what
 *     sd_watchdog_enabled() does): that decides whether and how often a
 *     program should beat, which is the program's business, not the
 *     gateway's. custom_gateway.c shows it.
 *   - Unsetting NOTIFY_SOCKET so that child processes cannot notify on the
 *     job's behalf (sd_notify's unset_environment): changing the process's
 *     environment from a library call is not safe while other threads run.
 *   - An asynchronous path. A datagram to a local socket is quick, so
 *     hbeat_service_tick_async() runs the blocking send on a worker thread
 *     of the core's. A send blocks only when systemd stops reading; the
 *     request timeout (SO_SNDTIMEO) bounds that.
 *   - Locking. The table does not set HBEAT_GATEWAY_THREAD_SAFE, so the core
 *     never runs two of its methods at once and the little state below needs
 *     no lock.
 */
#define _POSIX_C_SOURCE 200809L

#include "sdnotify_gateway.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <hbeat/sys/gateway.h>
#include <hbeat/sys/transport.h>

/* A send that systemd does not take within this many seconds fails. */
#define DEFAULT_TIMEOUT 5.0

/* Longest datagram we build; every line we send is short. */
#define MESSAGE_MAX 512

typedef struct sdnotify {
    int fd;
    struct sockaddr_un addr;
    socklen_t addr_len;
    char address[sizeof(((struct sockaddr_un *)0)->sun_path) + 1]; /* for messages */
    double timeout;
    /* What systemd has been told already; changed only after a send that
       worked, so that a failed beat repeats its news next time. */
    int ready_sent;
    int stopping_sent;
    uint64_t watchdog_usec;
    int64_t status_run;
    char status[HBEAT_STATUS_MAX + 1];
} sdnotify;

/* Statuses after which the job is over (done, stopped, error, terminated,
   aborted): systemd is told the service is stopping. */
static int is_end_state(const char *status)
{
    static const char *const end[] = {"D", "S", "E", "T", "A"};
    for (size_t i = 0; i < sizeof end / sizeof end[0]; i++) {
        if (strcmp(status, end[i]) == 0)
            return 1;
    }
    return 0;
}

static int set_address(sdnotify *s, const char *address, hbeat_error *err)
{
    size_t max = sizeof s->addr.sun_path;
    size_t len = strlen(address);

    memset(&s->addr, 0, sizeof s->addr);
    s->addr.sun_family = AF_UNIX;
    if (address[0] == '/') {
        if (len >= max)
            return hbeat_error_set(err, HBEAT_EINVAL,
                                   "notify socket path is %zu bytes; at most %zu fit", len,
                                   max - 1);
        memcpy(s->addr.sun_path, address, len);
        s->addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
    } else if (address[0] == '@') {
        /* Linux abstract namespace: a leading NUL, and the length counts. */
        if (len < 2 || len > max)
            return hbeat_error_set(err, HBEAT_EINVAL,
                                   "abstract notify socket name must be 1 to %zu bytes", max - 1);
        memcpy(s->addr.sun_path + 1, address + 1, len - 1);
        s->addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    } else {
        return hbeat_error_set(err, HBEAT_EINVAL,
                               "notify socket \"%.80s\" is neither an absolute path nor "
                               "@abstract-name",
                               address);
    }
    memcpy(s->address, address, len + 1);
    return 0;
}

static int make_socket(sdnotify *s, hbeat_error *err)
{
    s->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s->fd < 0) {
        int e = errno;
        hbeat_error_set(err, HBEAT_ESYSTEM, "socket(AF_UNIX, SOCK_DGRAM): %s", strerror(e));
        if (err)
            err->native = e;
        return HBEAT_ESYSTEM;
    }
    /* A datagram socket blocks only when the receiver's queue is full, i.e.
       when systemd has stopped reading: bound that wait. */
    struct timeval tv;
    tv.tv_sec = (time_t)s->timeout;
    tv.tv_usec = (suseconds_t)((s->timeout - (double)tv.tv_sec) * 1e6);
    if (tv.tv_sec == 0 && tv.tv_usec == 0)
        tv.tv_usec = 1000; /* 0 would mean "wait for ever" */
    (void)setsockopt(s->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return 0;
}

/* Append one formatted line; the buffer is sized so that it never fills. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 3, 4)))
#endif
static void
append(char *buf, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *len, MESSAGE_MAX - *len, fmt, ap);
    va_end(ap);
    if (n > 0)
        *len += (size_t)n < MESSAGE_MAX - *len ? (size_t)n : MESSAGE_MAX - *len - 1;
}

static int send_message(sdnotify *s, const char *msg, size_t len, hbeat_error *err)
{
    ssize_t n;
    do {
        n = sendto(s->fd, msg, len, MSG_NOSIGNAL, (const struct sockaddr *)&s->addr, s->addr_len);
    } while (n < 0 && errno == EINTR);
    if (n == (ssize_t)len)
        return 0;

    int e = n < 0 ? errno : EMSGSIZE;
    int code;
    switch (e) {
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
        code = hbeat_error_set(err, HBEAT_ETIMEDOUT,
                               "notify socket %s took nothing for %g s: is systemd reading it?",
                               s->address, s->timeout);
        break;
    case ENOENT:
    case ENOTDIR:
    case ECONNREFUSED:
        code = hbeat_error_set(err, HBEAT_ETRANSPORT, "nobody listens on notify socket %s: %s",
                               s->address, strerror(e));
        break;
    case EACCES:
    case EPERM:
        code = hbeat_error_set(err, HBEAT_EFORBIDDEN, "may not send to notify socket %s: %s",
                               s->address, strerror(e));
        break;
    case EMSGSIZE:
        code = hbeat_error_set(err, HBEAT_ETOOBIG, "notify socket %s refused %zu bytes", s->address,
                               len);
        break;
    default:
        code = hbeat_error_set(err, HBEAT_ESYSTEM, "sending to notify socket %s: %s", s->address,
                               strerror(e));
        break;
    }
    if (err)
        err->native = e;
    return code;
}

/* The STATUS= line and STOPPING=1, shared by beats and status updates. */
static void append_status(sdnotify *s, char *msg, size_t *len, int64_t run, const char *status,
                          int *status_news, int *stopping_news)
{
    *status_news = run != s->status_run || strcmp(status, s->status) != 0;
    if (*status_news) {
        const char *name = hbeat_status_name(status);
        append(msg, len, "STATUS=run %" PRId64 ": %s%s%s%s\n", run, status, name ? " (" : "",
               name ? name : "", name ? ")" : "");
    }
    *stopping_news = !s->stopping_sent && is_end_state(status);
    if (*stopping_news)
        append(msg, len, "STOPPING=1\n");
}

static void remember_status(sdnotify *s, int64_t run, const char *status, int status_news,
                            int stopping_news)
{
    if (status_news) {
        s->status_run = run;
        snprintf(s->status, sizeof s->status, "%s", status);
    }
    if (stopping_news)
        s->stopping_sent = 1;
}

static int sd_log_heartbeat(void *self, const hbeat_heartbeat_request *req,
                            hbeat_heartbeat_reply *reply, hbeat_error *err)
{
    sdnotify *s = self;
    char msg[MESSAGE_MAX];
    size_t len = 0;
    int status_news, stopping_news;

    /* Round to whole microseconds; cap far below systemd's "infinity". */
    double usec_f = req->next_report_increment * 1e6;
    uint64_t usec = !(usec_f >= 1.0) ? 0
                    : usec_f >= 1e18 ? (uint64_t)1e18
                                     : (uint64_t)llround(usec_f);

    if (!s->ready_sent)
        append(msg, &len, "READY=1\n");
    append(msg, &len, "WATCHDOG=1\n");
    if (usec != 0 && usec != s->watchdog_usec)
        append(msg, &len, "WATCHDOG_USEC=%" PRIu64 "\n", usec);
    append_status(s, msg, &len, req->workflow_run_id, req->status, &status_news, &stopping_news);

    int rc = send_message(s, msg, len, err);
    if (rc != 0)
        return rc;
    s->ready_sent = 1;
    if (usec != 0)
        s->watchdog_usec = usec;
    remember_status(s, req->workflow_run_id, req->status, status_news, stopping_news);
    /* systemd holds whatever it was told last. */
    snprintf(reply->status, sizeof reply->status, "%s", req->status);
    return 0;
}

static int sd_update_status(void *self, int64_t workflow_run_id, const char *status,
                            hbeat_heartbeat_reply *reply, hbeat_error *err)
{
    sdnotify *s = self;
    char msg[MESSAGE_MAX];
    size_t len = 0;
    int status_news, stopping_news;

    append_status(s, msg, &len, workflow_run_id, status, &status_news, &stopping_news);
    if (len > 0) {
        int rc = send_message(s, msg, len, err);
        if (rc != 0)
            return rc;
        remember_status(s, workflow_run_id, status, status_news, stopping_news);
    }
    snprintf(reply->status, sizeof reply->status, "%s", status);
    return 0;
}

static void sd_destroy(void *self)
{
    sdnotify *s = self;
    if (s->fd >= 0)
        close(s->fd);
    free(s);
}

static const hbeat_gateway_vtable sdnotify_vtable = {
    .version = HBEAT_GATEWAY_VTABLE_VERSION,
    .name = "sdnotify",
    .flags = 0, /* the core serializes calls; see the file comment */
    .destroy = sd_destroy,
    .log_heartbeat = sd_log_heartbeat,
    .update_status = sd_update_status,
};

int sdnotify_gateway_new(hbeat_gateway **out, const char *address,
                         const hbeat_gateway_options *opts, hbeat_error *err)
{
    if (!out)
        return hbeat_error_set(err, HBEAT_EINVAL, "out is NULL");
    /* Options only grow: any version up to ours is read as far as it goes
       (this gateway reads none of the fields added since version 1). */
    if (opts && (opts->version < 1 || opts->version > HBEAT_GATEWAY_OPTIONS_VERSION))
        return hbeat_error_set(err, HBEAT_EVERSION, "gateway options version %u, expected 1 to %u",
                               opts->version, (unsigned int)HBEAT_GATEWAY_OPTIONS_VERSION);
    if (!address || !*address) {
        address = getenv("NOTIFY_SOCKET");
        if (!address || !*address)
            return hbeat_error_set(err, HBEAT_EINVAL,
                                   "NOTIFY_SOCKET is not set: run under systemd (Type=notify or "
                                   "WatchdogSec=), or name the socket in the URL");
    }
    double timeout = opts && opts->request_timeout > 0 ? opts->request_timeout : DEFAULT_TIMEOUT;
    if (!isfinite(timeout) || timeout > 86400.0)
        return hbeat_error_set(err, HBEAT_EINVAL, "request_timeout must be at most one day");

    sdnotify *s = calloc(1, sizeof *s);
    if (!s)
        return hbeat_error_set(err, HBEAT_ENOMEM, "out of memory");
    s->fd = -1;
    s->timeout = timeout;
    int rc = set_address(s, address, err);
    if (rc == 0)
        rc = make_socket(s, err);
    if (rc == 0)
        rc = hbeat_gateway_new(out, &sdnotify_vtable, s, err);
    if (rc != 0)
        sd_destroy(s);
    return rc;
}

/* "sdnotify://", "sdnotify:///path", "sdnotify://@name" (any case). */
static int sdnotify_open(hbeat_gateway **out, const char *url, const hbeat_gateway_options *opts,
                         void *data, hbeat_error *err)
{
    (void)data;
    size_t n = strlen(SDNOTIFY_SCHEME);
    if (strncasecmp(url, SDNOTIFY_SCHEME, n) != 0 || url[n] != ':')
        return hbeat_error_set(err, HBEAT_EINVAL, "not an %s: URL: \"%.80s\"", SDNOTIFY_SCHEME,
                               url);
    const char *address = url + n + 1;
    if (strncmp(address, "//", 2) == 0)
        address += 2;
    return sdnotify_gateway_new(out, address, opts, err);
}

int sdnotify_gateway_register(hbeat_error *err)
{
    return hbeat_transport_register(SDNOTIFY_SCHEME, sdnotify_open, NULL, err);
}

int sdnotify_gateway_unregister(hbeat_error *err)
{
    return hbeat_transport_unregister(SDNOTIFY_SCHEME, err);
}
