/*
 * A gateway that wraps another one and tells `hbeat beat` about every
 * heartbeat: it prints each reply (and each failure), counts replies for
 * --count and failures in a row for --max-failures, and sets the stop event
 * when either limit is reached. Written against the public gateway vtable
 * only, like any third-party gateway, so the tool works over every
 * transport the library opens by URL.
 */
#ifndef HBEAT_CLI_TAP_H
#define HBEAT_CLI_TAP_H

#include <stdint.h>
#include <stdio.h>

#include "hbeat/hbeat.h"

typedef struct cli_tap_config {
    hbeat_gateway *inner;      /* borrowed: must outlive the tap */
    hbeat_stop_event *stop;    /* borrowed: set when a limit is reached */
    uint64_t count;            /* stop after this many replies; 0: never */
    unsigned int max_failures; /* stop after this many failures in a row; 0: never */
    int json;
} cli_tap_config;

/* What the tap saw, read once the loop has ended. */
typedef struct cli_tap_result {
    uint64_t beats;        /* heartbeats attempted */
    uint64_t replies;      /* heartbeats answered */
    unsigned int failures; /* failures in a row at the end */
    int gave_up;           /* max_failures was reached */
    double rtt_min;        /* round trips of the answered beats, seconds */
    double rtt_max;
    double rtt_sum;
    hbeat_error last_error; /* the last failure, if any */
} cli_tap_result;

/* Make the tap; @p out is freed with hbeat_gateway_free() (before inner). */
int cli_tap_new(hbeat_gateway **out, const cli_tap_config *cfg, hbeat_error *err);

/* Copy what the tap @p gw saw. Final only once no beat can be in flight:
   after the service that uses it was freed. */
void cli_tap_result_get(hbeat_gateway *gw, cli_tap_result *out);

#endif /* HBEAT_CLI_TAP_H */
