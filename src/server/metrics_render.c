/* hbd_metrics_render (metrics.h): count the runs by status, then format. */
#include <stdlib.h>
#include <string.h>

#include "server/metrics.h"
#include "server/metrics_internal.h"

/* A page at a time, so that the engine's lock is never held for long. The
   in-memory view may be one group commit ahead of the disk, which does not
   matter for a gauge. */
static int count_runs(hbd_engine *engine, uint64_t counts[HBD_METRICS_STATUSES])
{
    static const char codes[] = HBD_METRICS_STATUS_CODES;
    int64_t after = 0;
    do {
        hbd_run *runs = NULL;
        size_t n = 0;
        int64_t next = 0;
        uint64_t ticket = 0;
        hbeat_error err = HBEAT_ERROR_INIT;
        int rc = hbd_engine_list_runs_begin(engine, NULL, after, HBD_LIST_MAX, &runs, &n, &next,
                                            &ticket, &err);
        if (rc != 0)
            return rc;
        for (size_t i = 0; i < n; i++) {
            const char *at = runs[i].status[0] != '\0' && runs[i].status[1] == '\0'
                                 ? strchr(codes, runs[i].status[0])
                                 : NULL;
            if (at != NULL)
                counts[at - codes]++;
        }
        free(runs);
        after = next;
    } while (after != 0);
    return 0;
}

int hbd_metrics_render(hbd_engine *engine, char **out, size_t *len)
{
    if (out == NULL || len == NULL)
        return HBEAT_EINVAL;
    uint64_t runs[HBD_METRICS_STATUSES] = {0};
    int rc = engine != NULL ? count_runs(engine, runs) : 0;
    if (rc != 0)
        return rc;
    return hbd_metrics__format(runs, out, len);
}
