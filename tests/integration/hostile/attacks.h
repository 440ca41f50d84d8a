/*
 * The hostile connection patterns of docs/security.md, each a function that runs
 * one pattern against one URL for a bounded time and count, closes every
 * socket it opened and reports what it saw. The test suite
 * (test_hostile.c) runs them next to honest clients; hostile_tool.c runs
 * one by hand against a running hbeatd.
 *
 * Only loopback: sources are 127.x.y.z, targets whatever the URL says
 * (the tool refuses anything else).
 */
#ifndef HBEAT_ITEST_HOSTILE_ATTACKS_H
#define HBEAT_ITEST_HOSTILE_ATTACKS_H

#include <stdatomic.h>
#include <stdio.h>

typedef struct hx_opts {
    const char *url;      /* nng+tcp://, nng+ipc://, nng+tls+tcp://, http:// */
    double seconds;       /* how long the pattern attacks */
    const char *src_base; /* first TCP source address; NULL: the kernel's */
    int sources;          /* addresses counted up from src_base (>= 1) */
    unsigned count;       /* the pattern's size; 0: its default */
    /* For the patterns that hold connections: once the attack is over,
       each connection still open is given until `close_limit` seconds
       after it was made (after its handshake, where there is one) for
       the server to end it; one that outlives that is `overdue`. 0: the
       held connections are simply closed at the end. */
    double close_limit;
    atomic_int *stop; /* optional: set to end the attack early */
} hx_opts;

typedef struct hx_report {
    unsigned long connects;       /* connections that came up */
    unsigned long connect_failed; /* refused, or not up within 2 s */
    unsigned long handshakes;     /* SP greetings answered */
    unsigned long requests;       /* request frames sent whole */
    unsigned long long bytes;     /* bytes sent */
    /* Connections the server ended (EOF or reset), and the longest any of
       them had been open by then (from its connect, or its handshake). */
    unsigned long closed_by_server;
    double longest_open;
    /* Connections the server kept longer than close_limit. */
    unsigned long overdue;
    double elapsed; /* seconds the pattern ran, waiting included */
    char note[160]; /* why it could not run, when it could not */
} hx_report;

/* One pattern: 0, or -1 when it could not run at all (bad URL, nothing to
   connect to; r->note says why). */
typedef int (*hx_attack_fn)(const hx_opts *o, hx_report *r);

typedef struct hx_pattern {
    const char *name;
    hx_attack_fn run;
    unsigned default_count;
    double default_seconds;
    const char *what; /* one line for --help */
} hx_pattern;

/* Abandoned pipelined requests: rounds of `count` connections (5) that complete the SP
   handshake, pipeline 5 garbage requests each and close without reading
   the replies, one round after another. tcp or ipc. */
int hx_abandon(const hx_opts *o, hx_report *r);
/* Item 2: one connection pipelines `count` get_run requests (60,000) and
   then never reads: it stays silent for the rest of the time. At the end
   it reads what is there and says whether the server had ended it
   (closed_by_server 1) or not (overdue 1). tcp or ipc. */
int hx_nonreader(const hx_opts *o, hx_report *r);
/* Item 3: `count` connections (3,000) spread evenly over the time, that
   send nothing at all: no SP greeting, no TLS ClientHello. tcp, tls+tcp,
   ipc, http. */
int hx_preconnect(const hx_opts *o, hx_report *r);
/* Item 4: `count` connections (100) held open after the SP handshake,
   every fourth trickling a request one byte every 250 ms that never
   completes; each made again when the server ends it. tcp or ipc. */
int hx_idle(const hx_opts *o, hx_report *r);
/* Item 5: `count` connections (200) that send a frame head declaring
   HX_PARTIAL_DECLARED bytes, all but the last HX_PARTIAL_MISSING of them,
   and then stall. tcp or ipc. */
int hx_partial(const hx_opts *o, hx_report *r);
/* Item 5, second half: the same with a declared length below hbeatd's
   default --max-request (HX_PARTIAL_SMALL), half of it sent. */
int hx_partial_small(const hx_opts *o, hx_report *r);
/* Item 7: connects to the ipc socket and closes before the handshake,
   once every HX_WATCH_PERIOD_S. ipc only. */
int hx_ipcwatch(const hx_opts *o, hx_report *r);
/* Item 8: `count` HTTP connections (100) that trickle header bytes (one
   every 200 ms) and never finish a request; each made again when the
   server ends it. http only. */
int hx_slowloris(const hx_opts *o, hx_report *r);

/* No attack: the time passes. The suite's control, which shows that its
   thresholds hold when nothing happens. */
int hx_none(const hx_opts *o, hx_report *r);

#define HX_PARTIAL_DECLARED (1024 * 1024)
#define HX_PARTIAL_MISSING  4096
#define HX_PARTIAL_SMALL    (60 * 1024)
#define HX_WATCH_PERIOD_S   0.3

/* Every pattern, then {NULL}. */
extern const hx_pattern hx_patterns[];
const hx_pattern *hx_find(const char *name);
/* One line: the pattern's name and the report's figures. */
void hx_report_print(FILE *f, const char *label, const hx_report *r);

#endif
