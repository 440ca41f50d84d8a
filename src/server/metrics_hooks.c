/*
 * Route and result of an HTTP request, for metrics, from its method, path
 * and status; the clock for latencies. (The nng codec reports the route
 * and result of what it served itself: nng_codec.h.)
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
