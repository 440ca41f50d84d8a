/*
 * hbeatd's HTTP front end, on libmicrohttpd.
 *
 * Why libmicrohttpd: it is well kept and packaged in Debian; it has an
 * internal thread pool with one epoll set per thread, connection limits
 * and per-connection timeouts built in, and TLS through GnuTLS when we want
 * it. The REST route has to stay within 2x of a minimal C HTTP server, and
 * nng's own HTTP server measured about 3x slower than that floor on our
 * machines, so nng serves only the protobuf protocol.
 *
 * Shape: every connection gets a small context holding the body buffer and
 * the reply, reused across keep-alive requests so a steady stream of beats
 * does not allocate for them. A body is collected up to max_body and handed
 * to the router (rest_router.c), which knows nothing of HTTP libraries and
 * never blocks. A larger body gets a 413: before it is sent when the client
 * waits for 100 Continue or declares something huge, otherwise after it
 * has been read and dropped (see DRAIN_MIN).
 *
 * Durability: a reply that reports engine state may only leave once the
 * engine has committed it (group commit). Rather than hold a worker thread
 * per commit, the connection is suspended and resumed from the engine's
 * "durable" callback, so one thread keeps serving its other connections
 * and concurrent beats share one commit.
 *
 * Stopping: the listen socket is shut first (quiesce); requests already
 * in flight are answered (a bounded wait, except that a request waiting
 * for a commit is always waited for, since its callback will still come);
 * requests that arrive meanwhile on open keep-alive connections get a 503
 * with Connection: close; then the daemon stops.
 */
#define _POSIX_C_SOURCE 200809L

#include "front_rest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "defaults.h"
#include "log.h"
#include "metrics.h"
#include "monotonic.h"
#include "rest_internal.h"
#include "rest_secure.h"

/* Seconds a request may take before --min-request-rate applies to it:
   enough for a client's first write and a round trip or two, far less
   than a slowloris hopes to hold a slot for. */
#define MIN_RATE_GRACE_S 2.0
/* How long hbd_rest_stop waits for requests that are not waiting for a
   commit (being received, or being sent to a slow client). */
#define STOP_WAIT_S 10
/* A body buffer above this is given back after its request. */
#define KEEP_BUFFER_MAX (16 * 1024)
/* An oversized body up to this size is read and dropped before the 413:
   a client still sending would otherwise meet a reset (the server closing
   on unread data) instead of the reply. Past it the connection is closed. */
#define DRAIN_MIN (4 * 1024 * 1024)

struct hbd_rest {
    struct MHD_Daemon *daemon;
    hbd_engine *engine;
    size_t max_body;
    unsigned short port;
    /* One of a pool of threads may wait for the database in a call
       (hbd_engine_thread_may_wait); a lone thread serves everyone. */
    int pooled;

    pthread_mutex_t mu;
    pthread_cond_t idle;     /* signalled as the counts below drop while stopping */
    unsigned int in_flight;  /* requests between their headers and their end */
    unsigned int committing; /* of those, waiting for a durable callback */
    int stopping;

    hbd_auth *auth;
    int verify_clients; /* mutual TLS */
    hbd_rest_deadlines *deadlines;

    /* MHD's last log message while starting, for a failed start. */
    atomic_int started;
    char last_log[160];
};

/* Where a request waiting for a commit is. */
enum {
    DUR_NONE,      /* not waiting */
    DUR_CALLING,   /* inside hbd_engine_when_durable */
    DUR_SUSPENDED, /* connection suspended; the callback resumes it */
    DUR_DONE       /* callback ran; durable_rc holds its result */
};

/* One per TCP connection (MHD's socket context). */
typedef struct conn {
    hbd_rest *rest;
    struct MHD_Connection *mhd;
    char *body;
    size_t len;
    size_t cap;
    int too_big; /* the body passed max_body: drop the rest, answer 413 */
    size_t dropped;
    int responded; /* a reply was queued before the body was read */
    int resumed;   /* the next handler call sends `reply` */
    atomic_int durable;
    hbd_rest_deadline deadline;
    hbd_right right; /* what the request's token grants */
    int durable_rc;
    hbd_durable waiter;
    hbd_rest_reply reply;
    double started; /* for the metrics: when the headers were in */
    hbd_route route;
} conn;

