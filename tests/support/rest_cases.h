/*
 * Bad requests the REST front end must refuse, shared by the router's unit
 * test and the HTTP tests (in-process and against the real hbeatd). Each
 * is sent while run {id} is in status R with a beat behind it; each must
 * get `status`, a JSON error body of Jobmon's shape, and change no run.
 * Paths are relative to /api/v3 and use only characters that travel in a
 * URL unescaped, so every test sends the same bytes.
 */
#ifndef REST_TEST_CASES_H
#define REST_TEST_CASES_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct rest_case {
    const char *name;
    const char *method;
    const char *path; /* "{id}" stands for the run under test */
    const char *body; /* NULL: no body */
    size_t body_len;  /* 0: strlen(body) */
    unsigned int status;
    const char *allow;  /* Allow header a 405 must carry */
    int reaches_engine; /* 1 when the engine, not the front end, refuses it */
} rest_case;

#define HB       "/workflow_run/{id}/log_heartbeat"
#define US       "/workflow_run/{id}/update_status"
#define NUL_BODY "{\"status\": \"R\0\", \"next_report_increment\": 45.0}"

/* clang-format off */
static const rest_case rest_bad_cases[] = {
    /* Not JSON, or not one object. */
    {"empty body", "POST", HB, "", 0, 400, NULL, 0},
    {"no body", "POST", HB, NULL, 0, 400, NULL, 0},
    {"not json", "POST", HB, "status=R", 0, 400, NULL, 0},
    {"unterminated", "POST", HB, "{\"status\": \"R\", \"next_report_increment\": 45.0", 0, 400, NULL, 0},
    {"array", "POST", HB, "[\"R\", 45.0]", 0, 400, NULL, 0},
    {"bare string", "POST", HB, "\"R\"", 0, 400, NULL, 0},
    {"null", "POST", HB, "null", 0, 400, NULL, 0},
    {"trailing garbage", "POST", HB, "{\"status\": \"R\", \"next_report_increment\": 45.0} x", 0, 400, NULL, 0},
    {"two objects", "POST", HB, "{\"status\": \"R\", \"next_report_increment\": 45.0}{}", 0, 400, NULL, 0},
    {"duplicate key", "POST", HB, "{\"status\": \"R\", \"status\": \"E\", \"next_report_increment\": 45.0}", 0, 400, NULL, 0},
    {"single quotes", "POST", HB, "{'status': 'R', 'next_report_increment': 45.0}", 0, 400, NULL, 0},
    {"raw NUL in body", "POST", HB, NUL_BODY, sizeof NUL_BODY - 1, 400, NULL, 0},
    {"escaped NUL", "POST", HB, "{\"status\": \"R\\u0000\", \"next_report_increment\": 45.0}", 0, 400, NULL, 0},
    {"invalid utf-8", "POST", HB, "{\"status\": \"\xff\", \"next_report_increment\": 45.0}", 0, 400, NULL, 0},
    /* Wrong JSON types. */
    {"status number", "POST", HB, "{\"status\": 5, \"next_report_increment\": 45.0}", 0, 400, NULL, 0},
    {"status null", "POST", HB, "{\"status\": null, \"next_report_increment\": 45.0}", 0, 400, NULL, 0},
    {"status array", "POST", HB, "{\"status\": [\"R\"], \"next_report_increment\": 45.0}", 0, 400, NULL, 0},
    {"increment string", "POST", HB, "{\"status\": \"R\", \"next_report_increment\": \"x\"}", 0, 400, NULL, 0},
    {"increment numeric string", "POST", HB, "{\"status\": \"R\", \"next_report_increment\": \"45\"}", 0, 400, NULL, 0},
    {"increment bool", "POST", HB, "{\"status\": \"R\", \"next_report_increment\": true}", 0, 400, NULL, 0},
    {"increment null", "POST", HB, "{\"status\": \"R\", \"next_report_increment\": null}", 0, 400, NULL, 0},
    {"increment object", "POST", HB, "{\"status\": \"R\", \"next_report_increment\": {}}", 0, 400, NULL, 0},
    /* Missing fields. */
    {"empty object", "POST", HB, "{}", 0, 400, NULL, 0},
    {"no status", "POST", HB, "{\"next_report_increment\": 45.0}", 0, 400, NULL, 0},
    {"no increment", "POST", HB, "{\"status\": \"R\"}", 0, 400, NULL, 0},
    {"misspelt key", "POST", HB, "{\"Status\": \"R\", \"next_report_increment\": 45.0}", 0, 400, NULL, 0},
    /* Invalid status tokens. */
    {"status empty", "POST", HB, "{\"status\": \"\", \"next_report_increment\": 45.0}", 0, 400, NULL, 0},
    {"status space", "POST", HB, "{\"status\": \"R R\", \"next_report_increment\": 45.0}", 0, 400, NULL, 0},
    {"status too long", "POST", HB, "{\"status\": \"RRRRRRRRRRRRRRRR\", \"next_report_increment\": 45.0}", 0, 400, NULL, 0},
    {"status non-ascii", "POST", HB, "{\"status\": \"\\u00e9\", \"next_report_increment\": 45.0}", 0, 400, NULL, 0},
    {"status control", "POST", HB, "{\"status\": \"\\u0001\", \"next_report_increment\": 45.0}", 0, 400, NULL, 0},
    {"status newline", "POST", HB, "{\"status\": \"R\\n\", \"next_report_increment\": 45.0}", 0, 400, NULL, 0},
    /* Bad increments. */
    {"increment negative", "POST", HB, "{\"status\": \"R\", \"next_report_increment\": -1}", 0, 400, NULL, 0},
    {"increment tiny negative", "POST", HB, "{\"status\": \"R\", \"next_report_increment\": -0.001}", 0, 400, NULL, 0},
    {"increment NaN", "POST", HB, "{\"status\": \"R\", \"next_report_increment\": NaN}", 0, 400, NULL, 0},
    {"increment Infinity", "POST", HB, "{\"status\": \"R\", \"next_report_increment\": Infinity}", 0, 400, NULL, 0},
    {"increment -Infinity", "POST", HB, "{\"status\": \"R\", \"next_report_increment\": -Infinity}", 0, 400, NULL, 0},
    {"increment overflows double", "POST", HB, "{\"status\": \"R\", \"next_report_increment\": 1e400}", 0, 400, NULL, 0},
    {"increment overflows integer", "POST", HB, "{\"status\": \"R\", \"next_report_increment\": 99999999999999999999}", 0, 400, NULL, 0},
    {"increment over a year", "POST", HB, "{\"status\": \"R\", \"next_report_increment\": 31536001}", 0, 400, NULL, 0},
    {"increment absurd", "POST", HB, "{\"status\": \"R\", \"next_report_increment\": 1e300}", 0, 400, NULL, 0},
    {"increment hex", "POST", HB, "{\"status\": \"R\", \"next_report_increment\": 0x10}", 0, 400, NULL, 0},
    /* Bad ids in the path. */
    {"id word", "POST", "/workflow_run/abc/log_heartbeat", "{\"status\": \"R\", \"next_report_increment\": 45.0}", 0, 400, NULL, 0},
    {"id zero", "POST", "/workflow_run/0/log_heartbeat", "{\"status\": \"R\", \"next_report_increment\": 45.0}", 0, 400, NULL, 0},
    {"id negative", "POST", "/workflow_run/-1/log_heartbeat", "{\"status\": \"R\", \"next_report_increment\": 45.0}", 0, 400, NULL, 0},
    {"id plus", "POST", "/workflow_run/+1/log_heartbeat", "{\"status\": \"R\", \"next_report_increment\": 45.0}", 0, 400, NULL, 0},
    {"id suffix", "POST", "/workflow_run/{id}a/log_heartbeat", "{\"status\": \"R\", \"next_report_increment\": 45.0}", 0, 400, NULL, 0},
    {"id fraction", "POST", "/workflow_run/1.0/log_heartbeat", "{\"status\": \"R\", \"next_report_increment\": 45.0}", 0, 400, NULL, 0},
    {"id overflow", "POST", "/workflow_run/99999999999999999999/log_heartbeat", "{\"status\": \"R\", \"next_report_increment\": 45.0}", 0, 400, NULL, 0},
    {"id empty", "POST", "/workflow_run//log_heartbeat", "{\"status\": \"R\", \"next_report_increment\": 45.0}", 0, 400, NULL, 0},
    {"update id word", "PUT", "/workflow_run/x/update_status", "{\"status\": \"E\"}", 0, 400, NULL, 0},
    {"get id word", "GET", "/runs/x", NULL, 0, 400, NULL, 0},
    {"set id zero", "PUT", "/runs/0/status", "{\"status\": \"E\"}", 0, 400, NULL, 0},
    /* Unknown runs. */
    {"unknown run beat", "POST", "/workflow_run/999999/log_heartbeat", "{\"status\": \"R\", \"next_report_increment\": 45.0}", 0, 404, NULL, 1},
    {"unknown run update", "PUT", "/workflow_run/999999/update_status", "{\"status\": \"E\"}", 0, 404, NULL, 1},
    {"unknown run get", "GET", "/runs/999999", NULL, 0, 404, NULL, 1},
    {"unknown run set", "PUT", "/runs/999999/status", "{\"status\": \"E\"}", 0, 404, NULL, 1},
    /* update_status bodies. */
    {"update empty", "PUT", US, "", 0, 400, NULL, 0},
    {"update no status", "PUT", US, "{}", 0, 400, NULL, 0},
    {"update status number", "PUT", US, "{\"status\": 5}", 0, 400, NULL, 0},
    {"update status invalid", "PUT", US, "{\"status\": \"E E\"}", 0, 400, NULL, 0},
    {"update trailing", "PUT", US, "{\"status\": \"E\"},", 0, 400, NULL, 0},
    /* Unknown routes. */
    {"root", "GET", "/", NULL, 0, 404, NULL, 0},
    {"v2", "POST", "/../v2/workflow_run/{id}/log_heartbeat", "{}", 0, 404, NULL, 0},
    {"extra segment", "POST", HB "/x", "{\"status\": \"R\", \"next_report_increment\": 45.0}", 0, 404, NULL, 0},
    {"no verb", "POST", "/workflow_run/{id}", "{}", 0, 404, NULL, 0},
    {"wrong verb", "POST", "/workflow_run/{id}/log_heartbeats", "{}", 0, 404, NULL, 0},
    {"double slash", "GET", "//runs", NULL, 0, 404, NULL, 0},
    {"upper case", "GET", "/RUNS", NULL, 0, 404, NULL, 0},
    {"run extra", "GET", "/runs/{id}/x", NULL, 0, 404, NULL, 0},
    {"run status extra", "PUT", "/runs/{id}/status/x", "{\"status\": \"E\"}", 0, 404, NULL, 0},
    /* Wrong methods. */
    {"get heartbeat", "GET", HB, NULL, 0, 405, "POST", 0},
    {"put heartbeat", "PUT", HB, "{\"status\": \"R\", \"next_report_increment\": 45.0}", 0, 405, "POST", 0},
    {"delete heartbeat", "DELETE", HB, NULL, 0, 405, "POST", 0},
    {"post update", "POST", US, "{\"status\": \"E\"}", 0, 405, "PUT", 0},
    {"patch update", "PATCH", US, "{\"status\": \"E\"}", 0, 405, "PUT", 0},
    {"delete runs", "DELETE", "/runs", NULL, 0, 405, "GET, POST", 0},
    {"put runs", "PUT", "/runs", "{}", 0, 405, "GET, POST", 0},
    {"post run", "POST", "/runs/{id}", "{}", 0, 405, "GET", 0},
    {"delete run", "DELETE", "/runs/{id}", NULL, 0, 405, "GET", 0},
    {"get run status", "GET", "/runs/{id}/status", NULL, 0, 405, "PUT", 0},
    {"post run status", "POST", "/runs/{id}/status", "{\"status\": \"E\"}", 0, 405, "PUT", 0},
    /* Admin bodies and queries. */
    {"create empty", "POST", "/runs", "", 0, 400, NULL, 0},
    {"create no workflow", "POST", "/runs", "{\"status\": \"G\"}", 0, 400, NULL, 0},
    {"create workflow string", "POST", "/runs", "{\"workflow_id\": \"7\", \"status\": \"G\"}", 0, 400, NULL, 0},
    {"create workflow zero", "POST", "/runs", "{\"workflow_id\": 0, \"status\": \"G\"}", 0, 400, NULL, 0},
    {"create workflow negative", "POST", "/runs", "{\"workflow_id\": -7, \"status\": \"G\"}", 0, 400, NULL, 0},
    {"create workflow real", "POST", "/runs", "{\"workflow_id\": 7.5, \"status\": \"G\"}", 0, 400, NULL, 0},
    {"create status number", "POST", "/runs", "{\"workflow_id\": 7, \"status\": 1}", 0, 400, NULL, 0},
    {"create status invalid", "POST", "/runs", "{\"workflow_id\": 7, \"status\": \"G G\"}", 0, 400, NULL, 0},
    {"set no status", "PUT", "/runs/{id}/status", "{\"force\": true}", 0, 400, NULL, 0},
    {"set force string", "PUT", "/runs/{id}/status", "{\"status\": \"E\", \"force\": \"yes\"}", 0, 400, NULL, 0},
    {"set force number", "PUT", "/runs/{id}/status", "{\"status\": \"E\", \"force\": 1}", 0, 400, NULL, 0},
    {"set bad json", "PUT", "/runs/{id}/status", "{\"status\": \"E\"", 0, 400, NULL, 0},
    {"list limit zero", "GET", "/runs?limit=0", NULL, 0, 400, NULL, 0},
    {"list limit huge", "GET", "/runs?limit=1001", NULL, 0, 400, NULL, 0},
    {"list limit word", "GET", "/runs?limit=ten", NULL, 0, 400, NULL, 0},
    {"list after negative", "GET", "/runs?after_id=-1", NULL, 0, 400, NULL, 0},
    {"list after overflow", "GET", "/runs?after_id=99999999999999999999", NULL, 0, 400, NULL, 0},
    {"list status invalid", "GET", "/runs?status=R%20R", NULL, 0, 400, NULL, 0},
};
/* clang-format on */

#undef HB
#undef US
#undef NUL_BODY

#define REST_BAD_CASE_COUNT (sizeof rest_bad_cases / sizeof rest_bad_cases[0])

static inline size_t rest_case_body_len(const rest_case *c)
{
    return c->body == NULL ? 0 : c->body_len != 0 ? c->body_len : strlen(c->body);
}

/* The case's path with {id} replaced, after `prefix`. */
static inline void rest_case_path(const rest_case *c, const char *prefix, int64_t id, char *out,
                                  size_t cap)
{
    const char *at = strstr(c->path, "{id}");
    if (at == NULL)
        snprintf(out, cap, "%s%s", prefix, c->path);
    else
        snprintf(out, cap, "%s%.*s%lld%s", prefix, (int)(at - c->path), c->path, (long long)id,
                 at + 4);
}

static inline const char *rest_case_type(unsigned int status)
{
    switch (status) {
    case 400:
        return "InvalidUsage";
    case 404:
        return "NotFound";
    case 405:
        return "MethodNotAllowed";
    case 413:
        return "PayloadTooLarge";
    case 503:
        return "ServiceUnavailable";
    default:
        return "ServerError";
    }
}

#endif
