/* The raw unary call of the bench's gRPC clients (grpc_unary.h). */
#include "grpc_unary.h"

#include <string.h>

#include "hbeat/v1/hbeat.pb-c.h"

grpc_byte_buffer *bench_grpc_beat(int64_t run, uint64_t seq)
{
    HbeatPb__HeartbeatRequest hb = HBEAT_PB__HEARTBEAT_REQUEST__INIT;
    hb.workflow_run_id = run;
    hb.status = "R";
    hb.next_report_increment = 93.0;
    hb.sequence = seq;
    grpc_slice s = grpc_slice_malloc(hbeat_pb__heartbeat_request__get_packed_size(&hb));
    hbeat_pb__heartbeat_request__pack(&hb, GRPC_SLICE_START_PTR(s));
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

grpc_call_error bench_grpc_unary_start(grpc_call *call, bench_grpc_unary *u, grpc_byte_buffer *req,
                                       void *tag)
{
    memset(u, 0, sizeof(*u));
    grpc_metadata_array_init(&u->initial);
    grpc_metadata_array_init(&u->trailing);
    grpc_op ops[6];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = req;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &u->initial;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &u->reply;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &u->trailing;
    ops[5].data.recv_status_on_client.status = &u->status;
    ops[5].data.recv_status_on_client.status_details = &u->details;
    return grpc_call_start_batch(call, ops, 6, tag, NULL);
}

int bench_grpc_unary_finish(bench_grpc_unary *u)
{
    int ok = u->status == GRPC_STATUS_OK && u->reply != NULL;
    if (u->reply != NULL) {
        grpc_byte_buffer_destroy(u->reply);
    }
    grpc_slice_unref(u->details);
    grpc_metadata_array_destroy(&u->initial);
    grpc_metadata_array_destroy(&u->trailing);
    return ok;
}