/* MHD's format strings are its own; route them into hbeatd's log. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 2, 0)))
#endif
static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    hbd_rest *rest = cls;
    char line[sizeof rest->last_log];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\r\n")] = '\0';
    /* Written only while MHD_start_daemon runs, read after it returns. */
    if (!atomic_load(&rest->started))
        memcpy(rest->last_log, line, sizeof line);
    /* Most of MHD's messages are about one connection ("Server reached
       connection limit", "Too many open files"): rate-limited. */
    hbd_warn_limited("rest: microhttpd", "rest: microhttpd: %s", line);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    hbd_metrics_connection(HBD_PROTO_REST, toe == MHD_CONNECTION_NOTIFY_STARTED ? 1 : -1);
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        if (((hbd_rest *)cls)->verify_clients)
            hbd_rest_tls_require_client(c);
        conn *cn = calloc(1, sizeof *cn);
        /* NULL on failure: the request handler then drops the connection. */
        if (cn != NULL) {
            cn->rest = cls;
            cn->mhd = c;
            hbd_rest_reply_init(&cn->reply);
            /* When the table is full this shuts a connection down to make
               room: another, or this one (then MHD closes it next). */
            (void)hbd_rest_deadline_add(cn->rest->deadlines, &cn->deadline, c);
        }
        *socket_context = cn;
        return;
    }
    conn *cn = *socket_context;
    if (cn != NULL) {
        hbd_rest_deadline_remove(cn->rest->deadlines, &cn->deadline);
        hbd_rest_reply_release(&cn->reply);
        free(cn->body);
        free(cn);
    }
    *socket_context = NULL;
}

/* Called once per request that reached the handler, also when the client
   went away or the daemon is stopping. */
static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    hbd_rest *rest = cls;
    conn *cn = *req_cls;
    if (cn == NULL)
        return;
    *req_cls = NULL;
    hbd_rest_deadline_arm(rest->deadlines, &cn->deadline);
    hbd_rest_reply_release(&cn->reply);
    if (cn->cap > KEEP_BUFFER_MAX) {
        free(cn->body);
        cn->body = NULL;
        cn->cap = 0;
    }
    pthread_mutex_lock(&rest->mu);
    rest->in_flight--;
    if (rest->stopping)
        pthread_cond_broadcast(&rest->idle);
    pthread_mutex_unlock(&rest->mu);
}

static enum MHD_Result send_reply(struct MHD_Connection *c, const hbd_rest_reply *r, int close)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(r->len, (void *)r->body, MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return MHD_NO;
    enum MHD_Result ok = MHD_add_response_header(
        resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type ? r->content_type : "application/json");
    for (const char *const *h = r->headers; ok == MHD_YES && h != NULL && h[0] != NULL; h += 2)
        ok = MHD_add_response_header(resp, h[0], h[1]);
    if (ok == MHD_YES && r->allow != NULL)
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    if (ok == MHD_YES && r->status == 401)
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (ok == MHD_YES && close)
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    if (ok == MHD_YES)
        ok = MHD_queue_response(c, r->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static void count_request(const conn *cn)
{
    hbd_metrics_request(HBD_PROTO_REST, cn->route, hbd_result_of_http(cn->reply.status),
                        hbd_mono_now() - cn->started);
}

/* Answers before the body has been read; MHD then closes the connection
   instead of reading a body nobody wants. */
static enum MHD_Result reply_early(struct MHD_Connection *c, conn *cn, const hbd_rest_request *req,
                                   unsigned int status, const char *message)
{
    hbd_rest_reply_error(&cn->reply, req, status, "%s", message);
    cn->responded = 1;
    count_request(cn);
    enum MHD_Result ok = send_reply(c, &cn->reply, 1);
    hbd_rest_reply_release(&cn->reply);
    return ok;
}

/* The Content-Length header, saturating; 0 when absent. An unparsable
   value is left to MHD, which answers 400 itself. */
static size_t declared_length(struct MHD_Connection *c)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    size_t n = 0;
    for (; v != NULL && *v >= '0' && *v <= '9'; v++) {
        size_t d = (size_t)(*v - '0');
        if (n > (SIZE_MAX - d) / 10)
            return SIZE_MAX;
        n = n * 10 + d;
    }
    return n;
}

/* The client waits for "100 Continue" before it sends the body. */
static int expects_continue(struct MHD_Connection *c)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
    return v != NULL && strcasecmp(v, "100-continue") == 0;
}

static size_t drain_max(const hbd_rest *rest)
{
    return rest->max_body > DRAIN_MIN / 4 ? rest->max_body * 4 : DRAIN_MIN;
}

