/*
 * A closed-loop load generator on gRPC's C core: `clients` clients, each
 * with one LogHeartbeat call in flight at a time and each beating a run of
 * its own, spread over a few channels (one HTTP/2 connection each) and
 * driven by one thread off one completion queue.
 */
#ifndef BENCH_GRPC_LOAD_H
#define BENCH_GRPC_LOAD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct grpc_load grpc_load;

typedef struct grpc_load_result {
    uint64_t done;         /* calls completed in the measured window */
    uint64_t errors;       /* calls that did not end with OK and a reply */
    double seconds;        /* the measured window */
    double p99_us;         /* p99 round trip of those calls */
    int64_t server_cpu_ns; /* the server's CPU time over the window; -1 unknown */
} grpc_load_result;

/* Connects `channels` channels to `target` (HOST:PORT); client i beats run
   first_run + i. NULL on failure. grpc_init() must have been called. */
grpc_load *grpc_load_open(const char *target, unsigned channels, int64_t first_run);
/* One round: `clients` clients beat for warmup_s, then for duration_s while
   measured (calls completing in that window), then finish their last call.
   server_pid (0: none) is the process whose CPU time is charged. */
int grpc_load_round(grpc_load *l, unsigned clients, double warmup_s, double duration_s,
                    pid_t server_pid, grpc_load_result *out);
void grpc_load_close(grpc_load *l);

#endif
