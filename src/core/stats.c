#include "core/stats.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

static const double bucket_bounds[HBEAT_RTT_BUCKETS - 1] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 1.0,
};

double hbeat_rtt_bucket_bound(int i)
{
    if (i < 0 || i >= HBEAT_RTT_BUCKETS)
        return NAN;
    return i == HBEAT_RTT_BUCKETS - 1 ? INFINITY : bucket_bounds[i];
}

static int bucket_of(int64_t rtt_ns)
{
    double rtt = (double)rtt_ns / 1e9;
    int i = 0;
    while (i < HBEAT_RTT_BUCKETS - 1 && rtt > bucket_bounds[i])
        i++;
    return i;
}

void hbeat__stats_acknowledged(hbeat__stats *st, int64_t send_ns, int64_t ack_ns,
                               int64_t increment_ns)
{
    int64_t rtt = ack_ns - send_ns;
    if (st->acknowledged == 0 || rtt < st->min_rtt_ns)
        st->min_rtt_ns = rtt;
    if (st->acknowledged == 0 || rtt > st->max_rtt_ns)
        st->max_rtt_ns = rtt;
    st->acknowledged++;
    st->last_rtt_ns = rtt;
    st->sum_rtt_ns += (double)rtt;
    st->buckets[bucket_of(rtt)]++;
    st->last_ack_ns = ack_ns;
    if (st->has_lease) {
        st->lease_slack_ns = st->lease_deadline_ns - ack_ns;
        st->has_slack = 1;
    }
    /* The server starts the new window when the beat arrives, which is after
       we sent it: counting from the send time errs on the safe side. */
    st->lease_deadline_ns = send_ns + increment_ns;
    st->has_lease = 1;
}

/* `server` is a gateway's reply member: read no further than its size,
   whether or not the gateway ended it. */
void hbeat__stats_server(hbeat__stats *st, const char server[HBEAT_SERVER_NAME_MAX + 1])
{
    size_t len = strnlen(server, HBEAT_SERVER_NAME_MAX);
    if (len == 0)
        return;
    if (st->server[0] != '\0' &&
        (strlen(st->server) != len || memcmp(st->server, server, len) != 0))
        st->server_changes++;
    memcpy(st->server, server, len);
    st->server[len] = '\0';
}

/* A caller built against an older header passes a shorter struct: fill
   only the fields its version has. */
static size_t size_of_version(unsigned int version)
{
    switch (version) {
    case 1:
        return offsetof(hbeat_service_stats, last_error);
    case 2:
        return offsetof(hbeat_service_stats, stalled);
    case 3:
        return offsetof(hbeat_service_stats, server);
    default:
        return sizeof(hbeat_service_stats);
    }
}

void hbeat__stats_fill(const hbeat__stats *st, unsigned int failures,
                       const hbeat__progress_view *progress, int64_t now_ns,
                       hbeat_service_stats *caller)
{
    hbeat_service_stats full;
    hbeat_service_stats *out = &full;
    memset(out, 0, sizeof(*out));
    out->version = caller->version;
    out->beats_sent = st->sent;
    out->beats_acknowledged = st->acknowledged;
    out->beats_failed = st->failed;
    out->consecutive_failures = failures;
    out->status_changes = st->status_changes;
    int any = st->acknowledged > 0;
    out->last_rtt = any ? (double)st->last_rtt_ns / 1e9 : NAN;
    out->rtt_min = any ? (double)st->min_rtt_ns / 1e9 : NAN;
    out->rtt_max = any ? (double)st->max_rtt_ns / 1e9 : NAN;
    out->rtt_mean = any ? st->sum_rtt_ns / (double)st->acknowledged / 1e9 : NAN;
    memcpy(out->rtt_buckets, st->buckets, sizeof(out->rtt_buckets));
    out->time_since_ack = any ? (double)(now_ns - st->last_ack_ns) / 1e9 : NAN;
    out->lease_slack = st->has_slack ? (double)st->lease_slack_ns / 1e9 : NAN;
    out->last_error = st->last_error;
    out->stalled = progress->stalled ? 1u : 0u;
    out->stalls = st->stalls;
    out->time_since_progress = (double)(now_ns - progress->last_progress_ns) / 1e9;
    memcpy(out->server, st->server, sizeof(out->server));
    out->server_changes = st->server_changes;
    memcpy(caller, out, size_of_version(caller->version));
}
