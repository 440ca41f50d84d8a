/*
 * Fixtures shared by the core unit tests: fake clock/gateway/service
 * makers that assert on failure, recorders for the callbacks, a "gate"
 * gateway whose beats block until the test opens it, and a driver that runs
 * hbeat_service_run() on a thread of its own.
 *
 * Everything here synchronizes with condition variables and real-time
 * timeouts that only bound a failing test; no outcome is decided by timing.
 * cmocka asserts are only used on the main thread: helper threads record
 * what they saw and the main thread checks it.
 */
#ifndef HBEAT_TESTS_CORE_SUPPORT_H
#define HBEAT_TESTS_CORE_SUPPORT_H

#include <pthread.h>
#include <stdint.h>

#include "hbeat/hbeat.h"
#include "hbeat/sys/clock.h"
#include "hbeat/sys/fake.h"
#include "hbeat/sys/gateway.h"
#include "hbeat/sys/transport.h"

#define NS_PER_S  1000000000LL
#define NS_PER_MS 1000000LL

/* Bound for every synchronizing wait: only a broken implementation hits it. */
#define T_TIMEOUT 30.0

/* Fake clocks in these tests start here, so that nothing may assume 0. */
#define T_START_NS (1000 * NS_PER_S)

hbeat_clock *t_fake_clock(void);
hbeat_gateway *t_fake_gateway(hbeat_clock *clock, unsigned int flags);
/* interval in seconds; reports "R"; retries at Jobmon's steady pace
   (retry_factor 1, no jitter). */
hbeat_service *t_service(hbeat_gateway *gw, hbeat_clock *clock, int64_t run_id, double interval,
                         double report_by_buffer, unsigned int max_failures);
hbeat_service *t_service_opts(hbeat_gateway *gw, hbeat_service_options *opts);

/* Wait until the loop sleeps on the clock (asserts on timeout). */
void t_settle(hbeat_clock *clock);
/* Wait until the fake gateway has recorded n calls (asserts on timeout). */
void t_wait_calls(hbeat_gateway *gw, int n);
/* Wait until the service's loop has ended by itself (asserts on timeout).
   There is no event for it, so this polls is_running with a short pause:
   it waits for a state, it does not guess a duration. */
void t_wait_not_running(hbeat_service *svc);
/* Recorded call i (asserts that it exists). */
hbeat_fake_call t_call(hbeat_gateway *gw, int i);

/* ---- status-change recorder ------------------------------------------- */
typedef struct t_changes {
    pthread_mutex_t mu;
    int count;
    char old_status[8][HBEAT_STATUS_MAX + 1];
    char new_status[8][HBEAT_STATUS_MAX + 1];
} t_changes;

void t_changes_init(t_changes *c);
void t_changes_destroy(t_changes *c);
int t_changes_count(t_changes *c);
/* hbeat_status_change_fn; arg is a t_changes. */
void t_on_change(void *arg, const char *old_status, const char *new_status);

/* ---- tick_async recorder ---------------------------------------------- */
typedef struct t_ticks {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int count;
    int rc;
    hbeat_update update;
    hbeat_error err;
    pthread_t thread;
    /* Set by the test around the tick_async call: a callback that sees it
       set ran inside tick_async. */
    int inside_call;
    pthread_t caller;
    int ran_inside;
} t_ticks;

void t_ticks_init(t_ticks *t);
void t_ticks_destroy(t_ticks *t);
int t_ticks_count(t_ticks *t);
/* Wait until count >= n; returns the count. */
int t_ticks_wait(t_ticks *t, int n);
/* hbeat_tick_fn; arg is a t_ticks. */
void t_on_tick(void *arg, int rc, const hbeat_update *update, const hbeat_error *err);
/* tick_async with inside_call set around it. */
int t_tick_async(hbeat_service *svc, t_ticks *t, hbeat_error *err);

/* ---- the gate gateway -------------------------------------------------- */
/* A hand-written gateway (not thread-safe, no async method) whose beats
   block while the gate is closed. Its state is owned by the test, so that
   it can be inspected after the handle is freed. */
typedef struct t_gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int open;
    int in_method;     /* methods running now */
    int max_in_method; /* most ever running at once */
    int calls;         /* log_heartbeat calls started */
    int waiting;       /* log_heartbeat calls blocked on the gate */
    int closes;
    int destroys;
    int fail_code;  /* non-zero: every beat fails with it */
    char reply[32]; /* copied into the reply as is (may be invalid) */
    char last_status[HBEAT_STATUS_MAX + 1];
    int64_t last_run_id;
} t_gate;

void t_gate_init(t_gate *g, int open);
void t_gate_destroy(t_gate *g);
void t_gate_set_open(t_gate *g, int open);
/* Wait until n beats are blocked on the gate. */
void t_gate_wait_waiting(t_gate *g, int n);
int t_gate_calls(t_gate *g);
/* A handle over g; flags are HBEAT_GATEWAY_* flags. */
hbeat_gateway *t_gate_gateway(t_gate *g, unsigned int flags);
extern const hbeat_gateway_vtable t_gate_vtable;

/* ---- run() on a helper thread ------------------------------------------ */
typedef struct t_runner {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    hbeat_service *svc;
    hbeat_stop_event *stop;
    int started;
    int done;
    int rc;
    hbeat_error err;
} t_runner;

void t_runner_start(t_runner *r, hbeat_service *svc, hbeat_stop_event *stop);
/* Wait for run() to return (asserts on timeout), join, return its rc. */
int t_runner_join(t_runner *r);
/* 1 when run() has returned. */
int t_runner_done(t_runner *r);

/* ---- small thread helpers ---------------------------------------------- */
typedef void *(*t_thread_fn)(void *);
pthread_t t_thread(t_thread_fn fn, void *arg);
void t_join(pthread_t th);

/* Wait on cv until *flag >= want or timeout; returns *flag (mu held by caller). */
int t_cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, const int *flag, int want,
                      double timeout_seconds);

#endif
