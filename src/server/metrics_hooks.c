/*
 * Route and result of a request, for metrics. For nng the front end holds
 * only packed protobuf (the codec decodes and re-encodes inside one call),
 * so the top-level fields are walked here by hand: a oneof shows as the
 * field number of the member that is set, and an error reply carries its
 * code as field 1 of field 1. This is far cheaper than unpacking again and
 * never allocates.
 */
#define _POSIX_C_SOURCE 200809L

#include "server/metrics_hooks.h"

#include <stdint.h>
#include <string.h>
#include <time.h>

#include "server/api_path.h"
#include "server/monotonic.h"

double hbd_metrics_now(void)
{
    return hbd_mono_now();
}

/* ---- protobuf wire walking ----------------------------------------------- */

typedef struct wire {
    const uint8_t *p, *end;
} wire;

/* 0, or -1 at the end of the bytes or on a malformed varint. */
static int varint(wire *w, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (w->p >= w->end)
            return -1;
        uint8_t byte = *w->p++;
        v |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* The next field: its number, wire type and, for length-delimited fields,
   its bytes in *sub. 1 for a field, 0 at a clean end, -1 when malformed. */
static int next_field(wire *w, uint32_t *number, wire *sub, uint64_t *value)
{
    if (w->p == w->end)
        return 0;
    uint64_t key;
    if (varint(w, &key) != 0)
        return -1;
    *number = (uint32_t)(key >> 3);
    if (*number == 0)
        return -1;
    size_t left;
    switch (key & 7) {
    case 0: /* varint */
        return varint(w, value) == 0 ? 1 : -1;
    case 1: /* 64-bit */
        left = (size_t)(w->end - w->p);
        if (left < 8)
            return -1;
        w->p += 8;
        return 1;
    case 2: { /* length-delimited */
        uint64_t n;
        if (varint(w, &n) != 0 || n > (uint64_t)(w->end - w->p))
            return -1;
        sub->p = w->p;
        sub->end = w->p + n;
        w->p += n;
        return 1;
    }
    case 5: /* 32-bit */
        left = (size_t)(w->end - w->p);
        if (left < 4)
            return -1;
        w->p += 4;
        return 1;
    default: /* groups: never in hbeat.v1 */
        return -1;
    }
}

/* Request and Reply both number their calls 10..15 in this order. */
static hbd_route call_route(uint32_t number)
{
    switch (number) {
    case 10:
        return HBD_ROUTE_HEARTBEAT;
    case 11:
        return HBD_ROUTE_UPDATE_STATUS;
    case 12:
        return HBD_ROUTE_CREATE_RUN;
    case 13:
        return HBD_ROUTE_GET_RUN;
    case 14:
        return HBD_ROUTE_LIST_RUNS;
    case 15:
        return HBD_ROUTE_SET_STATUS;
    default:
        return HBD_ROUTE_OTHER;
    }
}

hbd_route hbd_metrics_nng_route(const void *request, size_t len)
{
    if (request == NULL)
        return HBD_ROUTE_OTHER;
    wire w = {request, (const uint8_t *)request + len};
    hbd_route route = HBD_ROUTE_OTHER;
    uint32_t number;
    wire sub = {0};
    uint64_t value;
    int rc;
    /* The last member of a oneof on the wire is the one that counts. */
    while ((rc = next_field(&w, &number, &sub, &value)) == 1) {
        if (call_route(number) != HBD_ROUTE_OTHER)
            route = call_route(number);
    }
    return rc == 0 ? route : HBD_ROUTE_OTHER;
}

/* hbeat.v1.ErrorCode -> result. */
static hbd_result error_result(uint64_t code)
{
    switch (code) {
    case 1: /* INVALID_ARGUMENT */
    case 7: /* UNIMPLEMENTED: a call this server does not know */
        return HBD_RESULT_BAD_REQUEST;
    case 2:
        return HBD_RESULT_NOT_FOUND;
    case 3: /* UNAUTHENTICATED */
    case 4: /* PERMISSION_DENIED */
        return HBD_RESULT_UNAUTHORIZED;
    case 5:
        return HBD_RESULT_TOO_LARGE;
    default: /* INTERNAL, UNAVAILABLE, unspecified */
        return HBD_RESULT_SERVER_ERROR;
    }
}

hbd_result hbd_metrics_nng_result(const void *reply, size_t len)
{
    if (reply == NULL)
        return HBD_RESULT_SERVER_ERROR;
    wire w = {reply, (const uint8_t *)reply + len};
    uint32_t number;
    wire sub = {0};
    uint64_t value;
    int rc;
    hbd_result result = HBD_RESULT_SERVER_ERROR;
    while ((rc = next_field(&w, &number, &sub, &value)) == 1) {
        if (number == 1) {
            /* Error { code = 1; message = 2; }; a missing code is 0. */
            uint64_t code = 0;
            uint32_t n2;
            wire s2;
            uint64_t v2 = 0;
            int rc2;
            while ((rc2 = next_field(&sub, &n2, &s2, &v2)) == 1) {
                if (n2 == 1)
                    code = v2;
            }
            result = rc2 == 0 ? error_result(code) : HBD_RESULT_SERVER_ERROR;
        } else if (call_route(number) != HBD_ROUTE_OTHER) {
            result = HBD_RESULT_OK;
        }
    }
    return rc == 0 ? result : HBD_RESULT_SERVER_ERROR;
}

/* ---- HTTP -------------------------------------------------------------- */

hbd_route hbd_metrics_rest_route(const char *method, const char *path)
{
    if (path == NULL)
        return HBD_ROUTE_OTHER;
    if (strcmp(path, "/") == 0)
        return HBD_ROUTE_STATUS_PAGE;
    if (strcmp(path, "/metrics") == 0)
        return HBD_ROUTE_METRICS;
    const char *id;
    size_t id_len;
    switch (hbd_api_path_match(path, &id, &id_len)) {
    case HBD_API_HEARTBEAT:
        return HBD_ROUTE_HEARTBEAT;
    case HBD_API_UPDATE_STATUS:
        return HBD_ROUTE_UPDATE_STATUS;
    case HBD_API_RUNS:
        return method != NULL && strcmp(method, "POST") == 0 ? HBD_ROUTE_CREATE_RUN
                                                             : HBD_ROUTE_LIST_RUNS;
    case HBD_API_RUN:
        return HBD_ROUTE_GET_RUN;
    case HBD_API_RUN_STATUS:
        return HBD_ROUTE_SET_STATUS;
    case HBD_API_NONE:
        break;
    }
    return HBD_ROUTE_OTHER;
}

hbd_result hbd_metrics_http_result(unsigned int status)
{
    if (status >= 200 && status < 300)
        return HBD_RESULT_OK;
    switch (status) {
    case 401:
    case 403:
        return HBD_RESULT_UNAUTHORIZED;
    case 404:
        return HBD_RESULT_NOT_FOUND;
    case 413:
        return HBD_RESULT_TOO_LARGE;
    default:
        return status >= 400 && status < 500 ? HBD_RESULT_BAD_REQUEST : HBD_RESULT_SERVER_ERROR;
    }
}
