/*
 * The nng codec against the model: what hbd_codec_serve() must answer to
 * each call, and which runs it must leave behind (server_model.h).
 */
#include "nng_model.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_support.h"
#include "nng_codec.h"

typedef struct out_buf {
    uint8_t *buf;
    size_t len;
    int calls;
} out_buf;

/* An exact-size heap buffer, so that ASan sees a write past the packed
   size. */
static uint8_t *reserve(void *arg, size_t len)
{
    out_buf *o = arg;
    o->calls++;
    free(o->buf);
    o->buf = malloc(len ? len : 1);
    o->len = len;
    return o->buf;
}

static void check_text(const char *s, const char *what)
{
    FUZZ_CHECK(s != NULL, "%s is NULL", what);
    FUZZ_CHECK(fuzz_utf8_valid(s, strlen(s)), "%s is not UTF-8", what);
}

static void check_info_utf8(const HbeatPb__RunInfo *ri)
{
    if (ri != NULL)
        check_text(ri->status, "a RunInfo status");
}

/* Every string in the reply is UTF-8 (proto3 requires it of `string`). */
static void check_reply_text(const HbeatPb__Reply *r)
{
    switch (r->result_case) {
    case HBEAT_PB__REPLY__RESULT_ERROR:
        check_text(r->error->message, "the error message");
        break;
    case HBEAT_PB__REPLY__RESULT_HEARTBEAT:
        check_text(r->heartbeat->status, "the heartbeat status");
        break;
    case HBEAT_PB__REPLY__RESULT_UPDATE_STATUS:
        check_text(r->update_status->status, "the update_status status");
        break;
    case HBEAT_PB__REPLY__RESULT_CREATE_RUN:
        check_info_utf8(r->create_run->run);
        break;
    case HBEAT_PB__REPLY__RESULT_GET_RUN:
        check_info_utf8(r->get_run->run);
        break;
    case HBEAT_PB__REPLY__RESULT_SET_STATUS:
        check_info_utf8(r->set_status->run);
        break;
    case HBEAT_PB__REPLY__RESULT_LIST_RUNS:
        for (size_t i = 0; i < r->list_runs->n_runs; i++)
            check_info_utf8(r->list_runs->runs[i]);
        break;
    default:
        FUZZ_CHECK(0, "the reply carries no result (case %d)", (int)r->result_case);
    }
}

void fz_nng_expect_error(const HbeatPb__Reply *r, HbeatPb__ErrorCode code)
{
    FUZZ_CHECK(r->result_case == HBEAT_PB__REPLY__RESULT_ERROR,
               "expected error %d, got result case %d", (int)code, (int)r->result_case);
    FUZZ_CHECK(r->error->code == code, "expected error %d, got %d: %s", (int)code,
               (int)r->error->code, r->error->message);
    FUZZ_CHECK(r->error->message[0] != '\0', "error %d without a message", (int)code);
}

static void expect_case(const HbeatPb__Reply *r, HbeatPb__Reply__ResultCase c)
{
    FUZZ_CHECK(r->result_case == c, "expected result case %d, got %d%s%s", (int)c,
               (int)r->result_case, r->result_case == HBEAT_PB__REPLY__RESULT_ERROR ? ": " : "",
               r->result_case == HBEAT_PB__REPLY__RESULT_ERROR ? r->error->message : "");
}

static void expect_info(const HbeatPb__RunInfo *ri, const hbd_run *run)
{
    FUZZ_CHECK(ri != NULL, "a reply without its run");
    FUZZ_CHECK(
        ri->workflow_run_id == run->id && ri->workflow_id == run->workflow_id &&
            strcmp(ri->status, run->status) == 0 && ri->deadline == run->deadline &&
            ri->last_heartbeat == run->last_heartbeat && ri->beats == run->beats,
        "RunInfo %lld/%lld/%s/%.17g/%.17g/%llu differs from run %lld/%lld/%s/%.17g/%.17g/%llu",
        (long long)ri->workflow_run_id, (long long)ri->workflow_id, ri->status, ri->deadline,
        ri->last_heartbeat, (unsigned long long)ri->beats, (long long)run->id,
        (long long)run->workflow_id, run->status, run->deadline, run->last_heartbeat,
        (unsigned long long)run->beats);
}

static int valid_increment(double inc)
{
    return isfinite(inc) && inc >= 0 && inc <= HBD_MAX_INCREMENT;
}

