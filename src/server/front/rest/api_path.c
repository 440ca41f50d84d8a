/*
 * Paths are read segment by segment after HBD_REST_BASE "/": at most three
 * segments, each compared whole, so "runs/" (an empty id) is runs/{id} and
 * "runs/1/status/x" is no route at all.
 */
#include "api_path.h"

#include <string.h>

typedef struct segment {
    const char *p;
    size_t len;
} segment;

static int seg_is(segment s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && memcmp(s.p, lit, n) == 0;
}

/* Splits `rest` at '/' into at most `max` segments; -1 when there are more. */
static int split(const char *rest, segment *segs, int max)
{
    int n = 0;
    const char *p = rest;
    for (;;) {
        if (n == max)
            return -1;
        const char *slash = strchr(p, '/');
        size_t len = slash != NULL ? (size_t)(slash - p) : strlen(p);
        segs[n].p = p;
        segs[n].len = len;
        n++;
        if (slash == NULL)
            return n;
        p = slash + 1;
    }
}

hbd_api_path hbd_api_path_match(const char *path, const char **id, size_t *id_len)
{
    static const char base[] = HBD_REST_BASE "/";
    if (path == NULL || strncmp(path, base, sizeof base - 1) != 0)
        return HBD_API_NONE;
    segment s[3];
    int n = split(path + sizeof base - 1, s, 3);
    if (n < 1)
        return HBD_API_NONE;
    if (n == 3 && seg_is(s[0], "workflow_run")) {
        *id = s[1].p;
        *id_len = s[1].len;
        if (seg_is(s[2], "log_heartbeat"))
            return HBD_API_HEARTBEAT;
        if (seg_is(s[2], "update_status"))
            return HBD_API_UPDATE_STATUS;
        return HBD_API_NONE;
    }
    if (!seg_is(s[0], "runs"))
        return HBD_API_NONE;
    if (n == 1)
        return HBD_API_RUNS;
    *id = s[1].p;
    *id_len = s[1].len;
    if (n == 2)
        return HBD_API_RUN;
    return seg_is(s[2], "status") ? HBD_API_RUN_STATUS : HBD_API_NONE;
}
