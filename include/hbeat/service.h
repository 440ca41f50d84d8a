/**
 * @file service.h
 * @brief The heartbeat service: Jobmon's HeartbeatService in C.
 *
 * A service reports one workflow run's status to a server every
 * `interval` seconds, telling it to expect the next beat within
 * `next_report_increment = interval * report_by_buffer` seconds, and adopts
 * whatever status the server answers with (cold or hot resume, error, or
 * any other the server holds). It runs beats on demand (tick, tick_async)
 * or in a loop, in the caller's thread (run) or in a thread of its own
 * (start/stop).
 *
 * With `progress_timeout` set, the loop beats only while the application
 * reports progress (hbeat_service_progress()): a process that is alive but
 * stuck stops beating, and the server reaps its run as it would a dead one.
 *
 * Every function is thread-safe unless its comment says otherwise.
 */
#ifndef HBEAT_SERVICE_H
#define HBEAT_SERVICE_H

#include <stdint.h>

#include "hbeat/clock.h"
#include "hbeat/common.h"
#include "hbeat/errors.h"
#include "hbeat/gateway.h"
#include "hbeat/status.h"
#include "hbeat/stop_event.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A heartbeat service. Opaque. */
typedef struct hbeat_service hbeat_service;

/**
 * @brief Told when the server changes the run's status, once per change,
 *        on the thread that completed the beat.
 *
 * The strings are valid for the duration of the call only. The callback must
 * not free the service.
 */
typedef void (*hbeat_status_change_fn)(void *arg, const char *old_status, const char *new_status);

/**
 * @brief Told when the service's lease is lost or regained, on the thread
 *        that noticed it.
 *
 * The lease is the window the server was promised: the send time of the
 * last acknowledged beat (or the service's creation, before any) plus its
 * next_report_increment. When it passes without an acknowledged beat the
 * server may have reaped the run: @p lost is 1. When a beat is acknowledged
 * again and its new lease has not already passed, @p lost is 0. The
 * callback must not free the service.
 */
typedef void (*hbeat_lease_change_fn)(void *arg, int lost);

/**
 * @brief Told when the loop stops or resumes beating for want of progress,
 *        on the loop's thread.
 *
 * @p stalled is 1 once no progress (hbeat_service_progress()) has been
 * reported for progress_timeout seconds: the loop withholds its beats from
 * then on. It is 0 once progress is reported again and the loop beats
 * again. Each is told once per stall. The callback must not free the
 * service.
 */
typedef void (*hbeat_stall_change_fn)(void *arg, int stalled);

/** Current version of hbeat_service_options. Version 2 added
    progress_timeout and on_stall_change. */
#define HBEAT_SERVICE_OPTIONS_VERSION 3

/**
 * With interval 0 the loop beats every this many seconds: the pace at which
 * Jobmon's loop looks whether a beat is due, max(0.1 s, interval / 2).
 */
#define HBEAT_ZERO_INTERVAL_PACE 0.1

/**
 * @brief Options for hbeat_service_new(); start from
 *        HBEAT_SERVICE_OPTIONS_INIT. Times are in seconds.
 */
