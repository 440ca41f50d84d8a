/*
 * The REST transport's reply handling: the input is the body a (hostile)
 * server sends back. Every parser of a 200 body runs on it (rest_json.c:
 * Jobmon's {"status": ...}, {"run": RUN} and a page of runs), and the
 * non-200 path (rest_error.c) quotes it for a range of HTTP statuses.
 *
 * The body is handed over in an exact-size heap buffer, as the transport
 * keeps it (not NUL-terminated), so that ASan sees a read past its end.
 * Checked: a success hands out only valid values; {"status": ...} is
 * accepted exactly when it is an object with that one field holding a
 * valid token; a page that fails is refused before the sink sees any run;
 * every error message is printable ASCII with the HTTP status kept.
 */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_support.h"
#include "hbeat/status.h"
#include "transports/rest/rest_internal.h"

#define ORIGIN "http://127.0.0.1:7780"
#define BASE   ORIGIN "/api/v3"

static void check_message(const hbeat_error *err, int rc)
{
    FUZZ_CHECK(err->code == rc, "err.code %d, returned %d", err->code, rc);
    FUZZ_CHECK(err->message[0] != '\0', "error %d without a message", rc);
    for (const char *p = err->message; *p != '\0'; p++)
        FUZZ_CHECK((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f,
                   "error message holds byte 0x%02x: %s", (unsigned char)*p, err->message);
}

static void check_run(const hbeat_run_info *run)
{
    FUZZ_CHECK(run->workflow_run_id > 0 && run->workflow_id >= 0, "a run with ids %lld/%lld",
               (long long)run->workflow_run_id, (long long)run->workflow_id);
    FUZZ_CHECK(hbeat_status_is_valid(run->status), "a run with an invalid status");
    FUZZ_CHECK(isfinite(run->deadline) && isfinite(run->last_heartbeat),
               "a run with a time that is not finite");
}

/* What Jobmon's contract accepts as a status reply, decided independently
   of rest_json.c. */
static int contract_status(const char *body, size_t len, char out[HBEAT_STATUS_MAX + 1])
{
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *v = json_object_get(j, "status");
    int ok = json_is_object(j) && json_object_size(j) == 1 && json_is_string(v) &&
             json_string_length(v) >= 1 && json_string_length(v) <= HBEAT_STATUS_MAX;
    for (size_t i = 0; ok && i < json_string_length(v); i++) {
        unsigned char c = (unsigned char)json_string_value(v)[i];
        ok = c >= 0x21 && c <= 0x7e;
    }
    if (ok)
        memcpy(out, json_string_value(v), json_string_length(v) + 1);
    json_decref(j);
    return ok;
}

/* The reason of Jobmon's error envelope {"error": {"exception_message":
   M, ...}} when M is short printable ASCII, decided independently of
   rest_reason.c: such a reason must be quoted whole. NULL otherwise. */
static char *contract_reason(const char *body, size_t len)
{
    json_t *j = json_loadb(body, len, 0, NULL);
    json_t *m = json_object_get(json_object_get(j, "error"), "exception_message");
    char *out = NULL;
    if (json_is_string(m) && json_string_length(m) >= 1 && json_string_length(m) <= 100) {
        const char *s = json_string_value(m);
        int ok = 1;
        for (size_t i = 0; ok && i < json_string_length(m); i++)
            ok = (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f;
        if (ok)
            out = strdup(s);
    }
    json_decref(j);
    return out;
}

typedef struct sink_state {
    size_t seen;
    size_t stop_after;
    int64_t last_id;
} sink_state;

static int sink(void *ctx, const hbeat_run_info *run)
{
    sink_state *st = ctx;
    check_run(run);
    st->seen++;
    st->last_id = run->workflow_run_id;
    return st->seen == st->stop_after;
}

static void slot_init(rest_slot *s, rest_gw *gw, char *url, rest_method method, const char *route,
                      char *body, size_t len)
{
    memset(s, 0, sizeof *s);
    s->gw = gw;
    s->url = url;
    strcpy(url, BASE);
    strcat(url, route);
    s->method = method;
    s->reply = body;
    s->reply_len = len;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet_logs();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *body = malloc(size ? size : 1);
    FUZZ_CHECK(body != NULL, "out of memory");
    if (size > 0)
        memcpy(body, data, size);

    rest_gw gw;
    memset(&gw, 0, sizeof gw);
    gw.base = (char *)BASE;
    gw.base_len = strlen(BASE);
    gw.path_off = strlen(ORIGIN);
    gw.max_reply = REST_DEFAULT_MAX_REPLY;
    char url[512];
    rest_slot s;

    /* Jobmon's heartbeat and update_status replies. */
    slot_init(&s, &gw, url, REST_POST, "/workflow_run/6/log_heartbeat?client_jobmon_version=0.1.0",
              body, size);
    hbeat_heartbeat_reply reply;
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbeat__rest_json_status_reply(&s, &reply, &err);
    char want[HBEAT_STATUS_MAX + 1];
    int ok = contract_status(body, size, want);
    FUZZ_CHECK((rc == 0) == ok, "status reply %s, the contract says %s",
               rc == 0 ? "accepted" : "refused", ok ? "accept" : "refuse");
    if (rc == 0)
        FUZZ_CHECK(strcmp(reply.status, want) == 0, "status %s, want %s", reply.status, want);
    else
        FUZZ_CHECK(rc == HBEAT_EPROTO && err.http_status == 200, "bad 200 body gave %d/%d", rc,
                   err.http_status);
    if (rc != 0)
        check_message(&err, rc);

    /* {"run": RUN} of create, get and set_status. */
    slot_init(&s, &gw, url, REST_GET, "/runs/6", body, size);
    hbeat_run_info run;
    err = (hbeat_error)HBEAT_ERROR_INIT;
    rc = hbeat__rest_json_run_reply(&s, &run, &err);
    if (rc == 0)
        check_run(&run);
    else
        check_message(&err, rc);

    /* A page of runs; the sink stops after a number of runs the input
       chooses, or never. */
    slot_init(&s, &gw, url, REST_GET, "/runs?after_id=0&limit=100", body, size);
    sink_state st = {0, size > 0 ? data[size - 1] % 4 : 0, 0};
    int64_t next = -1;
    int stopped = -1;
    err = (hbeat_error)HBEAT_ERROR_INIT;
    rc = hbeat__rest_json_runs_page(&s, sink, &st, &next, &stopped, &err);
    if (rc == 0) {
        FUZZ_CHECK(next >= 0, "next_after_id %lld accepted", (long long)next);
        FUZZ_CHECK(stopped == (st.stop_after != 0 && st.seen == st.stop_after),
                   "stopped %d after %zu runs (stop at %zu)", stopped, st.seen, st.stop_after);
    } else {
        check_message(&err, rc);
        FUZZ_CHECK(st.seen == 0, "a refused page passed %zu runs to the sink first", st.seen);
    }

    /* Error replies quote the body, or the reason its envelope gives. */
    char *reason = contract_reason(body, size);
    static const long statuses[] = {0,   100, 201, 204, 301, 400, 401, 403, 404, 405, 408,
                                    413, 423, 429, 500, 502, 503, 599, 600, 999, -1};
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
        slot_init(&s, &gw, url, (rest_method)(i % 4), "/workflow_run/6/update_status", body, size);
        err = (hbeat_error)HBEAT_ERROR_INIT;
        rc = hbeat__rest_http_error(&s, statuses[i], &err);
        FUZZ_CHECK(rc < 0, "HTTP %ld gave %d", statuses[i], rc);
        check_message(&err, rc);
        FUZZ_CHECK(err.http_status == (int)statuses[i], "http_status %d, want %ld", err.http_status,
                   statuses[i]);
        if (reason != NULL)
            FUZZ_CHECK(strstr(err.message, reason) != NULL, "reason \"%s\" not quoted whole: %s",
                       reason, err.message);
    }
    free(reason);

    free(body);
    return 0;
}
