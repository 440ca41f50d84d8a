/*
 * What the bench's raw gRPC clients share: a heartbeat's bytes and the one
 * batch of a unary call, made with gRPC's C core itself.
 */
#ifndef BENCH_GRPC_UNARY_H
#define BENCH_GRPC_UNARY_H

#include <stdint.h>

#include <grpc/grpc.h>

/* A HeartbeatRequest (status R, window 93 s) packed into a byte buffer. */
grpc_byte_buffer *bench_grpc_beat(int64_t run, uint64_t seq);

/* The state of one unary call's batch; the caller owns what it receives. */
typedef struct bench_grpc_unary {
    grpc_metadata_array initial, trailing;
    grpc_byte_buffer *reply;
    grpc_status_code status;
    grpc_slice details;
} bench_grpc_unary;

/* Starts the six ops of a unary call sending `req`, completing with `tag`. */
grpc_call_error bench_grpc_unary_start(grpc_call *call, bench_grpc_unary *u, grpc_byte_buffer *req,
                                       void *tag);
/* After its completion: 1 when the call ended OK with a reply; frees what
   the batch received. */
int bench_grpc_unary_finish(bench_grpc_unary *u);

#endif