typedef struct hbeat_service_options {
    /** Must be HBEAT_SERVICE_OPTIONS_VERSION. */
    unsigned int version;
    /** The workflow run to keep alive; must be positive. */
    int64_t workflow_run_id;
    /** Time between beats: finite and >= 0. Default 30 (Jobmon's). 0 is
        Jobmon's "beat on every check": a beat is always due and the window
        sent is 0; the loop then beats every HBEAT_ZERO_INTERVAL_PACE s. */
    double interval;
    /** Multiplier for the report window: finite and > 1, so that a beat can
        arrive before the window closes. Default 3.1 (Jobmon's). */
    double report_by_buffer;
    /** Status reported until told otherwise; NULL means "R". Copied. */
    const char *initial_status;
    /** The loop ends after this many failures in a row; 0: never. Default 5. */
    unsigned int max_consecutive_failures;
    /** Clock for all scheduling; NULL: the system's. Borrowed. */
    hbeat_clock *clock;
    /** Optional: called on every status change the server makes. */
    hbeat_status_change_fn on_status_change;
    /** Passed to on_status_change. */
    void *on_status_change_arg;
    /** Optional: called when the lease is lost or regained. */
    hbeat_lease_change_fn on_lease_change;
    /** Passed to on_lease_change. */
    void *on_lease_change_arg;
    /** Wait before the first retry after a failed beat; 0: max(0.1 s,
        interval / 2), the pace of Jobmon's loop, but no more than retry_cap. */
    double retry_base;
    /** Each further retry waits this many times longer: finite, >= 1.
        Default 2. */
    double retry_factor;
    /** Longest wait between retries; 0: the interval (with interval 0,
        HBEAT_ZERO_INTERVAL_PACE). Must not exceed next_report_increment,
        unless the interval is 0. */
    double retry_cap;
    /** Each retry wait is shortened by up to this fraction at random, so
        that clients that failed together do not retry together: 0 to 1.
        Default 0.2. */
    double retry_jitter;
    /** Each steady-state beat comes up to this fraction of the interval
        early at random (never late): 0 to 0.5. Default 0. */
    double jitter;
    /** Non-zero: the first beat comes at a random point of the first
        interval, so that a fleet started together does not beat in step. */
    int random_phase;
    /** Seed of the jitter; 0: a seed of its own per service. Tests set it. */
    uint64_t seed;
    /* ---- version 2 ---- */
    /** Seconds the loop goes on beating after the last
        hbeat_service_progress() (or the service's creation): finite and
        >= 0; 0, the default, turns progress gating off. Past it the loop
        withholds its beats until progress is reported again, so the lease
        lapses and the server reaps the run as it would a dead client's.
        hbeat_service_tick() and tick_async() are never gated. */
    double progress_timeout;
    /** Optional: called when the loop stalls for want of progress or
        resumes. */
    hbeat_stall_change_fn on_stall_change;
    /** Passed to on_stall_change. */
    void *on_stall_change_arg;
    /* ---- version 3 ---- */
    /** Non-zero: while the loop runs, ask the gateway to push the run's
        status changes (a gateway of vtable version 4 that can: grpc:// and
        grpcs://); when the server's status differs from the service's, the
        loop beats at once instead of at its next beat, and that beat brings
        the change as any beat does (on_status_change, the status reported
        from then on). A gateway that cannot push is told once in the log
        and the loop beats as usual. Default 0. */
    int watch;
} hbeat_service_options;

/** Initializer: Jobmon's defaults. Set workflow_run_id before use. */
#define HBEAT_SERVICE_OPTIONS_INIT                                                                 \
    {                                                                                              \
        HBEAT_SERVICE_OPTIONS_VERSION, 0, 30.0, 3.1, NULL, 5u, NULL, NULL, NULL, NULL, NULL, 0.0,  \
            2.0, 0.0, 0.2, 0.0, 0, 0, 0.0, NULL, NULL, 0                                           \
    }

/**
 * @brief What a beat brought back (Jobmon's StateUpdate).
 *
 * When the server's status differs from the one the service reported,
 * `changed` is 1, `status` holds the new status and `previous_status` the
 * old one; otherwise `changed` is 0 and both strings are empty.
 */
typedef struct hbeat_update {
    /** 1 when the server changed the status, else 0. */
    int changed;
    /** The new status, or "" when unchanged. */
    char status[HBEAT_STATUS_MAX + 1];
    /** The status before the change, or "" when unchanged. */
    char previous_status[HBEAT_STATUS_MAX + 1];
} hbeat_update;

