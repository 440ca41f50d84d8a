/**
 * @file sys/gateway.h
 * @brief For gateway writers: the versioned method table behind a
 *        hbeat_gateway handle.
 *
 * A gateway is a `static const hbeat_gateway_vtable` filled with designated
 * initializers plus a `void *self` of the implementation's own. Members are
 * only ever appended; the core calls a member only when the table's version
 * has it and the pointer is not NULL. Every method takes `self` first and
 * reports failure as a negative hbeat_code with detail in @p err (which may
 * be NULL).
 *
 * Threads: unless the table sets HBEAT_GATEWAY_THREAD_SAFE, the core never
 * runs two methods of one gateway at once and never uses log_heartbeat_async
 * (it runs the blocking call on a worker thread instead).
 */
#ifndef HBEAT_SYS_GATEWAY_H
#define HBEAT_SYS_GATEWAY_H

#include <stdint.h>

#include "hbeat/common.h"
#include "hbeat/errors.h"
#include "hbeat/gateway.h"
#include "hbeat/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Version 1: everything up to and including set_status.
    Version 2: create_run_with.
    Version 3: no new method; requests carry lease_remaining and replies
    have a server member (a gateway written against version 3 may read and
    fill them, because a library that accepts its table has them).
    Version 4: watch and unwatch (a server that pushes status changes). */
#define HBEAT_GATEWAY_VTABLE_VERSION 4

/** Flag: every method may be called from several threads at once. */
#define HBEAT_GATEWAY_THREAD_SAFE 0x1u

/** One heartbeat, as the core hands it to a gateway. Borrowed for the call. */
typedef struct hbeat_heartbeat_request {
    /** The workflow run being kept alive. */
    int64_t workflow_run_id;
    /** The status the service reports; a valid token. */
    const char *status;
    /** Seconds within which the server should expect the next beat. */
    double next_report_increment;
    /** Per-service sequence number, increasing by one per beat sent. */
    uint64_t sequence;
    /**
     * (Version 3.) Seconds left, when the beat is sent, before it could no
     * longer reach the server within the service's lease (the lease less
     * the guard the loop keeps for its retries); +INFINITY when no lease
     * binds the beat: one sent with hbeat_gateway_log_heartbeat(), a
     * service whose lease has already lapsed or whose interval is 0. A
     * gateway that retries elsewhere (the failover gateway) starts no
     * further attempt once this has passed.
     */
    double lease_remaining;
} hbeat_heartbeat_request;

/** A gateway's answer to a heartbeat or status update. */
typedef struct hbeat_heartbeat_reply {
    /** The status the server now holds; the gateway must set a valid token. */
    char status[HBEAT_STATUS_MAX + 1];
    /**
     * (Version 3.) Which server answered, for a gateway that has several
     * (the failover gateway: the host as its URL names it, e.g.
     * "h2:7781"); empty when the gateway does not say. The core zeroes it
     * before the call; a gateway may leave it so.
     */
    char server[HBEAT_SERVER_NAME_MAX + 1];
} hbeat_heartbeat_reply;

/**
 * @brief Completion of an asynchronous heartbeat.
 *
 * Called exactly once per accepted call, never from inside the
 * log_heartbeat_async call that started it. @p reply is valid when @p rc is
 * 0 and @p err when it is not; both only for the duration of the callback.
 */
typedef void (*hbeat_gateway_done_fn)(void *arg, int rc, const hbeat_heartbeat_reply *reply,
                                      const hbeat_error *err);

/**
 * (Version 4.) Receives a watched run's status as the server reports it: at
 * once when the watch starts (and again after the gateway watched anew,
 * e.g. after a reconnect), then on each change. Called on a thread of the
 * gateway's; it must not block, nor unwatch.
 */
typedef void (*hbeat_status_push_fn)(void *arg, int64_t workflow_run_id, const char *status);

/** Receives one run from list_runs; return non-zero to stop the listing. */
typedef int (*hbeat_run_sink_fn)(void *ctx, const hbeat_run_info *run);

