/*
 * Shared by the REST front end's files. The router sees a request as plain
 * strings and bytes (no libmicrohttpd types), so the routes, the JSON rules
 * and the error replies can be unit-tested without a socket.
 */
#ifndef HBD_REST_INTERNAL_H
#define HBD_REST_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "api_path.h" /* HBD_REST_BASE */
#include "calls.h"
#include "engine.h"
#include "metrics.h"

/* Most bytes of client input any message (reply or log) quotes. */
#define HBD_REST_ECHO_MAX 80

/* Replies up to this size are built without touching the heap. */
#define HBD_REST_REPLY_INLINE 1024

typedef struct hbd_rest_request {
    const char *method;
    /* Path without the query string, as the HTTP layer decoded it. */
    const char *path;
    /* Body bytes, not NUL-terminated; NULL when body_len is 0. */
    const char *body;
    size_t body_len;
    /* Value of query parameter `key`; NULL when absent. May be NULL. */
    const char *(*query)(void *ctx, const char *key);
    void *query_ctx;
} hbd_rest_request;

typedef struct hbd_rest_reply {
    unsigned int status;
    /* Allow header value for a 405, else NULL. Static string. */
    const char *allow;
    /* Content-Type; NULL is application/json. Static string. */
    const char *content_type;
    /* More headers: static name, value, name, value, ..., NULL; or NULL. */
    const char *const *headers;
    /* The body: points into inline_buf, into heap, or at a static string. */
    const char *body;
    size_t len;
    char *heap;
    /* Set when the reply reports engine state: it may be sent only once
       the engine says `ticket` is durable (hbd_engine_when_durable). */
    int wait_durable;
    uint64_t ticket;
    /* The engine call's outputs, which a deferred engine
       (hbd_engine_deferred) fills only when it reports the ticket; then
       `build` makes the body from them, before the reply is sent. */
    hbd_run run;
    hbd_run *runs; /* owned */
    size_t count;
    int64_t next_after_id;
    hbeat_error err;
    void (*build)(struct hbd_rest_reply *r, const hbd_rest_request *req);
    char inline_buf[HBD_REST_REPLY_INLINE];
} hbd_rest_reply;

/* After an engine call into r->run (r->runs ...) and r->err: an error
   reply for rc != 0; else the reply waits for `ticket`, and `build` makes
   its body now (an engine that answers at once) or once the ticket is
   reported (hbd_rest_reply_reported). */
void hbd_rest_reply_later(hbd_rest_reply *r, const hbd_rest_request *req, hbd_engine *engine,
                          int rc, uint64_t ticket,
                          void (*build)(hbd_rest_reply *r, const hbd_rest_request *req));
/* The ticket was reported with rc: the error it carries, or the body that
   waited for it. */
void hbd_rest_reply_reported(hbd_rest_reply *r, const hbd_rest_request *req, int rc);

void hbd_rest_reply_init(hbd_rest_reply *r);
/* Frees what the reply owns; it may be reused after hbd_rest_reply_init. */
void hbd_rest_reply_release(hbd_rest_reply *r);

/* Answers with Jobmon's error body and logs one line saying what was
   wrong. Arguments that quote client input must go through hbd_rest_echo
   first. The type name follows from the status. */
