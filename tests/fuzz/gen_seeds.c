/*
 * Writes the protobuf seed inputs of the nng fuzz targets, from the schema
 * in proto/hbeat/v1 (there is no protoc on the build machines, only
 * protoc-c). Rerun it when the schema grows, and commit what changed:
 *
 *   cmake --build build-fuzz --target fuzz_gen_seeds
 *   build-fuzz/tests/fuzz/fuzz_gen_seeds tests/fuzz/corpus
 *
 * It writes into <dir>/fuzz_server_nng_request/ and
 * <dir>/fuzz_client_nng_reply/, one file per case, named for the case.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hbeat/v1/hbeat.pb-c.h"

static const char *dir;

static void write_file(const char *sub, const char *name, const uint8_t *buf, size_t len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/%s", dir, sub, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* Requests are also appended, framed, to the session being recorded. */
static uint8_t session[1 << 16];
static size_t session_len;
static int recording;

/* The token the request helpers put in Request.token; NULL: none. */
static const char *token;

static void req_file(const char *name, const HbeatPb__Request *in)
{
    uint8_t buf[8192];
    HbeatPb__Request copy = *in;
    if (token != NULL && (copy.token == NULL || copy.token[0] == '\0'))
        copy.token = (char *)token;
    const HbeatPb__Request *r = &copy;
    size_t n = hbeat_pb__request__pack(r, buf);
    if (name != NULL)
        write_file("fuzz_server_nng_request", name, buf, n);
    if (recording && n <= 255 && session_len + 1 + n <= sizeof session) {
        session[session_len++] = (uint8_t)n;
        memcpy(session + session_len, buf, n);
        session_len += n;
    }
}

static void session_begin(void)
{
    session_len = 0;
    recording = 1;
}

static void session_end(const char *name)
{
    write_file("fuzz_server_nng_session", name, session, session_len);
    recording = 0;
}

static void rep_file(const char *name, const HbeatPb__Reply *r)
{
    static uint8_t buf[1 << 16];
    size_t n = hbeat_pb__reply__pack(r, buf);
    write_file("fuzz_client_nng_reply", name, buf, n);
}

/* ---- requests ---- */

static void heartbeat(const char *name, int64_t id, const char *status, double inc, uint64_t seq)
{
    HbeatPb__HeartbeatRequest hb = HBEAT_PB__HEARTBEAT_REQUEST__INIT;
    hb.workflow_run_id = id;
    hb.status = (char *)status;
    hb.next_report_increment = inc;
    hb.sequence = seq;
    HbeatPb__Request r = HBEAT_PB__REQUEST__INIT;
    r.call_case = HBEAT_PB__REQUEST__CALL_HEARTBEAT;
    r.heartbeat = &hb;
    req_file(name, &r);
}

static void update_status(const char *name, int64_t id, const char *status)
{
    HbeatPb__UpdateStatusRequest us = HBEAT_PB__UPDATE_STATUS_REQUEST__INIT;
    us.workflow_run_id = id;
    us.status = (char *)status;
    HbeatPb__Request r = HBEAT_PB__REQUEST__INIT;
    r.call_case = HBEAT_PB__REQUEST__CALL_UPDATE_STATUS;
    r.update_status = &us;
    req_file(name, &r);
}

static void create_run(const char *name, int64_t wf, const char *status)
{
    HbeatPb__CreateRunRequest cr = HBEAT_PB__CREATE_RUN_REQUEST__INIT;
    cr.workflow_id = wf;
    cr.status = (char *)status;
    HbeatPb__Request r = HBEAT_PB__REQUEST__INIT;
    r.call_case = HBEAT_PB__REQUEST__CALL_CREATE_RUN;
    r.create_run = &cr;
    req_file(name, &r);
}

/* A create_run that sets the run's first deadline. */
static void create_run_within(const char *name, int64_t wf, const char *status, double inc)
{
    HbeatPb__CreateRunRequest cr = HBEAT_PB__CREATE_RUN_REQUEST__INIT;
    cr.workflow_id = wf;
    cr.status = (char *)status;
    cr.first_deadline_case = HBEAT_PB__CREATE_RUN_REQUEST__FIRST_DEADLINE_NEXT_REPORT_INCREMENT;
    cr.next_report_increment = inc;
    HbeatPb__Request r = HBEAT_PB__REQUEST__INIT;
    r.call_case = HBEAT_PB__REQUEST__CALL_CREATE_RUN;
    r.create_run = &cr;
    req_file(name, &r);
}

