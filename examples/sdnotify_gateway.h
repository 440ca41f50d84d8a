/*
 * sdnotify_gateway.h: a hbeat gateway that feeds systemd's service watchdog
 * through the sd_notify datagram protocol. See sdnotify_gateway.c for what
 * it sends, what it leaves out and why; custom_gateway.c for a program that
 * uses it.
 *
 * URLs:
 *   sdnotify://           the socket named by $NOTIFY_SOCKET (what systemd
 *                         sets for a service with Type=notify or WatchdogSec=)
 *   sdnotify:///abs/path  a socket file
 *   sdnotify://@name      a Linux abstract socket
 */
#ifndef SDNOTIFY_GATEWAY_H
#define SDNOTIFY_GATEWAY_H

#include <hbeat/hbeat.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The URL scheme this gateway registers. */
#define SDNOTIFY_SCHEME "sdnotify"

/**
 * @brief Make a gateway that sends to the notify socket at @p address.
 *
 * @param address  "/absolute/path" or "@abstract-name", as NOTIFY_SOCKET
 *                 holds it; NULL or "" means $NOTIFY_SOCKET. Copied.
 * @param opts     NULL or options; only request_timeout is used (seconds a
 *                 send may block on a full socket; default 5).
 * @param out      owned by the caller (hbeat_gateway_free()).
 * @return 0; HBEAT_EINVAL for an unusable address or NOTIFY_SOCKET unset;
 *         HBEAT_ESYSTEM when no socket can be made; HBEAT_ENOMEM.
 */
int sdnotify_gateway_new(hbeat_gateway **out, const char *address,
                         const hbeat_gateway_options *opts, hbeat_error *err);

/**
 * @brief Register "sdnotify://" so that hbeat_gateway_open() knows it.
 * @return 0, or HBEAT_EEXIST when it is registered already.
 */
int sdnotify_gateway_register(hbeat_error *err);

/** @brief Undo sdnotify_gateway_register(). */
int sdnotify_gateway_unregister(hbeat_error *err);

#ifdef __cplusplus
}
#endif

#endif /* SDNOTIFY_GATEWAY_H */
