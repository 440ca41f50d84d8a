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
    /* Required. Move the run to `status` on the server's side, whatever it
       was (an operator's forced change); gw is the test's gateway. */
    int (*server_set_status)(void *ctx, hbeat_gateway *gw, int64_t run_id, const char *status);
    /* Required. Free gw (NULL when the test freed it already) and anything
       setup made. */
    void (*teardown)(void *ctx, hbeat_gateway *gw);
    /* 1: the server knows its runs, so an unknown run id is
       HBEAT_ENOTFOUND; 0: it answers any id (the fake). */
    int knows_runs;
    /* A run id the server does not hold (used when knows_runs); 0 picks
       a large one. */
    int64_t unknown_run_id;
    /* 1: hbeat_gateway_update_status() must work; 0: it may also answer
       HBEAT_ENOTSUP. */
    int has_update_status;
} hbeat_conformance_target;

/* Run the suite against `t` as one cmocka group; returns the number of
   failed tests (0 when all passed). May be called for several targets in
   one program. */
int hbeat_conformance_run(const hbeat_conformance_target *t);

#ifdef __cplusplus
}
#endif

#endif
