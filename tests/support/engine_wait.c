#include "support/engine_wait.h"

#include <stdlib.h>
#include <string.h>

static int finish(hbd_engine *e, int rc, uint64_t ticket, hbeat_error *err)
{
    if (rc != 0)
        return rc;
    rc = hbd_engine_wait(e, ticket);
    if (rc == 0)
        return 0;
    /* A deferred store said why in err itself. */
    if (err != NULL && err->code == rc)
        return rc;
    return hbeat_error_set(err, rc, "the store failed to commit the change");
}

int hbd_engine_heartbeat(hbd_engine *e, int64_t run_id, const char *status, double inc,
                         hbd_run *out, hbeat_error *err)
{
    uint64_t t;
    int rc = hbd_engine_heartbeat_begin(e, run_id, status, inc, out, &t, err);
    return finish(e, rc, t, err);
}

int hbd_engine_update_status(hbd_engine *e, int64_t run_id, const char *status, hbd_run *out,
                             hbeat_error *err)
{
    uint64_t t;
    int rc = hbd_engine_update_status_begin(e, run_id, status, out, &t, err);
    return finish(e, rc, t, err);
}

int hbd_engine_create_run(hbd_engine *e, int64_t workflow_id, const char *status,
                          const double *next_report_increment, hbd_run *out, hbeat_error *err)
{
    uint64_t t;
    int rc =
        hbd_engine_create_run_begin(e, workflow_id, status, next_report_increment, out, &t, err);
    return finish(e, rc, t, err);
}

int hbd_engine_get_run(hbd_engine *e, int64_t run_id, hbd_run *out, hbeat_error *err)
{
    uint64_t t;
    int rc = hbd_engine_get_run_begin(e, run_id, out, &t, err);
    return finish(e, rc, t, err);
}

int hbd_engine_list_runs(hbd_engine *e, const char *status, int64_t after_id, uint32_t limit,
                         hbd_run **out, size_t *count, int64_t *next_after_id, hbeat_error *err)
{
    uint64_t t;
    int rc =
        hbd_engine_list_runs_begin(e, status, after_id, limit, out, count, next_after_id, &t, err);
    rc = finish(e, rc, t, err);
    if (rc != 0) {
        free(*out);
        *out = NULL;
        *count = 0;
    }
    return rc;
}

int hbd_engine_set_status(hbd_engine *e, int64_t run_id, const char *status, int force,
                          hbd_run *out, hbeat_error *err)
{
    uint64_t t;
    int rc = hbd_engine_set_status_begin(e, run_id, status, force, out, &t, err);
    return finish(e, rc, t, err);
}

int hbd_engine_wait_durable(hbd_engine *e, uint64_t ticket)
{
    return finish(e, 0, ticket, NULL);
}

int hbd_engine_list_all(hbd_engine *e, hbd_run **out, size_t *count, hbeat_error *err)
{
    *out = NULL;
    *count = 0;
    int64_t after = 0;
    do {
        hbd_run *page;
        size_t n;
        int rc = hbd_engine_list_runs(e, NULL, after, HBD_LIST_MAX, &page, &n, &after, err);
        if (rc != 0) {
            free(*out);
            *out = NULL;
            *count = 0;
            return rc;
        }
        hbd_run *all = n > 0 ? realloc(*out, (*count + n) * sizeof *all) : *out;
        if (n > 0 && all == NULL) {
            free(page);
            free(*out);
            *out = NULL;
            *count = 0;
            return hbeat_error_set(err, HBEAT_ENOMEM, "out of memory listing runs");
        }
        if (n > 0)
            memcpy(all + *count, page, n * sizeof *all);
        free(page);
        *out = all;
        *count += n;
    } while (after != 0);
    return 0;
}