static void get_run(const char *name, int64_t id)
{
    HbeatPb__GetRunRequest gr = HBEAT_PB__GET_RUN_REQUEST__INIT;
    gr.workflow_run_id = id;
    HbeatPb__Request r = HBEAT_PB__REQUEST__INIT;
    r.call_case = HBEAT_PB__REQUEST__CALL_GET_RUN;
    r.get_run = &gr;
    req_file(name, &r);
}

static void list_runs(const char *name, const char *status, int64_t after, uint32_t limit)
{
    HbeatPb__ListRunsRequest lr = HBEAT_PB__LIST_RUNS_REQUEST__INIT;
    lr.status = (char *)status;
    lr.after_id = after;
    lr.limit = limit;
    HbeatPb__Request r = HBEAT_PB__REQUEST__INIT;
    r.call_case = HBEAT_PB__REQUEST__CALL_LIST_RUNS;
    r.list_runs = &lr;
    req_file(name, &r);
}

static void set_status(const char *name, int64_t id, const char *status, int force)
{
    HbeatPb__SetStatusRequest ss = HBEAT_PB__SET_STATUS_REQUEST__INIT;
    ss.workflow_run_id = id;
    ss.status = (char *)status;
    ss.force = force;
    HbeatPb__Request r = HBEAT_PB__REQUEST__INIT;
    r.call_case = HBEAT_PB__REQUEST__CALL_SET_STATUS;
    r.set_status = &ss;
    req_file(name, &r);
}

