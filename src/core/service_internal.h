/* The service object, shared by the files that implement it:
   service.c (life cycle, accessors), tick.c (one beat), loop.c (the loop),
   schedule.c (when the next beat or retry is due). */
#ifndef HBEAT_CORE_SERVICE_INTERNAL_H
#define HBEAT_CORE_SERVICE_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "core/stats.h"
#include "hbeat/service.h"
#include "hbeat/sys/gateway.h"

struct hbeat_service {
    /* Fixed at creation. */
    hbeat_gateway *gw;
    hbeat_clock *clock;
    int64_t run_id;
    double interval;
    double report_by_buffer;
    int64_t interval_ns;  /* 0 with interval 0: always due */
    int64_t period_ns;    /* the loop's steady pace: interval_ns, or the
                             zero-interval pace */
    int64_t increment_ns; /* 0 with interval 0 */
    unsigned int max_failures;
    hbeat_status_change_fn on_change;
    void *on_change_arg;
    hbeat_lease_change_fn on_lease;
    void *on_lease_arg;
    int64_t retry_base_ns;
    double retry_factor;
    int64_t retry_cap_ns;
    double retry_jitter;
    double jitter;
    int64_t progress_timeout_ns; /* 0: not gated */
    hbeat_stall_change_fn on_stall;
    void *on_stall_arg;

    /* Progress, written by any thread without the lock: the time of the
       last hbeat_service_progress() (atomic, never goes back), whether the
       loop is stalled (atomic; written by the loop), and the flag that
       wakes a stalled loop (see hbeat__wait_until's `ready`). */
    int64_t last_progress_ns;
    int loop_stalled;
    int progress_wake;

    /* Watching (watch.c): whether to, the gateway's handle while the loop
       runs, and the flag a push raises to make the loop beat at once
       (atomic; the loop's ready flag while it waits for its next beat). */
    int watch;
    void *watch_handle;
    int push_wake;

    pthread_mutex_t mu;  /* guards everything below */
    pthread_cond_t idle; /* a tick slot or a callback finished */
    char status[HBEAT_STATUS_MAX + 1];
    int64_t last_beat_ns;
    uint64_t sequence;
    unsigned int failures;
    hbeat__stats stats; /* stats.lease_deadline_ns is the lease */
    int lease_lost;
    int tick_busy;         /* one tick in flight at a time */
    int callbacks_running; /* callbacks that free must wait for */
    int loop_running;
    int closing;

    /* The asynchronous tick in flight; stable while tick_busy is held. */
    hbeat_heartbeat_request async_req;
    char async_status[HBEAT_STATUS_MAX + 1];
    int64_t async_send_ns;
    hbeat_tick_fn async_done;
    void *async_arg;
    int async_for_loop;

    /* Worker for gateways without an asynchronous path, started lazily. */
    pthread_cond_t worker_cond;
    pthread_t worker;
    int worker_started;
    int worker_job;
    int worker_quit;

    /* The loop's beat in flight: the loop sleeps on loop_stop's condition
       until loop_beat_done is set. loop_stop is NULL when no loop waits. */
    hbeat_stop_event *loop_stop;
    uint64_t loop_seq;
    int loop_beat_done; /* atomic */
    int loop_beat_rc;
    hbeat_error loop_beat_err;
    /* Loop-thread state: jitter source and this cycle's early offset. */
    uint64_t rng;
    int64_t beat_offset_ns;

    /* start/stop: the loop on a thread of the service's own. */
    pthread_mutex_t ctl; /* serializes start, stop and free */
    pthread_t thread;
    int thread_started;
    hbeat_stop_event *own_stop;
    int thread_rc;
    hbeat_error thread_err;
};

/* tick.c: start the loop's beat; completion sets loop_beat_done. */
int hbeat__tick_start_for_loop(hbeat_service *svc, hbeat_error *err);
/* tick.c: notices a lapsed lease and tells the application (no lock held). */
void hbeat__check_lease(hbeat_service *svc);

/* progress.c: when the loop stalls for want of progress (INT64_MAX when
   not gated). */
int64_t hbeat__stall_at(hbeat_service *svc);
/* progress.c: the loop's gate, called with no lock held before each beat
   or retry: 1 when it must not beat at `now`. Enters or leaves the stall
   (telling on_stall_change) as needed; when it returns 1 the loop may sleep
   with svc->progress_wake as its ready flag, and progress wakes it. */
int hbeat__progress_gate(hbeat_service *svc, int64_t now);
/* progress.c: the loop has ended; a stall ends with it, untold. */
void hbeat__progress_loop_ended(hbeat_service *svc);

/* watch.c: the loop starts watching its run when the service asks for it
   and the gateway can push (called once loop_stop is set), and stops
   watching before it ends (before loop_stop is cleared). */
void hbeat__watch_start(hbeat_service *svc);
void hbeat__watch_stop(hbeat_service *svc);
/* watch.c: 1 (and the flag cleared) when a push asked for a beat now. */
int hbeat__watch_take_push(hbeat_service *svc);

/* schedule.c */
uint64_t hbeat__rng_next(uint64_t *state);
/* A uniform double in [0, 1). */
double hbeat__rng_unit(uint64_t *state);
uint64_t hbeat__rng_seed(uint64_t seed, const void *salt);
/* Wait before retry number `failures` (1 = the first). */
int64_t hbeat__retry_delay_ns(int64_t base_ns, double factor, int64_t cap_ns, double jitter,
                              unsigned int failures, uint64_t *rng);
/* The last moment to send a retry so that it can still arrive within the
   lease: the deadline less a guard of twice the last round trip (10 ms at
   least, a tenth of the increment at most). */
int64_t hbeat__lease_send_by(int64_t lease_deadline_ns, int64_t last_rtt_ns, int64_t increment_ns);

#endif
