/**
 * @file gateway.h
 * @brief Opening a gateway to a server by URL, and the calls a gateway
 *        offers besides heartbeats: Jobmon's status update and the admin
 *        calls of hbeatd.
 *
 * A gateway is one connection (or connection pool) to one server. It
 * carries the workflow run id in every request, so one gateway can serve
 * many services. Every call on a gateway handle is thread-safe: when a
 * transport cannot run two calls at once the handle serializes them.
 */
#ifndef HBEAT_GATEWAY_H
#define HBEAT_GATEWAY_H

#include <stddef.h>
#include <stdint.h>

#include "hbeat/common.h"
#include "hbeat/errors.h"
#include "hbeat/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A gateway to one server, or to several with failover. Opaque. */
typedef struct hbeat_gateway hbeat_gateway;

/** Longest server name a gateway reports (see hbeat_service_stats.server),
    in bytes, without the NUL; longer names are cut. */
#define HBEAT_SERVER_NAME_MAX 127

/** Most servers one URL may list ("nng+tcp://h1:7781,h2:7781"). */
#define HBEAT_URL_MAX_SERVERS 8

/** Current version of hbeat_gateway_options. */
#define HBEAT_GATEWAY_OPTIONS_VERSION 2

/**
 * @brief Options for hbeat_gateway_open(). Start from
 *        HBEAT_GATEWAY_OPTIONS_INIT and set what you need.
 *
 * Zero or NULL means "the transport's default" for every member, so a
 * timeout is never 0 (infinite) by accident. The strings are borrowed for
 * the duration of the open call only; transports copy what they keep.
 */
typedef struct hbeat_gateway_options {
    /** HBEAT_GATEWAY_OPTIONS_VERSION, or an older version (1) whose
        members end before the first one added later. */
    unsigned int version;
    /** Seconds to establish a connection (0: the transport's default). */
    double connect_timeout;
    /** Seconds for one whole request (0: the transport's default). */
    double request_timeout;
    /** PEM file of CA certificates to verify the server with. */
    const char *ca_file;
    /** PEM client certificate, for mutual TLS. */
    const char *cert_file;
    /** PEM private key of the client certificate. */
    const char *key_file;
    /** Bearer token sent with every request. */
    const char *token;
    /** File whose first line is the bearer token (used when token is NULL). */
    const char *token_file;
    /** User-Agent or client name; NULL: "hbeat/<version>". */
    const char *user_agent;
    /** Largest reply body accepted, in bytes (0: the transport's default). */
    size_t max_reply_size;
    /** Non-zero disables TLS certificate verification. Never the default. */
    int insecure;
    /* Version 2 ---------------------------------------------------------- */
    /**
     * REST: the value of Jobmon's `client_jobmon_version` query parameter,
     * sent with every heartbeat and status update; NULL: this library's
     * version (hbeat_version()). 1 to 64 bytes without control
     * characters; URL-escaped as needed. A Jobmon server uses it only to
     * choose a reply format on routes hbeat never calls, and shows it in
     * its request logs. Other transports ignore it.
     */
    const char *client_jobmon_version;
} hbeat_gateway_options;

/** Initializer: every option at its default. */
#define HBEAT_GATEWAY_OPTIONS_INIT                                                                 \
    {                                                                                              \
        HBEAT_GATEWAY_OPTIONS_VERSION, 0.0, 0.0, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, NULL    \
    }