static void requests(void)
{
    session_begin();
    /* The seeded engine (server_model.h): run i in "GLBIORDSECHTA"[i-1]. */
    heartbeat("hb_running", 6, "R", 45.0, 1);
    heartbeat("hb_launched_to_running", 5, "R", 30.0, 2);
    heartbeat("hb_invalid_transition", 1, "R", 45.0, 3);
    heartbeat("hb_linking_untimely", 2, "L", 10.0, 4);
    heartbeat("hb_zero_increment", 6, "R", 0.0, 5);
    heartbeat("hb_max_increment", 6, "R", 365.0 * 24 * 3600, 6);
    heartbeat("hb_over_max_increment", 6, "R", 365.0 * 24 * 3600 + 1, 7);
    heartbeat("hb_negative_increment", 6, "R", -1.0, 8);
    heartbeat("hb_nan_increment", 6, "R", NAN, 9);
    heartbeat("hb_inf_increment", 6, "R", INFINITY, 10);
    heartbeat("hb_unknown_run", 999, "R", 45.0, 11);
    heartbeat("hb_run_zero", 0, "R", 45.0, 12);
    heartbeat("hb_run_negative", -6, "R", 45.0, 13);
    heartbeat("hb_empty_status", 6, "", 45.0, 14);
    heartbeat("hb_unknown_status", 6, "X", 45.0, 15);
    heartbeat("hb_long_status", 6, "RRRRRRRRRRRRRRRRRRRRRRRRRRRRRRR", 45.0, 16);
    heartbeat("hb_control_status", 6, "R\n\x1b[31m", 45.0, 17);
    heartbeat("hb_utf8_status", 6, "\xc3\xa9", 45.0, 18);
    heartbeat("hb_max_sequence", 6, "R", 45.0, UINT64_MAX);
    update_status("us_running_done", 6, "D");
    update_status("us_invalid", 6, "G");
    update_status("us_untimely", 2, "L");
    update_status("us_unknown_run", 999, "D");
    update_status("us_bad_status", 6, "done");
    create_run("cr_default", 7, "");
    create_run("cr_running", 7, "R");
    create_run("cr_zero_workflow", 0, "");
    create_run("cr_negative_workflow", -7, "G");
    create_run("cr_bad_status", 7, "Q");
    create_run_within("cr_first_deadline", 7, "L", 93.0);
    create_run_within("cr_first_deadline_zero", 7, "L", 0.0);
    create_run_within("cr_first_deadline_negative", 7, "L", -1.0);
    create_run_within("cr_first_deadline_nan", 7, "R", NAN);
    create_run_within("cr_first_deadline_over_max", 7, "R", 1e9);
    get_run("gr_running", 6);
    get_run("gr_last", 13);
    get_run("gr_unknown", 999);
    get_run("gr_zero", 0);
    list_runs("lr_default", "", 0, 0);
    list_runs("lr_running", "R", 0, 0);
    list_runs("lr_page", "", 3, 2);
    list_runs("lr_one", "", 0, 1);
    list_runs("lr_huge_limit", "", 0, 5000);
    list_runs("lr_after_last", "", 13, 0);
    list_runs("lr_negative_after", "", -1, 0);
    list_runs("lr_bad_status", "bad", 0, 0);
    set_status("ss_running_cold", 6, "C", 0);
    set_status("ss_invalid", 1, "D", 0);
    set_status("ss_forced", 1, "D", 1);
    set_status("ss_untimely", 6, "R", 0);
    set_status("ss_unknown_run", 999, "C", 1);

    /* A request with a token, and one without a call. */
    HbeatPb__HeartbeatRequest hb = HBEAT_PB__HEARTBEAT_REQUEST__INIT;
    hb.workflow_run_id = 6;
    hb.status = "R";
    hb.next_report_increment = 45.0;
    HbeatPb__Request r = HBEAT_PB__REQUEST__INIT;
    r.token = "s3cr3t-token";
    r.call_case = HBEAT_PB__REQUEST__CALL_HEARTBEAT;
    r.heartbeat = &hb;
    req_file("hb_bad_token", &r);
    HbeatPb__Request none = HBEAT_PB__REQUEST__INIT;
    none.token = "s3cr3t-token";
    req_file("no_call", &none);

    /* A call from a newer client: field 16, a message of two bytes. */
    static const uint8_t unknown[] = {0x82, 0x01, 0x02, 0x08, 0x01};
    write_file("fuzz_server_nng_request", "unknown_call", unknown, sizeof unknown);
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    write_file("fuzz_server_nng_request", "garbage", garbage, sizeof garbage);
    /* A heartbeat cut short in its status string. */
    static const uint8_t cut[] = {0x52, 0x08, 0x08, 0x06, 0x12, 0x05, 'R'};
    write_file("fuzz_server_nng_request", "truncated", cut, sizeof cut);
    session_end("every_request_seed");

    /* The tokens of the fuzz targets' token table (nng_model.h): each
       right on a client call and on an admin call. */
    token = "operator-token-0123456789";
    heartbeat("auth_operator_heartbeat", 6, "R", 45.0, 1);
    set_status("auth_operator_set_status", 6, "C", 0);
    list_runs("auth_operator_list", "", 0, 0);
    token = "client-token-0123456789";
    heartbeat("auth_client_heartbeat", 6, "R", 45.0, 1);
    update_status("auth_client_update_status", 6, "D");
    get_run("auth_client_get_run", 6);
    create_run("auth_client_create_run", 7, "");
    HbeatPb__Request bare = HBEAT_PB__REQUEST__INIT;
    req_file("auth_client_no_call", &bare);
    token = "client-token-012345678";
    heartbeat("auth_short_token", 6, "R", 45.0, 1);
    token = NULL;
}

/* Sessions: sequences that only make sense against one engine. */
static void sessions(void)
{
    /* Run 1 (G) through Jobmon's whole life, with beats in between. */
    session_begin();
    update_status(NULL, 1, "L");
    heartbeat(NULL, 1, "L", 10.0, 1);
    update_status(NULL, 1, "B");
    update_status(NULL, 1, "I");
    update_status(NULL, 1, "O");
    heartbeat(NULL, 1, "R", 45.0, 2);
    heartbeat(NULL, 1, "R", 45.0, 3);
    update_status(NULL, 1, "C");
    heartbeat(NULL, 1, "R", 45.0, 4);
    update_status(NULL, 1, "T");
    get_run(NULL, 1);
    list_runs(NULL, "T", 0, 0);
    session_end("lifecycle");

    /* Enough runs to grow the run index and to page through. */
    session_begin();
    for (int i = 1; i <= 300; i++)
        create_run(NULL, i, i % 3 == 0 ? "R" : "");
    heartbeat(NULL, 250, "R", 45.0, 1);
    set_status(NULL, 251, "E", 1);
    list_runs(NULL, "", 0, 7);
    list_runs(NULL, "", 7, 7);
    list_runs(NULL, "R", 100, 50);
    list_runs(NULL, "", 0, 1000);
    get_run(NULL, 313);
    get_run(NULL, 314);
    session_end("many_runs");

    /* An operator steering runs, forced and not, then a client trying. */
    session_begin();
    set_status(NULL, 6, "H", 0);
    set_status(NULL, 6, "T", 0);
    set_status(NULL, 6, "R", 0);
    set_status(NULL, 6, "R", 1);
    heartbeat(NULL, 6, "R", 0.0, 1);
    update_status(NULL, 6, "D");
    create_run(NULL, 7, "L");
    heartbeat(NULL, 14, "A", 1.0, 2);
    update_status(NULL, 14, "A");
    token = "client-token-0123456789";
    heartbeat(NULL, 6, "R", 1.0, 3);
    set_status(NULL, 6, "E", 1);
    token = "operator-token-0123456789";
    set_status(NULL, 6, "E", 1);
    token = NULL;
    session_end("operator");
}