/**
 * @brief Completion of hbeat_service_tick_async().
 *
 * Called exactly once per accepted call, never inside tick_async itself, on
 * a thread of the service's or the gateway's. @p update is valid when @p rc is
 * 0, @p err when it is not; both only for the duration of the call. The
 * callback must not free the service.
 */
typedef void (*hbeat_tick_fn)(void *arg, int rc, const hbeat_update *update,
                              const hbeat_error *err);

/** Current version of hbeat_service_stats. Version 2 added last_error,
    version 3 the progress fields, version 4 server and server_changes. */
#define HBEAT_SERVICE_STATS_VERSION 4

/** Buckets of the round-trip histogram; see hbeat_rtt_bucket_bound(). */
#define HBEAT_RTT_BUCKETS 12

/**
 * @brief How a service's heartbeat is doing; filled by
 *        hbeat_service_get_stats(). Times are in seconds.
 */
typedef struct hbeat_service_stats {
    /** Set to HBEAT_SERVICE_STATS_VERSION before the call. */
    unsigned int version;
    /** Beats handed to the gateway, by tick, tick_async and the loop. */
    uint64_t beats_sent;
    /** Beats the server answered. */
    uint64_t beats_acknowledged;
    /** Beats that failed (transport, timeout, server error ...). */
    uint64_t beats_failed;
    /** Failures in a row counted by the loop (see max_consecutive_failures). */
    unsigned int consecutive_failures;
    /** Status changes made by the server and adopted. */
    uint64_t status_changes;
    /** Round trip (send to answer) of the last acknowledged beat; NaN before one. */
    double last_rtt;
    /** Shortest round trip of any acknowledged beat; NaN before one. */
    double rtt_min;
    /** Mean round trip over the acknowledged beats; NaN before one. */
    double rtt_mean;
    /** Longest round trip of any acknowledged beat; NaN before one. */
    double rtt_max;
    /** Acknowledged beats by round trip: bucket i counts those with
        rtt <= hbeat_rtt_bucket_bound(i) and above the bound of i - 1. */
    uint64_t rtt_buckets[HBEAT_RTT_BUCKETS];
    /** Time since the last acknowledged beat; NaN before one. */
    double time_since_ack;
    /** At the last acknowledgement: the deadline the server held until then
        (the previous acknowledged beat's send time plus its increment) minus
        the time of the acknowledgement. Small means the lease nearly lapsed,
        negative that it did. Before the first acknowledgement the deadline
        is the service's creation plus the increment. NaN before the first
        acknowledgement. */
    double lease_slack;
    /* ---- version 2 ---- */
    /** Why the last failed beat failed (code, HTTP status, native code and
        message); code 0 before any failure. Kept after later successes, so
        compare beats_failed to tell whether it is news. */
    hbeat_error last_error;
    /* ---- version 3 ---- */
    /** 1 while the loop withholds its beats because no progress was
        reported within progress_timeout, else 0 (always 0 when no loop runs
        or progress_timeout is 0). */
    unsigned int stalled;
    /** Times the loop has stalled for want of progress. */
    uint64_t stalls;
    /** Time since the last hbeat_service_progress(), or since the
        service's creation before any. */
    double time_since_progress;
    /* ---- version 4 ---- */
    /** The server that answered the last acknowledged beat, as the URL
        names it ("h2:7781"), when the gateway has several servers (a URL
        that lists them); "" for a gateway that does not say which, and
        before the first acknowledgement. */
    char server[HBEAT_SERVER_NAME_MAX + 1];
    /** Acknowledged beats answered by another server than the
        acknowledged beat before them: how often the beats moved. */
    uint64_t server_changes;
} hbeat_service_stats;

/**
 * @brief Upper bound, in seconds, of round-trip bucket @p i (0.0001 s up to
 *        1 s, and +INFINITY for the last); NaN when @p i is out of range.
 */
HBEAT_API double hbeat_rtt_bucket_bound(int i);

