#include "tap.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "hbeat/sys/gateway.h"
#include "output.h"

typedef struct tap {
    cli_tap_config cfg;
    cli_tap_result result;
} tap;

static void tap_destroy(void *self)
{
    free(self);
}

static void print_reply(const tap *t, const hbeat_heartbeat_request *req, const char *status)
{
    if (t->cfg.json) {
        printf("{\"event\":\"beat\",\"beat\":%" PRIu64 ",\"workflow_run_id\":%" PRId64 ",\"sent\":",
               t->result.beats, req->workflow_run_id);
        cli_json_string(stdout, req->status);
        printf(",\"status\":");
        cli_json_string(stdout, status);
        printf("}\n");
    } else {
        printf("beat %" PRIu64 " run %" PRId64 ": status %s\n", t->result.beats,
               req->workflow_run_id, status);
    }
    fflush(stdout);
}

static void print_failure(const tap *t, const hbeat_heartbeat_request *req, int rc,
                          const hbeat_error *err)
{
    const char *detail = err->code == rc ? err->message : "";
    if (t->cfg.json) {
        printf("{\"event\":\"error\",\"beat\":%" PRIu64 ",\"workflow_run_id\":%" PRId64
               ",\"code\":%d,\"error\":",
               t->result.beats, req->workflow_run_id, rc);
        cli_json_string(stdout, hbeat_strerror(rc));
        printf(",\"message\":");
        cli_json_string(stdout, detail);
        printf("}\n");
        fflush(stdout);
    } else {
        fprintf(stderr, "hbeat: beat %" PRIu64 " run %" PRId64 " failed: %s%s%s\n", t->result.beats,
                req->workflow_run_id, hbeat_strerror(rc), *detail ? ": " : "", detail);
    }
}

static int tap_log_heartbeat(void *self, const hbeat_heartbeat_request *req,
                             hbeat_heartbeat_reply *reply, hbeat_error *err)
{
    tap *t = self;
    hbeat_error local = HBEAT_ERROR_INIT;
    t->result.beats++;
    int64_t sent_ns = hbeat_clock_now_ns(hbeat_clock_system());
    int rc = hbeat_gateway_log_heartbeat(t->cfg.inner, req->workflow_run_id, req->status,
                                         req->next_report_increment, reply->status, &local);
    if (rc != 0) {
        if (local.code != rc)
            hbeat_error_set(&local, rc, "%s", hbeat_strerror(rc));
        t->result.last_error = local;
        t->result.failures++;
        print_failure(t, req, rc, &local);
        if (t->cfg.max_failures && t->result.failures >= t->cfg.max_failures) {
            t->result.gave_up = 1;
            hbeat_stop_event_set(t->cfg.stop);
        }
        if (err)
            *err = local;
        return rc;
    }
    double rtt = (double)(hbeat_clock_now_ns(hbeat_clock_system()) - sent_ns) / 1e9;
    if (t->result.replies == 0 || rtt < t->result.rtt_min)
        t->result.rtt_min = rtt;
    if (rtt > t->result.rtt_max)
        t->result.rtt_max = rtt;
    t->result.rtt_sum += rtt;
    t->result.failures = 0;
    t->result.replies++;
    print_reply(t, req, reply->status);
    if (t->cfg.count && t->result.replies >= t->cfg.count)
        hbeat_stop_event_set(t->cfg.stop);
    return 0;
}

/* Called by the core one at a time (no THREAD_SAFE flag), so the counters
   need no lock. */
static const hbeat_gateway_vtable tap_vtable = {
    .version = HBEAT_GATEWAY_VTABLE_VERSION,
    .name = "hbeat-cli-tap",
    .flags = 0,
    .destroy = tap_destroy,
    .log_heartbeat = tap_log_heartbeat,
};

int cli_tap_new(hbeat_gateway **out, const cli_tap_config *cfg, hbeat_error *err)
{
    tap *t = calloc(1, sizeof *t);
    if (!t)
        return hbeat_error_set(err, HBEAT_ENOMEM, "out of memory");
    t->cfg = *cfg;
    int rc = hbeat_gateway_new(out, &tap_vtable, t, err);
    if (rc != 0)
        free(t);
    return rc;
}

void cli_tap_result_get(hbeat_gateway *gw, cli_tap_result *out)
{
    const tap *t = hbeat_gateway_self(gw);
    *out = t->result;
}
