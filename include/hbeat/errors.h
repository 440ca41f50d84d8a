/**
 * @file errors.h
 * @brief Status codes and the caller-owned error detail struct.
 *
 * Every hbeat call that can fail returns 0 or one of the negative codes
 * below. The values are fixed for good: a code is never renumbered or
 * reused. Detail a person can act on (a message, the HTTP status, the
 * transport's native error) goes into an optional hbeat_error the caller
 * owns; pass NULL where the detail is not wanted.
 */
#ifndef HBEAT_ERRORS_H
#define HBEAT_ERRORS_H

#include <stddef.h>

#include "hbeat/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Status codes. 0 is success; every failure is negative. */
typedef enum hbeat_code {
    HBEAT_OK = 0,
    /** An argument, option or configuration value is invalid. */
    HBEAT_EINVAL = -1,
    /** Memory could not be allocated. */
    HBEAT_ENOMEM = -2,
    /** The transport failed: connection refused, reset, closed. */
    HBEAT_ETRANSPORT = -3,
    /** The request did not complete within its time limit. */
    HBEAT_ETIMEDOUT = -4,
    /** The peer answered something that breaks the wire contract. */
    HBEAT_EPROTO = -5,
    /** The server answered with an error of its own (e.g. HTTP 5xx). */
    HBEAT_ESERVER = -6,
    /** The server does not know the workflow run (or other object). */
    HBEAT_ENOTFOUND = -7,
    /** No transport is registered for the URL's scheme. */
    HBEAT_ESCHEME = -8,
    /** The scheme is known but its transport was left out of this build. */
    HBEAT_ENOTBUILT = -9,
    /** Something with that name is already registered. */
    HBEAT_EEXIST = -10,
    /** A struct or vtable version this library does not support. */
    HBEAT_EVERSION = -11,
    /** The call is not valid in the object's current state. */
    HBEAT_ESTATE = -12,
    /** The background loop gave up: too many consecutive failures. */
    HBEAT_EFATAL = -13,
    /** The operation was cancelled because its object is closing. */
    HBEAT_ECANCELED = -14,
    /** Another operation of the same kind is in flight. */
    HBEAT_EBUSY = -15,
    /** The gateway does not implement this optional call. */
    HBEAT_ENOTSUP = -16,
    /** The server rejected the credentials (missing or invalid token). */
    HBEAT_EAUTH = -17,
    /** The credentials are valid but lack the right for this call. */
    HBEAT_EFORBIDDEN = -18,
    /** A message exceeded a size limit. */
    HBEAT_ETOOBIG = -19,
    /** TLS failed: handshake, certificate verification, key files. */
    HBEAT_ETLS = -20,
    /** A system call failed (thread, socket, file); see the native code. */
    HBEAT_ESYSTEM = -21,
} hbeat_code;

/** Capacity of hbeat_error::message, including the terminating NUL. */
#define HBEAT_ERROR_MESSAGE_MAX 256

/**
 * @brief Detail of a failure, filled by the call that failed.
 *
 * Owned by the caller, usually on the stack. A successful call leaves it
 * untouched, so check the return value, not the struct.
 */
typedef struct hbeat_error {
    /** The same hbeat_code the call returned. */
    int code;
    /** HTTP status of the reply when the transport is HTTP, else 0. */
    int http_status;
    /** The transport's own code (CURLcode, nng error, errno), else 0. */
    int native;
    /** What went wrong, for a person; always NUL-terminated. */
    char message[HBEAT_ERROR_MESSAGE_MAX];
} hbeat_error;

/** Initializer for an empty hbeat_error. */
#define HBEAT_ERROR_INIT                                                                           \
    {                                                                                              \
        0, 0, 0,                                                                                   \
        {                                                                                          \
            0                                                                                      \
        }                                                                                          \
    }

/**
 * @brief A short, stable description of a code ("invalid argument").
 *
 * Returns a static string; an unknown code gets "unknown error".
 */
HBEAT_API const char *hbeat_strerror(int code);

/** @brief Reset @p err to HBEAT_ERROR_INIT. NULL is a no-op. */
HBEAT_API void hbeat_error_clear(hbeat_error *err);

/**
 * @brief Fill @p err with @p code and a printf-style message; return @p code.
 *
 * For gateway and transport writers. http_status and native are set to 0;
 * set them afterwards where they apply. NULL @p err is allowed, so that
 * `return hbeat_error_set(err, HBEAT_EINVAL, "...")` works everywhere. A
 * message longer than the buffer is cut, never overflowed.
 */
HBEAT_API int hbeat_error_set(hbeat_error *err, int code, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#ifdef __cplusplus
}
#endif

#endif /* HBEAT_ERRORS_H */