/**
 * @brief Make a service that beats through @p gw.
 *
 * The last heartbeat time starts at creation, so a new service is not due.
 * @param out  on success the service, owned by the caller (hbeat_service_free()).
 * @param gw   borrowed: it must outlive the service. One gateway may serve
 *             many services.
 * @param opts required; copied (initial_status included).
 * @return 0, HBEAT_EINVAL with a message naming the bad option,
 *         HBEAT_EVERSION, HBEAT_ENOMEM or HBEAT_ESYSTEM.
 */
HBEAT_API int hbeat_service_new(hbeat_service **out, hbeat_gateway *gw,
                                const hbeat_service_options *opts, hbeat_error *err);

/**
 * @brief Stop the service's own loop if it runs, wait for any tick_async in
 *        flight to deliver its callback, and free the service.
 *
 * NULL is a no-op. Must not be called from the service's callbacks, nor while
 * hbeat_service_run() runs on another thread (set its stop event first).
 */
HBEAT_API void hbeat_service_free(hbeat_service *svc);

/** @brief The workflow run id, or 0 for NULL. */
HBEAT_API int64_t hbeat_service_workflow_run_id(const hbeat_service *svc);

/** @brief Seconds between beats, or NaN for NULL. */
HBEAT_API double hbeat_service_interval(const hbeat_service *svc);

/** @brief The report_by_buffer multiplier, or NaN for NULL. */
HBEAT_API double hbeat_service_report_by_buffer(const hbeat_service *svc);

/** @brief interval * report_by_buffer: the window sent with each beat; NaN for NULL. */
HBEAT_API double hbeat_service_next_report_increment(const hbeat_service *svc);

/**
 * @brief Copy the status the next beat will report into @p out.
 * @return 0 or HBEAT_EINVAL for NULL arguments.
 */
HBEAT_API int hbeat_service_status(hbeat_service *svc, char out[HBEAT_STATUS_MAX + 1]);

/**
 * @brief Change the status the next beat reports. Safe from any thread.
 * @return 0 or HBEAT_EINVAL for NULL or an invalid token (nothing changes).
 */
HBEAT_API int hbeat_service_set_status(hbeat_service *svc, const char *status, hbeat_error *err);

/**
 * @brief Time of the last successful beat (or of creation, or of the last
 *        reset_timer) on the service's clock, in nanoseconds; 0 for NULL.
 */
HBEAT_API int64_t hbeat_service_last_heartbeat_ns(hbeat_service *svc);

/** @brief Seconds since the last heartbeat; NaN for NULL. */
HBEAT_API double hbeat_service_time_since_last_heartbeat(hbeat_service *svc);

/**
 * @brief 1 when at least `interval` has passed since the last beat, else 0;
 *        with interval 0, always 1.
 */
HBEAT_API int hbeat_service_is_heartbeat_due(hbeat_service *svc);

/** @brief Restart the interval from now, as after a beat sent elsewhere. */
HBEAT_API void hbeat_service_reset_timer(hbeat_service *svc);

/**
 * @brief 1 when the lease has lapsed: no beat was acknowledged within
 *        next_report_increment of the last acknowledged one's send time (or
 *        of creation), so the server may have reaped the run; else 0.
 *
 * With interval 0 the increment is 0, so the lease is lapsed from creation
 * on and no acknowledgement regains it.
 */
HBEAT_API int hbeat_service_lease_lost(hbeat_service *svc);

/** @brief Seconds until the lease lapses (negative once it has); NaN for NULL. */
HBEAT_API double hbeat_service_lease_remaining(hbeat_service *svc);

/**
 * @brief Tell the service that the application's work has moved on.
 *
 * Safe from any thread and cheap enough for a hot path: it reads the
 * service's clock and stores the time atomically, and takes a lock only
 * while the loop is stalled, to wake it. With progress_timeout set, the loop
 * beats only while this was called within the timeout (see
 * hbeat_service_options.progress_timeout); the time is kept either way and
 * shows in the statistics. @p svc is borrowed and must not be freed during
 * the call; NULL is a no-op.
 */
