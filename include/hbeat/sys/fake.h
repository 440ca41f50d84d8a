/**
 * @file sys/fake.h
 * @brief A fake clock and an in-memory fake gateway, shipped in the library
 *        for unit tests of code that heartbeats: no test sleeps, no test
 *        needs a server.
 *
 * The fake clock moves only when a test says so; a loop waiting on it wakes
 * when it is advanced. The fake gateway answers from a script (a status per
 * call, a fixed status, or an echo of what was sent), fails on demand (on the
 * Nth call, once or for good), can take simulated time per call, and records
 * every call for assertions. It is also registered under "fake://".
 */
#ifndef HBEAT_SYS_FAKE_H
#define HBEAT_SYS_FAKE_H

#include <stddef.h>
#include <stdint.h>

#include "hbeat/clock.h"
#include "hbeat/common.h"
#include "hbeat/errors.h"
#include "hbeat/gateway.h"
#include "hbeat/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- fake clock ---------------------------------------------------------- */

/**
 * @brief Make a fake clock that reads @p start_ns until advanced.
 * @param out  owned by the caller: hbeat_clock_free() after its users.
 */
HBEAT_API int hbeat_fake_clock_new(hbeat_clock **out, int64_t start_ns, hbeat_error *err);

/**
 * @brief Move a fake clock forward by @p ns (>= 0) and wake its waiters.
 * @return 0, or HBEAT_EINVAL for a clock that is not fake or a negative step.
 */
HBEAT_API int hbeat_fake_clock_advance(hbeat_clock *clock, int64_t ns);

/**
 * @brief How many waiters (loops) have gone to sleep on the clock since it
 *        last moved.
 *
 * Advancing the clock wakes every waiter and sets the count to 0; a loop that
 * goes back to sleep counts again once it has looked at the new time.
 * @return the count, or HBEAT_EINVAL for a clock that is not fake.
 */
HBEAT_API int hbeat_fake_clock_waiters(hbeat_clock *clock);

/**
 * @brief Block, in real time, until at least @p n waiters wait on the clock.
 *
 * Lets a test advance the clock only once a loop has gone to sleep on it.
 * This synchronizes; it never decides an outcome by timing.
 * @return 0, HBEAT_ETIMEDOUT after @p timeout_seconds, or HBEAT_EINVAL.
 */
HBEAT_API int hbeat_fake_clock_wait_waiters(hbeat_clock *clock, int n, double timeout_seconds);

/* ---- fake gateway -------------------------------------------------------- */

/** Flag for hbeat_fake_gateway_new(): offer the asynchronous heartbeat. */
#define HBEAT_FAKE_ASYNC 0x1u

/** Kind of a recorded call. */
typedef enum hbeat_fake_call_kind {
    HBEAT_FAKE_HEARTBEAT = 1,    /**< log_heartbeat or its async form */
    HBEAT_FAKE_UPDATE_STATUS = 2 /**< update_status */
} hbeat_fake_call_kind;

/** One call the fake gateway received. */
typedef struct hbeat_fake_call {
    /** What was called. */
    hbeat_fake_call_kind kind;
    /** The workflow run id sent. */
    int64_t workflow_run_id;
    /** The status sent. */
    char status[HBEAT_STATUS_MAX + 1];
    /** The increment sent (0 for a status update). */
    double next_report_increment;
    /** The request's sequence number (0 for a status update). */
    uint64_t sequence;
    /** When the call arrived, on the gateway's clock. */
    int64_t time_ns;
    /** What the call returned: 0 or the injected error. */
    int result;
} hbeat_fake_call;

/**
 * @brief Make a fake gateway.
 *
 * By default it echoes the status it is sent. With HBEAT_FAKE_ASYNC it also
 * offers the asynchronous heartbeat: such calls stay pending until
 * hbeat_fake_gateway_complete() (or closing the gateway, which cancels them).
 * @param clock  clock for call times and simulated latency; NULL: the
 *               system's. Borrowed.
 * @param out    owned by the caller (hbeat_gateway_free()).
 */
HBEAT_API int hbeat_fake_gateway_new(hbeat_gateway **out, hbeat_clock *clock, unsigned int flags,
                                     hbeat_error *err);

/** @brief Queue a reply: the next unanswered call gets @p status. */
HBEAT_API int hbeat_fake_gateway_push_reply(hbeat_gateway *gw, const char *status);

/**
 * @brief Answer every call whose reply is not queued with @p status, as a
 *        server that holds that status would; NULL goes back to echoing.
 */
HBEAT_API int hbeat_fake_gateway_set_server_status(hbeat_gateway *gw, const char *status);

/**
 * @brief Fail the @p nth call from now (1 = the next) with @p code.
 *
 * With @p persistent every call from that one on fails, until
 * hbeat_fake_gateway_heal(). @p message (may be NULL) goes into the error.
 * A failing call consumes no queued reply.
 */
HBEAT_API int hbeat_fake_gateway_fail(hbeat_gateway *gw, int code, unsigned int nth, int persistent,
                                      const char *message);

/** @brief Cancel every injected failure. */
HBEAT_API int hbeat_fake_gateway_heal(hbeat_gateway *gw);

/**
 * @brief Each call takes @p ns of simulated time: it advances the gateway's
 *        clock by @p ns when that clock is fake (ignored otherwise).
 */
HBEAT_API int hbeat_fake_gateway_set_latency(hbeat_gateway *gw, int64_t ns);

/**
 * @brief Complete up to @p max pending asynchronous calls, oldest first, on
 *        the calling thread.
 * @return how many were completed, or HBEAT_EINVAL.
 */
HBEAT_API int hbeat_fake_gateway_complete(hbeat_gateway *gw, int max);

/** @brief Asynchronous calls started and not yet completed. */
HBEAT_API int hbeat_fake_gateway_pending(hbeat_gateway *gw);

/** @brief Number of calls recorded so far (negative: HBEAT_EINVAL). */
HBEAT_API int hbeat_fake_gateway_call_count(hbeat_gateway *gw);

/**
 * @brief Copy recorded call @p index (0 = first) into @p out.
 * @return 0 or HBEAT_EINVAL (not a fake, or out of range).
 */
HBEAT_API int hbeat_fake_gateway_call(hbeat_gateway *gw, int index, hbeat_fake_call *out);

/** @brief Forget the recorded calls. */
HBEAT_API int hbeat_fake_gateway_clear_calls(hbeat_gateway *gw);

/**
 * @brief Block, in real time, until at least @p n calls have been recorded.
 * @return 0, HBEAT_ETIMEDOUT after @p timeout_seconds, or HBEAT_EINVAL.
 */
HBEAT_API int hbeat_fake_gateway_wait_calls(hbeat_gateway *gw, int n, double timeout_seconds);

#ifdef __cplusplus
}
#endif

#endif /* HBEAT_SYS_FAKE_H */
