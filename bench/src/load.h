/*
 * A closed-loop load generator: `clients` connections, each with one
 * request in flight at a time, driven by one epoll thread with plain
 * syscalls. It speaks just enough of each protocol to drive a server:
 *   - nng's SP protocol over TCP and IPC as a REQ peer (the 8-byte
 *     handshake, then length-prefixed messages with a 4-byte request id),
 *   - HTTP/1.1 keep-alive with Content-Length replies.
 * Being far cheaper per request than any real client, it leaves the CPU to
 * the server, so the beats/s it measures are the server's.
 */
#ifndef BENCH_LOAD_H
#define BENCH_LOAD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef enum load_proto { LOAD_SP_TCP, LOAD_SP_IPC, LOAD_HTTP } load_proto;

typedef struct load_opts {
    load_proto proto;
    const char *host; /* SP_TCP, HTTP: numeric IPv4 */
    int port;
    const char *path; /* SP_IPC: socket path */
    unsigned int clients;
    /* Time mode: replies completed within [warmup, warmup + duration). */
    double warmup_s, duration_s;
    /* Count mode (total > 0): stop after `total` replies, no warm-up. */
    uint64_t total;
    /* Client i sends reqs[i % nreqs] again and again: the protobuf Request
       (SP) or the whole HTTP request. */
    const struct iovec *reqs;
    size_t nreqs;
    /* When set, the CPU time this process spends in the window is
       reported (server_cpu_us per reply). */
    pid_t server_pid;
} load_opts;

typedef struct load_result {
    uint64_t done;   /* replies in the window */
    uint64_t errors; /* error replies, refused or dropped connections */
    double seconds;  /* length of the window */
    double rate;     /* done / seconds */
    double p50_us, p99_us;
    double server_cpu_us; /* server CPU per reply in the window; NaN unknown */
    double client_cpu_us; /* the load generator's own CPU per reply */
} load_result;

/* 0, or -1 with a message in err. */
int load_run(const load_opts *o, load_result *r, char *err, size_t errlen);

#endif