void hbd_rest_reply_error(hbd_rest_reply *r, const hbd_rest_request *req, unsigned int status,
                          const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Maps an engine failure (rc, err) onto an error reply. Also for a
   durability wait that failed (rc from hbd_durable_fn, err NULL). */
void hbd_rest_reply_engine_error(hbd_rest_reply *r, const hbd_rest_request *req, int rc,
                                 const hbeat_error *err);

/* 200 with Jobmon's compact {"status":"X"}, byte for byte what jansson's
   JSON_COMPACT would write, without its allocations. */
void hbd_rest_reply_status(hbd_rest_reply *r, const char *status);

/* 200 with `doc` dumped compactly. Takes the reference to `doc` (NULL, from
   a failed json_pack, becomes a 500). */
void hbd_rest_reply_json(hbd_rest_reply *r, const hbd_rest_request *req, json_t *doc);

/* Copies at most HBD_REST_ECHO_MAX bytes of `src` into `dst` (capacity
   `cap`), each byte outside printable ASCII replaced by '?', and "..."
   appended when cut. Always NUL-terminates. */
void hbd_rest_echo(char *dst, size_t cap, const char *src, size_t len);

/* A RUN object: {"workflow_run_id":..,"workflow_id":..,"status":..,
   "deadline":..,"last_heartbeat":..,"beats":..}. NULL when out of memory. */
json_t *hbd_rest_run_json(const hbd_run *run);

/* Body parsing. Each returns 0, or -1 after filling `r` with a 400. */
int hbd_rest_body_object(const hbd_rest_request *req, hbd_rest_reply *r, json_t **out);
/* A status token; absent and `fallback` not NULL -> fallback. */
int hbd_rest_field_status(const hbd_rest_request *req, hbd_rest_reply *r, json_t *obj,
                          const char *key, const char *fallback, char out[HBEAT_STATUS_MAX + 1]);
int hbd_rest_field_number(const hbd_rest_request *req, hbd_rest_reply *r, json_t *obj,
                          const char *key, double *out);
/* A number when the field is there and not null (*present 1); absent or
   null: *present 0. */
int hbd_rest_field_optional_number(const hbd_rest_request *req, hbd_rest_reply *r, json_t *obj,
                                   const char *key, double *out, int *present);
/* A JSON integer > 0. */
int hbd_rest_field_id(const hbd_rest_request *req, hbd_rest_reply *r, json_t *obj, const char *key,
                      int64_t *out);
/* A JSON boolean; absent -> `fallback`. */
int hbd_rest_field_bool(const hbd_rest_request *req, hbd_rest_reply *r, json_t *obj,
                        const char *key, int fallback, int *out);

/* Parses decimal digits only (no sign, no space) into [min, INT64_MAX];
   0 or -1. */
int hbd_rest_parse_int(const char *s, size_t len, int64_t min, int64_t *out);

/* Route handlers: the router has matched the path and method and parsed
   the id; each fills `r`. They call the engine's non-blocking *_begin
   calls, so a successful reply comes back with wait_durable set. */
void hbd_rest_heartbeat(hbd_engine *engine, const hbd_rest_request *req, int64_t run_id,
                        hbd_rest_reply *r);
void hbd_rest_update_status(hbd_engine *engine, const hbd_rest_request *req, int64_t run_id,
                            hbd_rest_reply *r);
/* The collection routes take no id (0). */
void hbd_rest_create_run(hbd_engine *engine, const hbd_rest_request *req, int64_t unused,
                         hbd_rest_reply *r);
void hbd_rest_list_runs(hbd_engine *engine, const hbd_rest_request *req, int64_t unused,
                        hbd_rest_reply *r);
void hbd_rest_get_run(hbd_engine *engine, const hbd_rest_request *req, int64_t run_id,
                      hbd_rest_reply *r);
void hbd_rest_set_status(hbd_engine *engine, const hbd_rest_request *req, int64_t run_id,
                         hbd_rest_reply *r);

/* Answers one complete request: the route, the method, the id, the body.
   `right`: what the caller's token grants (HBD_RIGHT_OPERATOR when
   authentication is off); a call it does not cover answers 403. `r` must have been initialised;
   release it after sending. Never blocks: when r->wait_durable is set, the caller holds the reply
   back until the engine reports r->ticket durable. */
void hbd_rest_route(hbd_engine *engine, const hbd_rest_request *req, hbd_right right,
                    hbd_rest_reply *r);
/* What a request is counted under in the metrics, by its path and method
   alone: the call of its route (a known path with another method counts
   under the path's first call), the status page, /metrics, or other. */
hbd_route hbd_rest_route_of(const char *method, const char *path);

#endif /* HBD_REST_INTERNAL_H */
