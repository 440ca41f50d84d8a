#define _POSIX_C_SOURCE 200809L

#include "nng_client.h"

#include <errno.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int tc_open(tc_client *c, const char *url, int timeout_ms)
{
    if (strncmp(url, "nng+", 4) == 0)
        url += 4;
    int rv = nng_req0_open(&c->sock);
    if (rv != 0)
        return rv;
    nng_socket_set_ms(c->sock, NNG_OPT_RECVTIMEO, timeout_ms);
    nng_socket_set_ms(c->sock, NNG_OPT_SENDTIMEO, timeout_ms);
    /* Resending would hide a dropped request from the tests. */
    nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, 16 * 1024 * 1024);
    if ((rv = nng_dial(c->sock, url, NULL, 0)) != 0) {
        nng_close(c->sock);
        return rv;
    }
    return 0;
}

void tc_close(tc_client *c)
{
    nng_close(c->sock);
}

void tc_fini(void)
{
    nng_fini();
}

HbeatPb__Reply *tc_raw(tc_client *c, const void *buf, size_t len, int *rv)
{
    nng_msg *msg;
    if ((*rv = nng_msg_alloc(&msg, len)) != 0)
        return NULL;
    if (len > 0)
        memcpy(nng_msg_body(msg), buf, len);
    if ((*rv = nng_sendmsg(c->sock, msg, 0)) != 0) {
        nng_msg_free(msg);
        return NULL;
    }
    if ((*rv = nng_recvmsg(c->sock, &msg, 0)) != 0)
        return NULL;
    HbeatPb__Reply *reply = hbeat_pb__reply__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
    nng_msg_free(msg);
    *rv = reply != NULL ? 0 : -1;
    return reply;
}

HbeatPb__Reply *tc_call(tc_client *c, const HbeatPb__Request *req, int *rv)
{
    size_t len = hbeat_pb__request__get_packed_size(req);
    uint8_t *buf = malloc(len ? len : 1);
    hbeat_pb__request__pack(req, buf);
    HbeatPb__Reply *reply = tc_raw(c, buf, len, rv);
    free(buf);
    return reply;
}

void tc_free(HbeatPb__Reply *reply)
{
    if (reply != NULL)
        hbeat_pb__reply__free_unpacked(reply, NULL);
}

/* Sends req; returns the reply when its case is `want`, else NULL with
 *code set (wire error code, or -1). */
static HbeatPb__Reply *expect(tc_client *c, const HbeatPb__Request *req,
                              HbeatPb__Reply__ResultCase want, int *code)
{
    int rv;
    HbeatPb__Reply *reply = tc_call(c, req, &rv);
    if (reply == NULL) {
        fprintf(stderr, "tc: call failed: %s\n", rv > 0 ? nng_strerror(rv) : "bad reply");
        *code = -1;
        return NULL;
    }
    if (reply->result_case == HBEAT_PB__REPLY__RESULT_ERROR) {
        *code = reply->error->code > 0 ? (int)reply->error->code : -1;
        tc_free(reply);
        return NULL;
    }
    if (reply->result_case != want) {
        fprintf(stderr, "tc: reply case %d, expected %d\n", (int)reply->result_case, (int)want);
        *code = -1;
        tc_free(reply);
        return NULL;
    }
    *code = 0;
    return reply;
}

static void copy_run(tc_run *out, const HbeatPb__RunInfo *info)
{
    if (out == NULL || info == NULL)
        return;
    out->id = info->workflow_run_id;
    out->workflow_id = info->workflow_id;
    snprintf(out->status, sizeof out->status, "%s", info->status);
    out->deadline = info->deadline;
    out->last_heartbeat = info->last_heartbeat;
    out->beats = info->beats;
}

int tc_heartbeat(tc_client *c, int64_t run, const char *status, double inc, uint64_t seq,
                 char status_out[16], double *deadline_out)
{
    HbeatPb__Request req = HBEAT_PB__REQUEST__INIT;
    HbeatPb__HeartbeatRequest hb = HBEAT_PB__HEARTBEAT_REQUEST__INIT;
    hb.workflow_run_id = run;
    hb.status = (char *)status;
    hb.next_report_increment = inc;
    hb.sequence = seq;
    req.call_case = HBEAT_PB__REQUEST__CALL_HEARTBEAT;
    req.heartbeat = &hb;
    int code;
    HbeatPb__Reply *r = expect(c, &req, HBEAT_PB__REPLY__RESULT_HEARTBEAT, &code);
    if (r == NULL)
        return code;
    if (r->heartbeat->sequence != seq) {
        fprintf(stderr, "tc: sequence %llu echoed as %llu\n", (unsigned long long)seq,
                (unsigned long long)r->heartbeat->sequence);
        code = -1;
    }
    if (status_out != NULL)
        snprintf(status_out, 16, "%s", r->heartbeat->status);
    if (deadline_out != NULL)
        *deadline_out = r->heartbeat->deadline;
    tc_free(r);
    return code;
}