/* ---- replies ---- */

static void run_info(HbeatPb__RunInfo *ri, int64_t id, int64_t wf, const char *status,
                     double deadline)
{
    hbeat_pb__run_info__init(ri);
    ri->workflow_run_id = id;
    ri->workflow_id = wf;
    ri->status = (char *)status;
    ri->deadline = deadline;
    ri->last_heartbeat = deadline > 0 ? deadline - 45.0 : 0;
    ri->beats = deadline > 0 ? 3 : 0;
}

static void beat_reply(const char *name, const char *status, uint64_t seq)
{
    HbeatPb__HeartbeatReply hb = HBEAT_PB__HEARTBEAT_REPLY__INIT;
    hb.status = (char *)status;
    hb.sequence = seq;
    hb.deadline = 1764280045.25;
    HbeatPb__Reply r = HBEAT_PB__REPLY__INIT;
    r.result_case = HBEAT_PB__REPLY__RESULT_HEARTBEAT;
    r.heartbeat = &hb;
    rep_file(name, &r);
}

static void status_reply(const char *name, const char *status)
{
    HbeatPb__UpdateStatusReply us = HBEAT_PB__UPDATE_STATUS_REPLY__INIT;
    us.status = (char *)status;
    HbeatPb__Reply r = HBEAT_PB__REPLY__INIT;
    r.result_case = HBEAT_PB__REPLY__RESULT_UPDATE_STATUS;
    r.update_status = &us;
    rep_file(name, &r);
}

/* create_run, get_run and set_status all answer with one run. */
static void run_reply(const char *name, HbeatPb__Reply__ResultCase c, HbeatPb__RunInfo *ri)
{
    HbeatPb__CreateRunReply cr = HBEAT_PB__CREATE_RUN_REPLY__INIT;
    HbeatPb__GetRunReply gr = HBEAT_PB__GET_RUN_REPLY__INIT;
    HbeatPb__SetStatusReply ss = HBEAT_PB__SET_STATUS_REPLY__INIT;
    HbeatPb__Reply r = HBEAT_PB__REPLY__INIT;
    r.result_case = c;
    if (c == HBEAT_PB__REPLY__RESULT_CREATE_RUN) {
        cr.run = ri;
        r.create_run = &cr;
    } else if (c == HBEAT_PB__REPLY__RESULT_GET_RUN) {
        gr.run = ri;
        r.get_run = &gr;
    } else {
        ss.run = ri;
        r.set_status = &ss;
    }
    rep_file(name, &r);
}

static void page(const char *name, const int64_t *ids, const char *statuses, size_t n, int64_t next)
{
    HbeatPb__RunInfo infos[128];
    HbeatPb__RunInfo *ptrs[128];
    char st[128][2];
    for (size_t i = 0; i < n; i++) {
        st[i][0] = statuses[i % strlen(statuses)];
        st[i][1] = '\0';
        run_info(&infos[i], ids[i], 100 + ids[i], st[i], 1764280000.0 + (double)i);
        ptrs[i] = &infos[i];
    }
    HbeatPb__ListRunsReply lr = HBEAT_PB__LIST_RUNS_REPLY__INIT;
    lr.n_runs = n;
    lr.runs = ptrs;
    lr.next_after_id = next;
    HbeatPb__Reply r = HBEAT_PB__REPLY__INIT;
    r.result_case = HBEAT_PB__REPLY__RESULT_LIST_RUNS;
    r.list_runs = &lr;
    rep_file(name, &r);
}

static void error_reply(const char *name, int code, const char *message)
{
    HbeatPb__Error e = HBEAT_PB__ERROR__INIT;
    e.code = (HbeatPb__ErrorCode)code;
    e.message = (char *)message;
    HbeatPb__Reply r = HBEAT_PB__REPLY__INIT;
    r.result_case = HBEAT_PB__REPLY__RESULT_ERROR;
    r.error = &e;
    rep_file(name, &r);
}

