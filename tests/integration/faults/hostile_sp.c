#define _POSIX_C_SOURCE 200809L

#include "hostile_sp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "hbeat/v1/hbeat.pb-c.h"

/* Requests are small; anything bigger is not a client of ours. */
#define REQ_MAX (64 * 1024)

typedef struct hs_conn {
    hs_peer *p;
    int fd;
    pthread_t thread;
    struct hs_conn *next;
} hs_conn;

struct hs_peer {
    hs_kind kind;
    int lfd;
    char dir[32];
    char path[96];
    char url[160];
    pthread_t accept_thread;
    pthread_mutex_t mu;
    int stopping;
    hs_mode mode;
    unsigned answered[HS_MODES];
    unsigned unexpected;
    uint64_t huge_sent_max;
    unsigned huge_done;
    uint64_t rng;
    hs_conn *conns;
};

static int send_all(int fd, const void *buf, size_t len)
{
    const unsigned char *b = buf;
    while (len > 0) {
        ssize_t n = send(fd, b, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

static int recv_all(int fd, void *buf, size_t len)
{
    unsigned char *b = buf;
    while (len > 0) {
        ssize_t n = recv(fd, b, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

static void put_be64(unsigned char *out, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

static uint64_t get_be64(const unsigned char *in)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | in[i];
    return v;
}

/* Sends the frame header for a payload of `len` bytes. */
static int send_frame_head(const hs_peer *p, int fd, uint64_t len)
{
    unsigned char head[9];
    size_t n = 0;
    if (p->kind == HS_IPC)
        head[n++] = 1;
    put_be64(head + n, len);
    return send_all(fd, head, n + 8);
}

/* Reads one frame's payload into buf; its length, or -1. */
static long recv_frame(const hs_peer *p, int fd, unsigned char *buf)
{
    unsigned char head[9];
    size_t n = p->kind == HS_IPC ? 9 : 8;
    if (recv_all(fd, head, n) != 0)
        return -1;
    if (p->kind == HS_IPC && head[0] != 1)
        return -1;
    uint64_t len = get_be64(head + n - 8);
    if (len > REQ_MAX || recv_all(fd, buf, (size_t)len) != 0)
        return -1;
    return (long)len;
}

static uint64_t next_random(hs_peer *p)
{
    pthread_mutex_lock(&p->mu);
    uint64_t x = p->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    p->rng = x;
    pthread_mutex_unlock(&p->mu);
    return x;
}

static double unix_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Packs `reply` after the 4-byte request id; returns the payload length. */
static size_t pack_reply(const Hbeat__V1__Reply *reply, const unsigned char id[4],
                         unsigned char *out)
{
    memcpy(out, id, 4);
    return 4 + hbeat__v1__reply__pack(reply, out + 4);
}

/* Builds the honest answer to `hb` into out (id first). */
static size_t honest(const Hbeat__V1__HeartbeatRequest *hb, const unsigned char id[4],
                     unsigned char *out)
{
    Hbeat__V1__Reply reply = HBEAT__V1__REPLY__INIT;
    Hbeat__V1__HeartbeatReply hr = HBEAT__V1__HEARTBEAT_REPLY__INIT;
    hr.status = hb->status;
    hr.sequence = hb->sequence;
    hr.deadline = unix_now() + hb->next_report_increment;
    reply.result_case = HBEAT__V1__REPLY__RESULT_HEARTBEAT;
    reply.heartbeat = &hr;
    return pack_reply(&reply, id, out);
}

static void huge(hs_peer *p, int fd, const unsigned char id[4])
{
    unsigned char zeros[16384];
    memset(zeros, 0, sizeof(zeros));
    uint64_t sent = 0;
    if (send_frame_head(p, fd, HS_HUGE_LEN) != 0 || send_all(fd, id, 4) != 0)
        sent = HS_HUGE_LEN + 1; /* nothing to stream */
    else
        sent = 4;
    while (sent < HS_HUGE_LEN) {
        size_t n =
            HS_HUGE_LEN - sent < sizeof(zeros) ? (size_t)(HS_HUGE_LEN - sent) : sizeof(zeros);
        if (send_all(fd, zeros, n) != 0)
            break;
        sent += n;
        pthread_mutex_lock(&p->mu);
        if (sent > p->huge_sent_max)
            p->huge_sent_max = sent;
        pthread_mutex_unlock(&p->mu);
    }
    pthread_mutex_lock(&p->mu);
    p->huge_done++;
    pthread_mutex_unlock(&p->mu);
}

/* Answers one request payload; returns 1 when the connection is to be
   closed. */
static int answer(hs_peer *p, int fd, const unsigned char *req, size_t len)
{
    Hbeat__V1__Request *r = NULL;
    if (len >= 4 && (req[0] & 0x80) != 0)
        r = hbeat__v1__request__unpack(NULL, len - 4, req + 4);
    if (r == NULL || r->call_case != HBEAT__V1__REQUEST__CALL_HEARTBEAT) {
        pthread_mutex_lock(&p->mu);
        p->unexpected++;
        pthread_mutex_unlock(&p->mu);
        if (r != NULL)
            hbeat__v1__request__free_unpacked(r, NULL);
        return 1;
    }
    pthread_mutex_lock(&p->mu);
    hs_mode mode = p->mode;
    p->answered[mode]++;
    pthread_mutex_unlock(&p->mu);

    const unsigned char *id = req;
    unsigned char out[1024];
    size_t n = 0;
    int close_now = 0;
    Hbeat__V1__Reply reply = HBEAT__V1__REPLY__INIT;
    switch (mode) {
    case HS_HONEST:
        n = honest(r->heartbeat, id, out);
        break;
    case HS_GARBAGE:
        memcpy(out, id, 4);
        for (n = 4; n < 4 + 64; n += 8) {
            uint64_t x = next_random(p);
            memcpy(out + n, &x, 8);
        }
        /* Field 0 is no field: whatever the draw, this is not a Reply. */
        out[4] = 0x07;
        break;
    case HS_TRUNCATED:
        n = honest(r->heartbeat, id, out);
        n = 4 + (n - 4) / 2;
        break;
    case HS_HUGE:
        huge(p, fd, id);
        close_now = 1;
        break;
    case HS_SERVER_ERROR: {
        Hbeat__V1__Error e = HBEAT__V1__ERROR__INIT;
        e.code = HBEAT__V1__ERROR_CODE__ERROR_CODE_INTERNAL;
        e.message = "the store failed";
        reply.result_case = HBEAT__V1__REPLY__RESULT_ERROR;
        reply.error = &e;
        n = pack_reply(&reply, id, out);
        break;
    }
    case HS_WRONG_REPLY: {
        Hbeat__V1__RunInfo run = HBEAT__V1__RUN_INFO__INIT;
        Hbeat__V1__GetRunReply gr = HBEAT__V1__GET_RUN_REPLY__INIT;
        run.workflow_run_id = r->heartbeat->workflow_run_id;
        run.workflow_id = 7;
        run.status = "R";
        gr.run = &run;
        reply.result_case = HBEAT__V1__REPLY__RESULT_GET_RUN;
        reply.get_run = &gr;
        n = pack_reply(&reply, id, out);
        break;
    }
    case HS_CLOSE_MID: {
        size_t whole = honest(r->heartbeat, id, out);
        if (send_frame_head(p, fd, whole) == 0)
            send_all(fd, out, whole / 2);
        close_now = 1;
        break;
    }
    case HS_MODES:
        close_now = 1;
        break;
    }
    hbeat__v1__request__free_unpacked(r, NULL);
    if (n > 0 && (send_frame_head(p, fd, n) != 0 || send_all(fd, out, n) != 0))
        close_now = 1;
    return close_now;
}

static void *conn_main(void *arg)
{
    hs_conn *c = arg;
    hs_peer *p = c->p;
    /* The REP side's greeting, and the REQ side's. */
    static const unsigned char mine[8] = {0, 'S', 'P', 0, 0x00, 0x31, 0, 0};
    unsigned char theirs[8];
    unsigned char *buf = malloc(REQ_MAX);
    if (send_all(c->fd, mine, sizeof(mine)) == 0 && recv_all(c->fd, theirs, 8) == 0 &&
        memcmp(theirs, "\0SP\0\x00\x30", 6) == 0) {
        for (;;) {
            long len = recv_frame(p, c->fd, buf);
            if (len < 0 || answer(p, c->fd, buf, (size_t)len))
                break;
        }
    }
    free(buf);
    /* Closed under the lock: stop() shuts live fds down under it and must
       never hit a number the process has reused since. */
    pthread_mutex_lock(&p->mu);
    close(c->fd);
    c->fd = -1;
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void *accept_main(void *arg)
{
    hs_peer *p = arg;
    for (;;) {
        int fd = accept(p->lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            break;
        }
        hs_conn *c = calloc(1, sizeof(*c));
        c->p = p;
        c->fd = fd;
        pthread_mutex_lock(&p->mu);
        if (p->stopping) {
            pthread_mutex_unlock(&p->mu);
            close(fd);
            free(c);
            continue;
        }
        c->next = p->conns;
        p->conns = c;
        if (pthread_create(&c->thread, NULL, conn_main, c) != 0) {
            p->conns = c->next;
            close(fd);
            free(c);
        }
        pthread_mutex_unlock(&p->mu);
    }
    return NULL;
}

static int listen_tcp(hs_peer *p)
{
    p->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof(a);
    if (p->lfd < 0 || bind(p->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(p->lfd, 128) != 0 || getsockname(p->lfd, (struct sockaddr *)&a, &alen) != 0)
        return -1;
    snprintf(p->url, sizeof(p->url), "nng+tcp://127.0.0.1:%u", (unsigned)ntohs(a.sin_port));
    return 0;
}

static int listen_ipc(hs_peer *p)
{
    snprintf(p->dir, sizeof(p->dir), "/tmp/hbeat-fx-XXXXXX");
    if (mkdtemp(p->dir) == NULL)
        return -1;
    snprintf(p->path, sizeof(p->path), "%s/peer.sock", p->dir);
    p->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a;
    memset(&a, 0, sizeof(a));
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", p->path);
    if (p->lfd < 0 || bind(p->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(p->lfd, 128) != 0)
        return -1;
    snprintf(p->url, sizeof(p->url), "nng+ipc://%s", p->path);
    return 0;
}

hs_peer *hs_start(hs_kind kind)
{
    hs_peer *p = calloc(1, sizeof(*p));
    pthread_mutex_init(&p->mu, NULL);
    p->kind = kind;
    p->rng = 0x2545f4914f6cdd1dull;
    if ((kind == HS_TCP ? listen_tcp(p) : listen_ipc(p)) != 0) {
        perror("hostile_sp");
        abort();
    }
    pthread_create(&p->accept_thread, NULL, accept_main, p);
    return p;
}

void hs_stop(hs_peer *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_mutex_unlock(&p->mu);
    /* On Linux this wakes the blocked accept(), for AF_UNIX as for TCP. */
    shutdown(p->lfd, SHUT_RDWR);
    pthread_join(p->accept_thread, NULL);
    close(p->lfd);
    pthread_mutex_lock(&p->mu);
    for (hs_conn *c = p->conns; c != NULL; c = c->next) {
        if (c->fd >= 0)
            shutdown(c->fd, SHUT_RDWR);
    }
    pthread_mutex_unlock(&p->mu);
    while (p->conns != NULL) {
        hs_conn *c = p->conns;
        p->conns = c->next;
        pthread_join(c->thread, NULL);
        free(c);
    }
    if (p->kind == HS_IPC) {
        unlink(p->path);
        rmdir(p->dir);
    }
    pthread_mutex_destroy(&p->mu);
    free(p);
}

const char *hs_url(const hs_peer *p)
{
    return p->url;
}

void hs_set_mode(hs_peer *p, hs_mode mode)
{
    pthread_mutex_lock(&p->mu);
    p->mode = mode;
    pthread_mutex_unlock(&p->mu);
}

unsigned hs_answered(hs_peer *p, hs_mode mode)
{
    pthread_mutex_lock(&p->mu);
    unsigned n = p->answered[mode];
    pthread_mutex_unlock(&p->mu);
    return n;
}

unsigned hs_unexpected(hs_peer *p)
{
    pthread_mutex_lock(&p->mu);
    unsigned n = p->unexpected;
    pthread_mutex_unlock(&p->mu);
    return n;
}

uint64_t hs_huge_sent_max(hs_peer *p)
{
    pthread_mutex_lock(&p->mu);
    uint64_t n = p->huge_sent_max;
    pthread_mutex_unlock(&p->mu);
    return n;
}

unsigned hs_huge_done(hs_peer *p)
{
    pthread_mutex_lock(&p->mu);
    unsigned n = p->huge_done;
    pthread_mutex_unlock(&p->mu);
    return n;
}