/* Appends body bytes; 0, or -1 once the body would pass `max`. */
static int append(conn *cn, const char *data, size_t n, size_t max)
{
    if (n > max || cn->len > max - n)
        return -1;
    if (cn->len + n > cn->cap) {
        size_t cap = cn->cap != 0 ? cn->cap : 512;
        while (cap < cn->len + n)
            cap *= 2;
        if (cap > max)
            cap = max;
        char *p = realloc(cn->body, cap);
        if (p == NULL)
            return -1;
        cn->body = p;
        cn->cap = cap;
    }
    memcpy(cn->body + cn->len, data, n);
    cn->len += n;
    return 0;
}

static const char *get_query(void *ctx, const char *key)
{
    return MHD_lookup_connection_value(ctx, MHD_GET_ARGUMENT_KIND, key);
}

/* The engine's durable callback: from the store's writer thread, or at
   once from inside hbd_engine_when_durable. */
static void on_durable(void *arg, int rc)
{
    conn *cn = arg;
    hbd_rest *rest = cn->rest;
    struct MHD_Connection *c = cn->mhd;
    cn->durable_rc = rc;
    int expected = DUR_CALLING;
    if (!atomic_compare_exchange_strong(&cn->durable, &expected, DUR_DONE)) {
        /* The handler has suspended the connection: wake it. From here on
           the connection may finish and be freed, so `cn` is not touched. */
        atomic_store(&cn->durable, DUR_DONE);
        MHD_resume_connection(c);
    }
    pthread_mutex_lock(&rest->mu);
    rest->committing--;
    if (rest->stopping)
        pthread_cond_broadcast(&rest->idle);
    pthread_mutex_unlock(&rest->mu);
}

/* Holds cn->reply back until the engine reports its ticket durable.
   Returns 1 when the connection was suspended (the reply goes out when the
   handler runs again), 0 when it may be sent now. */
static int wait_durable(hbd_rest *rest, struct MHD_Connection *c, conn *cn)
{
    cn->reply.wait_durable = 0;
    pthread_mutex_lock(&rest->mu);
    rest->committing++;
    pthread_mutex_unlock(&rest->mu);
    atomic_store(&cn->durable, DUR_CALLING);
    hbd_engine_when_durable(rest->engine, cn->reply.ticket, &cn->waiter, on_durable, cn);
    if (atomic_load(&cn->durable) == DUR_DONE)
        return 0;
    cn->resumed = 1;
    MHD_suspend_connection(c);
    int expected = DUR_CALLING;
    if (!atomic_compare_exchange_strong(&cn->durable, &expected, DUR_SUSPENDED)) {
        /* The callback ran between the check and the suspend. */
        MHD_resume_connection(c);
    }
    return 1;
}

/* Sends cn->reply, or a 500 when its commit failed. */
static enum MHD_Result send_durable_reply(struct MHD_Connection *c, conn *cn,
                                          const hbd_rest_request *req)
{
    atomic_store(&cn->durable, DUR_NONE);
    hbd_rest_reply_reported(&cn->reply, req, cn->durable_rc);
    count_request(cn);
    enum MHD_Result ok = send_reply(c, &cn->reply, 0);
    hbd_rest_reply_release(&cn->reply);
    return ok;
}

/* The first call for a request: its headers are in, the body (if any)
   follows in later calls. Everything that can refuse it on its headers
   alone does so here, before a byte of the body is read. */
static enum MHD_Result on_headers(hbd_rest *rest, struct MHD_Connection *c,
                                  const hbd_rest_request *req, void **req_cls)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    conn *cn = ci != NULL ? ci->socket_context : NULL;
    if (cn == NULL)
        return MHD_NO;
    cn->started = hbd_mono_now();
    cn->route = hbd_rest_route_of(req->method, req->path);
    cn->len = 0;
    cn->too_big = 0;
    cn->dropped = 0;
    cn->responded = 0;
    cn->resumed = 0;
    *req_cls = cn;
    pthread_mutex_lock(&rest->mu);
    rest->in_flight++;
    int stopping = rest->stopping;
    pthread_mutex_unlock(&rest->mu);
    if (stopping)
        return reply_early(c, cn, req, 503, "server is shutting down");
    /* Where the body's length is open to two readings, the connection is
       closed (request smuggling). */
    const char *framing = hbd_rest_framing_problem(c);
    if (framing != NULL)
        return reply_early(c, cn, req, 400, framing);
    /* A request without a valid token costs no more than its headers. The
       status page holds no data (its script fetches the runs with the
       token the user types in), so it loads without one. */
    hbd_right right = hbd_rest_bearer_right(rest->auth, c);
    if (right == HBD_RIGHT_NONE && cn->route != HBD_ROUTE_STATUS_PAGE)
        return reply_early(c, cn, req, 401,
                           "a valid bearer token is required (Authorization: Bearer TOKEN)");
    cn->right = right;
    size_t declared = declared_length(c);
    if (declared > rest->max_body) {
        /* Refused before the body when the client is not sending it yet
           (it waits for 100 Continue), or would send too much to drop;
           otherwise the body is dropped as it comes. */
        if (!expects_continue(c) && declared <= drain_max(rest)) {
            cn->too_big = 1;
            return MHD_YES;
        }
        char message[96];
        snprintf(message, sizeof message, "request body is larger than %zu bytes", rest->max_body);
        return reply_early(c, cn, req, 413, message);
    }
    return MHD_YES;
}

