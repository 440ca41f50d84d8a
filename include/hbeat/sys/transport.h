/**
 * @file sys/transport.h
 * @brief For transport writers: the registry that maps a URL scheme to a
 *        factory, used by hbeat_gateway_open().
 *
 * Schemes are matched without regard to case. A user registration is looked
 * up before the built-ins, so a program can replace a built-in scheme with its
 * own; registering the same scheme twice is an error. The registry is
 * thread-safe.
 */
#ifndef HBEAT_SYS_TRANSPORT_H
#define HBEAT_SYS_TRANSPORT_H

#include "hbeat/common.h"
#include "hbeat/errors.h"
#include "hbeat/gateway.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Longest scheme accepted, in bytes. */
#define HBEAT_SCHEME_MAX 31

/**
 * @brief Make a gateway for @p url.
 *
 * @param out   on success the new gateway (see hbeat_gateway_new()).
 * @param url   the whole URL, scheme included; borrowed for the call.
 * @param opts  never NULL: the core passes defaults when the user gave none.
 * @param data  the pointer given at registration.
 */
typedef int (*hbeat_transport_open_fn)(hbeat_gateway **out, const char *url,
                                       const hbeat_gateway_options *opts, void *data,
                                       hbeat_error *err);

/**
 * @brief Register @p open for @p scheme (letters, digits, '+', '-', '.';
 *        starting with a letter; without "://").
 *
 * @p data is borrowed and must stay valid until the scheme is unregistered.
 * @return 0, HBEAT_EINVAL for a bad scheme or NULL @p open, HBEAT_EEXIST when
 *         the scheme is already registered by the user.
 */
HBEAT_API int hbeat_transport_register(const char *scheme, hbeat_transport_open_fn open, void *data,
                                       hbeat_error *err);

/**
 * @brief Remove a user registration. Built-in schemes cannot be removed.
 * @return 0 or HBEAT_ESCHEME when the user had not registered @p scheme.
 */
HBEAT_API int hbeat_transport_unregister(const char *scheme, hbeat_error *err);

/**
 * @brief Whether @p scheme can be opened now.
 * @return 0 when it can, HBEAT_ENOTBUILT when it is a known scheme whose
 *         transport is not in this build, HBEAT_ESCHEME when unknown.
 */
HBEAT_API int hbeat_transport_lookup(const char *scheme);

#ifdef __cplusplus
}
#endif

#endif /* HBEAT_SYS_TRANSPORT_H */
