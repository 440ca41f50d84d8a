/* Malformed hbeat.v1 requests over a bare nng REQ socket. */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "abuse.h"
#include "hbeat/v1/hbeat.pb-c.h"

/* Past hbeatd's 64 KiB limit: read and refused with TOO_LARGE. */
#define OVERSIZED (70 * 1024)
/* Far past the limit: answered TOO_LARGE from its first bytes; the rest
   is skipped as it arrives, never stored. */
#define FAR_OVERSIZED (2 * 1024 * 1024)
/* Generous, for sanitizer builds: a refusal is a matter of milliseconds. */
#define REPLY_TIMEOUT_MS 20000

enum {
    INVALID = HBEAT_PB__ERROR_CODE__ERROR_CODE_INVALID_ARGUMENT,
    TOO_LARGE = HBEAT_PB__ERROR_CODE__ERROR_CODE_TOO_LARGE,
    UNIMPLEMENTED = HBEAT_PB__ERROR_CODE__ERROR_CODE_UNIMPLEMENTED,
};

typedef enum kind {
    K_GARBAGE,      /* bytes that cannot be protobuf */
    K_UNKNOWN_CALL, /* a oneof member from the future */
    K_TRUNCATED,    /* a heartbeat cut short */
    K_WRONG_TYPE,   /* the heartbeat field as a varint */
    K_BAD_VALUES,   /* a well-formed heartbeat with a NaN increment */
    K_OVERSIZED,    /* a heartbeat padded past the size limit */
    K_KINDS
} kind;

static const char *const kind_names[] = {"garbage",         "unknown call", "truncated",
                                         "wrong wire type", "bad values",   "oversized"};

/* The heartbeat a correct client would send for `run`, in status `status`:
   the malformed kinds are built from it. Returns the packed length. */
static size_t pack_heartbeat(uint8_t *out, int64_t run, const char *status, double inc,
                             const char *token)
{
    HbeatPb__Request req = HBEAT_PB__REQUEST__INIT;
    HbeatPb__HeartbeatRequest hb = HBEAT_PB__HEARTBEAT_REQUEST__INIT;
    hb.workflow_run_id = run;
    hb.status = (char *)status;
    hb.next_report_increment = inc;
    hb.sequence = 1;
    if (token != NULL)
        req.token = (char *)token;
    req.call_case = HBEAT_PB__REQUEST__CALL_HEARTBEAT;
    req.heartbeat = &hb;
    return hbeat_pb__request__pack(&req, out);
}

/* Builds a request of kind k into buf (4 KiB) and says which error code
   hbeatd must answer it with. The oversized one is built in *big instead,
   which the caller frees. */
static size_t build(kind k, const ab_target *t, uint64_t *rng, uint8_t *buf, uint8_t **big,
                    int *expect)
{
    int64_t run = t->runs[tsock_xorshift(rng) % t->nruns];
    size_t n = 0;
    *big = NULL;
    switch (k) {
    case K_GARBAGE: {
        /* Eleven 0xff bytes are a varint too long to be a tag. */
        n = 16 + (size_t)(tsock_xorshift(rng) % 112);
        for (size_t i = 0; i < n; i++)
            buf[i] = i < 11 ? 0xff : (uint8_t)tsock_xorshift(rng);
        *expect = INVALID;
        break;
    }
    case K_UNKNOWN_CALL: {
        /* A length-delimited field numbered past every call we know. */
        unsigned field = 16 + (unsigned)(tsock_xorshift(rng) % 84);
        unsigned tag = field << 3 | 2;
        buf[n++] = (uint8_t)(0x80 | (tag & 0x7f));
        buf[n++] = (uint8_t)(tag >> 7);
        unsigned len = (unsigned)(tsock_xorshift(rng) % 24);
        buf[n++] = (uint8_t)len;
        for (unsigned i = 0; i < len; i++)
            buf[n++] = (uint8_t)tsock_xorshift(rng);
        *expect = UNIMPLEMENTED;
        break;
    }
    case K_TRUNCATED: {
        /* The whole request is one length-delimited field, so every
           proper prefix runs past its end (or, empty, has no call). */
        size_t whole = pack_heartbeat(buf, run, "D", 45.0, NULL);
        n = (size_t)(tsock_xorshift(rng) % whole);
        *expect = INVALID;
        break;
    }
    case K_WRONG_TYPE:
        /* Field 10 (heartbeat) is a message; here it is a varint. */
        buf[n++] = 10 << 3 | 0;
        buf[n++] = (uint8_t)(tsock_xorshift(rng) % 100);
        *expect = INVALID;
        break;
    case K_BAD_VALUES: {
        static const double bad[] = {NAN, -1.0, INFINITY, 1e300};
        n = pack_heartbeat(buf, run, "D", bad[tsock_xorshift(rng) % 4], NULL);
        *expect = INVALID;
        break;
    }
    case K_OVERSIZED: {
        /* Well-formed, aimed at a live run, refused only for its size. */
        char *token = malloc(OVERSIZED + 1);
        memset(token, 'a', OVERSIZED);
        token[OVERSIZED] = '\0';
        *big = malloc(OVERSIZED + 1024);
        n = pack_heartbeat(*big, run, "E", 45.0, token);
        free(token);
        *expect = TOO_LARGE;
        break;
    }
    case K_KINDS:
        break;
    }
    return n;
}