HBEAT_API void hbeat_service_progress(hbeat_service *svc);

/** @brief Failures in a row counted by the loop; 0 for NULL. */
HBEAT_API unsigned int hbeat_service_consecutive_failures(hbeat_service *svc);

/**
 * @brief Send one heartbeat now and wait for the answer (Jobmon's tick_sync).
 *
 * On success records the time and, when the server's status differs,
 * adopts it, reports it to the status-change callback and returns it in
 * @p out. On failure nothing changes. Does not touch the loop's failure
 * count. When another tick is in flight this waits for it first. Never
 * withheld for want of progress: progress_timeout gates the loop only.
 * @param out  optional; filled on success.
 */
HBEAT_API int hbeat_service_tick(hbeat_service *svc, hbeat_update *out, hbeat_error *err);

/**
 * @brief Start one heartbeat and return at once; @p done gets the result.
 *
 * Uses the gateway's asynchronous path when it has one, else a worker
 * thread of the service's. If this returns an error, @p done is never called.
 * @return 0, HBEAT_EINVAL, HBEAT_EBUSY when a tick is already in flight, or
 *         the gateway's error for a call it refused at once.
 */
HBEAT_API int hbeat_service_tick_async(hbeat_service *svc, hbeat_tick_fn done, void *arg,
                                       hbeat_error *err);

/**
 * @brief Run the heartbeat loop in the calling thread until @p stop is set.
 *
 * Beats whenever one is due and sleeps (a timed wait, not a poll) until the
 * next is. After a failure it retries with exponential backoff and jitter
 * (retry_base, retry_factor, retry_cap, retry_jitter), never sending a retry
 * so late that it could not arrive before the lease lapses. When the lease
 * lapses without an acknowledged beat it tells on_lease_change. With
 * interval 0 it beats every HBEAT_ZERO_INTERVAL_PACE seconds. With
 * progress_timeout set it withholds its beats (and retries) while no
 * progress has been reported within the timeout, telling on_stall_change
 * when it stops and when it resumes; it wakes as soon as progress is
 * reported. Returns
 * within a millisecond of @p stop being set, also while a beat is in flight:
 * that beat then completes on its own and is still applied, so the
 * status-change and lease callbacks may run once more after this returns
 * (hbeat_service_free() waits for them).
 * @return 0 when stopped; HBEAT_EFATAL after max_consecutive_failures
 *         failures in a row, with the last transport error in @p err;
 *         HBEAT_ESTATE when the service's loop already runs.
 */
HBEAT_API int hbeat_service_run(hbeat_service *svc, hbeat_stop_event *stop, hbeat_error *err);

/**
 * @brief Run the loop on a thread the service owns.
 * @return 0, HBEAT_ESTATE when a loop already runs, HBEAT_ESYSTEM.
 */
HBEAT_API int hbeat_service_start(hbeat_service *svc, hbeat_error *err);

/**
 * @brief Stop the service's own thread and return the loop's result.
 *
 * Also returns the result when the loop had already ended by itself
 * (HBEAT_EFATAL). @return the loop's result, or HBEAT_ESTATE when no thread
 * was started.
 */
HBEAT_API int hbeat_service_stop(hbeat_service *svc, hbeat_error *err);

/**
 * @brief Copy the service's statistics into @p out. Cheap: one lock and a copy.
 * @return 0, HBEAT_EINVAL for NULL arguments, HBEAT_EVERSION when
 *         out->version is not a version this library knows.
 */
HBEAT_API int hbeat_service_get_stats(hbeat_service *svc, hbeat_service_stats *out);

/** @brief 1 while a loop (run or start) is running, else 0. */
HBEAT_API int hbeat_service_is_running(hbeat_service *svc);

#ifdef __cplusplus
}
#endif

#endif /* HBEAT_SERVICE_H */