static void replies(void)
{
    /* The gateway's requests carry sequence 0 (hbeat_gateway_log_heartbeat). */
    beat_reply("hb_running", "R", 0);
    beat_reply("hb_cold_resume", "C", 0);
    beat_reply("hb_stale_sequence", "R", 5);
    beat_reply("hb_empty_status", "", 0);
    beat_reply("hb_long_status", "RRRRRRRRRRRRRRRR", 0);
    beat_reply("hb_control_status", "R\n", 0);
    status_reply("us_done", "D");
    status_reply("us_space", "R D");

    HbeatPb__RunInfo ri;
    run_info(&ri, 6, 7, "R", 1764280045.25);
    run_reply("run_create", HBEAT_PB__REPLY__RESULT_CREATE_RUN, &ri);
    run_reply("run_get", HBEAT_PB__REPLY__RESULT_GET_RUN, &ri);
    run_reply("run_set_status", HBEAT_PB__REPLY__RESULT_SET_STATUS, &ri);
    run_info(&ri, 6, 7, "R", NAN);
    run_reply("run_nan_deadline", HBEAT_PB__REPLY__RESULT_GET_RUN, &ri);
    run_info(&ri, 6, 7, "R", -5.0);
    run_reply("run_negative_deadline", HBEAT_PB__REPLY__RESULT_GET_RUN, &ri);
    run_info(&ri, 0, 7, "R", 0);
    run_reply("run_zero_id", HBEAT_PB__REPLY__RESULT_GET_RUN, &ri);
    run_info(&ri, 9, 7, "R", 0);
    run_reply("run_other_id", HBEAT_PB__REPLY__RESULT_GET_RUN, &ri);
    run_info(&ri, 14, 8, "G", 0);
    run_reply("run_other_workflow", HBEAT_PB__REPLY__RESULT_CREATE_RUN, &ri);
    HbeatPb__GetRunReply bare = HBEAT_PB__GET_RUN_REPLY__INIT;
    HbeatPb__Reply r = HBEAT_PB__REPLY__INIT;
    r.result_case = HBEAT_PB__REPLY__RESULT_GET_RUN;
    r.get_run = &bare;
    rep_file("run_missing", &r);

    static const int64_t asc[] = {1, 2, 3};
    static const int64_t desc[] = {3, 2, 1};
    static const int64_t repeat[] = {4, 4};
    page("list_last_page", asc, "GLR", 3, 0);
    page("list_more_pages", asc, "R", 3, 3);
    page("list_descending", desc, "R", 3, 0);
    page("list_repeated", repeat, "R", 2, 0);
    page("list_empty_but_more", asc, "R", 0, 5);
    page("list_not_advancing", asc, "R", 3, 1);
    int64_t many[128];
    for (int i = 0; i < 128; i++)
        many[i] = i + 1;
    page("list_spills_arena", many, "GLBIORDSECHTA", 128, 0);

    error_reply("err_invalid", 1, "workflow_run_id must be > 0 (got 0)");
    error_reply("err_not_found", 2, "no workflow run 999");
    error_reply("err_unauthenticated", 3, "no token");
    error_reply("err_forbidden", 4, "not yours");
    error_reply("err_too_large", 5, "request of 70000 bytes exceeds the limit of 65536");
    error_reply("err_internal", 6, "store failed");
    error_reply("err_unimplemented", 7, "unknown call (field 16)");
    error_reply("err_unavailable", 8, "shutting down");
    error_reply("err_unspecified", 0, "");
    error_reply("err_future_code", 99, "from a newer server");
    error_reply("err_forged_log_line", 2, "no run\n2025-01-01 hbeat ERROR forged\r\x1b[2J");

    HbeatPb__Reply empty = HBEAT_PB__REPLY__INIT;
    rep_file("nothing", &empty);
    static const uint8_t unknown[] = {0x82, 0x06, 0x02, 0x08, 0x01};
    write_file("fuzz_client_nng_reply", "unknown_result", unknown, sizeof unknown);
    static const uint8_t garbage[] = {0x52, 0xff, 0xff, 0xff, 0xff, 0x0f};
    write_file("fuzz_client_nng_reply", "garbage", garbage, sizeof garbage);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    dir = argv[1];
    requests();
    sessions();
    replies();
    return 0;
}
