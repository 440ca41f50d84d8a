/*
 * hbeatd's engine calls, each waiting for its commit: *_begin, then a wait
 * on hbd_engine_when_durable(). For tests, which want a call's durable
 * result in one step; hbeatd itself never blocks a thread on a commit.
 */
#ifndef HBEAT_TEST_ENGINE_WAIT_H
#define HBEAT_TEST_ENGINE_WAIT_H

#include "engine.h"

/* Jobmon's log_heartbeat: apply the transition to `status` (an invalid one
   changes nothing, not even the deadline), then set the deadline to
   now + increment. *out gets the run afterwards. */
int hbd_engine_heartbeat(hbd_engine *engine, int64_t run_id, const char *status,
                         double next_report_increment, hbd_run *out, hbeat_error *err);
/* Jobmon's update_status: apply the transition; the deadline is untouched. */
int hbd_engine_update_status(hbd_engine *engine, int64_t run_id, const char *status, hbd_run *out,
                             hbeat_error *err);
/* A new run of workflow_id in `status` (NULL or "": G). With
   next_report_increment (checked as a heartbeat's) its deadline is
   now + *next_report_increment, as Jobmon's POST /workflow_run sets it;
   NULL: no deadline until its first beat (what a client sends that
   predates the field). */
int hbd_engine_create_run(hbd_engine *engine, int64_t workflow_id, const char *status,
                          const double *next_report_increment, hbd_run *out, hbeat_error *err);
int hbd_engine_get_run(hbd_engine *engine, int64_t run_id, hbd_run *out, hbeat_error *err);
/* Runs with id > after_id (in `status` when not NULL/empty), ascending, at
   most `limit`. *out is malloc'ed (free()), *next_after_id is 0 on the last
   page. */
int hbd_engine_list_runs(hbd_engine *engine, const char *status, int64_t after_id, uint32_t limit,
                         hbd_run **out, size_t *count, int64_t *next_after_id, hbeat_error *err);
/* Operator status change: through the state machine unless `force`. */
int hbd_engine_set_status(hbd_engine *engine, int64_t run_id, const char *status, int force,
                          hbd_run *out, hbeat_error *err);

/* Blocks until `ticket` (from a *_begin call, or a REST reply's) is
   durable: 0, or HBEAT_ESYSTEM when its commit failed. Ticket 0 is
   always durable. */
int hbd_engine_wait_durable(hbd_engine *engine, uint64_t ticket);
/* Every run, ascending by id, read page by page: for a before/after
   comparison (the engine zeroes each hbd_run before filling it, so
   memcmp compares them). *out is malloc'ed (free()); NULL when there are
   none. */
int hbd_engine_list_all(hbd_engine *engine, hbd_run **out, size_t *count, hbeat_error *err);

#endif /* HBEAT_TEST_ENGINE_WAIT_H */
