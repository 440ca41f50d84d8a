/*
 * One suite of cmocka tests stamped onto every gateway (in the spirit of
 * nng's NUTS_DECLARE_TRAN_TESTS): whatever carries the beats, a gateway
 * must answer with the status the server holds, let a service adopt a
 * server-side change, complete tick_async exactly once, carry beats from
 * several threads at once, and be freed cleanly.
 *
 * An instance describes how to reach a server that keeps runs, and how to
 * change a run's status behind the client's back, as an operator would:
 *
 *     static const hbeat_conformance_target t = {
 *         .name = "fake", .setup = ..., .server_set_status = ...,
 *         .teardown = ..., .knows_runs = 0, .has_update_status = 1};
 *     int main(void) { return hbeat_conformance_run(&t); }
 *
 * A gateway with no server behind it (the sd_notify example gateway: the
 * far end never answers, so every beat "answers" what it sent) still runs
 * the suite: it leaves server_set_status NULL and says why, and every case
 * that needs a server-side change is skipped with that reason printed, per
 * case, instead of passing in silence. The same holds for the unknown-run
 * case on a target that answers any run id, and for update_status on one
 * that may lack it.
 *
 * The suite only uses the public API (hbeat/hbeat.h) besides the target's
 * own hooks; it never sleeps for timing, but bounds every wait for a
 * callback by HBEAT_CONFORMANCE_TIMEOUT seconds so a broken gateway fails
 * instead of hanging.
 */
#ifndef HBEAT_TESTS_GATEWAY_CONFORMANCE_H
#define HBEAT_TESTS_GATEWAY_CONFORMANCE_H

#include <stdint.h>

#include "hbeat/hbeat.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest a test waits for a callback or a thread before failing. */
#define HBEAT_CONFORMANCE_TIMEOUT 30.0

typedef struct hbeat_conformance_target {
    /* Name of the cmocka group ("nng+tcp", "rest", ...). */
    const char *name;
    /* Passed to every hook. */
    void *ctx;
    /* Required. Open a fresh gateway in *gw and make a run the server holds
       in "R" in *run_id. Called before every test; 0 or an hbeat code. */
    int (*setup)(void *ctx, hbeat_gateway **gw, int64_t *run_id);
    /* Move the run to `status` on the server's side, whatever it was (an
       operator's forced change); gw is the test's gateway. NULL when no
       server holds the run: then why_no_server is required. */
    int (*server_set_status)(void *ctx, hbeat_gateway *gw, int64_t run_id, const char *status);
    /* Why server_set_status is NULL; printed with every case skipped for it. */
    const char *why_no_server;
    /* Required. Free gw (NULL when the test freed it already) and anything
       setup made. */
    void (*teardown)(void *ctx, hbeat_gateway *gw);
    /* 1: the server knows its runs, so an unknown run id is
       HBEAT_ENOTFOUND; 0: it answers any id (the fake). */
    int knows_runs;
    /* Why knows_runs is 0; printed when the unknown-run case is skipped
       (NULL: a generic reason). */
    const char *why_any_run;
    /* A run id the server does not hold (used when knows_runs); 0 picks
       a large one. */
    int64_t unknown_run_id;
    /* 1: hbeat_gateway_update_status() must work; 0: it may also answer
       HBEAT_ENOTSUP. */
    int has_update_status;
} hbeat_conformance_target;

/* Run the suite against `t` as one cmocka group; returns the number of
   failed tests (0 when all passed; a skipped case is not a failure, and
   says why on stdout). May be called for several targets in one program.
   A target with neither server_set_status nor why_no_server counts as one
   failure without running. */
int hbeat_conformance_run(const hbeat_conformance_target *t);

#ifdef __cplusplus
}
#endif

#endif
