/**
 * @file sys/failover.h
 * @brief A gateway over several gateways, one per server, that moves to
 *        the next server when one cannot be reached.
 *
 * hbeat_gateway_open() builds one by itself for a URL that lists several
 * servers (`nng+tcp://h1:7781,h2:7781`, `http://h1:7780,h2:7780/api/v3`);
 * this header is for a program that opens the members itself, and for
 * tests (a fake clock). The failover gateway uses its members only through
 * their handles, so any gateway works as a member, a user's own included.
 *
 * Rules (docs/transports.md has the whole page):
 * - Sticky: a call goes first to the server that answered last (at first,
 *   the first one listed); a server that answers, whatever it answers,
 *   stays the first choice.
 * - A server that gives no usable answer (HBEAT_ETRANSPORT,
 *   HBEAT_ETIMEDOUT, HBEAT_ETLS, HBEAT_EPROTO, HBEAT_ESERVER) hands the
 *   first place to the next one, and the same call goes on to the next
 *   server at once, each server at most once per call. Each attempt is
 *   bounded by its member's own request timeout, so a call over n servers
 *   ends within n request timeouts; a service's beat goes to a further
 *   server only while it can still reach one within the lease (see
 *   hbeat_heartbeat_request.lease_remaining). Every other error (not
 *   found, refused credentials, a bad argument ...) is the service's
 *   answer and comes back at once.
 * - Heartbeats, status updates, set_status, get and list go on to the
 *   next server; they are safe to send again (a beat that reached two
 *   servers only moved the deadline twice; a status set twice is the same
 *   status). Creating a run is never sent twice: a new run on a server
 *   that created one and then failed to answer would be a second run. It
 *   fails as the server failed, and the next call (the caller's retry)
 *   goes to the next server.
 */
#ifndef HBEAT_SYS_FAILOVER_H
#define HBEAT_SYS_FAILOVER_H

#include <stddef.h>

#include "hbeat/clock.h"
#include "hbeat/common.h"
#include "hbeat/errors.h"
#include "hbeat/gateway.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Current version of hbeat_failover_options. */
#define HBEAT_FAILOVER_OPTIONS_VERSION 1

/**
 * @brief Options for hbeat_failover_gateway_new(); start from
 *        HBEAT_FAILOVER_OPTIONS_INIT. Members are only ever appended.
 */
typedef struct hbeat_failover_options {
    /** HBEAT_FAILOVER_OPTIONS_VERSION. */
    unsigned int version;
    /** Clock that measures how long a call has run, against the lease;
        NULL: the system's. Borrowed: it must outlive the gateway. */
    hbeat_clock *clock;
} hbeat_failover_options;

/** Initializer: the system clock. */
#define HBEAT_FAILOVER_OPTIONS_INIT                                                                \
    {                                                                                              \
        HBEAT_FAILOVER_OPTIONS_VERSION, NULL                                                       \
    }

/**
 * @brief Make a failover gateway over @p count member gateways, tried in
 *        the order given.
 *
 * @param out      on success the gateway, owned by the caller
 *                 (hbeat_gateway_free()).
 * @param members  1 to HBEAT_URL_MAX_SERVERS distinct gateways. On success
 *                 the failover gateway owns them and frees them with
 *                 itself; on failure the caller still owns them.
 * @param names    optional: a name per member, reported as the server that
 *                 answered (hbeat_service_stats.server) and in messages;
 *                 NULL, or a NULL entry: "#1", "#2" ... Copied; at most
 *                 HBEAT_SERVER_NAME_MAX bytes each.
 * @param opts     NULL for the defaults; not kept.
 * @return 0, HBEAT_EINVAL (a bad count, member, name or option),
 *         HBEAT_EVERSION, HBEAT_ENOMEM or HBEAT_ESYSTEM.
 */
HBEAT_API int hbeat_failover_gateway_new(hbeat_gateway **out, hbeat_gateway *const *members,
                                         const char *const *names, size_t count,
                                         const hbeat_failover_options *opts, hbeat_error *err);

/**
 * @brief The member (0 = the first listed) that the next call goes to
 *        first; -1 when @p gw is not a failover gateway.
 */
HBEAT_API int hbeat_failover_gateway_current(const hbeat_gateway *gw);

#ifdef __cplusplus
}
#endif

#endif /* HBEAT_SYS_FAILOVER_H */