static void check_heartbeat(const HbeatPb__HeartbeatRequest *hb, const HbeatPb__Reply *r,
                            const fz_snapshot *before, const fz_snapshot *after)
{
    if (hb->workflow_run_id <= 0 || !fz_status_known(hb->status) ||
        !valid_increment(hb->next_report_increment)) {
        fz_nng_expect_error(r, HBEAT_PB__ERROR_CODE__ERROR_CODE_INVALID_ARGUMENT);
        fz_expect_state(before, after, NULL, "the request");
        return;
    }
    const hbd_run *old = fz_snapshot_find(before, hb->workflow_run_id);
    if (old == NULL) {
        fz_nng_expect_error(r, HBEAT_PB__ERROR_CODE__ERROR_CODE_NOT_FOUND);
        fz_expect_state(before, after, NULL, "the request");
        return;
    }
    expect_case(r, HBEAT_PB__REPLY__RESULT_HEARTBEAT);
    hbd_run want = *old;
    const hbd_run *changed = NULL;
    if (fz_transition_of(old->status, hb->status) != FZ_INVALID) {
        /* A valid or untimely beat moves the deadline; an invalid one
           changes nothing, not even the deadline. */
        memcpy(want.status, hb->status, 2);
        want.deadline = FZ_NOW + hb->next_report_increment;
        want.last_heartbeat = FZ_NOW;
        want.beats++;
        changed = &want;
    }
    FUZZ_CHECK(
        strcmp(r->heartbeat->status, want.status) == 0 && r->heartbeat->deadline == want.deadline,
        "beat %s on run %lld in %s: reply %s/%.17g, want %s/%.17g", hb->status, (long long)old->id,
        old->status, r->heartbeat->status, r->heartbeat->deadline, want.status, want.deadline);
    FUZZ_CHECK(r->heartbeat->sequence == hb->sequence, "sequence %llu echoed as %llu",
               (unsigned long long)hb->sequence, (unsigned long long)r->heartbeat->sequence);
    fz_expect_state(before, after, changed, "the request");
}

static void check_update_status(const HbeatPb__UpdateStatusRequest *us, const HbeatPb__Reply *r,
                                const fz_snapshot *before, const fz_snapshot *after)
{
    if (us->workflow_run_id <= 0 || !fz_status_known(us->status)) {
        fz_nng_expect_error(r, HBEAT_PB__ERROR_CODE__ERROR_CODE_INVALID_ARGUMENT);
        fz_expect_state(before, after, NULL, "the request");
        return;
    }
    const hbd_run *old = fz_snapshot_find(before, us->workflow_run_id);
    if (old == NULL) {
        fz_nng_expect_error(r, HBEAT_PB__ERROR_CODE__ERROR_CODE_NOT_FOUND);
        fz_expect_state(before, after, NULL, "the request");
        return;
    }
    expect_case(r, HBEAT_PB__REPLY__RESULT_UPDATE_STATUS);
    hbd_run want = *old;
    /* The deadline is untouched either way. */
    if (fz_transition_of(old->status, us->status) == FZ_VALID)
        memcpy(want.status, us->status, 2);
    FUZZ_CHECK(strcmp(r->update_status->status, want.status) == 0,
               "update_status %s on run in %s answered %s, want %s", us->status, old->status,
               r->update_status->status, want.status);
    fz_expect_state(before, after, &want, "the request");
}

static void check_create_run(const HbeatPb__CreateRunRequest *cr, const HbeatPb__Reply *r,
                             const fz_snapshot *before, const fz_snapshot *after)
{
    int has_status = cr->status != NULL && cr->status[0] != '\0';
    int has_inc = cr->first_deadline_case ==
                  HBEAT_PB__CREATE_RUN_REQUEST__FIRST_DEADLINE_NEXT_REPORT_INCREMENT;
    double inc = has_inc ? cr->next_report_increment : 0;
    if (cr->workflow_id <= 0 || (has_status && !fz_status_known(cr->status)) ||
        (has_inc && !(isfinite(inc) && inc >= 0 && inc <= HBD_MAX_INCREMENT))) {
        fz_nng_expect_error(r, HBEAT_PB__ERROR_CODE__ERROR_CODE_INVALID_ARGUMENT);
        fz_expect_state(before, after, NULL, "the request");
        return;
    }
    expect_case(r, HBEAT_PB__REPLY__RESULT_CREATE_RUN);
    hbd_run want;
    memset(&want, 0, sizeof want);
    want.id = before->runs[before->count - 1].id + 1;
    want.workflow_id = cr->workflow_id;
    memcpy(want.status, has_status ? cr->status : "G", 2);
    if (has_inc)
        want.deadline = FZ_NOW + inc;
    expect_info(r->create_run->run, &want);
    fz_expect_state(before, after, &want, "the request");
}

