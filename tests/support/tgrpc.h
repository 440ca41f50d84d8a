/*
 * A bare gRPC core client for tests: unary calls on any channel, gRPC's
 * health check, and the pieces of a call for tests that drive streams
 * themselves. No hbeat code: it checks hbeatd's gRPC front end from below.
 */
#ifndef HBEAT_TEST_TGRPC_H
#define HBEAT_TEST_TGRPC_H

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>

/* `m` packed into a byte buffer (grpc_byte_buffer_destroy it). */
grpc_byte_buffer *tgrpc_packed(const ProtobufCMessage *m);
/* The four ops that open a call: its request (`send`), and the server's
   initial metadata into `initial`. */
void tgrpc_opening_ops(grpc_op *ops, grpc_byte_buffer *send, grpc_metadata_array *initial);
/* One unary call of `method` on `channel` (deadline 20 s); on OK, *reply
   (may be NULL) gets the unpacked reply of `reply_type`
   (protobuf_c_message_free_unpacked it). Returns the call's status;
   UNKNOWN when the call could not be made or its reply does not decode. */
grpc_status_code tgrpc_unary(grpc_channel *channel, const char *method, const ProtobufCMessage *req,
                             const ProtobufCMessageDescriptor *reply_type,
                             ProtobufCMessage **reply);
/* grpc.health.v1.Health/Check for the whole server at `url` (grpc://HOST:PORT
   or HOST:PORT, plaintext): its ServingStatus, or -1 when the call failed. */
int tgrpc_health(const char *url);

#endif /* HBEAT_TEST_TGRPC_H */