/* A piece of the body: kept, or counted and dropped when too big. */
static enum MHD_Result on_body(hbd_rest *rest, conn *cn, const char *data, size_t n)
{
    if (cn->responded)
        return MHD_YES;
    if (!cn->too_big && append(cn, data, n, rest->max_body) != 0)
        cn->too_big = 1;
    if (cn->too_big) {
        cn->dropped += n;
        if (cn->len + cn->dropped > drain_max(rest)) {
            hbd_warn_limited("rest: body too large",
                             "rest: closing a connection sending a body over %zu bytes",
                             drain_max(rest));
            return MHD_NO;
        }
    }
    return MHD_YES;
}

/* The whole request is in: route it, and reply now or once durable. */
static enum MHD_Result on_complete(hbd_rest *rest, struct MHD_Connection *c, conn *cn,
                                   hbd_rest_request *req)
{
    hbd_rest_deadline_disarm(&cn->deadline);
    if (cn->responded)
        return MHD_YES;
    if (cn->resumed)
        return send_durable_reply(c, cn, req);
    if (cn->too_big) {
        hbd_rest_reply_error(&cn->reply, req, 413, "request body is larger than %zu bytes",
                             rest->max_body);
    } else {
        req->body = cn->body;
        req->body_len = cn->len;
        hbd_engine_thread_may_wait(rest->pooled);
        hbd_rest_route(rest->engine, req, cn->right, &cn->reply);
        if (cn->reply.wait_durable && wait_durable(rest, c, cn))
            return MHD_YES;
    }
    if (atomic_load(&cn->durable) == DUR_DONE)
        return send_durable_reply(c, cn, req);
    count_request(cn);
    enum MHD_Result ok = send_reply(c, &cn->reply, 0);
    hbd_rest_reply_release(&cn->reply);
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    (void)version;
    hbd_rest *rest = cls;
    hbd_rest_request req = {method, url, NULL, 0, get_query, c};
    if (*req_cls == NULL)
        return on_headers(rest, c, &req, req_cls);
    conn *cn = *req_cls;
    if (*upload_data_size != 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        return on_body(rest, cn, upload_data, n);
    }
    return on_complete(rest, c, cn, &req);
}

/* libmicrohttpd's limits sit this far above hbeatd's own: a connection
   hbeatd shuts to make room is counted by libmicrohttpd until its thread
   has closed it, and libmicrohttpd must keep accepting meanwhile, or a full
   table would again leave new clients waiting in the backlog. */
static unsigned int headroom(unsigned int limit, unsigned int least)
{
    return limit / 8 > least ? limit / 8 : least;
}

/* hbeatd's connection limit and libmicrohttpd's (*mhd), both within the
   open file descriptors allowed, minus room for the store and nng. */
static unsigned int connection_limit(unsigned int wanted, unsigned int *mhd)
{
    if (wanted == 0)
        wanted = HBD_DEFAULT_MAX_CONNECTIONS;
    struct rlimit rl;
    rlim_t room = wanted + headroom(wanted, 16);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        room = rl.rlim_cur < 128 ? 32 : rl.rlim_cur - 64;
    unsigned int ours = wanted;
    if (ours + (rlim_t)headroom(ours, 16) > room)
        ours = (unsigned int)(room * 8 / 9 < room - 16 ? room * 8 / 9 : room - 16);
    *mhd = ours + headroom(ours, 16);
    return ours;
}

static unsigned int default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 16 ? 16 : (unsigned int)n;
}