static void check_get_run(const HbeatPb__GetRunRequest *gr, const HbeatPb__Reply *r,
                          const fz_snapshot *before, const fz_snapshot *after)
{
    fz_expect_state(before, after, NULL, "the request");
    if (gr->workflow_run_id <= 0) {
        fz_nng_expect_error(r, HBEAT_PB__ERROR_CODE__ERROR_CODE_INVALID_ARGUMENT);
        return;
    }
    const hbd_run *run = fz_snapshot_find(before, gr->workflow_run_id);
    if (run == NULL) {
        fz_nng_expect_error(r, HBEAT_PB__ERROR_CODE__ERROR_CODE_NOT_FOUND);
        return;
    }
    expect_case(r, HBEAT_PB__REPLY__RESULT_GET_RUN);
    expect_info(r->get_run->run, run);
}

static void check_set_status(const HbeatPb__SetStatusRequest *ss, const HbeatPb__Reply *r,
                             const fz_snapshot *before, const fz_snapshot *after)
{
    if (ss->workflow_run_id <= 0 || !fz_status_known(ss->status)) {
        fz_nng_expect_error(r, HBEAT_PB__ERROR_CODE__ERROR_CODE_INVALID_ARGUMENT);
        fz_expect_state(before, after, NULL, "the request");
        return;
    }
    const hbd_run *old = fz_snapshot_find(before, ss->workflow_run_id);
    if (old == NULL) {
        fz_nng_expect_error(r, HBEAT_PB__ERROR_CODE__ERROR_CODE_NOT_FOUND);
        fz_expect_state(before, after, NULL, "the request");
        return;
    }
    fz_transition tr = ss->force ? FZ_VALID : fz_transition_of(old->status, ss->status);
    if (tr == FZ_INVALID) {
        /* An operator is told no rather than ignored. */
        fz_nng_expect_error(r, HBEAT_PB__ERROR_CODE__ERROR_CODE_INVALID_ARGUMENT);
        fz_expect_state(before, after, NULL, "the request");
        return;
    }
    expect_case(r, HBEAT_PB__REPLY__RESULT_SET_STATUS);
    hbd_run want = *old;
    if (tr == FZ_VALID)
        memcpy(want.status, ss->status, 2);
    expect_info(r->set_status->run, &want);
    fz_expect_state(before, after, &want, "the request");
}

static void check_list_runs(const HbeatPb__ListRunsRequest *lr, const HbeatPb__Reply *r,
                            const fz_snapshot *before, const fz_snapshot *after)
{
    fz_expect_state(before, after, NULL, "the request");
    int filter = lr->status != NULL && lr->status[0] != '\0';
    if ((filter && !fz_status_known(lr->status)) || lr->after_id < 0) {
        fz_nng_expect_error(r, HBEAT_PB__ERROR_CODE__ERROR_CODE_INVALID_ARGUMENT);
        return;
    }
    expect_case(r, HBEAT_PB__REPLY__RESULT_LIST_RUNS);
    size_t limit = lr->limit == 0 ? HBD_LIST_DEFAULT : lr->limit;
    if (limit > HBD_LIST_MAX)
        limit = HBD_LIST_MAX;
    const HbeatPb__ListRunsReply *page = r->list_runs;
    size_t n = 0;
    int64_t next = 0, last = 0;
    for (size_t i = 0; i < before->count; i++) {
        const hbd_run *run = &before->runs[i];
        if (run->id <= lr->after_id || (filter && strcmp(run->status, lr->status) != 0))
            continue;
        if (n == limit) {
            /* One more match: the page is not the last. */
            next = last;
            break;
        }
        FUZZ_CHECK(n < page->n_runs, "the page stops after %zu runs; run %lld is missing", n,
                   (long long)run->id);
        expect_info(page->runs[n], run);
        last = run->id;
        n++;
    }
    FUZZ_CHECK(page->n_runs == n, "the page holds %zu runs, want %zu", page->n_runs, n);
    FUZZ_CHECK(page->next_after_id == next, "next_after_id %lld, want %lld",
               (long long)page->next_after_id, (long long)next);
}

