/*
 * What a scripted or hostile client of hbeatd needs below its protocol:
 * an address parsed from a URL, a connection to it (TCP from a chosen
 * loopback source address, or a Unix socket) that never blocks for longer
 * than asked, nng's SP wire (the greeting and request frames), and bounded
 * sends, reads and a check for the server's end of a connection.
 *
 * nng's SP wire, as nng 1.x speaks it: each side first sends 8 bytes
 * "\0SP\0", its protocol number (REQ 0x0030, REP 0x0031, big-endian) and
 * two zero bytes. Then every message is a frame: over TCP an 8-byte
 * big-endian length and the payload; over IPC a type byte (1) first. A
 * REQ payload starts with a 4-byte request id whose high bit is set.
 *
 * Library target: hbeat_test_rawpeer (no hbeatd, no cmocka), so that the
 * hand-run attack tool can use it too. Every descriptor it returns is
 * non-blocking and close-on-exec.
 */
#ifndef HBEAT_TEST_SUPPORT_RAWPEER_H
#define HBEAT_TEST_SUPPORT_RAWPEER_H

#include <stddef.h>
#include <stdint.h>

typedef struct rp_addr {
    int is_unix;    /* 1: a Unix socket at `path`; 0: TCP to host:port */
    int sp;         /* nng's SP wire (nng+tcp, tcp, tls+tcp, ipc) */
    int tls;        /* tls+tcp or https: the raw peer does not speak TLS */
    int http;       /* http or https */
    char host[64];  /* numeric IPv4 */
    int port;       /* TCP port */
    char path[108]; /* the Unix socket's file */
} rp_addr;

/* Parses "nng+tcp://H:P", "tcp://H:P", "nng+tls+tcp://H:P", "tls+tcp://H:P",
   "nng+ipc:///path", "ipc:///path", "http://H:P[/...]", "https://H:P[/...]".
   0, or -1 for anything else (a host name, IPv6). */
int rp_parse(const char *url, rp_addr *out);

/* Source address n (from 0) counted up from `base` in its last byte:
   base "127.0.4.1", n 2 -> "127.0.4.3". */
void rp_source(char *out, size_t cap, const char *base, int n);

/* Starts a connection from `src` (NULL: the kernel's choice; ignored for
   a Unix socket). The fd, or -1; *connected is 1 when it is already up,
   0 when it is in progress (wait for POLLOUT, then rp_connect_result). */
int rp_connect_start(const rp_addr *a, const char *src, int *connected);
/* 0 when a started connection is up, -1 when it failed. */
int rp_connect_result(int fd);
/* A connection up within `timeout` seconds: the fd, or -1. */
int rp_connect(const rp_addr *a, const char *src, double timeout);

/* The REQ side's greeting, and whether 8 bytes read back are REP's. */
extern const unsigned char rp_req_greeting[8];
int rp_greeting_is_rep(const unsigned char got[8]);
/* rp_connect, then the SP handshake, all within `timeout`: the fd once
   the server's greeting came back, or -1. */
int rp_sp_connect(const rp_addr *a, const char *src, double timeout);

/* Writes the frame head for a `len`-byte payload (9 bytes over ipc, 8
   over TCP); its length. */
size_t rp_frame_head(unsigned char *out, int ipc, uint64_t len);
/* Writes a whole request frame: the head, `id` with its high bit set, the
   body; its length (rp_frame_head + 4 + body_len). */
size_t rp_request(unsigned char *out, int ipc, uint32_t id, const void *body, size_t body_len);
/* The protobuf body of a get_run request for `run` (< 128): a valid,
   read-only hbeat.v1 request. Its length (4). */
size_t rp_get_run_body(unsigned char out[4], unsigned run);

/* Sends or reads all of `len` bytes within `timeout` seconds: 0, or -1
   (timeout, error, end of the connection). Never SIGPIPE. */
int rp_send_within(int fd, const void *buf, size_t len, double timeout);
int rp_recv_within(int fd, void *buf, size_t len, double timeout);
/* Sends what the socket takes now: bytes sent (0 when full), or -1 when
   the connection is gone. */
long rp_send_some(int fd, const void *buf, size_t len);
/* 1 when the server ends the connection (EOF, reset) within `timeout`
   seconds, reading and dropping what it sends; 0 when it is still open
   then. */
int rp_closed_within(int fd, double timeout);

/* Seconds on the monotonic clock, and a sleep that survives signals. */
double rp_now(void);
void rp_sleep(double seconds);

#endif
