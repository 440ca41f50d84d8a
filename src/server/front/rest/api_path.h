/*
 * Which API route a request path names, by path alone. The REST router
 * (which then checks the method and the id) and the metrics hooks (which
 * label the request) both ask this, so the two cannot read a path
 * differently. Plain strings only: no libmicrohttpd or jansson, so
 * hbd_metrics can hold it without the REST front end.
 */
#ifndef HBD_API_PATH_H
#define HBD_API_PATH_H

#include <stddef.h>

/* Every route lives under this prefix (Jobmon's v3 API). */
#define HBD_REST_BASE "/api/v3"

typedef enum hbd_api_path {
    HBD_API_HEARTBEAT,     /* workflow_run/{id}/log_heartbeat */
    HBD_API_UPDATE_STATUS, /* workflow_run/{id}/update_status */
    HBD_API_RUNS,          /* runs */
    HBD_API_RUN,           /* runs/{id} */
    HBD_API_RUN_STATUS,    /* runs/{id}/status */
    HBD_API_NONE           /* anything else, NULL included */
} hbd_api_path;

/* The route `path` (without its query string) names. For a route with an
   id, *id and *id_len get that segment as it stands, unchecked (it may be
   empty or not a number); otherwise they are left alone. */
hbd_api_path hbd_api_path_match(const char *path, const char **id, size_t *id_len);

#endif /* HBD_API_PATH_H */
