/*
 * A small in-memory stand-in for hbeatd's engine (server/engine.h, the
 * non-blocking *_begin calls and hbd_engine_when_durable) and log
 * (server/log.h), so the REST front end can be tested without the store:
 * Jobmon's workflow-run state machine on a fixed clock, a count of engine calls,
 * failures to inject, a gate that holds back "durable" notifications (a
 * commit that has not happened yet), an optional notifier thread standing
 * in for the store's writer thread, and the log lines the front end wrote.
 *
 * Every change gets a new ticket; by default a ticket is durable at once
 * and the notification comes synchronously from hbd_engine_when_durable.
 */
#ifndef REST_TEST_FAKE_ENGINE_H
#define REST_TEST_FAKE_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "server/engine.h"

/* The fake clock: every heartbeat happens at this Unix time. */
#define FAKE_NOW      1764280000.0
#define FAKE_MAX_RUNS 256

hbd_engine *fake_engine_new(void);
void fake_engine_free(hbd_engine *e);
/* Adds a run directly (no engine call counted); returns its id. */
int64_t fake_engine_add(hbd_engine *e, int64_t workflow_id, const char *status);
/* Copies the run out; 0, or -1 when unknown. */
int fake_engine_get(hbd_engine *e, int64_t id, hbd_run *out);
/* Copies every run, for a before/after comparison; returns the count. */
size_t fake_engine_snapshot(hbd_engine *e, hbd_run *out, size_t max);
/* Engine entry points called so far. */
unsigned int fake_engine_calls(hbd_engine *e);
/* The next engine call fails with `code` (message "injected failure"). */
void fake_engine_fail_next(hbd_engine *e, int code);
/* The next durable notification reports `code` (a failed commit). */
void fake_engine_fail_commit(hbd_engine *e, int code);
/* Notifications come from a thread of the fake's own, as from the store's
   writer thread. Call before any request; stopped by fake_engine_free. */
void fake_engine_async(hbd_engine *e);
/* While closed, durable notifications are held back. Opening releases
   them (from the notifier thread, else from the caller). */
void fake_engine_gate_close(hbd_engine *e);
void fake_engine_gate_open(hbd_engine *e);
/* Waits until `n` notifications in total have been held at the gate. */
void fake_engine_wait_held(hbd_engine *e, unsigned int n);
/* Notifications delivered so far. */
unsigned int fake_engine_notified(hbd_engine *e);

/* The log: lines written through hbd_log since the last reset. */
void fake_log_reset(void);
unsigned int fake_log_count(void);
/* Copy of the last line ("" when none). */
void fake_log_last(char *out, size_t cap);

#endif