static void rest_free(hbd_rest *rest)
{
    hbd_rest_deadlines_stop(rest->deadlines);
    pthread_cond_destroy(&rest->idle);
    pthread_mutex_destroy(&rest->mu);
    free(rest);
}

/* The numeric listen address; MHD_USE_IPv6 added to *flags for IPv6. */
static int listen_address(const char *host, unsigned short port, struct sockaddr_storage *ss,
                          unsigned int *flags, hbeat_error *err)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        *flags |= MHD_USE_IPv6;
        return 0;
    }
    return hbeat_error_set(err, HBEAT_EINVAL,
                           "REST listen host \"%.80s\" is not a numeric IPv4 or IPv6 address",
                           host);
}

/* libmicrohttpd's options for TLS and the per-address backstop, ended by
   MHD_OPTION_END in extra[] (room for 8). */
static int daemon_extras(hbd_rest *rest, const hbd_rest_security *sec, unsigned int *flags,
                         struct MHD_OptionItem extra[8], hbeat_error *err)
{
    size_t n = 0;
    if (sec->tls != NULL) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
            return hbeat_error_set(err, HBEAT_ENOTSUP, "this libmicrohttpd has no TLS support");
        *flags |= MHD_USE_TLS;
        extra[n++] =
            (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)sec->tls->key_pem};
        extra[n++] =
            (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)sec->tls->cert_pem};
        if (sec->tls->client_ca_pem != NULL) {
            extra[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0,
                                                 (void *)sec->tls->client_ca_pem};
            rest->verify_clients = 1;
        }
        /* TLS 1.2 at least. With client certificates, TLS 1.2 only: in
           TLS 1.3 the client finishes its handshake before the server has
           judged its certificate, so a refusal reaches it only after its
           first request, racing the server's close, and can look like a
           dropped connection instead of a TLS error. */
        extra[n++] =
            (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
                                    (void *)(sec->tls->client_ca_pem != NULL
                                                 ? "NORMAL:-VERS-ALL:+VERS-TLS1.2"
                                                 : "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2")};
    }
    /* The per-address limit is hbeatd's (rest_deadline.c); libmicrohttpd's
       stays above it as a backstop. */
    if (sec->max_connections_per_ip > 0)
        extra[n++] = (struct MHD_OptionItem){
            MHD_OPTION_PER_IP_CONNECTION_LIMIT,
            (intptr_t)(sec->max_connections_per_ip + headroom(sec->max_connections_per_ip, 4)),
            NULL};
    extra[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    return 0;
}

/* hbeatd's own guard (rest_deadline.c): read timeout, minimum rate, who
   gives way in a full table. *mhd_limit gets libmicrohttpd's limit. */
static int start_guard(hbd_rest *rest, const hbd_rest_security *sec, double read_timeout,
                       unsigned int *mhd_limit, hbeat_error *err)
{
    hbd_rest_guard guard = {
        .read_timeout = read_timeout,
        .min_rate = sec->min_request_rate,
        .grace = MIN_RATE_GRACE_S,
        .max_connections = connection_limit(sec->max_connections, mhd_limit),
        .max_per_address = sec->max_connections_per_ip,
    };
    guard.capacity = *mhd_limit;
    if (hbd_rest_deadlines_start(&rest->deadlines, &guard) != 0)
        return hbeat_error_set(err, HBEAT_ESYSTEM, "cannot start the read-timeout thread");
    return 0;
}

