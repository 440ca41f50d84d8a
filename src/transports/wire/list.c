/*
 * ListRuns, page after page, through the transport's call function: the
 * pages are checked (check.c) and their runs handed to the sink here.
 */
#include "transports/wire/wire.h"

int hbeat__wire_list_runs(void *self, const char *status, hbeat_run_sink_fn sink, void *ctx,
                          hbeat_error *err)
{
    const hbeat__wire_gateway *gw = self;
    if (sink == NULL) {
        return hbeat_error_set(err, HBEAT_EINVAL, "%s: sink is NULL", gw->who);
    }
    if (status != NULL &&
        hbeat__wire_check_status_arg(status, "the status filter", gw->who, err) != 0) {
        return HBEAT_EINVAL;
    }
    int64_t after = 0, last_id = 0;
    for (;;) {
        HbeatPb__ListRunsRequest lr;
        hbeat_pb__list_runs_request__init(&lr);
        if (status != NULL) {
            lr.status = (char *)status;
        }
        lr.after_id = after;
        hbeat__wire_arena arena;
        hbeat__wire_arena_init(&arena);
        ProtobufCMessage *reply;
        const ProtobufCMessage *p;
        int rc =
            gw->call(self, HBEAT_PB__REQUEST__CALL_LIST_RUNS, &lr.base, &arena, &reply, &p, err);
        if (rc != 0) {
            return rc;
        }
        const HbeatPb__ListRunsReply *page = (const HbeatPb__ListRunsReply *)p;
        int stop = 0;
        rc = hbeat__wire_list_page(page, status, sink, ctx, &last_id, &stop, gw->url, err);
        int64_t next = page->next_after_id;
        size_t n = page->n_runs;
        hbeat__wire_reply_free(reply, &arena);
        if (rc != 0 || stop || next == 0) {
            return rc;
        }
        if ((rc = hbeat__wire_list_advances(next, after, n, gw->url, err)) != 0) {
            return rc;
        }
        after = next;
    }
}
