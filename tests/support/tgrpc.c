/*
 * A bare gRPC core client for tests (tgrpc.h): what hbeat's own client
 * does not offer (gRPC's health service, raw streams) and what tests of
 * hbeatd's gRPC front end need below it.
 */
#include "tgrpc.h"

#include <string.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "grpc/health/v1/health.pb-c.h"

/* `m` packed into a byte buffer (destroy it). */
grpc_byte_buffer *tgrpc_packed(const ProtobufCMessage *m)
{
    grpc_slice out = grpc_slice_malloc(protobuf_c_message_get_packed_size(m));
    protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(out));
    grpc_byte_buffer *b = grpc_raw_byte_buffer_create(&out, 1);
    grpc_slice_unref(out);
    return b;
}

/* The ops that open a call: its request, and the server's metadata. */
void tgrpc_opening_ops(grpc_op *ops, grpc_byte_buffer *send, grpc_metadata_array *initial)
{
    memset(ops, 0, 4 * sizeof *ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = initial;
}

grpc_status_code tgrpc_unary(grpc_channel *channel, const char *method, const ProtobufCMessage *req,
                             const ProtobufCMessageDescriptor *reply_type, ProtobufCMessage **reply)
{
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    gpr_timespec deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_seconds(20, GPR_TIMESPAN));
    grpc_slice path = grpc_slice_from_static_string(method);
    grpc_call *call = grpc_channel_create_call(channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq, path,
                                               NULL, deadline, NULL);
    grpc_byte_buffer *send = tgrpc_packed(req);
    grpc_metadata_array initial, trailing;
    grpc_metadata_array_init(&initial);
    grpc_metadata_array_init(&trailing);
    grpc_byte_buffer *recv = NULL;
    grpc_status_code status = GRPC_STATUS_UNKNOWN;
    grpc_slice details;
    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    tgrpc_opening_ops(ops, send, &initial);
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trailing;
    ops[5].data.recv_status_on_client.status = &status;
    ops[5].data.recv_status_on_client.status_details = &details;
    details = grpc_empty_slice();
    if (grpc_call_start_batch(call, ops, 6, (void *)1, NULL) != GRPC_CALL_OK ||
        grpc_completion_queue_pluck(cq, (void *)1, deadline, NULL).type != GRPC_OP_COMPLETE)
        status = GRPC_STATUS_UNKNOWN;
    if (reply != NULL) {
        *reply = NULL;
        grpc_byte_buffer_reader r;
        if (status == GRPC_STATUS_OK && recv != NULL && grpc_byte_buffer_reader_init(&r, recv)) {
            grpc_slice in = grpc_byte_buffer_reader_readall(&r);
            grpc_byte_buffer_reader_destroy(&r);
            *reply = protobuf_c_message_unpack(reply_type, NULL, GRPC_SLICE_LENGTH(in),
                                               GRPC_SLICE_START_PTR(in));
            grpc_slice_unref(in);
        }
        if (status == GRPC_STATUS_OK && *reply == NULL)
            status = GRPC_STATUS_UNKNOWN; /* no reply, or not of its type */
    }
    grpc_slice_unref(details);
    grpc_byte_buffer_destroy(send);
    grpc_byte_buffer_destroy(recv);
    grpc_metadata_array_destroy(&initial);
    grpc_metadata_array_destroy(&trailing);
    grpc_call_unref(call);
    grpc_completion_queue_shutdown(cq);
    grpc_completion_queue_destroy(cq);
    return status;
}

int tgrpc_health(const char *url)
{
    const char *target = strstr(url, "://");
    target = target != NULL ? target + 3 : url;
    grpc_init();
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    grpc_channel *ch = grpc_channel_create(target, creds, NULL);
    grpc_channel_credentials_release(creds);
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    ProtobufCMessage *rep = NULL;
    int status = -1;
    if (tgrpc_unary(ch, "/grpc.health.v1.Health/Check", &req.base,
                    &grpc__health__v1__health_check_response__descriptor, &rep) == GRPC_STATUS_OK) {
        status = ((Grpc__Health__V1__HealthCheckResponse *)rep)->status;
        protobuf_c_message_free_unpacked(rep, NULL);
    }
    grpc_channel_destroy(ch);
    grpc_shutdown();
    return status;
}
