/* Reply payloads, checked before anything of theirs reaches the caller. */
#include <math.h>
#include <string.h>

#include "transports/wire/wire.h"

void hbeat__wire_printable_copy(char *dst, size_t size, const char *src)
{
    size_t i = 0;
    if (src != NULL) {
        for (; src[i] != '\0' && i + 1 < size; i++) {
            unsigned char c = (unsigned char)src[i];
            dst[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
        }
    }
    dst[i] = '\0';
}

static int bad_status(const char *status, const char *url, hbeat_error *err)
{
    char shown[HBEAT_STATUS_MAX + 8];
    hbeat__wire_printable_copy(shown, sizeof(shown), status);
    return hbeat_error_set(err, HBEAT_EPROTO,
                           "%.160s: the reply's status \"%s\" is not a valid status token", url,
                           shown);
}

int hbeat__wire_check_status(const char *status, hbeat_heartbeat_reply *out, const char *url,
                             hbeat_error *err)
{
    if (!hbeat_status_is_valid(status)) {
        return bad_status(status, url, err);
    }
    /* is_valid bounds the length by HBEAT_STATUS_MAX. */
    strcpy(out->status, status);
    return 0;
}

int hbeat__wire_check_heartbeat(const HbeatPb__HeartbeatReply *rep, uint64_t sequence,
                                hbeat_heartbeat_reply *out, const char *url, hbeat_error *err)
{
    /* Transports match replies to requests themselves; this also catches a
       server that answers from the wrong request. */
    if (rep->sequence != sequence) {
        return hbeat_error_set(err, HBEAT_EPROTO,
                               "%.160s: the reply is for beat %llu, not %llu; discarded", url,
                               (unsigned long long)rep->sequence, (unsigned long long)sequence);
    }
    return hbeat__wire_check_status(rep->status, out, url, err);
}

static int valid_time(double t)
{
    return isfinite(t) && t >= 0.0;
}

int hbeat__wire_check_run(const HbeatPb__RunInfo *run, int64_t want_id, hbeat_run_info *out,
                          const char *url, hbeat_error *err)
{
    if (run == NULL) {
        return hbeat_error_set(err, HBEAT_EPROTO, "%.160s: the reply has no run", url);
    }
    if (run->workflow_run_id <= 0) {
        return hbeat_error_set(err, HBEAT_EPROTO, "%.160s: the reply's run has no id", url);
    }
    if (want_id != 0 && run->workflow_run_id != want_id) {
        return hbeat_error_set(err, HBEAT_EPROTO,
                               "%.160s: asked about run %lld, the reply is about run %lld", url,
                               (long long)want_id, (long long)run->workflow_run_id);
    }
    if (!hbeat_status_is_valid(run->status)) {
        return bad_status(run->status, url, err);
    }
    if (!valid_time(run->deadline) || !valid_time(run->last_heartbeat)) {
        return hbeat_error_set(err, HBEAT_EPROTO,
                               "%.160s: run %lld has a deadline or last beat that is not a time",
                               url, (long long)run->workflow_run_id);
    }
    memset(out, 0, sizeof(*out));
    out->workflow_run_id = run->workflow_run_id;
    out->workflow_id = run->workflow_id;
    strcpy(out->status, run->status);
    out->deadline = run->deadline;
    out->last_heartbeat = run->last_heartbeat;
    out->beats = run->beats;
    return 0;
}

int hbeat__wire_check_run_reply(const HbeatPb__RunInfo *run, int64_t want_id, int64_t want_workflow,
                                hbeat_run_info *out, const char *url, hbeat_error *err)
{
    if (run != NULL && want_workflow != 0 && run->workflow_id != want_workflow) {
        return hbeat_error_set(err, HBEAT_EPROTO,
                               "%.160s: asked for a run of workflow %lld, got one of workflow %lld",
                               url, (long long)want_workflow, (long long)run->workflow_id);
    }
    return hbeat__wire_check_run(run, want_id, out, url, err);
}

int hbeat__wire_list_page(const HbeatPb__ListRunsReply *page, const char *status,
                          hbeat_run_sink_fn sink, void *ctx, int64_t *last_id, int *stop,
                          const char *url, hbeat_error *err)
{
    for (size_t i = 0; i < page->n_runs; i++) {
        hbeat_run_info info;
        int rc = hbeat__wire_check_run(page->runs[i], 0, &info, url, err);
        if (rc != 0) {
            return rc;
        }
        /* Ascending ids are the paging contract; a server that repeats or
           reorders runs could otherwise keep us listing forever. */
        if (info.workflow_run_id <= *last_id) {
            return hbeat_error_set(err, HBEAT_EPROTO,
                                   "%.160s: run %lld listed after run %lld; ids must ascend", url,
                                   (long long)info.workflow_run_id, (long long)*last_id);
        }
        if (status != NULL && strcmp(info.status, status) != 0) {
            return hbeat_error_set(err, HBEAT_EPROTO,
                                   "%.160s: asked for runs in \"%s\", got run %lld in \"%s\"", url,
                                   status, (long long)info.workflow_run_id, info.status);
        }
        *last_id = info.workflow_run_id;
        if (sink(ctx, &info) != 0) {
            *stop = 1;
            return 0;
        }
    }
    return 0;
}

int hbeat__wire_list_advances(int64_t next, int64_t after, size_t n, const char *url,
                              hbeat_error *err)
{
    if (next <= after || n == 0) {
        return hbeat_error_set(err, HBEAT_EPROTO,
                               "%.160s: the run listing does not advance (next_after_id "
                               "%lld after %lld, %zu runs in the page)",
                               url, (long long)next, (long long)after, n);
    }
    return 0;
}