int hbd_rest_start(hbd_rest **out, hbd_engine *engine, const hbd_rest_options *opts,
                   const hbd_rest_security *sec, hbeat_error *err)
{
    static const hbd_rest_security open_defaults;
    if (sec == NULL)
        sec = &open_defaults;
    if (out == NULL || engine == NULL || opts == NULL)
        return hbeat_error_set(err, HBEAT_EINVAL, "hbd_rest_start: NULL argument");
    *out = NULL;
    const char *host = opts->host != NULL ? opts->host : "127.0.0.1";
    /* poll(), not epoll: with a thread pool on epoll, MHD_quiesce_daemon and
       the workers both remove the listen socket from the workers' epoll sets,
       and the loser of that race makes MHD abort ("Failed to remove listen
       FD from epoll set"; seen at stop under TSan). */
    unsigned int flags =
        MHD_USE_POLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    struct sockaddr_storage ss;
    int code = listen_address(host, opts->port, &ss, &flags, err);
    if (code != 0)
        return code;

    hbd_rest *rest = calloc(1, sizeof *rest);
    if (rest == NULL)
        return hbeat_error_set(err, HBEAT_ENOMEM, "out of memory");
    pthread_mutex_init(&rest->mu, NULL);
    hbd_mono_cond_init(&rest->idle);
    rest->engine = engine;
    rest->max_body = opts->max_body != 0 ? opts->max_body : HBD_DEFAULT_MAX_REQUEST;
    rest->auth = sec->auth;

    struct MHD_OptionItem extra[8];
    double read_timeout = sec->read_timeout > 0 ? sec->read_timeout : HBD_DEFAULT_READ_TIMEOUT;
    unsigned int mhd_limit = 0;
    if ((code = daemon_extras(rest, sec, &flags, extra, err)) != 0 ||
        (code = start_guard(rest, sec, read_timeout, &mhd_limit, err)) != 0) {
        rest_free(rest);
        return code;
    }

    unsigned int idle_s = read_timeout < 1.0 ? 1u : (unsigned int)(read_timeout + 0.999);
    unsigned int threads = opts->threads != 0 ? opts->threads : default_threads();
    rest->pooled = threads > 1;
    /* The logger goes first so that MHD reports nothing to stderr itself.
       MHD sets SO_REUSEADDR on POSIX by itself (a restart can bind while
       old connections sit in TIME_WAIT); MHD_OPTION_LISTENING_ADDRESS_REUSE
       would add SO_REUSEPORT, letting a second hbeatd share the port, so
       it is left out. A pool of one is MHD's single polling thread. */
    errno = 0;
    rest->daemon = MHD_start_daemon(
        flags, opts->port, NULL, NULL, on_request, rest, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log,
        rest, MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
        threads > 1 ? threads : 0u, MHD_OPTION_CONNECTION_LIMIT, mhd_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, idle_s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, rest,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, rest, MHD_OPTION_ARRAY, extra, MHD_OPTION_END);
    int saved = errno;
    if (rest->daemon == NULL) {
        code = hbeat_error_set(err, HBEAT_ESYSTEM, "cannot serve HTTP on %s:%u: %s", host,
                               (unsigned int)opts->port,
                               rest->last_log[0] != '\0' ? rest->last_log
                               : saved != 0              ? strerror(saved)
                                                         : "microhttpd failed to start");
        if (err != NULL)
            err->native = saved;
        rest_free(rest);
        return code;
    }
    atomic_store(&rest->started, 1);
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(rest->daemon, MHD_DAEMON_INFO_BIND_PORT);
    rest->port = di != NULL ? di->port : opts->port;
    *out = rest;
    return 0;
}

unsigned short hbd_rest_port(const hbd_rest *rest)
{
    return rest != NULL ? rest->port : 0;
}

void hbd_rest_stop(hbd_rest *rest)
{
    if (rest == NULL)
        return;
    pthread_mutex_lock(&rest->mu);
    rest->stopping = 1;
    pthread_mutex_unlock(&rest->mu);

    /* No new connections from here on: shutdown() makes the kernel refuse
       them at once, while the descriptor stays valid until MHD_stop_daemon,
       as MHD's documentation asks (its threads may still be using it;
       closing it under them races). */
    MHD_socket fd = MHD_quiesce_daemon(rest->daemon);
    if (fd != MHD_INVALID_SOCKET)
        shutdown(fd, SHUT_RDWR);

    struct timespec until = hbd_mono_deadline(STOP_WAIT_S);
    int timed_out = 0, warned = 0;
    pthread_mutex_lock(&rest->mu);
    /* A durable callback still to come (or still running) touches its
       connection and `rest`, so those are waited for without a limit; the
       engine promises every callback. Other requests get STOP_WAIT_S. */
    while (rest->committing > 0 || (rest->in_flight > 0 && !timed_out)) {
        if (timed_out) {
            if (!warned)
                hbd_log(HBEAT_LOG_WARN, "rest: stopping: waiting for %u commit(s)",
                        rest->committing);
            warned = 1;
            pthread_cond_wait(&rest->idle, &rest->mu);
        } else if (pthread_cond_timedwait(&rest->idle, &rest->mu, &until) == ETIMEDOUT) {
            timed_out = 1;
        }
    }
    if (rest->in_flight > 0)
        hbd_log(HBEAT_LOG_WARN, "rest: stopping with %u request(s) unanswered", rest->in_flight);
    pthread_mutex_unlock(&rest->mu);

    MHD_stop_daemon(rest->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    rest_free(rest);
}