/** The method table of a gateway implementation. */
typedef struct hbeat_gateway_vtable {
    /** HBEAT_GATEWAY_VTABLE_VERSION the table was written against. */
    unsigned int version;
    /** Short transport name for messages ("rest", "nng"); static storage. */
    const char *name;
    /** HBEAT_GATEWAY_* flags. */
    unsigned int flags;

    /** Required. Release @p self; no call is in flight (close ran first). */
    void (*destroy)(void *self);

    /**
     * Required. Send one heartbeat and wait for the reply. May block up to
     * the gateway's request timeout; must fill @p reply on success.
     */
    int (*log_heartbeat)(void *self, const hbeat_heartbeat_request *req,
                         hbeat_heartbeat_reply *reply, hbeat_error *err);

    /**
     * Optional. Start a heartbeat and return at once. On 0, @p done is
     * called exactly once later, on a thread of the gateway's; on error it is
     * never called. @p req is only borrowed for the duration of this call.
     */
    int (*log_heartbeat_async)(void *self, const hbeat_heartbeat_request *req,
                               hbeat_gateway_done_fn done, void *arg, hbeat_error *err);

    /**
     * Optional. Stop all I/O: calls in flight complete with HBEAT_ECANCELED
     * before close returns. Called once, before destroy.
     */
    void (*close)(void *self);

    /** Optional. Jobmon's PUT update_status. */
    int (*update_status)(void *self, int64_t workflow_run_id, const char *status,
                         hbeat_heartbeat_reply *reply, hbeat_error *err);

    /** Optional (admin). Create a run; fill @p out. */
    int (*create_run)(void *self, int64_t workflow_id, const char *status, hbeat_run_info *out,
                      hbeat_error *err);

    /** Optional (admin). Read a run; HBEAT_ENOTFOUND when unknown. */
    int (*get_run)(void *self, int64_t workflow_run_id, hbeat_run_info *out, hbeat_error *err);

    /** Optional (admin). Pass each run (in @p status, or all if NULL) to @p sink. */
    int (*list_runs)(void *self, const char *status, hbeat_run_sink_fn sink, void *ctx,
                     hbeat_error *err);

    /** Optional (admin). Set a run's status, through the state machine unless @p force. */
    int (*set_status)(void *self, int64_t workflow_run_id, const char *status, int force,
                      hbeat_run_info *out, hbeat_error *err);

    /* Version 2 ---------------------------------------------------------- */

    /**
     * Optional (admin, version 2). Create a run as create_run does, with
     * its first deadline @p opts->next_report_increment seconds after its
     * creation unless @p opts->no_deadline. The core has checked @p opts
     * and hands it over at the current version with status set; borrowed
     * for the call. Without it, the core uses create_run for a run without
     * a deadline and refuses one with (HBEAT_ENOTSUP).
     */
    int (*create_run_with)(void *self, int64_t workflow_id, const hbeat_run_create_options *opts,
                           hbeat_run_info *out, hbeat_error *err);

    /* Version 4 ---------------------------------------------------------- */

    /**
     * Optional (version 4). Watch run @p workflow_run_id: @p push gets its
     * status whenever the server reports one, until unwatch. The gateway
     * keeps the watch up by itself (a lost connection is watched anew, and
     * the status then reported again), so a change is never missed. On 0,
     * *handle names the watch; on an error (an unknown run, a refused
     * token) push is never called.
     */
    int (*watch)(void *self, int64_t workflow_run_id, hbeat_status_push_fn push, void *arg,
                 void **handle, hbeat_error *err);

    /**
     * Required with watch. End the watch @p handle: once this returns, push
     * is not running for it and is never called again. Not from push.
     */
    void (*unwatch)(void *self, void *handle);
} hbeat_gateway_vtable;

/**
 * @brief Wrap an implementation in a gateway handle.
 *
 * Checks the table's version and that the required methods are there.
 * On success the handle owns @p self (hbeat_gateway_free() calls close then
 * destroy); on failure nothing is taken and the caller still owns @p self.
 * @p vtable must outlive the handle (make it `static const`).
 * @return 0, HBEAT_EINVAL (NULL argument or missing required method) or
 *         HBEAT_EVERSION (version 0 or newer than this library knows).
 */
HBEAT_API int hbeat_gateway_new(hbeat_gateway **out, const hbeat_gateway_vtable *vtable, void *self,
                                hbeat_error *err);

/** @brief The implementation's `self` behind a handle (for tests and wrappers). */
HBEAT_API void *hbeat_gateway_self(const hbeat_gateway *gw);

#ifdef __cplusplus
}
#endif

#endif /* HBEAT_SYS_GATEWAY_H */
