/* Running statistics of one service's beats. Not locked: the service
   updates and reads them under its own mutex. */
#ifndef HBEAT_CORE_STATS_H
#define HBEAT_CORE_STATS_H

#include <stdint.h>

#include "hbeat/errors.h"
#include "hbeat/service.h"

typedef struct hbeat__stats {
    uint64_t sent;
    uint64_t acknowledged;
    uint64_t failed;
    uint64_t status_changes;
    int64_t last_rtt_ns;
    int64_t min_rtt_ns;
    int64_t max_rtt_ns;
    double sum_rtt_ns;
    uint64_t buckets[HBEAT_RTT_BUCKETS];
    int64_t last_ack_ns;
    /* The lease the server holds: last acknowledged send + its increment. */
    int64_t lease_deadline_ns;
    int64_t lease_slack_ns;
    int has_lease;
    int has_slack;
    hbeat_error last_error;
    uint64_t stalls;
    char server[HBEAT_SERVER_NAME_MAX + 1];
    uint64_t server_changes;
} hbeat__stats;

/* The progress state, kept outside the statistics because other threads
   write it without the lock. */
typedef struct hbeat__progress_view {
    int stalled;
    int64_t last_progress_ns;
} hbeat__progress_view;

void hbeat__stats_acknowledged(hbeat__stats *st, int64_t send_ns, int64_t ack_ns,
                               int64_t increment_ns);
/* Notes which server answered an acknowledged beat ("" when not said). */
void hbeat__stats_server(hbeat__stats *st, const char server[HBEAT_SERVER_NAME_MAX + 1]);
void hbeat__stats_fill(const hbeat__stats *st, unsigned int failures,
                       const hbeat__progress_view *progress, int64_t now_ns,
                       hbeat_service_stats *out);

#endif
