/*
 * The server's engine: every call hbeatd answers, independent of the
 * protocol it arrived on. Front ends (nng, REST) decode a request, call one
 * of these, and encode the result. Each call is thread-safe and returns only
 * once any change it made is durable in the store.
 *
 * Errors are hbeat codes (hbeat/errors.h): HBEAT_EINVAL for bad input,
 * HBEAT_ENOTFOUND for an unknown run, HBEAT_ESYSTEM for a store failure,
 * HBEAT_ECANCELED while shutting down; err->message says what was wrong.
 */
#ifndef HBD_ENGINE_H
#define HBD_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "hbeat/errors.h"
#include "hbeat/status.h"

/* Largest next_report_increment accepted, in seconds (one year). */
#define HBD_MAX_INCREMENT (365.0 * 24 * 3600)

typedef struct hbd_engine hbd_engine;

/* A run as the server holds it. Times are Unix seconds; 0 when unset. */
typedef struct hbd_run {
    int64_t id;
    int64_t workflow_id;
    char status[HBEAT_STATUS_MAX + 1];
    double deadline;
    double last_heartbeat;
    uint64_t beats;
} hbd_run;

typedef struct hbd_engine_options {
    /* SQLite file; NULL or ":memory:" keeps runs in memory only. */
    const char *db_path;
    /* Seconds between reaper passes. */
    double reap_interval;
    /* Seconds after start before the first reap; < 0: one full deadline
       (the longest increment any stored run has). */
    double reap_grace;
} hbd_engine_options;

int hbd_engine_open(hbd_engine **out, const hbd_engine_options *opts, hbeat_error *err);
/* Stops the reaper, flushes and closes the store. NULL is a no-op. */
void hbd_engine_close(hbd_engine *engine);

/* Jobmon's log_heartbeat: apply the transition to `status` (an invalid one
   changes nothing, not even the deadline), then set the deadline to
   now + increment. *out gets the run afterwards. */
int hbd_engine_heartbeat(hbd_engine *engine, int64_t run_id, const char *status,
                         double next_report_increment, hbd_run *out, hbeat_error *err);
/* Jobmon's update_status: apply the transition; the deadline is untouched. */
int hbd_engine_update_status(hbd_engine *engine, int64_t run_id, const char *status, hbd_run *out,
                             hbeat_error *err);
int hbd_engine_create_run(hbd_engine *engine, int64_t workflow_id, const char *status, hbd_run *out,
                          hbeat_error *err);
int hbd_engine_get_run(hbd_engine *engine, int64_t run_id, hbd_run *out, hbeat_error *err);
/* Runs with id > after_id (in `status` when not NULL/empty), ascending, at
   most `limit`. *out is malloc'ed (free()), *next_after_id is 0 on the last
   page. */
int hbd_engine_list_runs(hbd_engine *engine, const char *status, int64_t after_id, uint32_t limit,
                         hbd_run **out, size_t *count, int64_t *next_after_id, hbeat_error *err);
/* Operator status change: through the state machine unless `force`. */
int hbd_engine_set_status(hbd_engine *engine, int64_t run_id, const char *status, int force,
                          hbd_run *out, hbeat_error *err);

#endif /* HBD_ENGINE_H */