void fz_nng_check(const HbeatPb__Request *req, int auth_on, const HbeatPb__Reply *r,
                  const fz_snapshot *before, const fz_snapshot *after)
{
    if (req == NULL) {
        fz_nng_expect_error(r, HBEAT_PB__ERROR_CODE__ERROR_CODE_INVALID_ARGUMENT);
        fz_expect_state(before, after, NULL, "an undecodable request");
        return;
    }
    if (auth_on) {
        /* heartbeat and update_status need the client right, every other
           call the operator right; no valid token, no call. */
        const char *t = req->token != NULL ? req->token : "";
        int op = strcmp(t, FZ_OPERATOR_TOKEN) == 0;
        int client = strcmp(t, FZ_CLIENT_TOKEN) == 0;
        int client_call = req->call_case == HBEAT_PB__REQUEST__CALL_HEARTBEAT ||
                          req->call_case == HBEAT_PB__REQUEST__CALL_UPDATE_STATUS ||
                          req->call_case == HBEAT_PB__REQUEST__CALL__NOT_SET;
        if (!op && !client) {
            fz_nng_expect_error(r, HBEAT_PB__ERROR_CODE__ERROR_CODE_UNAUTHENTICATED);
            fz_expect_state(before, after, NULL, "a request without a valid token");
            return;
        }
        if (client && !client_call) {
            fz_nng_expect_error(r, HBEAT_PB__ERROR_CODE__ERROR_CODE_PERMISSION_DENIED);
            fz_expect_state(before, after, NULL, "an admin call with a client token");
            return;
        }
        /* The token must not come back in the reply. */
        if (r->result_case == HBEAT_PB__REPLY__RESULT_ERROR)
            FUZZ_CHECK(strstr(r->error->message, t) == NULL, "an error message quotes the token");
    }
    switch (req->call_case) {
    case HBEAT_PB__REQUEST__CALL_HEARTBEAT:
        check_heartbeat(req->heartbeat, r, before, after);
        break;
    case HBEAT_PB__REQUEST__CALL_UPDATE_STATUS:
        check_update_status(req->update_status, r, before, after);
        break;
    case HBEAT_PB__REQUEST__CALL_CREATE_RUN:
        check_create_run(req->create_run, r, before, after);
        break;
    case HBEAT_PB__REQUEST__CALL_GET_RUN:
        check_get_run(req->get_run, r, before, after);
        break;
    case HBEAT_PB__REQUEST__CALL_SET_STATUS:
        check_set_status(req->set_status, r, before, after);
        break;
    case HBEAT_PB__REQUEST__CALL_LIST_RUNS:
        check_list_runs(req->list_runs, r, before, after);
        break;
    default:
        /* A call this server does not know arrives as an unknown field. */
        fz_nng_expect_error(r, req->base.n_unknown_fields > 0
                                   ? HBEAT_PB__ERROR_CODE__ERROR_CODE_UNIMPLEMENTED
                                   : HBEAT_PB__ERROR_CODE__ERROR_CODE_INVALID_ARGUMENT);
        fz_expect_state(before, after, NULL, "the request");
        break;
    }
}

HbeatPb__Reply *fz_nng_serve(hbd_engine *e, hbd_auth *auth, const uint8_t *data, size_t size,
                             size_t limit)
{
    out_buf out = {NULL, 0, 0};
    uint64_t t = UINT64_MAX, *ticket = &t;
    int rc = hbd_codec_serve(e, auth, data, size, limit, reserve, &out, ticket, NULL);
    FUZZ_CHECK(rc == 0, "hbd_codec_serve returned %d with memory to spare", rc);
    FUZZ_CHECK(out.calls == 1, "the codec reserved %d reply buffers, not one", out.calls);
    FUZZ_CHECK(*ticket != UINT64_MAX, "the codec left the ticket unset");
    HbeatPb__Reply *r = hbeat_pb__reply__unpack(NULL, out.len, out.buf);
    FUZZ_CHECK(r != NULL, "the reply (%zu bytes) is not a hbeat.v1.Reply", out.len);
    free(out.buf);
    check_reply_text(r);
    if (r->result_case == HBEAT_PB__REPLY__RESULT_ERROR)
        FUZZ_CHECK(*ticket == 0, "an error reply waits for commit %llu",
                   (unsigned long long)*ticket);
    else if (*ticket != 0)
        fz_wait_durable(e, *ticket);
    return r;
}

int fz_nng_wants_auth(const HbeatPb__Request *req)
{
    return req != NULL && req->token != NULL && req->token[0] != '\0';
}

hbd_auth *fz_nng_auth(void)
{
    static hbd_auth *auth;
    if (auth != NULL)
        return auth;
    char path[] = "/tmp/hbeat-fuzz-tokens-XXXXXX";
    int fd = mkstemp(path);
    FUZZ_CHECK(fd >= 0, "mkstemp");
    static const char text[] = "# the fuzz targets' tokens\n"
                               "operator " FZ_OPERATOR_TOKEN "\n"
                               "client " FZ_CLIENT_TOKEN "\n";
    FUZZ_CHECK(write(fd, text, sizeof text - 1) == (ssize_t)(sizeof text - 1), "write");
    close(fd);
    hbeat_error err = HBEAT_ERROR_INIT;
    int rc = hbd_auth_open(&auth, path, &err);
    unlink(path);
    FUZZ_CHECK(rc == 0 && hbd_auth_enabled(auth), "hbd_auth_open: %s", err.message);
    return auth;
}
