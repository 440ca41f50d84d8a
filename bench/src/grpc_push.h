/*
 * How long an operator's status change takes to reach a running service's
 * on_status_change callback over grpc://, with the service watching its run
 * (hbeat_service_options.watch) and without.
 */
#ifndef BENCH_GRPC_PUSH_H
#define BENCH_GRPC_PUSH_H

#include <stdint.h>

#include "util.h"

/* Starts two services on `url` beating every `interval` s, one watching
   run_watched and one not watching run_plain (both in status R), then makes
   `changes` operator changes (hbeat_run_set_status) to both runs, each at a
   random point of the interval. Adds each change's time from the start of
   its set_status call to the callback to `watched` and `plain`. */
void grpc_push_measure(const char *url, int64_t run_watched, int64_t run_plain, double interval,
                       int changes, bench_samples *watched, bench_samples *plain);

#endif
