/*
 * What the fault tests watch: hbeat's own log lines (through
 * hbeat_log_set_handler), the service's lease callback, and its statistics.
 * Every wait here is bounded (FX_WAIT_S) and ends on an observed event,
 * never on a fixed sleep: a slow machine only makes the tests slower.
 *
 * The log handler is process-wide, so one observer is active at a time:
 * fx_observe_begin() installs it, fx_observe_end() restores the default.
 */
#ifndef HBEAT_ITEST_FAULTS_OBSERVE_H
#define HBEAT_ITEST_FAULTS_OBSERVE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "hbeat/hbeat.h"

/* Longest wait for any one event. Generous, for sanitizer builds on a busy
   machine; a healthy run sees each event within a second or two. */
#define FX_WAIT_S 30.0

/* Log lines kept (the oldest are dropped; `total` keeps counting). */
#define FX_LOG_LINES 512
#define FX_LOG_LINE  512

typedef struct fx_observer {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    unsigned lost;     /* on_lease_change(lost = 1) calls */
    unsigned regained; /* on_lease_change(lost = 0) calls */
    /* Calls out of turn: a loss told while lost, a regain while not. */
    unsigned out_of_turn;
    unsigned long total;
    char lines[FX_LOG_LINES][FX_LOG_LINE];
    /* The loop under test, so that a failed test can still stop it. */
    hbeat_service *svc;
} fx_observer;

/* Where a phase begins: the log line count and the lease callbacks. */
typedef struct fx_mark {
    unsigned long line;
    unsigned lost, regained;
} fx_mark;

/* Initialize and install the log handler (INFO and above). */
void fx_observe_begin(fx_observer *o);
/* Restore the default log handler and release the observer. */
void fx_observe_end(fx_observer *o);

/* Pass as on_lease_change with the observer as its argument. */
void fx_on_lease(void *arg, int lost);

fx_mark fx_mark_now(fx_observer *o);
/* Waits for a log line after `mark` that holds every one of the NULL-
   terminated fragments; copies it to out (may be NULL). 0, or -1 on
   timeout (then prints the lines seen since the mark). */
int fx_wait_log(fx_observer *o, unsigned long mark, char *out, size_t cap, ...);
/* Counts lines after `mark` that hold `fragment`. */
unsigned fx_count_log(fx_observer *o, unsigned long mark, const char *fragment);

/* Waits until the lease callbacks say the lease is lost (lost = 1: one
   loss more than regains) or held (lost = 0: as many regains as losses).
   0, or -1 on timeout. */
int fx_wait_lease(fx_observer *o, int lost);
void fx_lease_counts(fx_observer *o, unsigned *lost, unsigned *regained);

/* A condition on a statistics snapshot. */
typedef int (*fx_stats_pred)(const hbeat_service_stats *s, const void *arg);

/* Polls the service's statistics (every few ms) until pred holds; the last
   snapshot is left in *out when out is not NULL. 0, or -1 on timeout. */
int fx_wait_stats(hbeat_service *svc, fx_stats_pred pred, const void *arg,
                  hbeat_service_stats *out);

/* Ready-made conditions; arg points to a uint64_t / unsigned threshold. */
/* At least *arg beats acknowledged, and none failing now. */
int fx_acked_at_least(const hbeat_service_stats *s, const void *arg);
int fx_failures_at_least(const hbeat_service_stats *s, const void *arg);
/* Healthy again: consecutive_failures == 0 and beats_acknowledged is
   greater than *(uint64_t *)arg. */
int fx_recovered_after(const hbeat_service_stats *s, const void *arg);

hbeat_service_stats fx_stats(hbeat_service *svc);

/* Seconds on the monotonic clock. */
double fx_now(void);
void fx_sleep_ms(long ms);

/* The loop under test: interval 0.2 s, report_by_buffer 3 (a 0.6 s lease),
   never giving up, lease changes told to `o`. Started before returning;
   `o` keeps it until fx_stop_loop. */
hbeat_service *fx_start_loop(hbeat_gateway *gw, int64_t run_id, fx_observer *o);
/* Stops the loop (which must answer 0: it never gives up), frees it, and
   checks the lease story since `start`: every loss was told once and
   followed by one regain, each with its log line. */
void fx_stop_loop(fx_observer *o, const fx_mark *start);
/* For teardowns: stops and frees a loop a failed test left running, before
   its gateway goes. */
void fx_drop_loop(fx_observer *o);

/* A gateway for `url` with a short request timeout (seconds). */
hbeat_gateway *fx_open(const char *url, double request_timeout);

/* One hostile-peer fault: what the peer does is switched by `set`. */
typedef struct fx_case {
    /* The code a beat must fail with while the peer misbehaves. */
    int code;
    /* Words of the transport's message for this failure, found only on the
       code path that returns `code`: seeing them in the loop's log line
       tells which error the loop met. */
    const char *phrase;
    /* err.http_status to expect, or 0. */
    int http_status;
} fx_case;

/* Turns the peer's fault on (1) or makes it honest again (0). */
typedef void (*fx_set_fn)(void *peer, int hostile);

/* While the peer or server fails every beat: the loop fails beat after
   beat with c->phrase in its log (in every failure line since `m` when
   `every_line`), tells the lease lost, and runs on; a tick through the same
   service fails with exactly c->code. `m` is from before the fault. */
void fx_expect_outage(fx_observer *o, hbeat_service *svc, const fx_mark *m, const fx_case *c,
                      int every_line);
/* Once the fault is gone: beats succeed again on the same service, the
   lease is told regained and the failure count is back to 0. */
void fx_expect_recovery(fx_observer *o, hbeat_service *svc, const fx_mark *m);
/* Waits for `beats` acknowledged beats, no failure in a row and the lease
   held. */
void fx_wait_healthy(fx_observer *o, hbeat_service *svc, uint64_t beats);

/* A service loop on `gw` beats an honest peer; the peer turns hostile:
   every beat fails with c->code (seen in the loop's log, and exactly in a
   tick through the same service), the loop goes on and tells the lease
   lost once; the peer turns honest: the loop succeeds again, tells the
   lease regained once, and its failure count is back to 0. */
void fx_run_case(hbeat_gateway *gw, fx_observer *obs, const fx_case *c, fx_set_fn set, void *peer);

#endif
