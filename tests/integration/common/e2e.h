/*
 * End to end, written once for every transport: a heartbeat service
 * talking to the real hbeatd (itest_h) through a gateway, with an operator
 * steering the run through the `hbeat` tool (HBEAT_CLI; without it, the
 * admin call the tool makes), and the server crashing, vanishing and
 * freezing under it. Each test program runs these on its transport's URLs;
 * what the transports do differently is in e2e.c's table, found by the
 * URL's scheme.
 */
#ifndef HBEAT_ITEST_COMMON_E2E_H
#define HBEAT_ITEST_COMMON_E2E_H

#include "integration/common/itest.h"

/* Beats move the deadline; the operator's status reaches the loop's next
   tick and its callback; the client's own R -> D. */
void e2e_operator_steers_the_run(const char *url);
/* hbeatd is killed and restarted under a running loop: the loop carries
   on with the same gateway. */
void e2e_loop_survives_restart(const char *url);
/* hbeatd gone for good: the loop gives up after max_consecutive_failures,
   with the transport's error in the message. */
void e2e_loop_goes_fatal_when_server_is_down(const char *url);
/* A server that accepts and never answers: the tick times out in the
   configured time, and the next one succeeds once it answers. */
void e2e_tick_times_out_on_frozen_server(const char *url);
/* tick_async takes the gateway's own asynchronous path (nng's aio, curl
   multi) and calls back exactly once, with the operator's status. */
void e2e_tick_async(const char *url);

#endif