int tc_update_status(tc_client *c, int64_t run, const char *status, char status_out[16])
{
    HbeatPb__Request req = HBEAT_PB__REQUEST__INIT;
    HbeatPb__UpdateStatusRequest us = HBEAT_PB__UPDATE_STATUS_REQUEST__INIT;
    us.workflow_run_id = run;
    us.status = (char *)status;
    req.call_case = HBEAT_PB__REQUEST__CALL_UPDATE_STATUS;
    req.update_status = &us;
    int code;
    HbeatPb__Reply *r = expect(c, &req, HBEAT_PB__REPLY__RESULT_UPDATE_STATUS, &code);
    if (r == NULL)
        return code;
    if (status_out != NULL)
        snprintf(status_out, 16, "%s", r->update_status->status);
    tc_free(r);
    return 0;
}

int tc_create(tc_client *c, int64_t workflow, const char *status, int64_t *id_out)
{
    HbeatPb__Request req = HBEAT_PB__REQUEST__INIT;
    HbeatPb__CreateRunRequest cr = HBEAT_PB__CREATE_RUN_REQUEST__INIT;
    cr.workflow_id = workflow;
    cr.status = (char *)(status != NULL ? status : "");
    req.call_case = HBEAT_PB__REQUEST__CALL_CREATE_RUN;
    req.create_run = &cr;
    int code;
    HbeatPb__Reply *r = expect(c, &req, HBEAT_PB__REPLY__RESULT_CREATE_RUN, &code);
    if (r == NULL)
        return code;
    *id_out = r->create_run->run->workflow_run_id;
    tc_free(r);
    return 0;
}

int tc_create_within(tc_client *c, int64_t workflow, const char *status, double inc,
                     int64_t *id_out, double *deadline_out)
{
    HbeatPb__Request req = HBEAT_PB__REQUEST__INIT;
    HbeatPb__CreateRunRequest cr = HBEAT_PB__CREATE_RUN_REQUEST__INIT;
    cr.workflow_id = workflow;
    cr.status = (char *)(status != NULL ? status : "");
    cr.first_deadline_case = HBEAT_PB__CREATE_RUN_REQUEST__FIRST_DEADLINE_NEXT_REPORT_INCREMENT;
    cr.next_report_increment = inc;
    req.call_case = HBEAT_PB__REQUEST__CALL_CREATE_RUN;
    req.create_run = &cr;
    int code;
    HbeatPb__Reply *r = expect(c, &req, HBEAT_PB__REPLY__RESULT_CREATE_RUN, &code);
    if (r == NULL)
        return code;
    *id_out = r->create_run->run->workflow_run_id;
    if (deadline_out != NULL)
        *deadline_out = r->create_run->run->deadline;
    tc_free(r);
    return 0;
}

int tc_get(tc_client *c, int64_t run, tc_run *out)
{
    HbeatPb__Request req = HBEAT_PB__REQUEST__INIT;
    HbeatPb__GetRunRequest gr = HBEAT_PB__GET_RUN_REQUEST__INIT;
    gr.workflow_run_id = run;
    req.call_case = HBEAT_PB__REQUEST__CALL_GET_RUN;
    req.get_run = &gr;
    int code;
    HbeatPb__Reply *r = expect(c, &req, HBEAT_PB__REPLY__RESULT_GET_RUN, &code);
    if (r == NULL)
        return code;
    copy_run(out, r->get_run->run);
    tc_free(r);
    return 0;
}

int tc_set_status(tc_client *c, int64_t run, const char *status, int force, tc_run *out)
{
    HbeatPb__Request req = HBEAT_PB__REQUEST__INIT;
    HbeatPb__SetStatusRequest ss = HBEAT_PB__SET_STATUS_REQUEST__INIT;
    ss.workflow_run_id = run;
    ss.status = (char *)status;
    ss.force = force;
    req.call_case = HBEAT_PB__REQUEST__CALL_SET_STATUS;
    req.set_status = &ss;
    int code;
    HbeatPb__Reply *r = expect(c, &req, HBEAT_PB__REPLY__RESULT_SET_STATUS, &code);
    if (r == NULL)
        return code;
    copy_run(out, r->set_status->run);
    tc_free(r);
    return 0;
}

double tc_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void tc_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int tc_run_equal(const tc_run *a, const tc_run *b)
{
    return a->id == b->id && a->workflow_id == b->workflow_id &&
           strcmp(a->status, b->status) == 0 && a->deadline == b->deadline &&
           a->last_heartbeat == b->last_heartbeat && a->beats == b->beats;
}
