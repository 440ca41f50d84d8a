/* Calls the core makes through a gateway handle. Each one validates what the
   implementation hands back, so the service can trust it. */
#ifndef HBEAT_CORE_GATEWAY_INTERNAL_H
#define HBEAT_CORE_GATEWAY_INTERNAL_H

#include "hbeat/sys/gateway.h"

/* Blocking heartbeat; serialized when the gateway is not thread-safe. */
int hbeat__gateway_heartbeat(hbeat_gateway *gw, const hbeat_heartbeat_request *req,
                             hbeat_heartbeat_reply *reply, hbeat_error *err);

/* 1 when the gateway offers an asynchronous heartbeat the core may use. */
int hbeat__gateway_has_async(const hbeat_gateway *gw);

/* Start an asynchronous heartbeat (only when hbeat__gateway_has_async). */
int hbeat__gateway_heartbeat_async(hbeat_gateway *gw, const hbeat_heartbeat_request *req,
                                   hbeat_gateway_done_fn done, void *arg, hbeat_error *err);

/* Copy a reply the gateway made itself (an asynchronous one): the
   server member only when the gateway's table is of version 3 or later,
   as an older gateway's struct ends before it. */
void hbeat__gateway_copy_reply(const hbeat_gateway *gw, const hbeat_heartbeat_reply *reply,
                               hbeat_heartbeat_reply *out);

/* Check a reply's status token: 0, or HBEAT_EPROTO with a message. */
int hbeat__check_reply(const hbeat_gateway *gw, const hbeat_heartbeat_reply *reply,
                       hbeat_error *err);

/* The implementation behind `gw` when it uses `vtable`, else NULL. */
void *hbeat__gateway_impl(const hbeat_gateway *gw, const hbeat_gateway_vtable *vtable);
/* The vtable `gw` was made with: how tests reach any transport's calls,
   with hbeat_gateway_self() for the first argument. NULL for NULL. */
const hbeat_gateway_vtable *hbeat__gateway_vtable(const hbeat_gateway *gw);
/* The gateway's watch, or HBEAT_ENOTSUP when it cannot push (see the
   vtable's watch and unwatch). */
int hbeat__gateway_watch(hbeat_gateway *gw, int64_t workflow_run_id, hbeat_status_push_fn push,
                         void *arg, void **handle, hbeat_error *err);
void hbeat__gateway_unwatch(hbeat_gateway *gw, void *handle);

#endif
