#define _POSIX_C_SOURCE 200809L

#include "hostile_sp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "hbeat/v1/hbeat.pb-c.h"
#include "support/tsock.h"

/* Requests are small; anything bigger is not a client of ours. */
#define REQ_MAX (64 * 1024)

_Static_assert(HS_MODES <= FX_HOSTILE_MODES, "fx_hostile counts every mode");

/* Frames on a Unix socket carry a type byte first. */
static int is_ipc(int fd)
{
    struct sockaddr_storage a;
    socklen_t len = sizeof(a);
    return getsockname(fd, (struct sockaddr *)&a, &len) == 0 && a.ss_family == AF_UNIX;
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
static int send_frame_head(int fd, uint64_t len)
{
    unsigned char head[9];
    size_t n = 0;
    if (is_ipc(fd))
        head[n++] = 1;
    put_be64(head + n, len);
    return tsock_send_all(fd, head, n + 8);
}

/* Reads one frame's payload into buf; its length, or -1. */
static long recv_frame(int fd, unsigned char *buf)
{
    unsigned char head[9];
    size_t n = is_ipc(fd) ? 9 : 8;
    if (tsock_recv_all(fd, head, n) != 0)
        return -1;
    if (is_ipc(fd) && head[0] != 1)
        return -1;
    uint64_t len = get_be64(head + n - 8);
    if (len > REQ_MAX || tsock_recv_all(fd, buf, (size_t)len) != 0)
        return -1;
    return (long)len;
}

static double unix_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Packs `reply` after the 4-byte request id; returns the payload length. */
static size_t pack_reply(const HbeatPb__Reply *reply, const unsigned char id[4], unsigned char *out)
{
    memcpy(out, id, 4);
    return 4 + hbeat_pb__reply__pack(reply, out + 4);
}

/* Builds the honest answer to `hb` into out (id first). */
static size_t honest(const HbeatPb__HeartbeatRequest *hb, const unsigned char id[4],
                     unsigned char *out)
{
    HbeatPb__Reply reply = HBEAT_PB__REPLY__INIT;
    HbeatPb__HeartbeatReply hr = HBEAT_PB__HEARTBEAT_REPLY__INIT;
    hr.status = hb->status;
    hr.sequence = hb->sequence;
    hr.deadline = unix_now() + hb->next_report_increment;
    reply.result_case = HBEAT_PB__REPLY__RESULT_HEARTBEAT;
    reply.heartbeat = &hr;
    return pack_reply(&reply, id, out);
}

static void huge(fx_hostile *p, int fd, const unsigned char id[4])
{
    unsigned char zeros[16384];
    memset(zeros, 0, sizeof(zeros));
    uint64_t sent = 0;
    if (send_frame_head(fd, HS_HUGE_LEN) != 0 || tsock_send_all(fd, id, 4) != 0)
        sent = HS_HUGE_LEN + 1; /* nothing to stream */
    else
        sent = 4;
    while (sent < HS_HUGE_LEN) {
        size_t n =
            HS_HUGE_LEN - sent < sizeof(zeros) ? (size_t)(HS_HUGE_LEN - sent) : sizeof(zeros);
        if (tsock_send_all(fd, zeros, n) != 0)
            break;
        sent += n;
        fx_hostile_huge_sent(p, sent);
    }
    fx_hostile_huge_ended(p);
}

/* Answers one request payload; returns 1 when the connection is to be
   closed. */
static int answer(fx_hostile *p, int fd, const unsigned char *req, size_t len)
{
    HbeatPb__Request *r = NULL;
    if (len >= 4 && (req[0] & 0x80) != 0)
        r = hbeat_pb__request__unpack(NULL, len - 4, req + 4);
    if (r == NULL || r->call_case != HBEAT_PB__REQUEST__CALL_HEARTBEAT) {
        fx_hostile_count_unexpected(p);
        if (r != NULL)
            hbeat_pb__request__free_unpacked(r, NULL);
        return 1;
    }
    hs_mode mode = (hs_mode)fx_hostile_next(p, NULL);

    const unsigned char *id = req;
    unsigned char out[1024];
    size_t n = 0;
    int close_now = 0;
    HbeatPb__Reply reply = HBEAT_PB__REPLY__INIT;
    switch (mode) {
    case HS_HONEST:
        n = honest(r->heartbeat, id, out);
        break;
    case HS_GARBAGE:
        memcpy(out, id, 4);
        for (n = 4; n < 4 + 64; n += 8) {
            uint64_t x = fx_hostile_random(p);
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
        HbeatPb__Error e = HBEAT_PB__ERROR__INIT;
        e.code = HBEAT_PB__ERROR_CODE__ERROR_CODE_INTERNAL;
        e.message = "the store failed";
        reply.result_case = HBEAT_PB__REPLY__RESULT_ERROR;
        reply.error = &e;
        n = pack_reply(&reply, id, out);
        break;
    }
    case HS_WRONG_REPLY: {
        HbeatPb__RunInfo run = HBEAT_PB__RUN_INFO__INIT;
        HbeatPb__GetRunReply gr = HBEAT_PB__GET_RUN_REPLY__INIT;
        run.workflow_run_id = r->heartbeat->workflow_run_id;
        run.workflow_id = 7;
        run.status = "R";
        gr.run = &run;
        reply.result_case = HBEAT_PB__REPLY__RESULT_GET_RUN;
        reply.get_run = &gr;
        n = pack_reply(&reply, id, out);
        break;
    }
    case HS_CLOSE_MID: {
        size_t whole = honest(r->heartbeat, id, out);
        if (send_frame_head(fd, whole) == 0)
            tsock_send_all(fd, out, whole / 2);
        close_now = 1;
        break;
    }
    case HS_MODES:
        close_now = 1;
        break;
    }
    hbeat_pb__request__free_unpacked(r, NULL);
    if (n > 0 && (send_frame_head(fd, n) != 0 || tsock_send_all(fd, out, n) != 0))
        close_now = 1;
    return close_now;
}

static void serve(void *arg, int fd, int index)
{
    (void)index;
    fx_hostile *p = arg;
    /* The REP side's greeting, and the REQ side's. */
    static const unsigned char mine[8] = {0, 'S', 'P', 0, 0x00, 0x31, 0, 0};
    unsigned char theirs[8];
    unsigned char *buf = malloc(REQ_MAX);
    if (tsock_send_all(fd, mine, sizeof(mine)) == 0 && tsock_recv_all(fd, theirs, 8) == 0 &&
        memcmp(theirs, "\0SP\0\x00\x30", 6) == 0) {
        for (;;) {
            long len = recv_frame(fd, buf);
            if (len < 0 || answer(p, fd, buf, (size_t)len))
                break;
        }
    }
    free(buf);
}

fx_hostile *hs_start(hs_kind kind)
{
    fx_hostile *p = fx_hostile_new(0x2545f4914f6cdd1dull);
    if (kind == HS_TCP) {
        p->srv = tsock_listen_tcp(serve, p);
        snprintf(p->url, sizeof(p->url), "nng+tcp://127.0.0.1:%u", (unsigned)tsock_port(p->srv));
    } else {
        p->srv = tsock_listen_unix(serve, p);
        snprintf(p->url, sizeof(p->url), "nng+ipc://%s", tsock_path(p->srv));
    }
    return p;
}
