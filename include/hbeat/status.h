/**
 * @file status.h
 * @brief Jobmon's workflow-run status codes, and the rule for a status token.
 *
 * A status travels as a short token. hbeat accepts any non-empty token of
 * printable ASCII (0x21..0x7e) of at most HBEAT_STATUS_MAX bytes, so that a
 * custom backend can use its own codes; Jobmon's one-letter codes are below.
 */
#ifndef HBEAT_STATUS_H
#define HBEAT_STATUS_H

#include "hbeat/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Longest status token in bytes, without the terminating NUL. */
#define HBEAT_STATUS_MAX 15

#define HBEAT_STATUS_REGISTERED   "G" /**< Registered with the server. */
#define HBEAT_STATUS_LINKING      "L" /**< Linking tasks to the run. */
#define HBEAT_STATUS_BOUND        "B" /**< Bound to its tasks. */
#define HBEAT_STATUS_INSTANTIATED "I" /**< Scheduler instantiated. */
#define HBEAT_STATUS_LAUNCHED     "O" /**< Launched. */
#define HBEAT_STATUS_RUNNING      "R" /**< Running. */
#define HBEAT_STATUS_DONE         "D" /**< Finished successfully. */
#define HBEAT_STATUS_STOPPED      "S" /**< Stopped by the user. */
#define HBEAT_STATUS_ERROR        "E" /**< Failed, or reaped while running. */
#define HBEAT_STATUS_COLD_RESUME  "C" /**< Asked to stop for a cold resume. */
#define HBEAT_STATUS_HOT_RESUME   "H" /**< Asked to stop for a hot resume. */
#define HBEAT_STATUS_TERMINATED   "T" /**< Terminated after a resume. */
#define HBEAT_STATUS_ABORTED      "A" /**< Aborted while linking. */

/**
 * @brief 1 when @p status is a valid token (see the file comment), else 0.
 *
 * NULL is not valid.
 */
HBEAT_API int hbeat_status_is_valid(const char *status);

/**
 * @brief Jobmon's name for a status code ("running" for "R").
 *
 * Returns a static string, or NULL for a token that is not one of Jobmon's.
 */
HBEAT_API const char *hbeat_status_name(const char *status);

#ifdef __cplusplus
}
#endif

#endif /* HBEAT_STATUS_H */