/**
 * @brief Open a gateway for @p url, choosing the transport by its scheme.
 *
 * Built-in schemes: fake://, http://, https://, nng+tcp://, nng+tls+tcp://,
 * nng+ipc://, nng+inproc:// (each only when its transport is built in). TLS
 * (https, nng+tls+tcp) verifies the server's certificate and host name by
 * default; a TLS failure is HBEAT_ETLS. Then anything
 * registered with hbeat_transport_register(). Schemes are matched without
 * regard to case, user registrations first.
 *
 * A URL may list up to HBEAT_URL_MAX_SERVERS servers in libpq's style,
 * `scheme://h1:port,h2:port/path` (any scheme but nng+ipc and nng+inproc,
 * whose addresses are paths): one gateway is opened per server, with the
 * same options, and wrapped in a failover gateway (hbeat/sys/failover.h
 * has its rules). An empty entry, a server listed twice, more than
 * HBEAT_URL_MAX_SERVERS, or a second "scheme://" in the list is
 * HBEAT_EINVAL; so is any server its transport refuses, named in the
 * message.
 *
 * @param out   on success, the gateway, owned by the caller: free it with
 *              hbeat_gateway_free() after every service that uses it.
 * @param url   the server's URL; not kept.
 * @param opts  options, or NULL for the defaults; not kept.
 * @param err   optional detail on failure.
 * @return 0; HBEAT_ESCHEME for an unknown scheme; HBEAT_ENOTBUILT for a
 *         scheme whose transport was left out of this build; HBEAT_EINVAL
 *         for a malformed URL or option; HBEAT_EVERSION for an options
 *         version this library does not know; or the transport's error.
 */
HBEAT_API int hbeat_gateway_open(hbeat_gateway **out, const char *url,
                                 const hbeat_gateway_options *opts, hbeat_error *err);

/**
 * @brief Close and free a gateway. NULL is a no-op.
 *
 * Calls still in flight fail with HBEAT_ECANCELED before this returns.
 */
HBEAT_API void hbeat_gateway_free(hbeat_gateway *gw);

/** @brief The transport's name ("rest", "nng", "fake", ...); static. */
HBEAT_API const char *hbeat_gateway_transport(const hbeat_gateway *gw);

/**
 * @brief Send one heartbeat without a service (blocking).
 *
 * @param out_status  receives the status the server now holds.
 * @return 0 or an error; @p out_status is untouched on error.
 */
HBEAT_API int hbeat_gateway_log_heartbeat(hbeat_gateway *gw, int64_t workflow_run_id,
                                          const char *status, double next_report_increment,
                                          char out_status[HBEAT_STATUS_MAX + 1], hbeat_error *err);

/**
 * @brief Jobmon's client status update (PUT .../update_status): ask the
 *        server to move the run to @p status.
 *
 * @param out_status  receives the status the server now holds, which is
 *                    the old one when the transition was not valid.
 * @return 0, HBEAT_ENOTSUP when the transport has no such call, or an error.
 */
HBEAT_API int hbeat_gateway_update_status(hbeat_gateway *gw, int64_t workflow_run_id,
                                          const char *status, char out_status[HBEAT_STATUS_MAX + 1],
                                          hbeat_error *err);

/** What a server knows about one workflow run. */
typedef struct hbeat_run_info {
    /** The run's id. */
    int64_t workflow_run_id;
    /** The workflow the run belongs to. */
    int64_t workflow_id;
    /** The status the server holds. */
    char status[HBEAT_STATUS_MAX + 1];
    /** Unix time (seconds) by which the next beat is due; 0 when unset. */
    double deadline;
    /** Unix time (seconds) of the last beat received; 0 when none. */
    double last_heartbeat;
    /** Heartbeats received for this run. */
    uint64_t beats;
} hbeat_run_info;

/**
 * @brief Seconds from a run's creation to its first deadline unless told
 *        otherwise: the service's default interval (30) times its default
 *        report_by_buffer (3.1), the window Jobmon's own client asks for.
 */
#define HBEAT_RUN_DEFAULT_INCREMENT 93.0

/** Current version of hbeat_run_create_options. */
#define HBEAT_RUN_CREATE_OPTIONS_VERSION 1

/**
 * @brief Options for hbeat_run_create_with(). Start from
 *        HBEAT_RUN_CREATE_OPTIONS_INIT and set what you need.
 *
 * Members are only ever appended; the string is borrowed for the call.
 */
