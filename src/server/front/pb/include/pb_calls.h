/*
 * The calls over protobuf, shared by the front ends that speak hbeat's
 * wire schema (nng's envelope, gRPC's methods): each call takes its
 * request message, goes through the engine and gives its reply message.
 * How a front end frames, authorizes and answers is its own.
 */
#ifndef HBD_PB_CALLS_H
#define HBD_PB_CALLS_H

#include <stdint.h>

#include "calls.h"
#include "engine.h"
#include "hbeat/errors.h"
#include "hbeat/v1/hbeat.pb-c.h"

/* Storage for one reply: the reply message and what it points to. Zero it
   before use; hbd_pb_parts_release() once the reply is packed. */
typedef struct hbd_pb_parts {
    hbd_run run;
    HbeatPb__RunInfo info;
    HbeatPb__HeartbeatReply heartbeat;
    HbeatPb__UpdateStatusReply update_status;
    HbeatPb__CreateRunReply create_run;
    HbeatPb__GetRunReply get_run;
    HbeatPb__SetStatusReply set_status;
    HbeatPb__ListRunsReply list_runs;
    hbd_run *runs;
    size_t count;
    int64_t next_after_id;
    hbeat_error err; /* why the call failed */
    HbeatPb__RunInfo *infos;
    HbeatPb__RunInfo **info_ptrs;
} hbd_pb_parts;

/* The request and reply message types of `call`; NULL out of range. */
const ProtobufCMessageDescriptor *hbd_pb_request_type(hbd_call call);
const ProtobufCMessageDescriptor *hbd_pb_reply_type(hbd_call call);

/* Applies `call`, whose unpacked request `req` is of
   hbd_pb_request_type(call), through the engine: *reply gets the reply
   message (pointing into `p`), *ticket the commit the reply must wait for
   (hbd_engine_when_durable). Returns 0, or an hbeat code with `err` set.
   Only for an engine that answers at once (!hbd_engine_deferred). */
int hbd_pb_serve(hbd_engine *engine, hbd_call call, const ProtobufCMessage *req, hbd_pb_parts *p,
                 const ProtobufCMessage **reply, uint64_t *ticket, hbeat_error *err);
/* The same in two steps, for any engine: the engine call, whose outputs
   go into `p` (which, with `req`, must then stay put until the ticket is
   reported), and, once it is reported with rc 0, the reply message built
   from them. A ticket reported with an error carries its reason in
   p->err. Each returns 0 or an hbeat code with `err` set. */
int hbd_pb_begin(hbd_engine *engine, hbd_call call, const ProtobufCMessage *req, hbd_pb_parts *p,
                 uint64_t *ticket, hbeat_error *err);
int hbd_pb_reply(hbd_call call, const ProtobufCMessage *req, hbd_pb_parts *p,
                 const ProtobufCMessage **reply, hbeat_error *err);
void hbd_pb_parts_release(hbd_pb_parts *p);

/* Logs a call that failed with `code`, rate-limited per kind: an unknown
   run at info, a bad request at warn, anything else at error. `front`
   names the front end ("nng", "grpc"), `call` the call (a name). */
void hbd_pb_log_failure(const char *front, const char *call, int code, const char *message);

#endif /* HBD_PB_CALLS_H */