static void check_reply(ab_tally *tally, const char *what, const void *buf, size_t len, int expect)
{
    HbeatPb__Reply *r = hbeat_pb__reply__unpack(NULL, len, buf);
    if (r == NULL) {
        ab_wrong(tally, "nng %s: the answer (%zu bytes) is not a Reply", what, len);
        return;
    }
    if (r->result_case != HBEAT_PB__REPLY__RESULT_ERROR || r->error == NULL)
        ab_wrong(tally, "nng %s: accepted (reply case %d)", what, (int)r->result_case);
    else if ((int)r->error->code != expect)
        ab_wrong(tally, "nng %s: error code %d, expected %d (%.80s)", what, (int)r->error->code,
                 expect, r->error->message);
    else
        tally->refused_right++;
    hbeat_pb__reply__free_unpacked(r, NULL);
}

/* Reads exactly `len` bytes, or -1 (closed, or nothing for the reply
   timeout). */
static int recv_exact(int fd, uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, REPLY_TIMEOUT_MS) != 1)
            return -1;
        ssize_t r = recv(fd, buf + got, len - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

/*
 * The far-oversized request goes over a raw connection speaking nng's wire
 * protocol (see tests/integration/faults/hostile_sp.h), so that the test
 * sees hbeatd answer while the body is still on its way. Returns the
 * answer's error code, 0 for an answer that is not an error, -1 when the
 * connection dropped or nothing came back in time.
 */
static int far_oversized(const char *url)
{
    int ipc = strncmp(url, "nng+ipc://", 10) == 0;
    int fd = -1, code = -1;
    if (ipc) {
        struct sockaddr_un a;
        memset(&a, 0, sizeof(a));
        a.sun_family = AF_UNIX;
        snprintf(a.sun_path, sizeof(a.sun_path), "%s", url + 10);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
            goto done;
    } else {
        struct sockaddr_in a;
        memset(&a, 0, sizeof(a));
        a.sin_family = AF_INET;
        char host[64];
        unsigned port;
        if (sscanf(url, "nng+tcp://%63[^:]:%u", host, &port) != 2 ||
            inet_pton(AF_INET, host, &a.sin_addr) != 1)
            return -1;
        a.sin_port = htons((unsigned short)port);
        fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
            goto done;
    }
    /* Greeting (REQ, 0x30), then a frame: [type 1 over ipc] 8-byte length,
       the request id, the body. */
    uint8_t head[32] = {0, 'S', 'P', 0, 0x00, 0x30, 0, 0};
    size_t n = 8;
    if (ipc)
        head[n++] = 1;
    uint64_t len = 4 + FAR_OVERSIZED;
    for (int i = 7; i >= 0; i--)
        head[n + (size_t)(7 - i)] = (uint8_t)(len >> (8 * i));
    n += 8;
    memcpy(head + n, "\x80\x00\x00\x01", 4);
    n += 4;
    if (send(fd, head, n, MSG_NOSIGNAL) != (ssize_t)n)
        goto done;
    uint8_t zeros[16384] = {0};
    for (size_t sent = 0; sent < FAR_OVERSIZED; sent += sizeof(zeros)) {
        if (send(fd, zeros, sizeof(zeros), MSG_NOSIGNAL) <= 0)
            goto done;
    }
    /* The server's greeting, then one frame: the request id and a Reply. */
    uint8_t greeting[8], frame_head[9], body[1024];
    size_t hlen = ipc ? 9 : 8;
    if (recv_exact(fd, greeting, sizeof greeting) != 0 || recv_exact(fd, frame_head, hlen) != 0)
        goto done;
    uint64_t blen = 0;
    for (size_t i = hlen - 8; i < hlen; i++)
        blen = (blen << 8) | frame_head[i];
    if (blen < 4 || blen > sizeof body || recv_exact(fd, body, (size_t)blen) != 0 ||
        memcmp(body, "\x80\x00\x00\x01", 4) != 0)
        goto done;
    HbeatPb__Reply *reply = hbeat_pb__reply__unpack(NULL, (size_t)blen - 4, body + 4);
    if (reply != NULL) {
        code = reply->result_case == HBEAT_PB__REPLY__RESULT_ERROR ? (int)reply->error->code : 0;
        hbeat_pb__reply__free_unpacked(reply, NULL);
    }
done:
    if (fd >= 0)
        close(fd);
    return code;
}

static int open_socket(const char *url, nng_socket *sock, ab_tally *out)
{
    const char *address = strncmp(url, "nng+", 4) == 0 ? url + 4 : url;
    int rv = nng_req0_open(sock);
    if (rv == 0)
        rv = nng_socket_set_ms(*sock, NNG_OPT_RECVTIMEO, REPLY_TIMEOUT_MS);
    if (rv == 0)
        rv = nng_socket_set_ms(*sock, NNG_OPT_SENDTIMEO, REPLY_TIMEOUT_MS);
    /* A dropped request must fail, not be sent again on the next
       connection. */
    if (rv == 0)
        rv = nng_socket_set_ms(*sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    if (rv == 0)
        rv = nng_dial(*sock, address, NULL, 0);
    if (rv != 0)
        ab_wrong(out, "nng: cannot dial %s: %s", address, nng_strerror(rv));
    return rv;
}

int ab_nng_run(const char *url, const ab_target *t, ab_tally *out)
{
    memset(out, 0, sizeof(*out));
    nng_socket sock;
    if (open_socket(url, &sock, out) != 0)
        return -1;
    uint64_t rng = t->seed;
    uint8_t *small = malloc(4096);
    for (unsigned i = 0; i < t->count; i++) {
        out->sent++;
        if (i % 50 == 49) {
            int r = far_oversized(url);
            if (r == TOO_LARGE)
                out->refused_right++;
            else
                ab_wrong(out, "nng far oversized: %s",
                         r < 0 ? "dropped or not answered" : "answered, but not TOO_LARGE");
            atomic_fetch_add(t->progress, 1);
            continue;
        }
        kind k = (kind)(i % K_KINDS);
        const char *what = kind_names[k];
        uint8_t *big = NULL;
        int expect;
        size_t len = build(k, t, &rng, small, &big, &expect);
        const uint8_t *msg = big != NULL ? big : small;
        int rv = nng_send(sock, (void *)msg, len, 0);
        free(big);
        void *reply = NULL;
        size_t rlen = 0;
        if (rv == 0)
            rv = nng_recv(sock, &reply, &rlen, NNG_FLAG_ALLOC);
        if (rv == 0) {
            check_reply(out, what, reply, rlen, expect);
            nng_free(reply, rlen);
        } else {
            ab_wrong(out, "nng %s: %s", what, nng_strerror(rv));
        }
        atomic_fetch_add(t->progress, 1);
    }
    free(small);
    nng_close(sock);
    return 0;
}

void ab_wrong(ab_tally *t, const char *fmt, ...)
{
    if (t->wrong++ == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(t->first_wrong, sizeof(t->first_wrong), fmt, ap);
        va_end(ap);
    }
}