typedef struct hbeat_run_create_options {
    /** HBEAT_RUN_CREATE_OPTIONS_VERSION. */
    unsigned int version;
    /** The new run's status; NULL: "G". */
    const char *status;
    /**
     * The run's first deadline, in seconds after its creation, as Jobmon's
     * POST /workflow_run sets it: a client that dies before its first beat
     * is reaped like one that stopped beating. Finite, from 0 (due at
     * once, Jobmon's interval 0) to 31536000 (a year). Default
     * HBEAT_RUN_DEFAULT_INCREMENT; give your service's interval *
     * report_by_buffer.
     */
    double next_report_increment;
    /** Non-zero: no deadline until the run's first beat (what a client
        older than this option asked for); next_report_increment is then
        neither checked nor sent. */
    int no_deadline;
} hbeat_run_create_options;

/** Initializer: status "G", a first deadline HBEAT_RUN_DEFAULT_INCREMENT s away. */
#define HBEAT_RUN_CREATE_OPTIONS_INIT                                                              \
    {                                                                                              \
        HBEAT_RUN_CREATE_OPTIONS_VERSION, NULL, HBEAT_RUN_DEFAULT_INCREMENT, 0                     \
    }

/**
 * @brief Admin: create a run of @p workflow_id with @p opts (NULL: the
 *        defaults).
 *
 * A server older than this call's deadline (hbeatd before the field was
 * added) creates the run without one: *out then has a deadline of 0.
 * @return 0 and *out filled; HBEAT_EINVAL for a bad argument (the message
 *         says which); HBEAT_EVERSION for an options version this library
 *         does not know; HBEAT_ENOTSUP when the gateway has no admin calls,
 *         or cannot carry a deadline (a custom gateway whose table predates
 *         create_run_with) unless no_deadline is set; or the server's error.
 */
HBEAT_API int hbeat_run_create_with(hbeat_gateway *gw, int64_t workflow_id,
                                    const hbeat_run_create_options *opts, hbeat_run_info *out,
                                    hbeat_error *err);

/**
 * @brief Admin: create a run of @p workflow_id in @p status ("G" if NULL),
 *        with a first deadline HBEAT_RUN_DEFAULT_INCREMENT seconds away.
 *
 * hbeat_run_create_with() with the default options but @p status. On a
 * custom gateway that cannot carry a deadline the run is created without
 * one, as before the deadline existed.
 * @return 0 and *out filled, HBEAT_ENOTSUP, or an error.
 */
HBEAT_API int hbeat_run_create(hbeat_gateway *gw, int64_t workflow_id, const char *status,
                               hbeat_run_info *out, hbeat_error *err);

/**
 * @brief Admin: read one run.
 * @return 0, HBEAT_ENOTFOUND for an unknown run, HBEAT_ENOTSUP, or an error.
 */
HBEAT_API int hbeat_run_get(hbeat_gateway *gw, int64_t workflow_run_id, hbeat_run_info *out,
                            hbeat_error *err);

/**
 * @brief Admin: list runs, all of them or those in @p status.
 *
 * @param out    on success an array owned by the caller, freed with
 *               hbeat_run_list_free() (NULL when @p count is 0).
 * @param count  number of entries.
 */
HBEAT_API int hbeat_run_list(hbeat_gateway *gw, const char *status, hbeat_run_info **out,
                             size_t *count, hbeat_error *err);

/** @brief Free an array from hbeat_run_list(). NULL is a no-op. */
HBEAT_API void hbeat_run_list_free(hbeat_run_info *runs);

/**
 * @brief Admin: move a run to @p status as an operator.
 *
 * The server applies its state machine unless @p force is non-zero, in
 * which case the status is set whatever it was. *out gets the run as the
 * server holds it afterwards.
 */
HBEAT_API int hbeat_run_set_status(hbeat_gateway *gw, int64_t workflow_run_id, const char *status,
                                   int force, hbeat_run_info *out, hbeat_error *err);

#ifdef __cplusplus
}
#endif

#endif /* HBEAT_GATEWAY_H */
